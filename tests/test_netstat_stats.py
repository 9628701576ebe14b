"""netstat -s / -p / -z and the socket listing, against a live stack and in-process: whole
outputs compared with what FreeBSD 14's usr.bin/netstat prints (inet.c udp_stats, ip_stats,
icmp_stats, arp_stats; main.c), and the data plane's counters moved where the kernel moves
them (sys/netinet/ip_input.c, ip_icmp.c, udp_usrreq.c, if_ether.c)."""
from __future__ import annotations

import json

from plebnet_core.dataplane.wire import arp, ethernet, icmp, udp
from plebnet_core.dataplane.wire.checksum import checksum
from tests.test_dataplane_unit import PEER_MAC, Rig, b4, echo, ip_frame
from tests.tooltest import ok, tool

# Every line of each section, zero: inet.c's p()/p1a() macros print a line
# "if (ipstat.f || sflag <= 1)", so a single -s prints them all; the order is main.c's protox[]
# (tcp, udp, ..., ip, icmp, igmp, ..., arp) less what this stack does not count.
UDP_ZERO = """\
udp:
\t0 datagrams received
\t0 with incomplete header
\t0 with bad data length field
\t0 with bad checksum
\t0 with no checksum
\t0 dropped due to no socket
\t0 broadcast/multicast datagrams undelivered
\t0 dropped due to full socket buffers
\t0 not for hashed pcb
\t0 delivered
\t0 datagrams output
\t0 times multicast source filter matched
"""
IP_ZERO = """\
ip:
\t0 total packets received
\t0 bad header checksums
\t0 with size smaller than minimum
\t0 with data size < data length
\t0 with ip length > max ip packet size
\t0 with header length < data size
\t0 with data length < header length
\t0 with bad options
\t0 with incorrect version number
\t0 fragments received
\t0 fragments dropped (dup or out of space)
\t0 fragments dropped after timeout
\t0 packets reassembled ok
\t0 packets for this host
\t0 packets for unknown/unsupported protocol
\t0 packets forwarded (0 packets fast forwarded)
\t0 packets not forwardable
\t0 packets received for unknown multicast group
\t0 redirects sent
\t0 packets sent from this host
\t0 packets sent with fabricated ip header
\t0 output packets dropped due to no bufs, etc.
\t0 output packets discarded due to no route
\t0 output datagrams fragmented
\t0 fragments created
\t0 datagrams that can't be fragmented
\t0 tunneling packets that can't find gif
\t0 datagrams with bad address in header
"""
# icmp_stats: the histograms are printed only for non-zero types, whatever sflag; the
# mask-reply line comes from net.inet.icmp.maskrepl on a live system
ICMP_ZERO = """\
icmp:
\t0 calls to icmp_error
\t0 errors not generated in response to an icmp message
\t0 messages with bad code fields
\t0 messages less than the minimum length
\t0 messages with bad checksum
\t0 messages with bad length
\t0 multicast echo requests ignored
\t0 multicast timestamp requests ignored
\t0 message responses generated
\t0 invalid return addresses
\t0 no return routes
\tICMP address mask responses are disabled
"""
# arp_stats: p2 uses pluralies ("repl%s": reply/replies); "entry%s" takes plain plural()
ARP_ZERO = """\
arp:
\t0 ARP requests sent
\t0 ARP replies sent
\t0 ARP requests received
\t0 ARP replies received
\t0 ARP packets received
\t0 total packets dropped due to no ARP entry
\t0 ARP entrys timed out
\t0 Duplicate IPs seen
"""


def test_netstat_s_on_a_fresh_stack_prints_every_line(stack):
    assert ok(stack, "netstat", "-s") == UDP_ZERO + IP_ZERO + ICMP_ZERO + ARP_ZERO


def test_netstat_ss_after_ping_prints_only_what_moved(stack):
    # ping 127.0.0.1 twice: each request goes out (ip_output: ips_localout) and comes back
    # in over lo0 (ips_total, ips_delivered, icps_inhist[ECHO]); icmp_input reflects it
    # ("icps_reflect", "icps_outhist[ICMP_ECHOREPLY]"), and the reply comes in too.
    # With -ss, "sflag <= 1" is false: zero lines go, section titles stay (xo_emit("{T:/%s}:\n")).
    ok(stack, "ping", "-c", "2", "-i", "0.1", "127.0.0.1")
    assert ok(stack, "netstat", "-ss") == (
        "udp:\n"
        "ip:\n"
        "\t4 total packets received\n"
        "\t4 packets for this host\n"
        "\t4 packets sent from this host\n"
        "icmp:\n"
        "\tOutput histogram:\n"
        "\t\techo reply: 2\n"
        "\tInput histogram:\n"
        "\t\techo reply: 2\n"
        "\t\techo: 2\n"
        "\t2 message responses generated\n"
        "\tICMP address mask responses are disabled\n"
        "arp:\n")


