"""`netstat -s` (protocol statistics) and netstat's socket listing, FreeBSD 14's layout
(usr.bin/netstat/inet.c udp_stats, ip_stats, icmp_stats, arp_stats; inet6.c ip6_stats,
icmp6_stats; main.c protox and ip6protox).

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

# protox[] and ip6protox[] of main.c in order, as far as the stack counts them; udp is in
# both, and udp_stats prints once
INET_PROTOCOLS = ("udp", "ip", "icmp", "arp")
INET6_PROTOCOLS = ("udp", "ip6", "icmp6")
PROTOCOLS = INET_PROTOCOLS + ("ip6", "icmp6")
SYSCTL = {"udp": "net.inet.udp.stats", "ip": "net.inet.ip.stats",
          "icmp": "net.inet.icmp.stats", "arp": "net.link.ether.arp.stats",
          "ip6": "net.inet6.ip6.stats", "icmp6": "net.inet6.icmp6.stats"}
# socket-bearing protocols (pr_cblocks is protopr); arp and ip6 have none: "arp: no PCB
# routine"
HAS_PCBS = {"udp", "ip", "icmp", "icmp6"}
# the ones with a per-interface statistics routine (-s -i: ip6_ifstats, icmp6_ifstats)
HAS_IFSTATS = {"ip6", "icmp6"}


def zeroed(proto: str) -> dict:
    """The all-zero set netstat prints when it could not zero the stack's (-z refused)."""
    table = {"udp": UDP_LINES, "ip": IP_LINES, "arp": ARP_LINES,
             "icmp": ICMP_HEAD + ICMP_MIDDLE + ICMP_TAIL,
             "ip6": IP6_LINES + IP6_TAIL,
             "icmp6": ICMP6_HEAD + ICMP6_MIDDLE + ICMP6_ERRORS + ICMP6_TAIL}[proto]
    s = {field: 0 for field, _key, _fmt, _plural in table}
    if proto == "icmp":
        s["icps_outhist"] = s["icps_inhist"] = []
    elif proto == "ip6":
        s.update(dict.fromkeys(IP6_SCALARS, 0))
        s.update(dict.fromkeys(IP6_LISTS, []))
    elif proto == "icmp6":
        s["icp6s_outhist"] = s["icp6s_inhist"] = []
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


