"""`route`: FreeBSD 14's route(8) against a plebnet stack (docs/freebsd-tools.md §2).

    route [-46dnqtv] add|delete|del|change|get|show|flush|monitor [[modifiers] args]

Parsing (the keyword TABLES below, getaddr's destination rules) produces a RouteRequest;
`ops_for` turns the words after `route` into the batch ops for the rc.conf executor without a
connection; `command` runs a request against the live stack and prints what 14.x prints.
Formatting helpers shared with arp and netstat live in netfmt.
"""
from __future__ import annotations

import os
import sys
import time

from plebproto.constants import (
    EADDRINUSE, EBUSY, EEXIST, ENOBUFS, ESRCH, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_GATEWAY,
    RTF_HOST, RTF_PROTO1, RTF_PROTO2, RTF_REJECT, RTF_STATIC, RTF_STICKY, RTF_UP, RTF_XRESOLVE,
    RTF_DONE, strerror,
)

from . import libxo, netfmt
from .common import OpError, ToolError, getopt, tool_command
from .keywords import Keyword, register, table
from .toolops import ToolOps

EX_USAGE, EX_DATAERR, EX_NOHOST, EX_OSERR = 64, 65, 68, 71
USAGE = "route: usage: route [-j jail] [-46dnqtv] command [[modifiers] args]"
EAI_NONAME_TEXT = "hostname nor servname provided, or not known"

# command word -> what it does (route.c's keyword switch in main)
COMMANDS = {"add": "add", "change": "change", "delete": "delete", "del": "delete",
            "get": "get", "show": "get", "flush": "flush", "monitor": "monitor"}


def usage(bad: str | None = None) -> ToolError:
    text = (f"route: bad keyword: {bad}\n" if bad is not None else "") + USAGE
    return ToolError(text, EX_USAGE)


class RouteRequest:
    """What newroute's argument walk gathered: the message to send and route(8)'s words."""

    def __init__(self, cmd: str, kind: str, quiet: bool = False, numeric: bool = False):
        self.cmd = cmd                  # the command word as typed (add, del, ...)
        self.kind = kind                # add / delete / change / get
        self.af = "inet"
        self.dest = ""                  # as typed, for the messages
        self.gateway = ""
        self.dst: str | None = None     # numeric text sent to the stack
        self.dst_af: str | None = None
        self.mask_plen: int | None = None   # None: no netmask
        self.mask_af: str | None = None
        self.gw: str | None = None      # numeric gateway, or the interface name (gw_iface)
        self.gw_iface = False
        self.ishost = False
        self.forcehost = False
        self.forcenet = False
        self.interface = False
        self.flags = RTF_STATIC
        self.metrics: dict = {}
        self.ifp: str | None = None
        self.quiet = quiet
        self.numeric = numeric

    @property
    def width(self) -> int:
        return 32 if self.af == "inet" else 128

    @property
    def net_or_host(self) -> str:
        return "host" if self.ishost else "net"

    @property
    def labels(self) -> list[str]:
        return [self.label]

    @property
    def label(self) -> str:
        """`add net 10.1.0.0/16: gateway 10.0.0.1`: the success line and failure prefix."""
        text = f"{self.cmd} {self.net_or_host} {self.dest}"
        return text + (f": gateway {self.gateway}" if self.gateway else "")

    def plen(self) -> int | None:
        """The prefix length netlink route(8) sends: the mask's bits unless a host route."""
        if self.flags_out() & RTF_HOST or self.mask_plen is None:
            return self.width
        return self.mask_plen

    def flags_out(self) -> int:
        flags = self.flags | RTF_UP
        if self.ishost:
            flags |= RTF_HOST
        if not self.interface:
            flags |= RTF_GATEWAY
        return flags

    def op(self) -> list:
        args = {"type": "RTM_" + self.kind.upper(), "af": self.af, "dst": self.dst}
        if self.kind == "get":
            if self.mask_plen is not None and not self.ishost:
                args["plen"] = self.mask_plen
            return ["rtmsg", args]
        args["plen"] = self.plen()
        if self.gw is not None:
            args["gateway"] = self.gw
            if self.gw_iface:
                args["iface"] = True
        if self.kind == "delete":
            return ["rtmsg", args]
        sent = self.flags & ~(RTF_UP | RTF_GATEWAY | RTF_HOST)
        if sent != RTF_STATIC or self.kind == "change":
            args["flags"] = sent
        if self.ifp:
            args["ifp"] = self.ifp
        args.update(self.metrics)
        return ["rtmsg", args]