def test_netstat_z_prints_the_zeroed_set_and_zeroes_it(stack):
    ok(stack, "ping", "-c", "1", "127.0.0.1")
    # main.c fetch_stats_internal: with zflag it writes a zeroed struct ("sysctlbyname(
    # sysctlname, NULL, NULL, stats, len)") and never reads, so what it prints is zeros
    assert ok(stack, "netstat", "-s", "-z", "-p", "icmp") == ICMP_ZERO
    assert ok(stack, "netstat", "-ss", "-p", "icmp") == (
        "icmp:\n\tICMP address mask responses are disabled\n")
    # only the set named was zeroed
    assert "\t2 total packets received\n" in ok(stack, "netstat", "-s", "-p", "ip")


def test_netstat_p_names_one_protocol_or_its_alias(stack):
    assert ok(stack, "netstat", "-s", "-p", "udp") == UDP_ZERO
    # name2protox falls back on /etc/protocols aliases ("udp 17 UDP")
    assert ok(stack, "netstat", "-s", "-p", "UDP") == UDP_ZERO
    assert ok(stack, "netstat", "-s", "-p", "arp") == ARP_ZERO
    # -6: ip6protox has udp too (udp_stats prints once), the rest is IPv6's
    assert ok(stack, "netstat", "-s", "-6") == UDP_ZERO


def test_netstat_p_unknown_or_uncounted_protocol(stack):
    # main.c: "xo_errx(1, "%s: unknown or uninstrumented protocol", optarg)"
    for proto in ("tcp", "bogus"):
        assert tool(stack, "netstat", "-s", "-p", proto) == (
            1, "", f"netstat: {proto}: unknown or uninstrumented protocol\n")


def test_netstat_without_s_lists_sockets_and_there_are_none(stack):
    # inet.c protopr prints "Active Internet connections" only "if (first)" inside the loop
    # over sockets, and unix.c unixdomainpr its "Active UNIX domain sockets" likewise: with
    # no socket at all, netstat prints nothing and succeeds
    for argv in ([], ["-a"], ["-an"], ["-n", "-f", "inet"], ["-p", "udp"]):
        assert tool(stack, "netstat", *argv) == (0, "", ""), argv
    # printproto: arp has no pr_cblocks: "xo_message("%s: no PCB routine", tp->pr_name)"
    assert tool(stack, "netstat", "-p", "arp") == (0, "arp: no PCB routine\n", "")
    # printproto with -s -i: per-interface statistics exist for ip6/icmp6 only
    assert tool(stack, "netstat", "-s", "-i", "-p", "ip") == (
        0, "ip: no per-interface stats routine\n", "")


def test_netstat_x_and_T_conflict(stack):
    # main.c: "xo_errx(1, "-x and -T are incompatible, pick one.")"
    assert tool(stack, "netstat", "-x", "-T") == (
        1, "", "netstat: -x and -T are incompatible, pick one.\n")


def test_netstat_s_libxo_json_carries_the_fields(stack):
    doc = json.loads(ok(stack, "netstat", "-s", "-p", "ip", "--libxo", "json"))
    ip = doc["statistics"]["ip"]
    assert ip["received-packets"] == 0 and ip["discard-bad-address"] == 0
    assert len(ip) == 29


# -- the counters, in-process ------------------------------------------------------------------
def stats(rig, name):
    return rig.sys.dispatch("sysctl", {"name": name})


def counted(rig, name):
    """The non-zero counters of a set (histograms as {type: count})."""
    out = {}
    for k, v in stats(rig, name).items():
        if isinstance(v, list):
            hist = {t: n for t, n in enumerate(v) if n}
            if hist:
                out[k] = hist
        elif v:
            out[k] = v
    return out


def rig_with_peer():
    rig = Rig()
    rig.addr("vnet0", "10.0.0.1")
    return rig


