"""rc.d/netif start (network.subr): interface creation, renaming and configuration.

    netif_start(ctx, ifaces, created_as)   # ifaces: live `ifconfig -l` list, updated for
                                           # clones/renames; created_as: live name -> the
                                           # name it was created with (renamed ones)

Order (docs/freebsd-tools.md §5.8): clone_up, ifnet_rename, then ifn_start for each interface of
list_net_interfaces (lo0 first): ifconfig_up (IPv6 pre-flags, ifconfig_IF,
ifconfig_IF_ipv6, link/ether aliases, description, `up`), ipv4_up (lo0's
127.0.0.1, inet aliases), ipv6_up (inet6 aliases, ipv6_prefix_IF), childif_create
(vlans_IF, each child configured right after its creation).

rtsol's part of `ifconfig_IF_ipv6="inet6 accept_rtadv"` is the stack's: an interface that
accepts RAs sends its Router Solicitations when it comes up (dataplane/rtadv.py).
rtadvd_start is rc.d/rtadvd: rtadvd_enable / rtadvd_interfaces name the interfaces the stack
advertises on (its sysctl net.inet6.rtadvd.interfaces).
DHCP: `dhclient IF` (SYNCDHCP, synchronous_dhclient) or `dhclient -b IF` (DHCP: devd starts it
without rc waiting) after the interface is up; the stack runs the client (dataplane/dhcp.py).

Not supported (warned, otherwise ignored like a failed daemon start would be):
WPA/HOSTAP (wireless: unmodelled.py), /etc/start_if.IF; wlans_IF and gif_interfaces are
unmodelled.py's.
"""

from __future__ import annotations

import re

from .ifalias import alias_steps, has_aliases
from .unmodelled import WIRELESS
from .parser import Value
from .context import Context, builtin, ifs_split, sanitize_ifname

# Pseudo-arguments removed from ifconfig_IF before eval (network.subr ifconfig_getargs).
PSEUDO_ARGS = frozenset({"dhcp", "syncdhcp", "nosyncdhcp", "noauto", "wpa", "hostap"})
DHCP_ARGS = frozenset({"dhcp", "syncdhcp", "nosyncdhcp"})
# Pseudo-arguments that start a daemon on FreeBSD: the stack has none of them.
WIRELESS_ARGS = {"wpa": "WPA", "hostap": "HOSTAP"}     # wpa_supplicant / hostapd
# Interfaces that never get address families (network.subr noafif).
NOAF_PREFIXES = ("pflog", "pfsync", "usbus", "an", "ath", "ipw", "ipfw", "iwi", "iwn",
                 "ral", "wi", "wl", "wpi")
# Interfaces dhclient is never run on (network.subr dhcpif).
NODHCP_PREFIXES = ("lo", "stf", "lp", "sl")


def _unit_of(ifn: str, prefixes: tuple[str, ...]) -> bool:
    """ifn is PREFIX[0-9]* for one of the prefixes (sh case pattern semantics)."""
    return any(re.fullmatch(re.escape(p) + r"[0-9].*", ifn, re.S) for p in prefixes)


def noafif(ifn: str) -> bool:
    return _unit_of(ifn, NOAF_PREFIXES)


def raw_args(ctx: Context, ifn: str, suffix: str = "") -> Value | None:
    """_ifconfig_getargs: ifconfig_IF[_suffix], ifconfig_DEFAULT when that is unset."""
    return ctx.if_var(ifn, f"ifconfig_IF{suffix}", default=ctx.get("ifconfig_DEFAULT"))


def strip_pseudo(text: str) -> str:
    """ifconfig_getargs: drop DHCP/NOAUTO/WPA/... (any case) and `vnet JAIL`; the
    words are rejoined with single blanks, as `echo $_args` does before the eval."""
    out: list[str] = []
    words = iter(ifs_split(text))
    for w in words:
        if w.lower() in PSEUDO_ARGS:
            continue
        if w == "vnet":
            next(words, None)
            continue
        out.append(w)
    return " ".join(out)


def _has_arg(value: Value | None, args: frozenset[str]) -> bool:
    return value is not None and any(w.lower() in args for w in ifs_split(value.text))


def autoif(ctx: Context, ifn: str) -> bool:
    return not _has_arg(raw_args(ctx, ifn), frozenset({"noauto"}))


def dhcpif(ctx: Context, ifn: str) -> bool:
    if _unit_of(ifn, NODHCP_PREFIXES) or noafif(ifn):
        return False
    return _has_arg(raw_args(ctx, ifn), DHCP_ARGS)


