"""One command line of an rc.d plan or a batch file, through its tool's pure grammar.

    command_ops(argv) -> ToolOps          # the batch entries of one command; ToolError
    error_text(tool, ops, index, errno)   # what the tool prints when op `index` fails
    command_line(argv), tokenize(line)

Each command becomes the batch entries its tool's grammar gives (`ops_for(argv)` of
plebconf.cli.ifconfig / route / arp / ndp, see plebconf.cli.common.ToolOps), plus the few commands
rc.d runs that are not those tools: `hostname NAME` (sysctl kern.hostname), `sysctl
name=value`, `dhclient [-b] IF` (the stack's DHCP client, op dhclient).
"""
from __future__ import annotations

import importlib
import shlex

from plebconf.cli.common import ToolError, ToolOps
from plebproto.constants import ENXIO, EPERM, strerror

__all__ = ["grammar", "command_line", "command_ops", "error_text", "tokenize", "TOOL_MODULES",
           "ToolError", "ToolOps"]

# Loaded by name when first needed: a batch file of `route add` lines never pays for
# ifconfig's grammar (start-up time of every tool run).
TOOL_MODULES = {"ifconfig": "plebconf.cli.ifconfig", "route": "plebconf.cli.route",
                "arp": "plebconf.cli.arp", "ndp": "plebconf.cli.ndp"}


def grammar(tool: str):
    """The tool's ops_for, or None when plebconf has no such tool."""
    module = TOOL_MODULES.get(tool)
    if module is None:
        return None
    return importlib.import_module(module).ops_for


def command_line(argv: list[str]) -> str:
    return shlex.join(argv)


def command_ops(argv: list[str]) -> ToolOps:
    """The batch entries of one command line; ToolError for what cannot be applied."""
    if not argv:
        raise ToolError("empty command")
    tool, args = argv[0], argv[1:]
    if tool == "hostname":
        if len(args) != 1:
            raise ToolError("usage: hostname name")
        return ToolOps([["sysctl", {"name": "kern.hostname", "value": args[0]}]],
                       ["kern.hostname"])
    if tool == "sysctl":
        ops, labels = [], []
        for arg in args:
            name, sep, value = arg.partition("=")
            if not sep or not name:
                raise ToolError(f"sysctl: {arg}: only name=value settings can be applied")
            ops.append(["sysctl", {"name": name, "value": value}])
            labels.append(name)
        if not ops:
            raise ToolError("usage: sysctl name=value ...")
        return ToolOps(ops, labels)
    if tool == "dhclient":
        return _dhclient_ops(args)
    ops_for = grammar(tool)
    if ops_for is None:
        raise ToolError(f"{tool}: not a command plebconf can apply "
                        "(ifconfig, route, arp, ndp -s, sysctl, hostname, dhclient)")
    result = ops_for(args)
    if result is None:
        raise ToolError(f"{command_line(argv)}: changes nothing; only commands that change "
                        "the stack can be applied")
    return result


def _dhclient_ops(args: list[str]) -> ToolOps:
    """dhclient [-b] interface (rc.d/dhclient, devd): the stack runs the client; -b: go to
    the background at once (without it, a stack at boot waits for the lease, bounded)."""
    background = args[:1] == ["-b"]
    rest = args[1:] if background else args
    if len(rest) != 1 or rest[0].startswith("-"):
        raise ToolError("usage: dhclient [-b] interface")
    return ToolOps([["dhclient", {"ifname": rest[0], "sync": not background}]],
                   [rest[0]])


def error_text(tool: str, ops: ToolOps | None, index: int, errno: int) -> str:
    """What the tool prints when op `index` of its ops fails with errno: ops.message(index,
    errno) when the tool's ToolOps has it (ifconfig), else the tool module's
    failure(ops, index, errno) -> (stdout, stderr, status) when it has one (its stdout line
    when there is one: route's `add net ...: gateway ... fib 0: route already in table`),
    otherwise FreeBSD's perror() form `tool: label: strerror`."""
    module = TOOL_MODULES.get(tool)
    if ops is not None and callable(getattr(ops, "message", None)):
        return ops.message(index, errno)         # ifconfig's ToolOps words its own errors
    label = ops.labels[index] if ops is not None and index < len(ops.labels) else tool
    if module is not None and ops is not None:
        failure = getattr(importlib.import_module(module), "failure", None)
        if failure is not None:
            out, err, _ = failure(ops, index, errno)
            return " ".join((out.strip() or err.strip()).splitlines())
    if tool == "sysctl":
        from plebconf.cli.sysctl import refusal
        return refusal(label, errno, setting=True)
    if tool == "ifconfig" and errno in (ENXIO, EPERM):
        why = "no such interface" if errno == ENXIO else "permission denied"
        return f"ifconfig: {label}: {why}"
    return f"{tool}: {label}: {strerror(errno)}"


def tokenize(line: str) -> list[str]:
    """sh words of a batch line (quotes honoured, `#` starts a comment)."""
    if not any(c in line for c in "'\"\\#"):
        return line.split()
    return shlex.split(line, comments=True)
