"""lagg(4): link aggregation, its configuration (the SIOCSLAGG/SIOCSLAGGPORT/
SIOCSLAGGDELPORT requests, as the "lagg" op) and its data plane (sys/net/if_lagg.c).

    Laggs(plane, syscalls)          # registers the "lagg" op; one per data plane
    op lagg {req: "SIOCSLAGG", ifname, proto}      laggproto
    op lagg {req: "SIOCSLAGGPORT", ifname, port}    laggport (EEXIST: already a port of it)
    op lagg {req: "SIOCSLAGGDELPORT", ifname, port} -laggport
    lagg_status(stack, ifp) -> dict | None          # what the dumps show (lagg or port)

State lives in the lagg's params (journaled, so batches and dry runs undo it):
"laggproto" (default failover, as LAGG_PROTO_DEFAULT), "laggports" (port ifindexes, kept
sorted by index as if_lagg.c keeps them), "laggprimary" (the primary port's index: the first
port added, then the lowest index left).  The lagg takes its first port's MAC and MTU; the
other ports take the lagg's MAC (their own stays as hwaddr and comes back on removal).

Data plane: the lagg's device sends each frame out of one port -- failover: the primary when
it is active (up, link up), else the first active port; loadbalance: a hash of the L2, L3
and L4 addresses over the active ports; roundrobin: each active port in turn; broadcast:
all; none: nothing.  Frames arriving on a port are handed to the lagg (failover: only from
the port that is sending, as net.link.lagg.failover_rx_all=0).  LACP (802.3ad) is accepted
as a protocol but its negotiation is not implemented: no lacp port becomes active, so a lacp
lagg carries no traffic, and says so with flags=0<> on its ports.
"""
from __future__ import annotations

import zlib

from plebproto.constants import (
    E2BIG, EEXIST, EBUSY, EINVAL, ENOENT, EPROTONOSUPPORT, IFF_UP, LINK_STATE_UP,
)
from plebproto.errors import OpError

from .phy.base import Device

PROTOS = ("none", "roundrobin", "failover", "loadbalance", "lacp", "broadcast")
DEFAULT_PROTO = "failover"
MAX_PORTS = 32                  # LAGG_MAX_PORTS
# LAGG_PORT_BITS
PORT_MASTER, PORT_STABLE, PORT_ACTIVE = 0x01, 0x02, 0x04
PORT_COLLECTING, PORT_DISTRIBUTING, PORT_DISABLED = 0x08, 0x10, 0x20
HASH_L2, HASH_L3, HASH_L4 = 0x1, 0x2, 0x4       # LAGG_F_HASHL2.. (shifted: only the mask)
DEFAULT_HASH = HASH_L2 | HASH_L3 | HASH_L4


def is_lagg(ifp) -> bool:
    return ifp.iftype.name == "lagg"


def ports_of(stack, lagg) -> list:
    return [p for p in (stack.by_index(i) for i in lagg.params.get("laggports", ())) if p]


def lagg_of(stack, ifp):
    """The lagg ifp is a port of, or None."""
    for lagg in stack.ifaces:
        if is_lagg(lagg) and ifp.index in lagg.params.get("laggports", ()):
            return lagg
    return None


def port_active(port) -> bool:
    """LAGG_PORTACTIVE: the port is up and has link."""
    return bool(port.flags & IFF_UP) and port.link_state == LINK_STATE_UP


def failover_port(stack, lagg):
    """lagg_link_active(sc, sc_primary): the primary when active, else the next active."""
    ports = ports_of(stack, lagg)
    primary = lagg.params.get("laggprimary")
    for p in ports:
        if p.index == primary and port_active(p):
            return p
    return next((p for p in ports if port_active(p)), None)


def port_flags(stack, lagg, port) -> int:
    """lagg_port2req's rp_flags."""
    proto = lagg.params.get("laggproto", DEFAULT_PROTO)
    flags = PORT_MASTER if port.index == lagg.params.get("laggprimary") else 0
    if proto == "failover":
        if port is failover_port(stack, lagg):
            flags |= PORT_ACTIVE
    elif proto in ("roundrobin", "loadbalance", "broadcast"):
        if port_active(port):
            flags |= PORT_ACTIVE
    # lacp: active/collecting/distributing only once negotiated (not implemented); none: -
    return flags


