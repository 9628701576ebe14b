"""What the parts of the Stack share: its attributes, the lookups and texts every part uses, and
the calls one part makes into another.

The Stack (stack.py) is composed, as FreeBSD's kernel divides the work, of one mixin per part:
if_ctl (if.c), in_ctl (in.c), in6_ctl (in6.c), route_ctl (route_ctl.c) and llatbl
(if_llatbl.c), each a subclass of StackBase.  The declarations under TYPE_CHECKING below are
seen only by the type checker: they name what a part uses of another part, and mypy checks each
part's implementation against them, so the parts stay independent modules with one interface.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypedDict

from plebproto.constants import AF_INET, ENXIO
from plebproto.errors import OpError

from .due import Deadlines
from .ifnet import IfAddr, Interface, LLEntry
from .inet import is_scoped6, ntoa, ntop6, strip_scope
from .route import Route, RouteTable
from .txn import Journal

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .nd6_rtr import DefRouter, NdIfInfo, NdPrefix

LOOPBACK4 = 0x7F000001
LOOPBACK6 = 1

# the sysctls a stack has, and each one's type (stack.py's SYSCTL_DEFAULTS gives the values)
Sysctls = TypedDict("Sysctls", {
    "kern.hostname": str,
    "net.inet.ip.forwarding": int,
    "net.inet6.ip6.forwarding": int,
    "net.inet6.ip6.dad_count": int,
    "net.inet6.rtadvd.interfaces": str,
    "net.link.ether.inet.max_age": int,
    "net.link.ether.inet.maxtries": int,
    "net.link.ether.inet.wait": int,
    "net.link.ether.inet.proxyall": int,
    "net.link.ether.inet.maxhold": int,
    "net.link.lltable.max_entries": int,
    "net.inet.udp.echo": int,
    "net.fibs": int,
})


class StackBase:
    """The state every part reads and changes (Stack.__init__ makes it), and the helpers
    they share."""

    clock: Callable[[], float]
    pid: int
    hostuuid: str                   # kern.hostuuid: interface MACs derive from it
    journal: Journal
    ifaces: list[Interface]                 # creation order = listing order
    by_name: dict[str, Interface]
    next_index: int
    rt: dict[int, RouteTable]               # per address family
    sysctl: Sysctls
    dad_pending: dict[IfAddr, float]        # tentative address -> when its DAD ends
    dad_seen: dict[Interface, bool]         # whether tick last saw each one ready for DAD
    # when tick looks at each neighbour entry and each route with an expiry time (due.py):
    # whatever sets an expire, or files or restores an entry or route that has one, arms it
    ll_due: Deadlines[LLEntry]
    rt_due: Deadlines[tuple[int, Route]]
    lo0: Interface | None
    _gw_cache: dict[tuple[int, int], tuple[Interface | None, IfAddr | None]]
    # router and prefix discovery (nd6_rtr.py)
    nd_ifinfo: dict[Interface, NdIfInfo]        # ND_IFINFO values per interface
    nd_routers: list[DefRouter]                 # the default router list
    nd_prefixes: list[NdPrefix]                 # prefixes learned from RAs, newest first
    nd_ifa_expire: dict[IfAddr, tuple[float, float]]  # autoconf addresses' deadlines
    nd_defifindex: int                          # ndp -I
    nd_seq: int                                 # orders prefixes' making (ndp -p)
    nd_addr_seq: dict[IfAddr, int]              # when each IPv6 address was added

    def ifunit(self, name: str) -> Interface:
        """The interface of that name, else ENXIO (if.c's ifunit_ref)."""
        ifp = self.by_name.get(name)
        if ifp is None:
            raise OpError(ENXIO, f"interface {name} does not exist")
        return ifp

    def by_index(self, index: int) -> Interface | None:
        for ifp in self.ifaces:
            if ifp.index == index:
                return ifp
        return None

    def key_text(self, af: int, key: int) -> str:
        """A table key as text; an embedded IPv6 zone becomes %ifname (docs/freebsd-tools.md
        §1.6, §4.1)."""
        if af == AF_INET:
            return ntoa(key)
        addr, zone = strip_scope(key)
        if not zone:
            return ntop6(addr)
        ifp = self.by_index(zone)
        return f"{ntop6(addr)}%{ifp.name if ifp else zone}"

    if TYPE_CHECKING:
        # -- what one part calls of another (implemented by the part named) ----------------
        # stack
        def transaction(self) -> AbstractContextManager[None]: ...

        # if_ctl
        def _if_up(self, ifp: Interface) -> None: ...
        # in_ctl
        def in_aifaddr(self, name: str, addr: int, plen: int, broadcast: int | None = None,
                       dst: int | None = None) -> None: ...
        def _add_ifa(self, ifa: IfAddr) -> None: ...
        def _del_ifa(self, ifa: IfAddr, listed: bool = True) -> None: ...
        def _ifa_routes_up(self, ifa: IfAddr) -> None: ...
        def _prefix_route_gone(self, af: int, route: Route) -> None: ...
        @staticmethod
        def _dependents(table: RouteTable, ifas: list[IfAddr]) -> list[Route]: ...
        # in6_ctl
        def in6_aifaddr(self, name: str, addr: int, plen: int = 64, flags: int = 0,
                        pltime: int = 0, vltime: int = 0, dst: int | None = None) -> None: ...
        def _auto_linklocal(self, ifp: Interface) -> None: ...
        def _dad_schedule(self, now: float) -> None: ...
        # nd6_rtr
        def nd6_next_seq(self) -> int: ...
        # route_ctl
        def rt_add(self, af: int, dst: int, plen: int, gateway: int | None = None,
                   gw_ifname: str | None = None, flags: int = ..., ifname: str | None = None,
                   mtu: int = 0, hopcount: int = 0, expire: float = 0,
                   weight: int = 1) -> Route: ...
        def rt_delete(self, af: int, dst: int, plen: int, gateway: int | None = None,
                      gw_ifname: str | None = None, flags: int = 0) -> None: ...
        def _rt_link(self, af: int, route: Route, event: int = ...) -> None: ...
        def _rt_unlink(self, af: int, route: Route, quiet: bool = False) -> None: ...
        def rt_arm(self, af: int, route: Route) -> None: ...
        # llatbl
        def ll_arm(self, entry: LLEntry) -> None: ...
        def _ll_put(self, table: dict[int, LLEntry], addr: int, entry: LLEntry) -> None: ...
        def _ll_del(self, table: dict[int, LLEntry], addr: int) -> None: ...
        def _ll_arm_all(self, ifp: Interface) -> None: ...
        def _ll_purge(self, ifp: Interface, af: int | None, ifa: IfAddr | None,
                      dynamic_only: bool) -> None: ...


def addr_text(af: int, value: int, ifp: Interface | None) -> str:
    """Numeric text of an interface's address; scoped IPv6 ones carry %ifname
    (docs/freebsd-tools.md §1.6)."""
    if af == AF_INET:
        return ntoa(value)
    if ifp is not None and is_scoped6(value):
        return f"{ntop6(value)}%{ifp.name}"
    return ntop6(value)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)
