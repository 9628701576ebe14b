"""FreeBSD's numbers and names, shared by the stack and the tools (docs/freebsd-tools.md §6.3,
§6.4, §7).

The wire carries FreeBSD's values, not Linux's: errno 48 is EADDRINUSE here whatever the host
says, so the tools print exactly what FreeBSD's would.
"""
from __future__ import annotations

from collections.abc import Iterable

# -- errno (FreeBSD numbering and strerror texts, docs/freebsd-tools.md §6.4) ----------------------
EPERM, ENOENT, ESRCH, ENXIO, EBUSY, EEXIST, ENODEV, EINVAL = 1, 2, 3, 6, 16, 17, 19, 22
EDESTADDRREQ, EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT = 39, 43, 45, 47
EADDRINUSE, EADDRNOTAVAIL, ENETDOWN, ENETUNREACH, ENOBUFS = 48, 49, 50, 51, 55
ENAMETOOLONG, EHOSTDOWN, EHOSTUNREACH, EMSGSIZE, E2BIG, EPROTO = 63, 64, 65, 40, 7, 92

STRERROR = {
    0: "Success",
    EPERM: "Operation not permitted",
    ENOENT: "No such file or directory",
    ESRCH: "No such process",
    E2BIG: "Argument list too long",
    ENXIO: "Device not configured",
    EBUSY: "Device busy",
    EEXIST: "File exists",
    ENODEV: "Operation not supported by device",
    EINVAL: "Invalid argument",
    EDESTADDRREQ: "Destination address required",
    EMSGSIZE: "Message too long",
    EPROTONOSUPPORT: "Protocol not supported",
    EOPNOTSUPP: "Operation not supported",
    EAFNOSUPPORT: "Address family not supported by protocol family",
    EADDRINUSE: "Address already in use",
    EADDRNOTAVAIL: "Can't assign requested address",
    ENETDOWN: "Network is down",
    ENETUNREACH: "Network is unreachable",
    ENOBUFS: "No buffer space available",
    ENAMETOOLONG: "File name too long",
    EHOSTDOWN: "Host is down",
    EHOSTUNREACH: "No route to host",
    EPROTO: "Protocol error",
}


def strerror(errno: int) -> str:
    return STRERROR.get(errno, f"Unknown error: {errno}")


# a batch op's tolerate list that tolerates any failure (its result then says which)
ALL_ERRNOS = list(range(1, 128))


# -- interface flags (IFF_*, docs/freebsd-tools.md §1.6) -------------------------------------------
IFF_UP, IFF_BROADCAST, IFF_DEBUG, IFF_LOOPBACK = 0x1, 0x2, 0x4, 0x8
IFF_POINTOPOINT, IFF_RUNNING, IFF_NOARP, IFF_PROMISC = 0x10, 0x40, 0x80, 0x100
IFF_ALLMULTI, IFF_SIMPLEX, IFF_LINK0, IFF_LINK1, IFF_LINK2 = 0x200, 0x800, 0x1000, 0x2000, 0x4000
IFF_MULTICAST, IFF_CANTCONFIG, IFF_PPROMISC, IFF_MONITOR = 0x8000, 0x10000, 0x20000, 0x40000
IFF_STATICARP, IFF_STICKYARP, IFF_DYING, IFF_RENAMING = 0x80000, 0x100000, 0x200000, 0x400000
IFF_LOWER_UP = 0x1000000

IFF_NAMES = [
    (0x1, "UP"), (0x2, "BROADCAST"), (0x4, "DEBUG"), (0x8, "LOOPBACK"), (0x10, "POINTOPOINT"),
    (0x20, "NEEDSEPOCH"), (0x40, "RUNNING"), (0x80, "NOARP"), (0x100, "PROMISC"),
    (0x200, "ALLMULTI"), (0x400, "DRV_OACTIVE"), (0x800, "SIMPLEX"), (0x1000, "LINK0"),
    (0x2000, "LINK1"), (0x4000, "LINK2"), (0x8000, "MULTICAST"), (0x10000, "CANTCONFIG"),
    (0x20000, "PPROMISC"), (0x40000, "MONITOR"), (0x80000, "STATICARP"),
    (0x100000, "STICKYARP"), (0x200000, "DYING"), (0x400000, "RENAMING"),
    (0x800000, "NOGROUP"), (0x1000000, "LOWER_UP"),
]
# flags a user may set with SIOCSIFFLAGS; the rest belong to the driver
IFF_CANTCHANGE = (IFF_BROADCAST | IFF_POINTOPOINT | IFF_RUNNING | IFF_SIMPLEX | IFF_MULTICAST
                  | IFF_LOOPBACK | IFF_CANTCONFIG | IFF_DYING | IFF_RENAMING | IFF_LOWER_UP
                  | IFF_PROMISC)

