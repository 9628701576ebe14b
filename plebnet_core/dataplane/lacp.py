"""IEEE 802.3ad LACP for a lacp lagg (sys/net/ieee8023ad_lacp.c): per port the actor and
partner state, the receive, mux, periodic-transmit and transmit machines, and per lagg the
aggregators, the one active aggregator and its port map.

    Lacp(laggs, lagg, strict=True, fast=False)   # lacp_attach; one per lacp lagg
    .port_create(ifp) / .port_destroy(ifp)       # lacp_port_create / lacp_port_destroy
    .tick()                                      # lacp_tick, once a second while the lagg is up
    .input(port, payload)                        # a slow-protocols frame a port received
    .select_tx_port(frame) -> port ifp | None    # lacp_select_tx_port
    .isactive(ifp) / .iscollecting(ifp) / .isdistributing(ifp)
    .opreq() / .portreq(ifp)                     # lacp_req / lacp_portreq (ifconfig -v)

Runtime state, not configuration: it is rebuilt from the lagg's committed configuration (a
new protocol attach starts afresh, as lagg_proto_attach does) and never journaled.  Timers
count whole ticks of a second, as the kernel's do with hz ticks.  A port is enabled (may
aggregate) while it is up with link and full-duplex media -- lacp_linkstate's test, made
here on each tick since the stack has no link events for its ports.
"""
from __future__ import annotations

from .wire import ethernet
from .wire import lacp as wire
from .wire.errors import WireError
from .wire.lacp import (
    STATE_ACTIVITY, STATE_AGGREGATION, STATE_COLLECTING, STATE_DEFAULTED, STATE_DISTRIBUTING,
    STATE_EXPIRED, STATE_SYNC, STATE_TIMEOUT, PeerInfo,
)

SYSTEM_PRIO = 0x8000            # LACP_SYSTEM_PRIO ("XXX should be configurable")
PORT_PRIO = 0x8000              # LACP_PORT_PRIO
FAST_PERIODIC, SLOW_PERIODIC = 1, 30            # LACP_{FAST,SLOW}_PERIODIC_TIME, seconds
SHORT_TIMEOUT, LONG_TIMEOUT = 3 * FAST_PERIODIC, 3 * SLOW_PERIODIC
AGGREGATE_WAIT = 2              # LACP_AGGREGATE_WAIT_TIME
TRANSIT_DELAY = 3.0             # LACP_TRANSIT_DELAY (3000 ms): markers' answers awaited
MAX_PORTS = 32                  # LACP_MAX_PORTS
CURRENT_WHILE, PERIODIC, WAIT_WHILE = 0, 1, 2   # LACP_TIMER_*
UNSELECTED, SELECTED = 0, 1
MUX_DETACHED, MUX_WAITING, MUX_ATTACHED, MUX_COLLECTING, MUX_DISTRIBUTING = range(5)

# partner administration variables (lacp_partner_admin_optimistic / _strict)
ADMIN_OPTIMISTIC = PeerInfo(0xFFFF, bytes(6), 0, 0xFFFF, 0,
                            STATE_SYNC | STATE_AGGREGATION | STATE_COLLECTING
                            | STATE_DISTRIBUTING)
ADMIN_STRICT = PeerInfo(0xFFFF, bytes(6), 0, 0xFFFF, 0, 0)

# media words -> (lacp_compose_key's class: the IFM_SUBTYPE its speed groups under, and
# ifmedia_baudrate); autoselect (IFM_AUTO) is class 0 with no known speed
_MEDIA = {"autoselect": (0, 0), "10baseT/UTP": (3, 10_000_000),       # IFM_10_T
          "100baseTX": (6, 100_000_000),                               # IFM_100_TX
          "1000baseT": (11, 1_000_000_000),                            # IFM_1000_SX's
          "10Gbase-T": (18, 10_000_000_000)}                           # IFM_10G_LR's


def _media(ifp):
    """(full duplex, key class, speed) from the port's active media words."""
    media = ifp.iftype.media
    active = (media[1] or media[0]) if media else ""
    word = active.split(" ")[0]
    klass, speed = _MEDIA.get(word, (0, 0))
    return "full-duplex" in active, klass, speed


