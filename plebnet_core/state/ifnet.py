"""Interfaces, their addresses and their link-layer (ARP/ND) entries: plain data."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import count
from typing import Any

from plebproto.constants import AF_INET, LINK_STATE_UP
from plebproto.iftypes import IfType


class IfAddr:
    """An address on an interface.  addr/dst are ints; for inet6, scopeid is the zone."""

    __slots__ = ("af", "addr", "plen", "broadcast", "dst", "flags", "scopeid", "pltime",
                 "vltime", "ifp", "stats", "seq")
    _seq = count()          # creation order: an interface's addrs are in seq order

    def __init__(self, af: int, addr: int, plen: int, ifp: Interface,
                 broadcast: int | None = None, dst: int | None = None, flags: int = 0,
                 scopeid: int = 0, pltime: int = 0, vltime: int = 0):
        self.af = af
        self.addr = addr
        self.plen = plen
        self.ifp = ifp
        self.broadcast = broadcast
        self.dst = dst
        self.flags = flags
        self.scopeid = scopeid
        self.pltime = pltime            # 0: infinite
        self.vltime = vltime
        # what the data plane counts per address, as the kernel's ifa_ipackets, ifa_ibytes,
        # ifa_opackets, ifa_obytes (netstat -i shows them on the address rows)
        self.stats = [0, 0, 0, 0]
        self.seq = next(IfAddr._seq)


class AddrList:
    """An interface's addresses in kernel order (the order they were added, which is
    IfAddr.seq order), as a list reads, but adding or removing any one costs O(1): an
    insertion-ordered dict underneath.  Putting an address back (a rolled-back removal)
    appends it; the order is then restored by one sort, the next time it is read."""

    __slots__ = ("_d", "_sorted")

    def __init__(self, items: Iterable[IfAddr] = ()) -> None:
        self._d: dict[IfAddr, None] = dict.fromkeys(items)
        self._sorted = True

    def _order(self) -> dict[IfAddr, None]:
        if not self._sorted:
            self._d = dict.fromkeys(sorted(self._d, key=_seq))
            self._sorted = True
        return self._d

    def __iter__(self) -> Iterator[IfAddr]:
        return iter(self._order())

    def __reversed__(self) -> Iterator[IfAddr]:
        return reversed(self._order())

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, ifa: object) -> bool:
        return ifa in self._d

    def __getitem__(self, i: int) -> IfAddr:
        d = self._order()
        if i == 0 or i == -len(d):
            return next(iter(d))
        if i == -1 or i == len(d) - 1:
            return next(reversed(d))
        return list(d)[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (AddrList, list)) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"AddrList({list(self)!r})"

    def append(self, ifa: IfAddr) -> None:
        d = self._d
        if self._sorted and d and next(reversed(d)).seq > ifa.seq:
            self._sorted = False
        d[ifa] = None

    def remove(self, ifa: IfAddr) -> None:
        del self._d[ifa]

    def index(self, ifa: IfAddr) -> int:
        return list(self._order()).index(ifa)


def _seq(ifa: IfAddr) -> int:
    return ifa.seq


_LLE_CREATED = count(1)         # LLEntry creation order (the kernel links a new one at the
                                # head of its hash bucket)


LLTBL_BUCKETS = 32              # IN_LLTBL_DEFAULT_HSIZE (and in6's)
WALK_SHIFT = 48                 # LLEntry.walk: bucket << WALK_SHIFT, less the entry's seq


def lltable_bucket(addr: int) -> int:
    """The hash bucket of a neighbour address in FreeBSD's lltable (in.c IN_LLTBL_HASH and
    in6.c IN6_LLTBL_HASH, of the last 32 bits, IN_LLTBL_DEFAULT_HSIZE 32 buckets): the XOR
    of those four bytes, in either byte order."""
    word = addr & 0xFFFFFFFF
    return (word ^ word >> 8 ^ word >> 16 ^ word >> 24) & (LLTBL_BUCKETS - 1)


class LLEntry:
    """An ARP (inet) or NDP (inet6) entry.  mac None: incomplete.  expire: absolute clock
    time, 0 for permanent.  flags: RTF_STATIC, RTF_ANNOUNCE (published), RTF_PINNED (the
    interface's own address), RTF_BLACKHOLE, RTF_REJECT.  seq: its creation order; walk:
    its place in the kernel's table walk (arp -a, ndp -a: by hash bucket, the newest of a
    bucket first), kept with the entry so that a deletion rolled back puts it back in
    its place whatever the dict's order."""

    __slots__ = ("af", "addr", "mac", "flags", "expire", "ifp", "asked", "hold", "timer", "set",
                 "state", "reach", "router", "seq", "walk")

    def __init__(self, af: int, addr: int, mac: bytes | None, flags: int, expire: float,
                 ifp: Interface, set_: bool = False):
        self.seq = seq = next(_LLE_CREATED)
        self.walk = (lltable_bucket(addr) << WALK_SHIFT) - seq
        self.af = af
        self.addr = addr
        self.mac = mac
        self.flags = flags
        self.expire = expire
        self.ifp = ifp
        # made by arp -s / ndp -s: configuration, even with flags 0 and an expiry (temp),
        # where a learned entry looks the same otherwise
        self.set = set_
        self.asked = 0          # requests sent while incomplete
        self.hold: list[Any] = []   # packets waiting for resolution (the data plane's)
        self.timer: Any = None      # the data plane's retransmission timer
        # NDP only (data plane): FreeBSD's ND6_LLINFO_* state, and until when REACHABLE holds
        self.state = 0
        self.reach = 0.0
        self.router = False     # ln_router: the neighbor said it is a router (RA, NA's R)


