"""The path MTUs learned from ICMPv6 packet too big (RFC 8201), kept as FreeBSD 14 keeps them:
in the TCP host cache (sys/netinet/tcp_hostcache.c), not in the routing table.
icmp6_mtudisc_update() stores an MTU there, ip6_calcmtu() reads it for every packet the stack
sends (but TCP's) to that destination, and `netstat -rn` / `route get` never show it; FreeBSD
lists it with `sysctl net.inet.tcp.hostcache.list`, which list() formats.

Lifetime, as tcp_hostcache.c counts it: every store or lookup sets an entry's expire back to
net.inet.tcp.hostcache.expire (3600 s); a purge every TCP_HOSTCACHE_PRUNE (300 s) removes the
entries at 0 or below and takes 300 from the others.  An MTU is never raised in place: it goes
when its entry does.  Keys are table keys (a link-local destination with its zone embedded),
clock and timers come from the event loop.
"""
from __future__ import annotations

from ..state.inet import is_scoped6, ntop6

EXPIRE = 3600           # TCP_HOSTCACHE_EXPIRE: net.inet.tcp.hostcache.expire
PRUNE = 300             # TCP_HOSTCACHE_PRUNE: seconds between purges
CACHE_LIMIT = 512 * 30  # hashsize × bucketlimit: net.inet.tcp.hostcache.cachelimit
_ZONE = ~(0xFFFF << 96)


class HostCache:
    def __init__(self, loop, expire: int = EXPIRE, prune: int = PRUNE,
                 limit: int = CACHE_LIMIT):
        self.loop = loop
        self.expire, self.prune, self.limit = expire, prune, limit
        self.entries: dict[int, list] = {}      # key -> [mtu, expire]
        self._timer = None

    def __len__(self) -> int:
        return len(self.entries)

    def getmtu(self, key: int) -> int:
        """tcp_hc_getmtu: the MTU stored for key or 0; a hit renews the entry's lifetime."""
        e = self.entries.get(key)
        if e is None:
            return 0
        e[1] = self.expire
        return e[0]

    def updatemtu(self, key: int, mtu: int) -> None:
        """tcp_hc_updatemtu: store an MTU (a new entry, or the one there renewed)."""
        e = self.entries.get(key)
        if e is None:
            if len(self.entries) >= self.limit:
                # full: the least recently stored goes (tcp_hc_update drops a bucket's last)
                del self.entries[next(iter(self.entries))]
            self.entries[key] = [mtu, self.expire]
        else:
            e[0], e[1] = mtu, self.expire
        if self._timer is None:
            self._timer = self.loop.call_later(self.prune, self._purge)

    def _purge(self) -> None:
        """tcp_hc_purge_internal(0), then again in PRUNE seconds while anything is left."""
        self._timer = None
        for key in list(self.entries):
            e = self.entries[key]
            if e[1] <= 0:
                del self.entries[key]
            else:
                e[1] -= self.prune
        if self.entries:
            self._timer = self.loop.call_later(self.prune, self._purge)

    def list(self) -> str:
        """sysctl_tcp_hc_list's text: a heading, then one line per entry (only the MTU is
        learned here; the TCP metrics stay 0)."""
        lines = ["", "IP address        MTU  SSTRESH      RTT   RTTVAR     CWND SENDPIPE "
                 "RECVPIPE EXP"]
        for key, (mtu, expire) in self.entries.items():
            # ip6_sprintf prints the address as stored, its embedded zone cleared
            addr = ntop6(key & _ZONE if is_scoped6(key) else key)
            lines.append("%-15s %5u %8u %6ums %6ums %8u %8u %8u %4i"
                         % (addr, mtu, 0, 0, 0, 0, 0, 0, expire))
        return "\n".join(lines) + "\n"
