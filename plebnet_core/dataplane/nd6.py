"""Neighbor Discovery for IPv6 (RFC 4861) and duplicate address detection (RFC 4862), with
FreeBSD's nd6 rules (sys/netinet6/nd6.c, nd6_nbr.c): the neighbor cache states INCOMPLETE,
REACHABLE, STALE, DELAY and PROBE with their timers, a hold queue while resolving, NS/NA
through solicited-node multicast, and DAD probes for tentative addresses.

The neighbor cache is the state model's NDP table (ifp.llinfo6: LLEntry keyed by the plain
IPv6 int); entries are created and renewed through Stack.ll_learn, as ARP's are, so ndp dumps
(NET_RT_FLAGS af inet6) show what was learned.  This module keeps the ND state on the entry
(state, reach) and the timers (entry.timer).  REACHABLE becomes STALE lazily: an entry carries
its reachable deadline and the next use compares, so a busy cache arms no timer per packet.
entry.expire is when an unused entry is collected (FreeBSD's nd6_gctimer after going stale).
"""
from __future__ import annotations

import random

from plebproto.constants import (
    AF_INET6, EHOSTDOWN, ENOBUFS, IFF_UP, IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE, LINK_STATE_UP,
    ND6_IFF_IFDISABLED, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_PINNED, RTF_REJECT, RTF_STATIC,
    RTM_DELETE,
)

from ..state.ifnet import LLEntry
from .wire import WireError, ethernet, icmp6, ipv6

# FreeBSD's ND6_LLINFO_* values (what ndp -a's state letter comes from)
NOSTATE, INCOMPLETE, REACHABLE, STALE, DELAY, PROBE = -2, 0, 1, 2, 3, 4
STATE_LETTER = {NOSTATE: "N", INCOMPLETE: "I", REACHABLE: "R", STALE: "S", DELAY: "D",
                PROBE: "P"}

REACHABLE_TIME = 30.0       # REACHABLE_TIME (ms 30000), randomised 0.5..1.5 (ND_COMPUTE_RTIME)
RETRANS_TIMER = 1.0         # RETRANS_TIMER
DELAY_FIRST_PROBE = 5.0     # DELAY_FIRST_PROBE_TIME
MAX_MULTICAST_SOLICIT = 3
MAX_UNICAST_SOLICIT = 3
GC_TIMER = 86400.0          # net.inet6.ip6.nd6_gctimer: how long a stale entry stays
MAX_HOLD = 16               # net.inet6.ip6.nd6_maxqueuelen
NDP_HLIM = 255

_ETHERTYPE_IPV6 = ethernet.ETHERTYPE_IPV6
_ETH_HDR = ethernet.header
_NH_ICMPV6 = ipv6.NH_ICMPV6
_UNSPEC = ipv6.UNSPECIFIED
_from = int.from_bytes
# the icmp6stat counter a malformed ND message of each type moves (nd6_ns_input's "bad:" ...)
_BAD = {icmp6.ROUTER_SOLICIT: "icp6s_badrs", icmp6.ROUTER_ADVERT: "icp6s_badra",
        icmp6.NEIGHBOR_SOLICIT: "icp6s_badns", icmp6.NEIGHBOR_ADVERT: "icp6s_badna"}


def _b(addr: int) -> bytes:
    return addr.to_bytes(16, "big")


