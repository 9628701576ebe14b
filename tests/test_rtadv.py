"""Router and prefix discovery in-process (the Rig of test_dataplane_unit: fake clock,
recording devices): Router Advertisements make the default router list, the prefix list,
SLAAC addresses and the link MTU with FreeBSD's nd6_rtr.c rules, their lifetimes expire by
the stack's timers, malformed RAs/RSs are counted and change nothing, an interface that
accepts RAs solicits as rtsol does, a stack advertises as rtadvd does, and DAD waits for an
interface to be up."""
from __future__ import annotations

import ipaddress

import pytest

from plebproto.constants import (
    AF_INET6, IFF_UP, IN6_IFF_AUTOCONF, IN6_IFF_DEPRECATED, IN6_IFF_TENTATIVE,
    ND6_IFF_ACCEPT_RTADV, ND6_IFF_IFDISABLED, ND6_IFF_NO_RADR,
)
from plebnet_core.dataplane.wire import icmp6, ipv6
from plebnet_core.state.inet import embed_scope, pton6
from test_dataplane_ipv6 import PEER_LL, a6, add6, frame6, sent6
from test_dataplane_unit import PEER_MAC, Rig

PREFIX = a6("2001:db8:77::")


def _settle(rig, seconds=1.2):
    for _ in range(round(seconds / 0.2)):
        rig.run(0.2)
        rig.stack.tick(rig.clock.now)


@pytest.fixture
def host():
    """vnet0 accepts RAs, IPv6 on (its link-local past DAD)."""
    r = Rig()
    with r.stack.transaction():
        r.stack.if_setnd6("vnet0", ND6_IFF_ACCEPT_RTADV, ND6_IFF_IFDISABLED)
        r.stack.if_setflags("vnet0", IFF_UP)
    _settle(r)
    r.dev["vnet0"].take()
    return r


def ra(lifetime=300, prefixes=(icmp6.PrefixInfo(64, True, True, 3600, 1800, PREFIX),),
       mtu=1400, mac=PEER_MAC, src=PEER_LL, hlim=255, flags=0, reachable=0, retrans=0,
       curhlim=64):
    msg = icmp6.router_advert(src, ipv6.ALL_NODES, hop_limit=curhlim, lifetime=lifetime,
                              mac=mac, prefixes=prefixes, mtu=mtu, flags=flags,
                              reachable=reachable, retrans=retrans)
    return msg, hlim, src


def feed_ra(rig, msg, hlim, src):
    rig.feed("vnet0", frame6(rig, src, ipv6.ALL_NODES, msg, hlim=hlim))


def iid(rig):
    ll = next(a.addr for a in rig.ifp().addrs if a.af == AF_INET6 and a.addr >> 112 == 0xFE80)
    return ll & ((1 << 64) - 1)


def slaac(rig):
    return [a for a in rig.ifp().addrs if a.af == AF_INET6 and a.flags & IN6_IFF_AUTOCONF]


def snapshot(rig):
    """What an RA may change: routers, prefixes, addresses, ND info, the neighbor cache."""
    s = rig.stack
    info = s.nd6_ifinfo(rig.ifp())
    return (s.nd6_drlist(), s.nd6_prlist(),
            [(a.addr, a.plen, a.flags) for a in rig.ifp().addrs],
            (info.linkmtu, info.basereachable, info.retrans, info.chlim),
            sorted(rig.ifp().llinfo6), s.rt[AF_INET6].exact(0, 0))