def lagg_status(stack, ifp) -> dict | None:
    """{"proto", "hash", "ports": [{"name", "flags"}], "laggdev"?} for a lagg or a port."""
    lagg = ifp if is_lagg(ifp) else lagg_of(stack, ifp)
    if lagg is None:
        return None
    out = {"proto": lagg.params.get("laggproto", DEFAULT_PROTO),
           "hash": lagg.params.get("lagghash", DEFAULT_HASH),
           "ports": [{"name": p.name, "flags": port_flags(stack, lagg, p)}
                     for p in ports_of(stack, lagg)]}
    if lagg is not ifp:
        out["laggdev"] = lagg.name
    return out


class LaggDevice(Device):
    """The lagg's own device: what is sent goes out of a port; nothing is read from it (the
    ports' frames are handed to the lagg by Laggs)."""
    kind = "lagg"

    def __init__(self, laggs, ifp):
        super().__init__(ifp.name)
        self.laggs = laggs
        self.ifp = ifp
        self.rr = 0

    def recv(self):
        return None

    def send(self, frame) -> None:
        laggs, lagg = self.laggs, self.ifp
        stack = laggs.stack
        proto = lagg.params.get("laggproto", DEFAULT_PROTO)
        if proto == "failover":
            port = failover_port(stack, lagg)
            targets = [port] if port is not None else []
        elif proto in ("loadbalance", "roundrobin", "broadcast"):
            active = [p for p in ports_of(stack, lagg) if port_active(p)]
            if not active or proto == "broadcast":
                targets = active
            elif proto == "roundrobin":
                self.rr += 1
                targets = [active[self.rr % len(active)]]
            else:
                targets = [active[_hash(frame) % len(active)]]
        else:                   # none, and lacp without a negotiated aggregator
            targets = []
        if not targets:
            self.stats.oerrors += 1
            return
        st = self.stats
        st.opackets += 1
        st.obytes += len(frame)
        for port in targets:
            if port.device is not None:
                laggs.link.xmit(port, frame)


def _hash(frame) -> int:
    """lagg_hashmbuf with l2,l3,l4: the MACs, the IPv4/IPv6 addresses, the TCP/UDP ports."""
    key = bytes(frame[:12])
    etype = frame[12:14]
    if etype == b"\x08\x00" and len(frame) >= 34:
        hl = (frame[14] & 0x0F) * 4
        key += bytes(frame[26:34])
        if frame[23] in (6, 17) and len(frame) >= 14 + hl + 4:
            key += bytes(frame[14 + hl:14 + hl + 4])
    elif etype == b"\x86\xdd" and len(frame) >= 54:
        key += bytes(frame[22:54])
        if frame[20] in (6, 17) and len(frame) >= 58:
            key += bytes(frame[54:58])
    return zlib.crc32(key)


