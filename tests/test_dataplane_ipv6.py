"""The IPv6 data plane in-process (the Rig of test_dataplane_unit: fake clock, recording
devices): ICMPv6 echo, Neighbor Discovery's cache states and hold queue, forwarding and its
ICMPv6 errors, DAD, and the bad input that must be counted and dropped."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from plebproto.constants import AF_INET6, IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE, RTF_STATIC
from plebnet_core.dataplane import nd6
from plebnet_core.dataplane.frag6 import Reassembler6
from plebnet_core.dataplane.wire import ethernet, icmp6, ipv6
from plebnet_core.state.inet import pton6
from test_dataplane_unit import PEER2_MAC, PEER_MAC, Rig

ETH6 = ethernet.ETHERTYPE_IPV6


def a6(text: str) -> bytes:
    return pton6(text).to_bytes(16, "big")


ME, PEER, PEER2 = a6("2001:db8::1"), a6("2001:db8::2"), a6("2001:db8::3")
FAR = a6("2001:db8:9::5")
PEER_LL = ipv6.eui64_link_local(PEER_MAC)


def add6(rig, name, text, plen=64, settle=True):
    with rig.stack.transaction():
        rig.stack.in6_aifaddr(name, pton6(text), plen)
    if settle:              # DAD runs its course with nobody answering
        rig.run(1.0)
        rig.stack.tick(rig.clock.now)
        rig.run()
        rig.dev[name].take()


@pytest.fixture
def rig():
    r = Rig()
    add6(r, "vnet0", "2001:db8::1")
    return r


def frame6(rig, src, dst, msg, *, nh=58, hlim=64, dst_mac=None, src_mac=PEER_MAC,
           ifname="vnet0"):
    if dst_mac is None:
        dst_mac = ipv6.multicast_mac(dst) if dst[0] == 0xFF else rig.ifp(ifname).mac
    return ethernet.emit(dst_mac, src_mac, ETH6, ipv6.emit(src, dst, nh, msg, hop_limit=hlim))


def sent6(rig, name="vnet0"):
    """(ethernet frame, IPv6 header, ICMPv6 message or None) of what was sent."""
    out = []
    for eth in rig.sent(name):
        assert eth.ethertype == ETH6
        h = ipv6.parse(eth.payload)
        m = icmp6.parse(h.payload, h.src, h.dst) if h.next_header == 58 else None
        out.append((eth, h, m))
    return out


def teach(rig, src=PEER, mac=PEER_MAC, ifname="vnet0"):
    """The peer solicits us: we cache it (STALE) and answer."""
    me = next(a.addr for a in rig.ifp(ifname).addrs if a.af == AF_INET6
              and a.addr >> 112 != 0xFE80).to_bytes(16, "big")
    group = ipv6.solicited_node(me)
    rig.feed(ifname, frame6(rig, src, group, icmp6.neighbor_solicit(src, group, me, mac),
                            hlim=255, src_mac=mac, ifname=ifname))
    return sent6(rig, ifname)


def entry(rig, addr, ifname="vnet0"):
    return rig.ifp(ifname).llinfo6.get(int.from_bytes(addr, "big"))


def test_ns_is_answered_and_the_sender_cached_stale_then_delay(rig):
    out = teach(rig)
    assert len(out) == 1
    eth, h, m = out[0]
    nd = icmp6.nd_parse(m)
    assert (eth.dst, h.src, h.dst, h.hop_limit) == (PEER_MAC, ME, PEER, 255)
    assert (nd.type, nd.target, nd.lladdr) == (136, ME, rig.ifp().mac)
    assert nd.flags == icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE
    e = entry(rig, PEER)
    # learned STALE, and sending the NA to it started the delay (RFC 4861 7.3.3)
    assert e.mac == PEER_MAC and e.state == nd6.DELAY and e.flags == 0
    # the entry is in the state model's table: what an ndp dump (NET_RT_FLAGS) reads
    dump = {r["addr"]: r for r in map(rig.stack.ll_info,
                                      rig.stack.ll_table(AF_INET6, rig.ifp()).values())}
    assert dump["2001:db8::2"]["mac"] == "02:00:00:00:00:01"


def test_nud_delay_probe_and_reachable_again(rig):
    teach(rig)
    e = entry(rig, PEER)
    rig.run(nd6.DELAY_FIRST_PROBE)
    assert e.state == nd6.PROBE
    (eth, h, m), = sent6(rig)
    assert (eth.dst, h.dst, m.type, icmp6.nd_parse(m).target) == (PEER_MAC, PEER, 135, PEER)
    na = icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC, icmp6.NA_SOLICITED)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    assert e.state == nd6.REACHABLE and e.timer is None
    # REACHABLE lapses into STALE on the next use after the reachable time
    rig.run(rig.dp.nd6.reachable + 1)
    assert rig.dp.ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 1, 1)) == 0
    assert e.state == nd6.DELAY


def test_probe_without_answer_frees_the_entry(rig):
    teach(rig)
    rig.run(nd6.DELAY_FIRST_PROBE)
    for _ in range(nd6.MAX_UNICAST_SOLICIT):
        rig.run(nd6.RETRANS_TIMER)
    assert entry(rig, PEER) is None
    assert len(sent6(rig)) == nd6.MAX_UNICAST_SOLICIT


def test_resolution_holds_packets_and_flushes_on_na(rig):
    ip6 = rig.dp.ip6
    for seq in range(3):
        assert ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 9, seq)) == 0
    (eth, h, m), = sent6(rig)                   # one NS, to the solicited-node group
    group = ipv6.solicited_node(PEER)
    assert (eth.dst, h.dst, h.src, h.hop_limit) == (ipv6.multicast_mac(group), group, ME, 255)
    assert icmp6.nd_parse(m).lladdr == rig.ifp().mac
    e = entry(rig, PEER)
    assert e.state == nd6.INCOMPLETE and e.mac is None and len(e.hold) == 3
    na = icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC,
                               icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    out = sent6(rig)
    assert [(m.type, m.seq) for _, _, m in out] == [(128, 0), (128, 1), (128, 2)]
    assert all(eth.dst == PEER_MAC for eth, _, _ in out)
    assert e.state == nd6.REACHABLE and e.hold == []


def test_unanswered_resolution_gives_address_unreachable(rig):
    teach(rig, src=PEER2, mac=PEER2_MAC)        # a sender to tell, reachable
    fwd = rig.stack.sysctl
    fwd["net.inet6.ip6.forwarding"] = 1
    with rig.stack.transaction():
        rig.stack.in6_aifaddr("vnet0", pton6("2001:db8:1::1"), 64)
    rig.run(1.0)
    rig.stack.tick(rig.clock.now)
    rig.dev["vnet0"].take()
    # PEER2 sends through us to 2001:db8:1::9, which never answers
    target = a6("2001:db8:1::9")
    req = icmp6.echo_request(PEER2, target, 5, 1)
    rig.feed("vnet0", frame6(rig, PEER2, target, req, src_mac=PEER2_MAC))
    for _ in range(nd6.MAX_MULTICAST_SOLICIT):
        rig.run(nd6.RETRANS_TIMER)
    out = sent6(rig)
    ns = [m for _, _, m in out if m.type == 135]
    errs = [(h.dst, m.type, m.code) for _, h, m in out if m.type == 1]
    assert len(ns) == nd6.MAX_MULTICAST_SOLICIT
    assert errs == [(PEER2, icmp6.DST_UNREACH, icmp6.UNREACH_ADDR)]
    assert entry(rig, target) is None and rig.dp.nd6.counters["resolve_failed"] == 1


def test_echo_on_global_and_link_local(rig):
    teach(rig)
    req = icmp6.echo_request(PEER, ME, 0x77, 3, b"0123456789")
    rig.feed("vnet0", frame6(rig, PEER, ME, req))
    (eth, h, m), = sent6(rig)
    assert (eth.dst, h.src, h.dst, h.hop_limit, m.type, m.ident, m.seq, m.payload) == (
        PEER_MAC, ME, PEER, 64, 129, 0x77, 3, b"0123456789")
    ll = next(a.addr for a in rig.ifp().addrs if a.af == AF_INET6 and a.addr >> 112 == 0xFE80)
    ll = ll.to_bytes(16, "big")
    group = ipv6.solicited_node(ll)
    rig.feed("vnet0", frame6(rig, PEER_LL, group,
                             icmp6.neighbor_solicit(PEER_LL, group, ll, PEER_MAC), hlim=255))
    sent6(rig)
    rig.feed("vnet0", frame6(rig, PEER_LL, ll, icmp6.echo_request(PEER_LL, ll, 1, 1)))
    (eth, h, m), = sent6(rig)
    assert (h.src, h.dst, m.type) == (ll, PEER_LL, 129)
    assert rig.ifp().addrs[-1].stats[0] >= 1     # counted on the address
    # behind a destination options header: the general path answers the same
    dstopts = bytes((58, 0, 1, 4)) + bytes(4)
    rig.feed("vnet0", frame6(rig, PEER, ME, dstopts + req, nh=60))
    (eth, h, m), = sent6(rig)
    assert (h.src, h.dst, m.type, m.seq, m.payload) == (ME, PEER, 129, 3, b"0123456789")


@pytest.mark.parametrize("hlim", [64, 254])
def test_nd_with_hop_limit_below_255_is_dropped(rig, hlim):
    group = ipv6.solicited_node(ME)
    rig.feed("vnet0", frame6(rig, PEER, group, icmp6.neighbor_solicit(PEER, group, ME,
                                                                      PEER_MAC), hlim=hlim))
    assert sent6(rig) == [] and entry(rig, PEER) is None
    assert rig.dp.nd6.counters["badhlim"] == 1


def test_malformed_input_is_counted_never_raised(rig):
    ifp = rig.ifp()
    before = ifp.stats[1]
    good = frame6(rig, PEER, ME, icmp6.echo_request(PEER, ME, 1, 1))
    rig.feed("vnet0", good[:14 + 30])                      # truncated header
    bad_len = bytearray(good)
    bad_len[14 + 4:14 + 6] = (999).to_bytes(2, "big")      # payload length past the frame
    rig.feed("vnet0", bytes(bad_len))
    assert ifp.stats[1] == before + 2 and rig.dp.ip6.counters["badhdr"] == 2
    bad_sum = bytearray(good)
    bad_sum[-1] ^= 0xFF
    rig.feed("vnet0", bytes(bad_sum))
    assert rig.dp.ip6.counters["icmp6_badsum"] == 1
    # routing header type 0 with segments left: parameter problem, pointer at its type
    rh0 = bytes((58, 2, 0, 1)) + bytes(20)
    teach(rig)
    rig.feed("vnet0", frame6(rig, PEER, ME, rh0 + icmp6.echo_request(PEER, ME, 1, 1), nh=43))
    (eth, h, m), = sent6(rig)
    assert (m.type, m.code, m.rest) == (icmp6.PARAM_PROB, 0, 42)
    # a chain of destination options that never ends is dropped, silently
    loop = b"".join(bytes((60, 0)) + bytes(6) for _ in range(10))
    rig.feed("vnet0", frame6(rig, PEER, ME, loop, nh=60))
    assert sent6(rig) == [] and rig.dp.ip6.counters["badoptions"] == 2
    # an unknown upper layer: parameter problem, unknown next header
    rig.feed("vnet0", frame6(rig, PEER, ME, b"\0" * 8, nh=99))
    (eth, h, m), = sent6(rig)
    assert (m.type, m.code, m.rest) == (icmp6.PARAM_PROB, 1, 6)


@pytest.fixture
def router():
    """vnet0 2001:db8::1/64 (PEER there), vnet1 2001:db8:1::1/64, forwarding on."""
    r = Rig(nics=("vnet0", "vnet1"))
    add6(r, "vnet0", "2001:db8::1")
    add6(r, "vnet1", "2001:db8:1::1")
    r.stack.sysctl["net.inet6.ip6.forwarding"] = 1
    teach(r)
    return r


def test_forwarding_decrements_hop_limit_and_resolves_the_next_hop(router):
    far = a6("2001:db8:1::7")
    req = icmp6.echo_request(PEER, far, 1, 1)
    router.feed("vnet0", frame6(router, PEER, far, req, hlim=9))
    (eth, h, m), = sent6(router, "vnet1")       # NS for the destination
    assert m.type == 135 and icmp6.nd_parse(m).target == far
    na = icmp6.neighbor_advert(far, a6("2001:db8:1::1"), far, PEER2_MAC, 0x60)
    router.feed("vnet1", frame6(router, far, a6("2001:db8:1::1"), na, hlim=255,
                                src_mac=PEER2_MAC, ifname="vnet1"))
    (eth, h, m), = sent6(router, "vnet1")
    assert (eth.dst, h.hop_limit, h.src, h.dst, m.type) == (PEER2_MAC, 8, PEER, far, 128)
    assert router.dp.ip6.counters["forwarded"] == 1


def test_forwarding_errors(router):
    ip6 = router.dp.ip6
    # hop limit 1: time exceeded, from the address facing the sender
    router.feed("vnet0", frame6(router, PEER, a6("2001:db8:1::7"),
                                icmp6.echo_request(PEER, a6("2001:db8:1::7"), 1, 1), hlim=1))
    (eth, h, m), = sent6(router)
    assert (h.src, h.dst, m.type, m.code) == (ME, PEER, icmp6.TIME_EXCEEDED, 0)
    assert m.payload[:40] == ipv6.header(PEER, a6("2001:db8:1::7"), 58, 8, hop_limit=1)
    # no route: destination unreachable, no route
    router.feed("vnet0", frame6(router, PEER, FAR, icmp6.echo_request(PEER, FAR, 1, 1)))
    (eth, h, m), = sent6(router)
    assert (m.type, m.code) == (icmp6.DST_UNREACH, icmp6.UNREACH_NOROUTE)
    assert ip6.counters["noroute"] == 1
    # too big for the next link: packet too big with its MTU
    with router.stack.transaction():
        router.stack.if_setmtu("vnet1", 1280)
    big = icmp6.echo_request(PEER, a6("2001:db8:1::7"), 1, 1, bytes(1300))
    router.feed("vnet0", frame6(router, PEER, a6("2001:db8:1::7"), big))
    (eth, h, m), = sent6(router)
    assert (m.type, m.rest) == (icmp6.PACKET_TOO_BIG, 1280)
    # link-local destinations are never forwarded; forwarding off forwards nothing
    router.feed("vnet0", frame6(router, PEER, a6("fe80::99"),
                                icmp6.echo_request(PEER, a6("fe80::99"), 1, 1)))
    router.stack.sysctl["net.inet6.ip6.forwarding"] = 0
    router.feed("vnet0", frame6(router, PEER, a6("2001:db8:1::7"),
                                icmp6.echo_request(PEER, a6("2001:db8:1::7"), 1, 1)))
    assert sent6(router) == [] and sent6(router, "vnet1") == []
    assert ip6.counters["cantforward"] == 2


def test_forwarding_by_a_gateway_route(router):
    with router.stack.transaction():
        router.stack.rt_add(AF_INET6, pton6("2001:db8:9::"), 48, pton6("2001:db8:1::2"))
    router.feed("vnet0", frame6(router, PEER, FAR, icmp6.echo_request(PEER, FAR, 1, 1)))
    (eth, h, m), = sent6(router, "vnet1")
    assert m.type == 135 and icmp6.nd_parse(m).target == a6("2001:db8:1::2")


def test_dad_probe_and_duplicate(rig):
    with rig.stack.transaction():
        rig.stack.in6_aifaddr("vnet0", pton6("2001:db8::5"), 64)
    ifa = rig.ifp().addrs[-1]
    assert ifa.flags & IN6_IFF_TENTATIVE
    rig.run(0.3)
    out = sent6(rig)
    probe = [(h.src, h.dst, icmp6.nd_parse(m)) for _, h, m in out if m.type == 135]
    target = a6("2001:db8::5")
    assert probe == [(ipv6.UNSPECIFIED, ipv6.solicited_node(target),
                      icmp6.nd_parse(icmp6.parse(icmp6.neighbor_solicit(
                          ipv6.UNSPECIFIED, ipv6.solicited_node(target), target, None),
                          ipv6.UNSPECIFIED, ipv6.solicited_node(target))))]
    # a tentative address does not answer echo, nor NS from others
    rig.feed("vnet0", frame6(rig, PEER, target, icmp6.echo_request(PEER, target, 1, 1)))
    assert sent6(rig) == []
    # someone defends it: duplicated, never tentative again
    na = icmp6.neighbor_advert(target, ipv6.ALL_NODES, target, PEER_MAC, icmp6.NA_OVERRIDE)
    rig.feed("vnet0", frame6(rig, target, ipv6.ALL_NODES, na, hlim=255))
    assert ifa.flags & IN6_IFF_DUPLICATED and not ifa.flags & IN6_IFF_TENTATIVE
    rig.run(1.0)
    rig.stack.tick(rig.clock.now)
    assert ifa.flags & IN6_IFF_DUPLICATED


def test_dad_ns_from_another_node_doing_dad(rig):
    with rig.stack.transaction():
        rig.stack.in6_aifaddr("vnet0", pton6("2001:db8::6"), 64)
    rig.run(0.3)
    sent6(rig)
    target = a6("2001:db8::6")
    group = ipv6.solicited_node(target)
    rig.feed("vnet0", frame6(rig, ipv6.UNSPECIFIED, group,
                             icmp6.neighbor_solicit(ipv6.UNSPECIFIED, group, target, None),
                             hlim=255))
    assert rig.ifp().addrs[-1].flags & IN6_IFF_DUPLICATED


def test_we_answer_dad_for_our_address_to_all_nodes(rig):
    group = ipv6.solicited_node(ME)
    rig.feed("vnet0", frame6(rig, ipv6.UNSPECIFIED, group,
                             icmp6.neighbor_solicit(ipv6.UNSPECIFIED, group, ME, None),
                             hlim=255))
    (eth, h, m), = sent6(rig)
    nd = icmp6.nd_parse(m)
    assert (h.dst, nd.flags & icmp6.NA_SOLICITED, nd.target) == (ipv6.ALL_NODES, 0, ME)


def test_static_entries_are_never_overwritten(rig):
    with rig.stack.transaction():
        rig.stack.ll_set(AF_INET6, pton6("2001:db8::2"), PEER2_MAC, RTF_STATIC, ifname="vnet0")
    teach(rig)
    e = entry(rig, PEER)
    assert e.mac == PEER2_MAC and e.flags & RTF_STATIC
    assert rig.dp.ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 1, 1)) == 0
    (eth, h, m), = sent6(rig)
    assert eth.dst == PEER2_MAC


def test_stack_pings_itself_over_lo0(rig):
    from plebnet_core.dataplane.ping import PingSession
    events = []
    s = PingSession(rig.dp.ip, rig.loop, dst=ME, src=ME, count=1, interval=1.0, size=8, ttl=64,
                    timeout=0, waittime=1.0, push=events.append, finish=events.append,
                    ip6=rig.dp.ip6, zone=0, src_name="2001:db8::1")
    s.start()
    rig.run()
    replies = [e for e in events if e.get("ev") == "reply"]
    assert replies and replies[0]["from"] == "2001:db8::1" and replies[0]["bytes"] == 16


def test_fragmented_echo_is_reassembled_and_the_reply_fragmented(rig):
    teach(rig)
    data = bytes(range(256)) * 12
    req = icmp6.echo_request(PEER, ME, 0x55, 9, data)
    frames = [ethernet.emit(rig.ifp().mac, PEER_MAC, ETH6, p)
              for p in ipv6.fragment(PEER, ME, 58, req, 1280, 1234)]
    for f in reversed(frames):                  # in any order
        rig.feed("vnet0", f)
    out = [ipv6.parse(eth.payload) for eth in rig.sent()]
    assert len(out) == 3 and all(h.next_header == ipv6.NH_FRAGMENT for h in out)
    r = Reassembler6(lambda: 0.0)
    done = None
    for h in out:
        chain = ipv6.walk(h.next_header, h.payload)
        done = r.push(h.src, h.dst, chain.frag_ident, chain.frag_offset, chain.more_frags,
                      chain.proto, h.payload[chain.offset:], None, 48) or done
    nh, reply = done
    m = icmp6.parse(reply, ME, PEER)
    assert (nh, m.type, m.seq, m.payload) == (58, 129, 9, data)
    assert rig.dp.ip6.counters["reassembled"] == 1 and rig.dp.ip6.counters["fragmented"] == 1


def test_incomplete_datagram_times_out_with_time_exceeded(rig):
    teach(rig)
    req = icmp6.echo_request(PEER, ME, 0x55, 9, bytes(3000))
    first = ipv6.fragment(PEER, ME, 58, req, 1280, 99)[0]
    rig.feed("vnet0", ethernet.emit(rig.ifp().mac, PEER_MAC, ETH6, first))
    assert sent6(rig) == []
    rig.run(61)
    (eth, h, m), = [x for x in sent6(rig) if x[2].type < 128]    # (NUD probes aside)
    assert (h.dst, m.type, m.code) == (PEER, icmp6.TIME_EXCEEDED, icmp6.TIMXCEED_REASSEMBLY)
    assert m.payload == first[:1280 - 48]


def _seed_frames(rig):
    me_mac = rig.ifp().mac
    group = ipv6.solicited_node(ME)
    req = icmp6.echo_request(PEER, ME, 1, 1, b"abcdefgh")
    frames = [
        frame6(rig, PEER, ME, req),
        frame6(rig, PEER, group, icmp6.neighbor_solicit(PEER, group, ME, PEER_MAC), hlim=255),
        frame6(rig, PEER, ME, icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC, 0x60), hlim=255),
        frame6(rig, PEER, ME, bytes((58, 0, 1, 4)) + bytes(4) + req, nh=60),
        frame6(rig, PEER, ME, bytes((58, 2, 0, 1)) + bytes(20) + req, nh=43),
        frame6(rig, PEER, FAR, req),
        frame6(rig, PEER, ipv6.ALL_NODES, icmp6.router_advert(
            PEER_LL, ipv6.ALL_NODES, mac=PEER_MAC, mtu=1500), hlim=255),
    ]
    frames += [ethernet.emit(me_mac, PEER_MAC, ETH6, p) for p in
               ipv6.fragment(PEER, ME, 58, icmp6.echo_request(PEER, ME, 2, 2, bytes(1400)),
                             1280, 5)]
    return frames


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_frames_are_counted_or_answered_never_raised(data):
    rig = _FUZZ_RIG.get("rig")
    if rig is None:
        rig = _FUZZ_RIG["rig"] = Rig(nics=("vnet0",))
        add6(rig, "vnet0", "2001:db8::1")
        rig.stack.sysctl["net.inet6.ip6.forwarding"] = 1
        _FUZZ_RIG["frames"] = _seed_frames(rig)
    frame = bytearray(data.draw(st.sampled_from(_FUZZ_RIG["frames"])))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(14, len(frame) - 1))
        frame[pos] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(14, len(frame)))
    rig.dp.link.input(rig.ifp(), bytes(frame[:cut]))    # an exception fails the test
    rig.run(data.draw(st.sampled_from([0.0, 1.0, 61.0])))
    rig.dev["vnet0"].take()


_FUZZ_RIG: dict = {}


def test_dad_sends_dad_count_probes_a_second_apart(rig):
    rig.stack.sysctl["net.inet6.ip6.dad_count"] = 3
    with rig.stack.transaction():
        rig.stack.in6_aifaddr("vnet0", pton6("2001:db8::7"), 64)
    # pending for dad_count RetransTimers, as on FreeBSD
    (ifa, when), = rig.stack.dad_pending.items()
    assert when == rig.clock.now + 3
    probes = []
    for _ in range(8):
        rig.run(0.5)
        rig.stack.tick(rig.clock.now)
        probes += [m for _, _, m in sent6(rig) if m.type == 135]
    assert len(probes) == 3
    assert all(icmp6.nd_parse(m).target == a6("2001:db8::7") for m in probes)
    assert not rig.ifp().addrs[-1].flags & (IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED)


def test_link_local_source_never_leaves_its_link(router):
    far = a6("2001:db8:1::7")
    ll = next(a.addr for a in router.ifp().addrs if a.af == AF_INET6 and a.addr >> 112 == 0xFE80)
    ll = ll.to_bytes(16, "big")
    # (the router learns PEER_LL, to answer it)
    group = ipv6.solicited_node(ll)
    router.feed("vnet0", frame6(router, PEER_LL, group,
                                icmp6.neighbor_solicit(PEER_LL, group, ll, PEER_MAC), hlim=255))
    sent6(router)
    router.feed("vnet0", frame6(router, PEER_LL, far, icmp6.echo_request(PEER_LL, far, 1, 1)))
    (eth, h, m), = sent6(router)
    assert (h.src, h.dst, m.type, m.code) == (ll, PEER_LL, icmp6.DST_UNREACH,
                                              icmp6.UNREACH_BEYONDSCOPE)
    assert sent6(router, "vnet1") == []


@pytest.mark.parametrize("dst, frm", [("::1", "::1"), ("fe80::1%lo0", "fe80::1%lo0"),
                                      ("2001:db8::1", "2001:db8::1")])
def test_ping_op_to_our_own_addresses_over_lo0(rig, dst, frm):
    events = []
    op = rig.dp.op_ping({"af": "inet6", "dst": dst, "count": 1, "waittime": 1.0})
    op.start(events.append, events.append, events.append)
    rig.run()
    assert events[0] == {"ev": "start", "src": frm}
    assert [(e["from"], e["bytes"], e["ttl"]) for e in events if e.get("ev") == "reply"] == [
        (frm, 16, 64)]
    assert events[-1] == {"transmitted": 1, "received": 1}


def test_ping_op_refuses_what_ping6_cannot_send(rig):
    from plebproto.errors import OpError
    with pytest.raises(OpError) as info:        # no route: ping6's UDP connect fails
        rig.dp.op_ping({"af": "inet6", "dst": "2001:db8:ffff::1"})
    assert info.value.msg == "UDP connect: No route to host"
    with pytest.raises(OpError) as info:        # a source that is not ours
        rig.dp.op_ping({"af": "inet6", "dst": "2001:db8::2", "src": "2001:db8::99"})
    assert info.value.msg == "bind: Can't assign requested address"


def test_router_reads_hop_by_hop_options_and_nothing_further(router):
    far = a6("2001:db8:1::7")
    teach(router, src=far, mac=PEER2_MAC, ifname="vnet1")
    sent6(router, "vnet1")
    req = icmp6.echo_request(PEER, far, 1, 1)
    # an unknown option whose action is "discard and report": parameter problem, option
    bad_hbh = bytes((58, 0, 0xC2, 4)) + bytes(4)
    router.feed("vnet0", frame6(router, PEER, far, bad_hbh + req, nh=0))
    (eth, h, m), = sent6(router)
    assert (m.type, m.code, m.rest) == (icmp6.PARAM_PROB, 2, 42)
    assert sent6(router, "vnet1") == []
    # a routing header with segments left is the destination's business: forwarded as is
    rh = bytes((58, 2, 0, 1)) + bytes(20)
    router.feed("vnet0", frame6(router, PEER, far, rh + req, nh=43))
    (eth, h, m), = sent6(router, "vnet1")
    assert (eth.dst, h.next_header, h.hop_limit) == (PEER2_MAC, 43, 63)
