"""The control vocabulary mapped onto the state model: one handler per ioctl request, routing
message type and sysctl, each with its typed arguments (docs/freebsd-tools.md §7).

Handlers take the request's args map and return a result (or a Stream of rows for dumps); they
raise OpError for anything the kernel would refuse, including arguments of the wrong type.
The server runs every request inside a transaction, so a failing handler changes nothing.

This module assembles Syscalls from its parts, one module each:
    dispatch   the op registry (register), dispatch, read-only classification, hello,
               Stream and Deferred
    args       argument checking and address parsing
    ioctl      SIOC* requests            rtmsg    routing messages, one route each
    llmsg      ARP/NDP entries           sysctl   named values, gauges, the dump names
    batch      batches: transactions, tolerated errnos, route runs, gc, the dry run
    runs       bulk run decoding: rows, columns, packed columns
    dumps      NET_RT_DUMP (rows and compact form), NET_RT_IFLIST, NET_RT_FLAGS
"""
from __future__ import annotations

from plebproto.constants import AF_INET, AF_INET6

from .args import Addresses
from .batch import BatchOps
from .dispatch import Deferred, Dispatcher, Stream
from .dumps import DUMPS, DumpOps, inet_prefix_texts
from .ioctl import IOCTLS, IoctlOps
from .llmsg import LLMSGS, LlmsgOps
from .rtmsg import RTMSGS, RtmsgOps
from .sysctl import SysctlOps

__all__ = ["Syscalls", "Stream", "Deferred", "inet_prefix_texts"]


def _not_a_get(args: dict) -> bool:
    return args.get("type") != "RTM_GET"


class Syscalls(BatchOps, IoctlOps, RtmsgOps, LlmsgOps, SysctlOps, DumpOps, Addresses,
               Dispatcher):
    """The stack's handlers, registered under their op names; the data plane and the stack
    process register theirs (ping, pcap, audit) through register()."""

    def __init__(self, stack, pid: int, started: float | None = None):
        super().__init__(stack, pid, started)
        self._gw_text: dict[int, dict[str, int]] = {AF_INET: {}, AF_INET6: {}}
        self._chunks: dict = {}         # af -> (walk-order keys, ifnames, compact chunks)
        self.ioctls = self._bound(IOCTLS)
        self.rtmsgs = self._bound(RTMSGS)
        self.llmsgs = self._bound(LLMSGS)
        self.dumps = self._bound(DUMPS)
        # read-only values computed when read; not FreeBSD's (its fib_algo has no such
        # gauge): prefixes filed whose lookup arrays (IPv6: trie) are still being filled
        self.gauges = {"net.route.algo.inet.pending": lambda: stack.rt[AF_INET].unsettled,
                       "net.route.algo.inet6.pending": lambda: stack.rt[AF_INET6].unsettled}
        self.register("hello", self.hello, mutating=False)
        # SIOCGDRVSPEC's BRDGRTS (a bridge's address table) only reads, as in FreeBSD
        self.register("ioctl", self.ioctl, mutating=lambda args: args.get("req") != "BRDGRTS")
        self.register("rtmsg", self.rtmsg, mutating=_not_a_get, subs=("type", self.rtmsgs))
        self.register("sysctl", self.sysctl, mutating=self.sysctl_sets)
        self.register("llmsg", self.llmsg, mutating=_not_a_get, subs=("type", self.llmsgs))

    def _bound(self, table: dict) -> dict:
        return {key: getattr(self, method) for key, method in table.items()}
