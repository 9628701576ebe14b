"""`plebconf traceroute` and `plebconf traceroute6`: FreeBSD 14's traceroute(8)
(contrib/traceroute) and traceroute6(8), the probes sent by the stack.

    traceroute [-dFInS] [-f first_ttl] [-M first_ttl] [-m max_ttl] [-P proto] [-p port]
               [-q nqueries] [-s src_addr] [-w waittime] host [packetlen]
    traceroute6 [-dIlnU] [-f firsthop] [-m hoplimit] [-p port] [-q probes] [-s src]
                [-w waittime] target [datalen]

The stack sends the probes and matches the answers (op "traceroute", a streamed result:
plebnet_core/dataplane/traceroute.py); this side checks the options as the tools do and prints
what they print: the heading on stderr, one line per hop with ` *` for a probe that got no
answer and the `!N`, `!H`, `!P`... annotations.  The options FreeBSD's tools have that need
what the stack does not do (source routes, AS lookups, TCP/SCTP/GRE probes, TOS, raw
verbose dumps) are refused with a line naming them, status 1.
"""
from __future__ import annotations

import getopt
import re
import socket
import sys

from plebproto.constants import EADDRNOTAVAIL, EHOSTUNREACH, strerror

from .common import ConnectError, OpError, fail, tool_command

VERSION = "1.4a12+FreeBSD"
# `plebconf traceroute --help`: what this build takes
USAGE = """\
usage: traceroute [-dFInS] [-f first_ttl] [-M first_ttl] [-m max_ttl] [-P udp|icmp]
                  [-p port] [-q nqueries] [-s src_addr] [-w waittime] host [packetlen]"""
# what FreeBSD's traceroute prints for a bad command line
FREEBSD_USAGE = (f"Version {VERSION}\n"
         "Usage: traceroute [-adDeFInrSvx] [-f first_ttl] [-g gateway] [-i iface]\n"
         "\t[-m max_ttl] [-p port] [-P proto] [-q nqueries] [-s src_addr]\n"
         "\t[-t tos] [-w waittime] [-A as_server] [-z pausemsecs] host [packetlen]\n")
USAGE6 = ("usage: traceroute6 [-adIlnNrSTUv] [-A as_server] [-f firsthop] [-g gateway]\n"
          "       [-m hoplimit] [-p port] [-q probes] [-s src] [-w waittime] target\n"
          "       [datalen]\n")
OPTSTRING = "aA:edDFInrSvxf:g:i:M:m:P:p:q:s:t:w:z:"
OPTSTRING6 = "aA:df:g:Ilm:nNp:q:rs:St:TUvw:"
DEFAULT_PORT = 32768 + 666
MAXPACKET = 32 * 1024               # traceroute.c's maxpacket
MAXPACKET6 = 65535
DEFAULT_TTL = 64                    # net.inet.ip.ttl, net.inet6.ip6.hlim

# traceroute.c: the annotation of each ICMP unreachable code
UNREACH_MARKS = {0: " !N", 1: " !H", 2: " !P", 5: " !S", 6: " !U", 7: " !W", 8: " !I",
                 9: " !A", 10: " !Z", 11: " !Q", 12: " !T", 13: " !X", 14: " !V",
                 15: " !C"}
# traceroute6.c: no route, admin, beyond scope (not a neighbour), address
UNREACH6_MARKS = {0: " !N", 1: " !P", 2: " !S", 3: " !A"}
EAI_TEXT = {socket.EAI_NONAME: "hostname nor servname provided, or not known"}


def _usage(prog: str):
    sys.stderr.write(USAGE6 if prog == "traceroute6" else FREEBSD_USAGE.replace(
        "traceroute [", f"{prog} [", 1))
    sys.exit(1)


# -- option values ---------------------------------------------------------------------------
def str2val(prog: str, text: str, what: str, lo: int, hi: int) -> int:
    """traceroute.c's str2val: decimal or 0x hex, range-checked with its messages."""
    m = re.fullmatch(r"0[xX]([0-9a-fA-F]*)(.*)", text, re.S)
    if m:
        digits, rest = m.group(1), m.group(2)
        value = int(digits, 16) if digits else 0
    else:
        m = re.match(r"\s*([+-]?\d+)?", text)
        digits = m.group(1)
        value = int(digits) if digits else 0
        rest = text[m.end():] if digits else text
    if rest:
        fail(f'{prog}: "{text}" bad value for {what} ', 1)
    if value < lo and lo >= 0:
        fail(f"{prog}: {what} must be >= {lo}" if lo == 0 else
             f"{prog}: {what} must be > {lo - 1}", 1)
    if value > hi >= 0:
        fail(f"{prog}: {what} must be <= {hi}", 1)
    return value


