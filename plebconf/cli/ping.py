"""`plebconf ping`: FreeBSD 14's ping(8), the echo requests sent by the stack.

    ping [-4] [-nq] [-c count] [-i wait] [-m ttl] [-S src_addr] [-s packetsize] [-t timeout]
         [-W waittime] host
    ping -6 [-nquv] [-c count] [-i wait] [-m hoplimit] [-S sourceaddr] [-s packetsize]
         [-t timeout] [-W waittime] IPv6-host          (also `plebconf ping6 ...`)

The stack sends and receives (op "ping", a streamed result); this side prints what FreeBSD's
ping prints and keeps its statistics.  As 14's main.c does, -6, the name ping6 or a host that
is an IPv6 address selects ping6.c's behaviour: its heading, reply lines (hlim), summary
("ping6 statistics", "std-dev") and errors.  Exit status: 0 if any reply came, 2 if none, 64
for a usage error, 68 for an unknown host; IPv6: 1 for its errx() failures, 71 (EX_OSERR)
when every request failed to go out.  ping6 sends at the minimum MTU (1280) unless -u:
once, unicast follows the path MTU and a packet too big's new MTU is reported (with -v,
"new path MTU (N) is notified"); twice, multicast does too (IPV6_USE_MIN_MTU 1, -1, 0).
"""
from __future__ import annotations

import math
import socket
import sys

from plebproto.constants import strerror

from .common import ConnectError, OpError, fail, tool_command

USAGE = """\
usage: ping [-nq] [-c count] [-i wait] [-m ttl] [-S src_addr] [-s packetsize]
            [-t timeout] [-W waittime] host"""
EX_USAGE, EX_NOHOST = 64, 68
MAXPAYLOAD = 65535 - 20 - 8
TIMEVAL_LEN = 8

UNREACH = {0: "Destination Net Unreachable", 1: "Destination Host Unreachable",
           2: "Destination Protocol Unreachable", 3: "Destination Port Unreachable",
           5: "Source Route Failed", 13: "Communication prohibited by filter"}
TIMXCEED = {0: "Time to live exceeded", 1: "Frag reassembly time exceeded"}


def usage():
    fail(USAGE, EX_USAGE)


EX_OSERR = 71
MAXDATALEN6 = 131072 - 40 - 8       # ping6.c: MAXPACKETLEN - IP6LEN - ICMP6ECHOLEN
DEFDATALEN6 = 8                     # ping6.c: ICMP6ECHOTMLEN
MAXALARM = 60 * 60


def parse(args):
    opts = {"count": 0, "interval": 1.0, "ttl": 64, "src": None, "size": 56, "timeout": 0,
            "waittime": None, "quiet": False}
    spec = {"c": "count", "i": "interval", "m": "ttl", "S": "src", "s": "size",
            "t": "timeout", "W": "waittime"}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        if arg == "--":
            i += 1
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in "nq4":         # -4: main.c's choice of IPv4, already made
                if ch == "q":
                    opts["quiet"] = True
                j += 1
                continue
            if ch not in spec:
                sys.stderr.write(f"ping: illegal option -- {ch}\n")
                usage()
            value = arg[j + 1:]
            if not value:
                i += 1
                if i >= len(args):
                    sys.stderr.write(f"ping: option requires an argument -- {ch}\n")
                    usage()
                value = args[i]
            opts[spec[ch]] = _value(ch, value)
            break
        i += 1
    rest = args[i:]
    if len(rest) != 1:
        usage()
    return opts, rest[0]