def ipv6if(ctx: Context, ifn: str) -> bool:
    """network.subr ipv6if: lo0 always; others only with ifconfig_IF_ipv6, ipv6_prefix_IF
    or ipv6_ifconfig_IF set, and listed in ipv6_network_interfaces (default auto)."""
    if ifn == "lo0":
        return True
    listed = ifs_split(ctx.text("ipv6_network_interfaces"))
    if not (ifn in listed or ctx.text("ipv6_network_interfaces").lower() == "auto"):
        return False
    for v in (raw_args(ctx, ifn, "_ipv6"), ctx.if_var(ifn, "ipv6_prefix_IF"),
              ctx.if_var(ifn, "ipv6_ifconfig_IF")):
        if v is not None and v.text:
            return True
    return False


def _clone_name(entry: str) -> str:
    return entry.split(":", 1)[0]  # "tap0:sticky" -> "tap0"


# --- netif start --------------------------------------------------------------------------

def netif_start(ctx: Context, ifaces: list[str], created_as=None) -> None:
    clone_up(ctx, ifaces, created_as or {})
    ifnet_rename(ctx, ifaces)
    for ifn in list_net_interfaces(ctx, ifaces):
        ifn_start(ctx, ifn, ifaces)


def clone_up(ctx: Context, ifaces: list[str], created_as=None) -> None:
    """cloned_interfaces: `ifconfig NAME create $create_args_NAME`, unless NAME exists, or
    the interface created as NAME is there under the name ifconfig_NAME_name gives it
    (applying the file again: ifnet_rename then has nothing to rename)."""
    origin = ctx.origin("cloned_interfaces")
    renamed = {made: now for now, made in (created_as or {}).items() if made != now}

    def present(name: str) -> bool:
        if name in ifaces:
            return True
        v = ctx.if_var(name, "ifconfig_IF_name")
        return v is not None and renamed.get(name) == v.text and v.text in ifaces

    for entry in ifs_split(origin.text):
        ifn = _clone_name(entry)
        args = ctx.if_var(ifn, "create_args_IF")
        argv = ["ifconfig", ifn, "create", *ifs_split(args.text if args else "")]
        if re.fullmatch(r"epair[0-9].*", ifn):  # created as epairN, used as epairNa/b
            if present(f"{ifn}a") or present(f"{ifn}b"):
                continue
            ctx.emit(argv, origin)
            ifaces += [f"{ifn}a", f"{ifn}b"]
        elif present(ifn):
            continue
        else:
            ctx.emit(argv, origin)
            ifaces.append(ifn)


def ifnet_rename(ctx: Context, ifaces: list[str]) -> None:
    """ifconfig_IF_name: `ifconfig IF name NEW`, before any configuration."""
    for i, ifn in enumerate(list(ifaces)):
        v = ctx.if_var(ifn, "ifconfig_IF_name")
        if v is not None and v.text:
            ctx.emit(["ifconfig", ifn, "name", v.text], v)
            ifaces[i] = v.text


def list_net_interfaces(ctx: Context, ifaces: list[str]) -> list[str]:
    listed = ctx.text("network_interfaces")
    if listed.lower() == "auto":
        auto = [ifn for ifn in ifaces if autoif(ctx, ifn)]
        return (["lo0"] if "lo0" in auto else []) + [ifn for ifn in auto if ifn != "lo0"]
    names: list[str] = []
    for entry in ifs_split(listed) + ifs_split(ctx.text("cloned_interfaces")):
        ifn = _clone_name(entry)
        names += [f"{ifn}a", f"{ifn}b"] if re.fullmatch(r"epair[0-9].*", ifn) else [ifn]
    return names if "lo0" in names else ["lo0"] + names


def ifn_start(ctx: Context, ifn: str, ifaces: list[str]) -> None:
    ifconfig_up(ctx, ifn)
    if not noafif(ifn):
        ipv4_up(ctx, ifn)
        ipv6_up(ctx, ifn)
    childif_create(ctx, ifn, ifaces)