def strtoul0(text: str):
    """strtoul(text, &ep, 0) when it consumes all of a non-empty text, else None."""
    m = re.fullmatch(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)", text)
    if not text or not m:
        return None
    body = m.group(2)
    if body[:2] in ("0x", "0X"):
        value = int(body, 16)
    elif body.startswith("0"):
        value = int(body, 8) if len(body) > 1 else 0
    else:
        value = int(body)
    if m.group(1) == "-":
        value = (1 << 64) - value if value else 0   # strtoul negates in unsigned long
    return value


def parse4(args: list[str], prog: str) -> tuple[dict, str, int | None]:
    opts = {"first": 1, "max": None, "nprobes": 3, "wait": 5, "src": None, "icmp": False,
            "numeric": False, "port": None, "df": False, "sump": False}
    try:
        pairs, rest = getopt.getopt(args, OPTSTRING)
    except getopt.GetoptError:
        _usage(prog)
    for flag, value in pairs:
        ch = flag[1]
        if ch in "fM":
            opts["first"] = str2val(prog, value, "first ttl", 1, 255)
        elif ch == "m":
            opts["max"] = str2val(prog, value, "max ttl", 1, 255)
        elif ch == "q":
            opts["nprobes"] = str2val(prog, value, "nprobes", 1, -1)
        elif ch == "w":
            opts["wait"] = str2val(prog, value, "wait time", 1, 24 * 60 * 60)
        elif ch == "p":
            opts["port"] = str2val(prog, value, "port", 1, (1 << 16) - 1) & 0xFFFF
        elif ch == "s":
            opts["src"] = value
        elif ch == "I":
            opts["icmp"] = True
        elif ch == "P":
            if value.lower() not in ("udp", "icmp"):
                fail(f"{prog}: -P {value}: only udp and icmp probes are sent by the stack", 1)
            opts["icmp"] = value.lower() == "icmp"
        elif ch == "n":
            opts["numeric"] = True
        elif ch == "F":
            opts["df"] = True
        elif ch == "S":
            opts["sump"] = True
        elif ch == "d":
            pass                    # SO_DEBUG on the sockets: nothing to show
        else:
            fail(f"{prog}: -{ch} is not supported by the stack's traceroute", 1)
    if opts["max"] is None:
        opts["max"] = DEFAULT_TTL
    if opts["first"] > opts["max"]:
        fail(f"{prog}: first ttl ({opts['first']}) may not be greater than max ttl "
             f"({opts['max']})", 1)
    minpacket = 20 + (28 if opts["icmp"] else 8)
    packlen = max(minpacket, 40)
    if len(rest) == 2:
        packlen = str2val(prog, rest[1], "packet length", minpacket, MAXPACKET)
    elif len(rest) != 1:
        _usage(prog)
    return opts, rest[0], packlen


def parse6(args: list[str]) -> tuple[dict, str, int]:
    prog = "traceroute6"
    opts = {"first": 1, "max": DEFAULT_TTL, "nprobes": 3, "wait": 5, "src": None,
            "icmp": False, "numeric": False, "both": False, "port": DEFAULT_PORT}
    try:
        pairs, rest = getopt.getopt(args, OPTSTRING6)
    except getopt.GetoptError:
        _usage(prog)

    def number(value, bad):
        v = strtoul0(value)
        if v is None or v >= 1 << 64:
            fail(f"{prog}: {bad}", 1)
        return v

    for flag, value in pairs:
        ch = flag[1]
        if ch == "f":
            v = strtoul0(value)
            if v is None or v > 255:
                fail(f"{prog}: invalid min hoplimit.", 1)
            opts["first"] = v
        elif ch == "m":
            v = strtoul0(value)
            if v is None or v > 255:
                fail(f"{prog}: invalid max hoplimit.", 1)
            opts["max"] = v
        elif ch == "p":
            v = number(value, "invalid port.")
            if v == 0 or v != v & 0xFFFF:
                fail(f"{prog}: port out of range.", 1)
            opts["port"] = v
        elif ch == "q":
            v = number(value, "invalid nprobes.")
            if v < 1:
                fail(f"{prog}: nprobes must be >0.", 1)
            opts["nprobes"] = v
        elif ch == "w":
            v = number(value, "invalid wait time.")
            v = v & 0xFFFFFFFF
            v = v - (1 << 32) if v >= 1 << 31 else v      # stored in an int
            if v < 1:
                fail(f"{prog}: wait must be >= 1 sec.", 1)
            opts["wait"] = v
        elif ch == "s":
            opts["src"] = value
        elif ch == "I":
            opts["icmp"] = True
        elif ch == "U":
            opts["icmp"] = False
        elif ch == "n":
            opts["numeric"] = True
        elif ch == "l":
            opts["both"] = True
        elif ch == "d":
            pass
        else:
            fail(f"{prog}: -{ch} is not supported by the stack's traceroute6", 1)
    if opts["max"] < opts["first"]:
        fail(f"{prog}: max hoplimit must be larger than first hoplimit.", 1)
    if not 1 <= len(rest) <= 2:
        _usage(prog)
    datalen = 20
    if len(rest) == 2:
        v = strtoul0(rest[1]) if rest[1] else 0
        if v is None:
            fail(f"{prog}: invalid packet length.", 1)
        datalen = v
    minlen = 8
    if datalen < minlen:
        datalen = minlen
    elif datalen >= MAXPACKET6:
        fail(f"{prog}: packet size must be {minlen} <= s < {MAXPACKET6}.", 1)
    return opts, rest[0], datalen


