"""`netstat -r` / `netstat -i`: FreeBSD 14's routing table and interface listings
(docs/freebsd-tools.md §4);
`netstat -s` (protocol statistics) and the socket listing (`netstat`, `-a`, `-p`) are
formatted by netstat_proto.py.

The routing dump is streamed from the stack (NET_RT_DUMP in its compact form, radix walk
order) and formatted a chunk at a time straight into large writes: a million routes is the
expected size, so a chunk's next hops are formatted once each and its lines put together by
C-level map and join.
"""
from __future__ import annotations

import gc
import sys
from itertools import repeat
from operator import add

from plebproto.constants import IFF_UP, RTF_GATEWAY, RTF_UP, strerror

from . import libxo, netfmt, netstat_proto
from .common import OpError, ToolError, getopt, tool_command

FAMILIES = {"inet": "inet", "inet6": "inet6"}
FAMILY_TITLE = {"inet": "Internet", "inet6": "Internet6"}
# main.c usage(): every form, then exit(1)
USAGE = ("usage: netstat [-46AaLnRSTWx] [-f protocol_family | -p protocol]\n"
         "               [-M core] [-N system]\n"
         "       netstat -i | -I interface [-46abdhnW] [-f address_family]\n"
         "               [-M core] [-N system]\n"
         "       netstat -w wait [-I interface] [-46d] [-M core] [-N system]\n"
         "               [-q howmany]\n"
         "       netstat -s [-46sz] [-f protocol_family | -p protocol]\n"
         "               [-M core] [-N system]\n"
         "       netstat -i | -I interface -s [-46s]\n"
         "               [-f protocol_family | -p protocol] [-M core] [-N system]\n"
         "       netstat -m [-M core] [-N system]\n"
         "       netstat -B [-z] [-I interface]\n"
         "       netstat -r [-46AnW] [-F fibnum] [-f address_family]\n"
         "               [-M core] [-N system]\n"
         "       netstat -rs [-s] [-M core] [-N system]\n"
         "       netstat -g [-46W] [-f address_family] [-M core] [-N system]\n"
         "       netstat -gs [-46s] [-f address_family] [-M core] [-N system]\n"
         "       netstat -Q")
OPTS_WITH_VALUE = "fFIpMNqw"
FLAGS = "abinrWxTz"             # the switches kept in Opts (same-named attributes)
# getopt(3) string: the switches above, -s (counted), the value options, and ones accepted
# but unused here
GETOPT = "46AdhLRS" + FLAGS + "s" + "".join(c + ":" for c in OPTS_WITH_VALUE)
# /etc/protocols aliases name2protox also accepts
PROTO_ALIASES = {"IP": "ip", "ICMP": "icmp", "UDP": "udp"}


class Opts:
    def __init__(self):
        self.r = self.i = self.n = self.W = self.b = self.a = False
        self.x = self.T = self.z = False
        self.s = 0                      # sflag: -s counts (-ss: non-zero lines only)
        self.proto: str | None = None
        self.af: str | None = None
        self.fib = 0
        self.iface: str | None = None


def parse(args: list[str]) -> Opts:
    o = Opts()
    found, rest = getopt(args, GETOPT, "netstat", USAGE, 1)
    if rest:
        raise ToolError(USAGE, 1)
    for c, value in found:
        if c == "f":
            if value not in FAMILIES:
                raise ToolError(f"netstat: {value}: unknown address family", 1)
            o.af = FAMILIES[value]
        elif c == "F":
            if netfmt.strtol0(value) != 0:
                raise ToolError(f"netstat: {value}: invalid fib", 64)
        elif c == "I":
            o.iface, o.i = value, True
        elif c == "4":
            o.af = "inet"
        elif c == "6":
            o.af = "inet6"
        elif c == "s":
            o.s += 1
        elif c == "p":
            # main.c: name2protox, or "unknown or uninstrumented protocol"; the protocols
            # FreeBSD knows that this stack does not count (tcp, igmp, ...) are the latter
            name = PROTO_ALIASES.get(value, value)
            if name not in netstat_proto.PROTOCOLS:
                raise ToolError(f"netstat: {value}: unknown or uninstrumented protocol", 1)
            o.proto = name
        elif c in FLAGS:
            setattr(o, c, True)
    if o.x and o.T:
        raise ToolError("netstat: -x and -T are incompatible, pick one.", 1)
    return o


