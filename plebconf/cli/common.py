"""What every tool shares: the stack connection, FreeBSD-style errors, exit codes, --libxo."""
from __future__ import annotations

import json
import sys

import click

from plebconf.rpc.client import Client, ConnectError, RpcError  # noqa: F401 (re-exported)

# Tools take FreeBSD's arguments verbatim: click must not interpret -a, -n, --libxo, ...
TOOL_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False,
                 "help_option_names": []}


class Context:
    def __init__(self, pid: int | None, sockdir: str, libxo: str | None):
        self.pid = pid
        self.sockdir = sockdir
        self.libxo = libxo
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = Client.connect(pid=self.pid, directory=self.sockdir)
            except ConnectError as exc:
                fail(f"plebconf: {exc}", 69)    # EX_UNAVAILABLE
        return self._client


def tool_command(name: str):
    """Decorator: a click command taking every argument verbatim, run with the Context."""
    def wrap(fn):
        @click.command(name, context_settings=TOOL_SETTINGS, add_help_option=False)
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        @click.pass_obj
        def command(obj, args):
            sys.exit(fn(obj, list(args)) or 0)
        command.__doc__ = fn.__doc__
        return command
    return wrap


def strip_libxo(args: list[str], default: str | None = None) -> tuple[str | None, list[str]]:
    """libxo's --libxo FMT / --libxo=FMT / --libxo:FLAGS, removed from args as libxo does."""
    fmt, rest, i = default, [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--libxo" and i + 1 < len(args):
            fmt, i = args[i + 1], i + 2
            continue
        if arg.startswith("--libxo=") or arg.startswith("--libxo:"):
            fmt = arg[8:]
        else:
            rest.append(arg)
        i += 1
    if fmt is not None:
        fmt = "json" if fmt.split(",")[0] in ("json", "J", "json,pretty") or fmt.startswith(
            "json") else fmt
    return fmt, rest


def emit_json(document: dict) -> None:
    sys.stdout.write(json.dumps(document) + "\n")


def fail(message: str, status: int = 1):
    sys.stderr.write(message + "\n")
    sys.exit(status)


# -- the tools' pure grammar contract: ops_for(argv) -> ToolOps | None ------------------------
from dataclasses import dataclass, field  # noqa: E402


@dataclass
class ToolOps:
    """What one tool command line does: batch entries ([op, args] or [op, args, [errno...]]),
    per-op labels the tool words its errors with, lines printed on success, warnings."""
    ops: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    output: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


class ToolError(Exception):
    """A command line the tool's grammar refuses: its message and exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status
