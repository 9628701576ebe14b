"""Core: RPC round trip, pipelined throughput, 1M-route insert over RPC, lookups at scale."""
from __future__ import annotations

import random
import time

from common import median_ms, table, temp_stack, verdict, wait_settled

from plebconf.rpc import protocol
from plebconf.rpc.protocol import pack_column
from plebconf.rpc.client import run
from plebconf.rpc.constants import AF_INET
from plebnet_core.state.inet import aton
from plebnet_core.state.stack import Stack

N_ROUTES = 1_000_000


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


def pipelined(client, n=200_000, window=2000, compact=True):
    """Replies per second with `window` requests in flight, the request frame encoded as
    plebconf's client encodes it (the compact form; compact=False: the map form)."""
    args = {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"}
    frame = (protocol.request(1, "rtmsg", args) if compact
             else protocol.encode({"id": 1, "op": "rtmsg", "args": args}))
    sock = client.sock
    t0 = time.perf_counter()
    sent = received = 0
    while received < n:
        burst = min(window - (sent - received), n - sent)
        if burst > 0:
            sock.sendall(frame * burst)
            sent += burst
        client.receive()
        received += 1
    return n / (time.perf_counter() - t0)


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
    lookup = table.lookup
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
        rate = pipelined(client)
        insert, settle = insert_over_rpc(client, prefixes)
    rng = random.Random(2)
    probes = [rng.getrandbits(32) for _ in range(300_000)]
    small = lookups_per_second(state_with(prefixes[:10]), probes)
    large = lookups_per_second(state_with(prefixes), probes)
    table("core: control RPC and routing table", [
        ("RPC round trip p50 (RTM_GET)", f"{rtt:.0f} µs", "≤ 100 µs", verdict(rtt <= 100)),
        ("pipelined ops/s", f"{rate:,.0f}", "≥ 300,000", verdict(rate >= 300_000)),
        ("insert 1M routes over RPC (one batch)", f"{insert:.2f} s", "≤ 2.5 s",
         verdict(insert <= 2.5)),
        ("… then filling the lookup arrays behind it", f"{settle:.2f} s", "", ""),
        ("lookups/s at 10 routes", f"{small:,.0f}", "", ""),
        ("lookups/s at 1M routes", f"{large:,.0f}", "≥ 250,000", verdict(large >= 250_000)),
        ("slowdown 10 → 1M routes", f"{small / large:.2f}×", "≤ 2×", verdict(small / large <= 2)),
    ])


if __name__ == "__main__":
    main()
