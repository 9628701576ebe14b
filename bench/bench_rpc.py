"""Quick control-path benchmark: only bench_core's RPC round trip and pipelined throughput
(the full bench_core also inserts and looks up a million routes)."""
from __future__ import annotations

import sys

from bench_core import add_get_routes, pipelined_rows, rpc_round_trip
from common import table, temp_stack, verdict


def main(repeat: int = 3):
    with temp_stack(["--nic", "vnet0=none"]) as stack, stack.client(timeout=600) as client:
        rtts = [rpc_round_trip(client) for _ in range(repeat)]
        pipe_rows, pipe_runs = pipelined_rows(client, add_get_routes(client), repeat)
    rtt = min(rtts)
    table("core: control RPC (best of %d)" % repeat, [
        ("RPC round trip p50 (RTM_GET)", f"{rtt:.0f} µs", "≤ 100 µs", verdict(rtt <= 100)),
        *pipe_rows,
    ])
    print("all runs: rtt", ", ".join(f"{r:.0f}" for r in rtts), "µs;", pipe_runs)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
