"""Core: RPC round trip, pipelined throughput, 1M-route insert over RPC, lookups at scale."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import msgpack
from common import median_ms, table, temp_stack, verdict, wait_settled

from plebproto.protocol import pack_column
from plebconf.rpc.client import PIPELINE_WINDOW, Client, run
from plebproto.errors import OpError
from plebproto.constants import AF_INET
from plebnet_core.state.inet import aton
from plebnet_core.state.stack import Stack

N_ROUTES = 1_000_000
HERE = os.path.dirname(os.path.abspath(__file__))


def random_prefixes(n: int, seed: int = 1):
    """n distinct random prefixes, lengths as in a BGP table (mostly /24, /16–/23, some /8–/15)."""
    rng = random.Random(seed)
    lengths = [24] * 60 + list(range(16, 24)) * 4 + list(range(8, 16)) + [32] * 4
    seen = set()
    while len(seen) < n:
        plen = rng.choice(lengths)
        dst = rng.getrandbits(32) & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        if dst >> 24 in (0, 10, 127) or dst >> 28 >= 14:
            continue
        seen.add((dst, plen))
    return list(seen)


def rpc_round_trip(client, n=5000):
    args = {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"}
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.call("rtmsg", args)
        samples.append(time.perf_counter() - t0)
    return median_ms(samples) * 1000  # µs


GET_ROUTES = 4096       # distinct routes (and destinations) the pipelined RTM_GETs cycle over


def add_get_routes(client, n=GET_ROUTES) -> list[str]:
    """n /24 routes in 10.128.0.0/12 (out of random_prefixes' way); returns one host address
    inside each, in a shuffled order: the destinations pipelined() looks up."""
    client.batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "lo0",
                                "iface": True},
                      ["dst", "plen"], rows=[[f"10.{128 + (i >> 8)}.{i & 255}.0", 24]
                                             for i in range(n)])])
    addrs = [f"10.{128 + (i >> 8)}.{i & 255}.{1 + i * 37 % 254}" for i in range(n)]
    random.Random(3).shuffle(addrs)
    return addrs


def pipelined(client, addrs, n=200_000, window=PIPELINE_WINDOW) -> float:
    """Replies per second of n RTM_GETs run through Client.pipeline (the client's own code
    path: encoding, windowed sends, bulk reads, results in request order), cycling over the
    distinct destinations addrs; no request may have failed (checked afterwards)."""
    args = [{"type": "RTM_GET", "af": "inet", "dst": a} for a in addrs]
    requests = [("rtmsg", args[i % len(args)]) for i in range(n)]
    t0 = time.perf_counter()
    results = client.pipeline(requests, window=window)
    rate = n / (time.perf_counter() - t0)
    failed = [r for r in results if isinstance(r, OpError)]
    if failed:
        raise SystemExit(f"pipelined: {len(failed)} of {n} requests failed, e.g. {failed[0]!r}")
    return rate


@contextmanager
def echo_server(result=None):
    """A client of the do-nothing msgpack echo server (echo_server.py), in a process of its
    own like the stack: the reference ceiling for pipelined()."""
    sockdir = tempfile.mkdtemp(prefix="pleb-echo-")
    path = os.path.join(sockdir, "echo")
    argv = [sys.executable, os.path.join(HERE, "echo_server.py"), path]
    if result is not None:
        argv.append(msgpack.packb(result, use_bin_type=True).hex())
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("echo_server.py did not start")
        with Client.connect(path=path, hello=False, timeout=600) as client:
            yield client
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(sockdir, ignore_errors=True)


def pipelined_rows(client, addrs, repeat=1):
    """Table rows: pipelined() against the stack and, in the same run, against the echo
    server answering [id, 0, "", None] and answering the stack's own RTM_GET result (replies
    as large as the stack's); best of `repeat`, the runs interleaved."""
    route = client.rtmsg("RTM_GET", af="inet", dst=addrs[0])
    ours, bare, sized = [], [], []
    with echo_server() as echo, echo_server(route) as echo_sized:
        for _ in range(repeat):
            ours.append(pipelined(client, addrs))
            bare.append(pipelined(echo, addrs))
            sized.append(pipelined(echo_sized, addrs))
    rate, ceiling, sized_ceiling = max(ours), max(bare), max(sized)
    rows = [
        ("pipelined ops/s (RTM_GET, distinct dsts)", f"{rate:,.0f}", "≥ 300,000",
         verdict(rate >= 300_000)),
        ("pipelined ops/s, do-nothing msgpack echo server (reference ceiling)",
         f"{ceiling:,.0f}", "", ""),
        ("  ratio stack / reference ceiling", f"{rate / ceiling:.2f}×", "", ""),
        ("pipelined ops/s, echo server sending the stack's reply (reference)",
         f"{sized_ceiling:,.0f}", "", ""),
        ("  ratio stack / same-size reference", f"{rate / sized_ceiling:.2f}×", "", ""),
    ]
    runs = (f"all runs, ops/s: stack {', '.join(f'{r:,.0f}' for r in ours)}; "
            f"echo {', '.join(f'{r:,.0f}' for r in bare)}; "
            f"echo same-size {', '.join(f'{r:,.0f}' for r in sized)}")
    return rows, runs


def insert_over_rpc(client, prefixes):
    """One atomic batch of RTM_ADDs, sent as a run (one op over many argument rows, the
    protocol's compact batch form) with packed columns: from packing the (address, length)
    integers to the stack's reply, when every route is in the table and found by lookups;
    and the time the stack then takes to fill its lookup arrays behind them (lookups probe
    the per-length dicts until it is done)."""
    client.call("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                          "plen": 24})
    dsts, plens = [d for d, _ in prefixes], [p for _, p in prefixes]
    t0 = time.perf_counter()
    client.batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"},
                      ["dst", "plen"], columns=[pack_column("dst", "inet", dsts),
                                                pack_column("plen", "inet", plens)])])
    return time.perf_counter() - t0, wait_settled(client)