# -- IPv6: inet6.c ip6_stats and icmp6_stats --------------------------------------------------
IP6_LINES = (
    ("ip6s_total", "received-packets", "\t%d total packet%s received\n", "s"),
    ("ip6s_toosmall", "dropped-below-minimum-size", "\t%d with size smaller than minimum\n",
     None),
    ("ip6s_tooshort", "dropped-short-packets", "\t%d with data size < data length\n", None),
    ("ip6s_badoptions", "dropped-bad-options", "\t%d with bad options\n", None),
    ("ip6s_badvers", "dropped-bad-version", "\t%d with incorrect version number\n", None),
    ("ip6s_fragments", "received-fragments", "\t%d fragment%s received\n", "s"),
    ("ip6s_fragdropped", "dropped-fragment", "\t%d fragment%s dropped (dup or out of space)\n",
     "s"),
    ("ip6s_fragtimeout", "dropped-fragment-after-timeout",
     "\t%d fragment%s dropped after timeout\n", "s"),
    ("ip6s_fragoverflow", "dropped-fragments-overflow", "\t%d fragment%s that exceeded limit\n",
     "s"),
    ("ip6s_reassembled", "reassembled-packets", "\t%d packet%s reassembled ok\n", "s"),
    ("ip6s_delivered", "received-local-packets", "\t%d packet%s for this host\n", "s"),
    ("ip6s_forward", "forwarded-packets", "\t%d packet%s forwarded\n", "s"),
    ("ip6s_cantforward", "packets-not-forwardable", "\t%d packet%s not forwardable\n", "s"),
    ("ip6s_redirectsent", "sent-redirects", "\t%d redirect%s sent\n", "s"),
    ("ip6s_localout", "sent-packets", "\t%d packet%s sent from this host\n", "s"),
    ("ip6s_rawout", "send-packets-fabricated-header",
     "\t%d packet%s sent with fabricated ip header\n", "s"),
    ("ip6s_odropped", "discard-no-mbufs", "\t%d output packet%s dropped due to no bufs, etc.\n",
     "s"),
    ("ip6s_noroute", "discard-no-route", "\t%d output packet%s discarded due to no route\n",
     "s"),
    ("ip6s_fragmented", "sent-fragments", "\t%d output datagram%s fragmented\n", "s"),
    ("ip6s_ofragments", "fragments-created", "\t%d fragment%s created\n", "s"),
    ("ip6s_cantfrag", "discard-cannot-fragment", "\t%d datagram%s that can't be fragmented\n",
     "s"),
    ("ip6s_badscope", "discard-scope-violations", "\t%d packet%s that violated scope rules\n",
     "s"),
    ("ip6s_notmember", "multicast-no-join-packets",
     "\t%d multicast packet%s which we don't join\n", "s"),
)
IP6_TAIL = (
    ("ip6s_exthdrtoolong", "dropped-header-too-long",
     "\t%d packet%s whose headers are not contiguous\n", "s"),
    ("ip6s_nogif", "discard-tunnel-no-gif", "\t%d tunneling packet%s that can't find gif\n",
     "s"),
    ("ip6s_toomanyhdr", "dropped-too-many-headers",
     "\t%d packet%s discarded because of too many headers\n", "s"),
)
# the source address selection lists: (field, libxo list, title)
IP6_SOURCES = (
    ("ip6s_sources_sameif", "outgoing-interface", "\tsource addresses on an outgoing I/F\n"),
    ("ip6s_sources_otherif", "non-outgoing-interface",
     "\tsource addresses on a non-outgoing I/F\n"),
    ("ip6s_sources_samescope", "same-source", "\tsource addresses of same scope\n"),
    ("ip6s_sources_otherscope", "different-scope", "\tsource addresses of a different scope\n"),
    ("ip6s_sources_deprecated", "deprecated-source", "\tdeprecated source addresses\n"),
)
# PRINT_SCOPESTAT's named scopes: (libxo key, word)
_SCOPES = {1: ("interface-locals", "interface-local"), 2: ("link-locals", "link-local"),
           5: ("site-locals", "site-local"), 14: ("globals", "global")}
SRCRULE = ("first candidate", "same address", "appropriate scope", "deprecated address",
           "home address", "outgoing interface", "matching label", "public/temporary address",
           "alive interface", "better virtual status", "preferred source", "rule #11",
           "rule #12", "rule #13", "longest match", "rule #15")
# ip6nh[] of inet6.c: next header names, "#n" for the rest ("#80" at 90 is inet6.c's own)
_IP6NH_NAMED = {0: "hop by hop", 1: "ICMP", 2: "IGMP", 4: "IP", 6: "TCP", 17: "UDP", 22: "IDP",
                29: "TP", 41: "IP6", 43: "routing", 44: "fragment", 50: "ESP", 51: "AH",
                58: "ICMP6", 59: "no next header", 60: "destination option", 62: "mobility",
                80: "ISOIP", 89: "OSPF", 90: "#80", 97: "Ethernet", 103: "PIM", 132: "SCTP",
                136: "UDPLite", 190: "#180"}
IP6NH = tuple(_IP6NH_NAMED.get(i, "#%d" % i) for i in range(256))
# icmp6names[] of inet6.c ("#80" at 90 and "#180" at 190 are its own)
_ICMP6_NAMED = {1: "unreach", 2: "packet too big", 3: "time exceed", 4: "parameter problem",
                90: "#80", 128: "echo", 129: "echo reply", 130: "multicast listener query",
                131: "MLDv1 listener report", 132: "MLDv1 listener done",
                133: "router solicitation", 134: "router advertisement",
                135: "neighbor solicitation", 136: "neighbor advertisement", 137: "redirect",
                138: "router renumbering", 139: "node information request",
                140: "node information reply", 141: "inverse neighbor solicitation",
                142: "inverse neighbor advertisement", 143: "MLDv2 listener report",
                190: "#180"}