def test_ra_makes_router_prefix_address_route_and_mtu(host):
    feed_ra(host, *ra(reachable=20000, retrans=2000, curhlim=32))
    s = host.stack
    peer = f"{ipaddress.IPv6Address(PEER_LL)}%vnet0"
    routers = s.nd6_drlist()
    assert routers == [{"addr": peer, "ifname": "vnet0", "flags": 0, "expire": 300}]
    # the prefix, advertised by the router, its address made from the link-local's IID
    pr = s.nd6_prlist()[0]
    assert (pr["prefix"], pr["plen"], pr["onlink"], pr["autonomous"], pr["vltime"],
            pr["pltime"], pr["expire"], pr["refcnt"]) == (
        "2001:db8:77::", 64, True, True, 3600, 1800, 3600, 1)
    (ifa,) = slaac(host)
    assert ifa.addr == pton6("2001:db8:77::") | iid(host)
    assert ifa.flags & IN6_IFF_TENTATIVE            # DAD first, as for any address
    assert (ifa.pltime, ifa.vltime) == (1800, 3600)
    # the default route through the router's link-local address
    (route,) = s.rt[AF_INET6].exact(0, 0)
    assert route.gateway == embed_scope(int.from_bytes(PEER_LL, "big"), host.ifp().index)
    # MTU, reachable time, retransmission timer, hop limit
    info = s.nd6_ifinfo(host.ifp())
    assert (info.linkmtu, info.basereachable, info.retrans, info.chlim) == (
        1400, 20000, 2000, 32)
    assert 9 <= info.reachable <= 29       # ND_COMPUTE_RTIME(20000): 9728..29184 ms
    assert s.in6_linkmtu(host.ifp()) == 1400
    # the router is in the neighbor cache, flagged a router
    entry = host.ifp().llinfo6[int.from_bytes(PEER_LL, "big")]
    assert entry.mac == PEER_MAC and entry.router


def test_lifetimes_expire_through_the_timers(host):
    feed_ra(host, *ra())
    s = host.stack
    _settle(host)
    (ifa,) = slaac(host)
    assert not ifa.flags & IN6_IFF_TENTATIVE
    host.clock.now += 300
    s.tick(host.clock.now)
    assert s.nd6_drlist() == [] and not s.rt[AF_INET6].exact(0, 0)    # router gone
    assert slaac(host) == [ifa] and not ifa.flags & IN6_IFF_DEPRECATED
    host.clock.now += 1500
    s.tick(host.clock.now)
    assert ifa.flags & IN6_IFF_DEPRECATED          # preferred lifetime over
    host.clock.now += 1800
    s.tick(host.clock.now)
    assert slaac(host) == []                        # valid lifetime over: the address goes
    assert [p["prefix"] for p in s.nd6_prlist()] == ["fe80::%vnet0", "fe80::%lo0"]
    assert not s.rt[AF_INET6].exact(pton6("2001:db8:77::"), 64)


def test_router_lifetime_zero_withdraws_the_router(host):
    feed_ra(host, *ra())
    assert host.stack.nd6_drlist()
    feed_ra(host, *ra(lifetime=0))
    assert host.stack.nd6_drlist() == [] and not host.stack.rt[AF_INET6].exact(0, 0)


def test_two_hour_rule_keeps_the_valid_lifetime(host):
    big = icmp6.PrefixInfo(64, True, True, 100000, 50000, PREFIX)
    feed_ra(host, *ra(prefixes=(big,)))
    (ifa,) = slaac(host)
    short = icmp6.PrefixInfo(64, True, True, 60, 30, PREFIX)
    feed_ra(host, *ra(prefixes=(short,)))
    # RFC 4862 5.5.3(e): a valid lifetime under two hours is not taken as is
    assert (ifa.vltime, ifa.pltime) == (7200, 30)


def test_ra_ignored_unless_the_interface_accepts_them(host):
    with host.stack.transaction():
        host.stack.if_setnd6("vnet0", 0, ND6_IFF_ACCEPT_RTADV)
    before = snapshot(host)
    feed_ra(host, *ra(mac=None))
    assert snapshot(host) == before
    assert host.dp.rtadv.counters["ra_ignored"] == 1


def _zero_length_option(msg):
    # a prefix option whose length byte is 0 (RFC 4861 4.6: the message is discarded)
    body = bytearray(msg)
    at = 16
    while body[at] != icmp6.OPT_PREFIX_INFO:
        at += body[at + 1] * 8
    body[at + 1] = 0
    return bytes(body)


@pytest.mark.parametrize("case", ["hop limit 254", "hop limit 1", "global source",
                                  "zero-length option", "truncated option", "code 1",
                                  "short"])