def ifconfig_up(ctx: Context, ifn: str) -> None:
    # The variable that made the interface "configured" (-> `ifconfig IF up`).
    configured: Value | None = builtin("ifconfig_lo0") if ifn == "lo0" else None
    inet6 = not noafif(ifn)

    if inet6:
        opts: list[str] = []
        origin = None
        if ctx.yes("ipv6_activate_all_interfaces"):
            opts.append("-ifdisabled")
            origin = ctx.origin("ipv6_activate_all_interfaces")
        if ctx.text("ipv6_cpe_wanif") == ifn:
            opts += ["-no_radr", "accept_rtadv"]
            origin = origin or ctx.origin("ipv6_cpe_wanif")
        if opts:
            ctx.emit(["ifconfig", ifn, "inet6", *opts], origin)

    v = raw_args(ctx, ifn)
    if v is not None:
        if not _unit_of(ifn, NODHCP_PREFIXES):
            for word in ifs_split(v.text):
                if word.lower() in WIRELESS_ARGS:
                    ctx.warn(f"{v.file}:{v.line}: {v.name}: {WIRELESS_ARGS[word.lower()]}: "
                             f"{WIRELESS}")
        args = strip_pseudo(v.text)
        if args:
            ctx.emit(["ifconfig", ifn, *ctx.eval_args(v, args)], v)
            configured = configured or v

    if inet6:
        v6 = raw_args(ctx, ifn, "_ipv6")
        args = strip_pseudo(v6.text) if v6 is not None else ""
        if args:
            if re.match(r":|[0-9a-fA-F].*:", args, re.S):  # sh: :*|[0-9a-fA-F]*:*
                ctx.warn(f'$ifconfig_{sanitize_ifname(ifn)}_ipv6 needs leading "inet6" keyword '
                         "for an IPv6 address.")
                args = "inet6 " + args
            ctx.emit(["ifconfig", ifn, "inet6", "-ifdisabled"], v6)
            ctx.emit(["ifconfig", ifn, *ctx.eval_args(v6, args)], v6)
            configured = configured or v6
        prefix = ctx.if_var(ifn, "ipv6_prefix_IF")
        if prefix is not None and prefix.text:
            ctx.emit(["ifconfig", ifn, "inet6", "-ifdisabled"], prefix)
            configured = configured or prefix
        legacy = ctx.if_var(ifn, "ipv6_ifconfig_IF")
        if legacy is not None and legacy.text:
            ctx.warn(f"${legacy.name} is obsolete.  "
                     f"Use ifconfig_{sanitize_ifname(ifn)}_ipv6 instead.")
            ctx.emit(["ifconfig", ifn, "inet6", "-ifdisabled"], legacy)
            ctx.emit(["ifconfig", ifn, "inet6", *ctx.eval_args(legacy)], legacy)
            configured = configured or legacy

    alias_steps(ctx, ifn, "link")
    alias_steps(ctx, ifn, "ether")

    descr = ctx.if_var(ifn, "ifconfig_IF_descr")
    if descr is not None and descr.text:
        ctx.emit(["ifconfig", ifn, "description", descr.text], descr)

    if configured is not None:
        ctx.emit(["ifconfig", ifn, "up"], configured)

    if inet6 and ipv6_autoconfif(ctx, ifn):
        v6 = raw_args(ctx, ifn, "_ipv6") or ctx.if_var(ifn, "ipv6_ifconfig_IF")
        # rtsol(8) runs here in FreeBSD's rc; the stack solicits by itself at up
        ctx.emit(["ifconfig", ifn, "inet6", "accept_rtadv", "up"], v6)
        configured = configured or v6

    if dhcpif(ctx, ifn):
        v = raw_args(ctx, ifn)
        if configured is None:
            ctx.emit(["ifconfig", ifn, "up"], v)
        # SYNCDHCP: rc.d/dhclient runs dhclient, which waits for a lease before it goes to
        # the background; DHCP: devd starts it when the link comes up, rc does not wait
        ctx.emit(["dhclient", ifn] if syncdhcpif(ctx, ifn) else ["dhclient", "-b", ifn], v)


def syncdhcpif(ctx: Context, ifn: str) -> bool:
    """network.subr syncdhcpif: SYNCDHCP, else not NOSYNCDHCP and $synchronous_dhclient."""
    v = raw_args(ctx, ifn)
    if _has_arg(v, frozenset({"syncdhcp"})):
        return True
    if _has_arg(v, frozenset({"nosyncdhcp"})):
        return False
    return ctx.yes("synchronous_dhclient")