def _value(ch, value):
    try:
        if ch == "S":
            return value
        if ch == "i":
            v = float(value)
            if v <= 0 or math.isnan(v):
                raise ValueError
            return v
        if ch == "W":
            v = float(value)
            if v < 0:
                raise ValueError
            return v / 1000.0
        v = int(value)
    except ValueError:
        names = {"c": "count of packets to transmit", "i": "timing interval",
                 "m": "TTL", "s": "packet size", "t": "timeout", "W": "wait time"}
        fail(f"ping: invalid {names.get(ch, 'value')}: `{value}'", EX_USAGE)
    if ch == "c" and v <= 0:
        fail(f"ping: invalid count of packets to transmit: `{value}'", EX_USAGE)
    if ch == "m" and not 0 < v <= 255:
        fail(f"ping: invalid TTL: `{value}'", EX_USAGE)
    if ch == "s" and (v < 0 or v > MAXPAYLOAD):
        fail(f"ping: packet size too large: {v} > {MAXPAYLOAD}" if v > 0 else
             f"ping: invalid packet size: `{value}'", EX_USAGE)
    if ch == "t" and v <= 0:
        fail(f"ping: invalid timeout: `{value}'", EX_USAGE)
    return v


def resolve(host: str) -> str:
    try:
        return socket.inet_ntoa(socket.inet_aton(host)) if host.count(".") == 3 else \
            socket.gethostbyname(host)
    except OSError:
        try:
            return socket.gethostbyname(host)
        except OSError:
            fail(f"ping: cannot resolve {host}: Unknown host", EX_NOHOST)


def ip_header_dump(q: bytes) -> str:
    """pr_iph: the quoted IP header as FreeBSD's ping prints it."""
    hl = (q[0] & 0x0F) << 2
    off = q[6] << 8 | q[7]
    src = socket.inet_ntoa(q[12:16])
    dst = socket.inet_ntoa(q[16:20])
    line = (" %1x  %1x  %02x %04x %04x" % (q[0] >> 4, q[0] & 0x0F, q[1], q[2] << 8 | q[3],
                                              q[4] << 8 | q[5])
            + "   %1x %04x" % ((off & 0xE000) >> 13, off & 0x1FFF)
            + "  %02x  %02x %04x" % (q[8], q[9], q[10] << 8 | q[11])
            + f" {src}  {dst} " + q[20:hl].hex())
    out = ["Vr HL TOS  Len   ID Flg  off TTL Pro  cks      Src      Dst", line]
    data = q[hl:]
    if q[9] in (6, 17) and len(data) >= 4:
        name = "TCP" if q[9] == 6 else "UDP"
        out.append(f"{name}: from port {data[0] << 8 | data[1]}, to port "
                   f"{data[2] << 8 | data[3]} (decimal)")
    return "\n".join(out)


def icmp_text(ev) -> str:
    t, code = ev["type"], ev["code"]
    if t == 3:
        if code == 4:
            text = f"frag needed and DF set (MTU {ev['rest'] & 0xFFFF})"
        else:
            text = UNREACH.get(code, f"Dest Unreachable, Bad Code: {code}")
    elif t == 11:
        text = TIMXCEED.get(code, f"Time exceeded, Bad Code: {code}")
    elif t == 4:
        text = "Source Quench"
    elif t == 12:
        text = f"Parameter problem: pointer = 0x{(ev['rest'] >> 24) & 0xFF:02x}"
    elif t == 5:
        text = "Redirect"
    else:
        text = f"Bad ICMP type: {t}"
    quoted = ev.get("quoted") or b""
    if len(quoted) >= 20:
        return text + "\n" + ip_header_dump(quoted)
    return text


class Stats:
    def __init__(self):
        self.transmitted = self.received = self.repeats = 0
        self.tmin, self.tmax, self.tsum, self.tsumsq = math.inf, 0.0, 0.0, 0.0
        self.seen: set[int] = set()

    def reply(self, seq: int, t: float | None, timing: bool) -> bool:
        """Count an echo reply as ping.c's pr_pack does; True when it repeats an earlier one."""
        dup = seq in self.seen
        if dup:
            self.repeats += 1
        else:
            self.seen.add(seq)
            self.received += 1
        if timing and t is not None:
            self.tsum += t
            self.tsumsq += t * t
            self.tmin = min(self.tmin, t)
            self.tmax = max(self.tmax, t)
        return dup


