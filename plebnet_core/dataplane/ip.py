"""IPv4 input, local delivery (ICMP, UDP), forwarding by the routing table, and output, with
FreeBSD's rules (sys/netinet/ip_input.c, ip_output.c, ip_icmp.c, udp_usrreq.c).

Addresses are ints here, as in the state model; the wire codecs take and give bytes.

Per-packet route lookups go through a cache keyed by destination, emptied whenever the IPv4
routing table's generation changes (every add, delete or change bumps it), so a packet costs one
dict probe whatever the table's size.
"""
from __future__ import annotations

import os

from plebproto.constants import (
    AF_INET, EADDRNOTAVAIL, EHOSTUNREACH, EMSGSIZE, ENETDOWN, IFF_LOOPBACK, IFF_POINTOPOINT,
    IFF_UP, RTF_BLACKHOLE, RTF_GATEWAY, RTF_REJECT,
)

from .reassembly import Reassembler
from .wire import WireError, icmp, ipv4, udp
from .wire.checksum import checksum as _checksum

PROTO_ICMP = ipv4.PROTO_ICMP
PROTO_UDP = ipv4.PROTO_UDP
PROTO_IPIP, PROTO_IPV6 = 4, 41  # in_gif.c: IPv4 and IPv6 inside IPv4
GIF_TTL = 30                    # net.link.gif: the outer header's TTL (if_gif.h GIF_TTL)
DEFAULT_TTL = 64                # net.inet.ip.ttl
ROUTE_CACHE_MAX = 65536
UDP_ECHO_PORT = 7
_MISSING = object()
_TTL_ICMP = bytes((DEFAULT_TTL, PROTO_ICMP))
_TTL_WORD = DEFAULT_TTL << 8 | PROTO_ICMP
_from = int.from_bytes
# ICMP types an error may be sent about (queries); never about an error (RFC 1122 3.2.2)
_ICMP_QUERIES = frozenset({0, 8, 9, 10, 13, 14, 15, 16, 17, 18})


def _count_in(ifa, length: int) -> None:
    """ip_input counts each packet for one of our addresses (or its subnet's broadcast) on
    that address."""
    st = ifa.stats
    st[0] += 1
    st[1] += length


def _count_out(route, length: int) -> None:
    """ip_output counts each packet on the address of the route it leaves by (nh_ifa)."""
    ifa = route.ifa
    if ifa is not None:
        st = ifa.stats
        st[2] += 1
        st[3] += length


def _b(addr: int) -> bytes:
    return addr.to_bytes(4, "big")


