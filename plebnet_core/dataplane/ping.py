"""The stack side of ping(8): echo requests sent from the stack, replies and ICMP errors
streamed back to the client as events.  The client (plebconf/cli/ping.py) does the printing
and the statistics, like FreeBSD's ping does from what its raw socket receives.

Events (maps): {"ev": "sent", "seq", "errno"}, {"ev": "reply", "from", "seq", "ttl", "bytes",
"time" (ms)}, {"ev": "icmp", "from", "bytes", "type", "code", "rest", "quoted" (bytes)}.
IPv6 (ping -6, ICMPv6 echo): the same events, "ttl" being the hop limit and "bytes" the
ICMPv6 message's length (what ping6 reads from its raw socket), a reply's "dst" the address
it came to with the arrival interface as its zone (IPV6_PKTINFO, for ping6 -v), after a first
{"ev": "start", "src"}: the source address chosen, which ping6's heading prints, and
{"ev": "pathmtu", "mtu", "addr", "match"} for a packet too big about an ICMPv6 packet when
the session asked for it (minmtu -1: ping6 -u sets IPV6_RECVPATHMTU): the notified MTU, the
destination it is for and whether that is the one pinged.
"""
from __future__ import annotations

import struct
import time

from plebproto.constants import EINVAL

from plebproto.errors import OpError
from ..state.inet import ntoa, ntop6
from .wire import icmp, icmp6

TIMEVAL = struct.Struct("!II")
MAXWAIT = 10.0          # seconds ping waits after the last request when nothing came back