def wants_ipv6(args, prog: str) -> bool:
    """main.c: -6 (or the name ping6) selects IPv6, -4 IPv4; else the host decides."""
    v4, v6 = False, prog == "ping6"
    for arg in args:
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        flags = arg[1:]
        for ch in flags:
            if ch == "4":
                v4 = True
            elif ch == "6":
                v6 = True
            elif ch in "cimSstWbCeIklpz":     # takes an argument: the rest is it
                break
    if v4 and v6:
        fail("ping: -4 and -6 cannot be used simultaneously", 1)
    if v4 or v6:
        return v6
    host = args[-1] if args else ""
    return ":" in host.partition("%")[0]


@tool_command("ping")
def command(ctx, args, prog: str = "ping"):
    """Send ICMP echo requests from the stack (FreeBSD ping, ping -6)."""
    if wants_ipv6(args, prog):
        return command6(ctx, args, prog)
    opts, host = parse(args)
    target = resolve(host)
    quiet = opts["quiet"]
    timing = opts["size"] >= TIMEVAL_LEN
    request = {"dst": target, "count": opts["count"], "interval": opts["interval"],
               "size": opts["size"], "ttl": opts["ttl"], "timeout": opts["timeout"],
               "waittime": opts["waittime"]}
    if opts["src"] is not None:
        request["src"] = resolve(opts["src"])
    client = ctx.client
    # the stack says nothing for up to an interval (after the last request, for the wait for
    # replies, 10 s unless -W): only a longer silence means it stalled (then the tool ends
    # with status 69, plebconf.cli.main)
    client.set_timeout(ctx.timeout + max(opts["interval"], opts["waittime"] or 10.0))
    st = Stats()
    out = sys.stdout
    frm = f" from {request['src']}" if "src" in request else ""
    try:
        chunks = client.stream("ping", request)
        first = next(chunks)
    except OpError as exc:
        fail(f"ping: {exc.msg}", 1)
    except ConnectError as exc:
        fail(f"plebconf: {exc}", 69)
    out.write(f"PING {host} ({target}){frm}: {opts['size']} data bytes\n")
    out.flush()
    try:
        _consume(first, st, quiet, timing, out)
        for chunk in chunks:
            _consume(chunk, st, quiet, timing, out)
    except KeyboardInterrupt:
        pass
    except OpError as exc:
        sys.stderr.write(f"ping: {exc.msg}\n")
    out.write(f"\n--- {host} ping statistics ---\n")
    line = f"{st.transmitted} packets transmitted, {st.received} packets received, "
    if st.repeats:
        line += f"+{st.repeats} duplicates, "
    if st.transmitted:
        if st.received > st.transmitted:
            line += "-- somebody's printing up packets!"
        else:
            line += "%.1f%% packet loss" % ((st.transmitted - st.received) * 100.0
                                              / st.transmitted)
    out.write(line + "\n")
    if st.received and timing:
        n = st.received + st.repeats
        avg = st.tsum / n
        var = max(0.0, st.tsumsq / n - avg * avg)
        out.write("round-trip min/avg/max/stddev = %.3f/%.3f/%.3f/%.3f ms\n"
                  % (st.tmin, avg, st.tmax, math.sqrt(var)))
    out.flush()
    return 0 if st.received else 2


def _consume(rows, st: Stats, quiet: bool, timing: bool, out) -> None:
    for ev in rows or ():
        kind = ev.get("ev")
        if kind == "sent":
            st.transmitted += 1
            if ev.get("errno"):
                sys.stderr.write(f"ping: sendto: {strerror(ev['errno'])}\n")
                sys.stderr.flush()
        elif kind == "reply":
            seq, t = ev["seq"], ev.get("time")
            dup = st.reply(seq, t, timing)
            if quiet:
                continue
            line = f"{ev['bytes']} bytes from {ev['from']}: icmp_seq={seq} ttl={ev['ttl']}"
            if timing and t is not None:
                line += " time=%.3f ms" % t
            if dup:
                line += " (DUP!)"
            out.write(line + "\n")
            out.flush()
        elif kind == "icmp" and not quiet:
            out.write(f"{ev['bytes']} bytes from {ev['from']}: {icmp_text(ev)}\n")
            out.flush()


