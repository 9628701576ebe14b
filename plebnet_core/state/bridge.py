"""bridge(4) in the state model, as if_bridge.c keeps it: the cloner and the member list
(BRDGADD / BRDGDEL: bridge_ioctl_add / bridge_ioctl_del), members in promiscuous mode, the
bridge taking its first member's MTU, members leaving when they are destroyed.

The members are params["members"], names in the order they were added (FreeBSD lists them
newest first: ifconfig_format reverses).  What the bridge learns (its address table) is the
data plane's (dataplane/bridge.py), as the kernel's rtable is not configuration.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plebproto.constants import (
    EBUSY,
    EEXIST,
    EINVAL,
    ENOENT,
    IFF_PROMISC,
    LINK_STATE_DOWN,
)
from plebproto.errors import OpError

from .clone import Cloner, register

if TYPE_CHECKING:
    from .if_ctl import IfControl as Stack
    from .ifnet import Interface

MEMBER_KINDS = ("vnet", "tap", "vxlan", "epair", "vlan")   # what bridge_ioctl_add takes
# bif_flags IFBIF_LEARNING|IFBIF_DISCOVER plus bstp_create's AUTOEDGE|AUTOPTP, as BRDGGIFFLGS
# reports a new member
MEMBER_FLAGS = 0x143
BSTP_DEFAULT_PORT_PRIORITY = 128
BSTP_DEFAULT_PATH_COST = 55
# each kind's if_baudrate, for bstp_calc_path_cost (0: none set; a vlan has its parent's)
BAUDRATE = {"vnet": 10_000_000_000, "epair": 10_000_000_000, "tap": 10_000_000}


def members(ifp: "Interface") -> list[str]:
    return list(ifp.params.get("members") or [])


def bridge_of(stack: "Stack", ifp: "Interface") -> "Interface | None":
    """The bridge ifp is a member of (its if_bridge), or None."""
    for b in stack.ifaces:
        if b.cloner == "bridge" and ifp.name in (b.params.get("members") or ()):
            return b
    return None


def path_cost(stack: "Stack", ifp: "Interface") -> int:
    """bstp_calc_path_cost: 802.1D-2004's 20 Tb/s over the link speed; the default for a
    link that is down or slower than 1 kb/s."""
    if ifp.link_state == LINK_STATE_DOWN:
        return BSTP_DEFAULT_PATH_COST
    while ifp.cloner == "vlan" and ifp.params.get("vlandev") in stack.by_name:
        ifp = stack.by_name[ifp.params["vlandev"]]
    baud = BAUDRATE.get(ifp.iftype.name, 0)
    if baud < 1000:
        return BSTP_DEFAULT_PATH_COST
    return max(1, min(20_000_000_000 // (baud // 1000), 200_000_000))


class BridgeCloner(Cloner):
    kind = "bridge"

    def info(self, stack: "Stack", ifp: "Interface") -> dict[str, Any]:
        rows = []
        for name in reversed(members(ifp)):     # sc_iflist: newest first (LIST_INSERT_HEAD)
            ifs = stack.by_name[name]
            rows.append({"name": name, "flags": MEMBER_FLAGS, "ifmaxaddr": 0,
                         "port": ifs.index & 0xFFF, "priority": BSTP_DEFAULT_PORT_PRIORITY,
                         "path_cost": path_cost(stack, ifs)})
        rtable = getattr(ifp.device, "rtable_rows", None)
        return {"bridge": {"members": rows,
                           "addrs": rtable() if rtable is not None else []}}

    def create(self, stack: "Stack", name: str, params: dict[str, Any]) -> str:
        if params:
            raise OpError(EINVAL)       # bridge_clone_create takes no parameters
        name = stack.if_clone_plain("bridge", name)
        stack.journal.setitem(stack.by_name[name].params, "members", [])
        return name

    def destroying(self, stack: "Stack", ifp: "Interface") -> list["Interface"]:
        for member in members(ifp):     # bridge_clone_destroy: members leave first
            bridge_delete(stack, ifp.name, member)
        return [ifp]

    def check_mtu(self, stack: "Stack", ifp: "Interface", mtu: int) -> None:
        """bridge_ioctl's SIOCSIFMTU: at least 576, and every member's MTU already."""
        if mtu < 576 or any(stack.by_name[m].mtu != mtu for m in members(ifp)):
            raise OpError(EINVAL)

    def detached(self, stack: "Stack", owner: "Interface", gone: "Interface") -> None:
        if gone.name in members(owner):
            bridge_delete(stack, owner.name, gone.name)

    def renamed(self, stack: "Stack", owner: "Interface", old: str, new: str) -> None:
        names = members(owner)
        if old in names:
            names[names.index(old)] = new
            stack.journal.setitem(owner.params, "members", names)


def bridge_add(stack: "Stack", name: str, member: str) -> None:
    """BRDGADD: ENOENT for no such interface, EEXIST for a member already, EBUSY for one of
    another bridge, EINVAL for a bridge or a non-Ethernet, or an MTU unlike the members'."""
    bifp = stack.ifunit(name)
    if bifp.cloner != "bridge":
        raise OpError(EINVAL)
    ifs = stack.by_name.get(member)
    if ifs is None:
        raise OpError(ENOENT)
    other = bridge_of(stack, ifs)
    if other is bifp:
        raise OpError(EEXIST)
    if other is not None:
        raise OpError(EBUSY)
    if ifs.iftype.name not in MEMBER_KINDS:
        raise OpError(EINVAL)
    names = members(bifp)
    j = stack.journal
    if not names:
        j.setattr(bifp, "mtu", ifs.mtu)        # the first member's MTU becomes the bridge's
    elif bifp.mtu != ifs.mtu:
        raise OpError(EINVAL)
    j.setitem(bifp.params, "members", names + [member])
    j.setattr(ifs, "flags", ifs.flags | IFF_PROMISC)     # ifpromisc(ifs, 1)
    stack._ifinfo(ifs)


def bridge_delete(stack: "Stack", name: str, member: str) -> None:
    """BRDGDEL: ENOENT when it is no member."""
    bifp = stack.ifunit(name)
    if bifp.cloner != "bridge":
        raise OpError(EINVAL)
    names = members(bifp)
    if member not in names:
        raise OpError(ENOENT)
    names.remove(member)
    j = stack.journal
    j.setitem(bifp.params, "members", names)
    ifs = stack.by_name.get(member)
    if ifs is not None:
        j.setattr(ifs, "flags", ifs.flags & ~IFF_PROMISC)
        stack._ifinfo(ifs)


register(BridgeCloner())
