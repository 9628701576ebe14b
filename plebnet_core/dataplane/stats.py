"""Protocol statistics the data plane keeps, as FreeBSD 14 keeps them: struct ipstat
(sys/netinet/ip_var.h), struct icmpstat (icmp_var.h), struct udpstat (udp_var.h), struct
arpstat (net/if_arp.h), struct ip6stat (netinet6/ip6_var.h) and struct icmp6stat
(netinet/icmp6.h), each field named as there and counted where the kernel counts it.

Each set is read (and zeroed, `netstat -z`) whole through its FreeBSD sysctl name:
net.inet.ip.stats, net.inet.icmp.stats, net.inet.udp.stats, net.link.ether.arp.stats,
net.inet6.ip6.stats, net.inet6.icmp6.stats.
A field counts an event only where the data plane really sees it; fields for machinery the
stack does not have (gif tunnels, raw IP output, fast forwarding, multicast filters, socket
buffers, mbufs, source-address-selection rule accounting, path MTU discovery) are kept so the
structure is whole, and stay 0 because that never happens here.
"""
from __future__ import annotations

IPSTAT = (
    "ips_total", "ips_badsum", "ips_tooshort", "ips_toosmall", "ips_badhlen", "ips_badlen",
    "ips_fragments", "ips_fragdropped", "ips_fragtimeout", "ips_forward", "ips_fastforward",
    "ips_cantforward", "ips_redirectsent", "ips_noproto", "ips_delivered", "ips_localout",
    "ips_odropped", "ips_reassembled", "ips_fragmented", "ips_ofragments", "ips_cantfrag",
    "ips_badoptions", "ips_noroute", "ips_badvers", "ips_rawout", "ips_toolong",
    "ips_notmember", "ips_nogif", "ips_badaddr",
)
ICMP_MAXTYPE = 40
ICMPSTAT = (
    "icps_error", "icps_oldshort", "icps_oldicmp", "icps_badcode", "icps_tooshort",
    "icps_checksum", "icps_badlen", "icps_reflect", "icps_bmcastecho", "icps_bmcasttstamp",
    "icps_badaddr", "icps_noroute",
)
UDPSTAT = (
    "udps_ipackets", "udps_hdrops", "udps_badsum", "udps_nosum", "udps_badlen",
    "udps_noport", "udps_noportbcast", "udps_fullsock", "udpps_pcbcachemiss",
    "udpps_pcbhashmiss", "udps_opackets", "udps_fastout", "udps_noportmcast",
    "udps_filtermcast",
)
ARPSTAT = (
    "txrequests", "txreplies", "rxrequests", "rxreplies", "received", "txerrors", "dropped",
    "timeouts", "dupips",
)