class Aggregator:
    """struct lacp_aggregator: the LAG id (actor and partner system and key) of the ports
    that joined it; ports are the distributing ones, newest first (TAILQ_INSERT_HEAD)."""

    def __init__(self, port: "LacpPort"):
        a, p = port.actor, port.partner
        self.actor = PeerInfo(a.sys_prio, a.sys_mac, a.key, 0, 0, port.state & STATE_AGGREGATION)
        self.partner = PeerInfo(p.sys_prio, p.sys_mac, p.key, 0, 0, 0)
        self.refcnt = 1
        self.ports: list[LacpPort] = []
        self.pending = 0

    @property
    def nports(self) -> int:
        return len(self.ports)

    def compatible(self, port: "LacpPort") -> bool:
        """lacp_aggregator_is_compatible: both ends aggregatable, same systems and keys."""
        if not port.state & STATE_AGGREGATION or not port.partner.state & STATE_AGGREGATION:
            return False
        if not self.actor.state & STATE_AGGREGATION:
            return False
        p, a = port.partner, port.actor
        return ((self.partner.sys_prio, self.partner.sys_mac, self.partner.key)
                == (p.sys_prio, p.sys_mac, p.key)
                and (self.actor.sys_prio, self.actor.sys_mac, self.actor.key)
                == (a.sys_prio, a.sys_mac, a.key))


class LacpPort:
    """struct lacp_port: the actor's own state (lp_state, lp_key) and what it last heard of
    its partner, the machines' states and the three timers."""

    def __init__(self, lsc: "Lacp", ifp):
        self.lsc = lsc
        self.ifp = ifp
        self.sys_mac = bytes(lsc.lagg.mac)         # the lagg's address when the port joined
        self.port_no = ifp.index
        self.state = STATE_ACTIVITY
        if lsc.fast_timeout:
            self.state |= STATE_TIMEOUT
        self.key = 0
        self.partner = PeerInfo()
        self.selected = UNSELECTED
        self.aggregator: Aggregator | None = None
        self.mux = MUX_DETACHED
        self.timers = [0, 0, 0]
        self.ntt = False
        self.mark = False
        self.marker_xid = 0
        self.media = (False, 0, 0)
        self.enabled: bool | None = None
        self.sent: list[float] = []     # recent LACPDU times, for the 3-a-second limit

    @property
    def actor(self) -> PeerInfo:
        return PeerInfo(SYSTEM_PRIO, self.sys_mac, self.key, PORT_PRIO, self.port_no,
                        self.state)

    def marker_info(self) -> wire.MarkerInfo:
        """lp_marker: the port's index, the actor's system, the transaction id."""
        return wire.MarkerInfo(self.port_no, self.sys_mac, self.marker_xid)


