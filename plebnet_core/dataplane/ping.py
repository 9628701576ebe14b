"""The stack side of ping(8): echo requests sent from the stack, replies and ICMP errors
streamed back to the client as events.  The client (plebconf/cli/ping.py) does the printing
and the statistics, like FreeBSD's ping does from what its raw socket receives.

Events (maps): {"ev": "sent", "seq", "errno"}, {"ev": "reply", "from", "seq", "ttl", "bytes",
"time" (ms)}, {"ev": "icmp", "from", "bytes", "type", "code", "rest", "quoted" (bytes)}.
"""
from __future__ import annotations

import struct
import time

from plebproto.constants import EINVAL

from plebproto.errors import OpError
from ..state.inet import ntoa
from .wire import icmp

TIMEVAL = struct.Struct("!II")
MAXWAIT = 10.0          # seconds ping waits after the last request when nothing came back


class PingSession:
    def __init__(self, ip, loop, *, dst: int, src: int | None, count: int, interval: float,
                 size: int, ttl: int, timeout: float, waittime: float | None, push, finish):
        if not 0 <= size <= 65507 or not 1 <= ttl <= 255 or interval < 0 or count < 0:
            raise OpError(EINVAL, "bad ping parameters")
        self.ip, self.loop = ip, loop
        self.dst, self.src = dst, src
        self.count, self.interval, self.ttl = count, interval, ttl
        self.timeout, self.waittime = timeout, waittime
        self.push, self.finish_cb = push, finish
        self.pad = bytes(i & 0xFF for i in range(TIMEVAL.size, max(size, TIMEVAL.size)))
        self.size = size
        self.ident = self._free_ident()
        self.sent: dict[int, float] = {}
        self.ntransmitted = 0
        self.nreceived = 0
        self.tmax = 0.0
        self.timer = None
        self.deadline = None
        self.done = False

    def _free_ident(self) -> int:
        pings = self.ip.pings
        ident = self.ip.next_ident()
        while ident in pings:
            ident = self.ip.next_ident()
        return ident

    def start(self) -> None:
        self.ip.pings[self.ident] = self
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
        err = self.ip.output(self.src, self.dst, 1, icmp.echo_request(self.ident, seq, data),
                             ttl=self.ttl)
        self.ntransmitted += 1
        self.push({"ev": "sent", "seq": seq, "errno": err})
        if self.count and self.ntransmitted >= self.count:
            if self.waittime is not None:
                wait = self.waittime
            elif self.nreceived:
                wait = max(1.0, 2 * self.tmax)
            else:
                wait = MAXWAIT
            self.timer = self.loop.call_later(wait, self.finish)
        else:
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
        if self.ip.pings.get(self.ident) is self:
            del self.ip.pings[self.ident]