IP6STAT = (
    "ip6s_total", "ip6s_tooshort", "ip6s_toosmall", "ip6s_fragments", "ip6s_fragdropped",
    "ip6s_fragtimeout", "ip6s_fragoverflow", "ip6s_forward", "ip6s_cantforward",
    "ip6s_redirectsent", "ip6s_delivered", "ip6s_localout", "ip6s_odropped",
    "ip6s_reassembled", "ip6s_atmfrag_rcvd", "ip6s_fragmented", "ip6s_ofragments",
    "ip6s_cantfrag", "ip6s_badoptions", "ip6s_noroute", "ip6s_badvers", "ip6s_rawout",
    "ip6s_badscope", "ip6s_notmember", "ip6s_m1", "ip6s_mext1", "ip6s_mext2m",
    "ip6s_exthdrtoolong", "ip6s_nogif", "ip6s_toomanyhdr", "ip6s_sources_none",
)
IP6S_HDRCNT = 256               # ip6s_nxthist: input packets by (first) next header
IP6S_M2MMAX = 32
IP6S_SCOPECNT = 16
IP6S_RULESMAX = 16
IP6_HISTOGRAMS = {
    "ip6s_nxthist": IP6S_HDRCNT, "ip6s_m2m": IP6S_M2MMAX,
    "ip6s_sources_sameif": IP6S_SCOPECNT, "ip6s_sources_otherif": IP6S_SCOPECNT,
    "ip6s_sources_samescope": IP6S_SCOPECNT, "ip6s_sources_otherscope": IP6S_SCOPECNT,
    "ip6s_sources_deprecated": IP6S_SCOPECNT, "ip6s_sources_rule": IP6S_RULESMAX,
}
ICMP6STAT = (
    "icp6s_error", "icp6s_canterror", "icp6s_toofreq", "icp6s_badcode", "icp6s_tooshort",
    "icp6s_checksum", "icp6s_badlen", "icp6s_dropped", "icp6s_reflect",
    "icp6s_nd_toomanyopt", "icp6s_odst_unreach_noroute", "icp6s_odst_unreach_admin",
    "icp6s_odst_unreach_beyondscope", "icp6s_odst_unreach_addr",
    "icp6s_odst_unreach_noport", "icp6s_opacket_too_big", "icp6s_otime_exceed_transit",
    "icp6s_otime_exceed_reassembly", "icp6s_oparamprob_header",
    "icp6s_oparamprob_nextheader", "icp6s_oparamprob_option", "icp6s_oredirect",
    "icp6s_ounknown", "icp6s_pmtuchg", "icp6s_nd_badopt", "icp6s_badns", "icp6s_badna",
    "icp6s_badrs", "icp6s_badra", "icp6s_badredirect", "icp6s_overflowdefrtr",
    "icp6s_overflowprfx", "icp6s_overflownndp", "icp6s_overflowredirect",
    "icp6s_invlhlim",
)
ICMP6_HISTLEN = 256             # icp6s_outhist / icp6s_inhist: every ICMPv6 type
# icmp6_errcount(): which "error messages to be generated" counter a (type, code) moves
ICMP6_ERRCOUNT = {
    (1, 0): "icp6s_odst_unreach_noroute", (1, 1): "icp6s_odst_unreach_admin",
    (1, 2): "icp6s_odst_unreach_beyondscope", (1, 3): "icp6s_odst_unreach_addr",
    (1, 4): "icp6s_odst_unreach_noport", (3, 0): "icp6s_otime_exceed_transit",
    (3, 1): "icp6s_otime_exceed_reassembly", (4, 0): "icp6s_oparamprob_header",
    (4, 1): "icp6s_oparamprob_nextheader", (4, 2): "icp6s_oparamprob_option",
}

SYSCTLS = {
    "net.inet.ip.stats": "ip",
    "net.inet.icmp.stats": "icmp",
    "net.inet.udp.stats": "udp",
    "net.link.ether.arp.stats": "arp",
    "net.inet6.ip6.stats": "ip6",
    "net.inet6.icmp6.stats": "icmp6",
}


def ipstat() -> dict:
    return dict.fromkeys(IPSTAT, 0)


def icmpstat() -> dict:
    s = dict.fromkeys(ICMPSTAT, 0)
    s["icps_outhist"] = [0] * (ICMP_MAXTYPE + 1)
    s["icps_inhist"] = [0] * (ICMP_MAXTYPE + 1)
    return s


def udpstat() -> dict:
    return dict.fromkeys(UDPSTAT, 0)


def arpstat() -> dict:
    return dict.fromkeys(ARPSTAT, 0)


def ip6stat() -> dict:
    s = dict.fromkeys(IP6STAT, 0)
    for name, n in IP6_HISTOGRAMS.items():
        s[name] = [0] * n
    return s


def icmp6stat() -> dict:
    s = dict.fromkeys(ICMP6STAT, 0)
    s["icp6s_outhist"] = [0] * ICMP6_HISTLEN
    s["icp6s_inhist"] = [0] * ICMP6_HISTLEN
    return s


def icmp6_errcount(s: dict, type_: int, code: int) -> None:
    """icmp6_errcount(): an error about to be generated, by type and code; packet too big
    and redirect have one counter each, anything else is "unknown"."""
    if type_ == 2:
        s["icp6s_opacket_too_big"] += 1
    elif type_ == 137:
        s["icp6s_oredirect"] += 1
    else:
        s[ICMP6_ERRCOUNT.get((type_, code), "icp6s_ounknown")] += 1


def zero(stats: dict) -> None:
    """What writing a zeroed struct to the sysctl does (COUNTER_ARRAY_ZERO): every counter,
    histograms included, back to 0, in place (the layers hold the dict)."""
    for key, value in stats.items():
        if isinstance(value, list):
            value[:] = [0] * len(value)
        else:
            stats[key] = 0


def copy(stats: dict) -> dict:
    return {k: list(v) if isinstance(v, list) else v for k, v in stats.items()}
