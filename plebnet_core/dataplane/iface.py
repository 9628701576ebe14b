"""Interface layer: devices attached to interfaces, Ethernet input/output and ARP (RFC 826)
with FreeBSD's rules (docs/freebsd-tools.md §3.4, sys/netinet/if_ether.c).

Frames go   device --recv--> Link.input --> ARP here, IPv4 to ip.IPv4.input, IPv6 to
                                             ip6.IPv6.input
and come    ip.IPv4 --> Link.output(ifp, nexthop, packet) --> ARP resolution --> device.send
            ip6.IPv6 --> Link.output6(ifp, nexthop, packet) --> nd6.ND6.resolve --> device.send

Everything runs on the stack's one event loop.  Interface counters (Interface.stats, what
netstat -i prints) are kept here: [ipackets, ierrors, iqdrops, ibytes, opackets, oerrors,
oqdrops, obytes, collisions].
"""
from __future__ import annotations

import sys
import traceback

from plebproto.constants import (
    AF_INET, EHOSTDOWN, EHOSTUNREACH, EINVAL, ENETDOWN, ENOBUFS, IFF_LOOPBACK, IFF_NOARP,
    IFF_POINTOPOINT, IFF_PPROMISC, IFF_PROMISC, IFF_RUNNING, IFF_STATICARP, IFF_UP,
    LINK_STATE_UP, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_PINNED,
    RTF_REJECT,
)

from ..state.ifnet import LLEntry
from . import stats
from .vlan import vlan_demux
from .wire import WireError, arp, ethernet

ETHERTYPE_IPV4 = ethernet.ETHERTYPE_IPV4
ETHERTYPE_ARP = ethernet.ETHERTYPE_ARP
ETHERTYPE_IPV6 = ethernet.ETHERTYPE_IPV6
BROADCAST = ethernet.BROADCAST
_IPV4_TYPE = b"\x08\x00"
_IPV6_TYPE = b"\x86\xdd"
_VLAN_TYPE = b"\x81\x00"
_QINQ_TYPE = b"\x88\xa8"
_ETH_HDR = ethernet.header
LOOP_AF_INET = (2).to_bytes(4, "little")    # DLT_NULL header: host-order AF_INET (BSD lo0)
LOOP_AF_INET6 = (28).to_bytes(4, "little")  # FreeBSD's AF_INET6
RX_BUDGET = 128         # frames taken from one device per wake-up before others get a turn
ARP_REXMIT = 1.0        # seconds between requests for an unresolved address
VERIFY_WINDOW = 5.0     # seconds before a used entry expires when it is asked for again
_from = int.from_bytes
_bugs_reported = 0


def _clear_timer(entry) -> None:
    entry.timer = None


def _report_bug() -> None:
    """Print the traceback of an unexpected exception in the packet path (the first few)."""
    global _bugs_reported
    if _bugs_reported < 10:
        _bugs_reported += 1
        traceback.print_exc(file=sys.stderr)


