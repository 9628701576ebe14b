"""`plebconf`: FreeBSD's network tools against a running plebnet stack.

    plebconf [-p PID] [--owner USER|UID] [--sockdir DIR] [--libxo FMT] TOOL [ARGS...]

The tools talk only to a stack run by the user's own uid or root; --owner (or PLEBNET_OWNER)
names another user whose stack is meant (plebconf/rpc/client.py).  A stack that goes away or
stops answering during a command ends the tool with one line and status 69 (EX_UNAVAILABLE),
whichever tool it is (main).

A tool run is parsed by hand here and goes straight to the tool's module: importing click
alone costs more than the whole 60 ms budget of a one-shot `plebconf ifconfig ...` on a small
machine.  Anything else (help, unknown words) goes to the click group, built on demand.
"""
from __future__ import annotations

import importlib
import os
import sys

# tool name -> module under plebconf.cli; each module defines `command(ctx, args) -> status`
TOOLS = {
    "ifconfig": "ifconfig",
    "route": "route",
    "arp": "arp",
    "ndp": "ndp",
    "netstat": "netstat",
    "ps": "ps",
    "rc": "rc",
    "batch": "batch",
    "ping": "ping",
    "ping6": "ping6",
    "traceroute": "traceroute",
    "traceroute6": "traceroute6",
    "tcpdump": "tcpdump",
    "log": "log",
    "sysctl": "sysctl",
}
GLOBAL_HELP = {
    "-p": "PID of the stack to talk to (default: $PLEBNET_PID)",
    "--owner": "USER or UID whose stack to talk to, when not yours or root's "
               "(default: $PLEBNET_OWNER)",
    "--sockdir": "where stack sockets live (default: $PLEBNET_SOCKDIR or /tmp)",
    "--libxo": "output format for scripts: text, json or xml",
}


def load_tool(name: str):
    """The tool's command function, or None when that tool is not built."""
    module = TOOLS.get(name)
    if module is None:
        return None
    try:
        return importlib.import_module(f"plebconf.cli.{module}").command
    except ModuleNotFoundError as exc:
        if exc.name == f"plebconf.cli.{module}":
            return None
        raise


def parse_globals(argv: list[str]):
    """(pid, sockdir, libxo, rest) from the global options before the tool name; the
    owner (--owner, PLEBNET_OWNER), a uid or None, is parse_globals.owner."""
    pid = os.environ.get("PLEBNET_PID")
    sockdir = os.environ.get("PLEBNET_SOCKDIR", "/tmp")
    owner = os.environ.get("PLEBNET_OWNER") or None
    libxo = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        opt, eq, value = argv[i].partition("=")
        if opt not in ("-p", "--pid", "--sockdir", "--libxo", "--owner"):
            break
        if not eq:
            if i + 1 >= len(argv):
                raise SystemExit(_usage(f"option {opt} requires an argument"))
            value = argv[i + 1]
            i += 1
        i += 1
        if opt in ("-p", "--pid"):
            pid = value
        elif opt == "--sockdir":
            sockdir = value
        elif opt == "--owner":
            owner = value
        else:
            libxo = value
    if pid is not None:
        try:
            pid = int(pid)
        except ValueError:
            raise SystemExit(_usage(f"'{pid}' is not a pid")) from None
    parse_globals.owner = None
    if owner is not None:
        from plebconf.rpc.client import owner_uid
        try:
            parse_globals.owner = owner_uid(owner)
        except ValueError as exc:
            raise SystemExit(_usage(f"--owner: {exc}")) from None
    return pid, sockdir, libxo, argv[i:]


def _usage(problem: str) -> int:
    sys.stderr.write(f"plebconf: {problem}\n"
                     "usage: plebconf [-p PID] [--owner USER|UID] [--sockdir DIR] [--libxo FMT] "
                     "TOOL [ARGS...]\n"
                     f"tools: {' '.join(TOOLS)}\n")
    return 64


def tool_usage(name: str) -> str:
    """The usage text a tool prints (its module's USAGE), else its one-line description."""
    module = importlib.import_module(f"plebconf.cli.{TOOLS[name]}")
    text = getattr(module, "USAGE", None)
    if text is None:
        text = f"usage: plebconf {name}\n\n{(module.command.__doc__ or '').strip()}"
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    pid, sockdir, libxo, rest = parse_globals(argv)
    if rest[:1] == ["lab"]:
        # labs are pleblab's (it starts stacks, so it imports plebnet_core; plebconf must not)
        sys.exit(importlib.import_module("pleblab.cli").main(rest[1:]))
    command = load_tool(rest[0]) if rest else None
    if command is None:
        _click_main(argv)
        return
    if rest[1:2] == ["--help"]:
        # `plebconf TOOL --help`: no FreeBSD tool takes --help as its first word (each would
        # call it an illegal option or a bad keyword), so this takes nothing from them
        sys.stdout.write(tool_usage(rest[0]))
        sys.exit(0)
    from .common import Context, ConnectError, fail, sanitise_terminal
    sanitise_terminal()
    try:
        status = command(Context(pid, sockdir, libxo, parse_globals.owner), rest[1:])
    except (ConnectError, TimeoutError) as exc:
        # the stack exited or stalled mid-command: one line, never a traceback
        sys.stdout.flush()
        fail(f"plebconf: {exc}", 69)    # EX_UNAVAILABLE
    sys.exit(status or 0)


def _click_main(argv: list[str]) -> None:
    """Help and errors, the click way, listing the tools that exist."""
    import click

    @click.group(context_settings={"help_option_names": ["-h", "--help"]},
                 invoke_without_command=True)
    @click.option("-p", "--pid", type=int, help=GLOBAL_HELP["-p"])
    @click.option("--owner", metavar="USER|UID", help=GLOBAL_HELP["--owner"])
    @click.option("--sockdir", help=GLOBAL_HELP["--sockdir"])
    @click.option("--libxo", metavar="FMT", help=GLOBAL_HELP["--libxo"])
    @click.pass_context
    def plebconf(ctx, pid, owner, sockdir, libxo):
        """Configure and inspect a plebnet stack with FreeBSD's tools."""
        if ctx.invoked_subcommand is None:
            click.echo(ctx.get_help())

    for name in TOOLS:
        fn = load_tool(name)
        if fn is not None:
            plebconf.add_command(click.Command(name, help=(fn.__doc__ or "").strip(),
                                               callback=lambda: None))
    plebconf.main(argv, prog_name="plebconf")