def ipv6_autoconfif(ctx: Context, ifn: str) -> bool:
    if _unit_of(ifn, NODHCP_PREFIXES) or noafif(ifn) or not ipv6if(ctx, ifn):
        return False
    if ctx.yes("ipv6_gateway_enable"):
        return False
    prefix = ctx.if_var(ifn, "ipv6_prefix_IF")
    if prefix is not None and prefix.text:
        return False
    return any(_has_arg(v, frozenset({"accept_rtadv"}))
               for v in (raw_args(ctx, ifn, "_ipv6"), ctx.if_var(ifn, "ipv6_ifconfig_IF")))


def ipv4_up(ctx: Context, ifn: str) -> None:
    if ifn == "lo0":
        v = ctx.if_var(ifn, "ifconfig_IF")  # no ifconfig_DEFAULT here
        if v is None or not v.text:
            ctx.emit(["ifconfig", "lo0", "inet", "127.0.0.1/8", "alias"], builtin("ifconfig_lo0"))
    alias_steps(ctx, ifn, "inet")


def ipv6_up(ctx: Context, ifn: str) -> None:
    if not ipv6if(ctx, ifn):
        if has_aliases(ctx, ifn, "inet6"):
            ctx.warn(f"inet6 aliases of {ifn} ignored: IPv6 is enabled on it only by "
                     f"ifconfig_{sanitize_ifname(ifn)}_ipv6 (e.g. \"inet6 -ifdisabled\").")
        return
    alias_steps(ctx, ifn, "inet6")
    prefix = ctx.if_var(ifn, "ipv6_prefix_IF")
    if prefix is None:
        return
    for j in ifs_split(prefix.text):
        j, slash, plen = j.partition("/")
        if not slash:
            plen = "64"
        j = j.rpartition("::")[0] if "::" in j else j  # ${j%::*}
        j = j.removesuffix(":")
        ctx.emit(["ifconfig", ifn, "inet6", f"{j}::", "prefixlen", plen, "eui64", "alias"], prefix)
        if ctx.yes("ipv6_gateway_enable"):  # subnet-router anycast (RFC 4291)
            ctx.emit(["ifconfig", ifn, "inet6", f"{j}::", "prefixlen", plen, "alias", "anycast"],
                     prefix)


def childif_create(ctx: Context, ifn: str, ifaces: list[str]) -> None:
    """vlans_IF="101 vlan0 name": create each child on IF, then configure it."""
    v = ctx.if_var(ifn, "vlans_IF")
    if v is None:
        return
    for child in ifs_split(v.text):
        if re.fullmatch(r"[1-9][0-9]*", child):
            child = f"{ifn}.{child}"
            args = ctx.if_var(child, "create_args_IF")
            argv = ["ifconfig", child, "create", *ifs_split(args.text if args else "")]
        else:
            args = ctx.if_var(child, "create_args_IF")
            create = ["vlandev", ifn, *ifs_split(args.text if args else "")]
            if re.fullmatch(r"vlan[0-9]+", child):
                argv = ["ifconfig", child, "create", *create]
            else:  # any name: create on the cloner, rename in the same command (the
                # unit named: a batch cannot use the one a unit-less create would print)
                unit = 0
                while f"vlan{unit}" in ifaces:
                    unit += 1
                argv = ["ifconfig", f"vlan{unit}", "create", *create, "name", child]
        if child not in ifaces:         # re-applied to a live stack: as clone_up, kept
            ctx.emit(argv, v)
            ifaces.append(child)
        if autoif(ctx, child):
            ifn_start(ctx, child, ifaces)


# rc.d/rtadvd: the interfaces `auto` (or empty) leaves out
RTADVD_SKIP = ("lo", "gif", "stf", "lp", "sl", "tun", "pflog", "pfsync", "an", "ath", "ipw",
               "ipfw", "iwi", "iwn", "ral", "wi", "wl", "wpi")


def rtadvd_start(ctx: Context, ifaces: list[str]) -> None:
    """rc.d/rtadvd: with rtadvd_enable, advertise on rtadvd_interfaces (`auto` or empty: every
    interface but loopbacks, tunnels and the like; `none`: none)."""
    enable = ctx.get("rtadvd_enable")
    if enable is None or not ctx.yes("rtadvd_enable"):
        return
    listed = ctx.text("rtadvd_interfaces")
    if listed.lower() in ("auto", ""):
        names = [i for i in ifaces if not _unit_of(i, RTADVD_SKIP)]
    elif listed == "none":
        names = []
    else:
        names = ifs_split(listed)
    ctx.emit(["sysctl", f"net.inet6.rtadvd.interfaces={' '.join(names)}"], enable)
