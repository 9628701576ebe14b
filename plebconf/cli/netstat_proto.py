"""`netstat -s` (protocol statistics) and netstat's socket listing, FreeBSD 14's layout
(usr.bin/netstat/inet.c udp_stats, ip_stats, icmp_stats, arp_stats; main.c protox).

Each statistics line is (counter, libxo field, text, plural): the text has `%s` where the
plural ending goes.  inet.c prints a line when `ipstat.f || sflag <= 1`: always with -s,
only when non-zero with -ss.  The numbers come from the stack's counter sets, read (or
zeroed, -z) through their FreeBSD sysctl names.
"""
from __future__ import annotations

# plural(), plurales(), pluralies() of usr.bin/netstat/main.c; None: the text has no ending
_ENDINGS = {"s": ("", "s"), "es": ("", "es"), "ies": ("y", "ies"), None: None}

UDP_LINES = (
    ("udps_ipackets", "received-datagrams", "\t%d datagram%s received\n", "s"),
    ("udps_hdrops", "dropped-incomplete-headers", "\t%d with incomplete header\n", None),
    ("udps_badlen", "dropped-bad-data-length", "\t%d with bad data length field\n", None),
    ("udps_badsum", "dropped-bad-checksum", "\t%d with bad checksum\n", None),
    ("udps_nosum", "dropped-no-checksum", "\t%d with no checksum\n", None),
    ("udps_noport", "dropped-no-socket", "\t%d dropped due to no socket\n", None),
    ("udps_noportbcast", "dropped-broadcast-multicast",
     "\t%d broadcast/multicast datagram%s undelivered\n", "s"),
    ("udps_fullsock", "dropped-full-socket-buffer",
     "\t%d dropped due to full socket buffers\n", None),
    ("udpps_pcbhashmiss", "not-for-hashed-pcb", "\t%d not for hashed pcb\n", None),
    ("delivered", "delivered-packets", "\t%d delivered\n", None),
    ("udps_opackets", "output-packets", "\t%d datagram%s output\n", "s"),
    ("udps_filtermcast", "multicast-source-filter-matches",
     "\t%d time%s multicast source filter matched\n", "s"),
)

IP_LINES = (
    ("ips_total", "received-packets", "\t%d total packet%s received\n", "s"),
    ("ips_badsum", "dropped-bad-checksum", "\t%d bad header checksum%s\n", "s"),
    ("ips_toosmall", "dropped-below-minimum-size", "\t%d with size smaller than minimum\n",
     None),
    ("ips_tooshort", "dropped-short-packets", "\t%d with data size < data length\n", None),
    ("ips_toolong", "dropped-too-long", "\t%d with ip length > max ip packet size\n", None),
    ("ips_badhlen", "dropped-short-header-length", "\t%d with header length < data size\n",
     None),
    ("ips_badlen", "dropped-short-data", "\t%d with data length < header length\n", None),
    ("ips_badoptions", "dropped-bad-options", "\t%d with bad options\n", None),
    ("ips_badvers", "dropped-bad-version", "\t%d with incorrect version number\n", None),
    ("ips_fragments", "received-fragments", "\t%d fragment%s received\n", "s"),
    ("ips_fragdropped", "dropped-fragments",
     "\t%d fragment%s dropped (dup or out of space)\n", "s"),
    ("ips_fragtimeout", "dropped-fragments-after-timeout",
     "\t%d fragment%s dropped after timeout\n", "s"),
    ("ips_reassembled", "reassembled-packets", "\t%d packet%s reassembled ok\n", "s"),
    ("ips_delivered", "received-local-packets", "\t%d packet%s for this host\n", "s"),
    ("ips_noproto", "dropped-unknown-protocol",
     "\t%d packet%s for unknown/unsupported protocol\n", "s"),
    # the forwarding line ends only after the fast-forward part (ip_stats: "if
    # (ipstat.ips_forward || sflag <= 1) xo_emit("\n")")
    ("ips_forward", "forwarded-packets", "\t%d packet%s forwarded", "s"),
    ("ips_fastforward", "fast-forwarded-packets", " (%d packet%s fast forwarded)", "s"),
    ("ips_cantforward", "packets-cannot-forward", "\t%d packet%s not forwardable\n", "s"),
    ("ips_notmember", "received-unknown-multicast-group",
     "\t%d packet%s received for unknown multicast group\n", "s"),
    ("ips_redirectsent", "redirects-sent", "\t%d redirect%s sent\n", "s"),
    ("ips_localout", "sent-packets", "\t%d packet%s sent from this host\n", "s"),
    ("ips_rawout", "send-packets-fabricated-header",
     "\t%d packet%s sent with fabricated ip header\n", "s"),
    ("ips_odropped", "discard-no-mbufs",
     "\t%d output packet%s dropped due to no bufs, etc.\n", "s"),
    ("ips_noroute", "discard-no-route", "\t%d output packet%s discarded due to no route\n",
     "s"),
    ("ips_fragmented", "sent-fragments", "\t%d output datagram%s fragmented\n", "s"),
    ("ips_ofragments", "fragments-created", "\t%d fragment%s created\n", "s"),
    ("ips_cantfrag", "discard-cannot-fragment", "\t%d datagram%s that can't be fragmented\n",
     "s"),
    ("ips_nogif", "discard-tunnel-no-gif", "\t%d tunneling packet%s that can't find gif\n",
     "s"),
    ("ips_badaddr", "discard-bad-address", "\t%d datagram%s with bad address in header\n",
     "s"),
)

