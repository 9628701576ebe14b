"""The IPv6 longest-match trie (plebnet_core/state/lpm6.py): cases by hand, and random adds,
removes, repoints, bulk fills in any order and lookups checked against a brute-force model
(hypothesis); then the route table answering IPv6 lookups through it, before and after its
fills are done."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from plebnet_core.state.lpm6 import Lpm6
from plebnet_core.state.route import RouteTable


def key(text: str) -> tuple[int, int]:
    net = ipaddress.IPv6Network(text, strict=False)
    return int(net.network_address), net.prefixlen


def a(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


class Trie:
    """Lpm6 driven as the route table drives it: the table (here a dict) knows the prefixes
    and names each removed one's parent, the longest shorter prefix covering it."""

    def __init__(self):
        self.t = Lpm6()
        self.held: dict[tuple[int, int], int] = {}      # (key, plen) -> slot

    def add(self, dst, plen, value):
        if (dst, plen) in self.held:                    # a new value: repointed
            old = self.held[dst, plen]
            slot = self.held[dst, plen] = self.t.alloc(value)
            self.t.repoint(dst, plen, slot)
            self.t.slots[old] = None
            self.t.free_slots.append(old)
        else:
            self.held[dst, plen] = self.t.add(dst, plen, value)

    def parent(self, dst, plen):
        for shorter in range(plen - 1, -1, -1):
            masked = dst & ~((1 << (128 - shorter)) - 1) if shorter else 0
            if (masked, shorter) in self.held:
                return self.held[masked, shorter], shorter
        return 0, 0

    def remove(self, dst, plen):
        slot = self.held.pop((dst, plen))
        value = self.t.slots[slot]
        self.t.remove(dst, plen, slot, *self.parent(dst, plen))
        return value

    def lookup(self, addr):
        return self.t.lookup(addr)


def test_longest_wins_and_removal_gives_back_the_shorter():
    t = Trie()
    t.add(*key("2001:db8::/32"), "32")
    t.add(*key("2001:db8:1::/48"), "48")
    t.add(*key("2001:db8:1:8000::/49"), "49")
    t.add(*key("2001:db8:1:8000::1/128"), "128")
    assert t.lookup(a("2001:db8:2::1")) == "32"
    assert t.lookup(a("2001:db8:1::1")) == "48"
    assert t.lookup(a("2001:db8:1:8000::2")) == "49"
    assert t.lookup(a("2001:db8:1:8000::1")) == "128"
    assert t.lookup(a("2001:db9::1")) is None
    assert t.remove(*key("2001:db8:1:8000::/49")) == "49"
    assert t.lookup(a("2001:db8:1:8000::2")) == "48"
    assert t.lookup(a("2001:db8:1:8000::1")) == "128"
    t.remove(*key("2001:db8:1:8000::1/128"))
    t.remove(*key("2001:db8:1::/48"))
    assert t.lookup(a("2001:db8:1:8000::1")) == "32"
    t.add(0, 0, "default")
    assert t.lookup(a("3fff::1")) == "default"
    t.remove(*key("2001:db8::/32"))
    t.remove(0, 0)
    assert t.t.root == {} and t.lookup(a("2001:db8::1")) is None    # nothing left behind
    assert sorted(t.t.free_slots) == [1, 2, 3, 4]        # every slot given back (and reused)
    assert t.t.slots == [None] * 5


def test_prefixes_inside_one_byte_nest():
    t = Trie()
    # /17../24 all live in the third byte's node: each covers its own share of its slots
    for plen in range(17, 25):
        t.add(*key(f"2001:ff00::/{plen}"), plen)
    assert t.lookup(a("2001:ff00::1")) == 24
    assert t.lookup(a("2001:fe00::1")) == 23
    assert t.lookup(a("2001:8000::1")) == 17
    assert t.lookup(a("2001:7f00::1")) is None
    t.remove(*key("2001:ff00::/24"))
    assert t.lookup(a("2001:ff00::1")) == 23
    t.remove(*key("2001:fe00::/23"))
    assert t.lookup(a("2001:ff00::1")) == 22


def test_repointing_a_prefix_and_removing_one_never_placed():
    t = Trie()
    t.add(*key("2001:db8::/33"), "x")
    t.add(*key("2001:db8::/33"), "y")
    assert t.lookup(a("2001:db8::1")) == "y"
    # a prefix filed but never placed (its fill pending) holds no entry: repointing and
    # removing it change nothing else
    slot = t.t.alloc("pending")
    t.t.repoint(*key("2001:db8::/40"), slot)
    t.t.repoint(*key("2001:db9::/40"), slot)
    assert t.lookup(a("2001:db8::1")) == "y"
    t.t.remove(*key("2001:db8::/40"), slot, t.held[key("2001:db8::/33")], 33)
    t.t.remove(*key("2001:db9:1::/48"), t.t.alloc("pending"), 0, 0)
    assert t.lookup(a("2001:db8::1")) == "y" and t.lookup(a("2001:db9:1::1")) is None


