"""Router and prefix discovery on the wire: Router Advertisements in (nd6_ra_input's checks,
then the state model's nd6_ra_input), Router Solicitations out when an interface that
accepts RAs comes up (what rtsol(8) does: up to 3 RSs, 4 s apart, until an RA arrives), and
the router side, what rtadvd(8) does minimally: periodic RAs on the interfaces named by the
stack's sysctl `net.inet6.rtadvd.interfaces` (rc.conf's rtadvd_interfaces), advertising each
interface's own prefixes with rtadvd's default lifetimes, and answers to RSs.

The state (routers, prefixes, autoconf addresses) is the state model's (state/nd6_rtr.py);
this module owns only the packet handling and the solicitation / advertisement timers.
"""
from __future__ import annotations

from plebproto.constants import (
    AF_INET6, IFF_RUNNING, IFF_UP, IN6_IFF_AUTOCONF, LINK_STATE_UP, ND6_IFF_ACCEPT_RTADV,
    ND6_IFF_IFDISABLED,
)

from .wire import ethernet, icmp6, ipv6

RTADVD_SYSCTL = "net.inet6.rtadvd.interfaces"
# rtsol(8) / RFC 4861 10: host constants
MAX_RTR_SOLICITATIONS = 3
RTR_SOLICITATION_INTERVAL = 4.0
# rtadvd's defaults (rtadvd.conf(5)); the interval is shortened from rtadvd's 600 s maximum
# so that a link is (re)configured within seconds
ADV_INTERVAL = 10.0
MIN_DELAY_BETWEEN_RAS = 3.0         # RFC 4861 10: answers to RSs no closer than this
ADV_ROUTER_LIFETIME = 1800          # rltime: 3 x maxinterval
ADV_VALID_LIFETIME = 2592000        # vltime: 30 days
ADV_PREFERRED_LIFETIME = 604800     # pltime: 7 days
ADV_CUR_HOP_LIMIT = 64
NDP_HLIM = 255
_LL_MASK = ((1 << 128) - 1) ^ ((1 << 118) - 1)
_LINKLOCAL = 0xFE80 << 112
_from = int.from_bytes


def _is_ll(addr: int) -> bool:
    return addr & _LL_MASK == _LINKLOCAL


