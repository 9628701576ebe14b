"""The stack's configuration state with FreeBSD 14 kernel rules (docs/freebsd-tools.md §1.3, §1.4,
§3.4, §6).

Pure Python, no I/O: every method either changes the state through the journal (so it can be
rolled back) or raises OpError with the errno FreeBSD's kernel would return.  Time comes
from an injected clock; tick(now) runs the timed transitions (DAD, ARP/NDP and route expiry),
looking only at what is due (due.py).

Stack is composed of one part per division of FreeBSD's kernel (base.py says how):
interfaces (if_ctl), IPv4 addresses and the routes addresses make (in_ctl), IPv6 addresses
(in6_ctl), routes (route_ctl), ARP/NDP entries (llatbl).  What is left is here: the state's
making, transactions, the lookup arrays' settling, sysctls and the timed transitions.
"""
from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Callable, cast

from plebproto.constants import (
    AF_INET, AF_INET6, EINVAL, ENOENT, EPERM, IN6_IFF_TENTATIVE,
)
from plebproto.errors import OpError

from .base import Sysctls, addr_text, mac_text
from .due import Deadlines
from .if_ctl import IFNAMSIZ, IfControl, new_hostuuid, stable_mac
from .in6_ctl import In6Control
from .in_ctl import InControl
from .llatbl import LlTable
from .nd6_rtr import NdRouterControl
from .route import RouteTable
from .route_ctl import RouteControl
from .txn import Journal

# what callers import from here, as before the parts were split out
__all__ = ["IFNAMSIZ", "SYSCTL_DEFAULTS", "SYSCTL_READONLY", "Stack", "addr_text", "mac_text",
           "new_hostuuid", "stable_mac"]

SYSCTL_DEFAULTS: Sysctls = {
    "kern.hostname": "",
    "net.inet.ip.forwarding": 0,
    "net.inet6.ip6.forwarding": 0,
    "net.inet6.ip6.dad_count": 1,
    # plebnet's rtadvd(8): the interfaces it advertises on (rc.conf rtadvd_interfaces)
    "net.inet6.rtadvd.interfaces": "",
    "net.link.ether.inet.max_age": 1200,
    "net.link.ether.inet.maxtries": 5,
    "net.link.ether.inet.wait": 20,
    "net.link.ether.inet.proxyall": 0,
    "net.link.ether.inet.maxhold": 16,
    # ours, not FreeBSD 14's (whose tables have no bound): learned and resolving ARP/NDP
    # entries per interface and family (llatbl.ll_room)
    "net.link.lltable.max_entries": 16384,
    "net.inet.udp.echo": 1,         # the stack's built-in echo service (inetd's echo) on port 7
    "net.fibs": 1,
}
SYSCTL_READONLY = {"net.fibs"}
# of each kind of timed transition (DAD ends, entries, routes), the most one tick makes: a
# thousand entries deleted with their events is a few ms; more waits for the next tick,
# which comes at once (Stack.tick)
TICK_MOST = 1024
# the integer sysctls that count or time something: never negative (EINVAL, as the kernel's
# handlers refuse them); every integer sysctl is a C int
SYSCTL_MIN = {"net.inet6.ip6.dad_count": 0, "net.link.ether.inet.max_age": 1,
              "net.link.ether.inet.maxtries": 0, "net.link.ether.inet.wait": 0,
              "net.link.ether.inet.maxhold": 0, "net.link.lltable.max_entries": 0}
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