ICMP_HEAD = (
    ("icps_error", "icmp-calls", "\t%d call%s to icmp_error\n", "s"),
    ("icps_oldicmp", "errors-not-from-message",
     "\t%d error%s not generated in response to an icmp message\n", "s"),
)
ICMP_MIDDLE = (
    ("icps_badcode", "dropped-bad-code", "\t%d message%s with bad code fields\n", "s"),
    ("icps_tooshort", "dropped-too-short", "\t%d message%s less than the minimum length\n",
     "s"),
    ("icps_checksum", "dropped-bad-checksum", "\t%d message%s with bad checksum\n", "s"),
    ("icps_badlen", "dropped-bad-length", "\t%d message%s with bad length\n", "s"),
    ("icps_bmcastecho", "dropped-multicast-echo", "\t%d multicast echo requests ignored\n",
     None),
    ("icps_bmcasttstamp", "dropped-multicast-timestamp",
     "\t%d multicast timestamp requests ignored\n", None),
)
ICMP_TAIL = (
    ("icps_reflect", "sent-packets", "\t%d message response%s generated\n", "s"),
    ("icps_badaddr", "discard-invalid-return-address", "\t%d invalid return address%s\n",
     "es"),
    ("icps_noroute", "discard-no-route", "\t%d no return route%s\n", "s"),
)

ARP_LINES = (
    ("txrequests", "sent-requests", "\t%d ARP request%s sent\n", "s"),
    ("txreplies", "sent-replies", "\t%d ARP repl%s sent\n", "ies"),
    ("rxrequests", "received-requests", "\t%d ARP request%s received\n", "s"),
    ("rxreplies", "received-replies", "\t%d ARP repl%s received\n", "ies"),
    ("received", "received-packers", "\t%d ARP packet%s received\n", "s"),
    ("dropped", "dropped-no-entry", "\t%d total packet%s dropped due to no ARP entry\n", "s"),
    ("timeouts", "entries-timeout", "\t%d ARP entry%s timed out\n", "s"),
    ("dupips", "dropped-duplicate-address", "\t%d Duplicate IP%s seen\n", "s"),
)

# icmpnames[] of inet.c, by type
ICMP_NAMES = (
    "echo reply", "#1", "#2", "destination unreachable", "source quench", "routing redirect",
    "#6", "#7", "echo", "router advertisement", "router solicitation", "time exceeded",
    "parameter problem", "time stamp", "time stamp reply", "information request",
    "information request reply", "address mask request", "address mask reply", "#19", "#20",
    "#21", "#22", "#23", "#24", "#25", "#26", "#27", "#28", "#29", "icmp traceroute",
    "datagram conversion error", "mobile host redirect", "IPv6 where-are-you",
    "IPv6 i-am-here", "mobile registration req", "mobile registration reply",
    "domain name request", "domain name reply", "icmp SKIP", "icmp photuris",
)

