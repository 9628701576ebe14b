"""Protocol statistics the data plane keeps, as FreeBSD 14 keeps them: struct ipstat
(sys/netinet/ip_var.h), struct icmpstat (icmp_var.h), struct udpstat (udp_var.h) and struct
arpstat (net/if_arp.h), each field named as there and counted where the kernel counts it.

Each set is read (and zeroed, `netstat -z`) whole through its FreeBSD sysctl name:
net.inet.ip.stats, net.inet.icmp.stats, net.inet.udp.stats, net.link.ether.arp.stats.
A field counts an event only where the data plane really sees it; fields for machinery the
stack does not have (gif tunnels, raw IP output, fast forwarding, multicast filters, socket
buffers) are kept so the structure is whole, and stay 0 because that never happens here.
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

SYSCTLS = {
    "net.inet.ip.stats": "ip",
    "net.inet.icmp.stats": "icmp",
    "net.inet.udp.stats": "udp",
    "net.link.ether.arp.stats": "arp",
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
