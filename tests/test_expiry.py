"""Stack.tick's expiry: neighbour entries (temporary, learned, resolving, NDP) and routes with
an expiry time go at the first tick at or after their expire, never before, however their
expire was set, changed or rolled back; and a tick looks only at what is due (state/due.py),
counted in entries examined, not in time."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from plebproto.constants import (
    AF_INET, AF_INET6, IFF_RUNNING, IFF_UP, IN6_IFF_TENTATIVE, RTM_DELETE,
)
from plebproto.errors import OpError
from plebnet_core.dataplane import nd6
from plebnet_core.dataplane.wire import icmp6
from plebnet_core.state.check import check_stack
from plebnet_core.state import due as due_module
from plebnet_core.state.due import SLACK, Deadlines
from plebnet_core.state.ifnet import AddrList
from plebnet_core.state.inet import aton, pton6
from plebnet_core.state.stack import Stack
from test_dataplane_ipv6 import ME, PEER, add6, frame6
from conftest import Clock
from test_state import bare_stack
from test_dataplane_unit import PEER_MAC, Rig, echo

MAC = b"\x02\0\0\0\0\x07"


@pytest.fixture
def st(clock):
    s = bare_stack(clock)
    s.in_aifaddr("vnet0", aton("10.0.0.1"), 24)
    s.in_aifaddr("vnet1", aton("10.0.1.1"), 24)
    s.in6_aifaddr("vnet0", pton6("2001:db8::1"), 64)
    return s


def at(st, clock, when):
    """Tick at when (the clock goes there first)."""
    clock.now = when
    st.tick(when)
    assert check_stack(st) == []


def ll(st, name="vnet0", af=AF_INET):
    ifp = st.by_name[name]
    return ifp.llinfo if af == AF_INET else ifp.llinfo6


def test_deadlines_arm_keeps_the_earliest_and_due_hands_back_each_once():
    d: Deadlines[str] = Deadlines()
    d.arm("a", 5.0)
    d.arm("a", 9.0)             # later: nothing to do (it is looked at at 5)
    d.arm("b", 7.0)
    d.arm("b", 3.0)             # earlier: supersedes 7
    d.arm("c", 0)               # never
    assert (d.when("a"), d.when("b"), "c" in d, len(d)) == (5.0, 3.0, False, 2)
    assert d.due(2.9) == []
    assert d.due(5.0) == [("b", 3.0), ("a", 5.0)]
    assert len(d) == 0 and d.due(100.0) == []          # b's stale 7 is skipped
    d.arm("x", 1.0)
    d.disarm("x")
    assert d.due(100.0) == [] and d.examined == 4


def test_deadlines_stale_items_stay_bounded():
    d: Deadlines[int] = Deadlines()
    for k in range(1000):
        d.arm(k, 1e9)
    for _ in range(50):                     # entries replaced again and again
        for k in range(1000):
            d.disarm(k)
            d.arm(k, 1e9)
        d.due(0.0)
        assert d.stale() <= len(d) + SLACK
    assert len(d) == 1000 and sorted(w for w, _ in d.due(2e9)) == list(range(1000))


def test_deadlines_rebuild_goes_a_step_a_call_and_answers_as_a_dict_would(monkeypatch):
    """The heap is rebuilt REBUILD_STEP items per due() (one heapify of 200,000 items held
    the loop ~30 ms): arms, disarms and dues in the middle of a rebuild answer exactly what
    a plain dict of deadlines would, and the stale items are gone once it ends."""
    monkeypatch.setattr(due_module, "REBUILD_STEP", 64)
    monkeypatch.setattr(due_module, "SLACK", 16)
    rng = random.Random(5)
    d: Deadlines[int] = Deadlines()
    model: dict[int, float] = {}
    now, steps = 0.0, 0
    for _ in range(4000):
        k, r = rng.randrange(600), rng.random()
        if r < 0.45:
            when = now + rng.randrange(1, 5000)
            d.arm(k, when)
            model[k] = min(model.get(k, when), when)
        elif r < 0.8:
            d.disarm(k)
            model.pop(k, None)
        else:
            now += rng.randrange(0, 10)
            rebuilding = d.rebuilding()
            got = d.due(now)
            want = sorted((w, k) for k, w in model.items() if w <= now)
            assert sorted((w, k) for k, w in got) == want
            for _w, k in want:
                del model[k]
            steps += rebuilding and d.rebuilding()      # a rebuild still under way
    assert steps > 0, "no rebuild ever took more than one call"
    while d.rebuilding():
        d.due(now)
    assert d.stale() <= len(d) + 16 and len(d) == len(model)


def test_temp_entry_goes_at_max_age_not_before(st, clock):
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)
    at(st, clock, 1000 + 1200 - 0.001)
    assert aton("10.0.0.6") in ll(st)
    at(st, clock, 1000 + 1200)
    assert aton("10.0.0.6") not in ll(st)


def test_learned_entry_renewed_is_not_removed_early(st, clock):
    ifp = st.by_name["vnet0"]
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), MAC, create=True)
    at(st, clock, 1600)
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), MAC, create=True)     # renewed: 2800
    at(st, clock, 2200)                     # (its first expire: looked at, armed again)
    at(st, clock, 2799.5)
    assert aton("10.0.0.7") in ll(st)
    at(st, clock, 2800)
    assert aton("10.0.0.7") not in ll(st)


def test_renewal_under_a_lowered_max_age_expires_earlier(st, clock):
    ifp = st.by_name["vnet0"]
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), MAC, create=True)     # 2200
    st.sysctl_set("net.link.ether.inet.max_age", 10)
    clock.now = 1100
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), MAC, create=True)     # 1110: earlier
    at(st, clock, 1109)
    assert aton("10.0.0.7") in ll(st)
    at(st, clock, 1110)
    assert aton("10.0.0.7") not in ll(st)


def test_replaced_entry_follows_its_replacement(st, clock):
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)              # 2200
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC)                         # static: never
    at(st, clock, 5000)
    assert ll(st)[aton("10.0.0.6")].expire == 0
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)              # 6200
    at(st, clock, 6199)
    assert aton("10.0.0.6") in ll(st)
    at(st, clock, 6200)
    assert aton("10.0.0.6") not in ll(st)


def test_entries_due_together_go_in_one_tick_with_their_events(st, clock):
    for last in range(2, 12):
        st.ll_set(AF_INET, aton(f"10.0.0.{last}"), MAC, temp=True)
        st.ll_set(AF_INET, aton(f"10.0.1.{last}"), MAC, temp=True)
    events = []
    st.journal.listeners.append(events.extend)
    at(st, clock, 2200)
    assert sorted(e["neigh"]["addr"] for e in events if e["type"] == RTM_DELETE) == sorted(
        f"10.0.{n}.{last}" for n in (0, 1) for last in range(2, 12))
    assert list(ll(st)) == [aton("10.0.0.1")]


def test_a_mass_expiry_goes_a_tick_s_share_at_a_time_earliest_first(st, clock):
    """More entries due at once than a tick makes (its `most`, TICK_MOST in the stack):
    each tick deletes the earliest `most` and says more is due (the stack process then
    ticks again at once)."""
    for i in range(20):
        clock.now = 1000 + i                    # in this order of expiry
        st.ll_set(AF_INET, aton(f"10.0.0.{100 + i}"), MAC, temp=True)
    clock.now = 5000
    assert st.tick(clock.now, most=8) is True
    assert sorted(ll(st))[1:] == [aton(f"10.0.0.{100 + i}") for i in range(8, 20)]
    assert st.tick(clock.now, most=8) is True
    assert st.tick(clock.now, most=8) is False
    assert list(ll(st)) == [aton("10.0.0.1")]
    assert check_stack(st) == []


def test_routes_go_at_their_expire_as_changed(st, clock):
    st.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.0.0.9"), expire=1100)
    st.rt_add(AF_INET, aton("198.51.100.0"), 24, aton("10.0.0.9"), expire=1100)
    st.rt_add(AF_INET, aton("203.0.113.0"), 24, aton("10.0.0.9"), expire=1100)
    st.rt_add(AF_INET, aton("172.16.0.0"), 16, aton("10.0.0.9"))
    st.rt_change(AF_INET, aton("198.51.100.0"), 24, expire=1300)      # later
    st.rt_change(AF_INET, aton("203.0.113.0"), 24, expire=0)          # never
    st.rt_change(AF_INET, aton("172.16.0.0"), 16, expire=1200)        # from never

    def present():
        return {r.dst for paths in st.rt[AF_INET].walk() for r in paths} & {
            aton("192.0.2.0"), aton("198.51.100.0"), aton("203.0.113.0"), aton("172.16.0.0")}

    at(st, clock, 1099.9)
    assert len(present()) == 4
    at(st, clock, 1100)
    assert aton("192.0.2.0") not in present() and len(present()) == 3
    at(st, clock, 1199)
    assert len(present()) == 3
    at(st, clock, 1200)
    assert present() == {aton("198.51.100.0"), aton("203.0.113.0")}
    at(st, clock, 1300)
    assert present() == {aton("203.0.113.0")}
    at(st, clock, 10 ** 6)
    assert present() == {aton("203.0.113.0")}


def _open(st):
    """A transaction set aside between loop turns (a batch applied a slice per turn)."""
    cm = st.transaction()
    cm.__enter__()
    return cm


def _rollback(st, cm, saved):
    """Resume it, and fail it: rolled back."""
    st.journal.resume(saved)
    assert cm.__exit__(OpError, OpError(1), None) is False


def test_deletion_rolled_back_after_a_tick_still_expires(st, clock):
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)              # 2200
    cm = _open(st)
    st.ll_delete(AF_INET, aton("10.0.0.6"))
    saved = st.journal.suspend()
    at(st, clock, 2300)                     # its item comes due while it is away: dropped
    _rollback(st, cm, saved)
    assert aton("10.0.0.6") in ll(st) and check_stack(st) == []
    at(st, clock, 2300.5)
    assert aton("10.0.0.6") not in ll(st)


def test_replacement_rolled_back_after_a_tick_still_expires(st, clock):
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)              # 2200
    cm = _open(st)
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC)                         # static
    saved = st.journal.suspend()
    at(st, clock, 2300)
    _rollback(st, cm, saved)
    at(st, clock, 2300.5)
    assert aton("10.0.0.6") not in ll(st)


def test_purge_and_destroy_rolled_back_after_a_tick_still_expire(st, clock):
    st.if_create("tap0")
    st.in_aifaddr("tap0", aton("10.0.2.1"), 24)
    st.ll_set(AF_INET, aton("10.0.2.6"), MAC, temp=True)              # 2200
    st.ll_set(AF_INET, aton("10.0.0.6"), MAC, temp=True)
    # on no prefix of tap0's: no purge takes it, it stays in the destroyed interface's table
    st.ll_set(AF_INET, aton("192.0.2.77"), MAC, temp=True, ifname="tap0")
    cm = _open(st)
    st.in_difaddr("vnet0", aton("10.0.0.1"))        # purges vnet0's entries on the prefix
    st.if_destroy("tap0")
    saved = st.journal.suspend()
    at(st, clock, 2300)
    _rollback(st, cm, saved)
    assert check_stack(st) == []
    at(st, clock, 2300.5)
    assert aton("10.0.2.6") not in ll(st, "tap0") and aton("10.0.0.6") not in ll(st)
    assert aton("192.0.2.77") not in ll(st, "tap0")


def test_route_expire_change_rolled_back_after_a_tick_still_expires(st, clock):
    st.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.0.0.9"), expire=1100)
    cm = _open(st)
    st.rt_change(AF_INET, aton("192.0.2.0"), 24, expire=5000)
    saved = st.journal.suspend()
    at(st, clock, 1200)                     # armed for 1100: looked at, armed for 5000
    assert st.rt[AF_INET].exact(aton("192.0.2.0"), 24)
    _rollback(st, cm, saved)
    at(st, clock, 1200.5)
    assert not st.rt[AF_INET].exact(aton("192.0.2.0"), 24)


def test_route_deletion_rolled_back_after_a_tick_still_expires(st, clock):
    st.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.0.0.9"), expire=1100)
    cm = _open(st)
    st.rt_delete(AF_INET, aton("192.0.2.0"), 24)
    saved = st.journal.suspend()
    at(st, clock, 1200)
    _rollback(st, cm, saved)
    at(st, clock, 1200.5)
    assert not st.rt[AF_INET].exact(aton("192.0.2.0"), 24)


@pytest.mark.parametrize("where", ["nd6", "second entry"])
def test_a_tick_that_fails_takes_nothing_and_loses_nothing(st, clock, monkeypatch, where):
    for last in (6, 7, 8, 9):
        st.ll_set(AF_INET, aton(f"10.0.0.{last}"), MAC, temp=True)
    st.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.0.0.9"), expire=1100)
    calls = []
    expire = st._ll_expire

    def fail(*args):
        calls.append(args)
        if where == "nd6" or len(calls) == 2:
            raise RuntimeError(where)
        return expire(*args)
    monkeypatch.setattr(st, "_nd6_tick" if where == "nd6" else "_ll_expire", fail)
    clock.now = 2200
    with pytest.raises(RuntimeError):
        st.tick(2200)
    assert {aton(f"10.0.0.{last}") for last in (6, 7, 8, 9)} <= set(ll(st))
    assert check_stack(st) == []
    monkeypatch.undo()
    at(st, clock, 2200)
    assert list(ll(st)) == [aton("10.0.0.1")]
    assert not st.rt[AF_INET].exact(aton("192.0.2.0"), 24)


# -- entries the data plane makes and times ---------------------------------------------------
def test_unresolved_arp_entry_goes_wait_after_giving_up():
    rig = Rig()
    rig.addr("vnet0", "10.0.0.1")
    stack, clock = rig.stack, rig.clock
    assert rig.dp.ip.output(None, aton("10.0.0.9"), 1, echo()) == 0
    entry = rig.ifp().llinfo[aton("10.0.0.9")]
    assert entry.expire == clock.now + 20   # net.link.ether.inet.wait
    stack.sysctl_set("net.link.ether.inet.wait", 2)
    for _ in range(5):                      # maxtries requests, then given up: now + wait,
        rig.run(1.0)                        # earlier than it was armed for
    assert entry.mac is None and entry.expire == clock.now + 2 < 1020
    stack.tick(entry.expire - 0.01)
    assert aton("10.0.0.9") in rig.ifp().llinfo
    stack.tick(entry.expire)
    assert aton("10.0.0.9") not in rig.ifp().llinfo and check_stack(stack) == []


def test_ndp_entry_gone_stale_early_is_collected_from_then():
    rig = Rig()
    add6(rig, "vnet0", "2001:db8::1")
    stack, clock = rig.stack, rig.clock
    peer = int.from_bytes(PEER, "big")
    assert rig.dp.ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 9, 1)) == 0
    na = icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC, icmp6.NA_SOLICITED
                               | icmp6.NA_OVERRIDE)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    entry = rig.ifp().llinfo6[peer]
    assert entry.state == nd6.REACHABLE
    armed = entry.expire                    # reach + GC_TIMER
    clock.now += 5
    stack.tick(clock.now)                   # armed for INCOMPLETE's end: now for armed
    assert stack.ll_due.when(entry) == armed
    # another link-layer address without override: REACHABLE goes STALE, collected a GC
    # time from now, before the time first armed
    na = icmp6.neighbor_advert(PEER, ME, PEER, b"\x02\0\0\0\0\x09", 0)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    assert entry.state == nd6.STALE and entry.expire == clock.now + nd6.GC_TIMER < armed
    stack.tick(entry.expire - 0.01)
    assert peer in rig.ifp().llinfo6
    stack.tick(entry.expire)
    assert peer not in rig.ifp().llinfo6 and check_stack(stack) == []


def test_incomplete_ndp_entry_freed_by_the_data_plane_is_unarmed():
    rig = Rig()
    add6(rig, "vnet0", "2001:db8::1")
    peer = int.from_bytes(PEER, "big")
    assert rig.dp.ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 9, 1)) == 0
    entry = rig.ifp().llinfo6[peer]
    assert entry in rig.stack.ll_due
    for _ in range(4):
        rig.run(nd6.RETRANS_TIMER)          # no answer: freed (nd6_free)
    assert peer not in rig.ifp().llinfo6 and entry not in rig.stack.ll_due


# -- what a tick costs -------------------------------------------------------------------------
class Counting(dict):
    """A neighbour table that counts every read of it."""
    reads = 0

    def _count(self, n=1):
        Counting.reads += n

    def get(self, key, default=None):
        self._count()
        return super().get(key, default)

    def __getitem__(self, key):
        self._count()
        return super().__getitem__(key)

    def __contains__(self, key):
        self._count()
        return super().__contains__(key)

    def __iter__(self):
        self._count(len(self))
        return super().__iter__()

    def items(self):
        self._count(len(self))
        return super().items()

    def values(self):
        self._count(len(self))
        return super().values()

    def keys(self):
        self._count(len(self))
        return super().keys()


def test_a_tick_examines_what_is_due_not_all_entries(clock):
    st = Stack(clock=clock, pid=42)
    st.sysctl_set("net.link.lltable.max_entries", 0)
    st.if_attach("vnet0", "vnet")
    st.in_aifaddr("vnet0", aton("10.0.0.1"), 8)
    st.in6_aifaddr("vnet0", pton6("2001:db8::1"), 64)
    ifp = st.by_name["vnet0"]
    base4, base6 = aton("10.1.0.0"), pton6("2001:db8::1:0")
    for k in range(50_000):
        clock.now = 1000 + k * 0.01         # learned one after another: 2200 .. 2700
        st.ll_learn(AF_INET, ifp, base4 + k, MAC, create=True)
        st.ll_learn(AF_INET6, ifp, base6 + k, MAC, create=True)
    for k in range(20):
        st.rt_add(AF_INET, aton("192.0.2.0") + 4 * k, 30, aton("10.0.0.9"), expire=3000 + k)
    clock.now = 1490
    st.tick(clock.now)
    st.sysctl_set("net.link.ether.inet.max_age", 10)
    for k in range(0, 50_000, 5000):        # ten of them renewed under a shorter max_age:
        st.ll_learn(AF_INET, ifp, base4 + k, MAC, create=True)        # due at 1500
    ifp.llinfo, ifp.llinfo6 = Counting(ifp.llinfo), Counting(ifp.llinfo6)
    Counting.reads, examined = 0, st.ll_due.examined
    clock.now = 1500
    st.tick(1500)
    # (and the interface's own addresses' entries: 10.0.0.1, 2001:db8::1, its fe80::)
    assert len(ifp.llinfo) == 1 + 50_000 - 10 and len(ifp.llinfo6) == 2 + 50_000
    assert st.ll_due.examined - examined == 10
    assert Counting.reads <= 3 * 10
    Counting.reads, examined = 0, st.ll_due.examined
    clock.now = 1600
    st.tick(1600)                           # nothing due: nothing looked at
    assert (Counting.reads, st.ll_due.examined - examined, st.rt_due.examined) == (0, 0, 0)


# -- the old scan's semantics, as a model --------------------------------------------------------
ADDRS = [aton("10.0.0.2") + k for k in range(4)] + [aton("10.0.1.2") + k for k in range(3)]
ROUTES = [aton("192.0.2.0") + 16 * k for k in range(4)]

op = hs.one_of(
    hs.tuples(hs.just("set"), hs.sampled_from(ADDRS), hs.booleans()),
    hs.tuples(hs.just("learn"), hs.sampled_from(ADDRS), hs.booleans()),
    hs.tuples(hs.just("delete"), hs.sampled_from(ADDRS), hs.just(None)),
    hs.tuples(hs.just("max_age"), hs.integers(1, 60), hs.just(None)),
    hs.tuples(hs.just("route"), hs.sampled_from(ROUTES), hs.integers(0, 60)),
    hs.tuples(hs.just("change"), hs.sampled_from(ROUTES), hs.integers(0, 60)),
    hs.tuples(hs.just("unroute"), hs.sampled_from(ROUTES), hs.just(None)),
    hs.tuples(hs.just("down"), hs.sampled_from(["vnet0", "vnet1"]), hs.booleans()),
)
# each step: time passes (untold), then ops in one transaction that commits or fails, a
# tick optionally amid it (what a batch's slices allow).  What the ops make expires a second
# on at the earliest: the tick amid takes only what was there before (taking what the open
# transaction made would leave its rollback nothing to undo: not this test's subject)
step = hs.tuples(hs.sampled_from([0.0, 0.5, 1.0, 7.0, 30.0]),
                 hs.lists(op, min_size=1, max_size=4), hs.booleans(), hs.booleans())


def _apply(st, clock, kind, a, b):
    if kind == "set":
        st.ll_set(AF_INET, a, MAC, temp=b)
    elif kind == "learn":
        ifp = st.by_name["vnet0" if a < aton("10.0.1.0") else "vnet1"]
        st.ll_learn(AF_INET, ifp, a, MAC, create=b)
    elif kind == "delete":
        st.ll_delete(AF_INET, a)
    elif kind == "max_age":
        st.sysctl_set("net.link.ether.inet.max_age", a)
    elif kind == "route":
        st.rt_add(AF_INET, a, 28, aton("10.0.0.9"), expire=clock.now + b if b else 0)
    elif kind == "change":
        st.rt_change(AF_INET, a, 28, expire=clock.now + b if b else 0)
    elif kind == "unroute":
        st.rt_delete(AF_INET, a, 28)
    elif kind == "down":
        st.if_setflags(a, clear=IFF_UP) if b else st.if_setflags(a, set_=IFF_UP)


def _live(st):
    """(entry, expire) and (route, expire) of everything that may expire, as the old tick
    scanned for them: every attached interface's tables; every route with an expire (the
    old list held only those added with one: route change -expire counts now, as the
    kernel's walk of the whole table (route_temporal.c) takes any with nh_expire set)."""
    entries = {(ifp.name, e.addr): e.expire for ifp in st.ifaces
               for e in ifp.llinfo.values() if e.expire}
    routes = {(r.dst, r.plen): r.expire for paths in st.rt[AF_INET].walk() for r in paths
              if r.expire}
    return entries, routes