# protox[] of main.c in order, as far as the stack counts them: name -> (sysctl, printer)
PROTOCOLS = ("udp", "ip", "icmp", "arp")
SYSCTL = {"udp": "net.inet.udp.stats", "ip": "net.inet.ip.stats",
          "icmp": "net.inet.icmp.stats", "arp": "net.link.ether.arp.stats"}
# protocols FreeBSD's netstat knows that this stack does not instrument: -p names them as
# main.c does any name it cannot show ("unknown or uninstrumented protocol")
INET_FAMILY = {"udp": "inet", "ip": "inet", "icmp": "inet", "arp": "inet"}
# socket-bearing protocols (pr_cblocks is protopr); arp has none: "arp: no PCB routine"
HAS_PCBS = {"udp", "ip", "icmp"}


def zeroed(proto: str) -> dict:
    """The all-zero set netstat prints when it could not zero the stack's (-z refused)."""
    table = {"udp": UDP_LINES, "ip": IP_LINES, "arp": ARP_LINES,
             "icmp": ICMP_HEAD + ICMP_MIDDLE + ICMP_TAIL}[proto]
    s = {field: 0 for field, _key, _fmt, _plural in table}
    if proto == "icmp":
        s["icps_outhist"] = s["icps_inhist"] = []
    return s


def _line(out: list, fmt: str, value: int, plural, sflag: int, json: dict, key: str) -> None:
    json[key] = value
    if value or sflag <= 1:
        if plural is None:
            out.append(fmt % value)
        else:
            one, many = _ENDINGS[plural]
            out.append(fmt % (value, one if value == 1 else many))


def _lines(out: list, table, s: dict, sflag: int, json: dict) -> None:
    for field, key, fmt, plural in table:
        _line(out, fmt, s[field], plural, sflag, json, key)


def udp_stats(s: dict, sflag: int) -> tuple[str, dict]:
    # udp_stats computes "delivered" from what was received less every way of dropping
    s = dict(s, delivered=s["udps_ipackets"] - s["udps_hdrops"] - s["udps_badlen"]
             - s["udps_badsum"] - s["udps_noport"] - s["udps_noportbcast"]
             - s["udps_fullsock"])
    out, json = ["udp:\n"], {}
    _lines(out, UDP_LINES, s, sflag, json)
    return "".join(out), json


def ip_stats(s: dict, sflag: int) -> tuple[str, dict]:
    out, json = ["ip:\n"], {}
    for field, key, fmt, plural in IP_LINES:
        _line(out, fmt, s[field], plural, sflag, json, key)
        if field == "ips_fastforward" and (s["ips_forward"] or sflag <= 1):
            out.append("\n")
    return "".join(out), json


def _histogram(out: list, title: str, hist: list) -> list:
    rows = []
    for t, count in enumerate(hist):
        if count:
            if not rows:
                out.append("\t%s histogram:\n" % title)
            name = ICMP_NAMES[t] if t < len(ICMP_NAMES) else None
            out.append("\t\t%s: %d\n" % (name, count) if name is not None
                       else "\t\tunknown ICMP #%d: %d\n" % (t, count))
            rows.append({"name": name if name is not None else t, "count": count})
    return rows


def icmp_stats(s: dict, sflag: int, maskrepl: int | None) -> tuple[str, dict]:
    out, json = ["icmp:\n"], {}
    _lines(out, ICMP_HEAD, s, sflag, json)
    rows = _histogram(out, "Output", s["icps_outhist"])
    if rows:
        json["output-histogram"] = rows
    _lines(out, ICMP_MIDDLE, s, sflag, json)
    rows = _histogram(out, "Input", s["icps_inhist"])
    if rows:
        json["input-histogram"] = rows
    _lines(out, ICMP_TAIL, s, sflag, json)
    # live systems only, and only when the sysctl can be read (icmp_stats returns before the
    # line otherwise)
    if maskrepl is not None:
        state = "en" if maskrepl else "dis"
        out.append("\tICMP address mask responses are %sabled\n" % state)
        json["icmp-address-responses"] = state + "abled"
    return "".join(out), json


def arp_stats(s: dict, sflag: int) -> tuple[str, dict]:
    out, json = ["arp:\n"], {}
    _lines(out, ARP_LINES, s, sflag, json)
    return "".join(out), json