# -- getaddr: destinations, gateways, netmasks (docs/freebsd-tools.md §2.2, §2.3) ------------------
def _inet4_or_host(text: str) -> int:
    """An IPv4 address as inet_aton reads it, else a name from /etc/hosts; else the error."""
    value = netfmt.inet_aton(text)
    if value is None:
        found = _hosts(text, "inet")
        if found is None:
            raise ToolError(f"route: bad address: {text}", EX_NOHOST)
        value = netfmt.inet_aton(found)
    return value


def _hosts(name: str, af: str) -> str | None:
    """gethostbyname from /etc/hosts only (no DNS: a tool run must not hang)."""
    try:
        with open("/etc/hosts") as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) >= 2 and name in words[1:]:
                    addr = words[0]
                    if (":" in addr) == (af == "inet6"):
                        return addr
    except OSError:
        pass
    return None


def _inet6(text: str) -> str | None:
    """getaddrinfo(AF_INET6, numeric or /etc/hosts) -> numeric text (zone kept)."""
    addr, sep, zone = text.partition("%")
    if netfmt.pton6(addr) is not None:
        return text
    return _hosts(text, "inet6")


def getaddr_dst(req: RouteRequest, text: str) -> None:
    """getaddr(RTAX_DST): the family is the one chosen so far (-inet6/-6 before the word),
    else AF_INET; route.c guesses nothing from a ':' (an IPv6 literal then fails as an IPv4
    `bad address`)."""
    req.dest = text
    req.dst_af = req.af
    if text == "default":
        req.forcenet = True
        req.dst = "0.0.0.0" if req.af == "inet" else "::"
        req.mask_plen, req.mask_af = 0, req.af
        return
    if req.af == "inet6":
        addr, sep, plen = text.partition("/")
        value = _inet6(addr)
        if value is None:
            raise ToolError(f"route: {addr}: {EAI_NONAME_TEXT}", EX_OSERR)
        req.dst = value
        if not sep and netfmt.pton6(value.partition("%")[0]) == 0 and "%" not in value:
            plen, sep = "0", "/"
        if not sep or plen == "128":
            req.ishost = True
            return
        req.mask_plen, req.mask_af = prefixlen(req, plen), "inet6"
        return
    if req.af == "link":
        raise usage()
    addr, sep, bits = text.partition("/")
    if sep:
        # getaddr() writes a NUL over the '/' and never puts it back (its IPv6 branch does),
        # so newroute() echoes the address without its length: `add net 10.1.0.0: ...`
        req.dest = addr
        value = netfmt.inet_aton(addr)
        if value is None:
            raise ToolError(f"route: bad address: {addr}", EX_NOHOST)
        masklen = netfmt.strtol(bits)
        if not 0 <= masklen <= 32:
            raise ToolError(f"route: bad mask length: {bits}", EX_NOHOST)
        if value & ~netfmt.mask4(masklen) & 0xFFFFFFFF and "." not in addr:
            raise ToolError(f"route: malformed address, bits set after mask; {addr} means "
                            f"{netfmt.ntoa(value)}", EX_NOHOST)
        req.dst, req.mask_plen, req.mask_af = netfmt.ntoa(value), masklen, "inet"
        return
    value = _inet4_or_host(text)
    req.dst = netfmt.ntoa(value)
    req.ishost = True


