"""Routing tables shaped like the real ones, for every route benchmark (seeded: the same
arguments give the same table on every machine).

    ipv4_table(n, nexthops, seed) -> Table      # the public IPv4 table's shape
    ipv6_table(n, nexthops, seed) -> Table      # the public IPv6 table's shape
    table.plebconf_lines(gateways) / table.ip_batch_lines(gateways)   # the same routes,
                                                # as `plebconf batch` and `ip -batch` read them

The shape, from the public IPv4 table (RIPE RIS / routeviews snapshots of the 2020s):
- prefix lengths: /24 63 %, /22 11 %, /23 10 %, /21 5 %, /20 4 %, /19 2.5 %, /18 1.4 %,
  /16 1.3 %, /17 0.8 %, /8../15 together under 0.5 % (a million-route table has about 15
  /8s and 2,000 /15s);
- about 30 % of the prefixes are more-specifics: nested inside a shorter prefix that comes
  earlier in the table (a /24 carved out of a provider's /19, a /22 out of a /16);
- destinations from the unicast space (no 0/8, 10/8, 100.64/10, 127/8, 169.254/16,
  172.16/12, 192.168/16, 224/3): routes only, never traffic, go to them;
- next hops: an edge router has a few (3: a transit, a second transit, a peer), a route
  server many (64); their shares are uneven, as traffic and paths are (Zipf, s = 1).
IPv6 (issue: IPv6 forwarding): /48 ~45 %, /32 ~14 %, /44 ~9 %, /40 ~7 %, /36 ~5 %, /29 ~5 %,
the rest spread over /28../64, inside 2000::/3, nested the same way.

Routes come out in arrival order: lengths and next hops mixed line by line, a covering prefix
before the more-specifics carved from it (a RIB dump is in address order, a feed in arrival
order; a load can count on neither).
"""
from __future__ import annotations

import bisect
import hashlib
import ipaddress
import itertools
import os
import pickle
import random
import tempfile
from dataclasses import dataclass

V4_SHARES = {24: 63.0, 22: 11.0, 23: 10.0, 21: 5.0, 20: 4.0, 19: 2.5, 18: 1.4, 16: 1.3,
             17: 0.8, 15: 0.2, 14: 0.12, 13: 0.06, 12: 0.03, 11: 0.01, 10: 0.004,
             9: 0.0015, 8: 0.0015}
V6_SHARES = {48: 45.0, 32: 14.0, 44: 9.0, 40: 7.0, 36: 5.0, 29: 5.0, 46: 3.0, 47: 2.5,
             45: 2.0, 42: 1.5, 33: 1.0, 34: 1.0, 30: 1.0, 31: 0.5, 35: 0.5, 38: 0.5,
             28: 0.5, 56: 0.5, 64: 0.5, 43: 0.5}
NESTED = 0.30