# -- IPv6: ping6.c ---------------------------------------------------------------------------
def parse6(args, prog: str):
    opts = {"count": 0, "interval": 1.0, "ttl": 64, "src": None, "size": DEFDATALEN6,
            "timeout": 0, "waittime": None, "quiet": False, "verbose": False, "uflag": 0}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        if arg == "--":
            i += 1
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in "6nquv":
                if ch == "q":
                    opts["quiet"] = True
                elif ch == "v":
                    opts["verbose"] = True
                elif ch == "u":         # ping6.c's mflag
                    opts["uflag"] += 1
                j += 1
                continue
            if ch not in "cimSstW":
                sys.stderr.write(f"{prog}: illegal option -- {ch}\n")
                usage()
            value = arg[j + 1:]
            if not value:
                i += 1
                if i >= len(args):
                    sys.stderr.write(f"{prog}: option requires an argument -- {ch}\n")
                    usage()
                value = args[i]
            _value6(opts, ch, value, prog)
            break
        i += 1
    rest = args[i:]
    if len(rest) != 1:      # intermediate hops need a routing header: not sent by the stack
        usage()
    return opts, rest[0]


def _strtol(value: str):
    try:
        return int(value, 10)
    except ValueError:
        return None


def _value6(opts, ch, value, prog):
    """ping6.c's checks and messages, option by option."""
    if ch == "c":
        v = _strtol(value)
        if v is None or v <= 0:
            fail(f"{prog}: illegal number of packets -- {value}", 1)
        opts["count"] = v
    elif ch == "m":
        v = _strtol(value)
        if v is None:
            fail(f"{prog}: illegal hoplimit {value}", 1)
        if not -1 <= v <= 255:
            fail(f"{prog}: illegal hoplimit -- {value}", 1)
        opts["ttl"] = 64 if v == -1 else v
    elif ch == "i":
        try:
            v = float(value)
        except ValueError:
            fail(f"{prog}: illegal timing interval {value}", 1)
        if v < 0 or math.isnan(v):
            fail(f"{prog}: illegal timing interval {value}", 1)
        opts["interval"] = max(v, 0.000001)
    elif ch == "S":
        try:
            socket.inet_pton(socket.AF_INET6, value.partition("%")[0])
        except OSError:
            fail(f"{prog}: invalid source address: hostname nor servname provided, or not "
                 "known", 1)
        opts["src"] = value
    elif ch == "s":
        v = _strtol(value)
        if v is None or v <= 0:
            fail(f"{prog}: illegal datalen value -- {value}", 1)
        if v > MAXDATALEN6:
            fail(f"{prog}: datalen value too large, maximum is {MAXDATALEN6}", 1)
        opts["size"] = v
    elif ch == "t":
        v = _strtol(value)
        if v is None or v < 1:
            fail(f"{prog}: invalid timeout: `{value}'", EX_USAGE)
        if v > MAXALARM:
            fail(f"{prog}: invalid timeout: `{value}' > {MAXALARM}", EX_USAGE)
        opts["timeout"] = v
    elif ch == "W":
        try:
            v = float(value)
        except ValueError:
            fail(f"{prog}: invalid timing interval: `{value}'", EX_USAGE)
        opts["waittime"] = int(v) / 1000.0


def resolve6(host: str, prog: str) -> str:
    addr, pct, zone = host.partition("%")
    try:
        socket.inet_pton(socket.AF_INET6, addr)
        return host
    except OSError:
        pass
    try:
        info = socket.getaddrinfo(host, None, socket.AF_INET6, socket.SOCK_RAW)
        return info[0][4][0]
    except OSError:
        fail(f"{prog}: hostname nor servname provided, or not known", 1)