def getaddr_gateway(req: RouteRequest, text: str, ifnames=None) -> None:
    req.gateway = text
    if req.interface or req.af == "link":
        name = text.split(":", 1)[0] if req.af == "link" else text
        if ifnames is not None and name not in ifnames:
            raise ToolError(f"route: interface '{name}' does not exist", EX_DATAERR)
        req.gw, req.gw_iface = name, True
        if req.af == "link":
            req.interface = True
            req.af = req.dst_af or "inet"
        return
    if req.af == "inet6":
        value = _inet6(text)
        if value is None:
            raise ToolError(f"route: {text}: {EAI_NONAME_TEXT}", EX_OSERR)
        req.gw = value
        return
    if text == "default":
        req.gw = "0.0.0.0"
        return
    value = _inet4_or_host(text)
    req.gw = netfmt.ntoa(value)


def getaddr_mask(req: RouteRequest, text: str) -> None:
    req.mask_af = req.af
    if text == "default":
        req.mask_plen = 0
        return
    if req.af == "inet6":
        value = _inet6(text)
        if value is None:
            raise ToolError(f"route: {text}: {EAI_NONAME_TEXT}", EX_OSERR)
        req.mask_plen = bin(netfmt.pton6(value.partition("%")[0])).count("1")
        return
    value = netfmt.inet_aton(text)
    if value is None:
        raise ToolError(f"route: bad address: {text}", EX_NOHOST)
    req.mask_plen = bin(value).count("1")


def prefixlen(req: RouteRequest, text: str) -> int:
    width = 128 if req.af == "inet6" else 32
    n = netfmt.strtol(text)
    if not 0 <= n <= width:
        raise ToolError(f"{text}: bad value", 1)
    req.mask_af = req.af
    return n


# -- the modifier keyword TABLE (route.c's keywords + newroute's switch) ----------------------
# Handlers: (req, name, const, *values), keywords.Keyword's calling convention.
def _flag(req, _name, bit):
    req.flags |= bit


def _unflag(req, _name, bit):
    req.flags &= ~bit


def _family(req, _name, af):
    req.af = af


def _set(req, _name, attr):
    setattr(req, attr, True)


def _netmask(req, _name, _const, value):
    getaddr_mask(req, value)
    req.forcenet = True


def _prefixlen(req, _name, _const, value):
    n = prefixlen(req, value)
    if n == req.width:
        req.forcenet, req.ishost, req.mask_plen = False, True, None
    else:
        req.forcenet, req.ishost, req.mask_plen = True, False, n


def _fib(req, _name, _const, value):
    for part in value.split(","):
        if part.strip() != "0":
            raise ToolError(f"route: invalid fib number: {value}", EX_USAGE)


def _metric(req, name, _const, value):
    number = netfmt.strtol0(value)
    if number is None:
        raise ToolError(f"route: {value}: Invalid argument", EX_USAGE)
    if name == "expire":
        number = number if value[:1] in "+-" else number - int(time.time())
    if name in ("mtu", "hopcount", "expire", "weight"):
        req.metrics[name] = number


def _ifp(req, _name, _const, value):
    req.ifp = value


def _dst(req, _name, _const, value):
    getaddr_dst(req, value)


def _gateway(req, _name, _const, value):
    getaddr_gateway(req, value)


def _ignore(req, _name, _const, *_values):
    pass


TABLE = "route"
register(
    TABLE,
    Keyword("net", 0, _set, "forcenet"), Keyword("host", 0, _set, "forcehost"),
    Keyword("inet", 0, _family, "inet"), Keyword("4", 0, _family, "inet"),
    Keyword("inet6", 0, _family, "inet6"), Keyword("6", 0, _family, "inet6"),
    Keyword("link", 0, _family, "link"),
    Keyword("interface", 0, _set, "interface"), Keyword("iface", 0, _set, "interface"),
    Keyword("static", 0, _flag, RTF_STATIC), Keyword("nostatic", 0, _unflag, RTF_STATIC),
    Keyword("reject", 0, _flag, RTF_REJECT), Keyword("blackhole", 0, _flag, RTF_BLACKHOLE),
    Keyword("proto1", 0, _flag, RTF_PROTO1), Keyword("proto2", 0, _flag, RTF_PROTO2),
    Keyword("proxy", 0, _flag, RTF_ANNOUNCE), Keyword("xresolve", 0, _flag, RTF_XRESOLVE),
    Keyword("sticky", 0, _flag, RTF_STICKY), Keyword("nostick", 0, _unflag, RTF_STICKY),
    Keyword("lock", 0, _ignore), Keyword("lockrest", 0, _ignore),
    Keyword("fib", 1, _fib),
    Keyword("ifa", 1, _ignore), Keyword("ifp", 1, _ifp), Keyword("genmask", 1, _ignore),
    Keyword("gateway", 1, _gateway), Keyword("dst", 1, _dst),
    Keyword("netmask", 1, _netmask), Keyword("prefixlen", 1, _prefixlen),
    *[Keyword(m, 1, _metric) for m in ("mtu", "hopcount", "expire", "recvpipe", "sendpipe",
                                       "ssthresh", "rtt", "rttvar", "weight")],
)
# route's own options before the command (getopt "46dnqtvj:")
OPTIONS = "46dj:nqtv"          # getopt(3) string; -j JAIL is accepted and ignored


