"""The stack side of traceroute(8) and traceroute6(8): probes sent from the stack with a
growing TTL (hop limit), one at a time as FreeBSD's tools send them, and the ICMP answers
that match each probe streamed back as events.  The client (plebconf/cli/traceroute.py)
prints them as traceroute.c and traceroute6.c do.

Probes, as 14's tools build them:
    IPv4 UDP    sport = ident (0x8000 set), dport = port + seq, a datagram filling
                `size` bytes of IP packet (40 by default), checksummed
    IPv4 ICMP   (-I) echo request, id = ident, seq = seq
    IPv6 UDP    sport = ident, dport = port + seq, `size` bytes of UDP (header included)
    IPv6 ICMP   (-I) echo request of `size` bytes, id = ident, seq = seq
seq counts every probe from 1, so a late answer to an earlier probe never matches.

Events (maps): {"ev": "start", "src", "max_ttl", "size"} first; then one per probe:
{"ev": "probe", "ttl", "probe", "errno" (of the send, 0 if it went), "from" (None: no answer
within waittime), "type", "code", "hlim" (the TTL/hop limit of the answer), "time" (ms),
"mtu" (next-hop MTU of a needfrag)}; the result is {"hops": last ttl probed}.
"""
from __future__ import annotations

import time

from plebproto.constants import EINVAL

from plebproto.errors import OpError
from ..state.inet import ntoa, ntop6
from .wire import icmp, icmp6, ipv4, udp

PROTO_UDP = ipv4.PROTO_UDP
PROTO_ICMP = ipv4.PROTO_ICMP
NH_ICMPV6 = 58
DEFAULT_PORT = 32768 + 666
# IPv4: what packet_ok() takes as an answer -- a time exceeded in transit or any unreachable
_V4_ANSWERS = (icmp.TIME_EXCEEDED, icmp.DEST_UNREACH)


def finished4(codes: list, nprobes: int) -> bool:
    """traceroute.c: stop after a hop that reached the host (port unreachable, protocol
    unreachable, echo reply), or where all probes but one were unreachable."""
    got_there = unreachable = 0
    for kind, code in codes:
        if kind == "reply" or kind == "unreach" and code in (icmp.UNREACH_PORT,
                                                           icmp.UNREACH_PROTOCOL):
            got_there += 1
        elif kind == "unreach":
            unreachable += 1
    return bool(got_there) or 0 < unreachable >= nprobes - 1


def finished6(codes: list, nprobes: int) -> bool:
    """traceroute6.c: stop after a hop that reached the host (port unreachable, unknown next
    header, echo reply) or where at least half the probes were unreachable (no route,
    administratively, beyond scope, address)."""
    got_there = unreachable = 0
    for kind, code in codes:
        if kind == "reply" or kind == "unreach" and code == icmp6.UNREACH_NOPORT \
                or kind == "paramprob":
            got_there += 1
        elif kind == "unreach" and code in (0, 1, 2, 3):
            unreachable += 1
    return bool(got_there) or 0 < unreachable >= (nprobes + 1) // 2