# -- capabilities (IFCAP_*, by bit) ----------------------------------------------------------
IFCAP_NAMES = [
    "RXCSUM", "TXCSUM", "NETCONS", "VLAN_MTU", "VLAN_HWTAGGING", "JUMBO_MTU", "POLLING",
    "VLAN_HWCSUM", "TSO4", "TSO6", "LRO", "WOL_UCAST", "WOL_MCAST", "WOL_MAGIC", "TOE4", "TOE6",
    "VLAN_HWFILTER", "NV", "VLAN_HWTSO", "LINKSTATE", "NETMAP", "RXCSUM_IPV6", "TXCSUM_IPV6",
    "HWSTATS", "TXRTLMT", "HWRXTSTMP", "MEXTPG", "TXTLS4", "TXTLS6", "VXLAN_HWCSUM",
    "VXLAN_HWTSO", "TXTLS_RTLMT",
]
IFCAP_RXCSUM, IFCAP_TXCSUM, IFCAP_VLAN_MTU, IFCAP_LINKSTATE = 0x1, 0x2, 0x8, 0x80000
IFCAP_RXCSUM_IPV6, IFCAP_TXCSUM_IPV6 = 0x200000, 0x400000

# -- IPv6 address flags (IN6_IFF_*) and ND flags (ND6_IFF_*) ---------------------------------
IN6_IFF_ANYCAST, IN6_IFF_TENTATIVE, IN6_IFF_DUPLICATED, IN6_IFF_DETACHED = 0x1, 0x2, 0x4, 0x8
IN6_IFF_DEPRECATED, IN6_IFF_NODAD, IN6_IFF_AUTOCONF, IN6_IFF_TEMPORARY = 0x10, 0x20, 0x40, 0x80
IN6_IFF_PREFER_SOURCE = 0x100
# ifconfig prints these words, in this order (docs/freebsd-tools.md §1.6)
IN6_IFF_WORDS = [
    (IN6_IFF_ANYCAST, "anycast"), (IN6_IFF_TENTATIVE, "tentative"),
    (IN6_IFF_DUPLICATED, "duplicated"), (IN6_IFF_DETACHED, "detached"),
    (IN6_IFF_DEPRECATED, "deprecated"), (IN6_IFF_AUTOCONF, "autoconf"),
    (IN6_IFF_TEMPORARY, "temporary"), (IN6_IFF_PREFER_SOURCE, "prefer_source"),
]

ND6_IFF_PERFORMNUD, ND6_IFF_ACCEPT_RTADV, ND6_IFF_PREFER_SOURCE = 0x1, 0x2, 0x4
ND6_IFF_IFDISABLED, ND6_IFF_DONT_SET_IFROUTE, ND6_IFF_AUTO_LINKLOCAL = 0x8, 0x10, 0x20
ND6_IFF_NO_RADR, ND6_IFF_NO_PREFER_IFACE, ND6_IFF_NO_DAD = 0x40, 0x80, 0x100
ND6_IFF_DEFAULTIF = 0x8000
ND6_NAMES = [
    (0x1, "PERFORMNUD"), (0x2, "ACCEPT_RTADV"), (0x4, "PREFER_SOURCE"), (0x8, "IFDISABLED"),
    (0x10, "DONT_SET_IFROUTE"), (0x20, "AUTO_LINKLOCAL"), (0x40, "NO_RADR"),
    (0x80, "NO_PREFER_IFACE"), (0x100, "NO_DAD"), (0x8000, "DEFAULTIF"),
]

