"""netstat -s for IPv6 (-p ip6, -p icmp6, -6, -z, -ss): whole outputs compared with what
FreeBSD 14's usr.bin/netstat/inet6.c (ip6_stats, icmp6_stats) prints, and the counters moved
by real traffic: two stacks linked by Ethernet over UDP (VXLAN framing on 127.0.0.1) ping
each other over IPv6, Neighbor Discovery first."""
from __future__ import annotations

import json

import pytest

from plebconf.cli import netstat_proto
from plebnet_core.dataplane import stats
from plebnet_core.dataplane.wire import ethernet, icmp6, ipv6
from plebnet_core.spawn import spawn_stack
from test_dataplane_ipv6 import ETH6, ME, PEER, add6 as add6_rig, frame6, sent6, teach
from test_dataplane_stacks import free_udp_ports, vx
from test_dataplane_unit import PEER_MAC, Rig
from test_ipv6_stacks import add6, ping6, replies, settled
from tests.tooltest import ok, tool

# ip6_stats: p()/p1a() lines print "if (ip6stat.f || sflag <= 1)"; the input histogram only
# non-zero next headers; "Mbuf statistics" and its three counts always; the source address
# selection lists only non-zero scopes (none here)
IP6_ZERO = """\
ip6:
\t0 total packets received
\t0 with size smaller than minimum
\t0 with data size < data length
\t0 with bad options
\t0 with incorrect version number
\t0 fragments received
\t0 fragments dropped (dup or out of space)
\t0 fragments dropped after timeout
\t0 fragments that exceeded limit
\t0 packets reassembled ok
\t0 packets for this host
\t0 packets forwarded
\t0 packets not forwardable
\t0 redirects sent
\t0 packets sent from this host
\t0 packets sent with fabricated ip header
\t0 output packets dropped due to no bufs, etc.
\t0 output packets discarded due to no route
\t0 output datagrams fragmented
\t0 fragments created
\t0 datagrams that can't be fragmented
\t0 packets that violated scope rules
\t0 multicast packets which we don't join
\tMbuf statistics:
\t\t0 one mbuf
\t\t0 one ext mbuf
\t\t0 two or more ext mbuf
\t0 packets whose headers are not contiguous
\t0 tunneling packets that can't find gif
\t0 packets discarded because of too many headers
\t0 failures of source address selection
"""
# icmp6_stats: the error-message histogram's title always, its p_5 lines (no plural) under
# the same -ss rule
ICMP6_HEAD_ZERO = """\
icmp6:
\t0 calls to icmp6_error
\t0 errors not generated in response to an icmp6 message
\t0 errors not generated because of rate limitation
"""
ICMP6_MIDDLE_ZERO = """\
\t0 messages with bad code fields
\t0 messages < minimum length
\t0 bad checksums
\t0 messages with bad length
"""
ICMP6_TAIL_ZERO = """\
\tHistogram of error messages to be generated:
\t\t0 no route
\t\t0 administratively prohibited
\t\t0 beyond scope
\t\t0 address unreachable
\t\t0 port unreachable
\t\t0 packet too big
\t\t0 time exceed transit
\t\t0 time exceed reassembly
\t\t0 erroneous header field
\t\t0 unrecognized next header
\t\t0 unrecognized option
\t\t0 redirect
\t\t0 unknown
\t0 message responses generated
\t0 messages with too many ND options
\t0 messages with bad ND options
\t0 bad neighbor solicitation messages
\t0 bad neighbor advertisement messages
\t0 bad router solicitation messages
\t0 bad router advertisement messages
\t0 bad redirect messages
\t0 path MTU changes
"""
ICMP6_ZERO = ICMP6_HEAD_ZERO + ICMP6_MIDDLE_ZERO + ICMP6_TAIL_ZERO


def _ip6(total, delivered, sent):
    """IP6_ZERO with what a ping exchange moves: packets in (all ICMPv6), for this host,
    sent from this host, and the input histogram after the not-joined line."""
    text = IP6_ZERO.replace("\t0 total packets received\n",
                            "\t%d total packets received\n" % total)
    text = text.replace("\t0 packets for this host\n", "\t%d packets for this host\n" % delivered)
    text = text.replace("\t0 packets sent from this host\n",
                        "\t%d packets sent from this host\n" % sent)
    return text.replace("\tMbuf statistics:\n",
                        "\tInput histogram:\n\t\tICMP6: %d\n\tMbuf statistics:\n" % total)


