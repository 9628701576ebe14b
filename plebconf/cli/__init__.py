"""`plebconf`: FreeBSD's network tools against a running plebnet stack.

    plebconf [-p PID] [--sockdir DIR] TOOL [ARGS...]

Each tool lives in its own module and is imported only when run, so a plain `ifconfig` run
loads click, msgpack and that one module (never rich).
"""
from __future__ import annotations

import importlib

import click

# tool name -> module under plebconf.cli; each module defines `command` (a click.Command)
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


class ToolGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in TOOLS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        module = TOOLS.get(name)
        if module is None:
            return None
        try:
            return importlib.import_module(f"plebconf.cli.{module}").command
        except ModuleNotFoundError as exc:
            if exc.name == f"plebconf.cli.{module}":
                return None         # a tool not built yet
            raise


@click.group(cls=ToolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-p", "--pid", type=int, envvar="PLEBNET_PID", help="Stack to talk to.")
@click.option("--sockdir", envvar="PLEBNET_SOCKDIR", default="/tmp", show_default=True,
              help="Where stack sockets live.")
@click.option("--libxo", "libxo", metavar="FMT", help="Output format (json) for scripts.")
@click.pass_context
def main(ctx, pid, sockdir, libxo):
    """Configure and inspect a plebnet stack with FreeBSD's tools."""
    from .common import Context
    ctx.obj = Context(pid, sockdir, libxo)
