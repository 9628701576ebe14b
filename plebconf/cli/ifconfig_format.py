"""ifconfig's listing output: FreeBSD 14 text (docs/freebsd-tools.md §1.6, §1.7) and a --libxo json
document.

Input: the interface dicts of sysctl NET_RT_IFLIST (the stack's if_info), in
kernel order.  Nothing here talks to the stack.
"""
from __future__ import annotations

from plebproto.constants import (
    IFCAP_NAMES, IFF_BROADCAST, IFF_NAMES, IFF_POINTOPOINT, IFF_UP, IN6_IFF_WORDS,
    LINK_STATE_UP, ND6_NAMES,
)

VXLAN_PORT = 4789


def bits(value: int, table) -> str:
    """print_bits: `<NAME,...>` for the set bits (nothing for 0), unknown bits as IFF_<n>."""
    if not value:
        return ""
    names, known = [], 0
    for bit, name in table:
        known |= bit
        if value & bit:
            names.append(name)
    names += [f"IFF_{n}" for n in range(32) if value & ~known & (1 << n)]
    return "<" + ",".join(names) + ">"


CAP_TABLE = [(1 << i, name) for i, name in enumerate(IFCAP_NAMES)]


def mask4_hex(plen: int) -> str:
    return f"0x{(0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:x}"


def mask4_dotted(plen: int) -> str:
    m = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    return ".".join(str((m >> s) & 0xFF) for s in (24, 16, 8, 0))


def ether_text(mac: str, fmt: str | None) -> str:
    """-f ether:colon (default) | dash | dotted (cisco-style 020a.0000.0001)."""
    if fmt == "dash":
        return mac.replace(":", "-")
    if fmt == "dotted":
        h = mac.replace(":", "")
        return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"
    return mac


# ============================================================================ filters
def has_ether(ifc: dict) -> bool:
    return bool(ifc.get("mac")) and ifc.get("kind") != "lo"


def matches(ifc: dict, inv) -> bool:
    """match_iface(): -u/-d, -g/-G and the address-family filter."""
    up = ifc["flags"] & IFF_UP
    if (inv.uponly and not up) or (inv.downonly and up):
        return False
    groups = ifc.get("groups", [])
    if inv.matchgroup is not None and inv.matchgroup not in groups + ["all"]:
        return False
    if inv.nogroup is not None and inv.nogroup in groups + ["all"]:
        return False
    if inv.af is None:
        return True
    if inv.af == "ether":
        return has_ether(ifc)
    if inv.af == "link":
        return bool(ifc.get("mac"))
    return any(a["af"] == inv.af for a in ifc["addrs"])


def names_line(ifaces: list[dict], inv) -> str:
    return " ".join(i["name"] for i in ifaces if matches(i, inv)) + "\n"


# ============================================================================ text
def block(ifc: dict, inv) -> str:
    """One interface's status block (status_nl in FreeBSD 14's ifconfig_netlink.c)."""
    fmt = inv.formats
    allfamilies = inv.af is None
    flags = ifc["flags"]
    out = [f"{ifc['name']}: flags={flags:x}{bits(flags, IFF_NAMES)} metric {ifc['metric']} "
           f"mtu {ifc['mtu']}"]
    if ifc.get("description"):
        out.append(f"\tdescription: {ifc['description']}")
    if ifc.get("caps"):
        out.append(f"\toptions={ifc['caps']:x}{bits(ifc['caps'], CAP_TABLE)}")
    params = ifc.get("params") or {}
    if params.get("tunnelsrc"):         # tunnel_status: gif(4)'s outer addresses
        family = "inet6" if ":" in params["tunnelsrc"] else "inet"     # in6_status_tunnel
        out.append(f"\ttunnel {family} {params['tunnelsrc']} --> {params['tunneldst']}")
    if (allfamilies or inv.af in ("link", "ether")) and ifc.get("mac"):
        out.append(f"\tether {ether_text(ifc['mac'], fmt.get('ether'))}")
        if ifc.get("hwaddr") and ifc["hwaddr"] != ifc["mac"]:
            out.append(f"\thwaddr {ether_text(ifc['hwaddr'], fmt.get('ether'))}")
    # 14.x (netlink): every inet before every inet6, each family in kernel order
    for family in ("inet", "inet6"):
        if not allfamilies and inv.af != family:
            continue
        for a in ifc["addrs"]:
            if a["af"] == family:
                out.append(inet_line(a, flags, fmt) if family == "inet"
                           else inet6_line(a, flags, fmt, inv.lifetimes))
    if allfamilies:
        out += other_status(ifc, inv.verbose)
    elif inv.af == "inet6":
        out += nd6_lines(ifc)           # af_inet6's other-status is the nd6 line
    status = ifc.get("drv_status") or ""
    out += [line if line.startswith("\t") else "\t" + line
            for line in status.splitlines() if line]
    return "\n".join(out) + "\n"