@pytest.fixture
def pair(sockdir):
    """a --vx-- b, 2001:db8:a::1 and ::2, DAD done on both."""
    p = free_udp_ports(2)
    stacks = []
    try:
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}"], sockdir=sockdir))
        a, b = stacks
        with a.client() as ca, b.client() as cb:
            add6(ca, "vnet0", "2001:db8:a::1")
            add6(cb, "vnet0", "2001:db8:a::2")
            settled(ca, "vnet0")
            settled(cb, "vnet0")
        yield stacks
    finally:
        for s in stacks:
            s.stop()


def test_fresh_stack_prints_every_ip6_and_icmp6_line(stack):
    assert ok(stack, "netstat", "-s", "-p", "ip6") == IP6_ZERO
    assert ok(stack, "netstat", "-s", "-p", "icmp6") == ICMP6_ZERO


def test_a_refused_zeroing_prints_the_zeroed_sets():
    # fetch_stats: when the write fails netstat warns and prints its zeroed buffer
    assert netstat_proto.ip6_stats(netstat_proto.zeroed("ip6"), 1)[0] == IP6_ZERO
    assert netstat_proto.icmp6_stats(netstat_proto.zeroed("icmp6"), 1)[0] == ICMP6_ZERO


def test_ss_prints_only_the_titles_inet6_always_prints(stack):
    assert ok(stack, "netstat", "-ss", "-p", "ip6") == (
        "ip6:\n\tMbuf statistics:\n\t\t0 one mbuf\n\t\t0 one ext mbuf\n"
        "\t\t0 two or more ext mbuf\n")
    assert ok(stack, "netstat", "-ss", "-p", "icmp6") == (
        "icmp6:\n\tHistogram of error messages to be generated:\n")


def test_inet6_family_lists_ip6protox(stack):
    # ip6protox: tcp (not counted here), udp, ip6, icmp6; the udp section is
    # test_netstat_stats.py's
    out = ok(stack, "netstat", "-s", "-f", "inet6")
    assert out.startswith("udp:\n\t0 datagrams received\n")
    assert out.endswith("\t0 times multicast source filter matched\n" + IP6_ZERO + ICMP6_ZERO)


def test_ip6_has_no_pcb_routine_and_icmp6_no_sockets(stack):
    assert tool(stack, "netstat", "-p", "ip6") == (0, "ip6: no PCB routine\n", "")
    assert tool(stack, "netstat", "-p", "icmp6") == (0, "", "")


def test_ping6_between_two_stacks_is_counted_on_both(pair):
    a, b = pair
    with a.client() as ca:
        # from here on only this exchange: a's NS for b, b's NA, three echoes each way
        assert ok(a, "netstat", "-s", "-z", "-p", "icmp6") == ICMP6_ZERO
        assert ok(a, "netstat", "-s", "-z", "-p", "ip6") == IP6_ZERO
        ok(b, "netstat", "-s", "-z", "-p", "icmp6")
        ok(b, "netstat", "-s", "-z", "-p", "ip6")
        assert len(replies(ping6(ca, "2001:db8:a::2", count=3))) == 3
        a_icmp6 = ok(a, "netstat", "-s", "-p", "icmp6")
        a_ip6 = ok(a, "netstat", "-s", "-p", "ip6")
        b_icmp6 = ok(b, "netstat", "-s", "-p", "icmp6")
        b_ip6 = ok(b, "netstat", "-s", "-p", "ip6")
    assert a_icmp6 == (ICMP6_HEAD_ZERO
                       + "\tOutput histogram:\n\t\techo: 3\n\t\tneighbor solicitation: 1\n"
                       + ICMP6_MIDDLE_ZERO
                       + "\tInput histogram:\n\t\techo reply: 3\n"
                       "\t\tneighbor advertisement: 1\n"
                       + ICMP6_TAIL_ZERO)
    # b answers the echoes (icmp6_input's reflect) and the solicitation
    assert b_icmp6 == (ICMP6_HEAD_ZERO
                       + "\tOutput histogram:\n\t\techo reply: 3\n"
                       "\t\tneighbor advertisement: 1\n"
                       + ICMP6_MIDDLE_ZERO
                       + "\tInput histogram:\n\t\techo: 3\n\t\tneighbor solicitation: 1\n"
                       + ICMP6_TAIL_ZERO.replace("\t0 message responses generated\n",
                                                 "\t3 message responses generated\n"))
    assert a_ip6 == _ip6(4, 4, 4)
    assert b_ip6 == _ip6(4, 4, 4)


