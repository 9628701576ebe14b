"""The running configuration of a stack, read from its dumps, for `rc save` and `rc diff`.

    running_config(call) -> RunningConfig   # call(op, args) -> result (rows for dumps)
    client_call(client) / syscalls_call(syscalls)   # the two ways to read a stack
    config_lines(config) -> [str]           # one line per configuration item, for diffs
    diff(files, client) -> (lines, warnings)      # what `rc apply FILES` would change

What is read: NET_RT_IFLIST (interfaces, their addresses, flags, MTU, description),
NET_RT_DUMP (static routes only: RTF_STATIC and not RTF_PINNED, minus the ones rc.d/routing
adds by itself), NET_RT_FLAGS for inet and inet6 (static entries: not PINNED, not expiring),
and the sysctls kern.hostname, net.inet.ip.forwarding, net.inet6.ip6.forwarding.
"""
from __future__ import annotations

import ipaddress

from plebproto.constants import (
    IFF_UP, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_GATEWAY, RTF_PINNED, RTF_REJECT, RTF_STATIC,
)
from plebproto.iftypes import IFTYPES

from .save import ArpEntry, Interface, Route, RunningConfig, _route_args, is_auto_inet6

__all__ = ["running_config", "client_call", "syscalls_call", "config_lines", "diff",
           "DEFAULT_MTU"]

# the driver's MTU of each kind of interface
DEFAULT_MTU = {kind: t.mtu for kind, t in IFTYPES.items()}

# routes rc.d/routing adds by itself (routing.py IMPLICIT_*): recreated by rc, never saved
_IMPLICIT6 = {(ipaddress.IPv6Address(d), p) for d, p in
              (("fe80::", 10), ("ff02::", 16), ("::ffff:0.0.0.0", 96), ("::", 96))}


def client_call(client):
    return client.call


def syscalls_call(syscalls):
    from plebnet_core.syscalls import Stream

    def call(op, args):
        result = syscalls.dispatch(op, args)
        if not isinstance(result, Stream):
            return result
        if getattr(result, "chunked", False):
            return [row for chunk in result.rows for row in chunk]
        return list(result.rows)
    return call


def _plain6(text: str) -> str:
    return text.partition("%")[0]


def running_config(call) -> RunningConfig:
    cfg = RunningConfig()
    cfg.hostname = str(call("sysctl", {"name": "kern.hostname"}) or "")
    cfg.ip_forwarding = bool(int(call("sysctl", {"name": "net.inet.ip.forwarding"})))
    cfg.ip6_forwarding = bool(int(call("sysctl", {"name": "net.inet6.ip6.forwarding"})))
    for info in call("sysctl", {"name": "NET_RT_IFLIST"}):
        iface = Interface(info["name"], cloner=info.get("cloner"),
                          create_args=create_args(info.get("params") or {}),
                          description=info.get("description") or "",
                          up=bool(info["flags"] & IFF_UP))
        if info["mtu"] != DEFAULT_MTU.get(info.get("kind"), 1500):
            iface.mtu = info["mtu"]
        for a in info["addrs"]:
            if a["af"] == "inet":
                iface.inet.append((a["addr"], a["plen"]))
            elif not is_auto_inet6(info["name"], a["addr"]):
                iface.inet6.append((_plain6(a["addr"]), a["plen"]))
        cfg.interfaces.append(iface)
    for row in call("sysctl", {"name": "NET_RT_DUMP"}):
        family, dst, plen, gateway, flags, ifname = row[:6]
        if not flags & RTF_STATIC or flags & RTF_PINNED:
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
    for af, table in (("inet", cfg.arp), ("inet6", cfg.ndp)):
        for e in call("sysctl", {"name": "NET_RT_FLAGS", "af": af}):
            if e["flags"] & RTF_PINNED or not e["flags"] & RTF_STATIC or e.get("expire") \
                    or not e.get("mac"):
                continue
            table.append(ArpEntry(_plain6(e["addr"]), e["mac"],
                                  pub=bool(e["flags"] & RTF_ANNOUNCE)))
    return cfg


def create_args(params: dict) -> tuple[str, ...]:
    """The words of `ifconfig IF create ...` that give an interface these driver parameters
    (vxlan(4)'s, as SIOCIFCREATE2 got them), in ifvxlan.c's keywords."""
    from plebconf.cli.ifconfig_clone import _is_multicast

    words: list[str] = []
    for key, value in params.items():
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
        out += [f"{head} inet {a}/{p}" for a, p in i.inet]
        # IPv6 has no "first address" (ifconfig IF inet6 X only adds X, re-adding moves it
        # to the end): its order is not configuration, so it does not make a difference
        out += sorted(f"{head} inet6 {_plain6(a)}/{p}" for a, p in i.inet6
                      if not is_auto_inet6(i.name, a))
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


def scratch_copy(call):
    """An in-process stack with the live stack's configuration: its attached interfaces
    (same names, same order), then the live configuration applied as rc.conf (save's text).
    Returns (syscalls, live config)."""
    import os
    import tempfile

    from plebnet_core.boot import syscalls_sender
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls

    from .apply import execute, rc_program
    from .save import save

    live = running_config(call)
    stack = Stack(pid=0)
    syscalls = Syscalls(stack, 0)
    infos = call("sysctl", {"name": "NET_RT_IFLIST"})
    with stack.transaction():
        for info in infos:
            if info.get("cloner") is None:
                stack.if_attach(info["name"], info.get("kind") or "vnet")
    fd, path = tempfile.mkstemp(prefix="rc-running-", suffix=".conf")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(save(live))
        program = rc_program([path], [ifp.name for ifp in stack.ifaces])
        errors = execute(program, syscalls_sender(syscalls), keep_going=True)
    finally:
        os.unlink(path)
    return syscalls, live, errors


def diff(files: list[str], call) -> tuple[list[str], list[str]]:
    """(+/- lines of what applying the rc.conf files would change, notes).  Empty lines
    list: the stack already matches."""
    import difflib

    from plebnet_core.boot import syscalls_sender

    from .apply import execute, rc_program

    syscalls, live, notes = scratch_copy(call)
    program = rc_program(files, [ifp.name for ifp in syscalls.stack.ifaces])
    errors = execute(program, syscalls_sender(syscalls))
    if errors:
        raise DiffError(errors)
    after = running_config(syscalls_call(syscalls))
    before_lines, after_lines = config_lines(live), config_lines(after)
    changes = [line for line in difflib.unified_diff(before_lines, after_lines, n=0,
                                                     lineterm="")
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return changes, [f"(copying the running configuration) {e}" for e in notes] + [
        w for w in program.warnings]


class DiffError(Exception):
    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = errors