class Stack(IfControl, InControl, In6Control, RouteControl, LlTable, NdRouterControl):
    def __init__(self, clock: Callable[[], float] = time.monotonic, pid: int = 0,
                 hostuuid: str | None = None):
        # (the attributes' types and meaning: StackBase)
        self.clock = clock
        self.pid = pid
        self.hostuuid = hostuuid or new_hostuuid()     # kern.hostuuid: MACs derive from it
        self.journal = Journal()
        self.ifaces = []
        self.by_name = {}
        self.next_index = 1
        self.rt = {AF_INET: RouteTable(32), AF_INET6: RouteTable(128)}
        self.sysctl = SYSCTL_DEFAULTS.copy()
        self.dad_pending = {}
        self.dad_seen = {}
        self.ll_due = Deadlines()
        self.rt_due = Deadlines()
        self.lo0 = None
        self._gw_cache = {}
        self.nd_ifinfo = {}
        self.nd_routers = []
        self.nd_prefixes = []
        self.nd_ifa_expire = {}
        self.nd_defifindex = 0
        self.nd_seq = 0
        self.nd_addr_seq = {}

    def transaction(self) -> AbstractContextManager[None]:
        return self.journal.transaction()

    def unsettled(self) -> int:
        """Routes filed whose lookup arrays are not filled yet (RouteTable.settle)."""
        return sum(table.unsettled for table in self.rt.values())

    def settle(self, budget: int | None = None) -> bool:
        """Fill pending lookup arrays, at most budget prefixes; True once all are done."""
        return all([table.settle(budget) for table in self.rt.values()])

    def sysctl_set(self, name: str, value: Any) -> None:
        """Set a sysctl to value (as the wire carried it), converted to the sysctl's type."""
        sysctl = cast("dict[str, int | str]", self.sysctl)     # (looked up by any name)
        if name not in sysctl or name in SYSCTL_READONLY:
            raise OpError(ENOENT if name not in sysctl else EPERM)
        current = sysctl[name]
        if isinstance(current, int):
            # what sysctl(8)'s strtol takes: an integer, or its decimal text (never 1.5,
            # never a float, never past a C int: 2**64-1 is EINVAL, not stored)
            if type(value) is str:
                text = value.strip()
                value = int(text) if text.lstrip("+-").isdigit() and text.isascii() else None
            if type(value) is not int or not INT_MIN <= value <= INT_MAX \
                    or value < SYSCTL_MIN.get(name, INT_MIN):
                raise OpError(EINVAL, f"invalid integer value for {name}")
        elif not isinstance(value, str):
            raise OpError(EINVAL)
        self.journal.setitem(sysctl, name, value)

    def tick(self, now: float, most: int = TICK_MOST) -> bool:
        """Timed transitions: DAD completes, temporary and learned neighbour entries expire,
        routes with an expiry time go.  Entries and routes are looked at only when armed
        for now or earlier (ll_due, rt_due): a tick costs what is due, not what is kept,
        and at most `most` of each kind (the earliest): True when more is due already (a
        mass expiry, DAD of many addresses added together), for the caller to tick again
        soon rather than hold its loop."""
        j = self.journal
        with self.transaction():
            self._dad_schedule(now)
            done = [a for a, when in self.dad_pending.items() if when <= now]
            for ifa in done[:most]:
                j.delitem(self.dad_pending, ifa)
                j.setattr(ifa, "flags", ifa.flags & ~IN6_IFF_TENTATIVE)
            ll_due, rt_due = self.ll_due, self.rt_due
            due = ll_due.due(now, most)
            for entry, when in due:
                j.record(ll_due.arm, entry, when)       # (popped: back if this fails)
            for entry, _ in due:
                self._ll_expire(entry, now)
            routes = rt_due.due(now, most)
            for key, when in routes:
                j.record(rt_due.arm, key, when)
            for (af, route), _ in routes:
                self._rt_expire(af, route, now)
            self._nd6_tick(now)
        return len(done) > most or len(due) == most or len(routes) == most

    def timers_reset(self) -> None:
        """Forget what the timed transitions keep (armed times, the interfaces' readiness
        last seen), and arm every neighbour entry anew: a restore fills the tables directly
        (it arms the routes it files with rt_arm)."""
        self.dad_seen = {}
        self.ll_due.clear()
        self.rt_due.clear()
        for ifp in self.ifaces:
            self._ll_arm_all(ifp)