def test_z_zeroes_what_ping6_counted(pair):
    a, _b = pair
    with a.client() as ca:
        assert len(replies(ping6(ca, "2001:db8:a::2", count=2))) == 2
    assert "\t\techo: 2\n" in ok(a, "netstat", "-s", "-p", "icmp6")
    # fetch_stats with -z writes zeros instead of reading: the zeroed set is printed, and
    # -ss then shows nothing moved
    assert ok(a, "netstat", "-s", "-z", "-p", "icmp6") == ICMP6_ZERO
    assert ok(a, "netstat", "-ss", "-p", "icmp6") == (
        "icmp6:\n\tHistogram of error messages to be generated:\n")
    ok(a, "netstat", "-s", "-z", "-p", "ip6")
    assert ok(a, "netstat", "-s", "-p", "ip6") == IP6_ZERO


def test_icmp6_libxo_json_carries_the_histograms(pair):
    a, _b = pair
    with a.client() as ca:
        ok(a, "netstat", "-s", "-z", "-p", "icmp6")
        assert len(replies(ping6(ca, "2001:db8:a::2", count=1))) == 1
    doc = json.loads(ok(a, "netstat", "-s", "-p", "icmp6", "--libxo", "json"))
    icmp6 = doc["statistics"]["icmp6"]
    assert {"name": "echo", "count": 1} in icmp6["output-histogram"]
    assert {"name": "echo reply", "count": 1} in icmp6["input-histogram"]
    assert icmp6["errors"]["no-route"] == 0 and icmp6["icmp6-calls"] == 0


# -- the counters, in-process (test_dataplane_ipv6's Rig: fake clock, recording devices) ---------
@pytest.fixture
def rig6():
    """test_dataplane_ipv6's rig: 2001:db8::1/64 on vnet0, DAD done."""
    r = Rig()
    add6_rig(r, "vnet0", "2001:db8::1")
    return r


def _zeroed(rig):
    ip6 = rig.dp.ip6
    stats.zero(ip6.ip6stat)
    stats.zero(ip6.icmp6stat)
    return ip6.ip6stat, ip6.icmp6stat


def test_bad_headers_and_checksums_are_counted_as_ip6_input_checks_them(rig6):
    rig = rig6
    teach(rig)
    st, ist = _zeroed(rig)
    good = frame6(rig, PEER, ME, icmp6.echo_request(PEER, ME, 1, 1))
    rig.feed("vnet0", good[:14 + 30])                           # shorter than a header
    old = bytearray(good)
    old[14] = 0x40                                              # version 4
    rig.feed("vnet0", bytes(old))
    long_ = bytearray(good)
    long_[14 + 4:14 + 6] = (999).to_bytes(2, "big")             # payload past the end
    rig.feed("vnet0", bytes(long_))
    bad_sum = bytearray(good)
    bad_sum[-1] ^= 0xFF
    rig.feed("vnet0", bytes(bad_sum))
    assert (st["ip6s_total"], st["ip6s_toosmall"], st["ip6s_badvers"], st["ip6s_tooshort"]) \
        == (4, 1, 1, 1)
    # the histogram counts what got past the version check
    assert st["ip6s_nxthist"][58] == 2 and ist["icp6s_checksum"] == 1
    assert ist["icp6s_inhist"] == [0] * 256 and st["ip6s_delivered"] == 1


