"""IPv4 input, local delivery (ICMP, UDP), forwarding by the routing table, and output, with
FreeBSD's rules (sys/netinet/ip_input.c, ip_output.c, ip_icmp.c, udp_usrreq.c).

Addresses are ints here, as in the state model; the wire codecs take and give bytes.

Per-packet route lookups go through a cache keyed by destination, emptied whenever the IPv4
routing table's generation changes (every add, delete or change bumps it), so a packet costs one
dict probe whatever the table's size.
"""
from __future__ import annotations

import os
import socket

from plebproto.constants import (
    AF_INET, EADDRNOTAVAIL, EHOSTUNREACH, EMSGSIZE, ENETDOWN, IFF_LOOPBACK, IFF_POINTOPOINT,
    IFF_UP, RTF_BLACKHOLE, RTF_GATEWAY, RTF_REJECT,
)

from . import stats
from .fib import MISSING, RouteCache
from .ip6 import MINMTU_ALL
from .reassembly import Reassembler
from .wire import WireError, icmp, ipv4, udp
from .wire.checksum import checksum as _checksum

PROTO_ICMP = ipv4.PROTO_ICMP
PROTO_UDP = ipv4.PROTO_UDP
PROTO_IPIP, PROTO_IPV6 = 4, 41  # in{,6}_gif.c: IPv4 and IPv6 inside IPv4 or IPv6
GIF_TTL = 30                    # net.inet.ip.gifttl: the outer header's TTL (in_gif.c GIF_TTL)
GIF_HLIM = 30                   # net.inet6.ip6.gifhlim: the outer hop limit (in6_gif.c)
DEFAULT_TTL = 64                # net.inet.ip.ttl
UDP_ECHO_PORT = 7
_TTL_ICMP = bytes((DEFAULT_TTL, PROTO_ICMP))
_TTL_WORD = DEFAULT_TTL << 8 | PROTO_ICMP
_from = int.from_bytes
# ICMP types an error may be sent about (queries); never about an error (RFC 1122 3.2.2)
_ICMP_QUERIES = frozenset({0, 8, 9, 10, 13, 14, 15, 16, 17, 18})
# the highest valid code of each ICMP error type icmp_input checks (ip_icmp.c: "if (code >
# ICMP_UNREACH_PRECEDENCE_CUTOFF) goto badcode" and the like)
_MAX_CODE = {icmp.DEST_UNREACH: 15, icmp.TIME_EXCEEDED: 1, icmp.PARAM_PROBLEM: 2,
             icmp.SOURCE_QUENCH: 0, icmp.REDIRECT: 3}


def _bad_header_counter(pkt) -> str:
    """Which ipstat counter ip_input bumps for a packet ipv4.parse refused, in ip_input's
    order of checks (sys/netinet/ip_input.c)."""
    n = len(pkt)
    if n < 20:
        return "ips_toosmall"
    if pkt[0] >> 4 != 4:
        return "ips_badvers"
    hlen = (pkt[0] & 0x0F) << 2
    if hlen < 20 or hlen > n:
        return "ips_badhlen"
    if int.from_bytes(pkt[:hlen], "big") % 0xFFFF:
        return "ips_badsum"
    total = pkt[2] << 8 | pkt[3]
    if total < hlen:
        return "ips_badlen"
    if n < total:
        return "ips_tooshort"
    return "ips_toolong"            # a fragment reaching past 65535 bytes


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