class Lacp:
    """struct lacp_softc for one lagg."""

    def __init__(self, laggs, lagg, strict: bool = True, fast: bool = False):
        self.laggs = laggs
        self.lagg = lagg
        self.strict_mode = strict
        self.fast_timeout = fast
        self.ports: dict[int, LacpPort] = {}
        self.aggregators: list[Aggregator] = []
        self.active: Aggregator | None = None
        self.portmap: list[LacpPort] = []
        self.suppress = False
        self._transit = None
        self.sc_active = 0              # the lagg's sc_active, as lacp keeps it
        self.flapping = 0

    # -- ports -------------------------------------------------------------------------------
    def port_create(self, ifp) -> None:
        lp = LacpPort(self, ifp)
        self.ports[ifp.index] = lp
        self._set_expired(lp)
        self.linkstate(lp)

    def port_destroy(self, ifp) -> None:
        lp = self.ports.get(ifp.index)
        if lp is None:
            return
        if lp.timers[WAIT_WHILE] and lp.aggregator is not None:
            lp.aggregator.pending -= 1
        lp.timers = [0, 0, 0]
        self._disable_collecting(lp)
        self._disable_distributing(lp)
        self._unselect(lp)
        del self.ports[ifp.index]

    def detach(self) -> None:
        """lacp_detach (after every port is gone): the transit timer stops."""
        for lp in list(self.ports.values()):
            self.port_destroy(lp.ifp)
        if self._transit is not None:
            self._transit.cancel()
            self._transit = None

    def set_fast_timeout(self, fast: bool) -> None:
        """SIOCSLAGGOPTS (-)LAGG_OPT_LACP_FAST_TIMO: every port's actor TIMEOUT bit."""
        self.fast_timeout = fast
        for lp in self.ports.values():
            lp.state = lp.state | STATE_TIMEOUT if fast else lp.state & ~STATE_TIMEOUT

    def linkstate(self, lp: LacpPort) -> None:
        """lacp_linkstate: only an up, full-duplex port with link can aggregate; a change of
        state or key unselects it."""
        from .lagg import port_active
        enabled = port_active(lp.ifp)
        media = _media(lp.ifp)
        if enabled == lp.enabled and media == lp.media:
            return
        lp.enabled = enabled
        old_state, old_key = lp.state, lp.key
        lp.media = media
        if not media[0] or not enabled:
            self._port_disable(lp)
        else:
            lp.state |= STATE_AGGREGATION
        lp.key = self._compose_key(lp)
        if old_state != lp.state or old_key != lp.key:
            lp.selected = UNSELECTED

    def _compose_key(self, lp: LacpPort) -> int:
        """lacp_compose_key: a disabled port's key is unique (its index, bit 15 set); an
        aggregatable one's is its speed class and the lagg's index."""
        if not lp.state & STATE_AGGREGATION:
            return (lp.ifp.index & 0x7FFF) | 0x8000
        return lp.media[1] | (0x7FE0 & (self.lagg.index << 5))

    def _port_disable(self, lp: LacpPort) -> None:
        self._set_mux(lp, MUX_DETACHED)
        lp.state &= ~STATE_AGGREGATION
        lp.selected = UNSELECTED
        self._record_default(lp)
        lp.partner = lp.partner._replace(state=lp.partner.state & ~STATE_AGGREGATION)
        lp.state &= ~STATE_EXPIRED

    # -- the tick ----------------------------------------------------------------------------
    def tick(self) -> None:
        for lp in list(self.ports.values()):
            self.linkstate(lp)
            if not lp.state & STATE_AGGREGATION:
                continue
            self._run_timers(lp)
            self._select(lp)
            self._sm_mux(lp)
            self._sm_tx(lp)
            self._ptx_schedule(lp)

    def _run_timers(self, lp: LacpPort) -> None:
        funcs = (self._rx_timer, self._ptx_timer, self._mux_timer)
        for i in range(3):
            if lp.timers[i] == 0:
                continue
            lp.timers[i] -= 1
            if lp.timers[i] <= 0:
                lp.timers[i] = 0
                funcs[i](lp)

    # -- input -------------------------------------------------------------------------------
    def input(self, port, frame) -> None:
        """lacp_input: a LACPDU or marker PDU (anything malformed is dropped, as `bad:`)."""
        lp = self.ports.get(port.index)
        if lp is None:
            return
        try:
            eth = ethernet.parse(frame)
            if eth.dst != wire.SLOW_PROTOCOLS_MAC:
                return
            kind = wire.subtype(eth.payload)
            if kind == wire.SUBTYPE_LACP:
                self._sm_rx(lp, wire.parse_lacpdu(eth.payload))
            elif kind == wire.SUBTYPE_MARKER:
                self._marker_input(lp, wire.parse_marker(eth.payload), eth.payload)
        except WireError:
            port.stats[1] += 1          # ierrors, as the mbuf freed at bad:

    def _marker_input(self, lp: LacpPort, mdu, payload) -> None:
        if mdu.type == wire.MARKER_TYPE_INFO:
            # answered with the same information, from this port's own address
            self._xmit(lp, wire.emit_marker(wire.MARKER_TYPE_RESPONSE, mdu.info))
            return
        if mdu.info != lp.marker_info():
            return                      # not the last marker this port sent
        lp.mark = False
        if self.suppress and not any(p.mark for p in self.ports.values()):
            self._transit_expire()      # every port's queue is flushed

    # -- receive machine -----------------------------------------------------------------------
    def _sm_rx(self, lp: LacpPort, du) -> None:
        if not lp.state & STATE_AGGREGATION:
            return                      # LACP_DISABLED
        a = du.actor
        if (a.sys_prio, a.sys_mac) == (SYSTEM_PRIO, lp.sys_mac):
            return                      # our own PDU looped back
        self._update_selected(lp, du.actor)
        self._update_ntt(lp, du)
        self._record_pdu(lp, du)
        lp.timers[CURRENT_WHILE] = (SHORT_TIMEOUT if lp.state & STATE_TIMEOUT
                                    else LONG_TIMEOUT)
        lp.state &= ~STATE_EXPIRED
        self._sm_tx(lp)                 # answer without waiting for the next tick

    def _set_expired(self, lp: LacpPort) -> None:
        lp.partner = lp.partner._replace(state=(lp.partner.state & ~STATE_SYNC)
                                         | STATE_TIMEOUT)
        lp.timers[CURRENT_WHILE] = SHORT_TIMEOUT
        lp.state |= STATE_EXPIRED

    def _rx_timer(self, lp: LacpPort) -> None:
        if not lp.state & STATE_EXPIRED:
            self._set_expired(lp)       # CURRENT -> EXPIRED
        else:                           # EXPIRED -> DEFAULTED
            self._update_selected(lp, ADMIN_STRICT if self.strict_mode else ADMIN_OPTIMISTIC)
            self._record_default(lp)
            lp.state &= ~STATE_EXPIRED

    def _record_pdu(self, lp: LacpPort, du) -> None:
        old = lp.partner.state
        active = bool(du.actor.state & STATE_ACTIVITY) or bool(
            lp.state & STATE_ACTIVITY and du.partner.state & STATE_ACTIVITY)
        partner = du.actor
        # in sync when the partner has our information right (or cannot aggregate)
        if active and ((not (lp.state ^ du.partner.state) & STATE_AGGREGATION
                        and lp.actor.same_id(du.partner))
                       or not du.partner.state & STATE_AGGREGATION):
            if self.strict_mode:
                partner = partner._replace(state=partner.state | STATE_SYNC)
            # (not strict: the SYNC bit stays as the partner advertised it)
        else:
            partner = partner._replace(state=partner.state & ~STATE_SYNC)
        lp.partner = partner
        lp.state &= ~STATE_DEFAULTED
        self._ptx_update_timeout(lp, old)

    def _update_ntt(self, lp: LacpPort, du) -> None:
        mask = STATE_ACTIVITY | STATE_SYNC | STATE_AGGREGATION
        if not lp.actor.same_id(du.partner) or (lp.state ^ du.partner.state) & mask:
            lp.ntt = True

    def _record_default(self, lp: LacpPort) -> None:
        old = lp.partner.state
        lp.partner = ADMIN_STRICT if self.strict_mode else ADMIN_OPTIMISTIC
        lp.state |= STATE_DEFAULTED
        self._ptx_update_timeout(lp, old)

    def _update_selected(self, lp: LacpPort, info: PeerInfo) -> None:
        """A partner that is not the one heard before unselects the port (the mux machine
        then takes it off its aggregator)."""
        if not lp.partner.same_id(info) or (lp.partner.state ^ info.state) & STATE_AGGREGATION:
            lp.selected = UNSELECTED

    # -- selection ---------------------------------------------------------------------------
    def _select(self, lp: LacpPort) -> None:
        """lacp_select: join a compatible aggregator, else a new one (not before the partner
        was heard)."""
        if lp.aggregator is not None or lp.state & STATE_DEFAULTED:
            return
        la = next((la for la in self.aggregators if la.compatible(lp)), None)
        if la is None:
            la = Aggregator(lp)
            self.aggregators.append(la)
        else:
            if la.refcnt == MAX_PORTS:
                return
            la.refcnt += 1
        lp.aggregator = la
        lp.selected = SELECTED

    def _unselect(self, lp: LacpPort) -> None:
        la = lp.aggregator
        if la is None:
            return
        lp.aggregator = None
        la.refcnt -= 1
        if la.refcnt <= 0:
            self.aggregators.remove(la)

    def _select_active_aggregator(self) -> None:
        """The aggregator with the best partner system priority, else the most bandwidth;
        the current one keeps its place on a tie."""
        best, best_speed = None, 0
        for la in self.aggregators:
            if la.nports == 0:
                continue
            speed = la.ports[0].media[2] * la.nports
            if ((best is not None and la.partner.sys_prio < best.partner.sys_prio)
                    or speed > best_speed or (speed == best_speed and la is self.active)):
                best, best_speed = la, speed
        if self.active is not best:
            self.active = best
            self._update_portmap()
            if best is not None:
                self._suppress_distributing(best)

    def _update_portmap(self) -> None:
        la = self.active
        self.portmap = list(la.ports) if la is not None else []

    def _suppress_distributing(self, la: Aggregator) -> None:
        """Hold transmission until every port's marker is answered or TRANSIT_DELAY passes,
        so that a flow moved to another port is not reordered."""
        if self.active is not la:
            return
        self.suppress = True
        for lp in self.ports.values():
            lp.mark = True
            lp.marker_xid = (lp.marker_xid + 1) & 0xFFFFFFFF
            self._xmit(lp, wire.emit_marker(wire.MARKER_TYPE_INFO, lp.marker_info()))
        if self._transit is not None:
            self._transit.cancel()
        self._transit = self.laggs.loop.call_later(TRANSIT_DELAY, self._transit_expire)

    def _transit_expire(self) -> None:
        if self._transit is not None:
            self._transit.cancel()
            self._transit = None
        self.suppress = False

    # -- mux machine -------------------------------------------------------------------------
    def _sm_mux(self, lp: LacpPort) -> None:
        p_sync = bool(lp.partner.state & STATE_SYNC)
        p_collecting = bool(lp.partner.state & STATE_COLLECTING)
        selected = lp.selected
        while True:
            la, new = lp.aggregator, lp.mux
            if lp.mux == MUX_DETACHED:
                if selected != UNSELECTED:
                    new = MUX_WAITING
            elif lp.mux == MUX_WAITING:
                if selected == SELECTED and la.pending == 0:
                    new = MUX_ATTACHED
                elif selected == UNSELECTED:
                    new = MUX_DETACHED
            elif lp.mux == MUX_ATTACHED:
                if selected == SELECTED and p_sync:
                    new = MUX_COLLECTING
                elif selected != SELECTED:
                    new = MUX_DETACHED
            elif lp.mux == MUX_COLLECTING:
                if selected == SELECTED and p_sync and p_collecting:
                    new = MUX_DISTRIBUTING
                elif selected != SELECTED or not p_sync:
                    new = MUX_ATTACHED
            elif lp.mux == MUX_DISTRIBUTING:
                if selected != SELECTED or not p_sync or not p_collecting:
                    new = MUX_COLLECTING
                    self.flapping += 1      # "Interface stopped DISTRIBUTING"
            if new == lp.mux:
                return
            self._set_mux(lp, new)

    def _set_mux(self, lp: LacpPort, new: int) -> None:
        la = lp.aggregator
        if lp.mux == new:
            return
        if new == MUX_DETACHED:
            lp.state &= ~STATE_SYNC
            self._disable_distributing(lp)
            self._disable_collecting(lp)
            lp.ntt = True
            if lp.timers[WAIT_WHILE]:
                la.pending -= 1
            lp.timers[WAIT_WHILE] = 0
            self._unselect(lp)
        elif new == MUX_WAITING:
            lp.timers[WAIT_WHILE] = AGGREGATE_WAIT
            la.pending += 1
        elif new == MUX_ATTACHED:
            lp.state |= STATE_SYNC
            self._disable_collecting(lp)
            lp.ntt = True
        elif new == MUX_COLLECTING:
            lp.state |= STATE_COLLECTING
            self._disable_distributing(lp)
            lp.ntt = True
        elif new == MUX_DISTRIBUTING:
            self._enable_distributing(lp)
        lp.mux = new

    def _mux_timer(self, lp: LacpPort) -> None:
        if lp.aggregator is not None:
            lp.aggregator.pending -= 1

    @staticmethod
    def _disable_collecting(lp: LacpPort) -> None:
        lp.state &= ~STATE_COLLECTING

    def _disable_distributing(self, lp: LacpPort) -> None:
        la = lp.aggregator
        if la is None or not lp.state & STATE_DISTRIBUTING:
            return
        la.ports.remove(lp)
        self.sc_active = la.nports
        if self.active is la:
            self._suppress_distributing(la)
            self._select_active_aggregator()
            self._update_portmap()
        lp.state &= ~STATE_DISTRIBUTING
        self.laggs.lacp_link(self.lagg, self.sc_active > 0)

    def _enable_distributing(self, lp: LacpPort) -> None:
        la = lp.aggregator
        if lp.state & STATE_DISTRIBUTING:
            return
        la.ports.insert(0, lp)
        self.sc_active = la.nports
        lp.state |= STATE_DISTRIBUTING
        if self.active is la:
            self._suppress_distributing(la)
            self._update_portmap()
        else:
            self._select_active_aggregator()     # try to become the active aggregator
        self.laggs.lacp_link(self.lagg, self.sc_active > 0)

    # -- periodic transmit and transmit machines ----------------------------------------------
    def _ptx_update_timeout(self, lp: LacpPort, old_pstate: int) -> None:
        if not (old_pstate ^ lp.partner.state) & STATE_TIMEOUT:
            return
        lp.timers[PERIODIC] = 0         # the schedule picks the new period
        if lp.partner.state & STATE_TIMEOUT:
            lp.ntt = True               # shortened: tell the partner now

    def _ptx_schedule(self, lp: LacpPort) -> None:
        if not lp.state & STATE_ACTIVITY and not lp.partner.state & STATE_ACTIVITY:
            lp.timers[PERIODIC] = 0     # NO_PERIODIC
            return
        if lp.timers[PERIODIC]:
            return
        lp.timers[PERIODIC] = (FAST_PERIODIC if lp.partner.state & STATE_TIMEOUT
                               else SLOW_PERIODIC)

    def _ptx_timer(self, lp: LacpPort) -> None:
        lp.ntt = True

    def _sm_tx(self, lp: LacpPort) -> None:
        if not lp.state & STATE_AGGREGATION or (not lp.state & STATE_ACTIVITY
                                               and not lp.partner.state & STATE_ACTIVITY):
            lp.ntt = False
        if not lp.ntt:
            return
        now = self.laggs.loop.clock()
        lp.sent = [t for t in lp.sent if now - t < FAST_PERIODIC]
        if len(lp.sent) >= 3:
            return                      # rate limited: 3 PDUs a FAST_PERIODIC_TIME
        lp.sent.append(now)
        self._xmit(lp, wire.emit_lacpdu(lp.actor, lp.partner))
        lp.ntt = False

    def _xmit(self, lp: LacpPort, payload: bytes) -> None:
        """lagg_enqueue: straight out of the port, from its own (not the lagg's) address."""
        ifp = lp.ifp
        if ifp.device is not None:
            self.laggs.link.xmit(ifp, wire.frame(ifp.hwaddr, payload))

    # -- the lagg's questions ------------------------------------------------------------------
    def select_tx_port(self, frame):
        from .lagg import _hash
        if self.suppress or not self.portmap:
            return None
        return self.portmap[_hash(frame) % len(self.portmap)].ifp

    def isactive(self, ifp) -> bool:
        """The port belongs to the active aggregator."""
        lp = self.ports.get(ifp.index)
        return lp is not None and lp.aggregator is not None and lp.aggregator is self.active

    def iscollecting(self, ifp) -> bool:
        lp = self.ports.get(ifp.index)
        return lp is not None and bool(lp.state & STATE_COLLECTING)

    def isdistributing(self, ifp) -> bool:
        lp = self.ports.get(ifp.index)
        return lp is not None and bool(lp.state & STATE_DISTRIBUTING)

    def opreq(self) -> dict:
        """lacp_req: the active aggregator's LAG id (zeros without one)."""
        la = self.active
        if la is None:
            return self.empty_opreq()
        return {"actor": _req(la.actor), "partner": _req(la.partner)}

    @staticmethod
    def empty_opreq() -> dict:
        return {"actor": _req(PeerInfo()), "partner": _req(PeerInfo())}

    def portreq(self, ifp) -> dict | None:
        lp = self.ports.get(ifp.index)
        if lp is None:
            return None
        return {"actor": _req(lp.actor), "partner": _req(lp.partner)}


def _req(info: PeerInfo) -> list:
    """A struct lacp_opreq half, for the dumps: prio, MAC (hex), key, port prio, port, state."""
    return [info.sys_prio, info.sys_mac.hex(), info.key, info.port_prio, info.port_no,
            info.state]