def inet_line(a: dict, flags: int, fmt: dict) -> str:
    plen = a["plen"]
    text = f"\tinet {a['addr']}"
    style = fmt.get("inet")
    if style == "cidr":
        text += f"/{plen}"
    if flags & IFF_POINTOPOINT and a.get("dstaddr"):
        text += f" --> {a['dstaddr']}"
    if style == "dotted":
        text += f" netmask {mask4_dotted(plen)}"
    elif style != "cidr":
        text += f" netmask {mask4_hex(plen)}"
    if flags & IFF_BROADCAST and plen != 0 and a.get("broadcast"):
        text += f" broadcast {a['broadcast']}"
    return text


def inet6_line(a: dict, flags: int, fmt: dict, lifetimes: bool) -> str:
    text = f"\tinet6 {a['addr']}"
    if flags & IFF_POINTOPOINT and a.get("dstaddr"):
        text += f" --> {a['dstaddr']}"
    if fmt.get("inet6") == "cidr":
        text += f"/{a['plen']}"
    else:
        text += f" prefixlen {a['plen']}"
    text += "".join(f" {word}" for bit, word in IN6_IFF_WORDS if a["flags"] & bit)
    if a.get("scopeid"):
        text += f" scopeid 0x{a['scopeid']:x}"
    if lifetimes and (a.get("pltime") or a.get("vltime")):
        # -L: only addresses with a finite lifetime (0 is infinite in the stack)
        text += f" pltime {_lifetime(a.get('pltime'))} vltime {_lifetime(a.get('vltime'))}"
    return text


def _lifetime(value) -> str:
    return "infty" if not value else str(value)


def other_status(ifc: dict, verbose: bool = False) -> list[str]:
    """af_other_status lines in FreeBSD's order: groups, driver lines (vxlan), media and
    status, nd6 options."""
    out = bridge_lines(ifc) + lagg_lines(ifc, verbose)     # (one or the other)
    if ifc.get("groups"):
        out.append("\tgroups: " + " ".join(ifc["groups"]))
    out += vxlan_lines(ifc, verbose)
    out += vlan_lines(ifc)
    media = ifc.get("media")
    if media:
        current, active = media
        text = f"\tmedia: Ethernet {current}"
        if active and active != current:
            text += f" ({active})"
        out.append(text)
        # the driver's media status: vxlan_media_status (if_vxlan.c) always says
        # "IFM_ACTIVE | IFM_AVALID", whatever its link state
        active = ifc.get("link_state") == LINK_STATE_UP or ifc.get("kind") == "vxlan"
        lagg = ifc.get("lagg")
        if lagg and not lagg.get("laggdev"):
            # lagg_media_status: active while any port is up with link, whatever the proto
            active = lagg["media_active"]
        out.append("\tstatus: " + ("active" if active else "no carrier"))
    out += nd6_lines(ifc)
    return out


# LAGG_PORT_BITS, LAGG_OPT_BITS, LACP_STATE_BITS
LAGG_PORT_TABLE = [(0x01, "MASTER"), (0x02, "STACK"), (0x04, "ACTIVE"), (0x08, "COLLECTING"),
                   (0x10, "DISTRIBUTING"), (0x20, "DISABLED")]
LAGG_OPT_TABLE = [(0x01, "USE_FLOWID"), (0x04, "USE_NUMA"), (0x10, "LACP_STRICT"),
                  (0x20, "LACP_TXTEST"), (0x40, "LACP_RXTEST"), (0x80, "LACP_FAST_TIMO")]
LACP_STATE_TABLE = [(0x01, "ACTIVITY"), (0x02, "TIMEOUT"), (0x04, "AGGREGATION"),
                    (0x08, "SYNC"), (0x10, "COLLECTING"), (0x20, "DISTRIBUTING"),
                    (0x40, "DEFAULTED"), (0x80, "EXPIRED")]
_NO_LACP = {"actor": [0, "000000000000", 0, 0, 0, 0], "partner": [0, "000000000000", 0, 0, 0, 0]}


