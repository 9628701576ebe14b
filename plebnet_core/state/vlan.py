"""vlan(4) in the state model, as if_vlan.c has it: the cloner (vlan, vlanN and PARENT.TAG
names), attaching to a parent (SIOCSETVLAN / vlan_config: the parent's MAC, its MTU less the
tag unless it has VLAN_MTU, RUNNING), detaching when the parent goes.

A vlan's configuration is in its params, as `ifconfig vlan0 create vlan 5 vlandev vnet0`
gave it: "vlan" (tag), "vlandev" (parent name), "vlanproto" ("802.1q"/"802.1ad"), "vlanpcp".
An unconfigured vlan has none of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plebproto.constants import (
    EBUSY,
    EEXIST,
    EINVAL,
    ENOENT,
    ENXIO,
    EOPNOTSUPP,
    EPROTONOSUPPORT,
    IFCAP_VLAN_MTU,
    IFF_RUNNING,
    LINK_STATE_UNKNOWN,
)
from plebproto.errors import OpError

from .clone import Cloner, register

if TYPE_CHECKING:
    from .if_ctl import IfControl as Stack
    from .ifnet import Interface

EVL_VLID_MASK = 0xFFF
ETHERMTU = 1500
ETHERMIN = 46           # the smallest Ethernet payload: a vlan's smallest MTU (ifv_mintu)
ETHER_VLAN_ENCAP_LEN = 4
# if_vlan.c vlan_config: IFT_ETHER, IFT_L2VLAN and IFT_IEEE8023ADLAG (a lagg) parents
PARENT_KINDS = ("vnet", "tap", "vxlan", "epair", "vlan", "lagg")
_KEYS = ("vlan", "vlandev", "vlanproto", "vlanpcp")


def vlans_of(stack: "Stack", parent: "Interface") -> list["Interface"]:
    return [i for i in stack.ifaces
            if i.cloner == "vlan" and i.params.get("vlandev") == parent.name]


class VlanCloner(Cloner):
    kind = "vlan"

    def match(self, stack: "Stack", name: str) -> bool:
        if super().match(stack, name):
            return True
        # vlan_clone_match_ethervid: PARENT.TAG with an existing parent and a decimal tag
        parent, dot, tag = name.rpartition(".")
        return bool(dot) and parent in stack.by_name and tag[:1].isdigit()

    def create(self, stack: "Stack", name: str, params: dict[str, Any]) -> str:
        tag = params.get("vlan")
        parent_name = params.get("vlandev")
        parent = None
        if parent_name is not None:
            parent = stack.by_name.get(parent_name)
            if parent is None:
                raise OpError(ENXIO)
        if not super().match(stack, name):          # PARENT.TAG: the name says both
            base, _, digits = name.rpartition(".")
            if not digits.isdigit():
                raise OpError(ENXIO)
            if parent is not None and parent.name != base:
                raise OpError(EINVAL)
            parent, tag = stack.by_name[base], int(digits)
            if name in stack.by_name:
                raise OpError(EEXIST, f"interface {name} already exists")
            stack.if_attach(name, "vlan", bytes(6), cloner="vlan")
        else:
            name = stack.if_clone_plain("vlan", name, mac=bytes(6))
        ifp = stack.by_name[name]
        stack.journal.setattr(ifp, "hwaddr", None)      # IFT_L2VLAN: no hardware address
        stack.journal.setattr(ifp, "link_state", LINK_STATE_UNKNOWN)
        if parent is not None:
            vlan_config(stack, ifp, parent, tag if tag is not None else 0,
                        params.get("vlanproto", "802.1q"), params.get("vlanpcp", 0))
        return name

    def check_mtu(self, stack: "Stack", ifp: "Interface", mtu: int) -> None:
        """vlan_ioctl's SIOCSIFMTU: on a parent, at most the parent's MTU less the tag
        (unless it has VLAN_MTU), at least ETHERMIN less it."""
        parent = stack.by_name.get(ifp.params.get("vlandev") or "")
        if parent is None:
            return
        fudge = 0 if parent.caps & IFCAP_VLAN_MTU else ETHER_VLAN_ENCAP_LEN
        if not ETHERMIN - fudge <= mtu <= parent.mtu - fudge:
            raise OpError(EINVAL)

    def detached(self, stack: "Stack", owner: "Interface", gone: "Interface") -> None:
        if owner.params.get("vlandev") == gone.name:
            vlan_unconfig(stack, owner)                 # vlan_ifdetach: the vlan stays

    def renamed(self, stack: "Stack", owner: "Interface", old: str, new: str) -> None:
        if owner.params.get("vlandev") == old:
            stack.journal.setitem(owner.params, "vlandev", new)


def vlan_config(stack: "Stack", ifp: "Interface", parent: "Interface", tag: int,
                proto: str = "802.1q", pcp: int = 0) -> None:
    """vlan_config(): EBUSY if already on a parent, EINVAL for a tag over 4095,
    EPROTONOSUPPORT for a parent that is not an Ethernet, EEXIST for a tag in use."""
    if ifp.params.get("vlandev") is not None:
        raise OpError(EBUSY)
    if tag & ~EVL_VLID_MASK:
        raise OpError(EINVAL)
    if parent.iftype.name not in PARENT_KINDS or parent is ifp:
        raise OpError(EPROTONOSUPPORT)
    if any(v.params.get("vlan") == tag for v in vlans_of(stack, parent)):
        raise OpError(EEXIST)
    j = stack.journal
    for key, value in zip(_KEYS, (tag, parent.name, proto, pcp)):
        j.setitem(ifp.params, key, value)
    fudge = 0 if parent.caps & IFCAP_VLAN_MTU else ETHER_VLAN_ENCAP_LEN
    j.setattr(ifp, "mtu", parent.mtu - fudge)
    j.setattr(ifp, "mac", parent.mac)
    j.setattr(ifp, "link_state", parent.link_state)
    j.setattr(ifp, "flags", ifp.flags | IFF_RUNNING)
    stack._ifinfo(ifp)


def vlan_unconfig(stack: "Stack", ifp: "Interface") -> None:
    """Off its parent (vlan_unconfig_locked): tag and parent cleared, the MTU back to
    ETHERMTU, not RUNNING, link state unknown; the MAC stays."""
    j = stack.journal
    for key in _KEYS:
        if key in ifp.params:
            j.delitem(ifp.params, key)
    j.setattr(ifp, "mtu", ETHERMTU)
    j.setattr(ifp, "flags", ifp.flags & ~IFF_RUNNING)
    j.setattr(ifp, "link_state", LINK_STATE_UNKNOWN)
    stack._ifinfo(ifp)


def set_vlan(stack: "Stack", name: str, params: dict[str, Any]) -> None:
    """SIOCSETVLAN on an existing interface: an empty vlandev detaches, else attach.
    EOPNOTSUPP on an interface that is no vlan (ifconfig then sends nothing)."""
    ifp = stack.ifunit(name)
    if ifp.cloner != "vlan":
        raise OpError(EOPNOTSUPP)
    parent_name = params.get("vlandev") or ""
    if not parent_name:
        vlan_unconfig(stack, ifp)
        return
    parent = stack.by_name.get(parent_name)
    if parent is None:
        raise OpError(ENOENT)    # vlan_ioctl: no such parent
    vlan_config(stack, ifp, parent, int(params.get("vlan", 0)),
                params.get("vlanproto") or "802.1q", int(params.get("vlanpcp", 0)))


def set_vlanpcp(stack: "Stack", name: str, pcp: int) -> None:
    """SIOCSVLANPCP: EINVAL on an interface that is no vlan or a priority over 7."""
    ifp = stack.ifunit(name)
    if ifp.cloner != "vlan" or not 0 <= pcp <= 7:
        raise OpError(EINVAL)
    stack.journal.setitem(ifp.params, "vlanpcp", pcp)


register(VlanCloner())
