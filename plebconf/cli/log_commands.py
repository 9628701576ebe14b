"""The FreeBSD command lines an audited change corresponds to (`plebconf log`).

The stack audits what it was asked to do: control ops (ioctl, rtmsg, llmsg, sysctl) and
batches of them.  This module says each one back as the command that asks for it, in
FreeBSD's syntax: `route add -net 10.1.0.0/16 10.0.0.1`, `ifconfig vnet0 inet 10.0.0.2/24
up`, `arp -s 10.0.0.7 02:00:00:00:00:07`, `sysctl net.inet.ip.forwarding=1`.  A batch's
consecutive ioctls on one interface make one ifconfig command, as ifconfig sends them.
Ops no tool sends (a hand-made request) are said as `op SUBREQUEST`.
"""
from __future__ import annotations

import shlex

from plebproto.constants import (
    IFF_ALLMULTI, IFF_DEBUG, IFF_LINK0, IFF_LINK1, IFF_LINK2, IFF_MONITOR, IFF_NOARP,
    IFF_PPROMISC, IFF_STATICARP, IFF_STICKYARP, IFF_UP, IN6_IFF_ANYCAST, IN6_IFF_AUTOCONF,
    IN6_IFF_DEPRECATED, IN6_IFF_PREFER_SOURCE, IN6_IFF_TENTATIVE, ND6_IFF_ACCEPT_RTADV,
    ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED, ND6_IFF_NO_DAD, ND6_IFF_NO_PREFER_IFACE,
    ND6_IFF_NO_RADR, ND6_IFF_PERFORMNUD, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_PROTO1, RTF_PROTO3,
    RTF_REJECT, RTF_STATIC, RTF_STICKY,
)
from plebproto.protocol import run_count

# ifconfig's flag keywords: bit -> (word when set, word when cleared)
_FLAGS = {IFF_UP: ("up", "down"), IFF_DEBUG: ("debug", "-debug"),
          IFF_PPROMISC: ("promisc", "-promisc"), IFF_ALLMULTI: ("allmulti", "-allmulti"),
          IFF_LINK0: ("link0", "-link0"), IFF_LINK1: ("link1", "-link1"),
          IFF_LINK2: ("link2", "-link2"), IFF_MONITOR: ("monitor", "-monitor"),
          IFF_STATICARP: ("staticarp", "-staticarp"), IFF_STICKYARP: ("stickyarp", "-stickyarp"),
          IFF_NOARP: ("-arp", "arp")}
_CAPS = {0x1: "rxcsum", 0x2: "txcsum", 0x4: "netcons", 0x8: "vlanmtu", 0x10: "vlanhwtag",
         0x40: "polling", 0x80: "vlanhwcsum", 0x300: "tso", 0x100: "tso4", 0x200: "tso6",
         0x400: "lro", 0x800: "wol_ucast", 0x1000: "wol_mcast", 0x2000: "wol_magic",
         0xC000: "toe", 0x10000: "vlanhwfilter", 0x40000: "vlanhwtso", 0x100000: "netmap",
         0x200000: "rxcsum6", 0x400000: "txcsum6", 0x1000000: "txrtlmt",
         0x2000000: "hwrxtstmp", 0x4000000: "mextpg", 0x18000000: "txtls",
         0x20000000: "vxlanhwcsum", 0x40000000: "vxlanhwtso"}
_ND6 = {ND6_IFF_PERFORMNUD: "nud", ND6_IFF_ACCEPT_RTADV: "accept_rtadv",
        ND6_IFF_IFDISABLED: "ifdisabled", ND6_IFF_AUTO_LINKLOCAL: "auto_linklocal",
        ND6_IFF_NO_RADR: "no_radr", ND6_IFF_NO_PREFER_IFACE: "no_prefer_iface",
        ND6_IFF_NO_DAD: "no_dad"}
_IN6_FLAGS = {IN6_IFF_ANYCAST: "anycast", IN6_IFF_TENTATIVE: "tentative",
              IN6_IFF_DEPRECATED: "deprecated", IN6_IFF_AUTOCONF: "autoconf",
              IN6_IFF_PREFER_SOURCE: "prefer_source"}
# route(8) flag modifiers
_RTF_WORDS = ((RTF_REJECT, "-reject"), (RTF_BLACKHOLE, "-blackhole"), (RTF_PROTO1, "-proto1"),
              (RTF_ANNOUNCE, "-proto2"), (RTF_PROTO3, "-proto3"), (RTF_STICKY, "-sticky"))
# the stats sets netstat -z zeroes, by sysctl
_STATS = {"net.inet.ip.stats": "ip", "net.inet.icmp.stats": "icmp",
          "net.inet.udp.stats": "udp", "net.link.ether.arp.stats": "arp"}
BATCH_SHOWN = 3         # commands said of a batch before "... and N more"