def _model_tick(st, clock):
    """Tick, and check that exactly what the old scan would take went."""
    now = clock.now
    entries, routes = _live(st)
    st.tick(now)
    after_entries, after_routes = _live(st)
    assert after_entries == {k: v for k, v in entries.items() if v > now}
    assert after_routes == {k: v for k, v in routes.items() if v > now}
    assert check_stack(st) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(step, max_size=12))
def test_tick_takes_what_the_old_scan_took(steps):
    clock = Clock()
    st = Stack(clock=clock, pid=42)
    for name, net in (("vnet0", "10.0.0.1"), ("vnet1", "10.0.1.1")):
        st.if_attach(name, "vnet")
        st.in_aifaddr(name, aton(net), 24)
    st.sysctl_set("net.link.ether.inet.max_age", 20)
    for wait, ops, fail, tick_amid in steps:
        clock.now += wait
        cm = _open(st)
        try:
            for kind, a, b in ops:
                try:
                    with st.transaction():
                        _apply(st, clock, kind, a, b)
                except OpError:
                    pass
            if tick_amid:
                saved = st.journal.suspend()
                _model_tick(st, clock)
                st.journal.resume(saved)
        except BaseException:
            cm.__exit__(RuntimeError, RuntimeError(), None)
            raise
        if fail:
            _rollback(st, cm, st.journal.suspend())
        else:
            cm.__exit__(None, None, None)
        assert check_stack(st) == []
        _model_tick(st, clock)