def test_malformed_ras_are_counted_and_change_nothing(host, case):
    msg, hlim, src = ra()
    if case.startswith("hop limit"):
        hlim = int(case.split()[-1])
    elif case == "global source":
        src = a6("2001:db8::99")
        msg = ra(src=src)[0]
    elif case in ("zero-length option", "truncated option", "code 1", "short"):
        parsed = icmp6.parse(msg, src, ipv6.ALL_NODES)
        body = bytes(parsed.payload)
        code, rest = parsed.code, parsed.rest
        if case == "zero-length option":
            body = _zero_length_option(msg)[8:]
        elif case == "truncated option":
            body = body[:-3]
        elif case == "code 1":
            code = 1
        else:
            body = body[:4]
        msg = icmp6.emit(src, ipv6.ALL_NODES, icmp6.ROUTER_ADVERT, code, rest, body)
    before = snapshot(host)
    nd, rt = host.dp.nd6.counters, host.dp.rtadv.counters
    counted = nd["badhlim"] + nd["badmsg"] + rt["ra_bad"]
    feed_ra(host, msg, hlim, src)
    assert snapshot(host) == before
    assert nd["badhlim"] + nd["badmsg"] + rt["ra_bad"] == counted + 1


@pytest.mark.parametrize("case", ["hop limit 64", "unspecified source with lladdr",
                                  "zero-length option"])
def test_malformed_rs_and_ns_change_nothing(host, case):
    with host.stack.transaction():
        host.stack.sysctl_set("net.inet6.rtadvd.interfaces", "vnet0")
        host.stack.in6_aifaddr("vnet0", pton6("2001:db8:5::1"), 64)
    _settle(host)
    host.dev["vnet0"].take()
    src, hlim = PEER_LL, 255
    msg = icmp6.router_solicit(src, ipv6.ALL_ROUTERS, PEER_MAC)
    if case == "hop limit 64":
        hlim = 64
    elif case.startswith("unspecified"):
        src = ipv6.UNSPECIFIED
        msg = icmp6.router_solicit(src, ipv6.ALL_ROUTERS, PEER_MAC)
    else:
        body = bytearray(msg)
        body[9] = 0
        msg = icmp6.emit(src, ipv6.ALL_ROUTERS, icmp6.ROUTER_SOLICIT, 0, 0, bytes(body[8:]))
    before = snapshot(host)
    host.feed("vnet0", frame6(host, src, ipv6.ALL_ROUTERS, msg, hlim=hlim))
    assert snapshot(host) == before
    assert sent6(host) == []                        # no RA answers it
    # the same holds for a NS with a zero-length option: dropped, nothing learned
    me = a6("2001:db8:5::1")
    group = ipv6.solicited_node(me)
    ns = bytearray(icmp6.neighbor_solicit(PEER_LL, group, me, PEER_MAC))
    ns[25] = 0
    ns = icmp6.emit(PEER_LL, group, icmp6.NEIGHBOR_SOLICIT, 0, 0, bytes(ns[8:]))
    host.feed("vnet0", frame6(host, PEER_LL, group, ns, hlim=255))
    assert snapshot(host) == before and sent6(host) == []
    # and a NA with one (or with hop limit 64) for a neighbor being resolved: it stays
    # INCOMPLETE
    peer = a6("2001:db8:5::2")
    assert host.dp.ip6.output(me, peer, 0, 58, icmp6.echo_request(me, peer, 1, 1)) == 0
    sent6(host)
    before = snapshot(host)
    na = bytearray(icmp6.neighbor_advert(peer, me, peer, PEER_MAC,
                                         icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE))
    na[25] = 0
    na = icmp6.emit(peer, me, icmp6.NEIGHBOR_ADVERT, 0, int.from_bytes(na[4:8], "big"),
                    bytes(na[8:]))
    host.feed("vnet0", frame6(host, peer, me, na, hlim=255))
    good = icmp6.neighbor_advert(peer, me, peer, PEER_MAC,
                                 icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE)
    host.feed("vnet0", frame6(host, peer, me, good, hlim=64))
    assert snapshot(host) == before and sent6(host) == []
    assert host.ifp().llinfo6[int.from_bytes(peer, "big")].mac is None


