"""lo0: what is sent comes back, through the event loop (call_soon), never re-entrantly.

Payload-agnostic: the interface layer decides what it sends.  linktype says what a pcap of it
should be labelled; BSD's lo0 carries a 4-byte host-order address family before each packet.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from .base import LINKTYPE_NULL, Device

DEFAULT_QLEN = 512


class LoopbackDevice(Device):
    kind = "loopback"
    linktype = LINKTYPE_NULL

    def __init__(self, name: str = "lo0", *, qlen: int = DEFAULT_QLEN):
        super().__init__(name)
        self.qlen = qlen
        self._queue: deque[bytes] = deque()
        self._on_readable: Callable[[], None] | None = None
        self._scheduled = False

    def attach(self, loop, on_readable: Callable[[], None]) -> None:
        self._loop = loop
        self._on_readable = on_readable
        if self._queue:
            self._schedule()

    def detach(self) -> None:
        self._loop = None
        self._on_readable = None

    def _schedule(self) -> None:
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._wake)

    def _wake(self) -> None:
        self._scheduled = False
        if self._on_readable is not None and self._queue:
            self._on_readable()
            # level-triggered like an fd: an owner that stopped early is called again
            if self._queue:
                self._schedule()

    def send(self, frame) -> None:
        if self.closed or len(self._queue) >= self.qlen:
            self.stats.oqdrops += 1
            return
        self.stats.opackets += 1
        self.stats.obytes += len(frame)
        self.inject(frame)

    def inject(self, frame) -> None:
        """Queue `frame` for recv() as if it had arrived (send() does this for every frame)."""
        if self.closed or len(self._queue) >= self.qlen:
            self.stats.iqdrops += 1
            return
        self._queue.append(bytes(frame))
        self._schedule()

    def recv(self) -> bytes | None:
        if not self._queue:
            return None
        frame = self._queue.popleft()
        self.stats.ipackets += 1
        self.stats.ibytes += len(frame)
        return frame

    def close(self) -> None:
        super().close()
        self._queue.clear()