# -- route flags (RTF_*, docs/freebsd-tools.md §6.3) -----------------------------------------------
RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_REJECT, RTF_DYNAMIC = 0x1, 0x2, 0x4, 0x8, 0x10
RTF_MODIFIED, RTF_DONE, RTF_XRESOLVE, RTF_LLINFO, RTF_STATIC = 0x20, 0x40, 0x200, 0x400, 0x800
RTF_BLACKHOLE, RTF_PROTO2, RTF_PROTO1, RTF_PROTO3 = 0x1000, 0x4000, 0x8000, 0x40000
RTF_FIXEDMTU, RTF_PINNED, RTF_LOCAL, RTF_BROADCAST = 0x80000, 0x100000, 0x200000, 0x400000
RTF_MULTICAST, RTF_STICKY = 0x800000, 0x10000000
RTF_LLDATA = RTF_LLINFO
RTF_ANNOUNCE = RTF_PROTO2
# flags RTM_CHANGE may alter (RTF_FMASK)
RTF_FMASK = (RTF_PROTO1 | RTF_PROTO2 | RTF_PROTO3 | RTF_BLACKHOLE | RTF_REJECT | RTF_STATIC
             | RTF_STICKY)

# route(8)'s printed names, by bit (1-based bit numbers of docs/freebsd-tools.md §6.3)
RTF_NAMES = [
    (0x1, "UP"), (0x2, "GATEWAY"), (0x4, "HOST"), (0x8, "REJECT"), (0x10, "DYNAMIC"),
    (0x20, "MODIFIED"), (0x40, "DONE"), (0x200, "XRESOLVE"), (0x400, "LLINFO"),
    (0x800, "STATIC"), (0x1000, "BLACKHOLE"), (0x4000, "PROTO2"), (0x8000, "PROTO1"),
    (0x10000, "PRCLONING"), (0x20000, "WASCLONED"), (0x40000, "PROTO3"), (0x80000, "FIXEDMTU"),
    (0x100000, "PINNED"), (0x200000, "LOCAL"), (0x400000, "BROADCAST"),
    (0x800000, "MULTICAST"), (0x10000000, "STICKY"),
]
# netstat -r's letters, in its output order (docs/freebsd-tools.md §4.1)
RTF_LETTERS = [
    (RTF_UP, "U"), (RTF_GATEWAY, "G"), (RTF_HOST, "H"), (RTF_REJECT, "R"), (RTF_DYNAMIC, "D"),
    (RTF_MODIFIED, "M"), (RTF_DONE, "d"), (RTF_XRESOLVE, "X"), (RTF_STATIC, "S"),
    (RTF_PROTO1, "1"), (RTF_PROTO2, "2"), (RTF_PROTO3, "3"), (RTF_BLACKHOLE, "B"),
    (RTF_BROADCAST, "b"), (RTF_LLINFO, "L"),
]

# -- routing messages (RTM_*) ------------------------------------------------------------------
RTM_ADD, RTM_DELETE, RTM_CHANGE, RTM_GET = 1, 2, 3, 4
RTM_NEWADDR, RTM_DELADDR, RTM_IFINFO, RTM_IFANNOUNCE = 0xC, 0xD, 0xE, 0x11
RTM_NAMES = {RTM_ADD: "RTM_ADD", RTM_DELETE: "RTM_DELETE", RTM_CHANGE: "RTM_CHANGE",
             RTM_GET: "RTM_GET", RTM_NEWADDR: "RTM_NEWADDR", RTM_DELADDR: "RTM_DELADDR",
             RTM_IFINFO: "RTM_IFINFO", RTM_IFANNOUNCE: "RTM_IFANNOUNCE"}
IFAN_ARRIVAL, IFAN_DEPARTURE = 0, 1

LINK_STATE_UNKNOWN, LINK_STATE_DOWN, LINK_STATE_UP = 0, 1, 2

AF_INET, AF_INET6, AF_LINK = 2, 28, 18          # FreeBSD's numbers


def bits(value: int, table: Iterable[tuple[int, str]]) -> str:
    """Comma-joined names of the set bits, in table order (printb without the brackets)."""
    return ",".join(name for bit, name in table if value & bit)