class TracerouteSession:
    def __init__(self, ip, loop, *, dst, src, first_ttl: int, max_ttl: int, nprobes: int,
                 waittime: float, icmp_probes: bool, port: int, size: int, df: bool,
                 push, finish, ip6=None, zone: int = 0, src_name: str = ""):
        """IPv6 when ip6 is given: dst and src are then 16-byte strings (src chosen already:
        the UDP and ICMPv6 checksums cover it), zone the interface index of a scoped dst.
        IPv4: dst an int, src an int or None (the route's address)."""
        if not 1 <= first_ttl <= max_ttl <= 255 or nprobes < 1 or waittime < 0:
            raise OpError(EINVAL, "bad traceroute parameters")
        self.v6 = ip6 is not None
        minimum = 8 if self.v6 else 20 + (28 if icmp_probes else 8)
        if not minimum <= size <= (65535 if self.v6 else 32 * 1024):
            raise OpError(EINVAL, "bad traceroute packet size")
        self.ip, self.ip6, self.loop = ip, ip6, loop
        self.dst, self.src, self.zone, self.src_name = dst, src, zone, src_name
        self.ttl, self.max_ttl, self.nprobes = first_ttl, max_ttl, nprobes
        self.waittime, self.icmp_probes, self.port = waittime, icmp_probes, port
        self.size, self.df = size, df
        self.push, self.finish_cb = push, finish
        layer = ip6 if self.v6 else ip
        # ICMP probes share the echo-ident table with ping (their answers are echo replies
        # and errors quoting echo requests); UDP probes have one of their own, by sport
        self.table = layer.pings if icmp_probes else layer.traces
        self.ident = self._free_ident()
        self.seq = 0
        self.probe = 0
        self.codes: list = []
        self.t0 = 0.0
        self.errno = 0
        self.timer = None
        self.done = False

    def _free_ident(self) -> int:
        table, ip = self.table, self.ip
        ident = ip.next_ident() | 0x8000
        while ident in table:
            ident = ip.next_ident() | 0x8000
        return ident

    def start(self) -> None:
        self.table[self.ident] = self
        self.push({"ev": "start", "src": self.src_name, "max_ttl": self.max_ttl,
                   "size": self.size})
        self._send()

    # -- probes ------------------------------------------------------------------------------
    def _send(self) -> None:
        self.timer = None
        if self.done:
            return
        self.seq = seq = (self.seq + 1) & 0xFFFF
        if self.v6:
            err = self._send6(seq)
        else:
            err = self._send4(seq)
        self.errno = err
        self.t0 = time.perf_counter()
        self.timer = self.loop.call_later(self.waittime, self._timeout)

    def _send4(self, seq: int) -> int:
        ip = self.ip
        if self.icmp_probes:
            data = bytes(self.size - 20 - 8)
            return ip.output(self.src, self.dst, PROTO_ICMP,
                             icmp.echo_request(self.ident, seq, data), ttl=self.ttl,
                             df=self.df)
        src = self.src
        if src is None:
            r = ip.route(self.dst)
            ifa = r.ifa if r is not None else None
            src = ifa.addr if ifa is not None and ifa.af == 2 else \
                ip.source_on(r.ifp, self.dst) if r is not None else None
        data = bytes(self.size - 20 - 8)
        if src is None:     # no way there: ip.output says why
            return ip.output(None, self.dst, PROTO_UDP, b"\0" * 8 + data, ttl=self.ttl)
        seg = udp.emit(src.to_bytes(4, "big"), self.dst.to_bytes(4, "big"), self.ident,
                       (self.port + seq) & 0xFFFF, data)
        return ip.output(src, self.dst, PROTO_UDP, seg, ttl=self.ttl, df=self.df)

    def _send6(self, seq: int) -> int:
        if self.icmp_probes:
            msg = icmp6.echo_request(self.src, self.dst, self.ident, seq,
                                     bytes(self.size - 8))
            nh = NH_ICMPV6
        else:
            msg = udp.emit(self.src, self.dst, self.ident, (self.port + seq) & 0xFFFF,
                           bytes(self.size - 8))
            nh = PROTO_UDP
        return self.ip6.output(self.src, self.dst, self.zone, nh, msg, hlim=self.ttl)

    def _answer(self, src_text: str, kind: str, type_: int, code: int, hlim: int,
                mtu: int = 0) -> None:
        """The probe in flight got its answer: report it, go on."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        rtt = (time.perf_counter() - self.t0) * 1000
        self.codes.append((kind, code))
        self._report({"from": src_text, "type": type_, "code": code, "hlim": hlim,
                      "time": rtt, "mtu": mtu})

    def _timeout(self) -> None:
        self.timer = None
        if not self.done:
            self._report({"from": None})

    def _report(self, fields: dict) -> None:
        ev = {"ev": "probe", "ttl": self.ttl, "probe": self.probe, "errno": self.errno}
        ev.update(fields)
        self.push(ev)
        self.probe += 1
        if self.probe < self.nprobes:
            self.timer = self.loop.call_later(0, self._send)
            return
        stop = (finished6 if self.v6 else finished4)(self.codes, self.nprobes)
        if stop or self.ttl >= self.max_ttl:
            self.finish()
            return
        self.ttl += 1
        self.probe = 0
        self.codes = []
        self.timer = self.loop.call_later(0, self._send)

    # -- answers (called by the IPv4/IPv6 layers) ---------------------------------------------
    def on_reply(self, h, m) -> None:
        """An ICMP echo reply with our ident (ICMP probes)."""
        if self.done or self.timer is None or m.seq != self.seq or \
                h.src != self.dst.to_bytes(4, "big"):
            return
        self._answer(ntoa(int.from_bytes(h.src, "big")), "reply", m.type, m.code, h.ttl)

    def on_error(self, h, m) -> None:
        """An ICMP error quoting one of our probes (echo request or UDP datagram)."""
        if self.done or self.timer is None:
            return
        t, code = m.type, m.code
        if not (t == icmp.TIME_EXCEEDED and code == icmp.TIMXCEED_INTRANS
                or t == icmp.DEST_UNREACH):
            return
        q = m.payload
        hl = (q[0] & 0x0F) << 2
        if len(q) < hl + 8:
            return
        inner = q[hl:]
        if self.icmp_probes:
            ok = q[9] == PROTO_ICMP and inner[0] == icmp.ECHO_REQUEST and \
                inner[4:6] == self.ident.to_bytes(2, "big") and \
                inner[6:8] == self.seq.to_bytes(2, "big")
        else:
            ok = q[9] == PROTO_UDP and inner[:2] == self.ident.to_bytes(2, "big") and \
                inner[2:4] == ((self.port + self.seq) & 0xFFFF).to_bytes(2, "big")
        if ok:
            kind = "timxceed" if t == icmp.TIME_EXCEEDED else "unreach"
            self._answer(ntoa(int.from_bytes(h.src, "big")), kind, t, code, h.ttl,
                         m.rest & 0xFFFF if code == icmp.UNREACH_NEEDFRAG else 0)

    def _from6(self, addr: bytes) -> str:
        text = ntop6(int.from_bytes(addr, "big"))
        if addr[0] == 0xFE and addr[1] & 0xC0 == 0x80:
            ifp = self.ip6.stack.by_index(self.zone) if self.zone else None
            if ifp is not None:
                text += "%" + ifp.name
        return text

    def on_reply6(self, h, m, rcvif=None) -> None:
        if self.done or self.timer is None or m.seq != self.seq or h.src != self.dst:
            return
        self._answer(self._from6(h.src), "reply", m.type, m.code, h.hop_limit)

    def on_error6(self, h, m) -> None:
        if self.done or self.timer is None:
            return
        t, code = m.type, m.code
        if t == icmp6.TIME_EXCEEDED and code == 0:
            kind = "timxceed"
        elif t == icmp6.DST_UNREACH:
            kind = "unreach"
        elif t == icmp6.PARAM_PROB and code == 1:   # unrecognized next header
            kind = "paramprob"
        else:
            return
        up = _upper6(m.payload, NH_ICMPV6 if self.icmp_probes else PROTO_UDP)
        if up is None:
            return
        if self.icmp_probes:
            ok = up[0] == icmp6.ECHO_REQUEST and \
                up[4:6] == self.ident.to_bytes(2, "big") and \
                up[6:8] == self.seq.to_bytes(2, "big")
        else:
            ok = up[:2] == self.ident.to_bytes(2, "big") and \
                up[2:4] == ((self.port + self.seq) & 0xFFFF).to_bytes(2, "big")
        if ok:
            self._answer(self._from6(h.src), kind, t, code, h.hop_limit)

    # -- the end -----------------------------------------------------------------------------
    def finish(self) -> None:
        if self.done:
            return
        self.cancel()
        self.finish_cb({"hops": self.ttl})

    def cancel(self) -> None:
        """Stop (client gone, or finished): no more probes, no more events."""
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.table.get(self.ident) is self:
            del self.table[self.ident]


def _upper6(quoted: bytes, want: int) -> bytes | None:
    """get_uphdr: the quoted packet's upper-layer header of type want, past extension
    headers (at least 8 bytes of it), else None."""
    if len(quoted) < 40:
        return None
    nh, cp = quoted[6], 40
    while len(quoted) - cp >= 8:
        if nh in (NH_ICMPV6, PROTO_UDP, 6, 132, 50, 59):
            return quoted[cp:] if nh == want else None
        if nh == 44:                        # fragment
            hlen, nh = 8, quoted[cp]
        elif nh == 51:                      # AH
            hlen, nh = (quoted[cp + 1] + 2) << 2, quoted[cp]
        else:
            hlen, nh = (quoted[cp + 1] + 1) << 3, quoted[cp]
        cp += hlen
    return None