def _q(text) -> str:
    return shlex.quote(str(text))


def _bits(value, table: dict) -> list[str]:
    """The words of the table whose bits value covers, widest first."""
    words, left = [], value
    for bit, word in sorted(table.items(), key=lambda kv: -bin(kv[0]).count("1")):
        if left & bit == bit:
            words.append(word)
            left &= ~bit
    return words


def _flag_words(args: dict, table: dict, minus: bool) -> list[str]:
    words = []
    for key, setting in (("set", True), ("clear", False)):
        value = args.get(key) or 0
        if not isinstance(value, int):
            continue
        if table is _FLAGS:
            words += [_FLAGS[b][0 if setting else 1] for b in _FLAGS if value & b]
        else:
            words += [w if setting else "-" + w for w in _bits(value, table)]
    return words


def ifconfig_words(args: dict, tolerated: list | None, following: dict | None) -> list[str]:
    """The ifconfig words of one ioctl (after the interface name)."""
    req = args.get("req")
    if req == "SIOCSIFFLAGS":
        return _flag_words(args, _FLAGS, False)
    if req == "SIOCSIFCAP":
        return _flag_words(args, _CAPS, True)
    if req == "SIOCSIFINFO_IN6":
        return ["inet6"] + _flag_words(args, _ND6, True)
    if req == "SIOCSIFMTU":
        return ["mtu", str(args.get("mtu"))]
    if req == "SIOCSIFMETRIC":
        return ["metric", str(args.get("metric"))]
    if req == "SIOCSIFDESCR":
        descr = args.get("descr") or ""
        return ["description", _q(descr)] if descr else ["-description"]
    if req == "SIOCSIFNAME":
        return ["name", str(args.get("newname"))]
    if req == "SIOCSIFLLADDR":
        return ["ether", str(args.get("lladdr"))]
    if req == "SIOCIFDESTROY":
        return ["destroy"]
    if req == "SIOCAIFGROUP":
        return ["group", str(args.get("group"))]
    if req == "SIOCDIFGROUP":
        return ["-group", str(args.get("group"))]
    if req == "SIOCSDRVSPEC":
        value = args.get("value")
        if isinstance(value, list):
            return [str(args.get("param"))] + [str(v) for v in value]
        if isinstance(value, bool):
            return [str(args.get("param")) if value else "-" + str(args.get("param"))]
        return [str(args.get("param")), str(value)]
    if req == "SIOCIFCREATE2":
        words = []
        for key, value in (args.get("params") or {}).items():
            if isinstance(value, bool):
                words.append(key if value else "-" + key)
            elif isinstance(value, list):
                words += [key] + [str(v) for v in value]
            else:
                words += [key, str(value)]
        return ["create"] + words
    if req == "SIOCDIFADDR":
        if tolerated and following is not None and following.get("req") == "SIOCAIFADDR":
            return []           # ifconfig IF inet A: the first address replaced, said below
        return ["inet", str(args.get("addr")), "-alias"] if args.get("addr") else \
            ["inet", "-alias"]
    if req == "SIOCAIFADDR":
        words = ["inet", f"{args.get('addr')}/{args.get('plen')}"]
        if args.get("broadcast"):
            words += ["broadcast", str(args["broadcast"])]
        if args.get("dstaddr"):
            words.append(str(args["dstaddr"]))
        if not args.get("_replaces"):
            words.append("alias")
        return words
    if req == "SIOCDIFADDR_IN6":
        if tolerated and following is not None and following.get("req") == "SIOCAIFADDR_IN6":
            return []
        return ["inet6", str(args.get("addr")), "-alias"]
    if req == "SIOCAIFADDR_IN6":
        words = ["inet6", f"{args.get('addr')}/{args.get('plen')}"]
        if args.get("eui64"):
            words.append("eui64")
        words += _bits(args.get("flags") or 0, _IN6_FLAGS)
        for key in ("pltime", "vltime"):
            if args.get(key) is not None:
                words += [key, str(args[key])]
        if args.get("dstaddr"):
            words.append(str(args["dstaddr"]))
        if not args.get("_replaces"):
            words.append("alias")
        return words
    return [f"ioctl {req}"]


def route_command(args: dict) -> str:
    kind = str(args.get("type", "")).removeprefix("RTM_").lower()
    words = ["route", kind]
    af = args.get("af", "inet")
    if af == "inet6":
        words.append("-inet6")
    dst, plen = args.get("dst"), args.get("plen")
    full = 128 if af == "inet6" else 32
    if plen == 0 and dst in ("0.0.0.0", "::"):
        words.append("default")
    elif plen is None or plen == full:
        words += ["-host", str(dst)]
    else:
        words += ["-net", f"{dst}/{plen}"]
    if args.get("gateway") is not None:
        if args.get("iface"):
            words += ["-interface", str(args["gateway"])]
        else:
            words.append(str(args["gateway"]))
    flags = args.get("flags")
    if isinstance(flags, int):
        words += [w for bit, w in _RTF_WORDS if flags & bit]
        if kind == "add" and not flags & RTF_STATIC:
            words.append("-nostatic")
    if args.get("ifp"):
        words += ["-ifp", str(args["ifp"])]
    for metric in ("mtu", "hopcount", "expire", "weight"):
        if args.get(metric) is not None:
            words += ["-" + metric, str(args[metric])]
    return " ".join(words)


