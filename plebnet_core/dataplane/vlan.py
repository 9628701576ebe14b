"""vlan(4) on the wire (if_vlan.c's vlan_transmit and vlan_input): a vlan interface's frames
go out its parent with an 802.1Q tag after the MAC addresses; tagged frames that come in on a
parent go, untagged, to the vlan with that tag (dropped when there is none).  The vlan's
configuration is the state model's (state/vlan.py: params vlan, vlandev, vlanpcp)."""
from __future__ import annotations

from plebproto.constants import IFF_UP

from .phy.base import Device

ETHERTYPE_VLAN = b"\x81\x00"
ETHERTYPE_QINQ = b"\x88\xa8"
_TPID = {"802.1q": ETHERTYPE_VLAN, "802.1ad": ETHERTYPE_QINQ}


class VlanDevice(Device):
    """A vlan interface's device: tags and hands the frame to the parent's output."""
    kind = "vlan"

    def __init__(self, name: str, link, ifp):
        super().__init__(name)
        self.link = link
        self.ifp = ifp

    def recv(self) -> bytes | None:
        return None             # input arrives through the parent (vlan_demux)

    def send(self, frame) -> None:
        p = self.ifp.params
        parent = self.link.stack.by_name.get(p.get("vlandev") or "")
        if parent is None or parent.device is None or not parent.flags & IFF_UP:
            self.stats.oerrors += 1     # no parent, or it is down: ENETDOWN's drop
            return
        tci = (int(p.get("vlanpcp", 0)) << 13) | int(p.get("vlan", 0))
        tpid = _TPID.get(p.get("vlanproto"), ETHERTYPE_VLAN)
        tagged = bytes(frame[:12]) + tpid + tci.to_bytes(2, "big") + bytes(frame[12:])
        st = self.stats
        st.opackets += 1
        st.obytes += len(frame)
        self.link.xmit(parent, tagged)


def vlan_demux(link, parent, frame) -> bool:
    """A frame with a VLAN tag came in on parent: to its vlan, untagged.  True when the
    frame was a tagged one (taken, delivered or dropped)."""
    tpid = frame[12:14]
    if tpid != ETHERTYPE_VLAN and tpid != ETHERTYPE_QINQ:
        return False
    vid = int.from_bytes(frame[14:16], "big") & 0xFFF
    proto = "802.1q" if tpid == ETHERTYPE_VLAN else "802.1ad"
    name = parent.name
    for ifp in link.stack.ifaces:
        p = ifp.params
        if ifp.cloner == "vlan" and p.get("vlandev") == name and p.get("vlan") == vid \
                and p.get("vlanproto", "802.1q") == proto:
            link.input(ifp, bytes(frame[:12]) + bytes(frame[16:]))
            return True
    # no vlan for the tag: vlan_input counts it as IFCOUNTER_NOPROTO, which netstat -i
    # does not show (as iface.py's other unknown protocols)
    return True
