"""lagg(4)'s ifconfig keywords (sbin/ifconfig/iflagg.c): laggproto, laggport, -laggport,
lagghash, and the options use_flowid, use_numa, lacp_strict, lacp_fast_timeout (each with
its -word).  Like iflagg.c they are ordinary commands (not clone commands), so
`ifconfig lagg0 create laggproto failover laggport vnet0` creates, then configures.

Each becomes one "lagg" op (the stack's SIOCSLAGG/SIOCSLAGGPORT/SIOCSLAGGDELPORT/
SIOCSLAGGOPTS, an option as setlaggsetopt sends it: its bit, negated to clear), failing as
iflagg.c's err(1, ...) prints; laggport only warns and goes on, and says nothing of EEXIST
(already a port of this lagg), as setlaggport does.  Registered into ifconfig's table at
import; handlers get ifconfig_grammar's Command (imported lazily: the grammar imports this module).
"""
from __future__ import annotations

from plebproto.constants import EEXIST

from .ifconfig_values import errx
from .keywords import Keyword, register

# iflagg.c's lpr table (LAGG_PROTOS)
PROTOS = ("failover", "lacp", "loadbalance", "roundrobin", "broadcast", "none")
HASHES = {"l2": 0x1, "l3": 0x2, "l4": 0x4}
# LAGG_OPT_* that setlaggsetopt sends (lacp_txtest/rxtest, flowid_shift and rr_limit are
# not offered: the stack has no debug drops, flow ids or strides)
OPTIONS = {"use_flowid": 0x01, "use_numa": 0x04, "lacp_strict": 0x10,
           "lacp_fast_timeout": 0x80}


def _emit(cmd, args: dict, req: str, label=None, tolerate=None) -> None:
    from .ifconfig_grammar import Label
    op = ["lagg", {"req": req, "ifname": cmd.ifname, **args}]
    if tolerate:
        op.append(tolerate)
    cmd.emit(op, label or Label(req))


def laggproto(cmd, word, _, value):
    if value not in PROTOS:
        raise errx(f"Invalid aggregation protocol: {value}")
    _emit(cmd, {"proto": value}, "SIOCSLAGG")


def laggport(cmd, word, _, value):
    """setlaggport does not exit when the port cannot join ("doing so permits a failed NIC
    to take down an entire lagg"): it warnx()es, sets the exit status and goes on with the
    line; EEXIST (already a port of this lagg) is no failure at all."""
    from .ifconfig_grammar import WARNS, Label
    _emit(cmd, {"port": value}, "SIOCSLAGGPORT",
          Label("SIOCSLAGGPORT", warn=f"{cmd.ifname} {value}: SIOCSLAGGPORT", warn_status=1,
                quiet=(EEXIST,)), WARNS)


def unlaggport(cmd, word, _, value):
    _emit(cmd, {"port": value}, "SIOCSLAGGDELPORT")


def lagghash(cmd, word, _, value):
    """setlagghash: a comma list of l2, l3, l4; SIOCSLAGGHASH.  The stack hashes on all
    three whatever is set, so the request is refused rather than pretend."""
    for part in value.split(","):
        if part not in HASHES:
            raise errx(f"Invalid lagghash option: {part}")
    cmd.k_unsupported(word, "SIOCSLAGGHASH", value)


def laggsetopt(cmd, word, opt):
    _emit(cmd, {"opts": opt}, "SIOCSLAGGOPTS")


LAGG_KEYWORDS = (
    Keyword("laggproto", 1, laggproto),
    Keyword("laggport", 1, laggport),
    Keyword("-laggport", 1, unlaggport),
    Keyword("lagghash", 1, lagghash),
    *(Keyword(f"{sign}{name}", 0, laggsetopt, -bit if sign else bit)
      for name, bit in OPTIONS.items() for sign in ("", "-")),
)
register("ifconfig", *LAGG_KEYWORDS)