class RtAdv:
    def __init__(self, stack, loop, link, nd):
        self.stack = stack
        self.loop = loop
        self.link = link
        self.nd = nd
        self.counters = {"ra_in": 0, "ra_bad": 0, "ra_ignored": 0, "rs_in": 0, "rs_bad": 0,
                         "rs_out": 0, "ra_out": 0}
        self._solicit: dict = {}        # ifp -> [RSs sent, when the next is due]
        self._was_ready: dict = {}      # ifp -> whether it accepted RAs while up, last poll
        self._adv: dict = {}            # ifp -> when its next periodic RA is due
        self._last_ra: dict = {}        # ifp -> when an RA last went out

    # -- input ---------------------------------------------------------------------------------
    def ra_input(self, ifp, h, nd) -> None:
        """nd6_ra_input: hop limit 255 was checked by the caller; the source must be
        link-local; the state model takes the rest (and ignores it unless the interface
        accepts RAs)."""
        self.counters["ra_in"] += 1
        src = _from(h.src, "big")
        if not _is_ll(src):
            self.counters["ra_bad"] += 1
            return
        if nd.lladdr is not None:
            self.nd.cache_lladdr(ifp, src, nd.lladdr)
        entry = ifp.llinfo6.get(src)
        if entry is not None:
            entry.router = True         # ln_router: an RA says it is a router
        hlim, lifetime, reachable, retrans = nd.router
        ra = {"raflags": nd.flags, "lifetime": lifetime, "reachable": reachable,
              "retrans": retrans, "curhlim": hlim, "mtu": nd.mtu,
              "prefixes": [(_from(p.prefix, "big"), p.plen, p.onlink, p.autonomous, p.valid,
                            p.preferred) for p in nd.prefixes]}
        if self.stack.nd6_ra_input(ifp, src, ra):
            self._solicit.pop(ifp, None)    # rtsol stops once a router answered
        else:
            self.counters["ra_ignored"] += 1

    def rs_input(self, ifp, h, nd) -> None:
        """nd6_rs_input and rtadvd's answer: an RS from the unspecified address carries no
        link-layer option (RFC 4861 6.1.1); the sender is cached, and an advertising
        interface answers with a multicast RA, no sooner than MIN_DELAY_BETWEEN_RAS after
        the last one."""
        self.counters["rs_in"] += 1
        src = _from(h.src, "big")
        if src == 0 and nd.lladdr is not None:
            self.counters["rs_bad"] += 1
            return
        if not self.advertising(ifp) and not self.stack.sysctl["net.inet6.ip6.forwarding"]:
            return
        if src and nd.lladdr is not None:
            self.nd.cache_lladdr(ifp, src, nd.lladdr)
        if self.advertising(ifp):
            now = self.loop.clock()
            last = self._last_ra.get(ifp, -MIN_DELAY_BETWEEN_RAS)
            self._adv[ifp] = max(now, last + MIN_DELAY_BETWEEN_RAS)
            if self._adv[ifp] <= now:
                self._advertise(ifp, now)

    # -- the periodic work (called by the data plane's poll) ------------------------------------
    def advertising(self, ifp) -> bool:
        names = str(self.stack.sysctl.get(RTADVD_SYSCTL, "")).split()
        return ifp.name in names

    def poll(self) -> None:
        now = self.loop.clock()
        for ifp in self.stack.ifaces:
            if not ifp.iftype.ether or ifp.device is None:
                continue
            ready = self._usable(ifp)
            accept = ready and bool(ifp.nd6_flags & ND6_IFF_ACCEPT_RTADV)
            # rtsol at up: an interface that now accepts RAs while up starts soliciting
            if accept and not self._was_ready.get(ifp):
                self._solicit[ifp] = [0, now]
            elif not accept:
                self._solicit.pop(ifp, None)
            self._was_ready[ifp] = accept
            state = self._solicit.get(ifp)
            if state is not None and state[1] <= now:
                self._send_rs(ifp, state, now)
            if ready and self.advertising(ifp):
                due = self._adv.get(ifp)
                if due is None or due <= now:
                    self._advertise(ifp, now)
            elif ifp in self._adv:
                del self._adv[ifp]
                if ready:               # rtadvd's last word: this router is leaving
                    self._advertise(ifp, now, final=True)
        for ifp in [i for i in self._was_ready if self.stack.by_index(i.index) is not i]:
            self._was_ready.pop(ifp, None)
            self._solicit.pop(ifp, None)
            self._adv.pop(ifp, None)
            self._last_ra.pop(ifp, None)

    @staticmethod
    def _usable(ifp) -> bool:
        return (ifp.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING
                and ifp.link_state == LINK_STATE_UP
                and not ifp.nd6_flags & ND6_IFF_IFDISABLED)

    def _link_local(self, ifp) -> bytes | None:
        """The interface's usable link-local address (not tentative or duplicated)."""
        src = self.nd.ip6.source_on(ifp, ipv6.ALL_ROUTERS)
        return src

    def _send_rs(self, ifp, state, now: float) -> None:
        src = self._link_local(ifp)
        if src is None:
            # the link-local address is still tentative: rtsol waits for DAD (an RS from
            # the unspecified address would teach routers nothing)
            state[1] = now + 0.2
            return
        if state[0] >= MAX_RTR_SOLICITATIONS:
            self._solicit.pop(ifp, None)
            return
        state[0] += 1
        state[1] = now + RTR_SOLICITATION_INTERVAL
        msg = icmp6.router_solicit(src, ipv6.ALL_ROUTERS, ifp.mac)
        self.counters["rs_out"] += 1
        self.link.xmit(ifp, ethernet.header(ipv6.multicast_mac(ipv6.ALL_ROUTERS), ifp.mac,
                                            ethernet.ETHERTYPE_IPV6)
                       + ipv6.emit(src, ipv6.ALL_ROUTERS, ipv6.NH_ICMPV6, msg,
                                   hop_limit=NDP_HLIM))

    def _prefixes(self, ifp) -> list:
        """rtadvd's get_prefix: the interface's own global prefixes (not link-local, not
        ones it learned by autoconfiguration), each once."""
        seen, out = set(), []
        for a in ifp.addrs:
            if a.af != AF_INET6 or _is_ll(a.addr) or a.plen > 128 or a.addr >> 120 == 0xFF:
                continue
            if a.flags & IN6_IFF_AUTOCONF or a.addr == 1:
                continue
            mask = ((1 << 128) - 1) ^ ((1 << (128 - a.plen)) - 1)
            key = (a.addr & mask, a.plen)
            if key in seen:
                continue
            seen.add(key)
            out.append(icmp6.PrefixInfo(a.plen, True, True, ADV_VALID_LIFETIME,
                                        ADV_PREFERRED_LIFETIME, key[0].to_bytes(16, "big")))
        return out

    def _advertise(self, ifp, now: float, final: bool = False) -> None:
        src = self._link_local(ifp)
        if src is None:
            self._adv[ifp] = now + 0.2      # not until the link-local address is usable
            return
        # rtadvd on a host (ip6.forwarding 0) advertises prefixes with router lifetime 0:
        # it is not a default router
        lifetime = 0 if final or not self.stack.sysctl["net.inet6.ip6.forwarding"] \
            else ADV_ROUTER_LIFETIME
        msg = icmp6.router_advert(src, ipv6.ALL_NODES, hop_limit=ADV_CUR_HOP_LIMIT,
                                  lifetime=lifetime, mac=ifp.mac,
                                  prefixes=self._prefixes(ifp))
        self.counters["ra_out"] += 1
        self._last_ra[ifp] = now
        if not final:
            self._adv[ifp] = now + ADV_INTERVAL
        self.link.xmit(ifp, ethernet.header(ipv6.multicast_mac(ipv6.ALL_NODES), ifp.mac,
                                            ethernet.ETHERTYPE_IPV6)
                       + ipv6.emit(src, ipv6.ALL_NODES, ipv6.NH_ICMPV6, msg,
                                   hop_limit=NDP_HLIM))
