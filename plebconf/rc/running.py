"""The running configuration of a stack, read from its dumps, for `rc save` and `rc diff`.

    running_config(call) -> RunningConfig   # call(op, args) -> result (rows for dumps)
    config_from(results) -> RunningConfig   # the same from the results of READS
    client_call(client)                     # call over a control-socket Client
    config_lines(config) -> [str]           # one line per configuration item, for diffs
    undo_commands(config) -> [argv]         # back to a booted stack's state for all of it
    diff(files, client) -> (lines, warnings)      # the running config against FILES' own

What is read (READS): NET_RT_IFLIST (interfaces, their addresses, flags, MTU, description,
the DHCP client on it: its lease and default route are not configuration but the server's),
NET_RT_DUMP (static routes only: RTF_STATIC and not RTF_PINNED, minus the ones rc.d/routing
adds by itself), NET_RT_FLAGS for inet and inet6 (static entries: not PINNED, not expiring),
and the sysctls kern.hostname, net.inet.ip.forwarding, net.inet6.ip6.forwarding.

diff asks the stack itself what the files make of it: undo_commands (the running
configuration's items undone) and then the files' batch go as one dry run (protocol: batch
with "dry_run"), which applies them inside the stack's transaction, runs READS there and rolls
everything back.  So diff shows all that `rc save` would write differently from the files:
what they would add or change (+) and what the stack has that they do not set (-).  The
one item not undone in the batch is a DHCP client (no op stops one): it is taken out of the
result on interfaces the files run no dhclient on.
"""
from __future__ import annotations

import ipaddress

from plebproto.constants import (
    IFF_UP, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_GATEWAY, RTF_PINNED, RTF_REJECT, RTF_STATIC,
)
from plebproto.errors import OpError
from plebproto.iftypes import IFTYPES

from .programs import RcProgram
from .save import (
    ArpEntry, Interface, Route, RunningConfig, _route_args, is_auto_inet6, nd6_words,
)

__all__ = ["running_config", "config_from", "client_call", "config_lines", "diff", "READS",
           "dry_run_sender", "DEFAULT_MTU", "created_as", "undo_commands", "undo_program",
           "booted_interfaces"]

# the driver's MTU and nd6 flags of each kind of interface
DEFAULT_MTU = {kind: t.mtu for kind, t in IFTYPES.items()}
DEFAULT_ND6 = {kind: t.nd6 for kind, t in IFTYPES.items()}

# routes rc.d/routing adds by itself (routing.py IMPLICIT_*): recreated by rc, never saved
_IMPLICIT6 = {(ipaddress.IPv6Address(d), p) for d, p in
              (("fe80::", 10), ("ff02::", 16), ("::ffff:0.0.0.0", 96), ("::", 96))}

# every read the running configuration is made of, in config_from's order
READS = [
    ["sysctl", {"name": "kern.hostname"}],
    ["sysctl", {"name": "net.inet.ip.forwarding"}],
    ["sysctl", {"name": "net.inet6.ip6.forwarding"}],
    ["sysctl", {"name": "NET_RT_IFLIST"}],
    ["sysctl", {"name": "NET_RT_DUMP"}],
    ["sysctl", {"name": "NET_RT_FLAGS", "af": "inet"}],
    ["sysctl", {"name": "NET_RT_FLAGS", "af": "inet6"}],
]


def client_call(client):
    return client.call


def _plain6(text: str) -> str:
    return text.partition("%")[0]


def running_config(call) -> RunningConfig:
    return config_from([call(op, args) for op, args in READS])