class Options:
    def __init__(self):
        self.af: str | None = None
        self.numeric = False
        self.quiet = False
        self.verbose = False
        # -d: 14's netlink route(8) honours it only while flushing (flushroutes_fib_nl's
        # `if (debugonly) continue;`): rtmsg() hands add/change/delete/get to rtmsg_nl()
        # without looking at it (only the rtsock build's rtmsg_rtsock returns early), and -t
        # only ever redirected the rtsock socket to /dev/null
        self.debugonly = False


def parse_options(argv: list[str]) -> tuple[Options, list[str]]:
    opts = Options()
    found, rest = getopt(argv, OPTIONS, "route", USAGE, EX_USAGE)
    for c, _ in found:
        if c in "46":
            opts.af = "inet" if c == "4" else "inet6"
        elif c == "n":
            opts.numeric = True
        elif c == "q":
            opts.quiet = True
        elif c == "v":
            opts.verbose = True
        elif c == "d":
            opts.debugonly = True
    return opts, rest


def parse_route(words: list[str], opts: Options, ifnames=None) -> RouteRequest:
    """newroute's argument walk: words start with the command word."""
    cmd = words[0]
    req = RouteRequest(cmd, COMMANDS[cmd], quiet=opts.quiet, numeric=opts.numeric)
    if opts.af:
        req.af = opts.af
    rest = words[1:]
    have_dst = have_gw = False
    modifiers = table(TABLE)
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("-") and len(word) > 1:
            kw = modifiers.get(word[1:])
            if kw is None:
                raise usage(word[1:])
            values = rest[i + 1:i + 1 + kw.nargs]
            if len(values) < kw.nargs:
                raise usage()
            i += kw.nargs
            if kw.name == "dst":
                have_dst = True
            elif kw.name == "gateway":
                have_gw = True
            kw.apply(req, values)
        elif not have_dst:
            getaddr_dst(req, word)
            have_dst = True
        elif not have_gw:
            getaddr_gateway(req, word, ifnames)
            have_gw = True
        else:
            getaddr_mask(req, word)
            req.forcenet = True
        i += 1
    if req.dst is None:
        raise ToolError("route: destination parameter required\n" + USAGE, EX_USAGE)
    if req.mask_af is not None and req.dst_af != req.mask_af:
        raise ToolError("route: destination and netmask family need to be the same\n" + USAGE,
                        EX_USAGE)
    if req.forcehost:
        req.ishost = True
        if req.af == "inet6":
            req.mask_plen = None
    if req.forcenet:
        req.ishost = False
    return req


# -- errors (docs/freebsd-tools.md §2.5) -----------------------------------------------------------
ERRMSG = {ESRCH: "not in table", EBUSY: "entry in use", ENOBUFS: "not enough memory",
          EADDRINUSE: "gateway uses the same route", EEXIST: "route already in table"}


