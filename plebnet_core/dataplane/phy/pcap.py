"""Classic pcap files (microsecond timestamps) and a device wrapper that records its traffic."""
from __future__ import annotations

import os
import struct
import time
from typing import Callable

from .base import LINKTYPE_ETHERNET, Device

MAGIC_USEC = 0xA1B2C3D4
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Writes a pcap file, one write per packet, unbuffered, so a crash loses nothing.

    `target` is a path (created/truncated) or a binary file object (flushed per packet).
    """

    def __init__(self, target, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.linktype = linktype
        self.snaplen = snaplen
        self.clock_ns = clock_ns
        self.count = 0
        if isinstance(target, (str, bytes, os.PathLike)):
            self._file = open(target, "wb", buffering=0)
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self._write(_GLOBAL.pack(MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype))

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        if not self._owned:
            self._file.flush()

    def write(self, packet, ts_ns: int | None = None) -> None:
        """Record one packet; ts_ns is the capture time in ns since the epoch (default: now)."""
        if ts_ns is None:
            ts_ns = self.clock_ns()
        sec, usec = divmod(ts_ns // 1000, 1_000_000)
        n = len(packet)
        incl = min(n, self.snaplen)
        self._write(_RECORD.pack(sec, usec, incl, n) + packet[:incl])
        self.count += 1

    def close(self) -> None:
        if self._owned and not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PcapTap(Device):
    """Wraps a device; every frame it sends or receives is also written to a pcap file.

    Looks like the wrapped device to its owner (same name, kind, fileno, stats).
    """

    def __init__(self, device: Device, target, *, snaplen: int = 262144,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.device = device
        self.writer = PcapWriter(target, device.linktype, snaplen, clock_ns)
        self.closed = False

    # identity and counters are the wrapped device's
    name = property(lambda self: self.device.name)
    kind = property(lambda self: self.device.kind)
    linktype = property(lambda self: self.device.linktype)
    stats = property(lambda self: self.device.stats)

    def fileno(self) -> int | None:
        return self.device.fileno()

    def attach(self, loop, on_readable: Callable[[], None]) -> None:
        self.device.attach(loop, on_readable)

    def detach(self) -> None:
        self.device.detach()

    def recv(self) -> bytes | None:
        frame = self.device.recv()
        if frame is not None:
            self.writer.write(frame)
        return frame

    def send(self, frame) -> None:
        self.writer.write(frame)
        self.device.send(frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.device.close()
            self.writer.close()

    def __getattr__(self, attr):
        # anything else (ifname, vni, configure(), ...) is the wrapped device's
        return getattr(self.device, attr)
