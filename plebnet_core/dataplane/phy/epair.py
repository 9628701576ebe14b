"""An epair(4) end: frames sent on one end come in on the other, inside the process (no fd:
the peer's owner is woken through the loop, as if_epair.c hands the mbuf to the peer's
if_input from a task)."""
from __future__ import annotations

from collections import deque

from .base import Device

IFQ_MAXLEN = 512        # frames waiting at an end before further ones are dropped


class EpairDevice(Device):
    kind = "epair"

    def __init__(self, name: str):
        super().__init__(name)
        self.peer: EpairDevice | None = None
        self.queue: deque = deque()
        self._wake = None

    @staticmethod
    def link(a: "EpairDevice", b: "EpairDevice") -> None:
        a.peer, b.peer = b, a

    def attach(self, loop, on_readable) -> None:
        self._loop = loop
        self._wake = on_readable

    def detach(self) -> None:
        self._loop = self._wake = None

    def recv(self) -> bytes | None:
        return self.queue.popleft() if self.queue else None

    def send(self, frame) -> None:
        peer = self.peer
        if peer is None or peer.closed or peer._wake is None or len(peer.queue) >= IFQ_MAXLEN:
            self.stats.oqdrops += 1
            return
        peer.queue.append(bytes(frame))
        st = self.stats
        st.opackets += 1
        st.obytes += len(frame)
        if len(peer.queue) == 1:
            peer._loop.call_soon(peer._wake)

    def close(self) -> None:
        if self.peer is not None and self.peer.peer is self:
            self.peer.peer = None
        self.peer = None
        self.queue.clear()
        super().close()