def lagg_lines(ifc: dict, verbose: bool = False) -> list[str]:
    """iflagg.c's lagg_status for a lagg: `laggproto P lagghash l2,l3,l4`; with -v its
    options, statistics and (lacp) LAG id; then one `laggport: IF flags=N<...>` per port
    (printb prints `<>` for no flags), with -v on a lacp lagg the port's actor state and
    its actor and partner.  A port prints nothing: SIOCGLAGG on it is not the lagg's."""
    info = ifc.get("lagg")
    if not info or info.get("laggdev"):
        return []
    hashes = ",".join(n for bit, n in ((1, "l2"), (2, "l3"), (4, "l4")) if info["hash"] & bit)
    out = [f"\tlaggproto {info['proto']}" + (f" lagghash {hashes}" if hashes else "")]
    lacp = info["proto"] == "lacp"
    if verbose:
        opts = info["opts"]
        out += ["\tlagg options:", f"\t\tflags={opts:x}{bits(opts, LAGG_OPT_TABLE) or '<>'}",
                f"\t\tflowid_shift: {info['flowid_shift']}"]
        if info["proto"] == "roundrobin":
            out.append(f"\t\trr_limit: {info.get('rr_limit', 0)}")
        out += ["\tlagg statistics:", f"\t\tactive ports: {info['active']}",
                f"\t\tflapping: {info['flapping']}"]
        if lacp:
            out += f"\tlag id: {_lacp_peer(info.get('lacp') or _NO_LACP)}".split("\n")
    for port in info["ports"]:
        flags = port["flags"]
        line = f"\tlaggport: {port['name']} flags={flags:x}{bits(flags, LAGG_PORT_TABLE) or '<>'}"
        req = port.get("lacp") or _NO_LACP
        if verbose and lacp:
            state = req["actor"][5]
            line += f" state={state:x}{bits(state, LACP_STATE_TABLE) or '<>'}"
        out.append(line)
        if verbose and lacp:
            out += f"\t\t{_lacp_peer(req)}".split("\n")
    return out


def _lacp_peer(req: dict) -> str:
    """lacp_format_peer(req, "\\n\\t\\t "): [(prio,MAC,key,portprio,portno),
    (the partner's)], hex in capitals, the MAC dashed."""
    def one(half):
        prio, mac, key, pprio, pno = half[:5]
        dashed = "-".join(mac[i:i + 2] for i in range(0, 12, 2)).upper()
        return f"({prio:04X},{dashed},{key:04X},{pprio:04X},{pno:04X})"
    return f"[{one(req['actor'])},\n\t\t {one(req['partner'])}]"


def nd6_lines(ifc: dict) -> list[str]:
    nd6 = ifc.get("nd6") or 0
    return [f"\tnd6 options={nd6:x}{bits(nd6, ND6_NAMES)}"] if nd6 else []


def vlan_lines(ifc: dict) -> list[str]:
    """ifvlan.c's vlan_status: tag, protocol (its TPID in hex when unconfigured, 0), PCP
    and parent."""
    if ifc.get("kind") != "vlan":
        return []
    p = ifc.get("params") or {}
    proto = p.get("vlanproto") or "0x0000"
    return [f"\tvlan: {p.get('vlan', 0)} vlanproto: {proto} vlanpcp: {p.get('vlanpcp', 0)} "
            f"parent interface: {p.get('vlandev') or '<none>'}"]


# if_bridgevar.h's IFBIFBITS, in its order (printb prints names in the string's order)
IFBIF_TABLE = [(0x1, "LEARNING"), (0x2, "DISCOVER"), (0x4, "STP"), (0x8, "SPAN"),
               (0x10, "STICKY"), (0x800, "PRIVATE"), (0x20, "EDGE"), (0x40, "AUTOEDGE"),
               (0x80, "PTP"), (0x100, "AUTOPTP")]


def bridge_lines(ifc: dict) -> list[str]:
    """ifbridge.c's bridge_status: the spanning-tree parameters (the defaults: the stack's
    bridge runs no STP, so the bridge and root ids stay zero) and each member, newest
    first, with its flags and port line."""
    info = ifc.get("bridge")
    if info is None:
        return []
    out = ["\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15",
           "\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200",
           "\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0"]
    for m in info["members"]:
        out.append(f"\tmember: {m['name']} flags={m['flags']:x}"
                   f"{bits(m['flags'], IFBIF_TABLE) or '<>'}")
        out.append(f"\t        ifmaxaddr {m['ifmaxaddr']} port {m['port']} "
                   f"priority {m['priority']} path cost {m['path_cost']}")
    return out


def vxlan_lines(ifc: dict, verbose: bool = False) -> list[str]:
    """ifvxlan.c's status: nothing until a VNI is set.  An endpoint never given has an
    empty sockaddr in the kernel, which getnameinfo refuses: ifvxlan.c then prints an
    empty address and port (`local :`).  IPv6 endpoints are bracketed."""
    if ifc.get("kind") != "vxlan":
        return []
    info = vxlan_info(ifc)
    if info is None:
        return []

    def ep(addr, port):
        if addr is None:
            return ":"
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    word = "group" if info["multicast"] else "remote"
    text = (f"\tvxlan vni {info['vni']} local {ep(info['local'], info['localport'])} "
            f"{word} {ep(info['remote'], info['remoteport'])}")
    if verbose:
        # -v: the kernel's defaults (learning on, ephemeral port range, IPDEFTTL, a
        # 2000-entry forwarding table aged after 1200 s) unless set at creation
        low, high = info["portrange"]
        text += (f"\n\t\tconfig: {'' if info['learn'] else 'no'}learning portrange "
                 f"{low}-{high} ttl {info['ttl']}"
                 f"\n\t\tftable: cnt 0 max {info['maxaddr']} timeout {info['timeout']}")
    return [text]


