"""`netstat -r` / `netstat -i`: FreeBSD 14's routing table and interface listings (spec §4).

The routing dump is streamed from the stack (NET_RT_DUMP, radix walk order) and formatted a
chunk at a time straight into large writes: a million routes is the expected size.
"""
from __future__ import annotations

import gc
import sys

from plebconf.rpc.constants import IFF_UP, RTF_GATEWAY, RTF_HOST, RTF_UP

from . import netfmt
from .common import RpcError, ToolError, getopt, strip_libxo, tool_command

FAMILIES = {"inet": "inet", "inet6": "inet6"}
FAMILY_TITLE = {"inet": "Internet", "inet6": "Internet6"}
USAGE = ("usage: netstat [-46AaLnRSTWx] [-f protocol_family | -p protocol]\n"
         "       netstat -i | -I interface [-46abdhnW] [-f address_family]\n"
         "       netstat -r [-46AnW] [-F fibnum] [-f address_family]")
OPTS_WITH_VALUE = "fFIpMNqw"
FLAGS = "abinrW"                # the switches kept in Opts (same-named attributes)
# getopt(3) string: the switches above, the value options, and ones accepted but unused here
GETOPT = "46AdhLRSTx" + FLAGS + "".join(c + ":" for c in OPTS_WITH_VALUE)


class Opts:
    def __init__(self):
        self.r = self.i = self.n = self.W = self.b = self.a = False
        self.af: str | None = None
        self.fib = 0
        self.iface: str | None = None


def parse(args: list[str]) -> Opts:
    o = Opts()
    found, rest = getopt(args, GETOPT, "netstat", USAGE, 64)
    if rest:
        raise ToolError(USAGE, 64)
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
        elif c in FLAGS:
            setattr(o, c, True)
    if not (o.r or o.i):
        raise ToolError("netstat: only the routing table (-r) and interface (-i) "
                        "displays are available", 1)
    return o


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


def dst_text(dst: str, plen: int, flags: int, ifname: str) -> str:
    if plen == 0:
        return "default"
    if "%" in dst:
        dst = netfmt.rescope(dst, ifname)
    if flags & RTF_HOST:
        return dst
    return f"{dst}/{plen}"


def gw_text(gw: str, flags: int, ifname: str, ifindex: dict) -> str:
    """14.x netlink netstat: an interface route's gateway is link#<output interface>."""
    if flags & RTF_GATEWAY:
        return netfmt.rescope(gw, ifname) if "%" in gw else gw
    return "link#%d" % ifindex.get(ifname, 0)