def test_depth_is_bounded_by_the_address_not_the_table():
    t = Trie()
    for i in range(2000):
        t.add(a("2001:db8::") | i << 80, 48, i)
    t.add(a("2001:db8::1"), 128, "host")
    assert t.t.depth() == 15            # a /128: 16 nodes, the most there can be
    assert t.lookup(a("2001:db8:0:0::1")) == "host"
    assert t.lookup(a("2001:db8:7cf::1")) == 1999


def test_nodes_hold_ints_only_and_go_when_emptied():
    """Nodes hold ints only (children by index), so the cyclic collector tracks none of
    them (a trie of 200,000 prefixes is some 400,000 nodes); emptied nodes are unlinked and
    their indexes reused."""
    import gc
    t = Trie()
    for i in range(50):
        t.add(a("2001:db8::") | i << 80, 48, i)
    t.add(*key("2001:db8::/32"), "32")
    nodes = [n for n in t.t.nodes if n is not None]
    assert len(nodes) == 6 and not any(map(gc.is_tracked, nodes))
    assert all(type(k) is int and type(e) is int for n in nodes for k, e in n.items())
    for i in range(50):
        t.remove(a("2001:db8::") | i << 80, 48)
    assert len([n for n in t.t.nodes if n is not None]) == 4    # the /48s' nodes went
    t.add(a("2001:db8:1::"), 48, "again")
    assert len(t.t.nodes) == 6 and t.lookup(a("2001:db8:1::1")) == "again"


# -- against a brute-force model -------------------------------------------------------------
# addresses from a small space (a few prefixes' worth of bits vary) so lookups hit
_BASE = a("2001:db8::")
_bits = st.integers(min_value=0, max_value=127)


def _addr(pos_bits):
    value = _BASE
    for bit in pos_bits:
        value ^= 1 << (127 - bit)
    return value


addrs = st.lists(st.sampled_from([0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 40, 47, 48, 63, 64,
                                  100, 127]), max_size=4).map(_addr)
plens = st.sampled_from([0, 1, 7, 8, 9, 16, 17, 24, 31, 32, 33, 40, 47, 48, 49, 56, 63, 64,
                         65, 96, 127, 128])
ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "lookup"]), addrs, plens),
               max_size=120)


def _mask(value, plen):
    return value & ~((1 << (128 - plen)) - 1) if plen else 0


def _best(model, addr):
    best = None
    for (dst, length), value in model.items():
        if _mask(addr, length) == dst and (best is None or length > best[0]):
            best = (length, value)
    return best[1] if best else None


@settings(max_examples=300, deadline=None)
@given(ops)
def test_matches_brute_force(seq):
    t = Trie()
    model: dict[tuple[int, int], int] = {}
    for n, (op, addr, plen) in enumerate(seq):
        k = (_mask(addr, plen), plen)
        if op == "add":
            t.add(*k, n)
            model[k] = n
        elif op == "remove" and k in model:
            assert t.remove(*k) == model.pop(k)
        assert t.lookup(addr) == _best(model, addr)
    for k in list(model):
        t.remove(*k)
    assert t.t.root == {} and t.t.default == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(addrs, plens), max_size=80), st.randoms(use_true_random=False), ops)