# -- netstat -s, and the socket listing ---------------------------------------------------------
def show_protocols(client, o: Opts, fmt) -> int:
    """main.c after the -i/-r/-g cases: printproto for the protocol -p names, else for each
    protocol of the family (protox, then ip6protox, where udp_stats prints once)."""
    if o.proto:
        protos = [o.proto]
    elif o.af == "inet6":
        protos = ["udp"]
    else:
        protos = list(netstat_proto.PROTOCOLS)
    out, doc = [], {}
    for proto in protos:
        if not o.s:
            # the socket listing (protopr): the stack has no sockets, and protopr prints its
            # "Active Internet connections" header only above the first one (unixpr's
            # likewise), so there is nothing to print.  arp has no PCB routine at all.
            if o.proto and proto not in netstat_proto.HAS_PCBS:
                out.append(f"{proto}: no PCB routine\n")
            continue
        if o.i:
            # printproto: -s -i wants per-interface statistics, which only ip6/icmp6 have
            if o.proto:
                out.append(f"{proto}: no per-interface stats routine\n")
            continue
        args = {"name": netstat_proto.SYSCTL[proto]}
        if o.z:
            args["value"] = 0       # fetch_stats with zflag writes zeros instead of reading
        try:
            s = client.call("sysctl", args)
        except OpError as exc:
            if not o.z:
                raise
            # fetch_stats: the write failed (a read-only peer); xo_warn, then the zeroed
            # buffer is printed all the same
            sys.stderr.write(f"netstat: sysctl {args['name']}: {strerror(exc.errno)}\n")
            s = netstat_proto.zeroed(proto)
        if proto == "udp":
            text, doc[proto] = netstat_proto.udp_stats(s, o.s)
        elif proto == "ip":
            text, doc[proto] = netstat_proto.ip_stats(s, o.s)
        elif proto == "icmp":
            maskrepl = client.call("sysctl", {"name": "net.inet.icmp.maskrepl"})
            text, doc[proto] = netstat_proto.icmp_stats(s, o.s, maskrepl)
        else:
            text, doc[proto] = netstat_proto.arp_stats(s, o.s)
        out.append(text)
    if fmt.encoded:
        libxo.emit({"statistics": doc}, fmt)
    else:
        sys.stdout.write("".join(out))
    return 0


# -- netstat -r ---------------------------------------------------------------------------------
def route_widths(family: str, o: Opts):
    """(dst, gw, flags, iface, expire) column widths of 14.x's set_wid."""
    numeric = o.n
    if family == "inet6":
        return (33 if numeric else 18), (29 if numeric else 18), 6, 8, 6
    return 18, 18, 6, (10 if o.W else 8), 6


def route_header(family: str, o: Opts) -> str:
    wd, wg, wf, wi, we = route_widths(family, o)
    if o.W:
        return "%-*.*s %-*.*s %-*.*s %*.*s %*.*s %*.*s %*s\n" % (
            wd, wd, "Destination", wg, wg, "Gateway", wf, wf, "Flags", 6, 6, "Nhop#",
            6, 6, "Mtu", wi, wi, "Netif", we, "Expire")
    return "%-*.*s %-*.*s %-*.*s %*.*s %*s\n" % (
        wd, wd, "Destination", wg, wg, "Gateway", wf, wf, "Flags", wi, wi, "Netif", we,
        "Expire")