def test_bad_ip_headers_are_counted_as_ip_input_checks_them():
    rig = rig_with_peer()
    mac = rig.ifp().mac
    good = ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 17, b"x" * 8)
    bad_sum = bytearray(good)
    bad_sum[14 + 10] ^= 0xFF                        # header checksum
    bad_version = bytearray(good)
    bad_version[14] = 0x65                          # version 6, ihl 5
    short_total = bytearray(good)
    short_total[14 + 2:14 + 4] = (200).to_bytes(2, "big")   # more than arrived
    short_total[14 + 10:14 + 12] = b"\0\0"
    short_total[14 + 10:14 + 12] = checksum(bytes(short_total[14:34])).to_bytes(2, "big")
    for frame in (bad_sum, bad_version, short_total, good[:14 + 12]):
        rig.feed("vnet0", bytes(frame))
    # ip_input: "m->m_len < sizeof (struct ip)" toosmall, "ip->ip_v != IPVERSION" badvers,
    # in_cksum badsum, "m->m_pkthdr.len < ip_len" tooshort; each counted in ips_total first
    assert counted(rig, "net.inet.ip.stats") == {
        "ips_total": 4, "ips_badsum": 1, "ips_badvers": 1, "ips_tooshort": 1,
        "ips_toosmall": 1}


def test_udp_to_a_closed_port_counts_noport_and_the_icmp_error():
    rig = rig_with_peer()
    mac = rig.ifp().mac
    payload = udp.emit(b4("10.0.0.2"), b4("10.0.0.1"), 5000, 9999, b"hello")
    from tests.test_dataplane_unit import learn
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 17, payload))
    # udp_input: "UDPSTAT_INC(udps_noport)" then icmp_error(ICMP_UNREACH_PORT): icps_error,
    # icps_outhist[ICMP_UNREACH]; the error leaves by ip_output (ips_localout)
    assert counted(rig, "net.inet.udp.stats") == {"udps_ipackets": 1, "udps_noport": 1}
    assert counted(rig, "net.inet.icmp.stats") == {"icps_error": 1,
                                                    "icps_outhist": {icmp.DEST_UNREACH: 1}}
    assert counted(rig, "net.inet.ip.stats") == {"ips_total": 1, "ips_delivered": 1,
                                                 "ips_localout": 1}
    # and the ARP exchange learn() made: a request for us answered
    assert counted(rig, "net.link.ether.arp.stats") == {"received": 1, "rxrequests": 1,
                                                        "txreplies": 1}


def test_unknown_protocol_and_bad_icmp():
    rig = rig_with_peer()
    mac = rig.ifp().mac
    from tests.test_dataplane_unit import learn
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 99, b"?" * 8))
    bad = bytearray(echo())
    bad[2] ^= 0xFF
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, bytes(bad)))
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, b"\x08\x00\xf7"))
    ip = counted(rig, "net.inet.ip.stats")
    # rip_input: no socket for protocol 99: "IPSTAT_DEC(ips_delivered); IPSTAT_INC(ips_noproto)"
    assert ip["ips_noproto"] == 1 and ip["ips_delivered"] == 2
    assert counted(rig, "net.inet.icmp.stats") == {
        "icps_error": 1, "icps_outhist": {icmp.DEST_UNREACH: 1}, "icps_checksum": 1,
        "icps_tooshort": 1}


def test_arp_counts_requests_sent_and_packets_dropped():
    rig = rig_with_peer()
    # a packet for an unresolved neighbour: arprequest ("ARPSTAT_INC(txrequests)"); once
    # maxtries requests went unanswered the held packet is dropped
    rig.dp.ip.output(None, b4("10.0.0.9"), 17, udp.emit(b4("10.0.0.1"), b4("10.0.0.9"), 1, 2))
    for _ in range(6):
        rig.run(1.0)
    s = counted(rig, "net.link.ether.arp.stats")
    assert s == {"txrequests": 5, "dropped": 1, "timeouts": 1}
    # zeroing (netstat -z) answers the zeroed set and leaves it so
    assert not any(rig.sys.dispatch("sysctl", {"name": "net.link.ether.arp.stats",
                                               "value": 0}).values())
    assert counted(rig, "net.link.ether.arp.stats") == {}
    assert [ethernet.parse(f).ethertype for f in rig.dev["vnet0"].take()] == [
        ethernet.ETHERTYPE_ARP] * 5
    assert arp  # the codec the requests were built with
