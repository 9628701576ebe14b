"""The cloners that do more than attach one interface (vlan, bridge, epair, ...): each kind's
module under state/ subclasses Cloner and registers it here, as FreeBSD's drivers each call
if_clone_advanced() with their own match/create/destroy.  if_ctl asks the registry at create,
destroy and rename; a kind with no entry gets the plain cloner (attach one interface).

A Cloner's hooks run inside the request's transaction and change state only through the
stack's journal, so a failing batch undoes them too.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .if_ctl import IfControl as Stack
    from .ifnet import Interface


class Cloner:
    """The plain behaviour; a kind overrides what it does differently."""

    kind = ""

    def match(self, stack: "Stack", name: str) -> bool:
        """Whether `name` (as given to SIOCIFCREATE2) is this cloner's: KIND or KIND<unit>."""
        base = name.rstrip("0123456789")
        unit = name[len(base):]
        return base == self.kind and (not unit or unit == str(int(unit)))

    def create(self, stack: "Stack", name: str, params: dict[str, Any]) -> str:
        """Create (the unit picked when name has none); return the name created."""
        return stack.if_clone_plain(self.kind, name, params)

    def destroying(self, stack: "Stack", ifp: "Interface") -> list["Interface"]:
        """The interfaces destroying ifp takes with it, ifp included (epair: both ends)."""
        return [ifp]

    def detached(self, stack: "Stack", owner: "Interface", gone: "Interface") -> None:
        """Another interface `gone` is being destroyed: drop owner's references to it."""

    def renamed(self, stack: "Stack", owner: "Interface", old: str, new: str) -> None:
        """Another interface was renamed from old to new: follow it in owner's parameters."""

    def check_mtu(self, stack: "Stack", ifp: "Interface", mtu: int) -> None:
        """SIOCSIFMTU on one of this cloner's interfaces: raise OpError to refuse mtu."""

    def info(self, stack: "Stack", ifp: "Interface") -> dict[str, Any]:
        """Driver status for the interface dump beyond params (bridge: its members)."""
        return {}


REGISTRY: dict[str, Cloner] = {}


def register(cloner: Cloner) -> None:
    REGISTRY[cloner.kind] = cloner


def cloner_for(stack: "Stack", name: str, kinds: Iterable[str]) -> Cloner | None:
    """The cloner whose match() takes name, among the kinds `ifconfig -C` lists."""
    for kind in kinds:
        cloner = REGISTRY.get(kind) or _plain(kind)
        if cloner.match(stack, name):
            return cloner
    return None


_PLAIN: dict[str, Cloner] = {}


def _plain(kind: str) -> Cloner:
    cloner = _PLAIN.get(kind)
    if cloner is None:
        cloner = _PLAIN[kind] = Cloner()
        cloner.kind = kind
    return cloner
