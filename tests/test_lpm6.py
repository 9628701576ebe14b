"""The IPv6 longest-match trie (plebnet_core/state/lpm6.py): cases by hand, and random adds,
removes and lookups checked against a brute-force model (hypothesis); then the route table
answering IPv6 lookups through it."""
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


def test_longest_wins_and_removal_gives_back_the_shorter():
    t = Lpm6()
    t.add(*key("2001:db8::/32"), "32")
    t.add(*key("2001:db8:1::/48"), "48")
    t.add(*key("2001:db8:1:8000::/49"), "49")
    t.add(*key("2001:db8:1:8000::1/128"), "128")
    assert t.lookup(a("2001:db8:2::1")) == "32"
    assert t.lookup(a("2001:db8:1::1")) == "48"
    assert t.lookup(a("2001:db8:1:8000::2")) == "49"
    assert t.lookup(a("2001:db8:1:8000::1")) == "128"
    assert t.lookup(a("2001:db9::1")) is None
    assert len(t) == 4
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
    assert len(t) == 0 and t.root == {}       # nothing left behind
    with pytest.raises(KeyError):
        t.remove(*key("2001:db8::/32"))


def test_prefixes_inside_one_byte_nest():
    t = Lpm6()
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


def test_replacing_a_value_and_exact_get():
    t = Lpm6()
    t.add(*key("2001:db8::/33"), "x")
    t.add(*key("2001:db8::/33"), "y")
    assert len(t) == 1 and t.lookup(a("2001:db8::1")) == "y"
    assert t.get(*key("2001:db8::/33")) == "y"
    assert t.get(*key("2001:db8::/34")) is None


def test_depth_is_bounded_by_the_address_not_the_table():
    t = Lpm6()
    for i in range(2000):
        t.add(a("2001:db8::") | i << 80, 48, i)
    t.add(a("2001:db8::1"), 128, "host")
    assert t.depth() == 15            # a /128: 16 nodes, the most there can be
    assert t.lookup(a("2001:db8:0:0::1")) == "host"
    assert t.lookup(a("2001:db8:7cf::1")) == 1999


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


@settings(max_examples=300, deadline=None)
@given(ops)
def test_matches_brute_force(seq):
    t = Lpm6()
    model: dict[tuple[int, int], int] = {}
    for n, (op, addr, plen) in enumerate(seq):
        k = (_mask(addr, plen), plen)
        if op == "add":
            t.add(*k, n)
            model[k] = n
        elif op == "remove":
            if k in model:
                assert t.remove(*k) == model.pop(k)
            else:
                with pytest.raises(KeyError):
                    t.remove(*k)
        best = None
        for (dst, length), value in model.items():
            if _mask(addr, length) == dst and (best is None or length > best[0]):
                best = (length, value)
        assert t.lookup(addr) == (best[1] if best else None)
        assert len(t) == len(model)
    for k in list(model):
        t.remove(*k)
    assert t.root == {} and t.default is None


# -- the route table reads it ----------------------------------------------------------------
class _R:
    """Enough of a Route for the table: dst, plen, ifa, slot."""

    def __init__(self, dst, plen):
        self.dst, self.plen, self.ifa, self.slot = dst, plen, None, 0


def test_route_table_ipv6_lookups_follow_adds_runs_and_removes():
    table = RouteTable(128)
    r32 = _R(*key("2001:db8::/32"))
    table.add_path(r32)
    run = [_R(a("2001:db8::") | i << 80, 48) for i in range(100)]
    table.add_run(run, lambda paths, route: None)
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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(addrs, plens), max_size=80), ops)
def test_bulk_load_then_changes_match_brute_force(bulk, seq):
    """add_many (address order, paths shared between neighbours) files the same trie as
    one add at a time would: lookups agree with the model before and after more changes."""
    t = Lpm6()
    model: dict[tuple[int, int], int] = {}
    items = []
    for n, (addr, plen) in enumerate(bulk):
        k = (_mask(addr, plen), plen)
        model[k] = n
        items.append((*k, n))
    # a prefix given twice keeps its last value, as add() would
    t.add_many(items)
    for op, addr, plen in seq:
        k = (_mask(addr, plen), plen)
        if op == "add":
            t.add(*k, -1)
            model[k] = -1
        elif op == "remove" and k in model:
            assert t.remove(*k) == model.pop(k)
        best = None
        for (dst, length), value in model.items():
            if _mask(addr, length) == dst and (best is None or length > best[0]):
                best = (length, value)
        assert t.lookup(addr) == (best[1] if best else None)
    assert len(t) == len(model)
