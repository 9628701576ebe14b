"""bridge(4)'s ifconfig grammar, as FreeBSD 14's ifbridge.c registers it: `addm IF` (BRDGADD)
and `deletem IF` (BRDGDEL), each failing as `err(1, "BRDGADD %s", IF)` words it, and `addr`
(BRDGRTS: the address table, whose lines addr_lines makes), `flush`/`flushall` (BRDGFLUSH).  The
spanning-tree and address-cache keywords are FreeBSD's too but the stack's bridge has none
of that state: they are sent under their driver command's name and refused.
"""
from __future__ import annotations

from .keywords import Keyword, register


def _label(what):
    from .ifconfig_grammar import Label  # (the grammar imports this module first)
    return Label(what)


def member_cmd(cmd, word, req, member):
    cmd.emit(["ioctl", {"req": req, "ifname": cmd.ifname, "member": member}],
             _label(f"{req} {member}"))


def addr(cmd, word, req):
    """`addr`: the address table, printed by ifconfig_bridge.addr_lines after the batch."""
    cmd.emit(["ioctl", {"req": req, "ifname": cmd.ifname}],
             _label("unable to get address cache"))


def addr_lines(rows: list[dict]) -> list[str]:
    """bridge_addresses(): MAC (ether_ntoa), vlan, member, seconds left, then printb's
    flags with IFBAFBITS (only STATIC): `flags=0<>` for a learned entry."""
    return [f"{r['mac']} Vlan{r['vlan']} {r['ifname']} {r['expire']} "
            f"flags={r['flags']:x}<{'STATIC' if r['flags'] & 1 else ''}>" for r in rows]


def member_flag(cmd, word, req, member):
    """A member flag the stack's bridge does not keep: refused, in do_bridgeflag's words."""
    cmd.emit(["ioctl", {"req": req, "ifname": cmd.ifname, "value": [word, member]}],
             _label("unable to set bridge flags"))


def flush(cmd, word, req):
    cmd.emit(["ioctl", {"req": req, "ifname": cmd.ifname}], _label(req))


def unsupported(cmd, word, req, *values):
    """A bridge driver command the stack's bridge lacks (spanning tree, cache limits): sent
    under its own name, which the stack refuses (EINVAL), failing as ifbridge.c words it."""
    cmd.emit(["ioctl", {"req": req, "ifname": cmd.ifname, "value": list(values)}],
             _label(f"{req} {values[-1]}" if values else req))


register(
    "ifconfig",
    Keyword("addm", 1, member_cmd, "BRDGADD"),
    Keyword("deletem", 1, member_cmd, "BRDGDEL"),
    Keyword("addr", 0, addr, "BRDGRTS"),
    *[Keyword(word, 1, unsupported, req) for word, req in (
        ("span", "BRDGADDS"), ("-span", "BRDGDELS"), ("maxaddr", "BRDGSCACHE"),
        ("timeout", "BRDGSTO"), ("priority", "BRDGSPRI"), ("hellotime", "BRDGSHT"),
        ("fwddelay", "BRDGSFD"), ("maxage", "BRDGSMA"), ("proto", "BRDGSPROTO"),
        ("holdcnt", "BRDGSTXHC"), ("deladdr", "BRDGDADDR"))],
    # do_bridgeflag(): a member's flags, read (BRDGGIFFLGS) then set (BRDGSIFFLGS)
    *[Keyword(sign + word, 1, member_flag, "BRDGSIFFLGS") for sign in ("", "-")
      for word in ("stp", "edge", "autoedge", "ptp", "autoptp", "discover", "learn",
                   "sticky", "private")],
    # the table has no static entries: flush (IFBF_FLUSHDYN) and flushall clear the same
    Keyword("flush", 0, flush, "BRDGFLUSH"),
    Keyword("flushall", 0, flush, "BRDGFLUSH"),
)