class IPv4(RouteCache):
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
        self.traces: dict[int, object] = {}  # UDP probe sport -> traceroute session
        self.udp_ports: dict[int, object] = {}  # port -> callable(src, sport, dst, payload)
        self.ipstat = stats.ipstat()
        self.icmpstat = stats.icmpstat()
        self.udpstat = stats.udpstat()

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
        ipstat = self.ipstat
        ipstat["ips_total"] += 1
        try:
            h = ipv4.parse(pkt)
        except WireError:
            ifp.stats[1] += 1
            ipstat[_bad_header_counter(pkt)] += 1
            return
        if self.table.generation != self._gen:
            self._refresh()
        s0 = pkt[12]
        if (s0 == 127 or pkt[16] == 127) and not ifp.flags & IFF_LOOPBACK:
            ifp.stats[2] += 1       # "127/8 must not appear on wire - RFC1122"
            ipstat["ips_badaddr"] += 1
            return
        if s0 >= 224:
            ifp.stats[2] += 1       # martian source
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
            ipstat["ips_notmember"] += 1    # multicast: no groups joined
            return
        else:
            self.forward(ifp, h, pkt, l2group)

    def deliver(self, ifp, h, pkt, bcast: bool) -> None:
        ipstat = self.ipstat
        if h.mf or h.frag_offset:
            ipstat["ips_fragments"] += 1
            reasm = self.reasm
            dropped = reasm.dropped
            try:
                h = reasm.push(h)
            except WireError:
                h = None
            ipstat["ips_fragdropped"] += reasm.dropped - dropped
            if h is None:
                self._arm_reasm()
                return
            ipstat["ips_reassembled"] += 1
            pkt = None              # rebuilt on demand (ICMP quotes)
        proto = h.proto
        if proto == PROTO_ICMP:
            ipstat["ips_delivered"] += 1
            self.icmp_input(ifp, h, bcast)
        elif proto == PROTO_UDP:
            ipstat["ips_delivered"] += 1
            self.udp_input(ifp, h, pkt, bcast)
        elif proto in (PROTO_IPIP, PROTO_IPV6) and self.tunnel_input(h):
            pass
        else:
            # rip_input: no raw socket wants it; "IPSTAT_DEC(ips_delivered)" takes back the
            # delivery ip_input counted, so it counts only as unknown protocol
            ipstat["ips_noproto"] += 1
            if not bcast:
                self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_PROTOCOL)

    def _arm_reasm(self) -> None:
        if self._reasm_timer is None:
            when = self.reasm.next_deadline()
            if when is not None:
                self._reasm_timer = self.loop.call_at(when, self._reasm_expire)

    def _reasm_expire(self) -> None:
        self._reasm_timer = None
        reasm = self.reasm
        before = reasm.timed_out
        reasm.expire()              # FreeBSD frees timed-out datagrams without ICMP
        self.ipstat["ips_fragtimeout"] += reasm.timed_out - before
        self._arm_reasm()

    # -- ICMP --------------------------------------------------------------------------------
    def _echo_fast(self, h, pkt, src: int) -> bool:
        """An echo request without options or fragments answered by patching it: swap the
        addresses, set our TTL, turn the type into a reply, fix both checksums incrementally
        (what icmp_reflect does, minus the general path).  False: take the general path."""
        payload = h.payload
        if len(payload) < icmp.HEADER_LEN:
            return False                    # icmp_input counts it too short
        if _checksum(payload):
            self.ipstat["ips_delivered"] += 1
            self.icmpstat["icps_checksum"] += 1     # bad ICMP checksum: dropped
            return True
        r = self._cache.get(src, MISSING)      # input() checked the generation
        if r is MISSING:
            r = self.route(src)
        if r is None or r.flags & (RTF_BLACKHOLE | RTF_REJECT):
            return False
        out_ifp = r.ifp
        if h.total_length > (r.mtu or out_ifp.mtu):
            return False
        # what the general path counts: delivered; icmp_input's histogram and reflection;
        # ip_output's locally sent packet
        self.ipstat["ips_delivered"] += 1
        self.ipstat["ips_localout"] += 1
        icmpstat = self.icmpstat
        icmpstat["icps_inhist"][icmp.ECHO_REQUEST] += 1
        icmpstat["icps_reflect"] += 1
        icmpstat["icps_outhist"][icmp.ECHO_REPLY] += 1
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
        icmpstat = self.icmpstat
        try:
            m = icmp.parse(h.payload)
        except WireError:
            # icmp_input: "icmplen < ICMP_MINLEN" is tooshort, then in_cksum fails
            icmpstat["icps_tooshort" if len(h.payload) < icmp.HEADER_LEN
                     else "icps_checksum"] += 1
            return
        t = m.type
        if t <= stats.ICMP_MAXTYPE:
            icmpstat["icps_inhist"][t] += 1
        if t in _MAX_CODE:
            if m.code > _MAX_CODE[t]:
                icmpstat["icps_badcode"] += 1
                return
            # ICMP_ADVLENMIN: the quoted header and 8 bytes of what it carried
            if len(m.payload) < 28 or (m.payload[0] & 0x0F) < 5:
                icmpstat["icps_badlen"] += 1
                return
        if t == icmp.ECHO_REQUEST:
            if bcast:
                icmpstat["icps_bmcastecho"] += 1    # net.inet.icmp.bmcastecho=0
                return
            icmpstat["icps_reflect"] += 1
            icmpstat["icps_outhist"][icmp.ECHO_REPLY] += 1
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
            elif len(quoted) >= 28 and quoted[9] == PROTO_UDP and self.traces:
                # a traceroute probe's answer: its source port names the session
                hl = (quoted[0] & 0x0F) << 2
                if len(quoted) >= hl + 8:
                    session = self.traces.get(_from(quoted[hl:hl + 2], "big"))
                    if session is not None:
                        session.on_error(h, m)

    def icmp_error(self, h, pkt, type_: int, code: int, mtu: int = 0) -> None:
        """icmp_error(): never about an ICMP error, a non-first fragment, or a packet sent to
        or from a broadcast/multicast/unspecified address."""
        icmpstat = self.icmpstat
        if type_ != icmp.REDIRECT:
            icmpstat["icps_error"] += 1
        if h.frag_offset:
            return
        if h.proto == PROTO_ICMP and (not h.payload or h.payload[0] not in _ICMP_QUERIES):
            icmpstat["icps_oldicmp"] += 1
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
        icmpstat["icps_outhist"][type_] += 1
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
        udpstat = self.udpstat
        udpstat["udps_ipackets"] += 1
        data = h.payload
        try:
            u = udp.parse(data, h.src, h.dst)
        except WireError:
            # udp_input's checks in order: header, length field, checksum
            if len(data) < udp.HEADER_LEN:
                udpstat["udps_hdrops"] += 1
            elif not udp.HEADER_LEN <= (data[4] << 8 | data[5]) <= len(data):
                udpstat["udps_badlen"] += 1
            else:
                udpstat["udps_badsum"] += 1
            return
        if not u.checksum:
            udpstat["udps_nosum"] += 1
        port = u.dport
        handler = self.udp_ports.get(port)
        if handler is not None:
            handler(h.src, u.sport, h.dst, u.payload)
        elif port == UDP_ECHO_PORT and self.sysctl["net.inet.udp.echo"]:
            if not bcast:
                udpstat["udps_opackets"] += 1
                self.output(h.dst, h.src, PROTO_UDP,
                            udp.emit(h.dst, h.src, UDP_ECHO_PORT, u.sport, u.payload))
        elif bcast:
            udpstat["udps_noportbcast"] += 1
        else:
            udpstat["udps_noport"] += 1
            self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_PORT)

    # -- forwarding --------------------------------------------------------------------------
    def forward(self, ifp, h, pkt, l2group) -> None:
        """ip_forward(): only with net.inet.ip.forwarding=1, never link broadcasts."""
        ipstat = self.ipstat
        if l2group or not self.sysctl["net.inet.ip.forwarding"]:
            ipstat["ips_cantforward"] += 1
            return
        dst = _from(h.dst, "big")
        top = dst >> 24
        if top == 0 or top == 127 or top >= 224:
            ipstat["ips_cantforward"] += 1
            return
        if h.ttl <= 1:
            self.icmp_error(h, pkt, icmp.TIME_EXCEEDED, icmp.TIMXCEED_INTRANS)
            return
        r = self.route(dst)
        if r is None:
            ipstat["ips_noroute"] += 1
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
                ipstat["ips_cantfrag"] += 1
                self.icmp_error(h, pkt, icmp.DEST_UNREACH, icmp.UNREACH_NEEDFRAG, mtu)
                return
            try:
                pieces = ipv4.fragment(h._replace(ttl=h.ttl - 1), mtu)
            except WireError:
                return
            ipstat["ips_forward"] += 1
            ipstat["ips_fragmented"] += 1
            ipstat["ips_ofragments"] += len(pieces)
            for piece in pieces:
                _count_out(r, len(piece))
                self.link.output(out_ifp, nexthop, piece, bool(flags & RTF_GATEWAY))
            return
        out = ipv4.decrement_ttl(pkt if len(pkt) == total else pkt[:total])
        ipstat["ips_forward"] += 1
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
        ipstat = self.ipstat
        ipstat["ips_localout"] += 1         # ip_output counts before it looks for a route
        r = self.route(dst_i)
        if r is None:
            ipstat["ips_noroute"] += 1
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
                ipstat["ips_cantfrag"] += 1
                return EMSGSIZE
            err = 0
            pieces = ipv4.fragment_payload(src_b, dst_b, proto, payload, mtu, ident=ident,
                                           ttl=ttl, tos=tos)
            ipstat["ips_fragmented"] += 1
            ipstat["ips_ofragments"] += len(pieces)
            for piece in pieces:
                _count_out(r, len(piece))
                err = self.link.output(out_ifp, nexthop, piece, bool(flags & RTF_GATEWAY))
            return err
        pkt = ipv4.header(src_b, dst_b, proto, len(payload), ttl=ttl, tos=tos, ident=ident,
                          df=df) + payload
        _count_out(r, len(pkt))
        return self.link.output(out_ifp, nexthop, pkt, bool(flags & RTF_GATEWAY))

    # -- gif(4) ------------------------------------------------------------------------------
    def tunnel_output(self, ifp, proto: int, packet) -> int:
        """gif_transmit: the packet (proto 4: IPv4, 41: IPv6, the same numbers under either
        outer family) inside an outer header from the tunnel's source to its destination,
        routed by the stack's own table (never back into a gif: nesting is refused as
        net.link.gif.max_nesting=1 does).  An IPv6 tunnel goes out by in6_gif_output."""
        src, dst = ifp.params.get("tunnelsrc"), ifp.params.get("tunneldst")
        st = ifp.stats
        if src is None or dst is None or ifp.device is None:
            st[5] += 1
            return ENETDOWN
        if ":" in dst:
            return self._tunnel_output6(ifp, proto, packet, src, dst)
        dst_i = _from(bytes(int(x) for x in dst.split(".")), "big")
        r = self.route(dst_i)
        if r is not None and r.ifp.flags & IFF_POINTOPOINT and r.ifp.params.get("tunnelsrc"):
            st[5] += 1
            return ENETDOWN
        st[4] += 1
        st[7] += len(packet)
        return self.output(_from(bytes(int(x) for x in src.split(".")), "big"), dst_i, proto,
                           packet, ttl=GIF_TTL)

    def _tunnel_output6(self, ifp, proto: int, packet, src: str, dst: str) -> int:
        """in6_gif_output: an IPv6 header with hop limit net.inet6.ip6.gifhlim, sent by
        ip6_output with IPV6_MINMTU ("force fragmentation to minimum MTU, to avoid path MTU
        discovery"): an outer packet over 1280 bytes leaves in fragments."""
        ip6 = self.link.ip6
        src_b = socket.inet_pton(socket.AF_INET6, src)
        dst_b = socket.inet_pton(socket.AF_INET6, dst)
        r = ip6.route(_from(dst_b, "big"))
        if r is not None and r.ifp.iftype.name == "gif":
            ifp.stats[5] += 1
            return ENETDOWN
        ifp.stats[4] += 1
        ifp.stats[7] += len(packet)
        return ip6.output(src_b, dst_b, 0, proto, packet, hlim=GIF_HLIM, minmtu=MINMTU_ALL)

    def tunnel_input(self, h) -> bool:
        """in_gif_input: a packet from a configured tunnel's far end to its near end is
        received on that gif (when it is up); False: no such tunnel."""
        return self.gif_input(".".join(map(str, h.src)), ".".join(map(str, h.dst)), h.proto,
                              h.payload)

    def gif_input(self, src: str, dst: str, proto: int, payload) -> bool:
        """gif_input for either outer family (src, dst: the outer header's addresses as
        the tunnel keeps them, ntop text): the inner packet is received on the gif whose
        tunnel runs from src to dst; False: none (the caller counts it as FreeBSD's
        encap lookup miss does)."""
        for gif in self.stack.ifaces:
            p = gif.params
            if p.get("tunnelsrc") == dst and p.get("tunneldst") == src \
                    and gif.iftype.name == "gif":
                if not gif.flags & IFF_UP:
                    gif.stats[2] += 1
                    return True
                st = gif.stats
                st[0] += 1
                st[3] += len(payload)
                if proto == PROTO_IPIP:
                    self.input(gif, bytes(payload), False)
                else:
                    self.link.ip6.input(gif, bytes(payload), False)
                return True
        return False

    def loopback(self, packet) -> None:
        """Hand a packet for one of our addresses to lo0 (as if routed there)."""
        lo0 = self.stack.lo0
        if lo0 is not None and lo0.device is not None:
            self.link.output(lo0, 0, packet, False)
