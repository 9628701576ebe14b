"""Path MTU discovery over IPv6 (RFC 8201) as FreeBSD 14 does it: a packet too big from a
narrower hop lowers the path MTU to that destination, kept in the host cache (not the routing
table), and the next large ping is fragmented to fit.  In-process (the Rig: fake clock,
recording devices) for icmp6_mtudisc_update's rules and the host cache's lifetime; three real
stacks over Ethernet-over-UDP (a -- b, whose link toward c is narrower, -- c) for the whole
story as ping6, netstat and route print it; and the Linux kernel as the narrower router
(root: namespaces, TAP), the frames read back from a capture."""
from __future__ import annotations

import re
import subprocess

import pytest

from conftest import run_tool
from plebnet_core.dataplane import hostcache
from plebnet_core.dataplane.wire import icmp6, ipv6
from plebproto.constants import AF_INET6
from test_dataplane_ipv6 import ME, PEER, PEER_LL, a6, add6, frame6, sent6, teach
from test_dataplane_unit import Rig
from plebnet_core.spawn import spawn_stack
from test_ipv6_stacks import add6 as add6_rpc, link_local, ping6, replies, settled
from netns_util import ip, namespace, require_root
from test_dataplane_kernel import in_ns, kname
from test_dataplane_stacks import need_tool

OTHER = a6("2001:db8::99")          # an address that is not ours


def rig6():
    r = Rig()
    add6(r, "vnet0", "2001:db8::1")
    teach(r)                        # PEER resolved: what we send to it goes out at once
    return r


def big_packet(src=ME, dst=PEER, size=1400):
    """What the stack would have sent: an echo request of size data bytes."""
    return ipv6.emit(src, dst, 58, icmp6.echo_request(src, dst, 7, 1, bytes(size)))


def ptb(rig, mtu, original, *, code=0, frm=a6("2001:db8::fe")):
    """A packet too big from a router on the link about original."""
    msg = icmp6.error(frm, ME, icmp6.PACKET_TOO_BIG, code, mtu, original)
    rig.feed("vnet0", frame6(rig, frm, ME, msg))


def learned(rig, dst=PEER) -> int:
    return rig.dp.ip6.hostcache.entries.get(int.from_bytes(dst, "big"), [0])[0]


def send(rig, size, dst=PEER):
    """An echo request of size data bytes from us to dst: the IPv6 packets that left."""
    ip6 = rig.dp.ip6
    rig.dev["vnet0"].take()
    assert ip6.output(ME, dst, 0, 58, icmp6.echo_request(ME, dst, 9, 2, bytes(size))) == 0
    rig.run()
    return [bytes(eth.payload) for eth, _, _ in sent6(rig)]


def test_packet_too_big_lowers_the_path_mtu_and_output_fragments_to_it():
    rig = rig6()
    ist = rig.dp.ip6.icmp6stat
    assert [len(p) for p in send(rig, 1400)] == [1448]          # the link takes it whole
    ptb(rig, 1400, big_packet())
    assert learned(rig) == 1400 and ist["icp6s_pmtuchg"] == 1
    out = send(rig, 1400)
    # ip6_fragment: the first piece carries (1400 - 40 - 8) & ~7 = 1352 bytes
    assert [len(p) for p in out] == [1400, 40 + 8 + 1408 - 1352]
    assert all(p[6] == ipv6.NH_FRAGMENT for p in out)
    assert rig.dp.ip6.ip6stat["ip6s_fragmented"] == 1
    # nothing in the routing table: FreeBSD keeps it in the TCP host cache
    assert rig.stack.rt[AF_INET6].paths_to(int.from_bytes(PEER, "big"))[0].mtu == 0
    # a smaller packet still goes whole
    assert [len(p) for p in send(rig, 1000)] == [1048]