# -- duplicate address detection: started when a tick sees an interface become ready -----------
def tentative(st, name="vnet0"):
    return sorted(a.addr for a in st.by_name[name].addrs
                  if a.af == AF_INET6 and a.flags & IN6_IFF_TENTATIVE)


def test_dad_restarts_when_the_interface_is_up_again(st, clock):
    st.in6_aifaddr("vnet0", pton6("2001:db8::5"), 64)                  # DAD ends at 1001
    st.if_setflags("vnet0", clear=IFF_UP)
    at(st, clock, 1000.5)                   # seen down mid-DAD: it stops
    at(st, clock, 1001.5)
    assert pton6("2001:db8::5") in tentative(st)
    st.if_setflags("vnet0", set_=IFF_UP)
    at(st, clock, 1002)                     # seen up: DAD again, dad_count seconds
    at(st, clock, 1002.9)
    assert pton6("2001:db8::5") in tentative(st)
    at(st, clock, 1003)
    assert tentative(st) == []


def test_address_added_while_not_running_starts_dad_at_the_tick_that_sees_it_run(st, clock):
    # (adding an address brings an interface up, not running: a vxlan whose socket would not
    # open stays up and not running, plane.py; the driver sets RUNNING when it can)
    ifp = st.by_name["vnet1"]
    at(st, clock, 1001)
    ifp.flags &= ~IFF_RUNNING
    at(st, clock, 1001.5)
    st.in6_aifaddr("vnet1", pton6("2001:db8:1::5"), 64)
    at(st, clock, 1010)
    assert pton6("2001:db8:1::5") in tentative(st, "vnet1")
    ifp.flags |= IFF_RUNNING
    at(st, clock, 1020)
    assert pton6("2001:db8:1::5") in tentative(st, "vnet1")
    at(st, clock, 1021)
    assert tentative(st, "vnet1") == []