class Link:
    def __init__(self, stack, loop):
        self.stack = stack
        self.loop = loop
        self.ip = None                  # the IPv4 layer above (set by DataPlane)
        self.ip6 = None                 # the IPv6 layer (set by DataPlane)
        self.nd6 = None                 # its neighbor discovery (set by DataPlane)
        self.arpstat = stats.arpstat()  # netstat -s -p arp
        self.bridges: list = []         # bridge(4) devices, whose members' input they take

    # -- devices ---------------------------------------------------------------------------
    def attach(self, ifp, device) -> None:
        ifp.device = device
        if ifp.flags & IFF_LOOPBACK:
            device.attach(self.loop, lambda: self._loop_readable(ifp))
        else:
            device.attach(self.loop, lambda: self._readable(ifp))

    def detach(self, ifp) -> None:
        device, ifp.device = ifp.device, None
        if device is not None:
            device.close()

    def _readable(self, ifp) -> None:
        device = ifp.device
        if device is None:
            return
        recv, inp = device.recv, self.input
        for _ in range(RX_BUDGET):
            frame = recv()
            if frame is None:
                return
            try:
                inp(ifp, frame)
            except Exception:       # a bug must cost one frame, not the stack
                ifp.stats[1] += 1
                _report_bug()

    def _loop_readable(self, ifp) -> None:
        device = ifp.device
        if device is None:
            return
        st = ifp.stats
        for _ in range(RX_BUDGET):
            frame = device.recv()
            if frame is None:
                return
            st[0] += 1
            st[3] += len(frame) - 4
            try:
                if frame[:4] == LOOP_AF_INET6:
                    self.ip6.input(ifp, frame[4:], False)
                else:
                    self.ip.input(ifp, frame[4:], False)
            except Exception:
                st[1] += 1
                _report_bug()

    # -- input -----------------------------------------------------------------------------
    def input(self, ifp, frame) -> None:
        st = ifp.stats
        n = len(frame)
        flags = ifp.flags
        if not flags & IFF_UP or ifp.link_state != LINK_STATE_UP:
            st[2] += 1          # iqdrops: nothing is received by a down interface
            return
        if n < 14:
            st[1] += 1
            return
        counted = False
        if self.bridges:
            bridge = self._bridge_of(ifp)
            if bridge is not None:
                st[0] += 1      # a member is promiscuous: it sees every frame
                st[3] += n
                if bridge.input(ifp, frame):
                    return
                counted = True
        etype = frame[12:14]
        if etype == _VLAN_TYPE or etype == _QINQ_TYPE:
            if not counted:
                st[0] += 1
                st[3] += n
            vlan_demux(self, ifp, frame)
            return
        dst = frame[:6]
        mine = dst == ifp.mac
        group = dst[0] & 1
        if not mine and not group:
            if counted or not flags & (IFF_PROMISC | IFF_PPROMISC):
                return          # the NIC's filter: not even counted
            st[0] += 1          # promiscuous: seen (and captured), not passed up
            st[3] += n
            return
        if not counted:
            st[0] += 1
            st[3] += n
        if etype == _IPV4_TYPE:
            self.ip.input(ifp, frame[14:], group)
        elif etype == _IPV6_TYPE:
            self.ip6.input(ifp, frame[14:], group)
        elif etype == b"\x08\x06":
            self.arp_input(ifp, frame[14:])
        # anything else is FreeBSD's IFCOUNTER_NOPROTO, which netstat -i does not show: not
        # counted as a drop

    def _bridge_of(self, ifp):
        """The bridge device ifp is a member of (state/bridge.py keeps the members)."""
        name = ifp.name
        for bridge in self.bridges:
            if name in (bridge.ifp.params.get("members") or ()):
                return bridge
        return None

    def arp_input(self, ifp, payload) -> None:
        """in_arpinput: learn the sender, answer for our own and published addresses."""
        try:
            p = arp.parse(payload)
        except WireError:
            ifp.stats[1] += 1
            return
        if ifp.flags & IFF_NOARP:
            return
        arpstat = self.arpstat
        arpstat["received"] += 1            # arpintr, for each ARP packet it passes on
        sha = p.sha
        if sha == ifp.mac or sha[0] & 1:
            return              # our own frame looped back, or a broadcast sender: ignored
        if p.op == arp.OP_REPLY:
            arpstat["rxreplies"] += 1
        spa, tpa = _from(p.spa, "big"), _from(p.tpa, "big")
        table = ifp.llinfo
        target = table.get(tpa)
        for_us = target is not None and target.flags & RTF_PINNED
        own_sender = table.get(spa)
        if own_sender is not None and own_sender.flags & RTF_PINNED:
            arpstat["dupips"] += 1  # someone claims our address: never learn it
            return
        if spa:
            entry = table.get(spa)
            if entry is not None or for_us:
                self.stack.ll_learn(AF_INET, ifp, spa, sha, bool(for_us))
                entry = table.get(spa)
                if entry is not None and entry.mac is not None and entry.hold:
                    self._flush_hold(ifp, entry)
        if p.op != arp.OP_REQUEST:
            return
        arpstat["rxrequests"] += 1  # in_arpinput's "reply:", whoever the target is
        if target is None:
            return
        if for_us:
            mac = ifp.mac
        elif target.flags & RTF_ANNOUNCE and target.mac is not None:
            mac = target.mac    # published (proxy ARP) entry
        else:
            return
        arpstat["txreplies"] += 1
        self._xmit(ifp, _ETH_HDR(sha, ifp.mac, ETHERTYPE_ARP) + arp.reply(mac, p.tpa, sha, p.spa))

    # -- output ----------------------------------------------------------------------------
    def _xmit(self, ifp, frame) -> None:
        st = ifp.stats
        st[4] += 1
        st[7] += len(frame)
        ifp.device.send(frame)

    xmit = _xmit

    def output6(self, ifp, nexthop: int, packet) -> int:
        """Send an IPv6 packet to nexthop (plain int, no zone) on ifp: multicast straight to
        its 33:33 group address, unicast through neighbor discovery.  Returns 0 or the
        errno a local sender gets."""
        flags = ifp.flags
        if not flags & IFF_UP or ifp.link_state != LINK_STATE_UP or ifp.device is None:
            ifp.stats[6] += 1
            return ENETDOWN
        if flags & IFF_LOOPBACK:
            st = ifp.stats
            st[4] += 1
            st[7] += len(packet)
            ifp.device.send(LOOP_AF_INET6 + packet)
            return 0
        if flags & IFF_POINTOPOINT:         # gif(4): IPv6 in IPv4/IPv6 (protocol 41)
            return self.ip.tunnel_output(ifp, 41, packet)
        if nexthop >> 120 == 0xFF:
            self._xmit(ifp, _ETH_HDR(b"\x33\x33" + (nexthop & 0xFFFFFFFF).to_bytes(4, "big"),
                                     ifp.mac, ETHERTYPE_IPV6) + packet)
            return 0
        return self.nd6.resolve(ifp, nexthop, packet)

    def output(self, ifp, nexthop: int, packet, is_gw: bool) -> int:
        """Send an IPv4 packet to nexthop on ifp.  Returns 0 (sent, queued or dropped as the
        kernel would) or the errno a local sender gets."""
        flags = ifp.flags
        # ether_output: "(ifp->if_flags & IFF_UP) == 0 || (ifp->if_drv_flags &
        # IFF_DRV_RUNNING) == 0" is ENETDOWN (a vxlan whose socket would not open)
        if flags & (IFF_UP | IFF_RUNNING) != IFF_UP | IFF_RUNNING \
                or ifp.link_state != LINK_STATE_UP or ifp.device is None:
            ifp.stats[6] += 1
            return ENETDOWN
        if flags & IFF_LOOPBACK:
            st = ifp.stats
            st[4] += 1
            st[7] += len(packet)
            ifp.device.send(LOOP_AF_INET + packet)
            return 0
        if flags & IFF_POINTOPOINT:         # gif(4): IPv4 in IPv4/IPv6 (protocol 4)
            return self.ip.tunnel_output(ifp, 4, packet)
        entry = ifp.llinfo.get(nexthop)
        if entry is not None and entry.mac is not None:
            if entry.flags & (RTF_BLACKHOLE | RTF_REJECT):
                return EHOSTUNREACH if entry.flags & RTF_REJECT else 0
            self._xmit(ifp, _ETH_HDR(entry.mac, ifp.mac, ETHERTYPE_IPV4) + packet)
            expire = entry.expire
            if expire and entry.timer is None and expire - self.loop.clock() < VERIFY_WINDOW \
                    and not entry.flags & RTF_PINNED:
                self._verify(ifp, entry)
            return 0
        if nexthop == 0xFFFFFFFF or self.ip.is_bcast_on(ifp, nexthop):
            self._xmit(ifp, _ETH_HDR(BROADCAST, ifp.mac, ETHERTYPE_IPV4) + packet)
            return 0
        if entry is not None and entry.flags & RTF_PINNED:
            # our own address on this interface, reached by an interface route: loop it
            self.ip.loopback(packet)
            return 0
        return self._resolve(ifp, nexthop, entry, packet, is_gw)

    def _resolve(self, ifp, nexthop, entry, packet, is_gw) -> int:
        """arpresolve_full: hold the packet on an incomplete entry, (re)ask at most once a
        second, maxtries times; then the held packets get ICMP host unreachable and senders
        get EHOSTDOWN (EHOSTUNREACH via a gateway) until the entry times out."""
        stack = self.stack
        sysctl = stack.sysctl
        now = self.loop.clock()
        if entry is None:
            if ifp.flags & (IFF_NOARP | IFF_STATICARP):
                ifp.stats[6] += 1
                return EINVAL
            if not stack.ll_room(AF_INET, ifp):     # table full: dropped, as a full queue
                ifp.stats[6] += 1
                return ENOBUFS
            entry = LLEntry(AF_INET, nexthop, None, 0,
                            now + sysctl["net.link.ether.inet.wait"], ifp)
            ifp.llinfo[nexthop] = entry
            stack.ll_arm(entry)     # (Stack.tick expires it)
        if entry.asked >= sysctl["net.link.ether.inet.maxtries"] and entry.timer is None:
            return EHOSTUNREACH if is_gw else EHOSTDOWN
        hold = entry.hold
        hold.append(packet)
        maxhold = max(1, sysctl["net.link.ether.inet.maxhold"])
        if len(hold) > maxhold:
            del hold[0]
            ifp.stats[6] += 1
            self.arpstat["dropped"] += 1
        if entry.timer is None:
            self._request(ifp, entry)
        return 0

    def _verify(self, ifp, entry) -> None:
        """A learned entry in use is about to expire: ask its owner again, by unicast, at
        most once a second (FreeBSD's VERIFY state); its reply renews the entry."""
        ifa = self.ip.source_on(ifp, entry.addr)
        if ifa is not None:
            self.arpstat["txrequests"] += 1
            self._xmit(ifp, _ETH_HDR(entry.mac, ifp.mac, ETHERTYPE_ARP)
                       + arp.request(ifp.mac, ifa.to_bytes(4, "big"),
                                     entry.addr.to_bytes(4, "big")))
        entry.timer = self.loop.call_later(ARP_REXMIT, _clear_timer, entry)

    def _request(self, ifp, entry) -> None:
        ifa = self.ip.source_on(ifp, entry.addr)
        if ifa is not None:
            entry.asked += 1
            self.arpstat["txrequests"] += 1
            self._xmit(ifp, _ETH_HDR(BROADCAST, ifp.mac, ETHERTYPE_ARP)
                       + arp.request(ifp.mac, ifa.to_bytes(4, "big"),
                                     entry.addr.to_bytes(4, "big")))
        entry.timer = self.loop.call_later(ARP_REXMIT, self._arp_timer, ifp, entry)

    def _arp_timer(self, ifp, entry) -> None:
        entry.timer = None
        if ifp.llinfo.get(entry.addr) is not entry or entry.mac is not None:
            return
        if entry.asked < self.stack.sysctl["net.link.ether.inet.maxtries"]:
            self._request(ifp, entry)
            return
        # given up: the held packets learn it by ICMP; the entry stays (incomplete) until
        # net.link.ether.inet.wait runs out, and sends fail at once meanwhile
        held, entry.hold = entry.hold, []
        entry.expire = self.loop.clock() + self.stack.sysctl["net.link.ether.inet.wait"]
        self.stack.ll_arm(entry)
        self.arpstat["timeouts"] += 1
        self.arpstat["dropped"] += len(held)
        for packet in held:
            ifp.stats[6] += 1
            self.ip.host_unreachable(packet)

    def _flush_hold(self, ifp, entry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        held, entry.hold = entry.hold, []
        head = _ETH_HDR(entry.mac, ifp.mac, ETHERTYPE_IPV4)
        for packet in held:
            self._xmit(ifp, head + packet)