def test_packet_too_big_rules_of_icmp6_mtudisc_update():
    rig = rig6()
    ist = rig.dp.ip6.icmp6stat
    # not below the route's MTU (tcp_maxmtu6): nothing learned
    for mtu in (1500, 9000):
        ptb(rig, mtu, big_packet())
    # abnormally small (below 40 + 8 + 8): ignored
    ptb(rig, 55, big_packet())
    # about a packet we did not send (its source is not ours): ignored
    ptb(rig, 1300, big_packet(src=OTHER))
    assert learned(rig) == 0 and ist["icp6s_pmtuchg"] == 0
    # a bad code: counted, nothing learned
    ptb(rig, 1300, big_packet(), code=1)
    assert ist["icp6s_badcode"] == 1 and learned(rig) == 0
    # too short to quote an IPv6 header
    rig.feed("vnet0", frame6(rig, PEER, ME, icmp6.emit(PEER, ME, icmp6.PACKET_TOO_BIG, 0,
                                                        1300, bytes(20))))
    assert ist["icp6s_tooshort"] == 1 and learned(rig) == 0
    # the quoted packet a first fragment: its destination still found
    first = ipv6.fragment(ME, PEER, 58, icmp6.echo_request(ME, PEER, 7, 1, bytes(3000)),
                          1500, 77)[0]
    ptb(rig, 1450, first)
    assert learned(rig) == 1450 and ist["icp6s_pmtuchg"] == 1
    # FreeBSD 14 compares with the route's MTU, not the learned one: a later packet too big
    # below the link's MTU replaces the learned MTU either way
    ptb(rig, 1420, big_packet())
    assert learned(rig) == 1420 and ist["icp6s_pmtuchg"] == 2


def test_below_1280_means_1280_with_a_fragment_header_always():
    rig = rig6()
    ptb(rig, 1000, big_packet())
    assert learned(rig) == 1272             # IPV6_MMTU - 8, remembered as such
    out = send(rig, 100)
    # ip6_calcmtu's alwaysfrag: even a small packet carries a fragment header (atomic)
    assert [len(p) for p in out] == [40 + 8 + 108]
    h = ipv6.parse(out[0])
    assert h.next_header == ipv6.NH_FRAGMENT and h.payload[2:4] == b"\0\0"
    assert [len(p) for p in send(rig, 2000)] == [1280, 40 + 8 + 2008 - 1232]


def test_echo_replies_follow_the_learned_path_mtu():
    rig = rig6()
    ptb(rig, 1300, big_packet())
    req = icmp6.echo_request(PEER, ME, 5, 5, bytes(1400))
    rig.feed("vnet0", frame6(rig, PEER, ME, req))
    out = [bytes(eth.payload) for eth, _, _ in sent6(rig)]
    assert [len(p) for p in out] == [1296, 40 + 8 + 1408 - 1248]


def prunes(rig, n):
    for _ in range(n):
        rig.run(hostcache.PRUNE)


def test_host_cache_lifetime_is_freebsds():
    """An entry lives net.inet.tcp.hostcache.expire (3600 s) from its last store or use,
    removed by the purge that runs every 300 s once its count reaches 0."""
    rig = rig6()
    ptb(rig, 1400, big_packet())
    hc = rig.dp.ip6.hostcache
    assert hc.entries and hc.list() == (
        "\nIP address        MTU  SSTRESH      RTT   RTTVAR     CWND SENDPIPE RECVPIPE EXP\n"
        "2001:db8::2      1400        0      0ms      0ms        0        0        0 3600\n")
    key = int.from_bytes(PEER, "big")
    prunes(rig, 11)
    assert hc.entries[key] == [1400, 3600 - 11 * 300]
    # used now (a packet sent to it): back to 3600, so it outlives the first deadline
    teach(rig)                          # (the neighbor entry has long expired)
    assert len(send(rig, 1400)) == 2
    prunes(rig, 12)
    assert hc.entries[key] == [1400, 0]
    prunes(rig, 1)
    assert not hc.entries               # expired: the link's MTU again
    teach(rig)
    assert [len(p) for p in send(rig, 1400)] == [1448]


def test_link_local_destinations_are_kept_per_zone():
    rig = rig6()
    peer_ll = PEER_LL
    me_ll = next(a.addr for a in rig.ifp().addrs if a.af == AF_INET6 and a.addr >> 112 == 0xFE80)
    me_ll = me_ll.to_bytes(16, "big")
    ptb(rig, 1300, big_packet(src=me_ll, dst=peer_ll), frm=PEER)
    key = int.from_bytes(peer_ll, "big") | rig.ifp().index << 96
    assert rig.dp.ip6.hostcache.entries[key][0] == 1300
    # listed without its zone, as ip6_sprintf prints a kernel address
    assert "\nfe80::ff:fe00:1  1300        0 " in rig.dp.ip6.hostcache.list()


