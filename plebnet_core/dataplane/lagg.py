"""lagg(4): link aggregation, its configuration (the SIOCSLAGG/SIOCSLAGGPORT/
SIOCSLAGGDELPORT/SIOCSLAGGOPTS requests, as the "lagg" op) and its data plane
(sys/net/if_lagg.c).

    Laggs(plane, syscalls)          # registers the "lagg" op; one per data plane
    op lagg {req: "SIOCSLAGG", ifname, proto}      laggproto
    op lagg {req: "SIOCSLAGGPORT", ifname, port}    laggport (EEXIST: already a port of it)
    op lagg {req: "SIOCSLAGGDELPORT", ifname, port} -laggport
    op lagg {req: "SIOCSLAGGOPTS", ifname, opts}    use_flowid, lacp_fast_timeout, ... (one
                                                    LAGG_OPT_* bit, negated to clear it)
    lagg_status(stack, ifp) -> dict | None          # what the dumps show (lagg or port)

State lives in the lagg's params (journaled, so batches and dry runs undo it):
"laggproto" (default failover, as LAGG_PROTO_DEFAULT), "laggports" (port ifindexes, kept
sorted by index as if_lagg.c keeps them), "laggprimary" (the primary port's index: the first
port added, then the lowest index left).  The lagg takes its first port's MAC and MTU; the
other ports take the lagg's MAC (their own stays as hwaddr and comes back on removal).

Data plane: the lagg's device sends each frame out of one port -- failover: the primary when
it is active (up, link up), else the first active port; loadbalance: a hash of the L2, L3
and L4 addresses over the active ports; roundrobin: each active port in turn; broadcast:
all; lacp: the hash over the distributing ports of the active aggregator (lacp.py runs the
802.3ad machines); none: nothing.  Frames arriving on a port are handed to the lagg
(failover: only from the port that is sending, as net.link.lagg.failover_rx_all=0; lacp:
slow-protocol frames go to LACP, the rest only from a collecting port of the active
aggregator).

The lagg's link state follows its ports as lagg_linkstate sets it: up while any port has
link, down without (no ports: down); a lacp lagg's is LACP's (up while a port distributes).
A new protocol recomputes it too (if_lagg.c waits for a port's link event, which ports here
never raise).
Options (SIOCSLAGGOPTS) live in the params too: "laggopts" (sc_opts: USE_FLOWID, USE_NUMA;
USE_NUMA by default, as net.link.lagg.default_use_numa=1) and, for lacp, "lacpopts"
(LACP_STRICT, on by default as net.link.lagg.lacp.default_strict_mode=1, and
LACP_FAST_TIMO), which a new protocol resets as a new lacp_softc would.
"""
from __future__ import annotations

import zlib

from plebproto.constants import (
    E2BIG, EEXIST, EBUSY, EINVAL, ENOENT, EPROTONOSUPPORT, IFF_UP, LINK_STATE_DOWN,
    LINK_STATE_UNKNOWN, LINK_STATE_UP,
)
from plebproto.errors import OpError

from .lacp import Lacp
from .phy.base import Device
from .wire.lacp import ETHERTYPE_SLOW

PROTOS = ("none", "roundrobin", "failover", "loadbalance", "lacp", "broadcast")
DEFAULT_PROTO = "failover"
MAX_PORTS = 32                  # LAGG_MAX_PORTS
# LAGG_PORT_BITS
PORT_MASTER, PORT_STACK, PORT_ACTIVE = 0x01, 0x02, 0x04
PORT_COLLECTING, PORT_DISTRIBUTING, PORT_DISABLED = 0x08, 0x10, 0x20
HASH_L2, HASH_L3, HASH_L4 = 0x1, 0x2, 0x4       # LAGG_F_HASHL2.. (shifted: only the mask)
DEFAULT_HASH = HASH_L2 | HASH_L3 | HASH_L4
# struct lagg_reqopts' ro_opts bits
OPT_USE_FLOWID, OPT_USE_NUMA = 0x01, 0x04
OPT_LACP_STRICT, OPT_LACP_TXTEST, OPT_LACP_RXTEST, OPT_LACP_FAST_TIMO = 0x10, 0x20, 0x40, 0x80
DEFAULT_OPTS = OPT_USE_NUMA                     # net.link.lagg.default_use_numa=1
DEFAULT_LACP_OPTS = OPT_LACP_STRICT             # net.link.lagg.lacp.default_strict_mode=1
FLOWID_SHIFT = 16                               # net.link.lagg.default_flowid_shift
_SETOPTS = {OPT_USE_FLOWID: False, OPT_USE_NUMA: False, OPT_LACP_STRICT: True,
            OPT_LACP_FAST_TIMO: True}           # the settable options: lacp's or not


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


