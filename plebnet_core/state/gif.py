"""gif(4)'s RUNNING, as if_gif.c has it in FreeBSD 14: in_gif_set_running /
in6_gif_set_running set IFF_DRV_RUNNING when a tunnel is set and its source is one of the
host's addresses (in_localip / in6_localip), clear it otherwise; gif_delete_tunnel clears
it; the ifaddr_event handlers (in_gif_srcaddr / in6_gif_srcaddr) look again at the gifs
whose source is an address that came or went.  `up` does not set it (IfType.up_runs), and
gif_transmit refuses to send without it (ENETDOWN: the data plane's RUNNING check).

The tunnel is in the interface's params, as SIOCSIFPHYADDR(_IN6) left it: "tunnelsrc" and
"tunneldst", the outer addresses' texts (syscalls/ioctl.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from plebproto.constants import AF_INET, AF_INET6, IFF_RUNNING

from .inet import aton, pton6

if TYPE_CHECKING:
    from .base import StackBase as Stack
    from .ifnet import Interface


def gif_source(ifp: "Interface") -> tuple[int, int] | None:
    """(family, address) of a gif's tunnel source, or None without a tunnel."""
    text = ifp.params.get("tunnelsrc")
    if not text:
        return None
    return (AF_INET6, pton6(text)) if ":" in text else (AF_INET, aton(text))


def gif_set_running(stack: "Stack", ifp: "Interface") -> None:
    """RUNNING iff ifp's tunnel source is a local address (journaled: a rollback undoes it)."""
    source = gif_source(ifp)
    running = source is not None and any(source in other.addr_index
                                         for other in stack.ifaces)
    flags = ifp.flags | IFF_RUNNING if running else ifp.flags & ~IFF_RUNNING
    if flags != ifp.flags:
        stack.journal.setattr(ifp, "flags", flags)


def gif_srcaddr(stack: "Stack", af: int, addr: int) -> None:
    """An address came or went: the gifs whose tunnel starts at it look again."""
    for ifp in stack.ifaces:
        if ifp.iftype.name == "gif" and gif_source(ifp) == (af, addr):
            gif_set_running(stack, ifp)
