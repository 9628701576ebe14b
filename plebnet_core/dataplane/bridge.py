"""bridge(4) on the wire (if_bridge.c's bridge_input, bridge_forward, bridge_output): a
member's frames teach the bridge where their source lives; frames for the bridge itself go
up its interface, broadcasts and multicasts go to every other member and up the bridge, other
unicasts go to the member their destination was learned on or, unknown, to every other member.
What the bridge sends itself goes the same way.  The members are the state model's
(state/bridge.py); the address table (rtable) lives here, as the kernel's is not
configuration: entries last BRIDGE_RTABLE_TIMEOUT seconds, at most BRIDGE_RTABLE_MAX.
"""
from __future__ import annotations

from plebproto.constants import IFF_UP

from .phy.base import Device

BRIDGE_RTABLE_TIMEOUT = 1200
BRIDGE_RTABLE_MAX = 2000


class BridgeDevice(Device):
    """A bridge interface's device: its output is bridge_output; it holds the rtable."""
    kind = "bridge"

    def __init__(self, name: str, link, ifp):
        super().__init__(name)
        self.link = link
        self.ifp = ifp
        self.rtable: dict[bytes, list] = {}     # MAC -> [member name, expiry (loop clock)]

    def recv(self) -> bytes | None:
        return None             # input arrives through the members (bridge_input)

    # -- the address table -----------------------------------------------------------------
    def learn(self, mac: bytes, member: str) -> None:
        if mac[0] & 1:
            return              # a group address is never a source to learn
        now = self.link.loop.clock()
        entry = self.rtable.get(mac)
        if entry is None and len(self.rtable) >= BRIDGE_RTABLE_MAX:
            self._expire(now)
            if len(self.rtable) >= BRIDGE_RTABLE_MAX:
                return
        self.rtable[mac] = [member, now + BRIDGE_RTABLE_TIMEOUT]

    def lookup(self, mac: bytes) -> str | None:
        entry = self.rtable.get(mac)
        if entry is None:
            return None
        if entry[1] <= self.link.loop.clock():
            del self.rtable[mac]
            return None
        return entry[0]

    def _expire(self, now: float) -> None:
        for mac in [m for m, e in self.rtable.items() if e[1] <= now]:
            del self.rtable[mac]

    def rtable_rows(self) -> list[dict]:
        """BRDGRTS: each entry's MAC, vlan, member and seconds left (ifconfig's `addr`)."""
        now = self.link.loop.clock()
        self._expire(now)
        members = self.members()
        return [{"mac": ":".join(f"{b:02x}" for b in mac), "vlan": 0, "ifname": e[0],
                 "expire": int(e[1] - now), "flags": 0}
                for mac, e in self.rtable.items() if e[0] in members]

    def members(self) -> list[str]:
        return list(self.ifp.params.get("members") or ())

    # -- forwarding ------------------------------------------------------------------------
    def _out(self, name: str, frame) -> None:
        ifp = self.link.stack.by_name.get(name)
        if ifp is not None and ifp.device is not None and ifp.flags & IFF_UP:
            self.link.xmit(ifp, frame)

    def _flood(self, frame, src: str | None) -> None:
        for name in self.members():
            if name != src:
                self._out(name, frame)

    def send(self, frame) -> None:
        """bridge_output: to the member the destination is known on, else to all."""
        st = self.stats
        st.opackets += 1
        st.obytes += len(frame)
        dst = bytes(frame[:6])
        port = None if dst[0] & 1 else self.lookup(dst)
        if port is not None:
            self._out(port, frame)
        else:
            self._flood(frame, None)

    def input(self, member, frame) -> bool:
        """bridge_input for a frame that came in on member.  True: the bridge took it;
        False: the member goes on to receive it as any interface would."""
        bifp = self.ifp
        if not bifp.flags & IFF_UP:
            return False        # a bridge that is down bridges nothing
        src, dst = bytes(frame[6:12]), bytes(frame[:6])
        self.learn(src, member.name)
        link = self.link
        if dst[0] & 1:
            self._flood(frame, member.name)     # bridge_broadcast to the others,
            link.input(bifp, frame)             # a copy up the bridge,
            return False                        # and the member keeps its own
        if dst == bifp.mac:
            link.input(bifp, frame)
            return True
        if dst == member.mac:
            return False
        port = self.lookup(dst)
        if port is None:
            self._flood(frame, member.name)
        elif port != member.name:
            self._out(port, frame)
        return True