# -- names -----------------------------------------------------------------------------------
def resolve4(prog: str, host: str) -> tuple[str, str]:
    """gethostinfo: (name to print, address)."""
    try:
        socket.inet_aton(host)
        if host.count(".") == 3:
            return host, host
    except OSError:
        pass
    try:
        name, _, addrs = socket.gethostbyname_ex(host)
    except OSError:
        fail(f"{prog}: unknown host {host}", 1)
    if len(addrs) > 1:
        sys.stderr.write(f"{prog}: Warning: {host} has multiple addresses; using "
                         f"{addrs[0]}\n")
    return name, addrs[0]


def resolve6(host: str) -> tuple[str, str]:
    addr = host.partition("%")[0]
    try:
        socket.inet_pton(socket.AF_INET6, addr)
        return host, host
    except OSError:
        pass
    try:
        info = socket.getaddrinfo(host, None, socket.AF_INET6, socket.SOCK_RAW,
                                  socket.IPPROTO_ICMPV6, socket.AI_CANONNAME)
    except socket.gaierror as exc:
        fail(f"traceroute6: {EAI_TEXT.get(exc.errno, exc.strerror)}", 1)
    target = info[0][4][0]
    if len(info) > 1:
        sys.stderr.write(f"traceroute6: Warning: {info[0][3] or host} has multiple "
                         f"addresses; using {target}\n")
    return info[0][3] or host, target


_domain = None


def _local_domain() -> str:
    """inetname's domain: what follows the first dot of this host's name."""
    global _domain
    if _domain is None:
        name = socket.gethostname()
        if "." not in name:
            try:
                name = socket.gethostbyname_ex(name)[0]
            except OSError:
                pass
        _domain = name.partition(".")[2]
    return _domain


def inetname(addr: str) -> str | None:
    """The host's name with our own domain dropped, or None when it has none."""
    try:
        name = socket.gethostbyaddr(addr.partition("%")[0])[0]
    except OSError:
        return None
    head, dot, tail = name.partition(".")
    return head if dot and tail == _local_domain() else name