def test_a_failed_tick_that_saw_an_interface_come_up_is_seen_again(st, clock, monkeypatch):
    ifp = st.by_name["vnet1"]
    at(st, clock, 1001)
    ifp.flags &= ~IFF_RUNNING
    st.in6_aifaddr("vnet1", pton6("2001:db8:1::5"), 64)
    at(st, clock, 1002)
    ifp.flags |= IFF_RUNNING

    def fail(now):
        raise RuntimeError("nd6")
    monkeypatch.setattr(st, "_nd6_tick", fail)
    clock.now = 1003
    with pytest.raises(RuntimeError):
        st.tick(1003)
    monkeypatch.undo()
    at(st, clock, 1003.5)                   # (its DAD starts now: a second to go)
    assert pton6("2001:db8:1::5") in tentative(st, "vnet1")
    at(st, clock, 1004.5)
    assert tentative(st, "vnet1") == []


class CountingAddrs(AddrList):
    """An address list that counts the addresses read off it."""
    __slots__ = ()
    reads = 0

    def __iter__(self):
        CountingAddrs.reads += len(self)
        return super().__iter__()


def test_a_tick_looks_at_no_address_while_no_interface_changes(clock):
    st = Stack(clock=clock, pid=42)
    st.if_attach("vnet0", "vnet")
    base = pton6("2001:db8::")
    with st.transaction():
        for k in range(1, 2001):
            st.in6_aifaddr("vnet0", base + k, 128)
    clock.now += 1
    while st.tick(clock.now):       # (2,000 DADs end: a tick's share at a time)
        pass
    assert tentative(st) == []
    ifp = st.by_name["vnet0"]
    ifp.addrs = CountingAddrs(ifp.addrs)
    CountingAddrs.reads = 0
    for _ in range(3):
        clock.now += 0.5
        st.tick(clock.now)
    assert CountingAddrs.reads == 0
    st.if_setflags("vnet0", clear=IFF_UP)
    st.if_setflags("vnet0", set_=IFF_UP)
    st.in6_aifaddr("vnet0", base + 5000, 128)     # up and ready: its DAD starts at once
    CountingAddrs.reads = 0                 # (what the changes themselves read: not counted)
    clock.now += 0.5
    st.tick(clock.now)
    assert CountingAddrs.reads == 0 and tentative(st) == [base + 5000]
    st.if_setflags("vnet0", clear=IFF_UP)
    CountingAddrs.reads = 0
    clock.now += 0.5
    st.tick(clock.now)                      # seen down: its addresses wait, not looked at
    assert CountingAddrs.reads == 0 and check_stack(st) == []
    st.if_setflags("vnet0", set_=IFF_UP)
    CountingAddrs.reads = 0
    clock.now += 0.5
    st.tick(clock.now)                      # seen up: looked at once
    assert CountingAddrs.reads == len(ifp.addrs)