UNREACH6 = {0: "No Route to Destination", 1: "Destination Administratively Unreachable",
            2: "Destination Unreachable Beyond Scope", 3: "Destination Host Unreachable",
            4: "Destination Port Unreachable"}
TIMXCEED6 = {0: "Time to live exceeded", 1: "Frag reassembly time exceeded"}
PARAMPROB6 = {0: "Erroneous Header ", 1: "Unknown Nextheader ", 2: "Unrecognized Option "}


def icmp6_text(ev) -> str:
    """pr_icmph for the errors a ping can get back, then pr_retip's dump of the quote."""
    t, code, quoted = ev["type"], ev["code"], ev.get("quoted") or b""
    if t == 1:
        text = UNREACH6.get(code, f"Destination Unreachable, Bad Code: {code}") + "\n"
    elif t == 2:
        text = f"Packet too big mtu = {ev['rest']}\n"
    elif t == 3:
        text = TIMXCEED6.get(code, f"Time exceeded, Bad Code: {code}") + "\n"
    elif t == 4:
        text = "Parameter problem: " + PARAMPROB6.get(code, f"Bad code({code}) ") \
            + "pointer = 0x%02x\n" % ev["rest"]
    else:
        return f"Bad ICMP type: {t}"
    return text + retip6(quoted)


def retip6(q: bytes) -> str:
    """pr_retip: the quoted IPv6 header (pr_iph) and its chain of next headers."""
    if len(q) < 40:
        return "IP6...\n"
    tc = ((q[0] & 0x0F) << 4) | (q[1] >> 4)
    flow = (q[1] & 0x0F) << 16 | q[2] << 8 | q[3]
    out = ["Vr TC  Flow Plen Nxt Hlim\n",
           " %1x %02x %05x %04x  %02x   %02x\n" % (q[0] >> 4, tc, flow, q[4] << 8 | q[5], q[6],
                                                  q[7]),
           f"{socket.inet_ntop(socket.AF_INET6, q[8:24])}->"
           f"{socket.inet_ntop(socket.AF_INET6, q[24:40])}\n"]
    nh, cp, end = q[6], 40, len(q)
    names = {0: "HBH ", 60: "DSTOPT ", 44: "FRAG ", 43: "RTHDR "}
    while end - cp >= 8:
        if nh in names:
            out.append(names[nh])
            hlen = 8 if nh == 44 else (q[cp + 1] + 1) << 3
            nh = q[cp]
        elif nh == 58:
            out.append(f"ICMP6: type = {q[cp]}, code = {q[cp + 1]}\n")
            return "".join(out)
        elif nh == 50:
            return "".join(out) + "ESP\n"
        elif nh in (6, 17):
            out.append(f"{'TCP' if nh == 6 else 'UDP'}: from port {q[cp] * 256 + q[cp + 1]}, "
                       f"to port {q[cp + 2] * 256 + q[cp + 3]} (decimal)\n")
            return "".join(out)
        else:
            return "".join(out) + f"Unknown Header({nh})\n"
        cp += hlen
        if cp >= end:
            return "".join(out) + "...\n"
    return "".join(out) + "...\n"


