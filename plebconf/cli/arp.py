"""`arp`: FreeBSD 14's arp(8) against a plebnet stack (docs/freebsd-tools.md §3).

    arp [-n] [-i interface] hostname | -a
    arp -d hostname | -d [-i interface] -a
    arp -s|-S hostname ether_addr [temp] [reject | blackhole] [pub [only]]
    arp -f filename

`ops_for` gives the rc.conf executor the ops of -s/-S/-d without a connection; `command`
runs against the live table (NET_RT_FLAGS) and prints what 14.x's netlink arp prints.
"""
from __future__ import annotations

import math
import sys

from plebproto.constants import (
    ENETUNREACH, ENOENT, ESRCH, IFF_LOOPBACK, IFF_NOARP, IFF_POINTOPOINT, IFF_UP,
    RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_GATEWAY, RTF_PINNED, RTF_REJECT, RTF_STATIC, strerror,
)

from . import libxo, netfmt
from .common import OpError, StackTool, ToolError, getopt, tool_command

USAGE = "\n".join([
    "usage: arp [-n] [-i interface] hostname",
    "       arp [-n] [-i interface] -a",
    "       arp -d hostname [pub]",
    "       arp -d [-i interface] -a",
    "       arp -s hostname ether_addr [temp] [reject | blackhole] [pub [only]]",
    "       arp -S hostname ether_addr [temp] [reject | blackhole] [pub [only]]",
    "       arp -f filename",
])
XO_VERSION = "1"
# getopt letter -> the function it selects (a second one is a usage error)
FUNCS = {"d": "delete", "s": "set", "S": "replace", "f": "file"}


def usage_error() -> ToolError:
    return ToolError(USAGE, 1)


class Opts:
    def __init__(self):
        self.func: str | None = None
        self.all = False
        self.numeric = False
        self.ifname: str | None = None


def parse(args: list[str]) -> tuple[Opts, list[str]]:
    """getopt("andfsSi:"): options up to the first operand."""
    o = Opts()
    found, rest = getopt(args, "andfsSi:", "arp", USAGE, 1)
    for c, value in found:
        if c == "a":
            o.all = True
        elif c == "n":
            o.numeric = True
        elif c == "i":
            o.ifname = value
        else:
            if o.func is not None:
                raise usage_error()
            o.func = FUNCS[c]
    o.func = o.func or "get"
    if o.ifname and o.func != "get" and not (o.func == "delete" and o.all):
        raise ToolError("arp: -i not applicable to this operation", 1)
    return o, rest


def getaddr(host: str) -> str:
    """inet_addr, then /etc/hosts; failure is hstrerror's `Unknown host`."""
    value = netfmt.inet_aton(host)
    if value is None:
        from .route import _hosts
        found = _hosts(host, "inet")
        if found is None:
            raise ToolError(f"arp: {host}: Unknown host", 1)
        value = netfmt.inet_aton(found)
    return netfmt.ntoa(value)


class SetRequest:
    def __init__(self, host, ip, mac, flags, temp, auto):
        self.host, self.ip, self.mac, self.flags, self.temp, self.auto = (
            host, ip, mac, flags, temp, auto)

    def op(self, mac: str | None = None) -> list:
        args = {"type": "RTM_ADD", "af": "inet", "addr": self.ip, "mac": mac or self.mac,
                "flags": self.flags}
        if self.temp:
            args["temp"] = True
        return ["llmsg", args, [ENETUNREACH]]


def parse_set(words: list[str]) -> SetRequest:
    """set(): host, ether_addr, then temp / pub [only] / blackhole / reject."""
    host, eaddr, rest = words[0], words[1], words[2:]
    ip = getaddr(host)
    flags, temp = RTF_STATIC, False
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "temp":
            temp = True
        elif word == "pub":
            flags |= RTF_ANNOUNCE
            if i + 1 < len(rest) and rest[i + 1] == "only":
                i += 1
        elif word in ("blackhole", "reject"):
            other = RTF_REJECT if word == "blackhole" else RTF_BLACKHOLE
            if flags & other:
                raise ToolError("arp: Choose one of blackhole or reject, not both.", 1)
            flags |= RTF_BLACKHOLE if word == "blackhole" else RTF_REJECT
        else:
            raise ToolError(f"arp: Invalid parameter '{word}'\n{USAGE}", 1)
        i += 1
    auto = bool(flags & RTF_ANNOUNCE) and eaddr == "auto"
    mac = None
    if not auto:
        raw = netfmt.ether_aton(eaddr)
        if raw is None:
            raise ToolError(f"arp: invalid Ethernet address '{eaddr}'", 1)
        mac = netfmt.mac_text(raw)
    return SetRequest(host, ip, mac, flags, temp, auto)


def delete_op(ip: str, ifname: str | None = None, tolerate=None) -> list:
    args = {"type": "RTM_DELETE", "af": "inet", "addr": ip}
    if ifname:
        args["ifname"] = ifname
    return ["llmsg", args] + ([tolerate] if tolerate else [])


