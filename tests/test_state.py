"""The state model alone: one test per kernel rule of docs/freebsd-tools.md §1.3, §3.4 and §6."""
import pytest

from plebproto.constants import (
    AF_INET, AF_INET6, EADDRINUSE, EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, ENXIO, ESRCH,
    IFF_RUNNING, IFF_UP, IN6_IFF_TENTATIVE, RTF_BLACKHOLE, RTF_GATEWAY, RTF_HOST, RTF_PINNED,
    RTF_REJECT, RTF_STATIC, RTF_UP, RTM_ADD, RTM_DELETE, RTM_NEWADDR,
)
from plebproto.errors import OpError
from plebnet_core.state.inet import aton, pton6
from plebnet_core.state.stack import Stack


def bare_stack(clock) -> Stack:
    """A Stack of vnet0, vnet1 and lo0, no address (the state tests' starting point)."""
    s = Stack(clock=clock, pid=42)
    s.if_attach("vnet0", "vnet")
    s.if_attach("vnet1", "vnet")
    s.if_attach("lo0", "lo")
    return s


@pytest.fixture
def st(clock):
    return bare_stack(clock)


def routes(s, af=AF_INET):
    """(destination/len, gateway, flags, netif) of every path, in walk order."""
    out = []
    for paths in s.rt[af].walk():
        for r in paths:
            info = s.route_info(af, r)
            out.append((f"{info['dst']}/{info['plen']}", info["gateway"], info["flags"],
                        info["ifname"]))
    return out


def inet(s, name):
    return [(a.addr, a.plen) for a in s.by_name[name].addrs if a.af == AF_INET]


def errno_of(fn, *args, **kw):
    with pytest.raises(OpError) as exc:
        fn(*args, **kw)
    return exc.value.errno


A, B, C = aton("10.0.0.2"), aton("10.0.0.3"), aton("10.0.1.2")


def test_fresh_stack_has_lo0_addresses_and_routes(st):
    assert [(a.af, a.plen) for a in st.by_name["lo0"].addrs] == [
        (AF_INET, 8), (AF_INET6, 128), (AF_INET6, 64)]
    assert routes(st) == [("127.0.0.1/32", "link#3", RTF_UP | RTF_HOST | RTF_PINNED, "lo0")]
    assert routes(st, AF_INET6) == [
        ("::1/128", "link#3", RTF_UP | RTF_HOST | RTF_STATIC | RTF_PINNED, "lo0"),
        ("fe80::%lo0/64", "link#3", RTF_UP | RTF_PINNED, "lo0"),
        ("fe80::1%lo0/128", "link#3", RTF_UP | RTF_HOST | RTF_STATIC | RTF_PINNED, "lo0"),
    ]


def test_address_add_creates_prefix_and_loopback_routes_and_marks_up(st):
    st.in_aifaddr("vnet0", A, 24)
    ifp = st.by_name["vnet0"]
    assert ifp.flags & IFF_UP and ifp.flags & IFF_RUNNING
    assert routes(st)[:2] == [
        ("10.0.0.0/24", "link#1", RTF_UP | RTF_PINNED, "vnet0"),
        ("10.0.0.2/32", "link#1", RTF_UP | RTF_HOST | RTF_STATIC | RTF_PINNED, "lo0"),
    ]
    assert ifp.addrs[0].broadcast == aton("10.0.0.255")


def test_alias_appends_in_order(st):
    st.in_aifaddr("vnet0", A, 24)
    st.in_aifaddr("vnet0", C, 24)
    st.in_aifaddr("vnet0", B, 32)
    assert inet(st, "vnet0") == [(A, 24), (C, 24), (B, 32)]


def test_replace_first_is_delete_first_then_append(st):
    """ifconfig's non-alias form = SIOCDIFADDR(first) + SIOCAIFADDR: new address at the tail."""
    st.in_aifaddr("vnet0", A, 24)
    st.in_aifaddr("vnet0", C, 24)
    st.in_difaddr("vnet0", None)
    st.in_aifaddr("vnet0", B, 24)
    assert inet(st, "vnet0") == [(C, 24), (B, 24)]


