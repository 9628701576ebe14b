"""IPv6 input, local delivery (ICMPv6, UDP), forwarding by the IPv6 routing table, and output,
with FreeBSD's rules (sys/netinet6/ip6_input.c, ip6_forward.c, ip6_output.c, icmp6.c).

Addresses are ints in the state model (link-local ones keyed with the zone embedded, see
state/inet.py) and 16-byte strings on the wire.  Neighbor Discovery messages go to nd6.ND6.
Fragments for us are reassembled (frag6.py); local packets over the path MTU go out in
fragments.  Path MTU discovery (RFC 8201) as FreeBSD 14 does it: a packet too big about a
packet we sent stores the MTU in the host cache (hostcache.py, icmp6_mtudisc_update), and
output fragments to it (ip6_calcmtu); ping6's IPV6_USE_MIN_MTU levels are output's minmtu.
Not done here: redirects, MLD reports.
"""
from __future__ import annotations

import os

from plebproto.constants import (
    AF_INET6, EADDRNOTAVAIL, EHOSTUNREACH, EMSGSIZE, IFF_LOOPBACK, IN6_IFF_ANYCAST,
    IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE, ND6_IFF_IFDISABLED, RTF_BLACKHOLE, RTF_GATEWAY,
    RTF_REJECT,
)

from ..state.inet import embed_scope, is_scoped6, ntop6
from . import stats
from .fib import MISSING, RouteCache
from .frag6 import Reassembler6
from .hostcache import HostCache
from .wire import WireError, icmp6, ipv6, udp
from .wire.checksum import checksum as _checksum, pseudo_header_sum as _phsum

NH_ICMPV6 = ipv6.NH_ICMPV6
NH_UDP = ipv6.NH_UDP
DEFAULT_HLIM = 64               # net.inet6.ip6.hlim
UDP_ECHO_PORT = 7
ERRPPS_LIMIT = 100              # net.inet6.icmp6.errppslimit: errors sent per second
_from = int.from_bytes
_ZONE = ~(0xFFFF << 96)
_ALL_NODES = _from(ipv6.ALL_NODES, "big")
_ALL_ROUTERS = _from(ipv6.ALL_ROUTERS, "big")
_NODE_LOCAL_ALL = 0xFF01 << 112 | 1
_SOLICITED = _from(ipv6.solicited_node(bytes(16)), "big")     # ff02::1:ff00:0
_ECHO_HEAD = b"\x60\x00\x00\x00"    # version 6, traffic class and flow label 0
_ICMP_HLIM = bytes((NH_ICMPV6, DEFAULT_HLIM))
_UNUSABLE = IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED | IN6_IFF_ANYCAST
MIN_MTU = ipv6.MIN_MTU          # IPV6_MMTU
PTB_MIN_MTU = 40 + 8 + 8        # icmp6_mtudisc_update: below a header, a fragment header
                                # and 8 bytes is "abnormally small"
# IPV6_USE_MIN_MTU (RFC 3542 11.1): -1 multicast only (the default), 0 never, 1 always
MINMTU_MCASTONLY, MINMTU_DISABLE, MINMTU_ALL = -1, 0, 1
_GIF_NH = (4, 41)       # IPPROTO_IPV4, IPPROTO_IPV6: what gif(4) carries inside IPv6
_EXTHDRS = (ipv6.NH_HOPOPTS, ipv6.NH_DSTOPTS, ipv6.NH_AH, ipv6.NH_ROUTING)


def _unzoned(key: int) -> int:
    """A gateway key without its embedded zone (the neighbor cache is keyed without)."""
    return key & _ZONE if is_scoped6(key) else key


def _upper(q) -> tuple[int, int]:
    """(next header, offset) of a quoted packet's upper layer past hop-by-hop, destination
    options, AH, routing and a first fragment's headers, as icmp6_notify_error walks them
    (a later fragment stops the walk at its fragment header; the routing header's final
    destination is not looked for: the stack never sends one)."""
    nh, off, n = q[6], 40, len(q)
    while off + 8 <= n:
        if nh in _EXTHDRS:
            step = (q[off + 1] + 2) << 2 if nh == ipv6.NH_AH else (q[off + 1] + 1) << 3
            nh, off = q[off], off + step
        elif nh == ipv6.NH_FRAGMENT:
            if (q[off + 2] << 8 | q[off + 3]) & 0xFFF8:
                break
            nh, off = q[off], off + 8
        else:
            break
    return nh, off


def _ntop6(addr: bytes) -> str:
    """An outer address as a gif tunnel keeps it (the ioctl's ntop6 text)."""
    return ntop6(_from(addr, "big"))


