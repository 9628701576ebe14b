"""Address, flag and message formatting shared by route, arp and netstat (docs/freebsd-tools.md
§2.6, §2.8,
§3.2, §4.1).  Parsing lives in the tools; this module only turns values into FreeBSD's text.
"""
from __future__ import annotations

import _socket as socket  # the C module: `socket` imports enum and selectors (startup time)
import time

from plebproto.constants import (
    AF_INET, IFAN_ARRIVAL, IFF_UP, LINK_STATE_DOWN, LINK_STATE_UP, RTF_BLACKHOLE, RTF_GATEWAY,
    RTF_LETTERS, RTF_NAMES, RTF_PINNED, RTF_REJECT, RTF_STATIC, RTM_DELADDR, RTM_DELETE,
    RTM_IFANNOUNCE, RTM_IFINFO, RTM_NEWADDR,
)

ETHER_KINDS = {"vnet", "tap", "vxlan", "epair"}     # IFT_ETHER: arp's " [ethernet]"
# arp's type suffix by interface kind (the sdl_type: IFT_ETHER, IFT_L2VLAN, IFT_BRIDGE)
ARP_TYPES = {**dict.fromkeys(ETHER_KINDS, "ethernet"), "vlan": "vlan", "bridge": "bridge"}


# -- flags ---------------------------------------------------------------------------------------
_letters_cache: dict[int, str] = {}


def flag_letters(flags: int) -> str:
    """netstat -r's letters in FreeBSD's order, memoised per flags value (a dump of a million
    routes has a handful of distinct values)."""
    text = _letters_cache.get(flags)
    if text is None:
        text = _letters_cache[flags] = "".join(c for bit, c in RTF_LETTERS if flags & bit)
    return text


def flag_names_pretty(flags: int) -> list[str]:
    """netstat's libxo flags_pretty list."""
    names = {"U": "up", "G": "gateway", "H": "host", "R": "reject", "D": "dynamic",
             "M": "modified", "d": "done", "X": "xresolve", "S": "static", "1": "proto1",
             "2": "proto2", "3": "proto3", "B": "blackhole", "b": "broadcast", "L": "llinfo"}
    return [names[c] for c in flag_letters(flags)]


def printb(flags: int, table=RTF_NAMES) -> str:
    """printb(3)-style `<A,B>`; nothing at all for 0."""
    names = [name for bit, name in table if flags & bit]
    return f"<{','.join(names)}>" if names else ""


# -- addresses -----------------------------------------------------------------------------------
def strtol(text: str) -> int:
    """strtol(text, NULL, 10): leading blanks, sign and digits; 0 when there are none."""
    s = text.lstrip()
    sign, i = 1, 0
    if s[:1] in "+-" and s:
        sign, i = (-1 if s[0] == "-" else 1), 1
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return sign * int(s[i:j]) if j > i else 0


def strtol0(text: str) -> int | None:
    """strtol(text, &end, 0) demanding the whole string: metric values (-mtu 0x5dc)."""
    t = text.strip()
    try:
        neg = t.startswith("-")
        body = t.lstrip("+-")
        if body.lower().startswith("0x"):
            v = int(body[2:], 16)
        elif body.startswith("0") and len(body) > 1:
            v = int(body[1:], 8)
        else:
            v = int(body, 10)
        return -v if neg else v
    except ValueError:
        return None