def test_icmp6_error_counts_the_call_its_kind_and_what_it_sends(rig6):
    rig = rig6
    teach(rig)
    st, ist = _zeroed(rig)
    rig.feed("vnet0", frame6(rig, PEER, ME, b"\0" * 8, nh=99))      # unknown upper layer
    (_eth, _h, m), = sent6(rig)
    assert (m.type, m.code) == (icmp6.PARAM_PROB, 1)
    # an error from the peer is input only (icmp6_input hands it to the protocol)
    rig.feed("vnet0", frame6(rig, PEER, ME, icmp6.emit(PEER, ME, 1, 4, 0, bytes(48))))
    assert sent6(rig) == []
    assert (ist["icp6s_error"], ist["icp6s_oparamprob_nextheader"], ist["icp6s_canterror"]) \
        == (1, 1, 0)
    assert ist["icp6s_outhist"][icmp6.PARAM_PROB] == 1 and st["ip6s_localout"] == 1
    assert ist["icp6s_inhist"][1] == 1 and st["ip6s_delivered"] == 2
    text, _doc = netstat_proto.icmp6_stats(ist, 2)
    assert text == (
        "icmp6:\n\t1 call to icmp6_error\n"
        "\tOutput histogram:\n\t\tparameter problem: 1\n"
        "\tInput histogram:\n\t\tunreach: 1\n"
        "\tHistogram of error messages to be generated:\n"
        "\t\t1 unrecognized next header\n")


def test_fragments_reassembly_and_fragmented_output(rig6):
    rig = rig6
    teach(rig)
    st, ist = _zeroed(rig)
    req = icmp6.echo_request(PEER, ME, 0x55, 9, bytes(range(256)) * 12)
    for p in ipv6.fragment(PEER, ME, 58, req, 1280, 1234):
        rig.feed("vnet0", ethernet.emit(rig.ifp().mac, PEER_MAC, ETH6, p))
    assert len(rig.sent()) == 3
    # ip6_input delivers each fragment to frag6_input (ip6s_delivered), the whole datagram
    # not again; the reply goes out as one datagram fragmented in three
    assert (st["ip6s_total"], st["ip6s_fragments"], st["ip6s_reassembled"],
            st["ip6s_delivered"], st["ip6s_nxthist"][44]) == (3, 3, 1, 3, 3)
    assert (st["ip6s_localout"], st["ip6s_fragmented"], st["ip6s_ofragments"]) == (1, 1, 3)
    assert ist["icp6s_inhist"][128] == 1 and ist["icp6s_outhist"][129] == 1
    assert ist["icp6s_reflect"] == 1


def test_an_incomplete_datagram_times_out_fragment_by_fragment(rig6):
    rig = rig6
    teach(rig)
    st, ist = _zeroed(rig)
    req = icmp6.echo_request(PEER, ME, 0x55, 9, bytes(3000))
    first, second, _third = ipv6.fragment(PEER, ME, 58, req, 1280, 77)
    for p in (first, second):
        rig.feed("vnet0", ethernet.emit(rig.ifp().mac, PEER_MAC, ETH6, p))
    rig.run(61.0)
    assert st["ip6s_fragtimeout"] == 2 and st["ip6s_fragments"] == 2
    # time exceeded (reassembly), about the first fragment
    assert ist["icp6s_otime_exceed_reassembly"] == 1
    assert ist["icp6s_outhist"][icmp6.TIME_EXCEEDED] == 1


def test_an_atomic_fragment_is_counted_and_answered(rig6):
    rig = rig6
    teach(rig)
    st, ist = _zeroed(rig)
    frag_header = bytes((58, 0, 0, 0)) + (5).to_bytes(4, "big")     # offset 0, M 0
    rig.feed("vnet0", frame6(rig, PEER, ME, frag_header + icmp6.echo_request(PEER, ME, 1, 1),
                             nh=44))
    (_eth, _h, m), = sent6(rig)
    assert m.type == icmp6.ECHO_REPLY
    assert (st["ip6s_fragments"], st["ip6s_atmfrag_rcvd"], st["ip6s_reassembled"],
            st["ip6s_delivered"], st["ip6s_nxthist"][44]) == (1, 1, 0, 1, 1)
    assert ist["icp6s_reflect"] == 1