def _b(addr: int) -> bytes:
    return addr.to_bytes(16, "big")


def _is_ll(addr: int) -> bool:
    return addr >> 118 == 0xFE80 >> 6


def _count_in(ifa, length: int) -> None:
    st = ifa.stats
    st[0] += 1
    st[1] += length


def _count_out(route, length: int) -> None:
    ifa = route.ifa
    if ifa is not None:
        st = ifa.stats
        st[2] += 1
        st[3] += length


class IPv6(RouteCache):
    def __init__(self, stack, loop, link, nd):
        self.stack = stack
        self.loop = loop
        self.link = link
        self.nd = nd
        self.table = stack.rt[AF_INET6]
        self.sysctl = stack.sysctl
        self._gen = -1
        self._cache: dict[int, object] = {}
        self.local: dict[int, object] = {}      # table key (zone embedded) -> IfAddr
        self.plain: dict[int, object] = {}      # address without zone -> IfAddr (lo0 input)
        self.groups: dict[int, set] = {}        # ifindex -> multicast groups joined (ints)
        self.pings: dict[int, object] = {}      # echo ident -> ping session
        self.traces: dict[int, object] = {}     # UDP probe sport -> traceroute session
        self.reasm = Reassembler6(loop.clock)
        self.hostcache = HostCache(loop)
        self._reasm_timer = None
        self._frag_ident = _from(os.urandom(4), "big")
        self._err_second = 0
        self._err_count = 0
        self.counters = {"forwarded": 0, "cantforward": 0, "noroute": 0, "badhdr": 0,
                         "delivered": 0, "fragdropped": 0, "badoptions": 0,
                         "icmp6_badsum": 0, "icmp6_out_errors": 0, "icmp6_ratelimited": 0,
                         "notmember": 0, "badscope": 0, "reassembled": 0, "fragmented": 0}
        # FreeBSD's struct ip6stat / icmp6stat (netstat -s -p ip6 / icmp6), counted where
        # ip6_input.c, ip6_forward.c, ip6_output.c, frag6.c and icmp6.c count them
        self.ip6stat = stats.ip6stat()
        self.icmp6stat = stats.icmp6stat()

    # -- caches ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Addresses changed (they always move routes): rebuild the address and group maps."""
        self._gen = self.table.generation
        self._cache.clear()
        local, plain, groups = {}, {}, {}
        for ifp in self.stack.ifaces:
            joined = {_ALL_NODES, _NODE_LOCAL_ALL}
            for a in ifp.addrs:
                if a.af == AF_INET6:
                    local.setdefault(embed_scope(a.addr, a.scopeid), a)
                    plain.setdefault(a.addr, a)
                    # the solicited-node group, joined while tentative too (DAD needs it)
                    joined.add(_SOLICITED | a.addr & 0xFFFFFF)
            groups[ifp.index] = joined
        self.local, self.plain, self.groups = local, plain, groups
        self.nd.dad_start()

    def is_mine_on(self, ifp, addr: bytes) -> bool:
        a = _from(addr, "big")
        return any(x.af == AF_INET6 and x.addr == a and not x.flags & _UNUSABLE
                   for x in ifp.addrs)

    def source_on(self, ifp, dst: bytes) -> bytes | None:
        """Source selection for dst leaving by ifp (in6_selectsrc, RFC 6724 in small): an
        address of dst's scope (link-local for link-local and link-scope multicast, else
        global), on ifp and on dst's prefix first, then any on ifp, then (global scope) any
        of the stack's; never tentative, duplicated or anycast."""
        d = _from(dst, "big")
        want_ll = _is_ll(d) or d >> 112 in (0xFF01, 0xFF02)
        first = None
        for a in ifp.addrs:
            if a.af != AF_INET6 or a.flags & _UNUSABLE or _is_ll(a.addr) != want_ll:
                continue
            shift = 128 - a.plen
            if a.addr >> shift == d >> shift:
                return _b(a.addr)
            if first is None:
                first = a
        if first is None and not want_ll:
            for a in self.plain.values():
                if not _is_ll(a.addr) and not a.flags & _UNUSABLE and a.addr != 1:
                    return _b(a.addr)
        return _b(first.addr) if first is not None else None

    # -- input -------------------------------------------------------------------------------
    def input(self, ifp, pkt, l2group) -> None:
        st = self.ip6stat
        st["ip6s_total"] += 1
        try:
            h = ipv6.parse(pkt)
        except WireError:
            ifp.stats[1] += 1
            self.counters["badhdr"] += 1
            # ip6_input: too small for a header, then the version, then (the next header
            # histogram counted already) a payload length past the packet's end
            if len(pkt) < ipv6.HEADER_LEN:
                st["ip6s_toosmall"] += 1
            elif pkt[0] >> 4 != 6:
                st["ip6s_badvers"] += 1
            else:
                st["ip6s_nxthist"][pkt[6]] += 1
                st["ip6s_tooshort"] += 1
            return
        st["ip6s_nxthist"][h.next_header] += 1
        if ifp.nd6_flags & ND6_IFF_IFDISABLED:
            ifp.stats[2] += 1       # IPv6 is off on this interface (ip6_input drops)
            return
        if self.table.generation != self._gen:
            self._refresh()
        src = h.src
        if src[0] == 0xFF or (not ifp.flags & IFF_LOOPBACK and (
                src == b"\0" * 15 + b"\1" or h.dst == b"\0" * 15 + b"\1")):
            ifp.stats[2] += 1       # multicast source, or ::1 off lo0
            self.counters["badscope"] += 1
            st["ip6s_badscope"] += 1
            return
        dst = h.dst
        d = _from(dst, "big")
        if dst[0] == 0xFF:
            joined = self.groups.get(ifp.index)
            if joined is None or d not in joined and not (
                    d == _ALL_ROUTERS and (self.sysctl["net.inet6.ip6.forwarding"]
                                           or self.nd.rtadv.advertising(ifp))):
                self.counters["notmember"] += 1
                st["ip6s_notmember"] += 1
                return
            self.deliver(ifp, h, pkt, None)
            return
        if ifp.flags & IFF_LOOPBACK:
            ifa = self.plain.get(d)
        else:
            ifa = self.local.get(embed_scope(d, ifp.index) if _is_ll(d) else d)
        if ifa is not None:
            if ifa.flags & (IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED):
                # not ours yet: only ND gets through (a NS for it is DAD's business)
                if h.next_header == NH_ICMPV6 and h.payload[:1] in (b"\x87", b"\x88"):
                    self.deliver(ifp, h, pkt, None)
                return
            payload = h.payload
            _count_in(ifa, len(payload) + 40)
            if h.next_header == NH_ICMPV6 and payload[:1] == b"\x80" and \
                    self._echo_fast(ifp, h, pkt, d):
                return
            self.deliver(ifp, h, pkt, ifa)
        elif _is_ll(d):
            self.counters["cantforward"] += 1     # link-local, not ours: never forwarded
            st["ip6s_cantforward"] += 1
        else:
            self.forward(ifp, h, pkt, l2group)

    def deliver(self, ifp, h, pkt, ifa, reassembled: bool = False) -> None:
        """Local delivery; ifa None: to a multicast group.  ip6_input counts a packet
        delivered before its extension headers are processed: each fragment once, the
        datagram they make up not again (reassembled)."""
        if not reassembled:
            self.ip6stat["ip6s_delivered"] += 1
        nh = h.next_header
        payload = h.payload
        if nh != NH_ICMPV6 and nh != NH_UDP:
            try:
                chain = ipv6.walk(nh, payload, ifa is None)
            except ipv6.ParamProblem as exc:
                self.counters["badoptions"] += 1
                self.ip6stat["ip6s_badoptions"] += 1
                self.icmp6_error(ifp, h, pkt, icmp6.PARAM_PROB, exc.code, exc.pointer)
                return
            except WireError:
                self.counters["badoptions"] += 1
                self.ip6stat["ip6s_badoptions"] += 1
                return
            if chain.frag_ident is not None and (chain.more_frags or chain.frag_offset):
                self._reassemble(ifp, h, pkt, ifa, chain)
                return
            if chain.frag_ident is not None:
                # an atomic fragment (offset 0, no more): frag6_input counts it, then
                # passes it on whole
                self.ip6stat["ip6s_fragments"] += 1
                self.ip6stat["ip6s_atmfrag_rcvd"] += 1
            nh = chain.proto
            payload = payload[chain.offset:]
            nh_at = chain.nh_at
        else:
            nh_at = 6
        self.counters["delivered"] += 1
        if nh == NH_ICMPV6:
            self.icmp6_input(ifp, h, payload, ifa)
        elif nh == NH_UDP:
            self.udp_input(ifp, h, pkt, payload, ifa)
        elif nh in _GIF_NH and ifa is not None and self.link.ip.gif_input(
                _ntop6(h.src), _ntop6(h.dst), nh, payload):
            pass                    # in6_gif_input: a tunnel's packet, into its gif
        elif nh != ipv6.NH_NONE and ifa is not None:
            self.icmp6_error(ifp, h, pkt, icmp6.PARAM_PROB, ipv6.PARAMPROB_NEXTHEADER, nh_at)

    def _reassemble(self, ifp, h, pkt, ifa, chain) -> None:
        """A fragment for us: queue it; a whole datagram is delivered as if it had come in
        one packet (its fragment header gone, the headers before it kept)."""
        st = self.ip6stat
        st["ip6s_fragments"] += 1
        if h.payload_length + 40 < len(pkt):
            pkt = pkt[:40 + h.payload_length]
        frag_at = ipv6.HEADER_LEN + chain.offset - 8
        try:
            done = self.reasm.push(h.src, h.dst, chain.frag_ident, chain.frag_offset,
                                   chain.more_frags, chain.proto, h.payload[chain.offset:],
                                   (ifp, pkt), frag_at)
        except ipv6.ParamProblem as exc:
            self.counters["fragdropped"] += 1
            st["ip6s_fragdropped"] += 1
            self.icmp6_error(ifp, h, pkt, icmp6.PARAM_PROB, exc.code, exc.pointer)
            return
        except WireError:
            self.counters["fragdropped"] += 1
            st["ip6s_fragdropped"] += 1
            return
        if done is None:
            self._arm_reasm()
            return
        nh, data = done
        # the headers before the fragment header, then the data; the next-header field that
        # named the fragment header now names what it named
        before = h.payload[:chain.offset - 8]
        if before:
            before = bytearray(before)
            before[chain.nh_at - ipv6.HEADER_LEN] = nh      # it named the fragment header
            nh = h.next_header
        if len(before) + len(data) > ipv6.MAX_PAYLOAD:
            self.counters["fragdropped"] += 1
            st["ip6s_fragdropped"] += 1
            return
        whole = ipv6.header(h.src, h.dst, nh, len(before) + len(data),
                            hop_limit=h.hop_limit) + bytes(before) + data
        self.counters["reassembled"] += 1
        st["ip6s_reassembled"] += 1
        h2 = ipv6.parse(whole)
        chain2 = None
        if h2.next_header not in (NH_ICMPV6, NH_UDP):
            try:
                chain2 = ipv6.walk(h2.next_header, h2.payload, ifa is None)
            except WireError:
                chain2 = None
        if chain2 is not None and chain2.frag_ident is not None and (
                chain2.more_frags or chain2.frag_offset):
            self.counters["fragdropped"] += 1       # fragments inside fragments
            st["ip6s_fragdropped"] += 1
            return
        self.deliver(ifp, h2, whole, ifa, reassembled=True)

    def _arm_reasm(self) -> None:
        if self._reasm_timer is None:
            when = self.reasm.next_deadline()
            if when is not None:
                self._reasm_timer = self.loop.call_at(when, self._reasm_expire)

    def _reasm_expire(self) -> None:
        """frag6_slowtimo: time exceeded (reassembly) about datagrams whose first fragment
        came (RFC 8200 4.5)."""
        self._reasm_timer = None
        before = self.reasm.timed_out
        firsts = self.reasm.expire()
        # frag6_slowtimo: every fragment of a datagram given up on
        self.ip6stat["ip6s_fragtimeout"] += self.reasm.timed_out - before
        for ifp, pkt in firsts:
            try:
                h = ipv6.parse(pkt)
            except WireError:
                continue
            self.icmp6_error(ifp, h, pkt, icmp6.TIME_EXCEEDED, icmp6.TIMXCEED_REASSEMBLY)
        self._arm_reasm()

    # -- ICMPv6 ------------------------------------------------------------------------------
    def _echo_fast(self, ifp, h, pkt, d: int) -> bool:
        """An echo request straight after the fixed header, answered by patching it: swap
        the addresses, our hop limit, type 128 -> 129 with the checksum fixed incrementally
        (the pseudo-header sum does not change when the addresses swap).  What icmp6_reflect
        does, minus the general path; False: take that path."""
        payload = h.payload
        n = len(payload)
        if n < 8:
            return False
        src = h.src
        if _checksum(payload, _phsum(src, h.dst, NH_ICMPV6, n)):
            self.counters["icmp6_badsum"] += 1
            self.ip6stat["ip6s_delivered"] += 1     # ip6_input delivered it; icmp6_input
            self.icmp6stat["icp6s_checksum"] += 1   # found the sum wrong
            return True
        s = _from(src, "big")
        if s == 0:
            self.ip6stat["ip6s_delivered"] += 1
            self.icmp6stat["icp6s_inhist"][icmp6.ECHO_REQUEST] += 1
            return True
        key = embed_scope(s, ifp.index) if _is_ll(s) else s
        r = self._cache.get(key, MISSING)     # input() checked the generation
        if r is MISSING:
            r = self.route(key)
        if r is None or r.flags & (RTF_BLACKHOLE | RTF_REJECT) or ifp.flags & IFF_LOOPBACK:
            return False
        out_ifp = r.ifp
        if n + 40 > (r.mtu or out_ifp.mtu) or self.hostcache.entries and \
                self.hostcache.getmtu(key):
            return False            # fragments, or a learned path MTU: the long way
        c = (~(payload[2] << 8 | payload[3]) & 0xFFFF) + 0x100FF    # + ~0x8000 + 0x8100
        c = (c & 0xFFFF) + (c >> 16)
        c = ~((c & 0xFFFF) + (c >> 16)) & 0xFFFF
        reply = b"".join((_ECHO_HEAD, pkt[4:6], _ICMP_HLIM, h.dst, src, b"\x81\x00",
                          c.to_bytes(2, "big"), payload[4:]))
        self.counters["delivered"] += 1
        # what ip6_input, icmp6_input (echo: reflect) and ip6_output count on the long way
        self.ip6stat["ip6s_delivered"] += 1
        self.ip6stat["ip6s_localout"] += 1
        ist = self.icmp6stat
        ist["icp6s_inhist"][icmp6.ECHO_REQUEST] += 1
        ist["icp6s_reflect"] += 1
        ist["icp6s_outhist"][icmp6.ECHO_REPLY] += 1
        _count_out(r, n + 40)
        self.link.output6(out_ifp, _unzoned(r.gateway) if r.flags & RTF_GATEWAY else s,
                          reply)
        return True

    def icmp6_input(self, ifp, h, payload, ifa) -> None:
        ist = self.icmp6stat
        try:
            m = icmp6.parse(payload, h.src, h.dst)
        except WireError:
            self.counters["icmp6_badsum"] += 1
            ist["icp6s_tooshort" if len(payload) < icmp6.HEADER_LEN else "icp6s_checksum"] += 1
            return
        t = m.type
        ist["icp6s_inhist"][t] += 1
        if t == icmp6.ECHO_REQUEST:
            if h.src == ipv6.UNSPECIFIED:
                return
            zone = self._zone(ifp, h.src, ifa)
            if ifa is not None:         # from the address asked
                ist["icp6s_reflect"] += 1
                self.output(h.dst, h.src, zone, NH_ICMPV6, icmp6.echo_reply_to(m))
                return
            # to a group we joined: answered from an address of ours, summed afresh
            src = self.source_on(ifp, h.src)
            if src is not None:
                ist["icp6s_reflect"] += 1
                self.output(src, h.src, zone, NH_ICMPV6,
                            icmp6.emit(src, h.src, icmp6.ECHO_REPLY, 0, m.rest, m.payload))
        elif t == icmp6.ECHO_REPLY:
            session = self.pings.get(m.ident)
            if session is not None:
                session.on_reply6(h, m, ifp)
        elif icmp6.ROUTER_SOLICIT <= t <= icmp6.NEIGHBOR_ADVERT:
            self.nd.input(ifp, h, m)
        elif t < 128:
            self.icmp6_notify_error(ifp, h, m)

    def icmp6_notify_error(self, ifp, h, m) -> None:
        """An ICMPv6 error for us (icmp6_notify_error): the quoted packet's upper layer is
        found past its extension headers; a packet too big updates the path MTU first and
        tells the pings that asked (IPV6_RECVPATHMTU); then the ping or traceroute6 session
        the quoted packet came from gets the error."""
        ist = self.icmp6stat
        quoted = m.payload
        nxt, off = NH_ICMPV6, 40
        if m.type == icmp6.PACKET_TOO_BIG and m.code != 0:
            # icmp6_input: a bad code notifies nobody (raw sockets, ping -v, still read it)
            ist["icp6s_badcode"] += 1
            if len(quoted) < 48 or quoted[6] != NH_ICMPV6:
                return
        elif len(quoted) < 40:
            ist["icp6s_tooshort"] += 1
            return
        else:
            nxt, off = _upper(quoted)
            if m.type == icmp6.PACKET_TOO_BIG:
                self.mtudisc_update(ifp, quoted, m.rest)
                if nxt == NH_ICMPV6:
                    # rip6_ctlinput -> ip6_notify_pmtu: every ICMPv6 socket asking for it
                    for session in list(self.pings.values()):
                        if session.ip6 is not None:
                            session.on_pathmtu6(quoted[24:40], m.rest)
        if nxt == NH_ICMPV6 and len(quoted) >= off + 8 and quoted[off] == \
                icmp6.ECHO_REQUEST:
            session = self.pings.get(_from(quoted[off + 4:off + 6], "big"))
            if session is not None:
                session.on_error6(h, m)
        elif len(quoted) >= 48 and self.traces:
            # a traceroute6 probe's answer (the session finds the UDP header past any
            # extension headers); the quoted source port names the session
            for session in list(self.traces.values()):
                session.on_error6(h, m)

    def mtudisc_update(self, ifp, quoted, mtu: int) -> None:
        """icmp6_mtudisc_update: a packet too big about a packet we sent stores its MTU for
        the quoted destination in the host cache, if below the route's MTU (tcp_maxmtu6) and
        counts a path MTU change.  An abnormally small MTU is ignored; one below 1280 is
        remembered as 1272, which ip6_calcmtu turns into 1280-byte packets that always carry
        a fragment header.  The quoted source must be ours (FreeBSD takes any; RFC 8201 5.2
        asks for the check, and a forged quote then changes nothing)."""
        if mtu < PTB_MIN_MTU or _from(quoted[8:24], "big") not in self.plain:
            return
        if mtu < MIN_MTU:
            mtu = MIN_MTU - 8
        d = _from(quoted[24:40], "big")
        key = embed_scope(d, ifp.index) if is_scoped6(d) else d
        r = self.route(key)
        if r is not None and mtu < (r.mtu or r.ifp.mtu):
            self.hostcache.updatemtu(key, mtu)
            self.icmp6stat["icp6s_pmtuchg"] += 1

    def path_mtu(self, key: int, r, ifp, minmtu: int) -> tuple[int, bool]:
        """ip6_getpmtu and IPV6_USE_MIN_MTU: (MTU, always fragment) for a unicast packet to
        key by route r out of ifp.  The host cache's MTU narrows the route's (or the
        RA-narrowed link) MTU; one below 1280 means 1280 and a fragment header on every
        packet."""
        mtu = r.mtu or self.stack.in6_linkmtu(ifp)
        alwaysfrag = False
        if self.hostcache.entries:
            learned = self.hostcache.getmtu(key)
            if learned:
                mtu = min(mtu, learned)
                if mtu < MIN_MTU:
                    mtu, alwaysfrag = MIN_MTU, True
        if mtu > MIN_MTU and minmtu == MINMTU_ALL:
            mtu = MIN_MTU
        return mtu, alwaysfrag

    def _zone(self, ifp, addr: bytes, ifa=None) -> int:
        """The zone a reply to addr leaves by: the arrival interface (lo0: the address's)."""
        if ifp.flags & IFF_LOOPBACK and ifa is not None and ifa.scopeid:
            return ifa.scopeid
        return ifp.index

    def icmp6_error(self, ifp, h, pkt, type_: int, code: int, rest: int = 0) -> None:
        """icmp6_error(): never about an ICMPv6 error or redirect, nor a packet from the
        unspecified or a multicast address, nor (but for packet too big and unrecognised
        options) one sent to multicast; rate-limited.  Every call is counted, with its type
        and code, before any of those checks (icmp6_errcount)."""
        ist = self.icmp6stat
        ist["icp6s_error"] += 1
        stats.icmp6_errcount(ist, type_, code)
        if h.src == ipv6.UNSPECIFIED or h.src[0] == 0xFF:
            return
        if h.dst[0] == 0xFF and not (type_ == icmp6.PACKET_TOO_BIG or type_ ==
                                     icmp6.PARAM_PROB and code == ipv6.PARAMPROB_OPTION):
            return
        if h.next_header == NH_ICMPV6 and len(h.payload) >= 1 and (
                h.payload[0] < 128 or h.payload[0] == icmp6.REDIRECT):
            ist["icp6s_canterror"] += 1
            return
        second = int(self.loop.clock())
        if second != self._err_second:
            self._err_second, self._err_count = second, 0
        if self._err_count >= ERRPPS_LIMIT:
            self.counters["icmp6_ratelimited"] += 1
            ist["icp6s_toofreq"] += 1
            return
        self._err_count += 1
        d = _from(h.dst, "big")
        zone = ifp.index
        ifa = self.local.get(embed_scope(d, zone) if _is_ll(d) else d)
        src = h.dst if ifa is not None and not ifa.flags & _UNUSABLE else \
            self.source_on(ifp, h.src)
        if src is None:
            return
        original = pkt[:40 + h.payload_length]
        msg = icmp6.error(src, h.src, type_, code, rest, original)
        self.counters["icmp6_out_errors"] += 1
        self.output(src, h.src, zone, NH_ICMPV6, msg)

    def addr_unreachable(self, ifp, pkt) -> None:
        """A held packet whose next hop never answered NS (nd6_llinfo_timer)."""
        try:
            h = ipv6.parse(pkt)
        except WireError:
            return
        self.icmp6_error(ifp, h, pkt, icmp6.DST_UNREACH, icmp6.UNREACH_ADDR)

    # -- UDP ---------------------------------------------------------------------------------
    def udp_input(self, ifp, h, pkt, payload, ifa) -> None:
        try:
            u = udp.parse(payload, h.src, h.dst)
        except WireError:
            return
        if u.checksum == 0:
            return                  # mandatory over IPv6 (RFC 8200 8.1)
        if u.dport == UDP_ECHO_PORT and self.sysctl["net.inet.udp.echo"]:
            if ifa is not None:
                self.output(h.dst, h.src, self._zone(ifp, h.src, ifa), NH_UDP,
                            udp.emit(h.dst, h.src, UDP_ECHO_PORT, u.sport, u.payload))
        elif ifa is not None:
            self.icmp6_error(ifp, h, pkt, icmp6.DST_UNREACH, icmp6.UNREACH_NOPORT)

    # -- forwarding --------------------------------------------------------------------------
    def forward(self, ifp, h, pkt, l2group) -> None:
        """ip6_forward(): only with net.inet6.ip6.forwarding=1; never link-local or
        multicast destinations, nor link-local sources off their link."""
        counters = self.counters
        st = self.ip6stat
        if l2group or not self.sysctl["net.inet6.ip6.forwarding"]:
            counters["cantforward"] += 1
            st["ip6s_cantforward"] += 1
            return
        src = h.src
        if src == ipv6.UNSPECIFIED:
            counters["cantforward"] += 1
            st["ip6s_cantforward"] += 1
            return
        if h.next_header == ipv6.NH_HOPOPTS:     # every node on the path reads these
            try:
                ipv6.hop_by_hop(h.payload)
            except ipv6.ParamProblem as exc:
                counters["cantforward"] += 1
                st["ip6s_cantforward"] += 1
                self.icmp6_error(ifp, h, pkt, icmp6.PARAM_PROB, exc.code, exc.pointer)
                return
            except WireError:
                counters["cantforward"] += 1
                st["ip6s_cantforward"] += 1
                return
        if h.hop_limit <= 1:
            self.icmp6_error(ifp, h, pkt, icmp6.TIME_EXCEEDED, icmp6.TIMXCEED_TRANSIT)
            return
        d = _from(h.dst, "big")
        r = self.route(d)
        if r is None:
            counters["noroute"] += 1
            st["ip6s_noroute"] += 1
            self.icmp6_error(ifp, h, pkt, icmp6.DST_UNREACH, icmp6.UNREACH_NOROUTE)
            return
        flags = r.flags
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            if flags & RTF_REJECT:
                self.icmp6_error(ifp, h, pkt, icmp6.DST_UNREACH, icmp6.UNREACH_ADDR)
            return
        out_ifp = r.ifp
        if _is_ll(_from(src, "big")) and out_ifp is not ifp:
            # a link-local source cannot leave its link (RFC 4007 9)
            counters["cantforward"] += 1
            st["ip6s_cantforward"] += 1
            st["ip6s_badscope"] += 1
            self.icmp6_error(ifp, h, pkt, icmp6.DST_UNREACH, icmp6.UNREACH_BEYONDSCOPE)
            return
        total = 40 + h.payload_length
        # ip6_tryforward (what most packets take) checks the next hop's MTU; a packet with
        # hop-by-hop options takes ip6_forward, which checks IN6_LINKMTU (an RA's MTU
        # narrows the interface's); the packet too big tells the MTU checked
        if h.next_header == ipv6.NH_HOPOPTS:
            mtu = self.stack.in6_linkmtu(out_ifp)
        else:
            mtu = r.mtu or out_ifp.mtu
        if total > mtu:
            self.icmp6_error(ifp, h, pkt, icmp6.PACKET_TOO_BIG, 0, mtu)
            return
        out = ipv6.decrement_hop_limit(pkt if len(pkt) == total else pkt[:total])
        counters["forwarded"] += 1
        st["ip6s_forward"] += 1
        _count_out(r, total)
        nexthop = _unzoned(r.gateway) if flags & RTF_GATEWAY else d
        self.link.output6(out_ifp, nexthop, out)

    # -- output ------------------------------------------------------------------------------
    def output(self, src: bytes | None, dst: bytes, zone: int, nh: int, payload, *,
               hlim: int = DEFAULT_HLIM, minmtu: int = MINMTU_MCASTONLY) -> int:
        """ip6_output() for a locally originated packet; zone: the interface index scoped
        destinations are reached by; minmtu: the sender's IPV6_USE_MIN_MTU.  Returns 0 or
        the errno sendmsg() would."""
        self.count_out(nh, payload)
        d = _from(dst, "big")
        if dst[0] == 0xFF:
            out_ifp = self.stack.by_index(zone) if zone else None
            if out_ifp is None:
                self.ip6stat["ip6s_noroute"] += 1
                return EHOSTUNREACH
            if src is None:
                src = self.source_on(out_ifp, dst)
                if src is None:
                    return EADDRNOTAVAIL
            mtu = out_ifp.mtu
            if mtu > MIN_MTU and minmtu != MINMTU_DISABLE:
                mtu = MIN_MTU               # multicast goes at the minimum MTU by default
            if 40 + len(payload) > mtu:
                return self._fragment_out(out_ifp, d, None, src, dst, nh, payload, hlim, mtu)
            return self.link.output6(out_ifp, d, ipv6.emit(src, dst, nh, payload,
                                                           hop_limit=hlim))
        key = embed_scope(d, zone) if is_scoped6(d) else d
        r = self.route(key)
        if r is None:
            self.ip6stat["ip6s_noroute"] += 1
            return EHOSTUNREACH
        flags = r.flags
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            return EHOSTUNREACH if flags & RTF_REJECT else 0
        out_ifp = r.ifp
        if src is None:
            ifa = r.ifa
            if ifa is not None and ifa.af == AF_INET6 and not ifa.flags & _UNUSABLE and \
                    _is_ll(ifa.addr) == _is_ll(d) and not out_ifp.flags & IFF_LOOPBACK:
                src = _b(ifa.addr)
            else:
                src = self.source_on(out_ifp if not out_ifp.flags & IFF_LOOPBACK
                                     else (ifa.ifp if ifa is not None else out_ifp), dst)
                if src is None:
                    return EADDRNOTAVAIL
        nexthop = _unzoned(r.gateway) if flags & RTF_GATEWAY else d
        # IN6_LINKMTU (a link MTU learned from RAs narrows the interface's), the path MTU
        mtu, alwaysfrag = self.path_mtu(key, r, out_ifp, minmtu)
        if alwaysfrag or 40 + len(payload) > mtu:
            return self._fragment_out(out_ifp, nexthop, r, src, dst, nh, payload, hlim, mtu)
        pkt = ipv6.header(src, dst, nh, len(payload), hop_limit=hlim) + payload
        _count_out(r, len(pkt))
        return self.link.output6(out_ifp, nexthop, pkt)

    def count_out(self, nh: int, payload) -> None:
        """A locally originated datagram (ip6_output's localout); an ICMPv6 one also by
        type, as icmp6.c, nd6_nbr.c and rip6_output count what they send."""
        self.ip6stat["ip6s_localout"] += 1
        if nh == NH_ICMPV6 and payload:
            self.icmp6stat["icp6s_outhist"][payload[0]] += 1

    def _fragment_out(self, out_ifp, nexthop, r, src, dst, nh, payload, hlim, mtu) -> int:
        """ip6_fragment: a local packet over the path MTU goes in fragments (the source
        fragments in IPv6; routers never do)."""
        if mtu < ipv6.MIN_MTU or 40 + len(payload) > 40 + ipv6.MAX_PAYLOAD:
            return EMSGSIZE
        self._frag_ident = (self._frag_ident + 1) & 0xFFFFFFFF
        try:
            pieces = ipv6.fragment(src, dst, nh, payload, mtu, self._frag_ident,
                                   hop_limit=hlim)
        except WireError:
            return EMSGSIZE
        self.counters["fragmented"] += 1
        self.ip6stat["ip6s_fragmented"] += 1
        self.ip6stat["ip6s_ofragments"] += len(pieces)
        err = 0
        for piece in pieces:
            if r is not None:
                _count_out(r, len(piece))
            err = self.link.output6(out_ifp, nexthop, piece) or err
        return err

    def loopback(self, packet) -> None:
        """Hand a packet for one of our addresses to lo0 (as if routed there)."""
        lo0 = self.stack.lo0
        if lo0 is not None and lo0.device is not None:
            self.link.output6(lo0, 0, packet)