def test_accepting_interface_solicits_three_times_four_seconds_apart():
    r = Rig()
    with r.stack.transaction():
        r.stack.if_setnd6("vnet0", ND6_IFF_ACCEPT_RTADV, ND6_IFF_IFDISABLED)
        r.stack.if_setflags("vnet0", IFF_UP)
    times = []
    for _ in range(100):                # 20 s
        r.run(0.2)
        r.stack.tick(r.clock.now)
        for _, h, m in sent6(r):
            if m.type == icmp6.ROUTER_SOLICIT:
                nd = icmp6.nd_parse(m)
                assert (h.dst, h.hop_limit, nd.lladdr) == (ipv6.ALL_ROUTERS, 255,
                                                           r.ifp().mac)
                assert h.src[:2] == b"\xfe\x80"     # from the link-local, once past DAD
                times.append(r.clock.now)
    assert len(times) == 3
    assert [round(b - a, 1) for a, b in zip(times, times[1:])] == [4.0, 4.0]


def test_solicitation_stops_when_a_router_answers():
    r = Rig()
    with r.stack.transaction():
        r.stack.if_setnd6("vnet0", ND6_IFF_ACCEPT_RTADV, ND6_IFF_IFDISABLED)
        r.stack.if_setflags("vnet0", IFF_UP)
    _settle(r, 1.6)
    assert [m.type for _, _, m in sent6(r)].count(icmp6.ROUTER_SOLICIT) == 1
    feed_ra(r, *ra())
    _settle(r, 10)
    assert [m.type for _, _, m in sent6(r)].count(icmp6.ROUTER_SOLICIT) == 0


def test_rtadvd_advertises_own_prefixes_and_answers_solicitations():
    r = Rig()
    add6(r, "vnet0", "2001:db8:88::1")
    add6(r, "vnet0", "2001:db8:88::2")      # same prefix: advertised once
    add6(r, "vnet0", "2001:db8:99::1", plen=48)
    _settle(r)
    r.dev["vnet0"].take()
    with r.stack.transaction():
        r.stack.sysctl_set("net.inet6.ip6.forwarding", 1)
        r.stack.sysctl_set("net.inet6.rtadvd.interfaces", "vnet0")
    _settle(r, 0.4)
    ((eth, h, m),) = sent6(r)
    nd = icmp6.nd_parse(m)
    assert (h.dst, h.hop_limit, h.src[:2], eth.dst) == (
        ipv6.ALL_NODES, 255, b"\xfe\x80", ipv6.multicast_mac(ipv6.ALL_NODES))
    assert nd.router == (64, 1800, 0, 0) and nd.lladdr == r.ifp().mac and nd.mtu is None
    assert nd.prefixes == (
        icmp6.PrefixInfo(64, True, True, 2592000, 604800, a6("2001:db8:88::")),
        icmp6.PrefixInfo(48, True, True, 2592000, 604800, a6("2001:db8:99::")))
    # periodic, about every 10 s
    _settle(r, 9.6)
    assert sent6(r) == []
    _settle(r, 0.6)
    assert [m.type for _, _, m in sent6(r)] == [icmp6.ROUTER_ADVERT]
    # an RS is answered at once when the last RA is 3 s old, and the sender cached
    _settle(r, 3.2)
    rs = icmp6.router_solicit(PEER_LL, ipv6.ALL_ROUTERS, PEER_MAC)
    r.feed("vnet0", frame6(r, PEER_LL, ipv6.ALL_ROUTERS, rs, hlim=255))
    assert [m.type for _, _, m in sent6(r)] == [icmp6.ROUTER_ADVERT]
    assert r.ifp().llinfo6[int.from_bytes(PEER_LL, "big")].mac == PEER_MAC
    # a host (no forwarding) advertises its prefixes with router lifetime 0
    with r.stack.transaction():
        r.stack.sysctl_set("net.inet6.ip6.forwarding", 0)
    _settle(r, 10.2)
    assert [icmp6.nd_parse(m).router[1] for _, _, m in sent6(r)] == [0]
    # leaving: one last RA, router lifetime 0, then silence
    with r.stack.transaction():
        r.stack.sysctl_set("net.inet6.ip6.forwarding", 1)
        r.stack.sysctl_set("net.inet6.rtadvd.interfaces", "")
    _settle(r, 0.4)
    assert [icmp6.nd_parse(m).router[1] for _, _, m in sent6(r)] == [0]
    _settle(r, 30)
    assert sent6(r) == []