def destinations(chunk) -> list[str]:
    """A compact dump chunk's destinations as netstat shows them: `default` for a zero-length
    prefix, and (14.x netlink netstat) a scoped address's zone replaced by the output
    interface."""
    dsts = chunk["dst"].split("\n")
    if 0 in chunk["plen"]:
        dsts = [d if p else "default" for d, p in zip(dsts, chunk["plen"])]
    if chunk["af"] == "inet6" and any("%" in d for d in dsts):
        paths = chunk["paths"]
        dsts = [d if "%" not in d else rescope_prefix(d, paths[i][2])
                for d, i in zip(dsts, chunk["path"])]
    return dsts


def rescope_prefix(text: str, ifname: str) -> str:
    """fe80::1%zone/64 -> fe80::1%ifname/64."""
    addr, _, rest = text.partition("%")
    _, slash, plen = rest.partition("/")
    return f"{addr}%{ifname}{slash}{plen}"


def gw_text(gw: str, flags: int, ifname: str, ifindex: dict) -> str:
    """14.x netlink netstat: an interface route's gateway is link#<output interface>."""
    if flags & RTF_GATEWAY:
        return netfmt.rescope(gw, ifname) if "%" in gw else gw
    return "link#%d" % ifindex.get(ifname, 0)


def route_tail(path, protrusion: int, o: Opts, widths, ifindex: dict) -> str:
    """Everything of a route's line after its destination column, newline included: a
    function of its path (protocol.PATH_COLUMNS) and of how far the destination protrudes
    from its column (-n), which the gateway column gives back."""
    gw, flags, ifname, expire, mtu, _weight, nhidx = path
    _, wg, wf, wi, we = widths
    g = gw_text(gw, flags, ifname, ifindex)
    f = netfmt.flag_letters(flags | RTF_UP)
    if not (o.n or o.W):
        tail = " %-*.*s %-*s %*.*s" % (wg, wg, g, wf, f, wi, wi, ifname)
    else:
        gwidth = max(wg - protrusion, 0)
        protrusion = max(0, len(g) - gwidth)
        tail = " %-*s %-*s " % (gwidth, g, max(wf - protrusion, 0), f)
        if o.W:
            tail += "%*d %*s %*s" % (6, nhidx, 6, mtu or "", wi, ifname)
        else:
            tail += "%*.*s" % (wi, wi, ifname)
    if expire > 0:
        tail += " %*d" % (we, expire)
    return tail + "\n"


def route_tails(paths, o: Opts, widths, ifindex: dict) -> list[str]:
    """route_tail(path, 0, ...) of each path.  A chunk may hold as many paths as rows (each
    route its own gateway or expiry), so the usual path, whose gateway fits its column and
    which does not expire, takes one %-format with the widths filled in."""
    _, wg, wf, wi, _ = widths
    usual = " %%-%ds %%-%ds " % (wg, wf) + ("%%6d %%6s %%%ds\n" % wi if o.W
                                          else "%%%d.%ds\n" % (wi, wi))
    letters = netfmt.flag_letters
    tails = []
    for path in paths:
        gw, flags, ifname, expire, mtu, _weight, nhidx = path
        g = gw_text(gw, flags, ifname, ifindex)
        if expire > 0 or len(g) > wg:
            tails.append(route_tail(path, 0, o, widths, ifindex))
        elif o.W:
            tails.append(usual % (g, letters(flags | RTF_UP), nhidx, mtu or "", ifname))
        else:
            tails.append(usual % (g, letters(flags | RTF_UP), ifname))
    return tails