class ND6:
    def __init__(self, stack, loop, link):
        self.stack = stack
        self.loop = loop
        self.link = link
        self.ip6 = None             # set by DataPlane
        self.rtadv = None           # RS/RA handling (rtadv.RtAdv), set by DataPlane
        self.reachable = REACHABLE_TIME * random.uniform(0.5, 1.5)
        self.counters = {"badhlim": 0, "badmsg": 0, "ns_in": 0, "na_in": 0, "ns_out": 0,
                         "na_out": 0, "dad_dup": 0, "resolve_failed": 0, "hold_dropped": 0}
        self._dad: dict = {}         # tentative IfAddr -> (probes sent, when the next is due)

    # -- output: resolution ------------------------------------------------------------------
    def resolve(self, ifp, addr: int, packet) -> int:
        """Send packet to neighbor addr (plain int) on ifp, resolving it first if need be
        (nd6_resolve).  Returns 0 or the errno a local sender gets."""
        table = ifp.llinfo6
        entry = table.get(addr)
        now = self.loop.clock()
        if entry is not None and entry.mac is not None:
            flags = entry.flags
            if flags & (RTF_PINNED | RTF_STATIC | RTF_BLACKHOLE | RTF_REJECT):
                if flags & RTF_PINNED:
                    self.ip6.loopback(packet)       # our own address on this link
                    return 0
                if flags & (RTF_BLACKHOLE | RTF_REJECT):
                    return EHOSTDOWN if flags & RTF_REJECT else 0
                self.link.xmit(ifp, _ETH_HDR(entry.mac, ifp.mac, _ETHERTYPE_IPV6) + packet)
                return 0
            state = entry.state
            if state == REACHABLE and now >= entry.reach:
                state = entry.state = STALE
            if state == STALE:
                # first use of a stale entry: send, and check reachability in a while
                entry.state = DELAY
                entry.asked = 0
                self._arm(ifp, entry, DELAY_FIRST_PROBE)
            self.link.xmit(ifp, _ETH_HDR(entry.mac, ifp.mac, _ETHERTYPE_IPV6) + packet)
            return 0
        if entry is None:
            if not self.stack.ll_room(AF_INET6, ifp):  # table full: dropped, as a full queue
                ifp.stats[6] += 1
                return ENOBUFS
            entry = LLEntry(AF_INET6, addr, None, 0,
                            now + MAX_MULTICAST_SOLICIT * RETRANS_TIMER + 1, ifp)
            entry.state = INCOMPLETE
            table[addr] = entry
            self.stack.ll_arm(entry)    # (Stack.tick expires it)
        hold = entry.hold
        hold.append(packet)
        if len(hold) > MAX_HOLD:
            del hold[0]
            ifp.stats[6] += 1
            self.counters["hold_dropped"] += 1
        if entry.timer is None:
            entry.asked = 1
            self._solicit(ifp, entry, packet)
            self._arm(ifp, entry, RETRANS_TIMER)
        return 0

    def _arm(self, ifp, entry, delay: float) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        entry.timer = self.loop.call_later(delay, self._timer, ifp, entry)

    def _timer(self, ifp, entry) -> None:
        """nd6_llinfo_timer: retransmit, probe, or give up on the neighbor."""
        entry.timer = None
        if ifp.llinfo6.get(entry.addr) is not entry:
            return
        state = entry.state
        if state == INCOMPLETE:
            if entry.asked < MAX_MULTICAST_SOLICIT:
                entry.asked += 1
                self._solicit(ifp, entry, entry.hold[-1] if entry.hold else None)
                self._arm(ifp, entry, RETRANS_TIMER)
                return
            # no answer: the held packets learn it by ICMPv6 address unreachable
            held, entry.hold = entry.hold, []
            self._free(ifp, entry)
            self.counters["resolve_failed"] += 1
            for packet in held:
                ifp.stats[6] += 1
                self.ip6.addr_unreachable(ifp, packet)
        elif state == DELAY:
            entry.state = PROBE
            entry.asked = 1
            self._solicit(ifp, entry, None, unicast=True)
            self._arm(ifp, entry, RETRANS_TIMER)
        elif state == PROBE:
            if entry.asked < MAX_UNICAST_SOLICIT:
                entry.asked += 1
                self._solicit(ifp, entry, None, unicast=True)
                self._arm(ifp, entry, RETRANS_TIMER)
            else:
                self._free(ifp, entry)

    def _free(self, ifp, entry) -> None:
        """nd6_free: the entry goes from the state model's table, with a routing message."""
        if ifp.llinfo6.get(entry.addr) is entry:
            del ifp.llinfo6[entry.addr]
            stack = self.stack
            stack.ll_due.disarm(entry)
            stack.journal.emit(lambda: {"type": RTM_DELETE, "af": AF_INET6,
                                        "neigh": stack.ll_info(entry)})

    def _solicit(self, ifp, entry, held, unicast: bool = False) -> None:
        """nd6_ns_output: multicast to the target's solicited-node group while INCOMPLETE,
        unicast to the cached address when probing.  The source is the held packet's own if
        it is ours on ifp (RFC 4861 7.2.2), else one chosen for the target."""
        target = _b(entry.addr)
        src = None
        if held is not None and len(held) >= 40:
            cand = held[8:24]
            if self.ip6.is_mine_on(ifp, cand):
                src = cand
        if src is None:
            src = self.ip6.source_on(ifp, target)
            if src is None:
                return
        if unicast:
            dst, mac = target, entry.mac
        else:
            dst = ipv6.solicited_node(target)
            mac = ipv6.multicast_mac(dst)
        msg = icmp6.neighbor_solicit(src, dst, target, ifp.mac)
        self.counters["ns_out"] += 1
        self.ip6.count_out(_NH_ICMPV6, msg)     # nd6_ns_output goes by ip6_output
        self.link.xmit(ifp, _ETH_HDR(mac, ifp.mac, _ETHERTYPE_IPV6)
                       + ipv6.emit(src, dst, _NH_ICMPV6, msg, hop_limit=NDP_HLIM))

    def _flush(self, ifp, entry) -> None:
        held, entry.hold = entry.hold, []
        if not held:
            return
        head = _ETH_HDR(entry.mac, ifp.mac, _ETHERTYPE_IPV6)
        for packet in held:
            self.link.xmit(ifp, head + packet)
        if entry.state == STALE:        # sending to a stale neighbor starts the delay
            entry.state = DELAY
            entry.asked = 0
            self._arm(ifp, entry, DELAY_FIRST_PROBE)

    # -- input -------------------------------------------------------------------------------
    def input(self, ifp, h, m) -> None:
        """An RS, RA, NS or NA (checksum verified) for us; RFC 4861's validity checks first."""
        ist = self.ip6.icmp6stat
        if m.code != 0:
            # icmp6_input checks the code before handing the message to nd6 (badcode)
            self.counters["badmsg"] += 1
            ist["icp6s_badcode"] += 1
            return
        if h.hop_limit != NDP_HLIM:
            self.counters["badhlim"] += 1       # not from on-link: forged, dropped
            ist[_BAD[m.type]] += 1
            return
        try:
            nd = icmp6.nd_parse(m)
        except WireError:
            self.counters["badmsg"] += 1
            ist[_BAD[m.type]] += 1
            return
        t = nd.type
        if t == icmp6.NEIGHBOR_SOLICIT:
            self.ns_input(ifp, h, nd)
        elif t == icmp6.NEIGHBOR_ADVERT:
            self.na_input(ifp, h, nd)
        elif t == icmp6.ROUTER_ADVERT:
            self.rtadv.ra_input(ifp, h, nd)
        else:
            self.rtadv.rs_input(ifp, h, nd)

    def ns_input(self, ifp, h, nd) -> None:
        self.counters["ns_in"] += 1
        target, src = nd.target, h.src
        if target[0] == 0xFF:
            self.counters["badmsg"] += 1
            self.ip6.icmp6stat["icp6s_badns"] += 1
            return
        dad = src == _UNSPEC
        if dad and (h.dst != ipv6.solicited_node(target) or nd.lladdr is not None):
            self.counters["badmsg"] += 1
            self.ip6.icmp6stat["icp6s_badns"] += 1
            return
        t_int = _from(target, "big")
        ifa = ifp.find_addr(AF_INET6, t_int)     # (indexed: not a walk per packet)
        proxy_mac = None
        if ifa is None:
            entry = ifp.llinfo6.get(t_int)
            if entry is None or not entry.flags & RTF_ANNOUNCE or entry.mac is None:
                return              # not for us
            proxy_mac = entry.mac   # ndp -s ... proxy: answer for it
        elif ifa.flags & IN6_IFF_DUPLICATED:
            return
        elif ifa.flags & IN6_IFF_TENTATIVE:
            if dad:
                self.duplicated(ifa)    # someone else is trying our tentative address
            return                  # a tentative address answers nothing (RFC 4862 5.4)
        if not dad and nd.lladdr is not None:
            self.cache_lladdr(ifp, _from(src, "big"), nd.lladdr)
        router = icmp6.NA_ROUTER if self.stack.sysctl["net.inet6.ip6.forwarding"] else 0
        if dad:                     # to all nodes, not solicited (RFC 4861 7.2.4)
            dst, flags = ipv6.ALL_NODES, router | icmp6.NA_OVERRIDE
        else:
            dst = src
            flags = router | icmp6.NA_SOLICITED | (0 if proxy_mac else icmp6.NA_OVERRIDE)
        mac = proxy_mac or ifp.mac
        na = icmp6.neighbor_advert(target, dst, target, mac, flags)
        pkt = ipv6.emit(target, dst, _NH_ICMPV6, na, hop_limit=NDP_HLIM)
        self.counters["na_out"] += 1
        self.ip6.count_out(_NH_ICMPV6, na)
        if dad:
            self.link.xmit(ifp, _ETH_HDR(ipv6.multicast_mac(dst), ifp.mac, _ETHERTYPE_IPV6)
                           + pkt)
        else:
            self.resolve(ifp, _from(dst, "big"), pkt)

    def na_input(self, ifp, h, nd) -> None:
        self.counters["na_in"] += 1
        target = nd.target
        solicited = nd.flags & icmp6.NA_SOLICITED
        if target[0] == 0xFF or solicited and h.dst[0] == 0xFF:
            self.counters["badmsg"] += 1
            self.ip6.icmp6stat["icp6s_badna"] += 1
            return
        t_int = _from(target, "big")
        for a in ifp.addrs:
            if a.af == AF_INET6 and a.addr == t_int:
                if a.flags & IN6_IFF_TENTATIVE:
                    self.duplicated(a)      # our tentative address is in use
                return                      # someone claims our address: never learned
        entry = ifp.llinfo6.get(t_int)
        if entry is None or entry.flags & (RTF_STATIC | RTF_PINNED) or entry.set:
            return
        lladdr = nd.lladdr
        now = self.loop.clock()
        if entry.mac is None:       # INCOMPLETE
            if lladdr is None:
                return
            self._learn(ifp, entry, lladdr)
            if ifp.llinfo6.get(t_int) is not entry or entry.mac is None:
                return
            entry.router = bool(nd.flags & icmp6.NA_ROUTER)
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
            self._set(entry, REACHABLE if solicited else STALE, now)
            self._flush(ifp, entry)
            return
        changed = lladdr is not None and lladdr != entry.mac
        if not changed or nd.flags & icmp6.NA_OVERRIDE:
            entry.router = bool(nd.flags & icmp6.NA_ROUTER)     # ln_router follows R
        if changed and not nd.flags & icmp6.NA_OVERRIDE:
            if entry.state == REACHABLE:
                self._set(entry, STALE, now)
            return
        if changed:
            self._learn(ifp, entry, lladdr)
        if solicited:
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
            self._set(entry, REACHABLE, now)
        elif changed:
            self._set(entry, STALE, now)

    def cache_lladdr(self, ifp, addr: int, mac: bytes) -> None:
        """nd6_cache_lladdr for NS/RS/RA senders: new or changed entries become STALE."""
        if mac[0] & 1 or addr >> 120 == 0xFF:
            return
        table = ifp.llinfo6
        entry = table.get(addr)
        if entry is not None and (entry.flags & (RTF_STATIC | RTF_PINNED) or entry.set):
            return
        if entry is not None and entry.mac == mac:
            return
        was_incomplete = entry is not None and entry.mac is None
        if entry is None:
            self.stack.ll_learn(AF_INET6, ifp, addr, mac, True)
            entry = table.get(addr)
            if entry is None:
                return
        else:
            self._learn(ifp, entry, mac)
        if entry.mac is None:
            return
        if was_incomplete and entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        self._set(entry, STALE, self.loop.clock())
        if was_incomplete:
            self._flush(ifp, entry)

    def _learn(self, ifp, entry, mac) -> None:
        self.stack.ll_learn(AF_INET6, ifp, entry.addr, mac, False)

    def _set(self, entry, state: int, now: float) -> None:
        entry.state = state
        if state == REACHABLE:
            entry.reach = now + self.reachable
            entry.expire = entry.reach + GC_TIMER
        else:
            entry.expire = now + GC_TIMER
        self.stack.ll_arm(entry)        # (earlier than armed when REACHABLE goes STALE)

    # -- duplicate address detection ---------------------------------------------------------
    def dad_start(self) -> None:
        """Probe the tentative addresses (nd6_dad_start, nd6_dad_timer): net.inet6.ip6.
        dad_count NSs from the unspecified address to the address's solicited-node group,
        one per RetransTimer.  The state model clears TENTATIVE when its DAD time is up
        (Stack.tick, dad_count seconds); an answer first makes the address DUPLICATED."""
        pending = set(self.stack.dad_pending)
        for ifa in [a for a in self._dad if a not in pending]:
            del self._dad[ifa]
        now = self.loop.clock()
        count = self.stack.sysctl["net.inet6.ip6.dad_count"]
        for ifa in pending:
            sent, when = self._dad.get(ifa, (0, now))
            if sent >= count or when > now or not ifa.flags & IN6_IFF_TENTATIVE:
                continue
            ifp = ifa.ifp
            if (not ifp.flags & IFF_UP or ifp.link_state != LINK_STATE_UP
                    or ifp.device is None or not ifp.iftype.ether
                    or ifp.nd6_flags & ND6_IFF_IFDISABLED):
                continue
            self._dad[ifa] = (sent + 1, now + RETRANS_TIMER)
            target = _b(ifa.addr)
            dst = ipv6.solicited_node(target)
            msg = icmp6.neighbor_solicit(_UNSPEC, dst, target, None)
            self.counters["ns_out"] += 1
            self.ip6.count_out(_NH_ICMPV6, msg)
            self.link.xmit(ifp, _ETH_HDR(ipv6.multicast_mac(dst), ifp.mac, _ETHERTYPE_IPV6)
                           + ipv6.emit(_UNSPEC, dst, _NH_ICMPV6, msg, hop_limit=NDP_HLIM))

    def probing(self) -> bool:
        return bool(self._dad)

    def duplicated(self, ifa) -> None:
        """nd6_dad_duplicated: TENTATIVE off, DUPLICATED on, no more DAD for it; a duplicate
        link-local address disables IPv6 on the interface (ND6_IFF_IFDISABLED)."""
        stack = self.stack
        self.counters["dad_dup"] += 1
        j = stack.journal
        with stack.transaction():
            if ifa in stack.dad_pending:
                j.delitem(stack.dad_pending, ifa)
            j.setattr(ifa, "flags", (ifa.flags & ~IN6_IFF_TENTATIVE) | IN6_IFF_DUPLICATED)
            if ifa.addr >> 118 == 0xFE80 >> 6:
                j.setattr(ifa.ifp, "nd6_flags", ifa.ifp.nd6_flags | ND6_IFF_IFDISABLED)
        self._dad.pop(ifa, None)
