"""The kinds of interface a stack has and what each looks like when created (the driver's
attach defaults): shared by the stack, which creates them, and the tools, which list cloners
and know each kind's default MTU."""
from __future__ import annotations

from .constants import (
    IFCAP_LINKSTATE, IFCAP_RXCSUM, IFCAP_RXCSUM_IPV6, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6,
    IFCAP_VLAN_MTU, IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, IFF_POINTOPOINT, IFF_RUNNING,
    IFF_SIMPLEX,
    ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED, ND6_IFF_PERFORMNUD,
)


class IfType:
    """What a kind of interface looks like when created (the driver's attach defaults)."""

    def __init__(self, name: str, flags: int, mtu: int, caps: int, nd6: int, ether: bool,
                 media: tuple[str, str | None] | None, cloner_group: str | None,
                 down_stops: bool = True, up_runs: bool = True):
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.caps = caps
        self.nd6 = nd6
        self.ether = ether              # has a 6-byte MAC (IFT_ETHER)
        self.media = media              # (configured, active) media words, or None
        self.cloner_group = cloner_group  # group a cloned interface joins (groups: tap)
        # `down` clears RUNNING (a NIC driver's stop); epair, vlan and bridge leave it set
        self.down_stops = down_stops
        # `up` sets RUNNING (the driver's init); a gif's and a vlan's come from their own
        # state instead (a tunnel whose source is local: state/gif.py; a parent: vlan_config)
        self.up_runs = up_runs


_ETHER_FLAGS = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST
_ND6_NIC = ND6_IFF_PERFORMNUD | ND6_IFF_IFDISABLED | ND6_IFF_AUTO_LINKLOCAL
IFTYPES = {
    "lo": IfType("lo", IFF_LOOPBACK | IFF_MULTICAST, 16384,
                 IFCAP_RXCSUM | IFCAP_TXCSUM | IFCAP_LINKSTATE | IFCAP_RXCSUM_IPV6
                 | IFCAP_TXCSUM_IPV6, ND6_IFF_PERFORMNUD | ND6_IFF_AUTO_LINKLOCAL,
                 False, None, "lo"),
    # the stack's own NIC (like epair/vtnet): a software Ethernet with a 10G link
    "vnet": IfType("vnet", _ETHER_FLAGS, 1500, IFCAP_VLAN_MTU, _ND6_NIC, True,
                   ("10Gbase-T", "10Gbase-T <full-duplex>"), None),
    "tap": IfType("tap", _ETHER_FLAGS, 1500, IFCAP_LINKSTATE, _ND6_NIC, True,
                  ("autoselect", None), "tap"),
    "vxlan": IfType("vxlan", _ETHER_FLAGS, 1450, IFCAP_LINKSTATE, _ND6_NIC, True,
                    ("autoselect", "autoselect <full-duplex>"), "vxlan"),  # as if_vxlan.c
    # lagg(4): an Ethernet whose frames go out of its ports (if_lagg.c's attach defaults)
    "lagg": IfType("lagg", _ETHER_FLAGS, 1500, 0, _ND6_NIC, True, ("autoselect", None),
                   "lagg"),
    # gif(4): IPv4/IPv6 in IPv4/IPv6, point to point, no link-level address (if_gif.c: GIF_MTU)
    "gif": IfType("gif", IFF_POINTOPOINT | IFF_MULTICAST, 1280, IFCAP_LINKSTATE, _ND6_NIC,
                  False, None, "gif", up_runs=False),
}
# vlan(4): an Ethernet whose MAC, MTU and media come from its parent (if_vlan.c)
IFTYPES["vlan"] = IfType("vlan", _ETHER_FLAGS, 1500, 0, _ND6_NIC, True, None, "vlan",
                         down_stops=False, up_runs=False)
# bridge(4): no media, no link-local by default (nd6_ifattach clears AUTO_LINKLOCAL on
# IFT_BRIDGE); RUNNING while up (bridge_init, bridge_stop)
IFTYPES["bridge"] = IfType("bridge", _ETHER_FLAGS, 1500, 0,
                           ND6_IFF_PERFORMNUD | ND6_IFF_IFDISABLED, True, None, "bridge")
# epair(4): two 10G Ethernets wired to each other, RUNNING once created (if_epair.c)
IFTYPES["epair"] = IfType("epair", _ETHER_FLAGS | IFF_RUNNING, 1500, IFCAP_VLAN_MTU, _ND6_NIC,
                          True, ("10Gbase-T", "10Gbase-T <full-duplex>"), "epair",
                          down_stops=False)
CLONERS: tuple[str, ...] = ("lo", "tap", "vxlan")   # what `ifconfig -C` lists and `create` accepts
# one line per further cloner, each with its plebnet_core/state module (state/clone.py)
CLONERS += ("vlan",)
CLONERS += ("bridge",)
CLONERS += ("epair",)
CLONERS += ("lagg",)
CLONERS += ("gif",)
