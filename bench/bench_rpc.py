"""Quick control-path benchmark: only bench_core's RPC round trip and pipelined throughput
(the full bench_core also inserts and looks up a million routes)."""
from __future__ import annotations

import sys

from bench_core import pipelined, rpc_round_trip
from common import table, temp_stack, verdict


def main(repeat: int = 3):
    with temp_stack(["--nic", "vnet0=none"]) as stack, stack.client(timeout=600) as client:
        rtts, rates, map_rates = [], [], []
        for _ in range(repeat):
            rtts.append(rpc_round_trip(client))
            rates.append(pipelined(client))
            map_rates.append(pipelined(client, compact=False))
    rtt, rate = min(rtts), max(rates)
    table("core: control RPC (best of %d)" % repeat, [
        ("RPC round trip p50 (RTM_GET)", f"{rtt:.0f} µs", "≤ 100 µs", verdict(rtt <= 100)),
        ("pipelined ops/s", f"{rate:,.0f}", "≥ 300,000", verdict(rate >= 300_000)),
        ("pipelined ops/s, map-form requests", f"{max(map_rates):,.0f}", "", ""),
    ])
    print("all runs: rtt", ", ".join(f"{r:.0f}" for r in rtts), "µs; ops/s",
          ", ".join(f"{r:,.0f}" for r in rates), "; map form",
          ", ".join(f"{r:,.0f}" for r in map_rates))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