def lookups_per_second(stack: Stack, addrs) -> float:
    table = stack.rt[AF_INET]
    lookup = table.paths_to         # the data plane's lookup
    t0 = time.perf_counter()
    for a in addrs:
        lookup(a)
    return len(addrs) / (time.perf_counter() - t0)


def state_with(prefixes) -> Stack:
    st = Stack(pid=1)
    st.if_attach("vnet0", "vnet")
    st.if_attach("lo0", "lo")
    st.in_aifaddr("vnet0", aton("10.0.0.2"), 24)
    gw = aton("10.0.0.1")
    with st.transaction():
        st.rt_add_many(AF_INET, [d for d, _ in prefixes], [p for _, p in prefixes], gw)
    st.settle()
    return st


def main():
    prefixes = random_prefixes(N_ROUTES)
    with temp_stack(["--nic", "vnet0=none"]) as stack, stack.client(timeout=600) as client:
        rtt = rpc_round_trip(client)
        pipe_rows, pipe_runs = pipelined_rows(client, add_get_routes(client))
        insert, settle = insert_over_rpc(client, prefixes)
    rng = random.Random(2)
    probes = [rng.getrandbits(32) for _ in range(300_000)]
    small = lookups_per_second(state_with(prefixes[:10]), probes)
    large = lookups_per_second(state_with(prefixes), probes)
    table("core: control RPC and routing table", [
        ("RPC round trip p50 (RTM_GET)", f"{rtt:.0f} µs", "≤ 100 µs", verdict(rtt <= 100)),
        *pipe_rows,
        ("insert 1M routes over RPC (one batch)", f"{insert:.2f} s", "≤ 2.5 s",
         verdict(insert <= 2.5)),
        ("… then filling the lookup arrays behind it", f"{settle:.2f} s", "", ""),
        ("lookups/s at 10 routes", f"{small:,.0f}", "", ""),
        ("lookups/s at 1M routes", f"{large:,.0f}", "≥ 250,000", verdict(large >= 250_000)),
        ("slowdown 10 → 1M routes", f"{small / large:.2f}×", "≤ 2×", verdict(small / large <= 2)),
    ])
    print(pipe_runs)


if __name__ == "__main__":
    main()
