"""IPv6 reassembly (RFC 8200 4.5, FreeBSD's frag6.c): fragments for us, queued by (source,
destination, identification) until the datagram is whole or its 60 seconds run out.

Overlapping fragments drop the whole datagram (RFC 5722); a non-final fragment whose length is
not a multiple of 8 or a datagram beyond 65535 bytes is a parameter problem for the caller to
report.  Time comes from the injected clock; the owner calls expire() at next_deadline() and may
send ICMPv6 time exceeded (reassembly) quoting the first fragment it returns.
"""
from __future__ import annotations

from .wire import ipv6
from .wire.errors import WireError

TIMEOUT = 60.0          # IPV6_FRAGTTL: 120 half-seconds
MAX_DATAGRAMS = 256     # net.inet6.ip6.maxfragpackets (scaled down)
MAX_FRAGMENTS = 64      # net.inet6.ip6.maxfragsperpacket


class _Datagram:
    __slots__ = ("deadline", "pieces", "end", "nh", "first", "size")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.pieces: dict[int, bytes] = {}     # offset -> data
        self.end = None         # payload length, once the last fragment came
        self.nh = None          # the upper layer, from the first fragment's header
        self.first = None       # the caller's record of the first fragment (ICMPv6 quote)
        self.size = 0           # bytes received


class Reassembler6:
    def __init__(self, clock, timeout: float = TIMEOUT, max_datagrams: int = MAX_DATAGRAMS,
                 max_fragments: int = MAX_FRAGMENTS):
        self.clock = clock
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_fragments = max_fragments
        self._queues: dict[tuple, _Datagram] = {}
        self.timed_out = 0          # fragments dropped by expire() (ip6s_fragtimeout)

    def __len__(self) -> int:
        return len(self._queues)

    def push(self, src: bytes, dst: bytes, ident: int, offset: int, more: bool, nh: int,
             data, first, frag_at: int) -> tuple[int, bytes] | None:
        """Add one fragment's data; (next header after the fragment header, whole payload)
        once complete.  first: what expire() hands back if this is the first fragment;
        frag_at: where the fragment header is (from the IPv6 header), for error pointers.

        Raises ipv6.ParamProblem for a fragment RFC 8200 answers with one (the datagram is
        dropped), WireError for one that is silently dropped with its datagram."""
        if more and (not data or len(data) & 7):
            raise ipv6.ParamProblem("ipv6: non-final fragment not a multiple of 8 bytes",
                                    ipv6.PARAMPROB_HEADER, 4)
        if offset + len(data) > ipv6.MAX_PAYLOAD - frag_at - 8 + ipv6.HEADER_LEN:
            raise ipv6.ParamProblem("ipv6: fragment ends beyond 65535", ipv6.PARAMPROB_HEADER,
                                    frag_at + 2)
        key = (src, dst, ident)
        now = self.clock()
        dg = self._queues.get(key)
        if dg is not None and dg.deadline <= now:
            del self._queues[key]
            dg = None
        if dg is None:
            if len(self._queues) >= self.max_datagrams:
                del self._queues[next(iter(self._queues))]      # the oldest goes
            dg = self._queues[key] = _Datagram(now + self.timeout)
        try:
            self._add(dg, offset, more, nh, data, first)
        except WireError:
            del self._queues[key]
            raise
        if dg.end is None or dg.size != dg.end or dg.nh is None:
            return None
        del self._queues[key]
        return dg.nh, b"".join(dg.pieces[k] for k in sorted(dg.pieces))

    def _add(self, dg, offset, more, nh, data, first) -> None:
        if len(dg.pieces) >= self.max_fragments:
            raise WireError(f"ipv6: more than {self.max_fragments} fragments")
        end = offset + len(data)
        if not more:
            if dg.end is not None and dg.end != end:
                raise WireError("ipv6: two different final fragments")
            dg.end = end
        if dg.end is not None and end > dg.end:
            raise WireError("ipv6: fragment beyond the datagram's end")
        for k, piece in dg.pieces.items():
            if k < end and offset < k + len(piece):
                raise WireError("ipv6: overlapping fragments")     # RFC 5722
        dg.pieces[offset] = bytes(data)
        dg.size += len(data)
        if offset == 0:
            dg.nh = nh
            dg.first = first

    def expire(self) -> list:
        """Drop timed-out datagrams; return their first fragments (for time exceeded)."""
        now = self.clock()
        firsts = []
        for key in [k for k, dg in self._queues.items() if dg.deadline <= now]:
            dg = self._queues.pop(key)
            self.timed_out += len(dg.pieces)
            if dg.first is not None:
                firsts.append(dg.first)
        return firsts

    def next_deadline(self) -> float | None:
        return min((dg.deadline for dg in self._queues.values()), default=None)
