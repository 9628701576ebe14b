"""`plebconf ping`: FreeBSD's ping(8) for IPv4, the echo requests sent by the stack.

    ping [-nq] [-c count] [-i wait] [-m ttl] [-S src_addr] [-s packetsize] [-t timeout]
         [-W waittime] host

The stack sends and receives (op "ping", a streamed result); this side prints what FreeBSD's
ping prints and keeps its statistics.  Exit status: 0 if any reply came, 2 if none, 64 for a
usage error, 68 for an unknown host.
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
            if ch in "nq":
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


@tool_command("ping")
def command(ctx, args):
    """Send ICMP echo requests from the stack (FreeBSD ping)."""
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
            seq = ev["seq"]
            dup = seq in st.seen
            if dup:
                st.repeats += 1
            else:
                st.seen.add(seq)
                st.received += 1
            t = ev.get("time")
            if timing and t is not None:
                st.tsum += t
                st.tsumsq += t * t
                st.tmin = min(st.tmin, t)
                st.tmax = max(st.tmax, t)
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