def failure(ops, index: int, errno: int) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) route(8) prints when op `index` of ops (an add, change
    or delete) failed.  14's netlink rtmsg_nl_int() returns the kernel's error without a
    word (only its get path warns), so stderr is empty; newroute() prints the stdout line
    for the failed fib (" fib %d" even with one fib) and exits 1 (route.c newroute)."""
    out = f"{ops.labels[index]} fib 0: {ERRMSG.get(errno, strerror(errno))}\n"
    return out, "", 1


# FreeBSD's strerror(0) (libc's sys_errlist[0]); warn(3) appends it to route get's messages
NO_ERROR = "No error: 0"


def get_failure(errno: int) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) of a `route get` the kernel answers with an error.
    route_netlink.c rtmsg_nl_int(): warn("route has not been found") for ESRCH, else
    warn("message indicates error %d", e.error); warn(3) appends strerror(errno), and
    errno is still the 0 rtmsg() set (every call since succeeded: the error came in a
    netlink message, not from a syscall).  It then returns 0, so newroute()'s
    `exit(error)` for get exits 0."""
    if errno == ESRCH:
        return "", f"route: route has not been found: {NO_ERROR}\n", 0
    return "", f"route: message indicates error {errno}: {NO_ERROR}\n", 0


def ops_for(argv: list[str], ifnames=None):
    """The batch ops of `route ARGV` (argv: the words after `route`), computed without a
    connection.  None for read-only or table-dependent commands (get, show, monitor, flush).
    Raises ToolError(message, status) for what route(8) refuses before talking to the kernel.
    ToolOps.labels[i] is op i's message prefix: render a failure with failure(ops, i, errno);
    ToolOps.lines are the lines printed on success (none with -q)."""
    opts, words = parse_options(list(argv))
    if not words:
        raise usage()
    if words[0] not in COMMANDS:
        raise usage(words[0])
    if COMMANDS[words[0]] in ("get", "flush", "monitor"):
        return None
    req = parse_route(words, opts, ifnames)
    return ToolOps([req.op()], [req.label], [] if req.quiet else [req.label])


# -- running against the stack ------------------------------------------------------------------
def _ifnames(client) -> set[str]:
    return {i["name"] for i in client.sysctl("NET_RT_IFLIST")}


def change(ctx, opts, words) -> int:
    client = ctx.client
    ifnames = None
    if any(w in ("-interface", "-iface", "-link") for w in words):
        ifnames = _ifnames(client)
    req = parse_route(words, opts, ifnames)
    try:
        client.call(*req.op())
    except OpError as exc:
        out, _, status = failure(req, 0, exc.errno)
        if not req.quiet:               # newroute prints the failed fib's line unless -q
            sys.stdout.write(out)
        return status
    if not req.quiet:
        sys.stdout.write(req.label + "\n")
    return 0


def _routename4(text: str, numeric: bool) -> str:
    return "default" if text == "0.0.0.0" and not numeric else text


def _routename6(text: str, numeric: bool) -> str:
    """route.c routename(): without -n an all-zero IPv6 address (IN6_IS_ADDR_UNSPECIFIED:
    the default route and its /0 mask) is `default` too; others stay numeric here (no DNS)."""
    if not numeric and netfmt.pton6(text.partition("%")[0]) == 0:
        return "default"
    return text


def get(ctx, opts, words) -> int:
    req = parse_route(words, opts)
    try:
        r = ctx.client.call(*req.op())
    except OpError as exc:
        _, err, status = get_failure(exc.errno)
        sys.stderr.write(err)
        return status
    inet = req.af == "inet"
    routename = _routename4 if inet else _routename6
    name = (lambda t: routename(t, req.numeric))
    width = 32 if inet else 128
    lines = [f"   route to: {name(req.dst)}", f"destination: {name(r['dst'])}"]
    if r["plen"] != width:
        mask = netfmt.ntoa(netfmt.mask4(r["plen"])) if inet else netfmt.mask6_text(r["plen"])
        lines.append(f"       mask: {name(mask)}")
    if r["flags"] & RTF_GATEWAY:
        lines.append(f"    gateway: {name(r['gateway'])}")
    lines.append("        fib: 0")
    lines.append(f"  interface: {r['ifname']}")
    lines.append(f"      flags: {netfmt.printb(r['flags'] | RTF_UP | RTF_DONE)}")
    lines.append(" recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire")
    lines.append("%8lu  %8lu  %8lu  %8lu  %8lu  %8lu  %8ld " % (
        0, 0, 0, 0, r["mtu"], r["weight"], r["expire"]))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