def vxlan_info(ifc: dict) -> dict | None:
    p = ifc.get("params") or {}
    if p.get("vxlanid") is None:
        return None
    remote = p.get("vxlanremote")
    local = p.get("vxlanlocal")
    if remote is None:
        multicast = False
    elif ":" in remote:
        multicast = remote.lower().startswith("ff")
    else:
        multicast = int(remote.split(".")[0]) >> 4 == 0xE
    return {"vni": int(p["vxlanid"]), "local": local,
            "localport": int(p.get("vxlanlocalport", VXLAN_PORT)) if local else None,
            "remote": remote,
            "remoteport": int(p.get("vxlanremoteport", VXLAN_PORT)) if remote else None,
            "multicast": multicast, "learn": bool(p.get("vxlanlearn", True)),
            "portrange": list(p.get("vxlanportrange", (10000, 65535))),
            "ttl": int(p.get("vxlanttl", 64)), "maxaddr": int(p.get("vxlanmaxaddr", 2000)),
            "timeout": int(p.get("vxlantimeout", 1200))}


def listing(ifaces: list[dict], inv) -> str:
    return "".join(block(i, inv) for i in ifaces if matches(i, inv))


# ============================================================================ json
def json_interface(ifc: dict, inv) -> dict:
    """The same facts as the text block, as a map (schema in README.md)."""
    allfamilies = inv.af is None
    flags = ifc["flags"]
    doc = {
        "name": ifc["name"], "index": ifc["index"],
        "flags": flags, "flags_names": _names(flags, IFF_NAMES),
        "metric": ifc["metric"], "mtu": ifc["mtu"],
    }
    if ifc.get("description"):
        doc["description"] = ifc["description"]
    if ifc.get("caps"):
        doc["options"] = ifc["caps"]
        doc["options_names"] = _names(ifc["caps"], CAP_TABLE)
    if (allfamilies or inv.af in ("link", "ether")) and ifc.get("mac"):
        doc["ether"] = ifc["mac"]
        if ifc.get("hwaddr") and ifc["hwaddr"] != ifc["mac"]:
            doc["hwaddr"] = ifc["hwaddr"]
    for family in ("inet", "inet6"):
        if not allfamilies and inv.af != family:
            continue
        rows = []
        for a in ifc["addrs"]:
            if a["af"] != family:
                continue
            row = {"address": a["addr"], "prefixlen": a["plen"]}
            if family == "inet":
                row["netmask"] = mask4_hex(a["plen"])
                if flags & IFF_BROADCAST and a["plen"] and a.get("broadcast"):
                    row["broadcast"] = a["broadcast"]
            else:
                row["flags"] = [w for bit, w in IN6_IFF_WORDS if a["flags"] & bit]
                if a.get("scopeid"):
                    row["scopeid"] = a["scopeid"]
            if flags & IFF_POINTOPOINT and a.get("dstaddr"):
                row["destination"] = a["dstaddr"]
            rows.append(row)
        if rows:
            doc[family] = rows
    if allfamilies:
        if ifc.get("groups"):
            doc["groups"] = list(ifc["groups"])
        if ifc.get("bridge") is not None:
            doc["bridge"] = {"members": ifc["bridge"]["members"]}
        if ifc.get("kind") == "vlan":
            p = ifc.get("params") or {}
            doc["vlan"] = {"tag": p.get("vlan", 0), "proto": p.get("vlanproto"),
                           "pcp": p.get("vlanpcp", 0), "parent": p.get("vlandev")}
        if ifc.get("kind") == "vxlan" and vxlan_info(ifc):
            info = vxlan_info(ifc)
            doc["vxlan"] = info
        if ifc.get("media"):
            current, active = ifc["media"]
            doc["media"] = {"type": "Ethernet", "current": current}
            if active and active != current:
                doc["media"]["active"] = active
            doc["status"] = "active" if ifc.get("link_state") == LINK_STATE_UP \
                else "no carrier"
    if (allfamilies or inv.af == "inet6") and ifc.get("nd6"):
        doc["nd6_options"] = ifc["nd6"]
        doc["nd6_options_names"] = _names(ifc["nd6"], ND6_NAMES)
    if ifc.get("drv_status"):
        doc["driver_status"] = ifc["drv_status"].strip()
    return doc


def _names(value: int, table) -> list[str]:
    text = bits(value, table)
    return text[1:-1].split(",") if text else []
