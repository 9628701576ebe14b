"""ARP and NDP entries, as FreeBSD's if_llatbl.c (with arp(8)'s and ndp(8)'s requests through
rtsock) handles them: static, temporary and published entries, learning from the wire, the
interface's own-address entries, purging, and the messages about them.  The entries
themselves live on their interface (ifnet.py's LLEntry).
"""
from __future__ import annotations

from plebproto.constants import (
    AF_INET, AF_INET6, EEXIST, EINVAL, ENETUNREACH, ENOENT, EPERM, IFF_NOARP, IFF_STATICARP,
    RTF_BLACKHOLE, RTF_GATEWAY, RTF_HOST, RTF_PINNED, RTF_REJECT, RTF_STATIC, RTM_ADD,
    RTM_DELETE,
)
from plebproto.errors import OpError

from functools import partial
from typing import Any

from .base import StackBase, addr_text, mac_text
from .ifnet import IfAddr, Interface, LLEntry
from .inet import MASK4, MASK6, embed_scope, is_scoped6
from .route import Route
from .txn import Event

ND6_REACHABLE, ND6_STALE = 1, 2    # ND6_LLINFO_* (dataplane/nd6.py keeps the others)


class LlTable(StackBase):
    def ll_table(self, af: int, ifp: Interface) -> dict[int, LLEntry]:
        return ifp.llinfo if af == AF_INET else ifp.llinfo6

    def ll_locate(self, af: int, addr: int) -> Interface:
        """The interface whose connected network holds addr (arp's 'cannot locate')."""
        paths = self.rt[af].lookup_where(addr, _on_ether_link)
        if paths is None:
            raise OpError(ENETUNREACH)
        ifp = paths[0].ifp
        assert ifp is not None      # (an interface route's)
        return ifp

    def ll_set(self, af: int, addr: int, mac: bytes, flags: int = RTF_STATIC,
               temp: bool = False, ifname: str | None = None) -> LLEntry:
        """Add or replace a static/published entry (arp -s).  temp: expires after max_age."""
        ifp = self.ifunit(ifname) if ifname else self.ll_locate(af, addr)
        if len(mac) != 6 or flags & RTF_BLACKHOLE and flags & RTF_REJECT:
            raise OpError(EINVAL)
        table = self.ll_table(af, ifp)
        old = table.get(addr)
        if old is not None and old.flags & RTF_PINNED:
            raise OpError(EEXIST)
        expire = self.clock() + self.sysctl["net.link.ether.inet.max_age"] if temp else 0
        if temp:
            flags &= ~RTF_STATIC
        entry = LLEntry(af, addr, bytes(mac), flags, expire, ifp, set_=True)
        self._ll_put(table, addr, entry)
        self.journal.emit(partial(self.ll_event, RTM_ADD, entry))
        return entry

    def ll_delete(self, af: int, addr: int, ifname: str | None = None) -> LLEntry:
        candidates = [self.ifunit(ifname)] if ifname else self.ifaces
        for ifp in candidates:
            entry = self.ll_table(af, ifp).get(addr)
            if entry is not None:
                if entry.flags & RTF_PINNED:        # the interface's own address
                    raise OpError(EPERM)
                self._ll_del(self.ll_table(af, ifp), addr)
                self.journal.emit(partial(self.ll_event, RTM_DELETE, entry))
                return entry
        raise OpError(ENOENT)

    def ll_learn(self, af: int, ifp: Interface, addr: int, mac: bytes, create: bool) -> None:
        """A reply or request from addr at mac: update a dynamic entry (static ones are never
        overwritten); create one only when asked (we requested it, or it talks to us), the
        sender is on the link (ll_rtcheck) and the table has room (ll_room)."""
        if ifp.flags & (IFF_STATICARP | IFF_NOARP):
            return
        table = self.ll_table(af, ifp)
        entry = table.get(addr)
        if entry is None and not (create and self.ll_rtcheck(af, ifp, addr)
                                  and self.ll_room(af, ifp)):
            return
        if entry is not None and entry.flags & (RTF_STATIC | RTF_PINNED):
            return
        expire = self.clock() + self.sysctl["net.link.ether.inet.max_age"]
        if entry is None:
            entry = LLEntry(af, addr, bytes(mac), 0, expire, ifp)
            table[addr] = entry
        else:
            entry.mac, entry.expire, entry.asked = bytes(mac), expire, 0
        # (a renewal costs a look-up: an entry armed for earlier is looked at then, and
        # armed again for this time; max_age lowered meanwhile makes this one earlier)
        self.ll_arm(entry)
        self.journal.emit(partial(self.ll_event, RTM_ADD, entry))

    def ll_rtcheck(self, af: int, ifp: Interface, addr: int) -> bool:
        """Whether an entry for addr may be made on ifp: in_lltable_rtcheck (in.c) for
        IPv4, in6_lltable_rtcheck (in6.c) for IPv6.  IPv4: the route to addr must be an
        interface route (or a host route whose gateway is addr itself, on an Ethernet
        interface that does ARP); leaving by another interface, one of ifp's own prefixes
        must still cover addr.  IPv6: an interface route out of ifp, else any IPv6 address
        on ifp (ifaof_ifpforaddr falls back to the first one), so NDP is bounded by the
        table's size (ll_room) rather than by this check."""
        table = self.rt[af]
        key = addr if af == AF_INET else (embed_scope(addr, ifp.index) if is_scoped6(addr)
                                         else addr)
        paths = table.paths_to(key)
        if af == AF_INET6:
            if paths is not None and not paths[0].flags & RTF_GATEWAY \
                    and paths[0].ifp is ifp:
                return True
            return bool(ifp.naddrs.get(AF_INET6))
        if paths is None:
            return False
        path = paths[0]
        out = path.ifp
        if path.flags & RTF_GATEWAY and not (
                path.flags & RTF_HOST and out is not None and out.iftype.ether
                and not out.flags & (IFF_NOARP | IFF_STATICARP) and path.gateway == addr):
            return False
        if out is not ifp and not path.flags & RTF_HOST:
            # one of ifp's own prefixes covers addr (looked up per length, not walked)
            return any((AF_INET, plen, addr & MASK4[plen]) in ifp.prefix_index
                       for plen in range(33))
        return True

    def ll_room(self, af: int, ifp: Interface) -> bool:
        """Whether ifp's table for af may hold one more entry besides its own addresses':
        at most net.link.lltable.max_entries (0: no limit), so a storm of senders cannot
        grow it without bound.  Configured entries (arp -s, ndp -s) are never refused."""
        limit = self.sysctl["net.link.lltable.max_entries"]
        return not limit or len(self.ll_table(af, ifp)) - ifp.naddrs.get(af, 0) < limit

    def _ll_purge(self, ifp: Interface, af: int | None, ifa: IfAddr | None,
                  dynamic_only: bool) -> None:
        for table_af, table in ((AF_INET, ifp.llinfo), (AF_INET6, ifp.llinfo6)):
            if af is not None and table_af != af:
                continue
            if ifp.iftype.ether and len(table) <= ifp.naddrs.get(table_af, 0):
                continue        # only the interface's own (pinned) entries: nothing to purge
            if ifa is None:
                candidates = list(table.items())
            else:
                width = 32 if table_af == AF_INET else 128
                mask = (MASK4 if table_af == AF_INET else MASK6)[ifa.plen]
                net = ifa.addr & mask
                if width - ifa.plen < 16 and 1 << (width - ifa.plen) < len(table):
                    # a small prefix in a big table (an alias's /32, say): look its
                    # addresses up rather than walk every entry
                    candidates = [(a, table[a]) for a in range(net, net + (1 << (width - ifa.plen)))
                                  if a in table]
                else:
                    candidates = [kv for kv in table.items() if kv[0] & mask == net]
            for addr, entry in candidates:
                if entry.flags & RTF_PINNED or (dynamic_only and entry.flags & RTF_STATIC
                                                and not entry.expire):
                    continue
                self._ll_del(table, addr)

    # -- expiry (Stack.tick): each entry with an expire is armed in ll_due for it ----------
    def ll_arm(self, entry: LLEntry) -> None:
        """entry's expire was set, or entry was filed: tick looks at it then.  Whoever sets
        an entry's expire or files one in a table calls this (the data plane too)."""
        self.ll_due.arm(entry, entry.expire)

    def _ll_put(self, table: dict[int, LLEntry], addr: int, entry: LLEntry) -> None:
        """File entry at addr (journaled), in place of the entry there."""
        old = table.get(addr)
        if old is not None:
            self._ll_leaves(old)
        self.journal.setitem(table, addr, entry)
        self.ll_arm(entry)

    def _ll_del(self, table: dict[int, LLEntry], addr: int) -> None:
        """Take the entry at addr out of its table (journaled)."""
        self._ll_leaves(table[addr])
        self.journal.delitem(table, addr)

    def _ll_leaves(self, entry: LLEntry) -> None:
        """entry leaves its table: unarmed (stale heap items stay few), and armed again if
        the change is rolled back (a tick meanwhile may have dropped its item as gone)."""
        if entry.expire:
            self.journal.record(self.ll_arm, entry)
            self.ll_due.disarm(entry)

    def _ll_arm_all(self, ifp: Interface) -> None:
        """Arm every entry of ifp (its detaching rolled back: ticks meanwhile dropped the
        items of its entries as gone)."""
        for table in (ifp.llinfo, ifp.llinfo6):
            for entry in table.values():
                self.ll_arm(entry)

    def _ll_expire(self, entry: LLEntry, now: float) -> None:
        """Stack.tick: entry was armed for a time now past.  It goes if it is still filed on
        an attached interface and its (live) expire has come; a later one is armed."""
        ifp = entry.ifp
        table = ifp.llinfo if entry.af == AF_INET else ifp.llinfo6
        if table.get(entry.addr) is not entry or self.by_name.get(ifp.name) is not ifp:
            return          # gone (a rollback that brings it back arms it again)
        expire = entry.expire
        if expire > now:
            self.ll_due.arm(entry, expire)
        elif expire:
            self._ll_del(table, entry.addr)
            self.journal.emit(partial(self.ll_event, RTM_DELETE, entry))

    def ll_event(self, kind: int, entry: LLEntry) -> Event:
        """The routing message of a neighbour entry's change (made when the change commits:
        a function of the entry, never of a loop variable that moves on meanwhile)."""
        return {"type": kind, "af": entry.af, "neigh": self.ll_info(entry)}

    def ll_info(self, entry: LLEntry) -> dict[str, Any]:
        ifp = entry.ifp
        mac = ifp.mac if entry.flags & RTF_PINNED else entry.mac
        info = {"af": entry.af, "addr": addr_text(entry.af, entry.addr, ifp),
                "mac": mac_text(mac) if mac else None, "ifname": ifp.name,
                "flags": entry.flags,
                "expire": (entry.expire - self.clock()) if entry.expire else None}
        if entry.af == AF_INET6:
            # what ndp -a prints beside the address (netlink's ndm_state, NTF_ROUTER,
            # nda_probes): the interface's own and configured entries are REACHABLE, as
            # nd6_add_ifa_lle and the static path make them
            configured = entry.flags & (RTF_PINNED | RTF_STATIC) or entry.set
            state = entry.state
            if configured and entry.mac is not None or entry.flags & RTF_PINNED:
                state = ND6_REACHABLE
            elif state == ND6_REACHABLE:
                now = self.clock()
                if now >= entry.reach:
                    state = ND6_STALE           # (the data plane makes it so lazily)
                else:
                    # la_expire of a REACHABLE entry: when it goes stale
                    info["expire"] = entry.reach - now
            info["state"] = state
            info["router"] = entry.router
            info["probes"] = entry.asked
        return info


def _on_ether_link(paths: list[Route]) -> bool:
    """An interface route out of an Ethernet interface (where ARP/NDP entries can be)."""
    ifp = paths[0].ifp
    return not paths[0].flags & RTF_GATEWAY and ifp is not None and ifp.iftype.ether