class Laggs:
    """The lagg op and the wiring of ports' devices to their lagg."""

    def __init__(self, plane, syscalls):
        self.plane = plane
        self.stack = plane.stack
        self.loop = plane.loop
        self.link = plane.link
        self.syscalls = syscalls
        if syscalls is not None:
            syscalls.register("lagg", self.op_lagg)

    # -- configuration -------------------------------------------------------------------------
    def op_lagg(self, args):
        req = args.get("req")
        name = args.get("ifname")
        if type(name) is not str:
            raise OpError(EINVAL, "argument 'ifname' must be a string")
        lagg = self.stack.ifunit(name)
        if not is_lagg(lagg):
            raise OpError(EINVAL)       # ether_ioctl: not this driver's request
        if req == "SIOCSLAGG":
            proto = args.get("proto")
            if proto not in PROTOS:
                raise OpError(EPROTONOSUPPORT)
            self._set(lagg, "laggproto", proto)
        elif req in ("SIOCSLAGGPORT", "SIOCSLAGGDELPORT"):
            pname = args.get("port")
            port = self.stack.by_name.get(pname) if type(pname) is str else None
            if port is None:
                raise OpError(EINVAL)
            if req == "SIOCSLAGGPORT":
                self._add_port(lagg, port)
            else:
                self._del_port(lagg, port)
        else:
            raise OpError(EINVAL, f"unknown lagg request {req!r}")
        if not self.syscalls.dry_running:
            self.stack.journal.on_commit(self.rewire)

    def _set(self, ifp, key, value) -> None:
        j = self.stack.journal
        params = dict(ifp.params)
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
        j.setattr(ifp, "params", params)

    def _add_port(self, lagg, port) -> None:
        """lagg_port_create's checks and effects."""
        ports = list(lagg.params.get("laggports", ()))
        owner = lagg_of(self.stack, port)
        if owner is lagg:
            raise OpError(EEXIST)
        if owner is not None:
            raise OpError(EBUSY)
        if not port.iftype.ether or is_lagg(port):
            raise OpError(EPROTONOSUPPORT)
        if len(ports) >= MAX_PORTS:
            raise OpError(E2BIG)
        j = self.stack.journal
        if not ports:                   # the first port: its MAC and MTU become the lagg's
            j.setattr(lagg, "mac", port.mac)
            j.setattr(lagg, "mtu", port.mtu)
            self._set(lagg, "laggprimary", port.index)
        else:
            j.setattr(port, "mac", lagg.mac)
            j.setattr(port, "mtu", lagg.mtu)
        self._set(lagg, "laggports", sorted(ports + [port.index]))
        self._capabilities(lagg)

    def _capabilities(self, lagg) -> None:
        """lagg_capabilities: what every port can do (their intersection; none without
        ports), so that a vlan on a lagg of VLAN_MTU ports keeps a 1500-byte MTU."""
        caps = 0
        for n, i in enumerate(lagg.params.get("laggports", ())):
            port = self.stack.by_index(i)
            caps = port.caps if n == 0 else caps & port.caps
        self.stack.journal.setattr(lagg, "caps", caps)

    def _del_port(self, lagg, port) -> None:
        ports = list(lagg.params.get("laggports", ()))
        if port.index not in ports:
            raise OpError(ENOENT)
        self.release(lagg, port)

    def release(self, lagg, port) -> None:
        """lagg_port_destroy: the port gets its own MAC back; a new primary if need be."""
        j = self.stack.journal
        ports = [i for i in lagg.params.get("laggports", ()) if i != port.index]
        j.setattr(port, "mac", port.hwaddr)
        self._set(lagg, "laggports", ports)
        self._capabilities(lagg)
        if lagg.params.get("laggprimary") == port.index:
            self._set(lagg, "laggprimary", ports[0] if ports else None)
            if ports:
                primary = self.stack.by_index(ports[0])
                j.setattr(lagg, "mac", primary.hwaddr)
                for i in ports:
                    j.setattr(self.stack.by_index(i), "mac", lagg.mac)

    # -- data plane ----------------------------------------------------------------------------
    def created(self, ifp):
        """The device of a new lagg."""
        return LaggDevice(self, ifp)

    def rewire(self) -> None:
        """After a change: every port's device feeds its lagg, every other device its own
        interface (Link's reader)."""
        for ifp in self.stack.ifaces:
            device = ifp.device
            if device is None or is_lagg(ifp) or device.fileno() is None:
                continue
            lagg = lagg_of(self.stack, ifp)
            if lagg is not None:
                device.attach(self.loop, lambda port=ifp, lagg=lagg: self._port_readable(
                    port, lagg))
            else:
                self.link.attach(ifp, device)

    def _port_readable(self, port, lagg) -> None:
        device = port.device
        if device is None:
            return
        st = port.stats
        for _ in range(128):
            frame = device.recv()
            if frame is None:
                return
            st[0] += 1
            st[3] += len(frame)
            if self.stack.by_index(lagg.index) is not lagg or not port_active(port):
                continue
            proto = lagg.params.get("laggproto", DEFAULT_PROTO)
            if proto == "failover" and port is not failover_port(self.stack, lagg):
                continue        # the backup port's frames are dropped (failover_rx_all=0)
            if proto in ("none", "lacp"):
                continue
            try:
                self.link.input(lagg, frame)
            except Exception:
                lagg.stats[1] += 1