def format_routes(chunk, o: Opts, ifindex: dict) -> str:
    """The lines of a compact dump chunk.  A line is its destination padded to the column
    plus the tail of its path, rendered once per path: when no destination protrudes (the
    rule) the chunk is put together by C-level map and join, a million rows being the
    expected size."""
    widths = route_widths(chunk["af"], o)
    wd = widths[0]
    dsts = destinations(chunk)
    paths = chunk["paths"]
    longest = max(map(len, dsts), default=0)
    if longest > wd and not (o.n or o.W):          # truncated to the column
        dsts = [d[:wd] for d in dsts]
        longest = wd
    tails = route_tails(paths, o, widths, ifindex)
    if longest <= wd:
        return "".join(map(add, map(str.ljust, dsts, repeat(wd)),
                           map(tails.__getitem__, chunk["path"])))
    out = []
    for d, i in zip(dsts, chunk["path"]):
        protrusion = len(d) - wd
        out.append(d.ljust(wd) + (tails[i] if protrusion <= 0 else
                                  route_tail(paths[i], protrusion, o, widths, ifindex)))
    return "".join(out)


def route_json_entries(chunk, o: Opts, ifindex: dict) -> list[dict]:
    entries = []
    paths = chunk["paths"]
    for d, i in zip(destinations(chunk), chunk["path"]):
        gw, flags, ifname, expire, mtu, weight, nhidx = paths[i]
        entry = {"destination": d,
                 "gateway": gw_text(gw, flags, ifname, ifindex),
                 "flags": netfmt.flag_letters(flags | RTF_UP),
                 "flags_pretty": netfmt.flag_names_pretty(flags | RTF_UP),
                 "weight": weight, "nhop-kidx": nhidx}
        if o.W:
            entry["nhop"] = nhidx
            entry["mtu"] = mtu
        entry["interface-name"] = ifname
        if expire > 0:
            entry["expire-time"] = expire
        entries.append(entry)
    return entries


def show_routes(client, o: Opts, fmt) -> int:
    ifindex = {i["name"]: i["index"] for i in client.sysctl("NET_RT_IFLIST")}
    args = {"name": "NET_RT_DUMP", "form": "compact"}
    if o.af:
        args["af"] = o.af
    chunks = (chunk for chunk in client.stream("sysctl", args) if chunk)
    if fmt.encoded:
        families: list = []
        for chunk in chunks:
            title = FAMILY_TITLE[chunk["af"]]
            if not families or families[-1]["address-family"] != title:
                families.append({"address-family": title, "rt-entry": []})
            families[-1]["rt-entry"] += route_json_entries(chunk, o, ifindex)
        libxo.emit({"statistics": {"route-information": {"route-table": {
            "rt-family": families}}}}, fmt)
        return 0
    write = sys.stdout.write
    write("Routing tables\n")
    family = None
    for chunk in chunks:
        if chunk["af"] != family:
            family = chunk["af"]
            write("\n%s:\n" % FAMILY_TITLE[family])
            write(route_header(family, o))
        write(format_routes(chunk, o, ifindex))
    return 0


# -- netstat -i ---------------------------------------------------------------------------------
def _network(a: dict) -> str:
    if a["af"] == "inet":
        value = netfmt.inet_aton(a["addr"]) & netfmt.mask4(a["plen"])
        return "%s/%d" % (netfmt.ntoa(value), a["plen"])
    addr, sep, zone = a["addr"].partition("%")
    value = netfmt.pton6(addr) & (((1 << 128) - 1) ^ ((1 << (128 - a["plen"])) - 1))
    return "%s%s/%d" % (netfmt.ntop6(value), "%" + zone if sep else "", a["plen"])


def interface_rows(ifaces, o: Opts):
    """(name, mtu, network, address, stats, is_link) per getifaddrs entry, link rows first."""
    rows = []
    for ifp in ifaces:
        if o.iface and ifp["name"] != o.iface:
            continue
        name = ifp["name"] + ("" if ifp["flags"] & IFF_UP else "*")
        s = ifp["stats"]
        if o.af is None:
            address = ifp["mac"] if ifp["mac"] else (ifp["name"] if ifp["kind"] == "lo"
                                                      else "")
            rows.append((name, str(ifp["mtu"]), "<Link#%d>" % ifp["index"], address, s, True,
                         ifp))
        for a in ifp["addrs"]:
            if o.af and a["af"] != o.af:
                continue
            counted = {**dict.fromkeys(s, 0), **a.get("stats", {})}     # per address
            rows.append((name, "-", _network(a), a["addr"], counted, False, ifp))
    return rows