_V4_EXCLUDED = [(int(n.network_address), int(n.broadcast_address)) for n in map(
    ipaddress.ip_network, ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
                           "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                           "224.0.0.0/3"))]


@dataclass
class Table:
    af: str                     # "inet" or "inet6"
    dsts: list[int]             # masked destinations, in file order
    plens: list[int]
    hops: list[int]             # per route, its next hop: an index into the gateways

    def __len__(self) -> int:
        return len(self.dsts)

    def prefixes(self) -> list[str]:
        cls = ipaddress.IPv4Address if self.af == "inet" else ipaddress.IPv6Address
        return [f"{cls(d)}/{p}" for d, p in zip(self.dsts, self.plens)]

    def plebconf_lines(self, gateways: list[str]) -> list[str]:
        family = "" if self.af == "inet" else "-6 "
        return [f"route add {family}-net {p} {gateways[h]}"
                for p, h in zip(self.prefixes(), self.hops)]

    def ip_batch_lines(self, gateways: list[str]) -> list[str]:
        family = "" if self.af == "inet" else "-6 "
        return [f"{family}route add {p} via {gateways[h]}"
                for p, h in zip(self.prefixes(), self.hops)]


def _zipf_weights(n: int) -> list[float]:
    return list(itertools.accumulate(1.0 / (k + 1) for k in range(n)))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


def _length_picker(shares: dict[int, float]):
    lengths = list(shares)
    cumulative = list(itertools.accumulate(shares[p] for p in lengths))
    return lambda rng: lengths[_pick(rng, cumulative)]


def _v4_unicast(rng: random.Random, plen: int) -> int:
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    while True:
        dst = rng.getrandbits(32) & mask
        if not any(lo <= dst <= hi or lo & mask == dst for lo, hi in _V4_EXCLUDED):
            return dst


def _v6_unicast(rng: random.Random, plen: int) -> int:
    mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    return ((1 << 125) | rng.getrandbits(125)) & mask      # 2000::/3


def _generate(n: int, nexthops: int, seed: int, width: int, shares, fresh) -> tuple:
    """As allocations happen: the lengths drawn first; the prefixes that are not carved from
    another placed in free space, shortest first (a /12 is allocated before the /24s
    around it); the carved ones inside a random shorter prefix; then arrival order."""
    rng = random.Random(seed)
    length = _length_picker(shares)
    plens = sorted(length(rng) for _ in range(n))
    nested = [rng.random() < NESTED for _ in range(n)]
    masks = [((1 << width) - 1) ^ ((1 << (width - q)) - 1) for q in range(width + 1)]
    lengths = sorted(shares)
    # blocks holding a prefix, at a few lengths: a fresh prefix looks up at most 256
    levels = list(range(lengths[0] + 8, lengths[-1] + 1, 8))
    occupied: dict[int, set[int]] = {q: set() for q in levels}
    seen: dict[tuple[int, int], int] = {}       # (dst, plen) -> position in plens
    dsts = [0] * n
    parent = [-1] * n
    placed: list[int] = []                      # positions placed so far, shortest first
    for i, plen in enumerate(plens):
        tries = 0
        while True:
            tries += 1
            if nested[i] and tries < 8 and placed and plens[placed[0]] < plen:
                # a shorter prefix placed earlier: positions before the first of this length
                j = placed[rng.randrange(bisect.bisect_left(plens, plen, 0, len(placed)))]
                dst = dsts[j] | (rng.getrandbits(plen - plens[j]) << (width - plen))
                if (dst, plen) in seen:
                    continue
                parent[i] = j
                break
            dst = fresh(rng, plen)
            # fresh space: no prefix covers it, it covers none (blocks are not allocated
            # twice by chance; nesting is what NESTED says)
            if (dst, plen) in seen or any((dst & masks[q], q) in seen
                                          for q in lengths if q < plen):
                continue
            level = next((q for q in levels if q >= plen), None)
            if level is not None:
                first = dst >> (width - level)
                if any(b in occupied[level] for b in range(first, first + (1 << (level - plen)))):
                    continue
            break
        seen[dst, plen] = i
        for q in levels:
            occupied[q].add(dst >> (width - q))
        dsts[i] = dst
        placed.append(i)
    # arrival order: random, each more-specific after the prefix it was carved from
    key = [rng.random() for _ in range(n)]
    for i in range(n):                          # parents have smaller positions: done first
        if parent[i] >= 0 and key[i] <= key[parent[i]]:
            key[i] = key[parent[i]] + (1 - key[parent[i]]) * rng.random()
    order = sorted(range(n), key=key.__getitem__)
    hop_weights = _zipf_weights(nexthops)
    hops = [_pick(rng, hop_weights) for _ in range(n)]
    return [dsts[i] for i in order], [plens[i] for i in order], hops


def _cached(af: str, n: int, nexthops: int, seed: int) -> Table:
    """The table, from a cache file of this generator's version when there is one: making a
    million-route table takes tens of seconds, and every route benchmark wants one."""
    digest = hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:12]
    path = os.path.join(tempfile.gettempdir(), "plebnet-bench-tables",
                        f"{af}-{n}-{nexthops}-{seed}-{digest}.pickle")
    try:
        with open(path, "rb") as f:
            table: Table = pickle.load(f)
            return table
    except (OSError, pickle.PickleError, EOFError):
        pass
    width, shares, fresh = (32, V4_SHARES, _v4_unicast) if af == "inet" else (
        128, V6_SHARES, _v6_unicast)
    table = Table(af, *_generate(n, nexthops, seed, width, shares, fresh))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return table


def ipv4_table(n: int, nexthops: int = 3, seed: int = 1) -> Table:
    return _cached("inet", n, nexthops, seed)


def ipv6_table(n: int, nexthops: int = 3, seed: int = 1) -> Table:
    return _cached("inet6", n, nexthops, seed)