def test_a_router_checks_the_mtu_its_forwarding_path_checks():
    """ip6_tryforward (most packets) checks the next hop's MTU, the interface's: an RA's
    smaller link MTU does not count there; a packet with hop-by-hop options takes
    ip6_forward, which checks IN6_LINKMTU and says that MTU in its packet too big."""
    rig = Rig(nics=("vnet0", "vnet1"))
    add6(rig, "vnet0", "2001:db8::1")
    add6(rig, "vnet1", "2001:db8:1::1")
    rig.stack.sysctl["net.inet6.ip6.forwarding"] = 1
    teach(rig)
    far = a6("2001:db8:1::5")
    rig.stack.nd6_ifinfo(rig.ifp("vnet1")).linkmtu = 1300
    pkt = icmp6.echo_request(PEER, far, 1, 1, bytes(1300))
    rig.feed("vnet0", frame6(rig, PEER, far, pkt))
    assert sent6(rig) == [] and rig.dp.ip6.ip6stat["ip6s_forward"] == 1     # (held)
    assert [m.type for _, _, m in sent6(rig, "vnet1")] == [icmp6.NEIGHBOR_SOLICIT]
    hbh = bytes((58, 0, 1, 4)) + bytes(4)               # PadN
    rig.feed("vnet0", frame6(rig, PEER, far, hbh + pkt, nh=0))
    (eth, h, m), = sent6(rig)
    assert (h.dst, m.type, m.code, m.rest) == (PEER, icmp6.PACKET_TOO_BIG, 0, 1300)
    assert m.payload[:40] == ipv6.header(PEER, far, 0, len(hbh + pkt))


# -- real stacks ------------------------------------------------------------------------------
def _setup(chain):
    """a (2001:db8:a::1) -- b (forwarding; its link to c has MTU 1400) -- c (2001:db8:b::3,
    MTU 1400 too, so its replies go in fragments as well)."""
    a, b, c = chain
    with a.client() as ca, b.client() as cb, c.client() as cc:
        add6_rpc(ca, "vnet0", "2001:db8:a::1")
        add6_rpc(cb, "vnet0", "2001:db8:a::2")
        add6_rpc(cb, "vnet1", "2001:db8:b::2")
        add6_rpc(cc, "vnet0", "2001:db8:b::3")
        for client, ifname in ((ca, "vnet0"), (cb, "vnet0"), (cb, "vnet1"), (cc, "vnet0")):
            settled(client, ifname)
        ca.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:b::", plen=64, gateway="2001:db8:a::2")
        cc.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:a::", plen=64, gateway="2001:db8:b::2")
        cb.sysctl("net.inet6.ip6.forwarding", value=1)
    for stack, ifname in ((b, "vnet1"), (c, "vnet0")):
        res = run_tool(stack, "ifconfig", ifname, "mtu", "1400")
        assert res.returncode == 0, res.stderr
    with a.client() as ca:          # neighbors resolved on the way
        assert len(replies(ping6(ca, "2001:db8:b::3"))) == 1


def _routes_of_a(ll: str) -> str:
    addr = ll.split("%")[0]
    return (
        "Routing tables\n\nInternet6:\n"
        "Destination                       Gateway                       Flags     Netif Expire\n"
        "::1                               link#2                        UHS         lo0\n"
        "2001:db8:a::/64                   link#1                        U         vnet0\n"
        "2001:db8:a::1                     link#2                        UHS         lo0\n"
        "2001:db8:b::/64                   2001:db8:a::2                 UGS       vnet0\n"
        "fe80::%vnet0/64                   link#1                        U         vnet0\n"
        # 14's netlink netstat: the dump carries no gateway and lo0 as the output interface,
        # which route_netlink.c prints as link#2 and as the zone of the link-local address
        + "%-33s link#2                        UHS         lo0\n" % f"{addr}%lo0" +
        "fe80::%lo0/64                     link#2                        U           lo0\n"
        "fe80::1%lo0                       link#2                        UHS         lo0\n")


ROUTE_GET = """\
   route to: 2001:db8:b::3
destination: 2001:db8:b::
       mask: ffff:ffff:ffff:ffff::
    gateway: 2001:db8:a::2
        fib: 0
  interface: vnet0
      flags: <UP,GATEWAY,DONE,STATIC>
 recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire
       0         0         0         0      1500         1         0 \n"""


def _timeless(text: str) -> str:
    text = re.sub(r"time=\d+\.\d{3} ms", "time=T ms", text)
    return re.sub(r"std-dev = [\d./]+ ms", "std-dev = T ms", text)


