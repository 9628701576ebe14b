"""`ndp`: FreeBSD 14's ndp(8) against a plebnet stack, as its default (netlink) build prints
(usr.sbin/ndp/ndp.c with ndp_netlink.c: the neighbor cache through RTM_GETNEIGH /
RTM_NEWNEIGH / RTM_DELNEIGH, the rest through ioctls and sysctls).

    ndp [-nt] hostname
    ndp [-nt] -a | -c | -p | -r | -H | -P | -R
    ndp [-nt] -d hostname
    ndp [-nt] -f filename
    ndp [-nt] -i interface [flags...]
    ndp [-nt] -I [interface|delete]
    ndp [-nt] -s nodename etheraddr [temp] [proxy]

Neighbor entries come from NET_RT_FLAGS (af inet6), the router and prefix lists from the
stack's ICMPV6CTL_ND6_DRLIST / ICMPV6CTL_ND6_PRLIST, -i from SIOCGIFINFO_IN6 and sets with
SIOCSIFINFO_IN6, -I with SIOCSDEFIFACE_IN6.  `ops_for` gives the rc.conf executor -s and -d
without a connection.  --libxo json/xml: ndp uses libxo (version "1").
"""
from __future__ import annotations

import math
import sys
import time

from plebproto.constants import (
    ENOENT, ND6_IFF_ACCEPT_RTADV, ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED,
    ND6_IFF_NO_PREFER_IFACE, ND6_IFF_PERFORMNUD, RTF_ANNOUNCE, RTF_GATEWAY, RTF_STATIC,
    strerror,
)

from . import libxo, netfmt
from .arp import route_to, set_file
from .common import OpError, StackTool, ToolError, getopt, tool_command

USAGE = "\n".join([
    "usage: ndp [-nt] hostname",
    "       ndp [-nt] -a | -c | -p | -r | -H | -P | -R",
    "       ndp [-nt] -A wait",
    "       ndp [-nt] -d hostname",
    "       ndp [-nt] -f filename",
    "       ndp [-nt] -i interface [flags...]",
    "       ndp [-nt] -I [interface|delete]",
    "       ndp [-nt] -s nodename etheraddr [temp] [proxy]",
])
XO_VERSION = "1"
W_ADDR, W_LL, W_IF = 36, 17, 6          # ndp.h
# ndp.c's state letters (ndp_netlink.c print_entry), by FreeBSD's ND6_LLINFO_* value
STATE_LETTERS = {0: "I", 1: "R", 2: "S", 3: "D", 4: "P"}
RTPREF = ["medium", "high", "rsv", "low"]
EAI_NONAME = "hostname nor servname provided, or not known"     # gai_strerror(EAI_NONAME)
# ifinfo(): the flags ndp -i names when setting (SETFLAG) and prints (in this order)
ND_FLAG_WORDS = [("disabled", ND6_IFF_IFDISABLED), ("nud", ND6_IFF_PERFORMNUD),
                 ("accept_rtadv", ND6_IFF_ACCEPT_RTADV),
                 ("auto_linklocal", ND6_IFF_AUTO_LINKLOCAL),
                 ("no_prefer_iface", ND6_IFF_NO_PREFER_IFACE)]
ND_VALUES = [("basereachable", "basereachable"), ("retrans", "retrans"),
             ("curhlim", "curhlim")]


class Usage(Exception):
    """usage(): the text goes to stdout (printf), status 1."""


