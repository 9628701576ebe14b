"""`plebconf log [-n N] [-v] [--libxo json]`: the stack's audit log of changes.

One line per change request, oldest first: sequence number, local time, the requesting
process and user, the change said as the FreeBSD command that makes it (log_commands.py:
`route add -net 10.1.0.0/16 10.0.0.1`) and its outcome, the errno's wording for a refusal.
-v adds each request as it reached the stack, as JSON.
"""
from __future__ import annotations

import time

from plebproto.constants import strerror

from .common import OpError, emit_json, fail, strip_libxo, tool_command
from .log_commands import commands, said

USAGE = "usage: log [-v] [-n count] [--libxo json]"


def describe(entry: dict) -> str:
    """The change as the command(s) that make it."""
    return said(entry["op"], entry.get("args"))


def _plain(value):
    """msgpack's bytes (a packed route column) as JSON can carry them."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse(args: list[str]):
    count, verbose, i = None, False, 0
    while i < len(args):
        arg = args[i]
        if arg == "-v":
            verbose = True
        elif arg == "-n" or (arg.startswith("-n") and len(arg) > 2):
            value = arg[2:] if len(arg) > 2 else (args[i + 1] if i + 1 < len(args) else None)
            i += 0 if len(arg) > 2 else 1
            if value is None or not value.isdigit():
                fail(f"log: illegal count -- {value}" if value is not None else USAGE, 64)
            count = int(value)
        else:
            fail(USAGE, 64)
        i += 1
    return count, verbose


@tool_command("log")
def command(ctx, args):
    """Show the audit log: who changed what, when, and whether it was refused."""
    fmt, args = strip_libxo(args, ctx.libxo)
    count, verbose = parse(args)
    request = {"args": True}            # args are needed to name the sub-request
    if count is not None:
        request["n"] = count
    try:
        entries = ctx.client.call("audit", request)
    except OpError as exc:
        fail(f"log: {exc.msg}", 1)
    if fmt == "json":
        for e in entries:
            e["result"] = "ok" if not e["errno"] else e["msg"] or strerror(e["errno"])
            e["commands"] = commands(e["op"], e.get("args"))
            if verbose:
                e["args"] = _plain(e.get("args"))
            else:
                e.pop("args", None)
        emit_json({"audit": {"entry": entries}})
        return 0
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
        outcome = "ok" if not e["errno"] else (
            f"refused: {e['msg'] or strerror(e['errno'])} (errno {e['errno']})")
        print(f"{e['seq']:>6} {when} pid {e['pid']} uid {e['uid']} {describe(e)}: {outcome}")
        if verbose:
            import json     # only -v runs pay for it
            print("       " + json.dumps({"op": e["op"], "args": _plain(e.get("args"))},
                                        sort_keys=False))
    return 0