def test_packet_too_big_from_a_narrower_hop_then_the_next_ping_fits(chain):
    a, b, c = chain
    _setup(chain)
    with a.client() as ca:
        ll = link_local(ca, "vnet0")
    routes = run_tool(a, "netstat", "-rn", "-f", "inet6").stdout
    assert routes == _routes_of_a(ll)
    # -u: unicast follows the path MTU (ping6 otherwise sends at 1280); -v: the error shows
    res = run_tool(a, "ping6", "-u", "-v", "-c", "2", "-s", "1400", "2001:db8:b::3")
    assert res.returncode == 0, res.stderr
    assert _timeless(res.stdout) == """\
PING6(1448=40+8+1400 bytes) 2001:db8:a::1 --> 2001:db8:b::3
new path MTU (1400) is notified
1240 bytes from 2001:db8:a::2: Packet too big mtu = 1400
Vr TC  Flow Plen Nxt Hlim
 6 00 00000 0580  3a   40
2001:db8:a::1->2001:db8:b::3
ICMP6: type = 128, code = 0

1408 bytes from 2001:db8:b::3, icmp_seq=1 hlim=63 dst=2001:db8:a::1%1 time=T ms

--- 2001:db8:b::3 ping6 statistics ---
2 packets transmitted, 1 packets received, 50.0% packet loss
round-trip min/avg/max/std-dev = T ms
"""
    # b said packet too big, with its narrower link's MTU, and forwarded the fragments
    stats_b = run_tool(b, "netstat", "-s", "-p", "icmp6").stdout
    assert "\tOutput histogram:\n\t\tpacket too big: 1\n" in stats_b, stats_b
    assert "\t\t1 packet too big\n" in stats_b
    # a: the second request left in two fragments, the reply came in two, one path MTU
    # change; where FreeBSD keeps it, and nothing in the routing table or route get
    ip6 = run_tool(a, "netstat", "-s", "-p", "ip6").stdout
    assert "\t1 output datagram fragmented\n\t2 fragments created\n" in ip6, ip6
    assert "\t2 fragments received\n" in ip6 and "\t1 packet reassembled ok\n" in ip6
    assert "\t1 path MTU change\n" in run_tool(a, "netstat", "-s", "-p", "icmp6").stdout
    with a.client() as ca:
        assert ca.sysctl("net.inet.tcp.hostcache.list") == (
            "\nIP address        MTU  SSTRESH      RTT   RTTVAR     CWND SENDPIPE RECVPIPE "
            "EXP\n2001:db8:b::3    1400        0      0ms      0ms        0        0        0 "
            "3600\n")
        assert ca.sysctl("net.inet.tcp.hostcache.count") == 1
    assert run_tool(a, "netstat", "-rn", "-f", "inet6").stdout == routes
    assert run_tool(a, "route", "-6", "get", "2001:db8:b::3").stdout == ROUTE_GET
    # without -u ping6 sends at the minimum MTU: fragments of 1280, answered
    res = run_tool(a, "ping6", "-c", "1", "-s", "1400", "2001:db8:b::3")
    assert res.returncode == 0 and "1408 bytes from 2001:db8:b::3, icmp_seq=0" in res.stdout
    ip6 = run_tool(a, "netstat", "-s", "-p", "ip6").stdout
    assert "\t2 output datagrams fragmented\n\t4 fragments created\n" in ip6, ip6


def test_ping6_v_prints_where_each_reply_came_to(chain):
    """pr_pack -v: " dst=" and the IPV6_PKTINFO address, getnameinfo() giving it the
    arrival interface as its zone: a name for a link-local address, else the index."""
    a, b, c = chain
    _setup(chain)
    with a.client() as ca, b.client() as cb:
        ll_a, ll_b = link_local(ca, "vnet0"), link_local(cb, "vnet0")
    res = run_tool(a, "ping6", "-v", "-c", "1", "2001:db8:b::3")
    assert _timeless(res.stdout).splitlines()[1] == \
        "16 bytes from 2001:db8:b::3, icmp_seq=0 hlim=63 dst=2001:db8:a::1%1 time=T ms"
    res = run_tool(a, "ping6", "-v", "-c", "1", ll_b)
    assert _timeless(res.stdout).splitlines()[1] == \
        f"16 bytes from {ll_b}, icmp_seq=0 hlim=64 dst={ll_a} time=T ms"