def sec2str(total: int) -> str:
    """ndp.c sec2str: 1d2h3m4s, leading zero units left out."""
    days, hours = total // 86400, (total // 3600) % 24
    mins, secs = (total // 60) % 60, total % 60
    out, first = "", True
    if days:
        first = False
        out += f"{days}d"
    if not first or hours:
        first = False
        out += f"{hours}h"
    if not first or mins:
        out += f"{mins}m"
    return out + f"{secs}s"


def getaddr(host: str) -> str:
    """getaddrinfo(AF_INET6): numeric (with its %zone) or /etc/hosts; else ToolError with
    gai_strerror's text (the caller decides the status)."""
    from .route import _inet6
    found = _inet6(host)
    if found is None or netfmt.pton6(found.partition("%")[0]) is None:
        raise ToolError(f"ndp: {host}: {EAI_NONAME}", 1)
    addr, _, zone = found.partition("%")
    return netfmt.ntop6(netfmt.pton6(addr)) + (f"%{zone}" if zone else "")


def _is_ll(addr: str) -> bool:
    value = netfmt.pton6(addr.partition("%")[0])
    return value is not None and value >> 118 == 0xFE80 >> 6


class Opts:
    def __init__(self):
        self.mode: str | None = None
        self.arg: str | None = None
        self.nflag = self.tflag = False
        self.repeat = 0             # -A wait


def _atoi(text: str) -> int:
    """atoi(3): the leading decimal digits (with a sign), 0 when there are none."""
    digits = ""
    for i, ch in enumerate(text.strip()):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def parse(args: list[str]) -> tuple[Opts, list[str]]:
    """getopt("acd:f:Ii:nprstA:HPR"); a second mode is usage()."""
    o = Opts()
    try:
        found, rest = getopt(args, "acd:f:Ii:nprstA:HPR", "ndp", "", 1)
    except ToolError as exc:
        # getopt's complaint goes to stderr, usage() to stdout
        raise Usage(exc.message.rstrip("\n")) from None
    for c, value in found:
        if c == "n":
            o.nflag = True
        elif c == "t":
            o.tflag = True
        elif c == "f":
            o.mode, o.arg = "f", value      # exit(file(optarg)) at once
            return o, rest
        else:
            if o.mode is not None:
                raise Usage("")
            o.mode = "a" if c == "A" else c
            o.arg = value if c in "di" else None
            if c == "A":
                o.repeat = _atoi(value or "")
                if o.repeat < 0:
                    raise Usage("")
    return o, rest


def parse_set(words: list[str]) -> tuple[str, str, str | None, int, bool]:
    """set(): (host, address, mac or None when invalid, flags, temp)."""
    host, eaddr = words[0], words[1]
    addr = getaddr(host)
    mac = None
    parts = eaddr.split(":")
    try:
        if len(parts) == 6 and all(p for p in parts):
            mac = ":".join(f"{int(p, 16) & 0xFF:02x}" for p in parts)
    except ValueError:
        mac = None
    flags, temp = 0, False
    for word in words[2:]:
        if word.startswith("temp"):
            temp = True
        elif word.startswith("proxy"):
            flags |= RTF_ANNOUNCE
    return host, addr, mac, flags, temp


def set_op(addr: str, mac: str, flags: int, ifname: str | None) -> list:
    # ndp_netlink.c set_nl: NUD_PERMANENT with NTF_STICKY (NTF_PROXY for proxy); the
    # netlink build passes no expiry, so `temp` makes a permanent entry too
    args = {"type": "RTM_ADD", "af": "inet6", "addr": addr.partition("%")[0], "mac": mac,
            "flags": RTF_STATIC | flags}
    if ifname:
        args["ifname"] = ifname
    return ["llmsg", args]


def delete_op(addr: str, ifname: str | None) -> list:
    args = {"type": "RTM_DELETE", "af": "inet6", "addr": addr.partition("%")[0]}
    if ifname:
        args["ifname"] = ifname
    return ["llmsg", args]


def ops_for(argv: list[str]):
    """The batch ops of `ndp -s ...` / `ndp -d HOST` for the rc.conf executor (the interface
    is found by the stack from the address, or named by a link-local's %zone); None for the
    listings."""
    from .common import ToolOps
    try:
        o, words = parse(list(argv))
    except Usage as exc:
        raise ToolError((str(exc) + "\n" if str(exc) else "") + USAGE, 1) from None
    if o.mode == "s":
        if not 2 <= len(words) <= 4:
            raise ToolError(USAGE, 1)
        host, addr, mac, flags, _ = parse_set(words)
        if mac is None:
            raise ToolError(f"ndp: invalid Ethernet address '{words[1]}'", 1)
        zone = addr.partition("%")[2] or None
        return ToolOps([set_op(addr, mac, flags, zone)], [f"set {host}"])
    if o.mode == "d":
        if words:
            raise ToolError(USAGE, 1)
        addr = getaddr(o.arg or "")
        zone = addr.partition("%")[2] or None
        return ToolOps([delete_op(addr, zone) + [[ENOENT]]], [f"delete {o.arg}"])
    return None


def failure(ops, index: int, errno: int) -> tuple[str, str, int]:
    """What ndp prints when op `index` failed (set_nl / delete_nl's warnx)."""
    return "", f"ndp: {ops.labels[index]}: {strerror(errno)}\n", 1


# -- the neighbor cache (ndp_netlink.c print_entries_nl, print_entry) -------------------------
def entry_fields(e: dict) -> dict:
    """One entry's libxo fields, in print order."""
    f = {"address": e["addr"], "mac-address": e.get("mac") or "(incomplete)",
         "interface": e["ifname"]}
    expire = e.get("expire")
    if expire is None:
        f["permanent"] = True
    else:
        f["expires_sec"] = math.ceil(expire)
    f["neighbor-state"] = STATE_LETTERS.get(e.get("state"), "N")
    f["nd-flags"] = ("R" if e.get("router") else "") + ("p" if e["flags"] & RTF_ANNOUNCE
                                                       else "")
    if e.get("probes"):
        f["probes"] = e["probes"]
    return f


def header() -> str:
    return "%-*.*s %-*.*s %*.*s %-9.9s %1s %5s\n" % (
        W_ADDR, W_ADDR, "Neighbor", W_LL, W_LL, "Linklayer Address", W_IF, W_IF, "Netif",
        "Expire", "S", "Flags")


def entry_line(f: dict) -> str:
    host, ll, ifname = f["address"], f["mac-address"], f["interface"]
    # the columns lend each other what a long value takes beyond its width
    addrwidth = max(len(host), W_ADDR)
    llwidth = max(len(ll), W_ADDR + W_LL - addrwidth)
    ifwidth = max(len(ifname), W_ADDR + W_LL + W_IF - addrwidth - llwidth)
    text = "%-*.*s %-*.*s %*.*s" % (addrwidth, addrwidth, host, llwidth, llwidth, ll,
                                    ifwidth, ifwidth, ifname)
    if f.get("permanent"):
        word = "permanent"
    elif f["expires_sec"] > 0:
        word = sec2str(f["expires_sec"])
    else:
        word = "expired"
    text += " %-9.9s" % word
    text += f" {f['neighbor-state']} {f['nd-flags']}"
    if f.get("probes"):
        text += f" {f['probes']}"
    return text + "\n"


def _ts() -> str:
    """ts_print: -t's time of day (local) before each entry."""
    now = time.time()
    sec = int(now + time.localtime(now).tm_gmtoff) % 86400
    return "%02d:%02d:%02d.%06u " % (sec // 3600, (sec % 3600) // 60, sec % 60,
                                     int((now % 1) * 1e6))


class Ndp(StackTool):
    def __init__(self, ctx, o: Opts, fmt):
        super().__init__(ctx)
        self.o, self.fmt = o, fmt
        self.doc: dict = {}             # the libxo "ndp" container

    def out(self, text: str) -> None:
        if not self.fmt.encoded:
            sys.stdout.write(text)

    def warn(self, text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(f"ndp: {text}\n")

    def finish(self) -> None:
        if self.fmt.encoded:
            libxo.emit({"__version": XO_VERSION, "ndp": self.doc}, self.fmt)

    # -- neighbors ----------------------------------------------------------------------------
    def entries(self) -> list:
        return self.client.call("sysctl", {"name": "NET_RT_FLAGS", "af": "inet6"})

    def dump(self, addr: str | None, cflag: bool) -> int:
        if not self.o.tflag and not cflag:
            self.out(header())
        listed = self.doc.setdefault("neighbor-cache", [])
        count = 0
        for e in self.entries():
            if addr is not None and e["addr"] != addr:
                continue
            f = entry_fields(e)
            listed.append(f)
            self.out((_ts() if self.o.tflag else "") + entry_line(f))
            if cflag:
                plain = e["addr"].partition("%")[0]
                self.delete(plain, e["ifname"])
            count += 1
        return count

    def get(self, host: str) -> int:
        try:
            addr = getaddr(host)
        except ToolError as exc:
            self.warn(exc.message[len("ndp: "):])
            return 0
        if self.dump(addr, False) == 0:
            self.finish()
            self.warn(f"{host} ({addr}) -- no entry")
            return 1
        return 0

    def locate(self, addr: str) -> str | None:
        """guess_ifindex: a link-local's zone; else the interface of the route to addr,
        which must be an interface route out of an Ethernet-like interface (or an
        address of this host on one)."""
        plain, _, zone = addr.partition("%")
        if _is_ll(plain):
            return zone or None
        if netfmt.pton6(plain) >> 120 == 0xFF:
            return None
        r = route_to(self.client, "inet6", plain)
        if r is None or r["flags"] & RTF_GATEWAY:
            return None
        kinds = {i["name"]: i["kind"] for i in self.ifaces()}
        if kinds.get(r["ifname"]) in netfmt.ETHER_KINDS:
            return r["ifname"]
        for i in self.ifaces():         # the loopback route of one of our addresses
            if i["kind"] in netfmt.ETHER_KINDS and any(
                    a["af"] == "inet6" and a["addr"].partition("%")[0] == plain
                    for a in i["addrs"]):
                return i["name"]
        return None

    def delete(self, host: str, ifname: str | None = None) -> int:
        """delete_nl: HOST (ADDR) deleted, or a warning; its status never reaches the exit
        status of -d (main() ignores it)."""
        try:
            addr = getaddr(host)
        except ToolError as exc:
            self.warn(exc.message[len("ndp: "):])
            return 1
        ifname = ifname or self.locate(addr)
        if ifname is None:
            self.warn(f"delete: cannot locate {host}")
            return 0
        try:
            self.client.call(*delete_op(addr, ifname))
        except OpError as exc:
            self.warn(f"delete {host}: {strerror(exc.errno)}")
            return 1
        plain = addr.partition("%")[0]
        self.doc.setdefault("neighbor-cache", []).append(
            {"hostname": host, "address": plain, "interface": ifname})
        self.out(f"{host} ({addr}) deleted\n")
        return 0

    def set(self, words: list[str]) -> int:
        try:
            host, addr, mac, flags, _ = parse_set(words)
        except ToolError as exc:
            self.warn(exc.message[len("ndp: "):])
            return 1
        if mac is None:
            # ndp_ether_aton warns; set() goes on with an empty link-layer address,
            # which the kernel refuses
            self.warn(f"invalid Ethernet address '{words[1]}'")
        ifname = self.locate(addr)
        if ifname is None:
            self.warn(f"delete: cannot locate {host}")      # (set_nl's own wording)
            return 0
        if mac is None:
            self.warn(f"set {host}: {strerror(22)}")
            return 1
        try:
            self.client.call(*set_op(addr, mac, flags, ifname))
        except OpError as exc:
            self.warn(f"set {host}: {strerror(exc.errno)}")
            return 1
        return 0

    # -- interfaces ------------------------------------------------------------------------------
    def ifinfo(self, ifname: str, argv: list[str]) -> int:
        try:
            nd = self.client.call("sysctl", {"name": "SIOCGIFINFO_IN6", "ifname": ifname})
        except OpError as exc:
            raise ToolError(f"ndp: ioctl(SIOCGIFINFO_IN6): {strerror(exc.errno)}", 1) from None
        newflags = nd["flags"]
        ops = []
        for word in argv:
            clear = word.startswith("-")
            cp = word[1:] if clear else word
            for name, bit in ND_FLAG_WORDS:
                if cp == name:
                    newflags = newflags & ~bit if clear else newflags | bit
            values = {}
            for prefix, field in ND_VALUES:
                # SETVALUE matches the start of the word ("nud" matches "nudbogus" too)
                if cp.startswith(prefix):
                    _, eq, text = cp.partition("=")
                    if not eq:
                        # xo_err appends strerror(errno); errno is still 0 here, which
                        # FreeBSD's libc words "No error: 0"
                        raise ToolError(f"ndp: syntax error in {prefix} field: "
                                        "No error: 0", 1)
                    values[field] = netfmt.strtol0(text) or 0
            old = nd["flags"] if not ops else ops[-1][1]["_flags"]
            ops.append(["ioctl", {"req": "SIOCSIFINFO_IN6", "ifname": ifname,
                                  "set": newflags & ~old, "clear": old & ~newflags,
                                  **values, "_flags": newflags}])
        for op in ops:
            del op[1]["_flags"]
            try:
                self.client.call(*op)
            except OpError as exc:
                raise ToolError(f"ndp: ioctl(SIOCSIFINFO_IN6): {strerror(exc.errno)}",
                                1) from None
        if not nd.get("initialized", True):
            raise ToolError(f"ndp: {ifname}: not initialized yet", 1)
        nd = self.client.call("sysctl", {"name": "SIOCGIFINFO_IN6", "ifname": ifname})
        base, retrans = nd["basereachable"], nd["retrans"]
        info = {"interface": ifname, "linkmtu": nd["linkmtu"], "maxmtu": nd["maxmtu"],
                "curhlim": nd["curhlim"], "basereachable_ms": base,
                "reachable_ms": nd["reachable"] * 1000, "retrans_ms": retrans}
        text = (f"linkmtu={nd['linkmtu']}, maxmtu={nd['maxmtu']}, curhlim={nd['curhlim']}"
                f", basereachable={base // 1000}s{base % 1000}ms"
                f", reachable={nd['reachable']}s"
                f", retrans={retrans // 1000}s{retrans % 1000}ms")
        if nd["flags"]:
            words = [name for name, bit in ND_FLAG_WORDS if nd["flags"] & bit]
            info["flags"] = nd["flags"]
            info["flags_pretty"] = words
            text += "\nFlags: " + "".join(f"{w} " for w in words)
        self.doc["ifinfo"] = info
        self.out(text + "\n")
        return 0

    def defif(self, words: list[str]) -> int:
        if len(words) > 1:
            raise Usage("")
        if words:
            name = words[0]
            if name != "delete" and not any(i["name"] == name for i in self.ifaces()):
                raise ToolError(f"ndp: invalid interface {name}", 1)
            try:
                self.client.call("ioctl", {"req": "SIOCSDEFIFACE_IN6",
                                           "ifname": None if name == "delete" else name})
            except OpError as exc:
                raise ToolError(f"ndp: ioctl(SIOCSDEFIFACE_IN6): {strerror(exc.errno)}",
                                1) from None
        r = self.client.call("sysctl", {"name": "SIOCGDEFIFACE_IN6"})
        if not r["ifindex"]:
            self.out("No default interface.\n")
        else:
            self.doc["default-interface"] = r["ifname"]
            self.out(f"ND default interface = {r['ifname']}\n")
        return 0

    # -- routers and prefixes ------------------------------------------------------------------
    def rtrlist(self) -> int:
        routers = self.client.call("sysctl", {"name": "ICMPV6CTL_ND6_DRLIST"})
        if not routers:
            return 0
        listed = self.doc.setdefault("router-list", [])
        for r in routers:
            flags, pretty = "", []
            if r["flags"] & 0x80:
                flags += "M"
                pretty.append("managed")
            if r["flags"] & 0x40:
                flags += "O"
                pretty.append("other")
            pref = RTPREF[(r["flags"] & 0x18) >> 3]
            addr = r["addr"]
            # the e-field address: inet_ntop's (no zone) unless -n
            item = {"hostname": addr,
                    "address": addr if self.o.nflag else addr.partition("%")[0],
                    "interface": r["ifname"], "flags_pretty": pretty, "flags": flags,
                    "preference": pref}
            text = f"{addr} if={r['ifname']}, flags={flags}, pref={pref}"
            if r["expire"] is None:
                item["permanent"] = True
                text += ", expire=Never\n"
            else:
                item["expires_sec"] = r["expire"]
                text += f", expire={sec2str(r['expire'])}\n"
            listed.append(item)
            self.out(text)
        return 0

    def plist(self) -> int:
        prefixes = self.client.call("sysctl", {"name": "ICMPV6CTL_ND6_PRLIST"})
        listed = self.doc.setdefault("prefix-list", [])
        for p in prefixes:
            flags, pretty = "", []
            for on, letter, word in ((p["onlink"], "L", "ra_onlink"),
                                     (p["autonomous"], "A", "ra_autonomous"),
                                     (p["is_onlink"], "O", "is_onlink"),
                                     (p["detached"], "D", "is_detached")):
                if on:
                    flags += letter
                    pretty.append(word)
            item = {"prefix": f"{p['prefix']}/{p['plen']}", "interface": p["ifname"],
                    "flags_pretty": pretty, "flags": flags,
                    "valid-lifetime": p["vltime"], "preferred-lifetime": p["pltime"]}
            text = f"{p['prefix']}/{p['plen']} if={p['ifname']}\nflags={flags}"
            text += (" vltime=infinity" if p["vltime"] == 0xFFFFFFFF
                     else f" vltime={p['vltime']}")
            text += (", pltime=infinity" if p["pltime"] == 0xFFFFFFFF
                     else f", pltime={p['pltime']}")
            expire = p["expire"]
            if expire is None:
                item["permanent"] = True
                text += ", expire=Never"
            elif expire >= 0:
                item["expires"] = sec2str(expire)
                item["expires_sec"] = expire
                text += f", expire={sec2str(expire)}"
            else:
                item["expires_sec"] = expire
                text += ", expired"
            item["refcount"] = p["refcnt"]
            text += f", ref={p['refcnt']}\n"
            if p["advrtrs"]:
                text += "  advertised by\n"
                routers = item["advertising-routers"] = []
                for r in p["advrtrs"]:
                    state = r["state"]
                    if state is None:
                        word = "no neighbor state"
                    elif state in (1, 2, 3, 4):     # REACHABLE, STALE, DELAY, PROBE
                        word = "reachable"
                    else:
                        word = "unreachable"
                    routers.append({"hostname": r["addr"],
                                    "address": r["addr"].partition("%")[0],
                                    "state": word})
                    text += f"    {r['addr']} ({word})\n"
            else:
                text += "  No advertising router\n"
            listed.append(item)
            self.out(text)
        return 0


@tool_command("ndp")
def command(ctx, args) -> int:
    """Show and change the IPv6 neighbor cache, routers and prefixes (FreeBSD ndp(8))."""
    try:
        fmt, args = libxo.parse(args, ctx.libxo, "ndp")
        o, words = parse(args)
        ndp = Ndp(ctx, o, fmt)
        mode = o.mode
        if mode == "f":
            return set_file(o.arg or "", "ndp", ndp.set)
        if mode == "s":
            if not 2 <= len(words) <= 4:
                raise Usage("")
            return ndp.set(words)
        if mode in ("a", "c", "d", "p", "r", "H", "P", "R") and words:
            raise Usage("")
        status = 0
        if mode == "a" and o.repeat > 0:
            while True:             # -A wait: the table again every `wait` seconds
                ndp.dump(None, False)
                ndp.out("\n")
                sys.stdout.flush()
                time.sleep(o.repeat)
        if mode in ("a", "c"):
            ndp.dump(None, mode == "c")
        elif mode == "d":
            ndp.delete(o.arg or "")
        elif mode == "I":
            ndp.defif(words)
        elif mode == "p":
            ndp.plist()
        elif mode == "i":
            ndp.ifinfo(o.arg or "", words)
        elif mode == "r":
            ndp.rtrlist()
        elif mode in ("H", "P", "R"):
            try:
                ndp.client.call("ioctl", {"req": _FLUSH[mode]})
            except OpError as exc:
                raise ToolError(f"ndp: ioctl({_FLUSH[mode]}): {strerror(exc.errno)}",
                                1) from None
        else:
            if len(words) != 1:
                raise Usage("")
            status = ndp.get(words[0])
            if status:
                return status
        ndp.finish()
        return status
    except Usage as exc:
        sys.stdout.flush()
        if str(exc):
            sys.stderr.write(str(exc) + "\n")
        sys.stdout.write(USAGE + "\n")
        return 1
    except ToolError as exc:
        sys.stdout.flush()
        sys.stderr.write(exc.message + "\n")
        return exc.status


_FLUSH = {"H": "SIOCSNDFLUSH_IN6", "P": "SIOCSPFXFLUSH_IN6", "R": "SIOCSRTRFLUSH_IN6"}