def config_from(results: list) -> RunningConfig:
    """The running configuration from the results of READS, in order."""
    hostname, forwarding, forwarding6, iflist, routes, arp, ndp = results
    cfg = RunningConfig()
    cfg.hostname = str(hostname or "")
    cfg.ip_forwarding = bool(int(forwarding))
    cfg.ip6_forwarding = bool(int(forwarding6))
    leased = set()          # (ifname, router) default routes a DHCP client installed
    for info in iflist:
        iface = Interface(info["name"], cloner=info.get("cloner"),
                          create_args=(lagg_args(info["lagg"]) if info.get("kind") == "lagg"
                                       else create_args(info.get("params") or {})),
                          description=info.get("description") or "",
                          up=bool(info["flags"] & IFF_UP),
                          members=list((info.get("params") or {}).get("members") or []),
                          peer=(info.get("params") or {}).get("peer"),
                          nd6=info.get("nd6"), nd6_default=DEFAULT_ND6.get(info.get("kind"), 0),
                          attached_as=info.get("dname"))
        # in6_ifattach's link-local comes from the MAC the interface had (a lagg port's may
        # be its lagg's now): neither is configuration
        macs = (info.get("mac"), info.get("hwaddr"))
        dhcp = info.get("dhcp")
        lease = None
        if dhcp:
            iface.dhcp = "SYNCDHCP" if dhcp.get("sync") else "DHCP"
            lease = dhcp.get("addr")
            if dhcp.get("router"):
                leased.add((info["name"], dhcp["router"]))
        iface.mtu_default = DEFAULT_MTU.get(info.get("kind"), 1500)
        if info["mtu"] != iface.mtu_default:
            iface.mtu = info["mtu"]
        for a in info["addrs"]:
            if a["af"] == "inet":
                if a["addr"] != lease:      # the lease comes back from the server
                    iface.inet.append((a["addr"], a["plen"]))
                    if a.get("dstaddr"):
                        iface.dst[a["addr"]] = a["dstaddr"]
            elif not is_auto_inet6(info["name"], a["addr"], macs):
                iface.inet6.append((_plain6(a["addr"]), a["plen"]))
                if a.get("dstaddr"):        # a gif's point-to-point peer
                    iface.dst[_plain6(a["addr"])] = _plain6(a["dstaddr"])
        cfg.interfaces.append(iface)
    for row in routes:
        family, dst, plen, gateway, flags, ifname = row[:6]
        if not flags & RTF_STATIC or flags & RTF_PINNED:
            continue
        if plen == 0 and (ifname, gateway) in leased:   # dhclient-script's default route
            continue
        if family == "inet6" and (ipaddress.IPv6Address(_plain6(dst)), plen) in _IMPLICIT6:
            continue
        r = Route(dst, plen, blackhole=bool(flags & RTF_BLACKHOLE),
                  reject=bool(flags & RTF_REJECT))
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            r.gateway = gateway
        elif flags & RTF_GATEWAY:
            r.gateway = gateway
        else:
            r.interface = ifname
        cfg.routes.append(r)
    for entries, table in ((arp, cfg.arp), (ndp, cfg.ndp)):
        for e in entries:
            if e["flags"] & RTF_PINNED or not e["flags"] & RTF_STATIC or e.get("expire") \
                    or not e.get("mac"):
                continue
            table.append(ArpEntry(_plain6(e["addr"]), e["mac"],
                                  pub=bool(e["flags"] & RTF_ANNOUNCE)))
    return cfg


def lagg_args(lagg: dict | None) -> tuple[str, ...]:
    """`laggproto P [options] laggport A laggport B`: the primary port first, so that it is
    the primary again when applied; the others in the lagg's (interface index) order."""
    if not lagg:
        return ()
    ports = sorted(lagg["ports"], key=lambda p: p["name"] != lagg.get("primary"))
    words = ["laggproto", lagg["proto"]]
    # the options that differ from a new lagg's (USE_NUMA; lacp: LACP_STRICT), after the
    # protocol that lacp's need
    opts = lagg.get("opts", 0x04 | (0x10 if lagg["proto"] == "lacp" else 0))
    words += ["use_flowid"] * bool(opts & 0x01) + ["-use_numa"] * (not opts & 0x04)
    if lagg["proto"] == "lacp":
        words += ["-lacp_strict"] * (not opts & 0x10) + ["lacp_fast_timeout"] * bool(opts & 0x80)
    for port in ports:
        words += ["laggport", port["name"]]
    return tuple(words)


def create_args(params: dict) -> tuple[str, ...]:
    """The words of `ifconfig IF create ...` that give an interface these driver parameters
    (vxlan(4)'s, as SIOCIFCREATE2 got them, in ifvxlan.c's keywords; vlan(4)'s tag and
    parent, with its protocol and priority when not the defaults).  A bridge's members and
    an epair's peer are not create parameters."""
    from plebconf.cli.ifconfig_clone import _is_multicast

    words: list[str] = []
    if params.get("tunnelsrc"):         # gif(4): `tunnel SRC DST` (a command after create)
        words += ["tunnel", params["tunnelsrc"], params["tunneldst"]]
    for key, value in params.items():
        if key in ("members", "peer", "tunnelsrc", "tunneldst") or (key, value) in (
                ("vlanproto", "802.1q"), ("vlanpcp", 0)):
            continue
        if key == "vxlanremote" and _is_multicast(value):
            words += ["vxlangroup", value]
        elif key == "vxlanportrange":
            words += [key, str(value[0]), str(value[1])]
        elif key == "vxlanlearn":
            words.append(key if value else "-vxlanlearn")
        else:
            words += [key, str(value)]
    return tuple(words)