# -- the run ---------------------------------------------------------------------------------
class Hop:
    """One line of output: traceroute.c's (and traceroute6.c's) per-ttl state."""

    def __init__(self, out, v6: bool, opts: dict):
        self.out, self.v6, self.opts = out, v6, opts
        self.ttl = None
        self.last = None
        self.loss = 0

    def begin(self, ttl: int) -> None:
        self.ttl, self.last, self.loss = ttl, None, 0
        self.out.write("%2d " % ttl)

    def end(self, nprobes: int) -> None:
        if self.opts.get("sump"):
            self.out.write(" (%d%% loss)" % (self.loss * 100 // nprobes))
        self.out.write("\n")
        self.out.flush()

    def probe(self, ev, prog: str, host: str, size: int) -> None:
        out = self.out
        if ev.get("errno"):
            err = strerror(ev["errno"])
            out.flush()
            sys.stderr.write(f"send: {err}\n" if self.v6 else f"{prog}: sendto: {err}\n")
            sys.stderr.flush()
            out.write(f"{prog}: wrote {host} {size} chars, ret=-1\n")
        frm = ev.get("from")
        if frm is None:
            self.loss += 1
            out.write(" *")
            out.flush()
            return
        if frm != self.last:
            if self.v6 and ev["probe"] > 0 or not self.v6 and self.last is not None:
                out.write("\n   ")
            out.write(self._name(frm))
            self.last = frm
        out.write("  %.3f ms" % ev["time"])
        out.write(self._mark(ev))
        out.flush()

    def _name(self, addr: str) -> str:
        if self.opts["numeric"]:
            return f" {addr}"
        name = inetname(addr)
        if self.v6:
            if self.opts.get("both"):
                return f" {name or addr} ({addr})"
            return f" {name or addr}"
        return f" {name or addr} ({addr})"

    def _mark(self, ev) -> str:
        t, code, hlim = ev["type"], ev["code"], ev.get("hlim", 64)
        if self.v6:
            if t == 1:
                if code == 4:
                    return " !" if 0 <= hlim <= 1 else ""
                return UNREACH6_MARKS.get(code, "")
            if t == 4:
                return " !H"
            if t == 129:
                return " !" if 0 <= hlim <= 1 else ""
            return ""
        if t == 0 or t == 3 and code == 3:      # echo reply, port unreachable: there
            return " !" if hlim <= 1 else ""
        if t == 3:
            if code == 4:
                return f" !F-{ev.get('mtu', 0)}"
            return UNREACH_MARKS.get(code, f" !<{code}>")
        return ""


@tool_command("traceroute")
def command(ctx, args, prog: str = "traceroute"):
    """Print the route packets take to a host, probing from the stack (FreeBSD
    traceroute)."""
    v6 = prog == "traceroute6"
    if v6:
        opts, host, size = parse6(args)
        name, target = resolve6(host)
    else:
        opts, host, size = parse4(args, prog)
        name, target = resolve4(prog, host)
    request = {"dst": target, "af": "inet6" if v6 else "inet", "first_ttl": opts["first"],
               "max_ttl": opts["max"], "nprobes": opts["nprobes"],
               "waittime": float(opts["wait"]), "icmp": opts["icmp"], "size": size}
    if opts["port"] is not None:
        request["port"] = opts["port"]
    if opts.get("df"):
        request["df"] = True
    if opts["src"] is not None:
        request["src"] = opts["src"] if v6 else resolve4(prog, opts["src"])[1]
    client = ctx.client
    # the stack is silent for up to a wait time per probe
    client.set_timeout(ctx.timeout + opts["wait"] + 1.0)
    try:
        chunks = client.stream("traceroute", request)
        first = list(next(chunks) or ())
    except OpError as exc:
        _refused(exc, prog, v6)
    except ConnectError as exc:
        fail(f"plebconf: {exc}", 69)
    start = next((ev for ev in first if ev.get("ev") == "start"), {})
    out = sys.stdout
    if v6:
        sys.stderr.write(f"traceroute6 to {name} ({target}) from {start.get('src', '::')}, "
                         f"{opts['max']} hops max, "
                         f"{size + (0 if opts['icmp'] else 8)} byte packets\n")
        sys.stderr.flush()
        if opts["first"] > 1:
            out.write(f"Skipping {opts['first'] - 1} intermediate hops\n")
    else:
        frm = f" from {opts['src']}" if opts["src"] is not None else ""
        sys.stderr.write(f"{prog} to {name} ({target}){frm}, {opts['max']} hops max, "
                         f"{size} byte packets\n")
        sys.stderr.flush()
    hop = Hop(out, v6, opts)

    def consume(rows):
        for ev in rows or ():
            if ev.get("ev") != "probe":
                continue
            if ev["ttl"] != hop.ttl:
                if hop.ttl is not None:
                    hop.end(opts["nprobes"])
                hop.begin(ev["ttl"])
            hop.probe(ev, prog, name, size)

    try:
        consume(first)
        for chunk in chunks:
            consume(chunk)
    except KeyboardInterrupt:
        out.flush()
        return 130
    except OpError as exc:
        sys.stderr.write(f"{prog}: {exc.msg}\n")
    if hop.ttl is not None:
        hop.end(opts["nprobes"])
    out.flush()
    return 0


def _refused(exc: OpError, prog: str, v6: bool):
    """The stack would not start: the line the tool prints where the kernel refuses."""
    if v6 and exc.errno == EADDRNOTAVAIL:
        fail(f"bind: {strerror(EADDRNOTAVAIL)}", 1)
    if v6 and exc.errno == EHOSTUNREACH:
        fail(f"connect: {strerror(EHOSTUNREACH)}", 1)
    fail(f"{prog}: {exc.msg}", 1)
