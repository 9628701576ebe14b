"""A Linux TAP device: the stack is the far end of a kernel Ethernet interface.

Frames the kernel transmits on the interface come out of the fd; frames written to the fd are
received by the kernel.  The interface is not persistent, so closing the fd destroys it.
"""
from __future__ import annotations

import fcntl
import os
import struct

from .base import Device
from .netns import netns as in_netns

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000  # no 4-byte packet-info prefix: reads and writes are bare frames
IFNAMSIZ = 16
_IFREQ = struct.Struct("16sH22x")

READ_SIZE = 65536 + 18  # largest frame the kernel can hand us: 64 KiB MTU + header + VLAN tag


class TapDevice(Device):
    kind = "tap"

    def __init__(self, ifname: str = "", *, name: str | None = None, netns: str | None = None,
                 up: bool = False, address: str | None = None, mtu: int | None = None,
                 kernel_mac: str | None = None):
        """Create TAP interface `ifname` (kernel picks tapN when empty or a '%d' template).

        netns: create the kernel-side interface inside that namespace (by ip-netns name).
        up/address ('10.0.0.1/24')/mtu/kernel_mac: configure the kernel side there.
        name: the stack's name for the device (defaults to the kernel's interface name).
        """
        with in_netns(netns):
            # the interface is born in the namespace /dev/net/tun was opened in
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                req = _IFREQ.pack(ifname.encode(), IFF_TAP | IFF_NO_PI)
                res = fcntl.ioctl(fd, TUNSETIFF, req)
                self.ifname = res[:IFNAMSIZ].rstrip(b"\0").decode()
                self.netns = netns
                if up or address or mtu or kernel_mac:
                    self._configure(up, address, mtu, kernel_mac)
            except BaseException:
                os.close(fd)
                raise
        super().__init__(name or self.ifname)
        self._fd = fd

    def _configure(self, up, address, mtu, kernel_mac) -> None:
        from pyroute2 import IPRoute  # slow to import; only TAP setup needs it

        # the netlink socket belongs to the namespace the calling thread is in: callers enter
        # self.netns first (see netns.py)
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=self.ifname)[0]
            if kernel_mac:
                ipr.link("set", index=index, address=kernel_mac)
            if mtu:
                ipr.link("set", index=index, mtu=mtu)
            if address:
                addr, _, plen = address.partition("/")
                full = 128 if ":" in addr else 32
                ipr.addr("add", index=index, address=addr, prefixlen=int(plen or full))
            if up:
                ipr.link("set", index=index, state="up")

    def configure(self, *, up: bool = False, address: str | None = None, mtu: int | None = None,
                  kernel_mac: str | None = None) -> None:
        """Configure the kernel side later (in its namespace)."""
        with in_netns(self.netns):
            self._configure(up, address, mtu, kernel_mac)

    def move_to_netns(self, netns: str) -> None:
        """Move the kernel-side interface into another namespace (it arrives down, unaddressed)."""
        from pyroute2 import IPRoute

        with in_netns(self.netns), IPRoute() as ipr:
            index = ipr.link_lookup(ifname=self.ifname)[0]
            ipr.link("set", index=index, net_ns_fd=netns)
        self.netns = netns

    def fileno(self) -> int | None:
        return self._fd if not self.closed else None

    def recv(self) -> bytes | None:
        if self.closed:  # the fd number may belong to someone else by now
            return None
        try:
            frame = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            # EBADFD/EIO while the interface is being torn down; nothing to deliver
            self.stats.ierrors += 1
            return None
        st = self.stats
        st.ipackets += 1
        st.ibytes += len(frame)
        return frame

    def send(self, frame) -> None:
        if self.closed:
            self.stats.oerrors += 1
            return
        # EIO: the kernel side is down; EAGAIN/ENOBUFS: its queue is full
        self._transmit(lambda: os.write(self._fd, frame), frame)

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.close(self._fd)