def test_readd_same_address_moves_to_tail_with_new_mask(st):
    st.in_aifaddr("vnet0", A, 24)
    st.in_aifaddr("vnet0", C, 24)
    st.in_aifaddr("vnet0", A, 16)
    assert inet(st, "vnet0") == [(C, 24), (A, 16)]
    assert ("10.0.0.0/16", "link#1", RTF_UP | RTF_PINNED, "vnet0") in routes(st)


def test_delete_missing_address_is_eaddrnotavail(st):
    assert errno_of(st.in_difaddr, "vnet0", A) == EADDRNOTAVAIL
    assert errno_of(st.in_difaddr, "vnet0", None) == EADDRNOTAVAIL


def test_unknown_interface_is_enxio(st):
    assert errno_of(st.in_aifaddr, "vnet9", A, 24) == ENXIO


def test_broadcast_rules(st):
    st.in_aifaddr("vnet0", A, 31)
    st.in_aifaddr("vnet1", C, 32)
    assert st.by_name["vnet0"].addrs[0].broadcast == 0xFFFFFFFF
    assert st.by_name["vnet1"].addrs[0].broadcast == C


def test_slash32_on_broadcast_interface_only_gets_the_loopback_route(st):
    st.in_aifaddr("vnet0", A, 32)
    assert [r for r in routes(st) if r[0].startswith("10.")] == [
        ("10.0.0.2/32", "link#1", RTF_UP | RTF_HOST | RTF_STATIC | RTF_PINNED, "lo0")]


def test_same_prefix_on_second_address_adds_no_second_prefix_route(st):
    st.in_aifaddr("vnet0", A, 24)
    st.in_aifaddr("vnet1", B, 24)
    prefix = [r for r in routes(st) if r[0] == "10.0.0.0/24"]
    assert prefix == [("10.0.0.0/24", "link#1", RTF_UP | RTF_PINNED, "vnet0")]


def test_prefix_route_handed_over_when_owner_address_goes(st):
    st.in_aifaddr("vnet0", A, 24)
    st.in_aifaddr("vnet1", B, 24)
    st.in_difaddr("vnet0", A)
    assert [r for r in routes(st) if r[0] == "10.0.0.0/24"] == [
        ("10.0.0.0/24", "link#2", RTF_UP | RTF_PINNED, "vnet1")]


def test_address_removal_removes_its_routes_including_static(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("192.168.0.0"), 16, gateway=aton("10.0.0.1"))
    st.in_difaddr("vnet0", A)
    assert routes(st) == [("127.0.0.1/32", "link#3", RTF_UP | RTF_HOST | RTF_PINNED, "lo0")]