class PingSession:
    def __init__(self, ip, loop, *, dst: int, src: int | None, count: int, interval: float,
                 size: int, ttl: int, timeout: float, waittime: float | None, push, finish,
                 ip6=None, zone: int = 0, src_name: str = "", minmtu: int = -1):
        """IPv6 when ip6 (the IPv6 layer) is given: dst and src are then 16-byte strings,
        src already chosen (the ICMPv6 checksum covers it), zone the interface index of a
        scoped destination; src_name the source as text (with its %zone); minmtu the
        IPV6_USE_MIN_MTU level (1 always, -1 for multicast only, 0 never)."""
        limit = 65535 - 40 - 8 if ip6 is not None else 65507
        if not 0 <= size <= limit or not 1 <= ttl <= 255 or interval < 0 or count < 0 or \
                minmtu not in (-1, 0, 1):
            raise OpError(EINVAL, "bad ping parameters")
        self.ip, self.loop = ip, loop
        self.ip6, self.zone, self.src_name = ip6, zone, src_name
        self.minmtu = minmtu
        self.dst, self.src = dst, src
        self.count, self.interval, self.ttl = count, interval, ttl
        self.timeout, self.waittime = timeout, waittime
        self.push, self.finish_cb = push, finish
        # both pings fill the bytes after the time stamp with 8, 9, 10...
        self.pad = bytes(i & 0xFF for i in range(TIMEVAL.size, max(size, TIMEVAL.size)))
        self.size = size
        self.pings = ip6.pings if ip6 is not None else ip.pings
        self.ident = self._free_ident()
        self.sent: dict[int, float] = {}
        self.ntransmitted = 0
        self.nreceived = 0
        self.tmax = 0.0
        self.timer = None
        self.deadline = None
        self.done = False
        self.paused = False     # the client's output budget is spent: no more requests

    def _free_ident(self) -> int:
        pings = self.pings
        ident = self.ip.next_ident()
        while ident in pings:
            ident = self.ip.next_ident()
        return ident

    def start(self) -> None:
        self.pings[self.ident] = self
        if self.ip6 is not None:
            self.push({"ev": "start", "src": self.src_name})
        if self.timeout:
            self.deadline = self.loop.call_later(self.timeout, self.finish)
        self._send()

    def _send(self) -> None:
        self.timer = None
        if self.done:
            return
        seq = self.ntransmitted & 0xFFFF
        now = time.time()
        if self.size >= TIMEVAL.size:
            data = TIMEVAL.pack(int(now) & 0xFFFFFFFF, int(now % 1 * 1e6)) + self.pad
        else:
            data = bytes(self.size)
        self.sent[seq] = time.perf_counter()
        if self.ip6 is not None:
            err = self.ip6.output(self.src, self.dst, self.zone, 58,
                                  icmp6.echo_request(self.src, self.dst, self.ident, seq, data),
                                  hlim=self.ttl, minmtu=self.minmtu)
        else:
            err = self.ip.output(self.src, self.dst, 1, icmp.echo_request(self.ident, seq, data),
                                 ttl=self.ttl)
        self.ntransmitted += 1
        more = self.push({"ev": "sent", "seq": seq, "errno": err})
        if self.count and self.ntransmitted >= self.count:
            if self.waittime is not None:
                wait = self.waittime
            elif self.nreceived:
                wait = max(1.0, 2 * self.tmax)
            else:
                wait = MAXWAIT
            self.timer = self.loop.call_later(wait, self.finish)
        elif more is False:     # the client is not reading: wait for resume()
            self.paused = True
        else:
            self.timer = self.loop.call_later(self.interval, self._send)

    def resume(self) -> None:
        """The client read its output: go on sending."""
        if self.paused and not self.done:
            self.paused = False
            self.timer = self.loop.call_later(self.interval, self._send)

    def on_reply(self, h, m) -> None:
        if self.done or h.src != self.dst.to_bytes(4, "big") and self.dst >> 28 != 0xE:
            return
        t0 = self.sent.get(m.seq)
        rtt = time.perf_counter() - t0 if t0 is not None else None
        if rtt is not None:
            self.tmax = max(self.tmax, rtt)
        self.nreceived += 1
        self.push({"ev": "reply", "from": ntoa(int.from_bytes(h.src, "big")), "seq": m.seq,
                   "ttl": h.ttl, "bytes": len(h.payload),
                   "time": rtt * 1000 if rtt is not None else None})
        if self.count and self.nreceived >= self.count:
            self.finish()

    def _from6(self, addr: bytes) -> str:
        text = ntop6(int.from_bytes(addr, "big"))
        if addr[0] == 0xFE and addr[1] & 0xC0 == 0x80 or addr[:2] in (b"\xff\x01", b"\xff\x02"):
            ifp = self.ip6.stack.by_index(self.zone)
            if ifp is not None:
                text += "%" + ifp.name
        return text

    def on_reply6(self, h, m, rcvif=None) -> None:
        if self.done or h.src != self.dst and self.dst[0] != 0xFF:
            return
        dst = ntop6(int.from_bytes(h.dst, "big"))
        if rcvif is not None:
            # getnameinfo() of ipi6_addr with ipi6_ifindex as the zone: a link-local (or
            # link/node-local multicast) address gets the interface's name, others its index
            scoped = h.dst[0] == 0xFE and h.dst[1] & 0xC0 == 0x80 or h.dst[:2] in (
                b"\xff\x01", b"\xff\x02")
            dst += "%" + (rcvif.name if scoped else str(rcvif.index))
        t0 = self.sent.get(m.seq)
        rtt = time.perf_counter() - t0 if t0 is not None else None
        if rtt is not None:
            self.tmax = max(self.tmax, rtt)
        self.nreceived += 1
        self.push({"ev": "reply", "from": self._from6(h.src), "seq": m.seq,
                   "ttl": h.hop_limit, "bytes": 8 + len(m.payload), "dst": dst,
                   "time": rtt * 1000 if rtt is not None else None})
        if self.count and self.nreceived >= self.count:
            self.finish()

    def on_error6(self, h, m) -> None:
        if self.done:
            return
        self.push({"ev": "icmp", "from": self._from6(h.src), "bytes": 8 + len(m.payload),
                   "type": m.type, "code": m.code, "rest": m.rest,
                   "quoted": bytes(m.payload)})

    def on_pathmtu6(self, dst: bytes, mtu: int) -> None:
        """ip6_notify_pmtu: only a socket with IPV6_RECVPATHMTU hears it (ping6 sets that
        with exactly one -u)."""
        if self.done or self.minmtu != -1:
            return
        self.push({"ev": "pathmtu", "mtu": mtu, "addr": self._from6(dst),
                   "match": dst == self.dst})

    def on_error(self, h, m) -> None:
        if self.done:
            return
        self.push({"ev": "icmp", "from": ntoa(int.from_bytes(h.src, "big")),
                   "bytes": len(h.payload), "type": m.type, "code": m.code, "rest": m.rest,
                   "quoted": bytes(m.payload)})

    def finish(self) -> None:
        if self.done:
            return
        self.cancel()
        self.finish_cb({"transmitted": self.ntransmitted, "received": self.nreceived})

    def cancel(self) -> None:
        """Stop (client gone, or finished): no more requests, no more events."""
        self.done = True
        for t in (self.timer, self.deadline):
            if t is not None:
                t.cancel()
        if self.pings.get(self.ident) is self:
            del self.pings[self.ident]