def command6(ctx, args, prog: str):
    opts, host = parse6(args, prog)
    target = resolve6(host, prog)
    quiet, verbose = opts["quiet"], opts["verbose"]
    timing = opts["size"] >= TIMEVAL_LEN
    request = {"af": "inet6", "dst": target, "count": opts["count"],
               "interval": opts["interval"], "size": opts["size"], "ttl": opts["ttl"],
               "timeout": opts["timeout"], "waittime": opts["waittime"],
               # mflag != 1 sets IPV6_USE_MIN_MTU: 1 without -u, 0 with it twice or more;
               # exactly once leaves the default (multicast only) and asks for the path MTU
               "minmtu": -1 if opts["uflag"] == 1 else 0 if opts["uflag"] else 1}
    if opts["src"] is not None:
        request["src"] = opts["src"]
    st = Stats()
    out = sys.stdout
    try:
        chunks = ctx.client.stream("ping", request)
        first = next(chunks)
    except OpError as exc:
        fail(f"{prog}: {exc.msg}", 1)
    except ConnectError as exc:
        fail(f"plebconf: {exc}", 69)
    first = list(first or ())
    src = next((ev["src"] for ev in first if ev.get("ev") == "start"), "::")
    size = opts["size"]
    out.write(f"PING6({40 + 8 + size}=40+8+{size} bytes) {src} --> {target}\n")
    out.flush()
    state = {"failures": 0}
    try:
        _consume6(first, st, quiet, verbose, timing, out, host, size, prog, state)
        for chunk in chunks:
            _consume6(chunk, st, quiet, verbose, timing, out, host, size, prog, state)
    except KeyboardInterrupt:
        pass
    except OpError as exc:
        sys.stderr.write(f"{prog}: {exc.msg}\n")
    failures = state["failures"]
    out.write(f"\n--- {host} ping6 statistics ---\n")
    line = f"{st.transmitted} packets transmitted, {st.received} packets received, "
    if st.repeats:
        line += f"+{st.repeats} duplicates, "
    if st.transmitted:
        if st.received > st.transmitted:
            line += "-- somebody's duplicating packets!"
        else:
            line += "%.1f%% packet loss" % ((st.transmitted - st.received) * 100.0
                                              / st.transmitted)
    out.write(line + "\n")
    if st.received and timing:
        n = st.received + st.repeats
        avg = st.tsum / n
        dev = math.sqrt(max(0.0, st.tsumsq / n - avg * avg))
        out.write("round-trip min/avg/max/std-dev = %.3f/%.3f/%.3f/%.3f ms\n"
                  % (st.tmin, avg, st.tmax, dev))
    out.flush()
    if st.received:
        return 0
    return 2 if st.transmitted > failures else EX_OSERR


def _consume6(rows, st: Stats, quiet, verbose, timing, out, host, size, prog, state) -> None:
    for ev in rows or ():
        kind = ev.get("ev")
        if kind == "sent":
            st.transmitted += 1
            if ev.get("errno"):
                state["failures"] += 1
                sys.stderr.write(f"{prog}: sendmsg: {strerror(ev['errno'])}\n")
                sys.stderr.flush()
                out.write(f"ping6: wrote {host} {8 + size} chars, ret=-1\n")
                out.flush()
        elif kind == "reply":
            seq, t = ev["seq"], ev.get("time")
            dup = st.reply(seq, t, timing)
            if quiet:
                continue
            line = f"{ev['bytes']} bytes from {ev['from']}, icmp_seq={seq} hlim={ev['ttl']}"
            if verbose and ev.get("dst"):
                line += f" dst={ev['dst']}"         # pr_pack: the IPV6_PKTINFO address
            if timing and t is not None:
                line += " time=%.3f ms" % t
            if dup:
                line += "(DUP!)"
            out.write(line + "\n")
            out.flush()
        elif kind == "pathmtu" and verbose:
            # get_pathmtu: another destination's is ignored, an MTU below 1280 unreported
            if not ev["match"]:
                out.write(f"path MTU for {ev['addr']} is notified. (ignored)\n")
            elif ev["mtu"] >= 1280:
                out.write(f"new path MTU ({ev['mtu']}) is notified\n")
            out.flush()
        elif kind == "icmp" and verbose:
            # ping6 reports anything but its echo replies only with -v (-q or not), and ends
            # every packet it prints with one more newline
            out.write(f"{ev['bytes']} bytes from {ev['from']}: {icmp6_text(ev)}\n")
            out.flush()
