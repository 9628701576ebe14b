"""IPv4 reassembly (RFC 815): the data plane's fragment queues, with their clock, timeouts and
limits.  The codecs it builds on (parse, header fields) stay stateless in wire/ipv4.py."""
from __future__ import annotations

import time
from typing import Callable

from .wire.errors import WireError
from .wire.ipv4 import MAX_PACKET, IPv4Header


class _Datagram:
    __slots__ = ("deadline", "holes", "data", "end", "first", "count")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.holes = [(0, MAX_PACKET)]  # RFC 815 hole list: missing [first, last] byte ranges
        self.data = bytearray()
        self.end = None  # payload length, known once the last fragment (MF=0) arrived
        self.first = None  # the offset-0 fragment: its header becomes the datagram's
        self.count = 0


class Reassembler:
    """Reassembly queues keyed by (src, dst, ident, proto), RFC 815 hole-list style.

    Overlapping data keeps what arrived first (later copies can't rewrite checked bytes).
    Time comes from the injected clock; the owner calls expire() at next_deadline() and may send
    ICMP time exceeded (code 1, reassembly) for the offset-0 fragments it returns.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, timeout: float = 30.0,
                 max_datagrams: int = 256, max_fragments: int = 64):
        self.clock = clock
        self.timeout = timeout  # FreeBSD: net.inet.ip.fragttl, 30 s
        self.max_datagrams = max_datagrams
        # each fragment can split a hole, and each push walks the holes: cap the work a
        # datagram made of tiny fragments can cause (FreeBSD: net.inet.ip.maxfragsperpacket)
        self.max_fragments = max_fragments
        self._queues: dict[tuple, _Datagram] = {}
        # fragments thrown away (ipstat's ips_fragdropped and ips_fragtimeout): those of a
        # datagram a fragment contradicted or that made room for a newer one, and those of
        # datagrams whose time ran out
        self.dropped = 0
        self.timed_out = 0

    def __len__(self) -> int:
        return len(self._queues)

    def push(self, hdr: IPv4Header) -> IPv4Header | None:
        """Add a fragment; return the whole datagram once complete, else None.

        The returned header has the first fragment's fields, mf/frag_offset cleared, the new
        total_length, checksum 0 (not recomputed) and the full payload.  Raises WireError for a
        fragment that contradicts the ones before it; that datagram is dropped.
        """
        if not hdr.mf and not hdr.frag_offset:
            return hdr
        key = (hdr.src, hdr.dst, hdr.ident, hdr.proto)
        now = self.clock()
        dg = self._queues.get(key)
        if dg is not None and dg.deadline <= now:
            del self._queues[key]
            self.timed_out += dg.count
            dg = None
        if dg is None:
            if len(self._queues) >= self.max_datagrams:
                oldest = next(iter(self._queues))      # oldest goes first
                self.dropped += self._queues.pop(oldest).count
            dg = self._queues[key] = _Datagram(now + self.timeout)
        try:
            dg.count += 1
            if dg.count > self.max_fragments:
                raise WireError(f"ipv4: more than {self.max_fragments} fragments")
            done = self._add(dg, hdr)
        except WireError:
            del self._queues[key]
            self.dropped += dg.count
            raise
        if not done:
            return None
        del self._queues[key]
        first = dg.first
        if first.header_length + dg.end > MAX_PACKET:
            self.dropped += dg.count
            raise WireError("ipv4: reassembled datagram longer than 65535")
        return first._replace(total_length=first.header_length + dg.end, mf=False, frag_offset=0,
                              checksum=0, payload=bytes(dg.data[:dg.end]))

    @staticmethod
    def _add(dg: _Datagram, hdr: IPv4Header) -> bool:
        data = hdr.payload
        first = hdr.frag_offset
        last = first + len(data) - 1
        if hdr.mf:
            if len(data) == 0 or len(data) & 7:
                raise WireError("ipv4: non-final fragment length is not a multiple of 8")
            if dg.end is not None and last >= dg.end:
                raise WireError("ipv4: fragment beyond the datagram's end")
        else:
            if dg.end is not None and dg.end != last + 1:
                raise WireError("ipv4: two different final fragments")
            if dg.data and len(dg.data) > last + 1:
                raise WireError("ipv4: data received beyond the final fragment")
            dg.end = last + 1
        if first == 0 and dg.first is None:
            dg.first = hdr
        if len(dg.data) <= last:
            dg.data += bytes(last + 1 - len(dg.data))
        holes = []
        for h_first, h_last in dg.holes:
            if first > h_last or last < h_first:
                holes.append((h_first, h_last))
                continue
            lo, hi = max(first, h_first), min(last, h_last)
            dg.data[lo:hi + 1] = data[lo - first:hi + 1 - first]
            if h_first < first:
                holes.append((h_first, first - 1))
            if last < h_last and hdr.mf:
                holes.append((last + 1, h_last))
        if dg.end is not None:
            holes = [(a, min(b, dg.end - 1)) for a, b in holes if a < dg.end]
        dg.holes = holes
        return not holes and dg.end is not None

    def expire(self) -> list[IPv4Header]:
        """Drop timed-out datagrams; return their offset-0 fragments (for ICMP time exceeded)."""
        now = self.clock()
        expired = [k for k, dg in self._queues.items() if dg.deadline <= now]
        firsts = []
        for k in expired:
            dg = self._queues.pop(k)
            self.timed_out += dg.count
            if dg.first is not None:
                firsts.append(dg.first)
        return firsts

    def next_deadline(self) -> float | None:
        return min((dg.deadline for dg in self._queues.values()), default=None)