def inet_aton(text: str) -> int | None:
    """BSD inet_aton: a, a.b, a.b.c, a.b.c.d, each part decimal, octal (0..) or hex (0x..).
    Returns the address as an int, or None."""
    if not text or text != text.strip():
        return None
    parts = text.split(".")
    if len(parts) > 4:
        return None
    vals = []
    for part in parts:
        if not part:
            return None
        try:
            if part.lower().startswith("0x"):
                v = int(part[2:], 16) if len(part) > 2 else 0
            elif part.startswith("0") and len(part) > 1:
                v = int(part[1:], 8)
            else:
                if not part.isdigit():
                    return None
                v = int(part)
        except ValueError:
            return None
        vals.append(v)
    *head, last = vals
    if any(v > 255 for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for i, v in enumerate(head):
        value |= v << (24 - 8 * i)
    return value | last


def ntoa(value: int) -> str:
    return socket.inet_ntoa((value & 0xFFFFFFFF).to_bytes(4, "big"))


def pton6(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def ntop6(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def mask4(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def mask6_text(plen: int) -> str:
    return ntop6(((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1))


def trimmed_netname(text: str) -> str:
    """route(8)'s netname for IPv4: trailing zero octets dropped, no mask; 0 is `default`."""
    value = inet_aton(text)
    if value is None:
        return text
    if value == 0:
        return "default"
    octets = [(value >> s) & 0xFF for s in (24, 16, 8, 0)]
    if value & 0xFFFFFF == 0:
        return str(octets[0])
    if value & 0xFFFF == 0:
        return "%d.%d" % tuple(octets[:2])
    if value & 0xFF == 0:
        return "%d.%d.%d" % tuple(octets[:3])
    return "%d.%d.%d.%d" % tuple(octets)


def ether_aton(text: str) -> bytes | None:
    """xx:xx:xx:xx:xx:xx with one or two hex digits per byte."""
    parts = text.split(":")
    if len(parts) != 6:
        return None
    out = []
    for p in parts:
        if not 1 <= len(p) <= 2 or any(c not in "0123456789abcdefABCDEF" for c in p):
            return None
        out.append(int(p, 16))
    return bytes(out)


def mac_text(mac: bytes) -> str:
    return ":".join("%02x" % b for b in mac)


def rescope(text: str, ifname: str) -> str:
    """14.x netstat puts the output interface as the zone of a scoped address."""
    addr, sep, _ = text.partition("%")
    return f"{addr}%{ifname}" if sep else text


# -- route monitor: 14.x's one-line netlink format (docs/freebsd-tools.md §2.8) --------------------
NUD_INCOMPLETE, NUD_REACHABLE = "INCOMPLETE", "REACHABLE"


def line_prefix(pid: int, action: str, what: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    ms = int(now * 1000) % 1000
    return "%s.%03d PID %4u %s %s " % (time.strftime("%H:%M:%S", time.localtime(now)), ms,
                                         pid, action, what)


def monitor_line(event: dict, now: float | None = None) -> str | None:
    """The text route -n monitor prints for one stack event, or None for events netlink does
    not report."""
    kind = event.get("type")
    pid = event.get("pid", 0) or 0
    if "route" in event:
        r = event["route"]
        action = "delete" if kind == RTM_DELETE else "add/repl"
        head = line_prefix(pid, action, "route", now) + "%s/%d " % (r["dst"], r["plen"])
        flags = r["flags"]
        if flags & RTF_BLACKHOLE:
            return head + "blackhole\n"
        if flags & RTF_REJECT:
            return head + "prohibit(reject)\n"
        text = head
        if flags & RTF_GATEWAY:
            text += "gw %s " % r["gateway"]
        text += "iface %s " % r["ifname"]
        if r.get("mtu"):
            text += "mtu %d " % r["mtu"]
        family = "inet" if r.get("af", event.get("af")) == AF_INET else "inet6"
        return text + "table %s.0\n" % family
    if "neigh" in event:
        n = event["neigh"]
        action = "delete" if kind == RTM_DELETE else "add/repl"
        text = line_prefix(pid, action, "neigh", now) + "%s " % n["addr"]
        if n.get("mac") is None:
            text += "state %s " % NUD_INCOMPLETE
        elif n.get("expire") is not None and not n["flags"] & (RTF_STATIC | RTF_PINNED):
            text += "state %s " % NUD_REACHABLE
        if n.get("mac"):
            text += "lladdr %s " % n["mac"]
        return text + "iface %s \n" % n["ifname"]
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        action = "add/repl" if kind == RTM_NEWADDR else "delete"
        text = line_prefix(pid, action, "addr", now) + "%s/%d " % (event["addr"], event["plen"])
        if event.get("dst") is not None:
            text += "-> %s " % event["dst"]
        return text + "iface %s \n" % event["ifname"]
    if kind in (RTM_IFINFO, RTM_IFANNOUNCE):
        action = "delete" if kind == RTM_IFANNOUNCE and event.get("what") != IFAN_ARRIVAL \
            else "add/repl"
        text = line_prefix(pid, action, "iface", now)
        text += "iface#%u %s " % (event["index"], event["ifname"])
        flags = event.get("flags", 0)
        text += "admin %s " % ("UP" if flags & IFF_UP else "DOWN")
        text += "oper %s " % oper_state(flags, event.get("link", LINK_STATE_UP))
        if event.get("mtu"):
            text += "mtu %u " % event["mtu"]
        return text + "\n"
    return None


def oper_state(flags: int, link: int) -> str:
    if not flags & IFF_UP:
        return "DOWN"
    if link == LINK_STATE_UP:
        return "UP"
    if link == LINK_STATE_DOWN:
        return "DOWN"
    return "UNKNOWN"