ICMP6_NAMES = tuple(_ICMP6_NAMED.get(i, "#%d" % i) for i in range(256))

ICMP6_HEAD = (
    ("icp6s_error", "icmp6-calls", "\t%d call%s to icmp6_error\n", "s"),
    ("icp6s_canterror", "errors-not-generated-from-message",
     "\t%d error%s not generated in response to an icmp6 message\n", "s"),
    ("icp6s_toofreq", "errors-discarded-by-rate-limitation",
     "\t%d error%s not generated because of rate limitation\n", "s"),
)
ICMP6_MIDDLE = (
    ("icp6s_badcode", "dropped-bad-code", "\t%d message%s with bad code fields\n", "s"),
    ("icp6s_tooshort", "dropped-too-short", "\t%d message%s < minimum length\n", "s"),
    ("icp6s_checksum", "dropped-bad-checksum", "\t%d bad checksum%s\n", "s"),
    ("icp6s_badlen", "dropped-bad-length", "\t%d message%s with bad length\n", "s"),
)
# "Histogram of error messages to be generated" (p_5: no plural) and what follows it inside
# libxo's "errors" container
ICMP6_ERRORS = (
    ("icp6s_odst_unreach_noroute", "no-route", "\t\t%d no route\n", None),
    ("icp6s_odst_unreach_admin", "admin-prohibited", "\t\t%d administratively prohibited\n",
     None),
    ("icp6s_odst_unreach_beyondscope", "beyond-scope", "\t\t%d beyond scope\n", None),
    ("icp6s_odst_unreach_addr", "address-unreachable", "\t\t%d address unreachable\n", None),
    ("icp6s_odst_unreach_noport", "port-unreachable", "\t\t%d port unreachable\n", None),
    ("icp6s_opacket_too_big", "packet-too-big", "\t\t%d packet too big\n", None),
    ("icp6s_otime_exceed_transit", "time-exceed-transmit", "\t\t%d time exceed transit\n",
     None),
    ("icp6s_otime_exceed_reassembly", "time-exceed-reassembly",
     "\t\t%d time exceed reassembly\n", None),
    ("icp6s_oparamprob_header", "bad-header", "\t\t%d erroneous header field\n", None),
    ("icp6s_oparamprob_nextheader", "bad-next-header", "\t\t%d unrecognized next header\n",
     None),
    ("icp6s_oparamprob_option", "bad-option", "\t\t%d unrecognized option\n", None),
    ("icp6s_oredirect", "redirects", "\t\t%d redirect\n", None),
    ("icp6s_ounknown", "unknown", "\t\t%d unknown\n", None),
    ("icp6s_reflect", "reflect", "\t%d message response%s generated\n", "s"),
    ("icp6s_nd_toomanyopt", "too-many-nd-options", "\t%d message%s with too many ND options\n",
     "s"),
    ("icp6s_nd_badopt", "bad-nd-options", "\t%d message%s with bad ND options\n", "s"),
    ("icp6s_badns", "bad-neighbor-solicitation", "\t%d bad neighbor solicitation message%s\n",
     "s"),
    ("icp6s_badna", "bad-neighbor-advertisement",
     "\t%d bad neighbor advertisement message%s\n", "s"),
    ("icp6s_badrs", "bad-router-solicitation", "\t%d bad router solicitation message%s\n",
     "s"),
    ("icp6s_badra", "bad-router-advertisement", "\t%d bad router advertisement message%s\n",
     "s"),
    ("icp6s_badredirect", "bad-redirect", "\t%d bad redirect message%s\n", "s"),
)
ICMP6_TAIL = (
    ("icp6s_pmtuchg", "path-mtu-changes", "\t%d path MTU change%s\n", "s"),
)
# what ip6_stats prints outside the line tables
IP6_SCALARS = ("ip6s_m1", "ip6s_mext1", "ip6s_mext2m", "ip6s_sources_none")
IP6_LISTS = ("ip6s_nxthist", "ip6s_m2m", "ip6s_sources_sameif", "ip6s_sources_otherif",
             "ip6s_sources_samescope", "ip6s_sources_otherscope", "ip6s_sources_deprecated",
             "ip6s_sources_rule")


