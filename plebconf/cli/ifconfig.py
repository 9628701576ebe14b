"""`plebconf ifconfig`: FreeBSD 14's ifconfig(8) against a live stack (docs/freebsd-tools.md §1).

The grammar (options, keyword tables, the ops of a command) is ifconfig_grammar; the text
and JSON output is ifconfig_format.  This module runs them: one NET_RT_IFLIST read for a
listing, one atomic batch for a configuration command.

Public API for the rc.conf executor (pure, no connection):
    ops_for(argv) -> ToolOps | None, ToolOps, ToolError
"""
from __future__ import annotations

import sys

from plebproto.constants import ENXIO
from plebproto.iftypes import CLONERS

from .ifconfig_bridge import addr_lines
from .ifconfig_clone import created_name

from . import libxo
from .common import ConnectError, OpError, ToolError, tool_command
from .ifconfig_grammar import USAGE, ops_for, parse_invocation  # noqa: F401 (public API)
from .toolops import ToolOps

__all__ = ["command", "ops_for", "ToolOps", "ToolError"]


def _cloners() -> tuple:
    # the shared table (pure data): what `create` accepts, in attach order
    return CLONERS


@tool_command("ifconfig")
def command(ctx, args):
    """Configure network interfaces (FreeBSD ifconfig)."""
    try:
        fmt, args = libxo.parse(args, ctx.libxo, "ifconfig")
        inv = parse_invocation(args)
        if inv.mode == "config":
            return configure(ctx, ops_for(args), fmt)
        return show(ctx, inv, fmt)
    except ToolError as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.status
    except ConnectError as exc:         # the stack went away mid-command
        sys.stderr.write(f"plebconf: {exc}\n")
        return 69                       # EX_UNAVAILABLE, as for a failed connect


# ============================================================================ listings
def show(ctx, inv, fmt) -> int:
    from . import ifconfig_format as f
    for line in inv.skipped_formats:
        print(line)
    if inv.mode == "cloners":
        names = list(_cloners())
        if fmt.encoded:
            libxo.emit({"cloners": names}, fmt)
        else:
            sys.stdout.write(" ".join(names) + "\n")
        return 0
    args = {"name": "NET_RT_IFLIST"}
    if inv.ifname is not None:
        args["ifname"] = inv.ifname
    try:
        ifaces = ctx.client.call("sysctl", args)
    except OpError as exc:
        if exc.errno == ENXIO:
            raise ToolError(f"ifconfig: interface {inv.ifname} does not exist") from None
        raise ToolError(f"ifconfig: NET_RT_IFLIST: {exc.msg}") from None
    if inv.mode == "group":
        # SIOCGIFGMEMB: members one per line; an unknown group prints nothing, exit 0
        members = [i["name"] for i in ifaces if inv.group in i.get("groups", [])
                   or inv.group == "all"]
        if fmt.encoded:
            libxo.emit({"group": inv.group, "members": members}, fmt)
        elif members:
            sys.stdout.write("".join(m + "\n" for m in members))
        return 0
    if inv.mode == "names":
        if fmt.encoded:
            libxo.emit({"interfaces": [i["name"] for i in ifaces if f.matches(i, inv)]},
                       fmt)
        else:
            sys.stdout.write(f.names_line(ifaces, inv))
        return 0
    if fmt.encoded:
        libxo.emit({"interfaces": [f.json_interface(i, inv) for i in ifaces
                                   if f.matches(i, inv)]}, fmt)
    else:
        sys.stdout.write(f.listing(ifaces, inv))
    return 0


# ============================================================================ configuration
def configure(ctx, tool_ops: ToolOps, fmt) -> int:
    client = ctx.client
    if tool_ops.needs_unit:
        at = tool_ops.print_created
        unit = _free_unit(client, tool_ops)
        tool_ops = tool_ops.resolve_created(unit)
        made = created_name(unit)
        if made != unit:
            # the create asks for epair0, what follows configures the epair0a it makes
            for op in tool_ops.ops[at + 1:]:
                if op[1].get("ifname") == unit:
                    op[1] = {**op[1], "ifname": made}
            tool_ops.lines = [made]
    try:
        results = client.batch(tool_ops.ops)
    except OpError as exc:
        index = exc.index if exc.index is not None else 0
        lines = tool_ops.stderr_before(index, exc.errno)
        lines.append(tool_ops.message(index, exc.errno))
        sys.stderr.write("".join(line + "\n" for line in lines))
        return 1
    warned, status = tool_ops.warned(results)     # ops that only warn (Label.warn)
    lines = tool_ops.stderr_before(None) + warned
    if lines:
        sys.stderr.write("".join(line + "\n" for line in lines))
    out = tool_ops.output(results)
    for op, result in zip(tool_ops.ops, results):
        if op[1].get("req") == "BRDGRTS":       # `ifconfig bridge0 addr`
            out += addr_lines(result["addrs"])
    if fmt.encoded:
        if out:
            libxo.emit({"interface": out[-1]}, fmt)
    elif out:
        sys.stdout.write("".join(line + "\n" for line in out))
    return status


def _free_unit(client, tool_ops: ToolOps) -> str:
    """The name the stack gives a unit-less create: the cloner's lowest free unit."""
    base = tool_ops.ops[tool_ops.print_created][1]["ifname"]
    names = {i["name"] for i in client.call("sysctl", {"name": "NET_RT_IFLIST"})}
    unit = 0
    while created_name(f"{base}{unit}") in names:      # epair: epairNa
        unit += 1
    return f"{base}{unit}"