def test_ping6_reports_a_smaller_path_mtu_only_with_one_u(chain):
    a, b, c = chain
    _setup(chain)
    # twice -u: no IPV6_RECVPATHMTU, so no notification line, the error still printed
    res = run_tool(a, "ping6", "-uu", "-v", "-c", "1", "-W", "500", "-s", "1400",
                   "2001:db8:b::3")
    lines = res.stdout.splitlines()
    assert res.returncode == 2 and lines[1] == \
        "1240 bytes from 2001:db8:a::2: Packet too big mtu = 1400", lines
    # without -v nothing but the heading and the summary: the reply to the second fits
    res = run_tool(a, "ping6", "-u", "-c", "1", "-s", "1400", "2001:db8:b::3")
    assert res.returncode == 0
    assert res.stdout.splitlines()[1].startswith("1408 bytes from 2001:db8:b::3, icmp_seq=0")


@pytest.mark.root
def test_linux_router_with_a_narrower_link_says_packet_too_big(sockdir, tmp_path):
    """stack 2001:db8:243::2 --TAP-- [Linux router r] --veth, MTU 1400-- [Linux c,
    2001:db8:244::2]: the kernel's packet too big lowers the stack's path MTU to c."""
    require_root()
    need_tool("tcpdump")
    with namespace("pmr") as r, namespace("pmc") as c:
        k = kname("m")
        ip("-n", r, "link", "add", "pmv0", "mtu", "1400", "type", "veth", "peer", "name",
           "pmv1", "mtu", "1400", "netns", c)
        ip("-n", r, "addr", "add", "2001:db8:244::1/64", "dev", "pmv0", "nodad")
        ip("-n", c, "addr", "add", "2001:db8:244::2/64", "dev", "pmv1", "nodad")
        for ns, dev in ((r, "pmv0"), (c, "pmv1")):
            ip("-n", ns, "link", "set", dev, "up")
        ip("-n", c, "-6", "route", "add", "default", "via", "2001:db8:244::1")
        in_ns(r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        cap = tmp_path / "vnet0.pcap"
        with spawn_stack(["--nic", f"vnet0=tap:{k},netns={r}", "--pcap", f"vnet0={cap}"],
                         sockdir=sockdir) as s:
            ip("-n", r, "addr", "add", "2001:db8:243::1/64", "dev", k, "nodad")
            with s.client() as client:
                add6_rpc(client, "vnet0", "2001:db8:243::2")
                settled(client, "vnet0")
                client.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:244::", plen=64,
                             gateway="2001:db8:243::1")
                assert len(replies(ping6(client, "2001:db8:244::2", count=1))) == 1
            res = run_tool(s, "ping6", "-u", "-v", "-c", "2", "-s", "1400",
                           "2001:db8:244::2")
            assert res.returncode == 0, res.stdout + res.stderr
            lines = _timeless(res.stdout).splitlines()
            assert lines[1:8] == [
                "new path MTU (1400) is notified",
                "1240 bytes from 2001:db8:243::1: Packet too big mtu = 1400",
                "Vr TC  Flow Plen Nxt Hlim",
                " 6 00 00000 0580  3a   40",
                "2001:db8:243::2->2001:db8:244::2",
                "ICMP6: type = 128, code = 0",
                ""], res.stdout
            assert lines[8] == ("1408 bytes from 2001:db8:244::2, icmp_seq=1 hlim=63 "
                                "dst=2001:db8:243::2%1 time=T ms")
            with s.client() as client:
                assert client.sysctl("net.inet.tcp.hostcache.list").splitlines()[2] == \
                    "2001:db8:244::2  1400        0      0ms      0ms        0        0" \
                    "        0 3600"
        # on the wire: the first request whole (1448 bytes), the second in two fragments
        # that fit 1400, the kernel's reply in fragments too
        out = subprocess.run(["tcpdump", "-nn", "-v", "-r", str(cap)], capture_output=True,
                             text=True)
        text = out.stdout
        mine = "2001:db8:243::2 > 2001:db8:244::2: "
        assert re.search(r"payload length: 1408\) " + mine + r"\[icmp6 sum ok\] ICMP6, "
                         r"echo request, id \d+, seq 0", text), text
        assert re.search(r"2001:db8:243::1 > 2001:db8:243::2: \[icmp6 sum ok\] ICMP6, packet "
                         r"too big, mtu 1400", text), text
        assert re.search(r"payload length: 1360\) " + mine + r"frag \(0x[0-9a-f]+:0\|1352\) "
                         r"ICMP6, echo request, id \d+, seq 1", text), text
        assert re.search(r"payload length: 64\) " + mine + r"frag \(0x[0-9a-f]+:1352\|56\)",
                         text), text
        assert "bad icmp6 cksum" not in text and "[|" not in text
