"""epair(4) in the state model, as if_epair.c creates it: `epair` or `epairN` makes epairNa
and epairNb at once (the name returned is the a end), destroying either end destroys both.
Each end's params["peer"] names the other; the data plane wires them together.  The MACs
are 02:xx:xx:xx:xx:0a and ...:0b, the same four middle bytes (epair_generate_mac).
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from plebproto.constants import EEXIST, EINVAL
from plebproto.errors import OpError

from .clone import Cloner, register

if TYPE_CHECKING:
    from .if_ctl import IfControl as Stack
    from .ifnet import Interface


class EpairCloner(Cloner):
    kind = "epair"

    def create(self, stack: "Stack", name: str, params: dict[str, Any]) -> str:
        if params:
            raise OpError(EINVAL)
        if name == "epair":
            n = 0
            while f"epair{n}a" in stack.by_name or f"epair{n}b" in stack.by_name:
                n += 1
            name = f"epair{n}"
        a, b = f"{name}a", f"{name}b"
        for end in (a, b):
            if end in stack.by_name:
                raise OpError(EEXIST, f"interface {end} already exists")
        # if_epair.c: 02, a 32-bit hash of the host uuid and the name, then 0a / 0b
        middle = zlib.crc32(f"{stack.hostuuid}-{name}".encode()).to_bytes(4, "big")
        stack.if_clone_plain("epair", a, {"peer": b}, mac=b"\x02" + middle + b"\x0a")
        stack.if_clone_plain("epair", b, {"peer": a}, mac=b"\x02" + middle + b"\x0b")
        return a

    def destroying(self, stack: "Stack", ifp: "Interface") -> list["Interface"]:
        peer = stack.by_name.get(ifp.params.get("peer", ""))
        return [ifp] + ([peer] if peer is not None else [])

    def renamed(self, stack: "Stack", owner: "Interface", old: str, new: str) -> None:
        if owner.params.get("peer") == old:
            stack.journal.setitem(owner.params, "peer", new)


register(EpairCloner())
