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


# Linux errno -> FreeBSD's, for the kernel messages below
_BSD_ERRNO = {98: 48, 99: 49, 97: 47, 13: 13, 1: 1, 24: 24}


class VxlanClone(Device):
    """A cloned vxlan(4) interface: its parameters are configuration, its UDP socket is
    opened when the interface comes up and running (sys/net/if_vxlan.c vxlan_init) and closed
    when it goes down (vxlan_teardown), so a create never fails for the host's addresses and
    parameters changed while down take effect at the next up."""

    kind = "vxlan"

    def __init__(self, name: str, netns: str | None = None):
        super().__init__(name)
        self.netns = netns
        self.tunnel: VxlanDevice | None = None

    @property
    def running(self) -> bool:
        return self.tunnel is not None

    def init(self, params: dict, default_port: int) -> list[str]:
        """vxlan_init: check the configuration, open the socket.  Returns the kernel's
        messages (if_printf, without the interface name) when that fails, [] when running."""
        if self.tunnel is not None:
            return []
        reason = _init_config_problem(params, default_port)
        if reason is not None:
            return [f"cannot initialize interface: {reason}"]
        remote = str(params["vxlanremote"])
        local = params.get("vxlanlocal") or ("::" if ":" in remote else "0.0.0.0")
        lport = _port_of(params.get("vxlanlocalport"), default_port)
        rport = _port_of(params.get("vxlanremoteport"), default_port)
        try:
            self.tunnel = VxlanDevice(self.name, vni=int(params["vxlanid"]),
                                      local=(str(local), lport), remote=(remote, rport),
                                      netns=self.netns)
        except OSError as exc:
            error = _BSD_ERRNO.get(exc.errno, exc.errno)
            # vxlan_socket_bind: "if (error != EADDRINUSE) if_printf(ifp, "cannot bind
            # socket: %d\n", error)"; then vxlan_setup_socket's line (an existing socket
            # of another vxlan on that address is not shared here)
            lines = [] if error == 48 else [f"cannot bind socket: {error}"]
            lines.append(f"cannot create socket (error: {error}), and no existing socket "
                         f"found")
            return lines
        self.tunnel.stats = self.stats      # one set of counters for the interface
        return []

    def teardown(self) -> None:
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            tunnel.close()

    def fileno(self) -> int | None:
        return self.tunnel.fileno() if self.tunnel is not None else None

    def recv(self) -> bytes | None:
        return self.tunnel.recv() if self.tunnel is not None else None

    def send(self, frame) -> None:
        if self.tunnel is not None:
            self.tunnel.send(frame)
        else:
            self.stats.oerrors += 1     # vxlan_transmit while not running

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.teardown()


def _port_of(value, default: int) -> int:
    return default if value is None or value == "" else int(value)


def _is_any(addr: str) -> bool:
    return addr in ("0.0.0.0", "::") or not addr.strip("0:.")


def _init_config_problem(p: dict, default_port: int) -> str | None:
    """vxlan_valid_init_config's reason, in its order of checks, or None."""
    if p.get("vxlanid", p.get("vni")) is None:
        return "invalid virtual network identifier specified"
    remote = p.get("vxlanremote")
    if not remote or _is_any(str(remote)):
        return "no valid destination address specified"
    remote = str(remote)
    multicast = remote.lower().startswith("ff") if ":" in remote else \
        224 <= int(remote.split(".")[0]) <= 239
    if not multicast and p.get("vxlandev"):
        return "can only specify interface with a group address"
    local = p.get("vxlanlocal")
    if local and not _is_any(str(local)) and (":" in str(local)) != (":" in remote):
        return "source and destination address must both be either IPv4 or IPv6"
    if _port_of(p.get("vxlanlocalport"), default_port) == 0:
        return "local port not specified"
    if _port_of(p.get("vxlanremoteport"), default_port) == 0:
        return "remote port not specified"
    return None
