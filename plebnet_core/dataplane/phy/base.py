"""What every device offers, and the counters netstat -i will show.

A device moves whole frames (or, for lo0, whole packets) between the stack and something
outside it.  Devices never block: recv() returns None when nothing is waiting, send() drops
and counts when the far side can't take the frame.  attach() hooks a device into the event loop
so that its owner is called when frames are waiting; the owner then drains with recv().
"""
from __future__ import annotations

import errno

from typing import Callable

LINKTYPE_NULL = 0  # pcap: 4-byte host-order address family, then the packet (BSD lo0)
LINKTYPE_ETHERNET = 1


class DeviceStats:
    """Per-device counters, named after FreeBSD's struct if_data fields (ifi_*)."""

    __slots__ = ("ipackets", "ierrors", "iqdrops", "ibytes",
                 "opackets", "oerrors", "oqdrops", "obytes")

    def __init__(self):
        self.ipackets = self.ierrors = self.iqdrops = self.ibytes = 0
        self.opackets = self.oerrors = self.oqdrops = self.obytes = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"DeviceStats({self.as_dict()})"


class Device:
    kind = "device"
    linktype = LINKTYPE_ETHERNET

    def __init__(self, name: str):
        self.name = name
        self.stats = DeviceStats()
        self.closed = False
        self._loop = None

    def fileno(self) -> int | None:
        """The fd to poll for readability, or None for devices fed from inside the process."""
        return None

    def attach(self, loop, on_readable: Callable[[], None]) -> None:
        """Have the loop call on_readable() whenever recv() may return a frame."""
        fd = self.fileno()
        self.detach()
        self._loop = loop
        if fd is not None:
            loop.add_reader(fd, on_readable)

    def detach(self) -> None:
        fd = self.fileno()
        if self._loop is not None and fd is not None:
            self._loop.remove_reader(fd)
        self._loop = None

    def recv(self) -> bytes | None:
        raise NotImplementedError

    def send(self, frame) -> None:
        raise NotImplementedError

    def _transmit(self, write, frame) -> None:
        """Count one send done by write(): sent, dropped on a full queue, or failed.  A send
        never raises: a full queue or a peer that is down is not the caller's problem."""
        try:
            write()
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOBUFS):
                self.stats.oqdrops += 1
            else:
                self.stats.oerrors += 1
            return
        st = self.stats
        st.opackets += 1
        st.obytes += len(frame)

    def close(self) -> None:
        if not self.closed:
            self.detach()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} kind={self.kind}>"