def _lacp(lagg):
    """The lagg's LACP (its Laggs' runtime state), or None."""
    device = lagg.device
    while device is not None and not isinstance(device, LaggDevice):
        device = getattr(device, "device", None)        # under a capture
    return device.laggs.lacps.get(lagg.index) if device is not None else None


def port_flags(stack, lagg, port) -> int:
    """lagg_port2req's rp_flags: MASTER (the primary) is failover's word only."""
    proto = lagg.params.get("laggproto", DEFAULT_PROTO)
    flags = 0
    if proto == "failover":
        if port.index == lagg.params.get("laggprimary"):
            flags |= PORT_MASTER
        if port is failover_port(stack, lagg):
            flags |= PORT_ACTIVE
    elif proto in ("roundrobin", "loadbalance", "broadcast"):
        if port_active(port):
            flags |= PORT_ACTIVE
    elif proto == "lacp":
        lacp = _lacp(lagg)
        if lacp is not None:
            if lacp.isactive(port):
                flags |= PORT_ACTIVE
            if lacp.iscollecting(port):
                flags |= PORT_COLLECTING
            if lacp.isdistributing(port):
                flags |= PORT_DISTRIBUTING
    return flags


def lagg_opts(lagg) -> int:
    """SIOCGLAGGOPTS' ro_opts: sc_opts, and lacp's options for a lacp lagg."""
    opts = lagg.params.get("laggopts", DEFAULT_OPTS)
    if lagg.params.get("laggproto", DEFAULT_PROTO) == "lacp":
        opts |= lagg.params.get("lacpopts", DEFAULT_LACP_OPTS)
    return opts


def lagg_status(stack, ifp) -> dict | None:
    """For a lagg or a port: {"proto", "hash", "ports": [{"name", "flags", "lacp"?}],
    "primary", "opts", "flowid_shift", "active", "flapping", "media_active", "lacp"?}, and
    "laggdev" for a port.  "lacp" is lacp_req's/lacp_portreq's {"actor", "partner"}."""
    lagg = ifp if is_lagg(ifp) else lagg_of(stack, ifp)
    if lagg is None:
        return None
    proto = lagg.params.get("laggproto", DEFAULT_PROTO)
    ports = ports_of(stack, lagg)
    lacp = _lacp(lagg) if proto == "lacp" else None
    rows = []
    for p in ports:
        row = {"name": p.name, "flags": port_flags(stack, lagg, p)}
        req = lacp.portreq(p) if lacp is not None else None
        if req is not None:
            row["lacp"] = req
        rows.append(row)
    primary = stack.by_index(lagg.params.get("laggprimary") or 0)
    out = {"proto": proto, "hash": lagg.params.get("lagghash", DEFAULT_HASH), "ports": rows,
           "primary": primary.name if primary is not None else None,
           "opts": lagg_opts(lagg), "flowid_shift": FLOWID_SHIFT,
           # lacp counts its own active ports; the others count LAGG_PORTACTIVE ones
           "active": (lacp.sc_active if lacp is not None else 0) if proto == "lacp"
           else sum(port_active(p) for p in ports),
           "flapping": lacp.flapping if lacp is not None else 0,
           # lagg_media_status: IFM_ACTIVE while any port is up with link, whatever proto
           "media_active": any(port_active(p) for p in ports)}
    if proto == "lacp":
        out["lacp"] = lacp.opreq() if lacp is not None else Lacp.empty_opreq()
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
        elif proto == "lacp":
            lacp = laggs.lacps.get(lagg.index)
            port = lacp.select_tx_port(frame) if lacp is not None else None
            targets = [port] if port is not None else []
        else:                   # none
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