def show_interfaces(client, o: Opts, fmt) -> int:
    ifaces = client.sysctl("NET_RT_IFLIST")
    if o.iface and not any(i["name"] == o.iface for i in ifaces):
        sys.stderr.write(f"netstat: interface {o.iface} not found\n")
        return 1
    rows = interface_rows(ifaces, o)
    if fmt.encoded:
        entries = []
        for name, mtu, network, address, s, is_link, ifp in rows:
            e = {"name": ifp["name"], "flags": "0x%x" % ifp["flags"]}
            if is_link:
                e["mtu"] = ifp["mtu"]
            e.update({"network": network, "address": address,
                      "received-packets": s["ipackets"]})
            if is_link:
                e.update({"received-errors": s["ierrors"], "dropped-packets": s["iqdrops"]})
            if o.b:
                e["received-bytes"] = s["ibytes"]
            e["sent-packets"] = s["opackets"]
            if is_link:
                e["send-errors"] = s["oerrors"]
            if o.b:
                e["sent-bytes"] = s["obytes"]
            if is_link:
                e["collisions"] = s["collisions"]
            entries.append(e)
        libxo.emit({"statistics": {"interface-statistics": {"interface": entries}}}, fmt)
        return 0
    if o.W:
        wname = max([5] + [len(r[0]) for r in rows])
        six = any(r[6] and not r[5] and ":" in r[3] for r in rows)
        wnet, waddr = (24, 39) if six else (18, 17)
        cut = False
    else:
        wname, wnet, waddr, cut = 5, 13, 17, True

    def col(text, width, left=True):
        if cut:
            text = text[:width]
        return text.ljust(width) if left else text.rjust(width)

    head = [col("Name", wname), " ", col("Mtu", 5, False), " ", col("Network", wnet), " ",
            col("Address", waddr), " %8.8s %5.5s %5.5s" % ("Ipkts", "Ierrs", "Idrop")]
    if o.b:
        head.append(" %10.10s" % "Ibytes")
    head.append(" %8.8s %5.5s" % ("Opkts", "Oerrs"))
    if o.b:
        head.append(" %10.10s" % "Obytes")
    head.append(" %5s\n" % "Coll")
    out = ["".join(head)]
    for name, mtu, network, address, s, is_link, ifp in rows:
        dash = lambda v, is_link=is_link: str(v) if is_link else "-"     # noqa: E731
        line = [col(name, wname), mtu.rjust(6), " ", col(network, wnet), " ",
                col(address, waddr), " %8d %5s %5s" % (s["ipackets"], dash(s["ierrors"]),
                                                       dash(s["iqdrops"]))]
        if o.b:
            line.append(" %10d" % s["ibytes"])
        line.append(" %8d %5s" % (s["opackets"], dash(s["oerrors"])))
        if o.b:
            line.append(" %10d" % s["obytes"])
        line.append(" %5s\n" % dash(s["collisions"]))
        out.append("".join(line))
    sys.stdout.write("".join(out))
    return 0


@tool_command("netstat")
def command(ctx, args) -> int:
    """Show routes (-r), interfaces (-i), protocol statistics (-s) (FreeBSD netstat(1))."""
    gc.disable()        # a million decoded rows: the collector would scan them again and again
    try:
        fmt, args = libxo.parse(args, ctx.libxo, "netstat")
        o = parse(args)
    except ToolError as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.status
    client = ctx.client
    try:
        if o.i and not o.s:
            return show_interfaces(client, o, fmt)
        if o.r:
            return show_routes(client, o, fmt)
        return show_protocols(client, o, fmt)
    except OpError as exc:
        sys.stderr.write(f"netstat: {exc.msg}\n")
        return 1
    except BrokenPipeError:
        return 0
