"""`plebconf`: FreeBSD's network tools against a running plebnet stack.

    plebconf [-p PID] [--sockdir DIR] [--libxo FMT] TOOL [ARGS...]

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
    "netstat": "netstat",
    "ps": "ps",
    "rc": "rc",
    "batch": "batch",
    "ping": "ping",
    "tcpdump": "tcpdump",
    "log": "log",
}
GLOBAL_HELP = {
    "-p": "PID of the stack to talk to (default: $PLEBNET_PID)",
    "--sockdir": "where stack sockets live (default: $PLEBNET_SOCKDIR or /tmp)",
    "--libxo": "output format for scripts: json",
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
    """(pid, sockdir, libxo, rest) from the global options before the tool name."""
    pid = os.environ.get("PLEBNET_PID")
    sockdir = os.environ.get("PLEBNET_SOCKDIR", "/tmp")
    libxo = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        opt, eq, value = argv[i].partition("=")
        if opt not in ("-p", "--pid", "--sockdir", "--libxo"):
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
        else:
            libxo = value
    if pid is not None:
        try:
            pid = int(pid)
        except ValueError:
            raise SystemExit(_usage(f"'{pid}' is not a pid")) from None
    return pid, sockdir, libxo, argv[i:]


def _usage(problem: str) -> int:
    sys.stderr.write(f"plebconf: {problem}\n"
                     "usage: plebconf [-p PID] [--sockdir DIR] [--libxo FMT] TOOL [ARGS...]\n"
                     f"tools: {' '.join(TOOLS)}\n")
    return 64


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
    from .common import Context
    sys.exit(command(Context(pid, sockdir, libxo), rest[1:]) or 0)


def _click_main(argv: list[str]) -> None:
    """Help and errors, the click way, listing the tools that exist."""
    import click

    @click.group(context_settings={"help_option_names": ["-h", "--help"]},
                 invoke_without_command=True)
    @click.option("-p", "--pid", type=int, help=GLOBAL_HELP["-p"])
    @click.option("--sockdir", help=GLOBAL_HELP["--sockdir"])
    @click.option("--libxo", metavar="FMT", help=GLOBAL_HELP["--libxo"])
    @click.pass_context
    def plebconf(ctx, pid, sockdir, libxo):
        """Configure and inspect a plebnet stack with FreeBSD's tools."""
        if ctx.invoked_subcommand is None:
            click.echo(ctx.get_help())

    for name in TOOLS:
        fn = load_tool(name)
        if fn is not None:
            plebconf.add_command(click.Command(name, help=(fn.__doc__ or "").strip(),
                                               callback=lambda: None))
    plebconf.main(argv, prog_name="plebconf")