def test_dad_waits_for_the_interface_to_come_up():
    r = Rig()
    add6(r, "vnet0", "2001:db8::1")
    with r.stack.transaction():
        r.stack.in6_aifaddr("vnet0", pton6("2001:db8::5"), 64)
        r.stack.if_setflags("vnet0", 0, IFF_UP)
    ifa = r.ifp().addrs[-1]
    _settle(r, 5)
    # down: no probe goes out and the address stays tentative however long it waits
    assert ifa.flags & IN6_IFF_TENTATIVE
    assert not [m for _, _, m in sent6(r) if m is not None and m.type == 135
                and icmp6.nd_parse(m).target == a6("2001:db8::5")]
    with r.stack.transaction():
        r.stack.if_setflags("vnet0", IFF_UP)
    _settle(r, 1.6)
    probes = [m for _, _, m in sent6(r) if m is not None and m.type == 135
              and icmp6.nd_parse(m).target == a6("2001:db8::5")]
    assert len(probes) == 1 and not ifa.flags & IN6_IFF_TENTATIVE


@pytest.mark.parametrize("how", ["no_radr", "forwarding"])
def test_no_default_router_from_ras_with_no_radr_or_forwarding(host, how):
    with host.stack.transaction():
        if how == "no_radr":
            host.stack.if_setnd6("vnet0", ND6_IFF_NO_RADR, 0)
        else:
            host.stack.sysctl_set("net.inet6.ip6.forwarding", 1)
    feed_ra(host, *ra())
    # nd6_ra_input counts the router lifetime as 0; the prefix is still taken
    assert host.stack.nd6_drlist() == [] and not host.stack.rt[AF_INET6].exact(0, 0)
    assert host.stack.nd6_prlist()[0]["prefix"] == "2001:db8:77::" and slaac(host)


def test_flushes_of_ndp_R_P_H(host):
    feed_ra(host, *ra())
    s = host.stack
    # -H (SIOCSNDFLUSH_IN6): the default route is made again through the list
    (route,) = s.rt[AF_INET6].exact(0, 0)
    with s.transaction():
        s.nd6_harmonize()
    (again,) = s.rt[AF_INET6].exact(0, 0)
    assert again.gateway == route.gateway and again is not route
    # -R (SIOCSRTRFLUSH_IN6): routers and the default route go; prefixes stay
    with s.transaction():
        s.nd6_rtr_flush()
    assert s.nd6_drlist() == [] and not s.rt[AF_INET6].exact(0, 0)
    assert s.nd6_prlist()[0]["prefix"] == "2001:db8:77::"
    assert s.nd6_prlist()[0]["advrtrs"] == []
    # -P (SIOCSPFXFLUSH_IN6): RA prefixes go with their autoconfigured addresses
    with s.transaction():
        s.nd6_pfx_flush()
    assert slaac(host) == []
    assert [p["prefix"] for p in s.nd6_prlist()] == ["fe80::%vnet0", "fe80::%lo0"]


def test_default_route_comes_back_with_the_interface(host):
    feed_ra(host, *ra())
    s = host.stack
    with s.transaction():
        s.if_setflags("vnet0", 0, IFF_UP)
    s.tick(host.clock.now)
    assert not s.rt[AF_INET6].exact(0, 0) and s.nd6_drlist()
    with s.transaction():
        s.if_setflags("vnet0", IFF_UP)
    s.tick(host.clock.now)
    (route,) = s.rt[AF_INET6].exact(0, 0)
    assert route.gateway == embed_scope(int.from_bytes(PEER_LL, "big"), host.ifp().index)


def test_autoconf_lifetimes_count_down_for_ifconfig_L(host):
    feed_ra(host, *ra())
    (ifa,) = slaac(host)
    host.clock.now += 100
    assert host.stack.in6_lifetimes(ifa) == {"pltime": 1700, "vltime": 3500}
    (row,) = [a for a in host.sys.if_info(host.ifp())["addrs"]
              if a["addr"].startswith("2001:db8:77:")]
    assert (row["pltime"], row["vltime"], row["flags"] & IN6_IFF_AUTOCONF) == (
        1700, 3500, IN6_IFF_AUTOCONF)