def config_lines(cfg: RunningConfig) -> list[str]:
    """The configuration as the commands that would make it, one item per line (what rc
    diff compares): interfaces in kernel order with their IPv4 addresses in order, IPv6
    addresses sorted; static routes in table order; static ARP/NDP entries; forwarding."""
    out = []
    if cfg.hostname:
        out.append(f"hostname {cfg.hostname}")
    for i in cfg.interfaces:
        head = f"ifconfig {i.name}"
        if i.cloner is not None:
            out.append(" ".join((head, "create", *i.create_args)))
        out += [f"{head} addm {m}" for m in i.members]
        if i.dhcp:
            out.append(f"dhclient {'-b ' if i.dhcp == 'DHCP' else ''}{i.name}")
        out += [" ".join([f"{head} inet {a}/{p}", *([i.dst[a]] if a in i.dst else [])])
                for a, p in i.inet]
        # IPv6 has no "first address" (ifconfig IF inet6 X only adds X, re-adding moves it
        # to the end): its order is not configuration, so it does not make a difference
        out += sorted(" ".join([f"{head} inet6 {_plain6(a)}/{p}",
                                *([i.dst[a]] if a in i.dst else [])])
                      for a, p in i.inet6 if not is_auto_inet6(i.name, a))
        nd6 = nd6_words(i.nd6, i.nd6_default)
        if nd6:
            out.append(f"{head} inet6 {' '.join(nd6)}")
        if i.mtu is not None:
            out.append(f"{head} mtu {i.mtu}")
        if i.description:
            out.append(f"{head} description {i.description!r}")
        out.append(f"{head} {'up' if i.up else 'down'}")
    for r in cfg.routes:
        inet6 = ":" in r.dest
        out.append("route add " + ("-inet6 " if inet6 else "") + _route_args(r, inet6))
    out += [f"arp -S {e.ip} {e.mac}" + (" pub" if e.pub else "") for e in cfg.arp]
    out += [f"ndp -s {e.ip} {e.mac}" + (" proxy" if e.pub else "") for e in cfg.ndp]
    out.append(f"sysctl net.inet.ip.forwarding={int(cfg.ip_forwarding)}")
    out.append(f"sysctl net.inet6.ip6.forwarding={int(cfg.ip6_forwarding)}")
    return out


def created_as(cfg: RunningConfig) -> dict[str, str]:
    """Live name -> the name the interface was attached or created with, for the renamed."""
    return {i.name: i.attached_as for i in cfg.interfaces
            if i.attached_as and i.attached_as != i.name}


def dry_run_sender(client, reads: list | None = None, into: dict | None = None):
    """A send() for plebconf.rc.apply.execute that asks the stack for a dry run of the
    entries (nothing changes); the reads' results, run inside it, go to into["reads"]."""
    def send(entries):
        try:
            result = client.dry_run(entries, reads or [])
        except OpError as exc:
            raise exc.at(exc.index or 0) from None
        if into is not None:
            into.update(result)
        return result["results"]
    return send


def booted_interfaces(cfg: RunningConfig) -> list[str]:
    """`ifconfig -l` of a stack just booted with these interfaces attached: the attached
    ones (no clones) under the names they were attached with, in kernel order."""
    return [i.attached_as or i.name for i in cfg.interfaces if i.cloner is None]


def undo_commands(cfg: RunningConfig) -> list[list[str]]:
    """The command lines that take a stack with this running configuration back to a booted
    stack's state for everything rc.conf sets (what save would write): static routes and
    ARP/NDP entries deleted, clones destroyed, every attached interface's addresses, MTU,
    nd6 flags, description and up flag back to its driver's, renames undone, hostname and
    forwarding cleared.  What save leaves out (DHCP leases and clients, automatic addresses,
    learned entries) is left as it is."""
    out: list[list[str]] = []
    for r in cfg.routes:        # first: some go through interfaces that go next
        inet6 = ":" in r.dest
        dest = ["default"] if r.prefixlen == 0 else (
            ["-host", r.dest] if r.prefixlen == (128 if inet6 else 32)
            else ["-net", f"{r.dest}/{r.prefixlen}"])
        # with its gateway: one path of several to the same destination
        gateway = [r.gateway] if r.gateway is not None and r.interface is None else []
        out.append(["route", "delete", *(["-inet6"] if inet6 else []), *dest, *gateway])
    out += [["arp", "-d", e.ip] for e in cfg.arp]
    out += [["ndp", "-d", e.ip] for e in cfg.ndp]
    gone: set[str] = set()
    # newest first: a vlan goes before the lagg it rides on; an epair end takes its peer
    for i in reversed(cfg.interfaces):
        if i.cloner is not None and i.name not in gone:
            out.append(["ifconfig", i.name, "destroy"])
            gone |= {i.name, *([i.peer] if i.cloner == "epair" and i.peer else [])}
    for i in cfg.interfaces:
        if i.cloner is not None:
            continue
        head = ["ifconfig", i.name]
        out += [[*head, "inet", a, "-alias"] for a, _ in i.inet]
        out += [[*head, "inet6", a, "-alias"] for a, _ in i.inet6
                if not is_auto_inet6(i.name, a)]
        if i.nd6 is not None and i.nd6 != i.nd6_default:
            out.append([*head, "inet6", *nd6_words(i.nd6_default, i.nd6)])
        if i.mtu is not None:
            out.append([*head, "mtu", str(i.mtu_default)])
        if i.description:
            out.append([*head, "-description"])
        if i.up:
            out.append([*head, "down"])
    out += _unrename(cfg)
    if cfg.hostname:
        out.append(["hostname", ""])
    out += [["sysctl", f"{name}=0"] for name, on in (
        ("net.inet.ip.forwarding", cfg.ip_forwarding),
        ("net.inet6.ip6.forwarding", cfg.ip6_forwarding)) if on]
    return out