def test_no_tick_while_a_batch_is_set_aside(tmp_path, monkeypatch):
    """The stack process does not tick while a batch's transaction is set aside between its
    slices: a temporary entry the batch made could otherwise expire under it, and the
    batch's rollback would then undo a filing that is no longer there (KeyError).  The
    expiry comes at the first tick after the batch."""
    from types import SimpleNamespace

    from plebnet_core.main import StackProcess
    sp = StackProcess([("vnet0", "none")], str(tmp_path))
    sc, stack, journal = sp.syscalls, sp.stack, sp.stack.journal
    sc.dispatch("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                          "plen": 24})
    later = stack.clock() + 10 * 3600
    monkeypatch.setattr(sp.loop, "clock", lambda: later)
    table = stack.ifunit("vnet0").llinfo
    with pytest.raises(OpError):
        with journal.transaction():     # a batch: a temp entry in its first slice...
            sc.dispatch("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.7",
                                  "mac": "02:00:00:00:00:07", "temp": True})
            saved = journal.suspend()   # ...set aside between slices, long past max_age
            sp.server = SimpleNamespace(job=object())
            sp._tick()
            journal.resume(saved)
            assert aton("10.0.0.7") in table
            raise OpError(22)           # its last op fails: all rolled back
    assert aton("10.0.0.7") not in table
    sc.dispatch("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.8",
                          "mac": "02:00:00:00:00:08", "temp": True})
    later += 10 * 3600
    sp.server = SimpleNamespace(job=None)
    sp._tick()
    assert aton("10.0.0.8") not in table
    assert check_stack(stack) == []