FLUSH_FAMILIES = {"-4": "inet", "-inet": "inet", "-6": "inet6", "-inet6": "inet6"}


def flush(ctx, opts, words) -> int:
    """Every RTF_GATEWAY route of the family.  Like 14.x's netlink route(8), no family
    selected (no -4/-6/-inet/-inet6) selects nothing (docs/freebsd-tools.md §2.7, §8)."""
    af = opts.af
    rest = words[1:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in FLUSH_FAMILIES:
            af = FLUSH_FAMILIES[word]
        elif word == "-link":
            af = "link"
        elif word == "-fib":
            i += 1
            if i >= len(rest):
                raise usage()
            _fib(None, "fib", None, rest[i])
        else:
            raise usage(word.lstrip("-") if word.startswith("-") else word)
        i += 1
    if af not in ("inet", "inet6") or opts.debugonly:
        return 0
    client = ctx.client
    rows = [row for chunk in client.stream("sysctl", {"name": "NET_RT_DUMP", "af": af})
            for row in chunk if row[4] & RTF_GATEWAY]
    prefixes: dict = {}
    for row in rows:
        prefixes.setdefault((row[1], row[2]), []).append(row)
    ops = [["rtmsg", {"type": "RTM_DELETE", "af": af, "dst": dst, "plen": plen}, [ESRCH]]
           for dst, plen in prefixes]
    if not ops:
        return 0
    try:
        results = client.batch(ops)
    except OpError as exc:
        sys.stderr.write(f"route: RTM_DELROUTE failed:: {strerror(exc.errno)}\n")
        return 1
    out = []
    width = 32 if af == "inet" else 128
    for (dst, plen), result in zip(prefixes, results):
        if isinstance(result, dict) and result.get("errno"):
            continue
        for row in prefixes[(dst, plen)]:
            if row[4] & RTF_HOST or plen == width:
                shown = _routename4(dst, False) if af == "inet" else dst
            else:
                shown = netfmt.trimmed_netname(dst) if af == "inet" else dst
            out.append("%-20.20s %-20.20s -fib %-3d done\n" % (shown, row[3], 0))
    if not opts.quiet:
        sys.stdout.write("".join(out))
    return 0


def monitor(ctx, opts, words) -> int:
    """14.x's netlink monitor lines, until interrupted or -c N messages (NetBSD's option)."""
    count = None
    rest = words[1:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("-fib", "-c") and i + 1 < len(rest):
            if word == "-fib":
                _fib(None, "fib", None, rest[i + 1])
            else:
                count = netfmt.strtol0(rest[i + 1])
                if count is None or count < 0:
                    raise ToolError(f"route: invalid count: {rest[i + 1]}", EX_USAGE)
            i += 2
            continue
        raise usage(word.lstrip("-") if word.startswith("-") else word)
    if count == 0:
        return 0
    events = ctx.client.subscribe()
    out = sys.stdout
    seen = 0
    try:
        for event in events:
            line = netfmt.monitor_line(event)
            if line is None:
                continue
            out.write(line)
            out.flush()
            seen += 1
            if count is not None and seen >= count:
                break
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OpError as exc:          # the stack dropped us: we did not read fast enough
        sys.stderr.write(f"route: read: {strerror(exc.errno)}\n")
        return 1
    return 0


RUNNERS = {"add": change, "change": change, "delete": change, "get": get, "flush": flush,
           "monitor": monitor}


@tool_command("route")
def command(ctx, args) -> int:
    """Show and change the routing table (FreeBSD route(8))."""
    try:
        # route(8) does not use libxo: its words are taken out (and checked), text printed
        _, args = libxo.parse(args, ctx.libxo, "route")
        opts, words = parse_options(args)
        if not words:
            raise usage()
        if words[0] not in COMMANDS:
            raise usage(words[0])
        return RUNNERS[COMMANDS[words[0]]](ctx, opts, words)
    except ToolError as exc:
        sys.stdout.flush()
        sys.stderr.write(exc.message + "\n")
        return exc.status