def neighbour_command(args: dict) -> str:
    tool = "ndp" if args.get("af") == "inet6" else "arp"
    kind = args.get("type")
    if kind == "RTM_DELETE":
        return f"{tool} -d {args.get('addr')}"
    if kind == "RTM_ADD":
        words = [tool, "-s", str(args.get("addr")), str(args.get("mac"))]
        if args.get("temp"):
            words.append("temp")
        if isinstance(args.get("flags"), int) and args["flags"] & RTF_ANNOUNCE:
            words.append("pub")
        return " ".join(words)
    return f"llmsg {kind}"


def sysctl_command(args: dict) -> str:
    name = args.get("name")
    if name in _STATS:
        return f"netstat -s -z -p {_STATS[name]}"      # fetch_stats writes the zeroed set
    return f"sysctl {name}={args.get('value')}"


def op_command(op, args) -> str | None:
    """One op's command, or None for an ioctl (said by ifconfig, grouped by commands())."""
    if not isinstance(args, dict):
        return str(op)
    if op == "rtmsg":
        return route_command(args)
    if op == "llmsg":
        return neighbour_command(args)
    if op == "sysctl":
        return sysctl_command(args)
    if op == "ioctl":
        return None
    sub = args.get("req") or args.get("type") or args.get("name")
    return f"{op} {sub}" if isinstance(sub, str) else str(op)


def commands(op, args) -> list[str]:
    """The command lines of an audited change, in order."""
    if op != "batch":
        entries = [[op, args]]
    elif isinstance(args, dict) and isinstance(args.get("ops"), list):
        entries = args["ops"]
    elif isinstance(args, dict) and type(args.get("ops")) is int:
        # a refused batch too large to keep: the stack kept a summary with its op count
        return [f"batch ({args['ops']} ops)"]
    else:
        return ["batch"]
    out: list[str] = []
    # the ifconfig command being built: (the interface's name now, as named on the command
    # line, its words); `name NEW` renames it for the ioctls after
    ifconfig: tuple[str, str, list[str]] | None = None
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):     # a run of one op over many rows (route add ...)
            count = run_count(entry)
            base = entry.get("args") if isinstance(entry.get("args"), dict) else {}
            kind = str(base.get("type", "")).removeprefix("RTM_").lower()
            out.append(f"route {kind} ... ({count} routes)" if entry.get("op") == "rtmsg"
                       else f"{entry.get('op')} ... ({count} ops)")
            ifconfig = None
            continue
        if not isinstance(entry, list) or len(entry) < 2:
            out.append(str(entry))
            continue
        eop, eargs = entry[0], entry[1]
        tolerated = entry[2] if len(entry) > 2 else None
        said = op_command(eop, eargs)
        if said is not None:
            out.append(said)
            ifconfig = None
            continue
        following = None
        if i + 1 < len(entries) and isinstance(entries[i + 1], list) \
                and len(entries[i + 1]) > 1 and isinstance(entries[i + 1][1], dict):
            following = entries[i + 1][1]
        if eargs.get("req") in ("SIOCAIFADDR", "SIOCAIFADDR_IN6") and i > 0:
            before = entries[i - 1]
            if isinstance(before, list) and len(before) > 2 and isinstance(before[1], dict) \
                    and before[1].get("req") in ("SIOCDIFADDR", "SIOCDIFADDR_IN6"):
                eargs = dict(eargs, _replaces=True)
        ifname = str(eargs.get("ifname"))
        words = ifconfig_words(eargs, tolerated, following)
        if eargs.get("req") == "SIOCIFCREATE2" or ifconfig is None or ifconfig[0] != ifname:
            out.append("")
            ifconfig = (ifname, ifname, [])
        ifconfig[2].extend(words)
        out[-1] = " ".join(["ifconfig", ifconfig[1]] + ifconfig[2])
        if eargs.get("req") == "SIOCSIFNAME":
            ifconfig = (str(eargs.get("newname")), ifconfig[1], ifconfig[2])
    return out


def said(op, args) -> str:
    """One line: the commands, a long batch cut after BATCH_SHOWN of them."""
    lines = commands(op, args)
    if len(lines) > BATCH_SHOWN:
        return "; ".join(lines[:BATCH_SHOWN]) + f"; ... and {len(lines) - BATCH_SHOWN} more"
    return "; ".join(lines)