def _unrename(cfg: RunningConfig) -> list[list[str]]:
    """`ifconfig NAME name ATTACHED` for each renamed attached interface; when one's name as
    attached is another's now (names swapped), every one goes through a free name first."""
    renamed = [(i.name, i.attached_as) for i in cfg.interfaces
               if i.cloner is None and i.attached_as and i.attached_as != i.name]
    taken = {i.name for i in cfg.interfaces if i.cloner is None}
    if not any(old in taken for _, old in renamed):
        return [["ifconfig", now, "name", old] for now, old in renamed]
    out, via = [], []
    for now, old in renamed:
        n = 0
        while f"rcundo{n}" in taken:
            n += 1
        taken.add(f"rcundo{n}")
        out.append(["ifconfig", now, "name", f"rcundo{n}"])
        via.append((f"rcundo{n}", old))
    return out + [["ifconfig", tmp, "name", old] for tmp, old in via]


def undo_program(cfg: RunningConfig) -> RcProgram:
    """undo_commands compiled as a program (runs of one shape: a million routes go as one)."""
    program = RcProgram()
    for argv in undo_commands(cfg):
        program.add(argv, "undoing the running configuration: ")
    return program


def _op_count(program) -> int:
    return sum(len(seg[2][0]) if seg[0] == "run" else len(seg[2]) for seg in program.segments)


def diff(files: list[str], client) -> tuple[list[str], list[str]]:
    """(+/- lines of what applying the rc.conf files would change, warnings).  Empty lines
    list: the stack already matches.  Raises DiffError with the messages of what would fail.

    One dry-run batch (nothing is changed): undo_commands(live) take the stack back to a
    booted one's state, the files' program (planned for that booted stack) applies, READS
    read the result.  `live` against that is what save would write against what the files
    give: what the files leave out is drift (-) as much as what they add (+).  A DHCP client
    is the one item undone after the reads (the stack has no op that stops one): an
    interface the files run no dhclient on has none in the result."""
    import difflib

    from .apply import execute, rc_program

    live = running_config(client.call)
    program = rc_program(files, booted_interfaces(live), {})
    undo = undo_program(live)
    if undo.failures:       # (a grammar refusing what the stack's own dumps say)
        raise DiffError([f"{undo.describe(u)}: {msg}" for u, msg in undo.failures])
    undo_entries, undo_ops = undo.entries(), _op_count(undo)
    inside: dict = {}
    send = dry_run_sender(client, READS, inside)

    def after_undo(entries):
        try:
            # (results count ops: an undo run of many rows answers one per row)
            return send(undo_entries + entries)[undo_ops:]
        except OpError as exc:
            index = exc.index or 0
            if index < undo_ops:
                unit, op = undo.locate(index)
                raise DiffError([undo.failure_text(unit, op, exc.errno)]) from None
            raise exc.at(index - undo_ops) from None

    # (the tools' warnings are not drift: the diff shows what the stack would hold)
    errors = execute(program, after_undo).errors
    if errors:
        raise DiffError(errors)
    after = config_from(inside["reads"])
    dhcp = {argv[-1] for argv in program.argvs if argv[:1] == ["dhclient"]}
    for iface in after.interfaces:
        if iface.name not in dhcp:
            iface.dhcp = None
    before_lines, after_lines = config_lines(live), config_lines(after)
    changes = [line for line in difflib.unified_diff(before_lines, after_lines, n=0,
                                                     lineterm="")
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return changes, list(program.warnings)


class DiffError(Exception):
    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = errors