def test_longest_prefix_match(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.1.0.0"), 16, gateway=aton("10.0.0.1"))
    st.rt_add(AF_INET, aton("10.1.2.0"), 24, gateway=aton("10.0.0.9"))
    st.rt_add(AF_INET, 0, 0, gateway=aton("10.0.0.254"))
    assert st.rt_get(AF_INET, aton("10.1.2.3")).gateway == aton("10.0.0.9")
    assert st.rt_get(AF_INET, aton("10.1.9.3")).gateway == aton("10.0.0.1")
    assert st.rt_get(AF_INET, aton("8.8.8.8")).gateway == aton("10.0.0.254")
    assert st.rt_get(AF_INET, aton("10.1.0.0"), 16).gateway == aton("10.0.0.1")


def test_route_add_masks_destination_and_marks_hosts(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.1.2.3"), 16, gateway=aton("10.0.0.1"))
    st.rt_add(AF_INET, aton("10.9.9.9"), 32, gateway=aton("10.0.0.1"))
    got = {r[0]: r[2] for r in routes(st)}
    assert got["10.1.0.0/16"] == RTF_UP | RTF_GATEWAY | RTF_STATIC
    assert got["10.9.9.9/32"] == RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_STATIC


def test_multipath_different_gateways_and_eexist_rules(st):
    st.in_aifaddr("vnet0", A, 24)
    net = aton("10.1.0.0")
    st.rt_add(AF_INET, net, 16, gateway=aton("10.0.0.1"))
    st.rt_add(AF_INET, net, 16, gateway=aton("10.0.0.5"))
    assert len(st.rt[AF_INET].exact(net, 16)) == 2
    assert errno_of(st.rt_add, AF_INET, net, 16, gateway=aton("10.0.0.1")) == EEXIST
    # an interface (non-gateway) route cannot join a multipath group
    assert errno_of(st.rt_add, AF_INET, aton("10.0.0.0"), 24, gateway=aton("10.0.0.7")) == EEXIST
    st.rt_delete(AF_INET, net, 16, gateway=aton("10.0.0.1"))
    assert [r.gateway for r in st.rt[AF_INET].exact(net, 16)] == [aton("10.0.0.5")]


def test_route_errnos(st):
    st.in_aifaddr("vnet0", A, 24)
    assert errno_of(st.rt_add, AF_INET, aton("10.5.0.0"), 16, gateway=aton("192.0.2.1")) == ENETUNREACH
    assert errno_of(st.rt_add, AF_INET, aton("10.5.0.0"), 16) == EINVAL
    assert errno_of(st.rt_add, AF_INET, aton("10.5.0.0"), 16, gateway=aton("10.0.0.1"),
                    flags=RTF_STATIC | RTF_BLACKHOLE | RTF_REJECT) == EINVAL
    assert errno_of(st.rt_delete, AF_INET, aton("10.5.0.0"), 16) == ESRCH
    assert errno_of(st.rt_change, AF_INET, aton("10.5.0.0"), 16, gateway=aton("10.0.0.1")) == ESRCH
    assert errno_of(st.rt_get, AF_INET, aton("192.0.2.1")) == ESRCH
    # a pinned interface route needs RTF_PINNED to go (route(8) always sends it)
    assert errno_of(st.rt_delete, AF_INET, aton("10.0.0.0"), 24) == EADDRINUSE
    st.rt_delete(AF_INET, aton("10.0.0.0"), 24, flags=RTF_PINNED)


def test_blackhole_and_reject_go_via_lo0_with_gateway_flag(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.66.0.0"), 16, gateway=aton("10.0.0.1"),
              flags=RTF_STATIC | RTF_BLACKHOLE)
    st.rt_add(AF_INET, aton("10.67.0.0"), 16, gateway=aton("10.0.0.1"),
              flags=RTF_STATIC | RTF_REJECT)
    got = {r[0]: r for r in routes(st)}
    assert got["10.66.0.0/16"] == ("10.66.0.0/16", "127.0.0.1",
                                   RTF_UP | RTF_GATEWAY | RTF_STATIC | RTF_BLACKHOLE, "lo0")
    assert got["10.67.0.0/16"][1:] == ("127.0.0.1",
                                       RTF_UP | RTF_GATEWAY | RTF_REJECT | RTF_STATIC, "lo0")


def test_interface_down_keeps_static_and_loopback_routes(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.1.0.0"), 16, gateway=aton("10.0.0.1"))
    st.rt_add(AF_INET, aton("10.2.0.0"), 16, gateway=aton("10.0.0.1"), flags=0)  # -nostatic
    st.if_setflags("vnet0", clear=IFF_UP)
    names = [r[0] for r in routes(st)]
    assert "10.0.0.0/24" not in names and "10.2.0.0/16" not in names
    assert "10.1.0.0/16" in names and "10.0.0.2/32" in names
    assert not st.by_name["vnet0"].flags & (IFF_UP | IFF_RUNNING)
    st.if_setflags("vnet0", set_=IFF_UP)
    assert "10.0.0.0/24" in [r[0] for r in routes(st)]


def test_change_gateway_and_flags(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.1.0.0"), 16, gateway=aton("10.0.0.1"))
    st.rt_change(AF_INET, aton("10.1.0.0"), 16, gateway=aton("10.0.0.9"),
                 flags=RTF_STATIC | RTF_BLACKHOLE)
    r = st.rt_get(AF_INET, aton("10.1.0.0"), 16)
    assert r.gateway == aton("10.0.0.9") and r.flags & RTF_BLACKHOLE


def test_interface_route_with_iface_gateway(st):
    st.in_aifaddr("vnet0", A, 24)
    st.rt_add(AF_INET, aton("10.8.0.0"), 16, gw_ifname="vnet0")
    assert ("10.8.0.0/16", "link#1", RTF_UP | RTF_STATIC, "vnet0") in routes(st)


def test_failed_op_in_transaction_changes_nothing(st):
    st.in_aifaddr("vnet0", A, 24)
    before = (routes(st), inet(st, "vnet0"), [i.name for i in st.ifaces])
    with pytest.raises(OpError):
        with st.transaction():
            st.in_aifaddr("vnet0", C, 24)
            st.if_create("tap")
            st.rt_add(AF_INET, aton("10.1.0.0"), 16, gateway=aton("10.0.0.1"))
            st.in_difaddr("vnet0", A)
            st.rt_add(AF_INET, aton("10.3.0.0"), 16, gateway=aton("10.0.0.1"))  # ENETUNREACH now
    assert (routes(st), inet(st, "vnet0"), [i.name for i in st.ifaces]) == before


def test_savepoint_tolerates_a_failing_inner_op(st):
    with st.transaction():
        with pytest.raises(OpError):
            with st.transaction():
                st.in_aifaddr("vnet0", A, 24)
                st.in_difaddr("vnet0", B)
        st.in_aifaddr("vnet1", C, 24)
    assert inet(st, "vnet0") == [] and inet(st, "vnet1") == [(C, 24)]


def test_apply_each_takes_back_only_what_failed(st):
    """Journal.apply_each (a run of a frame's requests): a call that changed things and
    then failed leaves nothing, its events and commit effects included; the others stay,
    their events published in order at the end."""
    seen, effects = [], []
    st.journal.listeners.append(seen.extend)

    def add_then_fail(addr):
        st.in_aifaddr("vnet0", addr, 24)
        st.journal.on_commit(effects.append, addr)
        st.in_difaddr("vnet0", B)           # EADDRNOTAVAIL: never added

    def add(addr):
        st.in_aifaddr("vnet1", addr, 24)
        st.journal.on_commit(effects.append, addr)
        return addr

    results, failed = st.journal.apply_each([(add, A), (add_then_fail, C), (add, B)])
    assert results[0] == A and results[2] == B and isinstance(results[1], OpError)
    assert failed == [1]
    assert inet(st, "vnet0") == [] and inet(st, "vnet1") == [(A, 24), (B, 24)]
    assert effects == [A, B]
    assert [e["addr"] for e in seen if e["type"] == RTM_NEWADDR] == ["10.0.0.2", "10.0.0.3"]
    assert st.journal.depth == 0


def test_apply_each_stops_when_its_time_is_spent(st):
    """apply_each(calls, due, clock) reads the clock every EACH_CLOCK calls and stops
    there once due has passed: the calls made are committed, the rest not made."""
    from plebnet_core.state.txn import EACH_CLOCK
    made = []
    now = [0.0]

    def call(n):
        made.append(n)
        now[0] += 1.0           # each call takes a "second"
        return n

    results, failed = st.journal.apply_each([(call, n) for n in range(5 * EACH_CLOCK)],
                                            2.5 * EACH_CLOCK, lambda: now[0])
    assert results == made == list(range(3 * EACH_CLOCK)) and failed == []
    assert st.journal.depth == 0


def test_events_published_only_on_commit(st):
    seen = []
    st.journal.listeners.append(seen.extend)
    with pytest.raises(OpError):
        with st.transaction():
            st.in_aifaddr("vnet0", A, 24)
            st.in_difaddr("vnet0", B)
    assert seen == []
    st.in_aifaddr("vnet0", A, 24)
    kinds = [e["type"] for e in seen]
    assert kinds.count(RTM_NEWADDR) == 1 and kinds.count(RTM_ADD) == 2  # prefix + loopback


def test_cloners_create_destroy_rename(st):
    assert st.if_create("tap") == "tap0"
    assert st.if_create("tap") == "tap1"
    assert st.if_create("vxlan5") == "vxlan5"
    assert errno_of(st.if_create, "tap0") == EEXIST
    assert errno_of(st.if_create, "vnet") == EINVAL
    assert errno_of(st.if_destroy, "lo0") == EINVAL
    assert errno_of(st.if_destroy, "vnet0") == EINVAL
    st.in_aifaddr("tap0", aton("10.9.0.1"), 24)
    st.if_destroy("tap0")
    assert "tap0" not in st.by_name and "10.9.0.0/24" not in [r[0] for r in routes(st)]
    st.if_rename("tap1", "uplink")
    assert st.by_name["uplink"].groups == ["tap"]
    assert errno_of(st.if_rename, "uplink", "vnet0") == EEXIST


def test_mtu_and_description_limits(st):
    assert errno_of(st.if_setmtu, "vnet0", 0) == EINVAL
    st.if_setmtu("vnet0", 9000)
    assert st.by_name["vnet0"].mtu == 9000
    assert errno_of(st.if_setdescr, "vnet0", "x" * 2000) == 63


def test_ipv6_link_local_default_and_tentative_until_dad(st, clock):
    st.in6_aifaddr("vnet0", pton6("2001:db8::1"), 64)
    addrs = st.by_name["vnet0"].addrs_of(AF_INET6)
    # manual configuration cleared IFDISABLED and brought the EUI-64 link-local
    assert [(hex(a.addr >> 112), a.plen, a.scopeid) for a in addrs] == [
        ("0xfe80", 64, 1), ("0x2001", 64, 0)]
    assert all(a.flags & IN6_IFF_TENTATIVE for a in addrs)
    clock.now += 1.5
    st.tick(clock.now)
    assert not any(a.flags & IN6_IFF_TENTATIVE for a in addrs)
    got = [r[0] for r in routes(st, AF_INET6)]
    assert "2001:db8::/64" in got and "fe80::%vnet0/64" in got


def test_arp_static_published_temp_and_expiry(st, clock):
    st.in_aifaddr("vnet0", A, 24)
    st.ll_set(AF_INET, aton("10.0.0.5"), b"\x02\0\0\0\0\x05")
    st.ll_set(AF_INET, aton("10.0.0.6"), b"\x02\0\0\0\0\x06", temp=True)
    ifp = st.by_name["vnet0"]
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), b"\x02\0\0\0\0\x07", create=True)
    info = {e["addr"]: e for e in map(st.ll_info, ifp.llinfo.values())}
    assert info["10.0.0.2"]["flags"] & RTF_PINNED and info["10.0.0.2"]["expire"] is None
    assert info["10.0.0.5"]["expire"] is None
    assert info["10.0.0.6"]["expire"] == 1200
    assert info["10.0.0.7"]["expire"] == 1200
    # a learned reply never overwrites a static entry
    st.ll_learn(AF_INET, ifp, aton("10.0.0.5"), b"\x02\0\0\0\0\xff", create=True)
    assert ifp.llinfo[aton("10.0.0.5")].mac == b"\x02\0\0\0\0\x05"
    clock.now += 1199
    st.tick(clock.now)
    assert aton("10.0.0.7") in ifp.llinfo
    clock.now += 1
    st.tick(clock.now)
    assert sorted(ifp.llinfo) == [aton("10.0.0.2"), aton("10.0.0.5")]
    assert errno_of(st.ll_set, AF_INET, aton("192.0.2.1"), b"\x02\0\0\0\0\x01") == ENETUNREACH


def test_entries_expiring_together_each_get_their_delete_event(st, clock):
    st.in_aifaddr("vnet0", A, 24)
    for last in (6, 7, 8):
        st.ll_set(AF_INET, aton(f"10.0.0.{last}"), bytes([2, 0, 0, 0, 0, last]), temp=True)
    events = []
    st.journal.listeners.append(events.extend)
    clock.now += 1200
    st.tick(clock.now)
    assert sorted((e["type"], e["neigh"]["addr"]) for e in events) == [
        (RTM_DELETE, "10.0.0.6"), (RTM_DELETE, "10.0.0.7"), (RTM_DELETE, "10.0.0.8")]


def test_interface_down_purges_dynamic_arp(st):
    st.in_aifaddr("vnet0", A, 24)
    ifp = st.by_name["vnet0"]
    st.ll_set(AF_INET, aton("10.0.0.5"), b"\x02\0\0\0\0\x05")
    st.ll_learn(AF_INET, ifp, aton("10.0.0.7"), b"\x02\0\0\0\0\x07", create=True)
    st.if_setflags("vnet0", clear=IFF_UP)
    assert sorted(ifp.llinfo) == [aton("10.0.0.2"), aton("10.0.0.5")]


def test_lookup_among_many_routes(st):
    st.in_aifaddr("vnet0", A, 24)
    gw = aton("10.0.0.1")
    with st.transaction():
        for i in range(5000):
            st.rt_add(AF_INET, (20 << 24) | (i << 8), 24, gateway=gw)
    assert st.rt_get(AF_INET, (20 << 24) | (4321 << 8) | 7).dst == (20 << 24) | (4321 << 8)
    assert len(st.rt[AF_INET]) == 5000 + 3


def _brute_lpm(prefixes, addr):
    best = None
    for dst, plen in prefixes:
        mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        if addr & mask == dst and (best is None or plen > best[1]):
            best = (dst, plen)
    return best


def test_ipv4_lookup_index_agrees_with_brute_force_under_adds_and_deletes():
    """The DIR-24-8 arrays (tbl24, tbl8 groups, the short prefixes' /8 table) must give
    exactly the longest match, however prefixes come and go: nested prefixes of every kind
    (short, ≤ /24 over groups, > /24 inside groups) added and removed in any order, one by
    one, as runs of Routes (add_run) or as unmade prefixes (add_unmade), with the arrays'
    fills done in slices in between (settle) or still pending when looked up (the lookup
    then probes the dicts)."""
    from hypothesis import given, settings, strategies as hs
    from plebnet_core.state.route import Route, RouteTable

    # most addresses in one /15 so that prefixes nest; some anywhere
    address = hs.one_of(hs.integers(0, 0x1FFFF).map(lambda x: 0x0A000000 | x << 6),
                        hs.integers(0, 0xFFFFFFFF))
    prefix = hs.tuples(address, hs.sampled_from(
        [0, 1, 7, 8, 12, 15, 16, 17, 20, 23, 24, 25, 26, 28, 31, 32]))
    how = hs.sampled_from(["add", "run", "unmade", "remove", "settle"])

    @settings(max_examples=400, deadline=None)
    @given(hs.lists(hs.tuples(how, prefix), max_size=40),
           hs.lists(hs.integers(0, 0xFFFFFFFF), min_size=1, max_size=20))
    def check(changes, probes):
        """"run"/"unmade": added with the next changes of the same kind in one call."""
        table, present, batch = RouteTable(32), {}, []
        for i, (how, (addr, plen)) in enumerate(changes):
            dst = addr & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
            if how == "settle":
                table.settle(budget=1 + addr % 3)
            elif how != "remove" and (dst, plen) not in present:
                present[(dst, plen)] = Route(dst, plen, 1, None, None, 1)
                if how == "add":
                    table.add_path(present[(dst, plen)])
                else:
                    batch.append(present[(dst, plen)])
            elif how == "remove" and (dst, plen) in present \
                    and present[(dst, plen)] not in batch:
                table.remove_path(table.exact(dst, plen)[0])
                del present[(dst, plen)]
            if batch and (i + 1 == len(changes) or changes[i + 1][0] != how):
                if how == "run":
                    table.add_run(batch, None)
                else:
                    keys = [[] for _ in range(33)]
                    for route in batch:
                        keys[route.plen].append(route.dst)
                    assert table.add_unmade(keys, [0] * 33, [(1, None, None)], lambda plen: 1)
                batch = []
        # probe addresses inside the prefixes too, not only random ones
        probes = probes + [dst | 1 for dst, _ in present] + [dst for dst, _ in present] + \
            [dst | 0xFFFFFFFF >> plen for dst, plen in present]
        for settled in (False, True):
            if settled:
                table.settle()
            for addr in probes:
                want = _brute_lpm(present, addr)
                path = table.paths_to(addr)     # the data plane's: a NextHop if unmade
                assert (path[0].plen if path else None) == (want and want[1]), hex(addr)
                paths = table.lookup(addr)
                got = (paths[0].dst, paths[0].plen) if paths else None
                assert got == want, hex(addr)

    check()


def test_route_table_agrees_with_a_model_while_fills_are_pending():
    """Loads (runs of unmade prefixes of mixed lengths over several next hops), single adds
    (as Routes, or unmade: announced), deletes and next-hop changes (of unmade prefixes
    without making them), prefixes made into Routes, rollbacks of the last load, lookups and
    partial fills, in any interleaving: every lookup -- by the dicts while fills are pending, by the arrays once
    they are done -- gives what a brute-force model of the prefixes gives, path included."""
    from hypothesis import given, settings, strategies as hs
    from plebnet_core.state.route import Route, RouteTable

    address = hs.one_of(hs.integers(0, 0x1FFFF).map(lambda x: 0x0A000000 | x << 6),
                        hs.integers(0, 0xFFFFFFFF))
    prefix = hs.tuples(address, hs.sampled_from([0, 7, 8, 15, 16, 20, 24, 25, 28, 32]))
    hop = hs.integers(1, 3)
    step = hs.one_of(
        hs.tuples(hs.just("load"), hs.lists(hs.tuples(prefix, hop), min_size=1, max_size=12)),
        hs.tuples(hs.just("add"), hs.tuples(prefix, hop)),
        hs.tuples(hs.just("announce"), hs.tuples(prefix, hop)),
        hs.tuples(hs.just("make"), prefix),
        hs.tuples(hs.just("delete"), prefix),
        hs.tuples(hs.just("change"), hs.tuples(prefix, hop)),
        hs.tuples(hs.just("undo"), hs.none()),
        hs.tuples(hs.just("lookup"), address),
        hs.tuples(hs.just("settle"), hs.integers(1, 5)))
    paths = [(0, None, None), (1, None, None), (2, None, None), (3, None, None)]

    def masked(dst, plen):
        return dst & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)

    @settings(max_examples=300, deadline=None)
    @given(hs.lists(step, max_size=30), hs.lists(address, min_size=1, max_size=10))
    def check(steps, probes):
        table, model = RouteTable(32), {}
        undo = None         # (token, model before) of the last load, while undoable

        def agree(addr):
            best = _brute_lpm(model, addr)
            found = table.paths_to(addr)
            got = (found[0].plen, found[0].gateway) if found else None
            assert got == (best and (best[1], model[best])), hex(addr)

        for kind, arg in steps:
            if kind == "load":
                rows = {}
                for (addr, plen), gw in arg:
                    key = (masked(addr, plen), plen)
                    if key not in model:
                        rows[key] = gw
                keys, hops = [[] for _ in range(33)], [[] for _ in range(33)]
                for (dst, plen), gw in rows.items():
                    keys[plen].append(dst)
                    hops[plen].append(gw)
                before = dict(model)
                token = table.add_unmade(keys, hops, paths, lambda plen: 1)
                assert token is not None
                model.update(rows)
                undo = (token, before)
                continue
            if kind == "undo":
                if undo is not None:
                    table.remove_unmade(undo[0])
                    model = undo[1]
                    undo = None
                continue
            if kind == "lookup":
                agree(arg)
                continue
            if kind == "settle":
                table.settle(budget=arg)
                continue
            if kind != "make":
                undo = None     # (a rollback undoes the latest change first)
            (addr, plen), gw = arg if kind not in ("delete", "make") else (arg, None)
            key = (masked(addr, plen), plen)
            if kind == "add" and key not in model:
                table.add_path(Route(key[0], plen, gw, None, None, 1))
                model[key] = gw
            elif kind == "announce" and key not in model:
                table.add_unmade_one(*key, table.nexthop(plen, *paths[gw], 1))
                model[key] = gw
            elif kind == "make" and key in model:
                assert table.exact(*key)[0].gateway == model[key]
            elif kind == "delete" and key in model:
                if table.nexthop_of(*key) is not None:
                    table.remove_unmade_one(*key)
                else:
                    for route in list(table.exact(*key)):
                        table.remove_path(route)
                del model[key]
            elif kind == "change" and key in model:
                if table.nexthop_of(*key) is not None:
                    table.set_unmade(*key, table.nexthop(plen, *paths[gw], 1))
                else:
                    table.exact(*key)[0].gateway = gw   # (as RTM_CHANGE does)
                model[key] = gw
        probes = probes + [dst | 1 for dst, _ in model] + [dst for dst, _ in model] + \
            [dst | 0xFFFFFFFF >> plen for dst, plen in model]
        for settled in (False, True):
            if settled:
                table.settle()
                assert table.unsettled == 0
            for addr in probes:
                agree(addr)
        assert len(table) == len(model) and table.unmade == sum(
            1 for t in table._by_len for v in t.values() if type(v) is int)

    check()


def test_default_route_and_short_prefixes_cover_every_block(st):
    st.in_aifaddr("vnet0", A, 24)
    gw = aton("10.0.0.1")
    st.rt_add(AF_INET, 0, 0, gateway=gw)
    st.rt_add(AF_INET, aton("172.16.0.0"), 12, gateway=gw)
    assert st.rt_get(AF_INET, aton("172.20.1.1")).plen == 12
    assert st.rt_get(AF_INET, aton("8.8.8.8")).plen == 0
    st.rt_delete(AF_INET, aton("172.16.0.0"), 12)
    assert st.rt_get(AF_INET, aton("172.20.1.1")).plen == 0
    st.rt_delete(AF_INET, 0, 0)
    assert errno_of(st.rt_get, AF_INET, aton("8.8.8.8")) == ESRCH


def test_multipath_prefix_of_a_run_keeps_its_lookup_slot_as_paths_go():
    """Paths joining a prefix inside one add_run share its slot in the lookup arrays: the
    prefix stays found while any path is left, and goes with the last."""
    from plebnet_core.state.route import Route, RouteTable
    table = RouteTable(32)
    cover = Route(aton("10.0.0.0"), 8, 1, None, None, 1)
    a, b = (Route(aton("10.1.2.0"), 24, gw, None, None, 1) for gw in (2, 3))
    table.add_run([cover, a, b], lambda paths, route: None)
    assert table.lookup(aton("10.1.2.9")) == [a, b]
    table.remove_path(a)
    assert table.lookup(aton("10.1.2.9")) == [b]
    table.remove_path(b)
    assert table.lookup(aton("10.1.2.9")) == [cover]


def test_masking_a_run_column_agrees_with_masking_each_address():
    """Stack's bulk masking of a run's destinations: the zero-bytes shortcut for packed
    columns gives exactly dst & mask, host bits anywhere or nowhere."""
    import random
    from array import array
    from plebnet_core.state.inet import MASK4
    from plebnet_core.state.route_ctl import _masked
    rng = random.Random(5)
    for plen in (0, 8, 12, 16, 20, 24, 31, 32):
        mask = MASK4[plen]
        clean = [rng.getrandbits(32) & mask for _ in range(300)]
        for dsts in (clean, clean[:150] + [clean[150] | 1 << rng.randrange(32)] + clean[151:]):
            want = [d & mask for d in dsts]
            assert _masked(dsts, plen, mask) == want
            assert _masked(array("I", dsts), plen, mask) == want


def test_walk_pieces_sorted_a_slice_at_a_time_give_the_walk_order():
    """A table bigger than a dump's sorting slice (route.WALK_STEP): the pieces, with
    pauses (None) between slices, concatenate to exactly the radix-walk order (_sorted),
    unmade prefixes as their NextHops; a second walk reads the kept order."""
    import random
    from plebnet_core.state import route as route_mod
    from plebnet_core.state.route import Route, RouteTable
    rng = random.Random(3)
    table = RouteTable(32)
    keys = [[] for _ in range(33)]
    hops = [[] for _ in range(33)]
    seen = set()
    for _ in range(3 * route_mod.WALK_STEP):
        plen = rng.choice([8, 16, 20, 24, 24, 24, 28, 32])
        dst = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if (dst, plen) not in seen:
            seen.add((dst, plen))
            keys[plen].append(dst)
            hops[plen].append(rng.randrange(3))
    table.add_unmade(keys, hops, [(1, None, None), (2, None, None), (3, None, None)],
                     lambda plen: 1)
    for i in range(0, 3000, 7):         # some made into Routes, some Routes of their own
        table.exact(keys[24][i], 24)
        table.add_path(Route((10 << 24) | i << 8, 24, 9, None, None, 1))
    want_keys, want_paths = table._sorted()
    want = [(key, paths[0] if type(paths) is list else table._lpm.slots[paths])
            for key, paths in zip(want_keys, want_paths)]
    for _ in range(2):
        pieces = list(table.walk_pieces(1000))
        got = [(key, route) for piece in pieces if piece is not None
               for key, route in zip(*piece)]
        assert got == want
        assert all(len(piece[0]) <= 1000 for piece in pieces if piece is not None)
    assert None not in pieces       # the second walk: the order kept, nothing to sort