def _named_histogram(out: list, title: str, hist: list, names) -> list:
    """inet6.c's histograms: a title above the first non-zero entry, then `name: count`
    for each non-zero one, whatever sflag."""
    rows = []
    for t, count in enumerate(hist):
        if count:
            if not rows:
                out.append("\t%s:\n" % title)
            out.append("\t\t%s: %d\n" % (names[t], count))
            rows.append({"name": names[t], "count": count})
    return rows


def _scopestat(out: list, value: int, scope: int, sflag: int) -> dict:
    """PRINT_SCOPESTAT: the four named scopes through p() (plural, -ss rule), any other
    printed as it is."""
    if scope in _SCOPES:
        key, word = _SCOPES[scope]
        _line(out, "\t\t%d " + word + "%s\n", value, "s", sflag, {}, "count")
        return {"name": key, "count": value}
    out.append("\t\t%d addresses scope=%#x\n" % (value, scope))
    return {"name": "%#x" % scope, "count": value}


def ip6_stats(s: dict, sflag: int) -> tuple[str, dict]:
    out, json = ["ip6:\n"], {}
    _lines(out, IP6_LINES, s, sflag, json)
    rows = _named_histogram(out, "Input histogram", s.get("ip6s_nxthist") or [], IP6NH)
    if rows:
        json["input-histogram"] = rows
    # the mbuf lines print whatever sflag; the per-interface chain counts only when non-zero
    # (the stack has no mbufs: all stay 0)
    out.append("\tMbuf statistics:\n")
    out.append("\t\t%d one mbuf\n" % s["ip6s_m1"])
    out.append("\t\t%d one ext mbuf\n" % s["ip6s_mext1"])
    out.append("\t\t%d two or more ext mbuf\n" % s["ip6s_mext2m"])
    json["mbuf-statistics"] = {"one-mbuf": s["ip6s_m1"], "one-extra-mbuf": s["ip6s_mext1"],
                               "two-or-more-extra-mbufs": s["ip6s_mext2m"]}
    _lines(out, IP6_TAIL, s, sflag, json)
    sel = {}
    _line(out, "\t%d failure%s of source address selection\n", s["ip6s_sources_none"], "s",
          sflag, sel, "address-selection-failures")
    for field, key, title in IP6_SOURCES:
        rows = []
        for scope, value in enumerate(s.get(field) or []):
            if value:
                if not rows:
                    out.append(title)
                rows.append(_scopestat(out, value, scope, sflag))
        if rows:
            sel[key] = rows
    rows = []
    for i, value in enumerate(s.get("ip6s_sources_rule") or []):
        if value:
            if not rows:
                out.append("\tSource addresses selection rule applied:\n")
            out.append("\t\t%d %s\n" % (value, SRCRULE[i]))
            rows.append({"name": SRCRULE[i], "count": value})
    if rows:
        sel["rules-applied"] = rows
    json["source-address-selection"] = sel
    return "".join(out), json


def icmp6_stats(s: dict, sflag: int) -> tuple[str, dict]:
    out, json = ["icmp6:\n"], {}
    _lines(out, ICMP6_HEAD, s, sflag, json)
    rows = _named_histogram(out, "Output histogram", s.get("icp6s_outhist") or [],
                            ICMP6_NAMES)
    if rows:
        json["output-histogram"] = rows
    _lines(out, ICMP6_MIDDLE, s, sflag, json)
    rows = _named_histogram(out, "Input histogram", s.get("icp6s_inhist") or [], ICMP6_NAMES)
    if rows:
        json["input-histogram"] = rows
    out.append("\tHistogram of error messages to be generated:\n")
    errors = {}
    _lines(out, ICMP6_ERRORS, s, sflag, errors)
    json["errors"] = errors
    _lines(out, ICMP6_TAIL, s, sflag, json)
    return "".join(out), json