class Interface:
    __slots__ = ("index", "name", "iftype", "flags", "mtu", "metric", "mac", "hwaddr",
                 "description", "groups", "cloner", "addrs", "nd6_flags", "caps", "link_state",
                 "params", "stats", "llinfo", "llinfo6", "device", "drv_status", "dhcp",
                 "addr_index", "prefix_index", "naddrs", "dname")

    def __init__(self, index: int, name: str, iftype: IfType, mac: bytes | None,
                 cloner: str | None = None, params: dict[str, Any] | None = None):
        self.index = index
        self.name = name
        self.dname = name               # as attached or created (if_dname, if_dunit): kept
        self.iftype = iftype
        self.flags = iftype.flags
        self.mtu = iftype.mtu
        self.metric = 0
        self.mac = mac
        self.hwaddr = mac               # the original MAC (ifconfig prints hwaddr if changed)
        self.description = ""
        # lo0 is a clone of the lo cloner on FreeBSD even when attached at start (groups: lo)
        self.groups: list[str] = ([iftype.cloner_group] if iftype.cloner_group and (
            cloner or iftype.name == "lo") else [])
        self.cloner = cloner
        self.addrs = AddrList()         # kernel order: order of addition
        # the same addresses indexed, so that adding or finding one costs O(1) whatever
        # their number (in_ctl keeps them): (af, plain address) -> IfAddr; (af, plen, prefix
        # key) -> its addresses; per family, how many
        self.addr_index: dict[tuple[int, int], IfAddr] = {}
        self.prefix_index: dict[tuple[int, int, int], dict[IfAddr, None]] = {}
        self.naddrs: dict[int, int] = {}
        self.nd6_flags = iftype.nd6
        self.caps = iftype.caps
        self.link_state = LINK_STATE_UP
        self.params = dict(params or {})  # driver parameters (vxlan vni, endpoints, …)
        # ipackets ierrors iqdrops ibytes opackets oerrors oqdrops obytes collisions
        self.stats = [0] * 9
        self.llinfo: dict[int, LLEntry] = {}    # ARP, keyed by IPv4 int
        self.llinfo6: dict[int, LLEntry] = {}   # NDP, keyed by IPv6 int
        self.device: Any = None         # the phy device, set by the data plane
        self.drv_status = ""            # driver status text (tap: "Opened by PID n")
        self.dhcp = None                # the DHCP client's state (dataplane/dhcp.py), or None

    def addrs_of(self, af: int) -> list[IfAddr]:
        return [a for a in self.addrs if a.af == af]

    def find_addr(self, af: int, addr: int) -> IfAddr | None:
        """The address of that family and (plain, zone-less) value on this interface."""
        return self.addr_index.get((af, addr))

    def first_of(self, af: int) -> IfAddr | None:
        if not self.naddrs.get(af):
            return None
        return next(a for a in self.addrs if a.af == af)

    def first_inet(self) -> IfAddr | None:
        return self.first_of(AF_INET)