def test_fills_in_any_order_then_changes_match_brute_force(bulk, rng, seq):
    """Prefixes filed first and placed later by fill(), a length at a time in any order and
    in pieces (as RouteTable.settle does), some removed or repointed before they are
    placed: the trie answers as the model does, then through more changes."""
    t = Trie()
    model: dict[tuple[int, int], int] = {}
    for n, (addr, plen) in enumerate(bulk):
        k = (_mask(addr, plen), plen)
        if k not in model:
            model[k] = n
            t.held[k] = t.t.alloc(n)
    pending = list(model)
    for k in rng.sample(pending, len(pending) // 4):     # changes before the fills
        if rng.random() < 0.5:
            t.remove(*k)
            del model[k]
        else:
            t.add(*k, -2)
            model[k] = -2
    by_len: dict[int, list] = {}
    for k in pending:
        if k in model:
            by_len.setdefault(k[1], []).append(k[0])
    lengths = list(by_len)
    rng.shuffle(lengths)
    for plen in lengths:
        keys = by_len[plen]
        cut = rng.randrange(len(keys) + 1)
        for part in (keys[:cut], keys[cut:]):
            if part:
                t.t.fill(plen, part, [t.held[k, plen] for k in part])
    for op, addr, plen in seq:
        k = (_mask(addr, plen), plen)
        if op == "add":
            t.add(*k, -1)
            model[k] = -1
        elif op == "remove" and k in model:
            assert t.remove(*k) == model.pop(k)
        assert t.lookup(addr) == _best(model, addr)
    for addr, _ in bulk:
        assert t.lookup(addr) == _best(model, addr)


# -- the route table reads it ----------------------------------------------------------------
class _R:
    """Enough of a Route for the table: dst, plen, ifa, slot."""

    def __init__(self, dst, plen):
        self.dst, self.plen, self.ifa, self.slot = dst, plen, None, 0


@pytest.mark.parametrize("settle", [False, True])
def test_route_table_ipv6_lookups_follow_adds_runs_and_removes(settle):
    """A run's prefixes are found by the per-length dicts until settle() has placed them in
    the trie, and by the trie after: the same answers either way, through changes."""
    table = RouteTable(128)
    r32 = _R(*key("2001:db8::/32"))
    table.add_path(r32)
    run = [_R(a("2001:db8::") | i << 80, 48) for i in range(100)]
    table.add_run(run, lambda paths, route: None)
    assert table.unsettled == 100 and table._trie is None
    if settle:
        assert table.settle() and table._trie is table._lpm
    host = _R(a("2001:db8:5::1"), 128)
    table.add_path(host)
    assert table.paths_to(a("2001:db8:5::1")) == [host]
    assert table.paths_to(a("2001:db8:5::2")) == [run[5]]
    assert table.paths_to(a("2001:db8:ffff::2")) == [r32]
    assert table.lookup(a("2001:db9::")) is None
    # a second path joins its prefix's list: the lookup sees it
    twin = _R(*key("2001:db8::/32"))
    table.add_path(twin)
    assert table.paths_to(a("2001:db8:ffff::2")) == [r32, twin]
    table.remove_path(run[5])
    assert table.paths_to(a("2001:db8:5::2")) == [r32, twin]
    table.remove_path(host)
    table.remove_path(r32)
    table.remove_path(twin)
    assert table.paths_to(a("2001:db8:5::2")) is None
    assert table.paths_to(a("2001:db8:6::2")) == [run[6]]
    assert table.settle()       # (what was left pending: placed as the dicts have it now)
    assert table.paths_to(a("2001:db8:5::2")) is None
    assert table.paths_to(a("2001:db8:6::2")) == [run[6]]
    assert table.paths_to(a("2001:db8:ffff::2")) is None


def test_route_table_ipv6_fill_skips_what_went_before_it_was_placed():
    """A prefix of a run removed before settle() placed it, its slot taken by another
    prefix meanwhile: the fill places nothing for it (the table is dirty), and the shorter
    prefix covering it answers."""
    table = RouteTable(128)
    r32 = _R(*key("2001:db8::/32"))
    table.add_path(r32)
    run = [_R(a("2001:db8::") | i << 80, 48) for i in range(10)]
    table.add_run(run, lambda paths, route: None)
    table.remove_path(run[3])
    other = _R(*key("2001:db9::/32"))
    table.add_path(other)                           # (the slot run[3] had)
    assert other.slot == run[3].slot
    assert table.settle()
    assert table.paths_to(a("2001:db8:3::1")) == [r32]
    assert table.paths_to(a("2001:db8:4::1")) == [run[4]]
    assert table.paths_to(a("2001:db9::1")) == [other]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(addrs, plens), max_size=60), st.integers(0, 80), ops)
def test_route_table_settling_in_slices_through_changes_matches_brute_force(bulk, budget,
                                                                            seq):
    """A run filed, settled a budget at a time while prefixes come and go (the table's
    fills then go dirty: each placed as the dicts have it): every lookup as the model's,
    before, during and after."""
    table = RouteTable(128)
    model: dict[tuple[int, int], object] = {}
    run = []
    for addr, plen in bulk:
        k = (_mask(addr, plen), plen)
        if k not in model:
            model[k] = route = _R(*k)
            run.append(route)
    table.add_run(run, lambda paths, route: None)
    for op, addr, plen in seq:
        k = (_mask(addr, plen), plen)
        if op == "add" and k not in model:
            model[k] = route = _R(*k)
            table.add_path(route)
        elif op == "remove" and k in model:
            table.remove_path(model.pop(k))
        else:
            table.settle(budget)
        got = table.paths_to(addr)
        want = _best(model, addr)
        assert (got[0] if got else None) is want
    table.settle()
    for addr, _ in bulk:
        got = table.paths_to(addr)
        assert (got[0] if got else None) is _best(model, addr)