class IPv4:
    def __init__(self, stack, loop, link):
        self.stack = stack
        self.loop = loop
        self.link = link
        self.table = stack.rt[AF_INET]
        self.sysctl = stack.sysctl
        self._gen = -1
        self._cache: dict[int, object] = {}
        self.local: dict[int, object] = {}  # our unicast addresses (any interface): IfAddr
        self.bcast: dict[int, object] = {0xFFFFFFFF: None}   # our subnets' broadcasts: IfAddr
        self.reasm = Reassembler(clock=loop.clock)
        self._reasm_timer = None
        self._ident = _from(os.urandom(2), "big")
        self.pings: dict[int, object] = {}  # echo ident -> session (ping.PingSession)
        self.udp_ports: dict[int, object] = {}  # port -> callable(src, sport, dst, payload)
        self.counters = {"forwarded": 0, "cantforward": 0, "noroute": 0, "badhdr": 0,
                         "delivered": 0, "icmp_out_errors": 0}

    # -- caches ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Routes and addresses changed (address changes always move routes): start over."""
        self._gen = self.table.generation
        self._cache.clear()
        local, bcast = {}, {0xFFFFFFFF: None}
        for ifp in self.stack.ifaces:
            for a in ifp.addrs:
                if a.af == AF_INET:
                    local.setdefault(a.addr, a)
                    if a.broadcast is not None and a.broadcast != a.addr:
                        bcast.setdefault(a.broadcast, a)
        self.local, self.bcast = local, bcast

    def route(self, dst: int):
        """The path to dst (a Route, or for a prefix not made into Routes yet its NextHop:
        the same path fields), or None."""
        if self.table.generation != self._gen:
            self._refresh()
        r = self._cache.get(dst, _MISSING)
        if r is _MISSING:
            paths = self.table.paths_to(dst)
            r = None if paths is None else paths[0] if len(paths) == 1 else \
                paths[dst % len(paths)]
            cache = self._cache
            if len(cache) >= ROUTE_CACHE_MAX:
                cache.clear()
            cache[dst] = r
        return r

    def is_bcast_on(self, ifp, addr: int) -> bool:
        return any(a.af == AF_INET and a.broadcast == addr for a in ifp.addrs)

    def source_on(self, ifp, dst: int):
        """The address of ifp on dst's subnet, else its first IPv4 address (int or None)."""
        first = None
        for a in ifp.addrs:
            if a.af != AF_INET:
                continue
            shift = 32 - a.plen
            if a.addr >> shift == dst >> shift:
                return a.addr
            if first is None:
                first = a.addr
        return first

    def next_ident(self) -> int:
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    # -- input -------------------------------------------------------------------------------
    def input(self, ifp, pkt, l2group) -> None:
        try:
            h = ipv4.parse(pkt)
        except WireError:
            ifp.stats[1] += 1
            self.counters["badhdr"] += 1
            return
        if self.table.generation != self._gen:
            self._refresh()
        s0 = pkt[12]
        if s0 >= 224 or (s0 == 127 or pkt[16] == 127) and not ifp.flags & IFF_LOOPBACK:
            ifp.stats[2] += 1       # martian source, or loopback addresses off lo0
            return
        dst = _from(h.dst, "big")
        ifa = self.local.get(dst)
        if ifa is not None:
            _count_in(ifa, h.total_length)
            src = _from(h.src, "big")
            if h.proto == PROTO_ICMP and pkt[0] == 0x45 and h.payload[:2] == b"\x08\x00" \
                    and not (h.mf or h.frag_offset) and self._echo_fast(h, pkt, src):
                return
            self.deliver(ifp, h, pkt, False)
        elif dst in self.bcast or dst == 0:
            ifa = self.bcast.get(dst)
            if ifa is not None:
                _count_in(ifa, h.total_length)
            self.deliver(ifp, h, pkt, True)
        elif dst >> 28 == 0xE:
            return                  # multicast: no groups joined
        else:
            self.forward(ifp, h, pkt, l2group)

    def deliver(self, ifp, h, pkt, bcast: bool) -> None:
        if h.mf or h.frag_offset:
            try:
                h = self.reasm.push(h)
            except WireError:
                return
            if h is None:
                self._arm_reasm()
                return
            pkt = None              # rebuilt on demand (ICMP quotes)
        self.counters["delivered"] += 1
        proto = h.proto
        if proto == PROTO_ICMP:
            self.icmp_input(ifp, h, bcast)
        elif proto == PROTO_UDP:
            self.udp_input(ifp, h, pkt, bcast)
        elif proto in (PROTO_IPIP, PROTO_IPV6) and self.tunnel_input(h):
            pass
        elif not bcast:
            self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_PROTOCOL)

    def _arm_reasm(self) -> None:
        if self._reasm_timer is None:
            when = self.reasm.next_deadline()
            if when is not None:
                self._reasm_timer = self.loop.call_at(when, self._reasm_expire)

    def _reasm_expire(self) -> None:
        self._reasm_timer = None
        self.reasm.expire()         # FreeBSD frees timed-out datagrams without ICMP
        self._arm_reasm()

    # -- ICMP --------------------------------------------------------------------------------
    def _echo_fast(self, h, pkt, src: int) -> bool:
        """An echo request without options or fragments answered by patching it: swap the
        addresses, set our TTL, turn the type into a reply, fix both checksums incrementally
        (what icmp_reflect does, minus the general path).  False: take the general path."""
        payload = h.payload
        if _checksum(payload):
            return True                     # bad ICMP checksum: dropped
        r = self._cache.get(src, _MISSING)      # input() checked the generation
        if r is _MISSING:
            r = self.route(src)
        if r is None or r.flags & (RTF_BLACKHOLE | RTF_REJECT):
            return False
        out_ifp = r.ifp
        if h.total_length > (r.mtu or out_ifp.mtu):
            return False
        c = (~(payload[2] << 8 | payload[3]) & 0xFFFF) + 0xF7FF      # type 8 -> 0
        c = (c & 0xFFFF) + (c >> 16)
        c = ~c & 0xFFFF
        # RFC 1624 for the TTL word (ttl, proto): only ttl changes
        ic = (~h.checksum & 0xFFFF) + (~(h.ttl << 8 | PROTO_ICMP) & 0xFFFF) + _TTL_WORD
        ic = (ic & 0xFFFF) + (ic >> 16)
        ic = ~((ic & 0xFFFF) + (ic >> 16)) & 0xFFFF
        reply = b"".join((pkt[:8], _TTL_ICMP, ic.to_bytes(2, "big"), pkt[16:20], pkt[12:16],
                          b"\x00\x00", c.to_bytes(2, "big"), payload[4:]))
        _count_out(r, h.total_length)
        self.link.output(out_ifp, r.gateway if r.flags & RTF_GATEWAY else src, reply,
                         bool(r.flags & RTF_GATEWAY))
        return True

    def icmp_input(self, ifp, h, bcast: bool) -> None:
        try:
            m = icmp.parse(h.payload)
        except WireError:
            return
        t = m.type
        if t == icmp.ECHO_REQUEST:
            if bcast:
                return              # net.inet.icmp.bmcastecho=0
            self.output(h.dst, h.src, PROTO_ICMP, icmp.echo_reply_to(m), tos=h.tos)
        elif t == icmp.ECHO_REPLY:
            session = self.pings.get(m.ident)
            if session is not None:
                session.on_reply(h, m)
        elif t in icmp.ERROR_TYPES:
            quoted = m.payload
            if len(quoted) >= 28 and quoted[9] == PROTO_ICMP:
                hl = (quoted[0] & 0x0F) << 2
                if len(quoted) >= hl + 8 and quoted[hl] == icmp.ECHO_REQUEST:
                    session = self.pings.get(_from(quoted[hl + 4:hl + 6], "big"))
                    if session is not None:
                        session.on_error(h, m)

    def icmp_error(self, h, pkt, type_: int, code: int, mtu: int = 0) -> None:
        """icmp_error(): never about an ICMP error, a non-first fragment, or a packet sent to
        or from a broadcast/multicast/unspecified address."""
        if h.frag_offset:
            return
        if h.proto == PROTO_ICMP and (not h.payload or h.payload[0] not in _ICMP_QUERIES):
            return
        src = _from(h.src, "big")
        dst = _from(h.dst, "big")
        if self.table.generation != self._gen:
            self._refresh()
        if (src == 0 or src >> 28 >= 0xE or src in self.bcast or dst >> 28 >= 0xE
                or dst in self.bcast):
            return
        if pkt is None:
            pkt = ipv4.header(h.src, h.dst, h.proto, len(h.payload), ttl=h.ttl, tos=h.tos,
                              ident=h.ident, df=h.df, options=h.options) + h.payload[:8]
        msg = icmp.emit(type_, code, mtu & 0xFFFF, icmp.quote(pkt))
        self.counters["icmp_out_errors"] += 1
        # the source: the address the packet was sent to if it is ours, else the one routing
        # picks towards the sender (the interface facing it)
        self.output(h.dst if dst in self.local else None, h.src, PROTO_ICMP, msg)

    def host_unreachable(self, pkt) -> None:
        """A held packet whose next hop never answered ARP (arptimer)."""
        try:
            h = ipv4.parse(pkt, verify_checksum=False)
        except WireError:
            return
        self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_HOST)

    # -- UDP ---------------------------------------------------------------------------------
    def udp_input(self, ifp, h, pkt, bcast: bool) -> None:
        try:
            u = udp.parse(h.payload, h.src, h.dst)
        except WireError:
            return
        port = u.dport
        handler = self.udp_ports.get(port)
        if handler is not None:
            handler(h.src, u.sport, h.dst, u.payload)
        elif port == UDP_ECHO_PORT and self.sysctl["net.inet.udp.echo"]:
            if not bcast:
                self.output(h.dst, h.src, PROTO_UDP,
                            udp.emit(h.dst, h.src, UDP_ECHO_PORT, u.sport, u.payload))
        elif not bcast:
            self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_PORT)

    # -- forwarding --------------------------------------------------------------------------
    def forward(self, ifp, h, pkt, l2group) -> None:
        """ip_forward(): only with net.inet.ip.forwarding=1, never link broadcasts."""
        counters = self.counters
        if l2group or not self.sysctl["net.inet.ip.forwarding"]:
            counters["cantforward"] += 1
            return
        dst = _from(h.dst, "big")
        top = dst >> 24
        if top == 0 or top == 127 or top >= 224:
            counters["cantforward"] += 1
            return
        if h.ttl <= 1:
            self.icmp_error(h, pkt, icmp.TIME_EXCEEDED, icmp.TIMXCEED_INTRANS)
            return
        r = self.route(dst)
        if r is None:
            counters["noroute"] += 1
            self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_NET)
            return
        flags = r.flags
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            if flags & RTF_REJECT:
                self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_HOST)
            return
        out_ifp = r.ifp
        nexthop = r.gateway if flags & RTF_GATEWAY else dst
        total = h.total_length
        mtu = r.mtu or out_ifp.mtu
        if total > mtu:
            if h.df:
                self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_NEEDFRAG, mtu)
                return
            try:
                pieces = ipv4.fragment(h._replace(ttl=h.ttl - 1), mtu)
            except WireError:
                return
            counters["forwarded"] += 1
            for piece in pieces:
                _count_out(r, len(piece))
                self.link.output(out_ifp, nexthop, piece, bool(flags & RTF_GATEWAY))
            return
        out = ipv4.decrement_ttl(pkt if len(pkt) == total else pkt[:total])
        counters["forwarded"] += 1
        _count_out(r, total)
        err = self.link.output(out_ifp, nexthop, out, bool(flags & RTF_GATEWAY))
        if err and err != EMSGSIZE:
            self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_HOST)

    # -- output ------------------------------------------------------------------------------
    def output(self, src, dst, proto: int, payload, *, ttl: int = DEFAULT_TTL, tos: int = 0,
               df: bool = False) -> int:
        """ip_output() for a locally originated packet; src/dst are bytes or ints, src None
        picks the route's address.  Returns 0 or the errno sendto() would."""
        if type(dst) is bytes:
            dst_i, dst_b = _from(dst, "big"), dst
        else:
            dst_i, dst_b = dst, _b(dst)
        r = self.route(dst_i)
        if r is None:
            return EHOSTUNREACH
        flags = r.flags
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            return EHOSTUNREACH if flags & RTF_REJECT else 0
        out_ifp = r.ifp
        if src is None:
            ifa = r.ifa
            if ifa is not None and ifa.af == AF_INET:
                src = ifa.addr
            else:
                src = self.source_on(out_ifp, dst_i)
                if src is None:
                    return EADDRNOTAVAIL
        src_b = src if type(src) is bytes else _b(src)
        nexthop = r.gateway if flags & RTF_GATEWAY else dst_i
        mtu = r.mtu or out_ifp.mtu
        ident = self.next_ident()
        if 20 + len(payload) > mtu:
            if df:
                return EMSGSIZE
            err = 0
            for piece in ipv4.fragment_payload(src_b, dst_b, proto, payload, mtu, ident=ident,
                                               ttl=ttl, tos=tos):
                _count_out(r, len(piece))
                err = self.link.output(out_ifp, nexthop, piece, bool(flags & RTF_GATEWAY))
            return err
        pkt = ipv4.header(src_b, dst_b, proto, len(payload), ttl=ttl, tos=tos, ident=ident,
                          df=df) + payload
        _count_out(r, len(pkt))
        return self.link.output(out_ifp, nexthop, pkt, bool(flags & RTF_GATEWAY))

    # -- gif(4) ------------------------------------------------------------------------------
    def tunnel_output(self, ifp, proto: int, packet) -> int:
        """in_gif_output: the packet inside an IPv4 header from the tunnel's source to its
        destination, routed by the stack's own table (never back into a gif: nesting
        is refused as net.link.gif.max_nesting=1 does)."""
        src, dst = ifp.params.get("tunnelsrc"), ifp.params.get("tunneldst")
        st = ifp.stats
        if src is None or dst is None or ifp.device is None:
            st[5] += 1
            return ENETDOWN
        dst_i = _from(bytes(int(x) for x in dst.split(".")), "big")
        r = self.route(dst_i)
        if r is not None and r.ifp.flags & IFF_POINTOPOINT and r.ifp.params.get("tunnelsrc"):
            st[5] += 1
            return ENETDOWN
        st[4] += 1
        st[7] += len(packet)
        return self.output(_from(bytes(int(x) for x in src.split(".")), "big"), dst_i, proto,
                           packet, ttl=GIF_TTL)

    def tunnel_input(self, h) -> bool:
        """in_gif_input: a packet from a configured tunnel's far end to its near end is
        received on that gif (when it is up); False: no such tunnel."""
        src, dst = ".".join(map(str, h.src)), ".".join(map(str, h.dst))
        for gif in self.stack.ifaces:
            p = gif.params
            if p.get("tunnelsrc") == dst and p.get("tunneldst") == src \
                    and gif.iftype.name == "gif":
                if not gif.flags & IFF_UP:
                    gif.stats[2] += 1
                    return True
                st = gif.stats
                st[0] += 1
                st[3] += len(h.payload)
                if h.proto == PROTO_IPIP:
                    self.input(gif, bytes(h.payload), False)
                else:
                    self.link.ip6.input(gif, bytes(h.payload), False)
                return True
        return False

    def loopback(self, packet) -> None:
        """Hand a packet for one of our addresses to lo0 (as if routed there)."""
        lo0 = self.stack.lo0
        if lo0 is not None and lo0.device is not None:
            self.link.output(lo0, 0, packet, False)
