"""Ethernet over UDP with VXLAN framing (RFC 7348): a virtual wire to a remote VTEP.

The far end can be another plebnet or a Linux vxlan interface.  A plain UDP socket does it, so
no privileges are needed (except to bind a port below 1024).
"""
from __future__ import annotations

import socket

from ..wire import vxlan as vxlan_wire
from .base import Device
from .netns import netns as in_netns

_HLEN = vxlan_wire.HEADER_LEN
_FLAG_I = vxlan_wire.FLAG_I
RECV_SIZE = 65536
MAX_DROPS_PER_RECV = 64


class VxlanDevice(Device):
    kind = "vxlan"

    def __init__(self, name: str, *, vni: int, local: tuple[str, int],
                 remote: tuple[str, int], netns: str | None = None, any_source: bool = False):
        """Bind UDP `local` (addr, port), send to `remote` (addr, port) with VNI `vni`.

        Datagrams from an address other than remote's are dropped unless any_source is set
        (the source port is not checked: Linux picks it per flow).  netns: open the socket in
        that network namespace.
        """
        super().__init__(name)
        self._hdr = vxlan_wire.header(vni)  # raises WireError on a bad VNI
        self._vni_bytes = self._hdr[4:7]
        self.vni = vni
        family = socket.AF_INET6 if ":" in remote[0] else socket.AF_INET
        self._family = family
        self.remote = remote
        self.any_source = any_source
        with in_netns(netns):
            sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(local)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.local = sock.getsockname()
        self.netns = netns

    @property
    def remote(self) -> tuple:
        """Where frames go (and, unless any_source, the only address they come from)."""
        return self._remote

    @remote.setter
    def remote(self, remote: tuple[str, int]) -> None:
        info = socket.getaddrinfo(remote[0], remote[1], self._family, socket.SOCK_DGRAM, 0,
                                  socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
        self._remote = info[0][4]

    def fileno(self) -> int | None:
        return self._sock.fileno() if not self.closed else None

    def recv(self) -> bytes | None:
        """The next valid inner frame; bad or foreign datagrams are dropped and counted.

        Gives up after a bounded number of drops so a flood of junk cannot hold the loop; the
        fd stays readable and the loop comes back.
        """
        if self.closed:
            return None
        sock = self._sock
        st = self.stats
        for _ in range(MAX_DROPS_PER_RECV):
            try:
                data, addr = sock.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                # a queued ICMP error (e.g. ECONNREFUSED) surfaces here; it is not a frame
                st.ierrors += 1
                continue
            if addr[0] != self._remote[0] and not self.any_source:
                st.iqdrops += 1
                continue
            # the header check inlined: this is the per-frame path
            if len(data) < _HLEN + 14 or not data[0] & _FLAG_I or data[4:7] != self._vni_bytes:
                st.ierrors += 1
                continue
            st.ipackets += 1
            st.ibytes += len(data) - _HLEN
            return data[_HLEN:]
        return None

    def send(self, frame) -> None:
        self._transmit(lambda: self._sock.sendto(self._hdr + frame, self._remote), frame)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock.close()
