"""What every tool shares: the stack connection, FreeBSD-style errors, exit codes, --libxo,
and the escaping of control characters on the way to a terminal (sanitise_terminal)."""
from __future__ import annotations

import os
import sys

from plebconf.rpc.client import Client, ConnectError  # noqa: F401 (re-exported)
from plebproto.errors import OpError  # noqa: F401 (re-exported)


class ToolError(Exception):
    """A tool refuses a command line: message is the whole text for stderr (lines with the
    tool's prefix, e.g. "ifconfig: 'mtu' requires argument"), status the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message, status)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


def __getattr__(name: str):
    """ToolOps (plebconf.cli.toolops), what the tools' ops_for return, re-exported here for
    the rc.conf executor and older imports; loaded on first use."""
    if name != "ToolOps":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .toolops import ToolOps
    globals()["ToolOps"] = ToolOps
    return ToolOps


DEFAULT_TIMEOUT = 30.0          # seconds a stack may take to answer before it counts as stalled


class Context:
    def __init__(self, pid: int | None, sockdir: str, libxo: str | None,
                 owner: int | None = None):
        self.pid = pid
        self.sockdir = sockdir
        self.libxo = libxo
        self.owner = owner              # uid named by --owner: a stack not ours we mean
        # PLEBNET_TIMEOUT: tests lower it rather than wait 30 s for a stopped stack
        self.timeout = float(os.environ.get("PLEBNET_TIMEOUT") or DEFAULT_TIMEOUT)
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = Client.connect(pid=self.pid, directory=self.sockdir,
                                              timeout=self.timeout, owner=self.owner)
            except ConnectError as exc:
                fail(f"plebconf: {exc}", 69)    # EX_UNAVAILABLE
        return self._client


class StackTool:
    """A run of a tool that reads one stack (arp, ndp): its context, the client, and the
    interface list, read at most once per run."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._ifaces: list | None = None

    @property
    def client(self) -> Client:
        return self.ctx.client

    def ifaces(self) -> list:
        if self._ifaces is None:
            self._ifaces = self.client.sysctl("NET_RT_IFLIST")
        return self._ifaces


def tool_command(name: str):
    """Mark fn(ctx, args) -> exit status as the tool `name`.  Tools take FreeBSD's arguments
    verbatim and parse them with their own keyword tables; nothing else touches them."""
    def wrap(fn):
        fn.tool_name = name
        return fn
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
    import json     # only JSON runs pay for it
    sys.stdout.write(json.dumps(document) + "\n")


def fail(message: str, status: int = 1):
    sys.stderr.write(message + "\n")
    sys.exit(status)


def getopt(args: list[str], optstring: str, tool: str, usage: str, status: int):
    """POSIX getopt(3) as FreeBSD's tools call it: options up to the first operand or "--";
    ("c", value or None) pairs and the operands.  A bad option is the tool's error, worded
    as getopt's and followed by the tool's usage text."""
    found, i = [], 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        word = args[i]
        i += 1
        if word == "--":
            break
        j = 1
        while j < len(word):
            c = word[j]
            at = optstring.find(c)
            if at < 0 or c == ":":
                raise ToolError(f"{tool}: illegal option -- {c}\n{usage}", status)
            if optstring[at + 1:at + 2] != ":":
                found.append((c, None))
                j += 1
                continue
            value = word[j + 1:]
            if not value:
                if i >= len(args):
                    raise ToolError(f"{tool}: option requires an argument -- {c}\n{usage}",
                                    status)
                value = args[i]
                i += 1
            found.append((c, value))
            break
    return found, args[i:]



# -- terminals ---------------------------------------------------------------------------------
# Control characters as vis(3) writes them by default: \^C for C0 and DEL, \M-^C for the C1
# controls (0x80-0x9f, which terminals also obey: 0x9b is CSI).  Newline and tab stay: the
# tools lay out their own lines with them, and they change no terminal state.
_VIS = {c: "\\^" + chr(c ^ 0x40) for c in (*range(0x20), 0x7f) if c not in (0x09, 0x0a)}
_VIS.update({c: "\\M-^" + chr((c - 0x80) ^ 0x40) for c in range(0x80, 0xa0)})


def vis(text: str) -> str:
    """text with its control characters escaped as vis(3) does (see _VIS)."""
    return text.translate(_VIS)


class _VisWriter:
    """A text stream that escapes control characters on their way to the terminal."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.translate(_VIS))
        return len(text)

    def __getattr__(self, name):        # flush, fileno, isatty, encoding, buffer...
        return getattr(self._stream, name)


def sanitise_terminal() -> None:
    """Escape control characters in everything the tool writes to a terminal.

    Every string a stack sends (interface descriptions, names, error messages) ends up in
    what the tools print, and an escape sequence in it would drive the user's terminal
    (retitle it, rewrite what is shown, answer back): escaped here once, at the stream, no
    tool can forget it.  Only on a terminal: a pipe or a file is data for another program
    (rc save > rc.conf, --libxo json | jq), which must get the stack's text byte-exact, as
    FreeBSD's tools write it; the control characters do nothing there until a terminal
    shows them, and then it is that program's output."""
    if sys.stdout.isatty():
        sys.stdout = _VisWriter(sys.stdout)
    if sys.stderr.isatty():
        sys.stderr = _VisWriter(sys.stderr)