def format_routes(rows, family: str, o: Opts, ifindex: dict) -> str:
    """The rows' lines, joined: the per-row work is kept to one %-format in the common case
    (a million rows is the expected size)."""
    wd, wg, wf, wi, we = route_widths(family, o)
    letters = netfmt.flag_letters
    cache = netfmt._letters_cache
    out = []
    append = out.append
    truncate = not (o.n or o.W)
    fast = not truncate and not o.W
    simple = "%%-%ds %%-%ds %%-%ds %%%d.%ds" % (wd, wg, wf, wi, wi)
    net_row = "%%s/%%-*d %%-%ds %%-%ds %%%d.%ds" % (wg, wf, wi, wi)   # dst/plen padded as one
    pad = wd - 1
    link = {name: "link#%d" % idx for name, idx in ifindex.items()}
    for fam, dst, plen, gw, flags, ifname, expire, mtu, weight, nhidx in rows:
        f = cache.get(flags | 1) or letters(flags | 1)
        if fast and flags & 6 == 2 and plen and len(dst) <= wd - 4 \
                and len(gw) <= wg and "%" not in dst:
            # the common row: a gateway route to a network, every field within its column
            line = net_row % (dst, pad - len(dst), plen, gw, f, ifname)
            if expire > 0:
                line += " %*d" % (we, expire)
            append(line)
            continue
        if plen == 0:
            d = "default"
        elif flags & RTF_HOST:
            d = dst if "%" not in dst else netfmt.rescope(dst, ifname)
        elif "%" not in dst:
            d = "%s/%d" % (dst, plen)
        else:
            d = "%s/%d" % (netfmt.rescope(dst, ifname), plen)
        if not flags & RTF_GATEWAY:
            g = link.get(ifname) or "link#0"
        elif "%" in gw:
            g = netfmt.rescope(gw, ifname)
        else:
            g = gw
        if truncate:
            line = "%-*.*s %-*.*s %-*s %*.*s" % (wd, wd, d, wg, wg, g, wf, f, wi, wi, ifname)
        elif fast and len(d) <= wd and len(g) <= wg:
            line = simple % (d, g, f, ifname)
        else:
            prot = max(0, len(d) - wd)
            gwidth = wg - prot
            prot = max(0, len(g) - max(gwidth, 0))
            line = "%-*s %-*s %-*s " % (wd, d, max(gwidth, 0), g, max(wf - prot, 0), f)
            if o.W:
                line += "%*d %*s %*s" % (6, nhidx, 6, mtu or "", wi, ifname)
            else:
                line += "%*.*s" % (wi, wi, ifname)
        if expire > 0:
            line += " %*d" % (we, expire)
        append(line)
    out.append("")
    return "\n".join(out)


def route_json_entry(row, ifindex: dict, o: Opts) -> dict:
    _, dst, plen, gw, flags, ifname, expire, mtu, weight, nhidx = row
    entry = {"destination": dst_text(dst, plen, flags, ifname),
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
    return entry


def show_routes(client, o: Opts, fmt) -> int:
    ifindex = {i["name"]: i["index"] for i in client.sysctl("NET_RT_IFLIST")}
    args = {"name": "NET_RT_DUMP"}
    if o.af:
        args["af"] = o.af
    if fmt == "json":
        families: list = []
        for chunk in client.stream("sysctl", args):
            for row in chunk:
                if not families or families[-1]["address-family"] != FAMILY_TITLE[row[0]]:
                    families.append({"address-family": FAMILY_TITLE[row[0]], "rt-entry": []})
                families[-1]["rt-entry"].append(route_json_entry(row, ifindex, o))
        import json
        doc = {"statistics": {"route-information": {"route-table": {"rt-family": families}}}}
        sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    write = sys.stdout.write
    write("Routing tables\n")
    family = None
    for chunk in client.stream("sysctl", args):
        if not chunk:
            continue
        start = 0
        n = len(chunk)
        while start < n:
            fam = chunk[start][0]
            if chunk[-1][0] == fam:         # families come one after the other
                end = n
            else:
                end = start
                while end < n and chunk[end][0] == fam:
                    end += 1
            if fam != family:
                family = fam
                write("\n%s:\n" % FAMILY_TITLE[fam])
                write(route_header(fam, o))
            write(format_routes(chunk[start:end] if start or end < n else chunk, fam, o,
                                ifindex))
            start = end
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
    if fmt == "json":
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
        import json
        doc = {"statistics": {"interface-statistics": {"interface": entries}}}
        sys.stdout.write(json.dumps(doc) + "\n")
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
        dash = lambda v: str(v) if is_link else "-"     # noqa: E731
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
    """Show the routing table (-r) and interfaces (-i) (FreeBSD netstat(1))."""
    gc.disable()        # a million decoded rows: the collector would scan them again and again
    fmt, args = strip_libxo(args, ctx.libxo)
    try:
        o = parse(args)
    except ToolError as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.status
    client = ctx.client
    try:
        if o.i:
            return show_interfaces(client, o, fmt)
        return show_routes(client, o, fmt)
    except RpcError as exc:
        sys.stderr.write(f"netstat: {exc.msg}\n")
        return 1
    except BrokenPipeError:
        return 0
