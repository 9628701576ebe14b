"""Quick control-path benchmark: bench_core's RPC round trip and pipelined throughput (the
full bench_core also inserts and looks up a million routes), with and without requests frames.

Pipelined throughput is measured for two kinds of independent single-op requests, each
through Client.pipeline:
- RTM_GET of distinct destinations (a read; its reply is the route, a map of ~10 fields);
- RTM_CHANGE of distinct routes' next hop (a change: each its own transaction and audit
  entry; its reply carries no result);
each sent both ways: several requests per frame (protocol: requests frames, what pipeline()
sends by default) and one request per frame (per_frame=1, the protocol before them).  The
references, in the same run: the do-nothing echo server (bench/echo_server.py) answering
the same requests the same two ways, with a None result and with the stack's RTM_GET reply.
Beside each of the stack's rates, its CPU time per request: on a shared machine the rates move
with the share of a core the stack gets, the CPU per request much less.

    python bench/bench_rpc.py [REPEAT]
"""
from __future__ import annotations

import sys
import time

from bench_core import add_get_routes, echo_server, rpc_round_trip
from common import cpu_seconds, table, temp_stack, verdict

from plebproto.errors import OpError

N_OPS = 200_000


def pipelined(client, requests, per_frame: int) -> float:
    """Replies per second of requests through client.pipeline; none may have failed."""
    t0 = time.perf_counter()
    results = client.pipeline(requests, per_frame=per_frame)
    rate = len(requests) / (time.perf_counter() - t0)
    failed = [r for r in results if isinstance(r, OpError)]
    if failed:
        raise SystemExit(f"pipelined: {len(failed)} of {len(requests)} requests failed, "
                         f"e.g. {failed[0]!r}")
    return rate


def change_requests(addrs: list[str], n: int) -> list:
    """n RTM_CHANGEs cycling over the /24s of addrs, the next hop alternating between two
    gateways on vnet0's subnet: every request changes its route."""
    gateways = ("10.0.0.1", "10.0.0.3")
    prefixes = [a.rsplit(".", 1)[0] + ".0" for a in addrs]
    return [("rtmsg", {"type": "RTM_CHANGE", "af": "inet", "dst": prefixes[i % len(prefixes)],
                       "plen": 24, "gateway": gateways[(i // len(prefixes)) & 1]})
            for i in range(n)]


def main(repeat: int = 3):
    with temp_stack(["--nic", "vnet0=none"]) as stack, stack.client(timeout=600) as client:
        rtts = [rpc_round_trip(client) for _ in range(repeat)]
        addrs = add_get_routes(client)
        client.call("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                              "plen": 24})
        gets = [("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": addrs[i % len(addrs)]})
                for i in range(N_OPS)]
        changes = change_requests(addrs, N_OPS)
        route = client.rtmsg("RTM_GET", af="inet", dst=addrs[0])
        best: dict[str, float] = {}
        runs: dict[str, list] = {}
        cpu: dict[str, float] = {}      # the stack's CPU per request, least of the runs

        def note(name: str, rate: float) -> None:
            runs.setdefault(name, []).append(rate)
            best[name] = max(best.get(name, 0.0), rate)

        def ours(name: str, requests: list, per_frame: int) -> None:
            c0 = cpu_seconds(stack.pid)
            note(name, pipelined(client, requests, per_frame))
            used = (cpu_seconds(stack.pid) - c0) / len(requests) * 1e6
            cpu[name] = min(cpu.get(name, used), used)

        with echo_server() as echo, echo_server(route) as echo_sized:
            for _ in range(repeat):         # the runs interleaved: same load for each
                for per_frame, how in ((256, "frames"), (1, "single")):
                    ours(f"get {how}", gets, per_frame)
                    ours(f"change {how}", changes, per_frame)
                    note(f"echo {how}", pipelined(echo, changes, per_frame))
                    note(f"echo-sized {how}", pipelined(echo_sized, gets, per_frame))
    rtt = min(rtts)

    def ops(name: str) -> str:
        return f"{best[name]:,.0f}"

    def stack_ops(name: str) -> str:
        """Best rate, and the stack's CPU per request (the measure a busy machine moves
        least: a rate depends on how much of a core the stack got)."""
        return f"{best[name]:,.0f} ({cpu[name]:.1f} µs CPU)"

    table("core: control RPC (best of %d)" % repeat, [
        ("RPC round trip p50 (RTM_GET)", f"{rtt:.0f} µs", "≤ 100 µs", verdict(rtt <= 100)),
        ("pipelined ops/s, RTM_CHANGE (independent changes), 256 per frame",
         stack_ops("change frames"), "≥ 300,000",
         verdict(best["change frames"] >= 300_000)),
        ("  the same, one request per frame", stack_ops("change single"), "", ""),
        ("pipelined ops/s, RTM_GET (distinct dsts), 256 per frame", stack_ops("get frames"),
         "≥ 300,000", verdict(best["get frames"] >= 300_000)),
        ("  the same, one request per frame", stack_ops("get single"), "", ""),
        ("echo server, reply None, 256 per frame (reference ceiling)", ops("echo frames"),
         "", ""),
        ("  the same, one request per frame", ops("echo single"), "", ""),
        ("echo server, the stack's RTM_GET reply, 256 per frame (reference)",
         ops("echo-sized frames"), "", ""),
        ("  the same, one request per frame", ops("echo-sized single"), "", ""),
    ])
    print("all runs: rtt", ", ".join(f"{r:.0f}" for r in rtts), "µs;",
          "; ".join(f"{k} " + ", ".join(f"{r:,.0f}" for r in v) for k, v in runs.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