class _Labels:
    def __init__(self, labels):
        self.labels = labels


def failure(ops, index: int, errno: int) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) arp(8) prints when op `index` of ops failed (or was
    tolerated with this errno).  ENETUNREACH is 14.x's `cannot locate`, with status 0."""
    label = ops.labels[index]
    if errno == ENETUNREACH:
        host = label.split(" ", 1)[1]
        return "", f"arp: delete: cannot locate {host}\n", 0
    return "", f"arp: {label}: {strerror(errno)}\n", 1


def ops_for(argv: list[str]):
    """The batch ops of `arp ARGV` (argv: the words after `arp`) without a connection:
    -s (set), -S (delete tolerating ENOENT/ESRCH, then set), -d HOST.  None for the listings,
    -d -a and -f.  Grammar errors raise ToolError(message, status).  Each op tolerates
    ENETUNREACH (14.x prints `cannot locate` and exits 0): render a tolerated or failed op's
    errno with failure(ops, i, errno).  labels[i] is op i's message prefix."""
    from .common import ToolOps
    o, words = parse(list(argv))
    if o.func in ("set", "replace"):
        if not 2 <= len(words) <= 6:
            raise usage_error()
        req = parse_set(words)
        if req.auto:
            raise ToolError(f"arp: {req.host}: 'auto' needs the interface list; "
                            f"run arp itself", 1)
        ops, labels = [], []
        if o.func == "replace":
            ops.append(delete_op(req.ip, tolerate=[ENOENT, ESRCH, ENETUNREACH]))
            labels.append(f"delete {req.host}")
        ops.append(req.op())
        labels.append(f"set {req.host}")
        return ToolOps(ops, labels)
    if o.func == "delete" and not o.all:
        if len(words) != 1:
            raise usage_error()
        ip = getaddr(words[0])
        return ToolOps([delete_op(ip, o.ifname)], [f"delete {words[0]}"],
                       [f"{words[0]} ({ip}) deleted"])
    if o.all and words:
        raise usage_error()
    if o.func == "get" and not o.all and len(words) != 1:
        raise usage_error()
    if o.func == "file" and len(words) != 1:
        raise usage_error()
    return None


# -- display (docs/freebsd-tools.md §3.2) ----------------------------------------------------------
def entry_fields(e: dict, kinds: dict) -> dict:
    """The libxo fields of one entry, in print order."""
    f = {"hostname": "?", "ip-address": e["addr"]}
    if e.get("mac"):
        f["mac-address"] = e["mac"]
    else:
        f["incomplete"] = True
    f["interface"] = e["ifname"]
    expire = e.get("expire")
    if expire is None:
        f["permanent"] = True
    else:
        left = math.ceil(expire)
        if left > 0:
            f["expires"] = left
        else:
            f["expired"] = True
    if e["flags"] & RTF_ANNOUNCE:
        f["published"] = True
    kind = netfmt.ARP_TYPES.get(kinds.get(e["ifname"]))
    if kind is not None:
        f["type"] = kind
    return f


def entry_line(f: dict) -> str:
    text = "%s (%s) at %s on %s" % (f["hostname"], f["ip-address"],
                                     f.get("mac-address", "(incomplete)"), f["interface"])
    if f.get("permanent"):
        text += " permanent"
    elif "expires" in f:
        text += " expires in %d seconds" % f["expires"]
    else:
        text += " expired"
    if f.get("published"):
        text += " published"
    if "type" in f:
        text += " [%s]" % f["type"]
    return text + "\n"