_SLOW = ETHERTYPE_SLOW.to_bytes(2, "big")


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
        self.lacps: dict[int, Lacp] = {}       # lagg index -> its LACP, for lacp laggs
        self._ticker = None
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
            # lagg_proto_detach/attach: a new protocol state, lacp's options with it
            self._set(lagg, "lacpopts", None)
            if not self.syscalls.dry_running:
                self.stack.journal.on_commit(self._detach_lacp, lagg.index)
            self._linkstate(lagg)
        elif req == "SIOCSLAGGOPTS":
            self._setopt(lagg, args.get("opts"))
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

    def _setopt(self, lagg, opt) -> None:
        """SIOCSLAGGOPTS with one option, negative to clear it: EINVAL for an option this
        stack does not set, or a lacp option on a lagg of another protocol."""
        bit = abs(opt) if type(opt) is int else 0
        if bit not in _SETOPTS or (_SETOPTS[bit] and
                                   lagg.params.get("laggproto", DEFAULT_PROTO) != "lacp"):
            raise OpError(EINVAL)
        key, default = (("lacpopts", DEFAULT_LACP_OPTS) if _SETOPTS[bit]
                        else ("laggopts", DEFAULT_OPTS))
        opts = lagg.params.get(key, default)
        self._set(lagg, key, opts | bit if opt > 0 else opts & ~bit)

    def _linkstate(self, lagg) -> None:
        """lagg_linkstate: up while any port has link (lacp keeps its own)."""
        if lagg.params.get("laggproto", DEFAULT_PROTO) == "lacp":
            return
        up = any(p.link_state == LINK_STATE_UP for p in ports_of(self.stack, lagg))
        self._link_state(lagg, LINK_STATE_UP if up else LINK_STATE_DOWN)

    def _link_state(self, ifp, state) -> None:
        """if_link_state_change, and the RTM_IFINFO telling it."""
        if ifp.link_state != state:
            self.stack.journal.setattr(ifp, "link_state", state)
            self.stack._ifinfo(ifp)

    def port_link(self, ifp) -> None:
        """A port's link state changed (lagg_port_state)."""
        lagg = lagg_of(self.stack, ifp)
        if lagg is not None:
            self._linkstate(lagg)

    def lacp_link(self, lagg, up: bool) -> None:
        """LACP's if_link_state_change on the lagg: up while a port distributes."""
        if self.stack.by_index(lagg.index) is lagg:
            self._link_state(lagg, LINK_STATE_UP if up else LINK_STATE_DOWN)

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
        self._linkstate(lagg)

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
        self._linkstate(lagg)
        if lagg.params.get("laggprimary") == port.index:
            self._set(lagg, "laggprimary", ports[0] if ports else None)
            if ports:
                primary = self.stack.by_index(ports[0])
                j.setattr(lagg, "mac", primary.hwaddr)
                for i in ports:
                    j.setattr(self.stack.by_index(i), "mac", lagg.mac)

    # -- data plane ----------------------------------------------------------------------------
    def created(self, ifp):
        """The device of a new lagg; without ports its link state is unknown until
        lagg_linkstate (or LACP) sets it, as if_attach leaves it."""
        if not ifp.params.get("laggports"):
            self.stack.journal.setattr(ifp, "link_state", LINK_STATE_UNKNOWN)
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
        self._sync_lacp()

    # -- LACP ----------------------------------------------------------------------------------
    def _detach_lacp(self, index: int) -> None:
        lacp = self.lacps.pop(index, None)
        if lacp is not None:
            lacp.detach()

    def _sync_lacp(self) -> None:
        """After a committed change: every lacp lagg has its LACP with a port per lagg port
        (lacp_attach, lacp_port_create/destroy), and its options; others have none."""
        laggs = {ifp.index: ifp for ifp in self.stack.ifaces
                 if is_lagg(ifp) and ifp.params.get("laggproto", DEFAULT_PROTO) == "lacp"}
        for index in [i for i, lacp in self.lacps.items()
                      if laggs.get(i) is not lacp.lagg]:
            self._detach_lacp(index)
        for index, lagg in laggs.items():
            opts = lagg.params.get("lacpopts", DEFAULT_LACP_OPTS)
            lacp = self.lacps.get(index)
            if lacp is None:
                lacp = self.lacps[index] = Lacp(self, lagg)
            lacp.strict_mode = bool(opts & OPT_LACP_STRICT)
            if lacp.fast_timeout != bool(opts & OPT_LACP_FAST_TIMO):
                lacp.set_fast_timeout(bool(opts & OPT_LACP_FAST_TIMO))
            ports = {p.index: p for p in ports_of(self.stack, lagg)}
            for i in [i for i in lacp.ports if i not in ports]:
                lacp.port_destroy(lacp.ports[i].ifp)
            for i, port in ports.items():
                if i not in lacp.ports:
                    lacp.port_create(port)
        if self.lacps and self._ticker is None:
            self._ticker = self.loop.call_later(1.0, self._tick)

    def _tick(self) -> None:
        """lacp_tick, every second, for each lacp lagg that is up (lagg_init/lagg_stop)."""
        self._ticker = None
        for lacp in list(self.lacps.values()):
            if lacp.lagg.flags & IFF_UP:
                lacp.tick()
        if self.lacps:
            self._ticker = self.loop.call_later(1.0, self._tick)

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
            if self.stack.by_index(lagg.index) is not lagg:
                continue
            proto = lagg.params.get("laggproto", DEFAULT_PROTO)
            if proto == "lacp":
                lacp = self.lacps.get(lagg.index)
                if lacp is None or not lagg.flags & IFF_UP:
                    continue            # lagg_input: nothing while the lagg is not running
                if frame[12:14] == _SLOW:       # lagg_lacp_input taps off LACP's frames
                    lacp.input(port, frame)
                    continue
                if not (lacp.iscollecting(port) and lacp.isactive(port)):
                    continue
            elif not port_active(port):
                continue
            if proto == "failover" and port is not failover_port(self.stack, lagg):
                continue        # the backup port's frames are dropped (failover_rx_all=0)
            if proto == "none":
                continue
            try:
                self.link.input(lagg, frame)
            except Exception:
                lagg.stats[1] += 1