class Arp(StackTool):
    def __init__(self, ctx, o: Opts, fmt):
        super().__init__(ctx)
        self.o, self.fmt = o, fmt

    def check_ifname(self):
        if self.o.ifname and not any(i["name"] == self.o.ifname for i in self.ifaces()):
            raise ToolError(f"arp: interface {self.o.ifname} does not exist", 1)

    def entries(self) -> list:
        args = {"name": "NET_RT_FLAGS", "af": "inet"}
        if self.o.ifname:
            args["ifname"] = self.o.ifname
        return self.client.call("sysctl", args)

    def show(self, entries: list, no_entry: str | None = None) -> None:
        kinds = {i["name"]: i["kind"] for i in self.ifaces()}
        fields = [entry_fields(e, kinds) for e in entries]
        if self.fmt.encoded:
            libxo.emit({"__version": XO_VERSION, "arp": {"arp-cache": fields}}, self.fmt)
            return
        sys.stdout.write("".join(entry_line(f) for f in fields))
        if no_entry and not fields:
            sys.stdout.write(no_entry)

    def get(self, host: str) -> int:
        ip = getaddr(host)
        found = [e for e in self.entries() if e["addr"] == ip]
        suffix = f" on {self.o.ifname}" if self.o.ifname else ""
        self.show(found, f"{host} ({ip}) -- no entry{suffix}\n")
        return 0 if found else 1

    def locate(self, ip: str) -> bool:
        """14.x's guess_ifindex: the longest match must be an interface (non-gateway) route."""
        r = route_to(self.client, "inet", ip)
        return r is not None and not r["flags"] & RTF_GATEWAY

    def delete(self, host: str) -> int:
        ip = getaddr(host)
        if not self.o.ifname and not self.locate(ip):
            sys.stderr.write(f"arp: delete: cannot locate {host}\n")
            return 0
        try:
            self.client.call(*delete_op(ip, self.o.ifname))
        except OpError as exc:
            sys.stderr.write(f"arp: delete {host}: {strerror(exc.errno)}\n")
            return 1
        sys.stdout.write(f"{host} ({ip}) deleted\n")
        return 0

    def nuke(self) -> int:
        victims = [e for e in self.entries() if not e["flags"] & RTF_PINNED]
        if not victims:
            return 0
        ops = [delete_op(e["addr"], e["ifname"], [ENOENT]) for e in victims]
        results = self.client.batch(ops)
        sys.stdout.write("".join(f"{e['addr']} ({e['addr']}) deleted\n"
                                 for e, r in zip(victims, results)
                                 if not (isinstance(r, dict) and r.get("errno"))))
        return 0

    def auto_mac(self, req: SetRequest) -> str | None:
        ip = netfmt.inet_aton(req.ip)
        for ifp in self.ifaces():
            flags = ifp["flags"]
            if not flags & IFF_UP or flags & (IFF_LOOPBACK | IFF_NOARP | IFF_POINTOPOINT):
                continue
            for a in ifp["addrs"]:
                if a["af"] != "inet" or not ifp["mac"]:
                    continue
                mask = netfmt.mask4(a["plen"])
                if netfmt.inet_aton(a["addr"]) & mask == ip & mask:
                    sys.stdout.write(f"using interface {ifp['name']} for proxy with address "
                                     f"{ifp['mac']}\n")
                    return ifp["mac"]
        return None

    def set(self, words: list[str]) -> int:
        req = parse_set(words)
        mac = req.mac
        if req.auto:
            mac = self.auto_mac(req)
            if mac is None:
                sys.stderr.write(f"arp: no interface found for {req.ip}\n")
                return 1
        op = req.op(mac)
        try:
            self.client.call(op[0], op[1])
        except OpError as exc:
            out, err, status = failure(_Labels([f"set {req.host}"]), 0, exc.errno)
            sys.stderr.write(err)
            return status
        return 0

    def file(self, name: str) -> int:
        return set_file(name, "arp", self.set)


def set_file(name: str, tool: str, set_words) -> int:
    """arp -f / ndp -f: each line `host ether_addr [flags...]` (up to five words, `#`
    comments) through set_words(words) -> status; 1 if any line failed.  A file that won't
    open is `TOOL: cannot open NAME: strerror` and status 1."""
    try:
        f = open(name)
    except OSError as exc:
        raise ToolError(f"{tool}: cannot open {name}: {exc.strerror}", 1) from None
    status = 0
    with f:
        for line in f:
            text = line.split("#", 1)[0]
            if not text.strip():
                continue
            words = text.split()[:5]
            if len(words) < 2:
                # warnx adds its newline to the line's own
                sys.stderr.write(f"{tool}: bad line: {text}"
                                 + ("\n" if not text.endswith("\n") else "\n"))
                status = 1
                continue
            try:
                if set_words(words):
                    status = 1
            except ToolError as exc:
                sys.stderr.write(exc.message + "\n")
                status = 1
    return status


def route_to(client, af: str, addr: str):
    """RTM_GET for addr (the route the kernel would use), or None when there is none."""
    try:
        return client.call("rtmsg", {"type": "RTM_GET", "af": af, "dst": addr})
    except OpError:
        return None


@tool_command("arp")
def command(ctx, args) -> int:
    """Show and change the ARP table (FreeBSD arp(8))."""
    try:
        fmt, args = libxo.parse(args, ctx.libxo, "arp")
        o, words = parse(args)
        arp = Arp(ctx, o, fmt)
        if o.ifname:
            arp.check_ifname()
        if o.func == "get":
            if o.all:
                if words:
                    raise usage_error()
                arp.show(arp.entries())
                return 0
            if len(words) != 1:
                raise usage_error()
            return arp.get(words[0])
        if o.func in ("set", "replace"):
            if not 2 <= len(words) <= 6:
                raise usage_error()
            if o.func == "replace":
                arp.delete(words[0])
            return arp.set(words)
        if o.func == "delete":
            if o.all:
                if words:
                    raise usage_error()
                return arp.nuke()
            if len(words) != 1:
                raise usage_error()
            return arp.delete(words[0])
        if len(words) != 1:
            raise usage_error()
        return arp.file(words[0])
    except ToolError as exc:
        sys.stdout.flush()
        sys.stderr.write(exc.message + "\n")
        return exc.status
    except OpError as exc:
        sys.stderr.write(f"arp: {exc.msg}\n")
        return 1
