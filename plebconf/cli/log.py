"""`plebconf log [-n N] [-v] [--libxo json]`: the stack's audit log of changes.

One line per change request, oldest first: sequence number, local time, the requesting
process and user, the op (the ioctl / routing message / sysctl name) and its outcome, the
errno's wording for a refusal.  -v adds each op's arguments.
"""
from __future__ import annotations

import time

from plebproto.constants import strerror

from .common import OpError, emit_json, fail, strip_libxo, tool_command

USAGE = "usage: log [-v] [-n count] [--libxo json]"


def describe(entry: dict) -> str:
    """The op with its sub-request (ioctl SIOCAIFADDR, rtmsg RTM_ADD, sysctl NAME)."""
    op, args = entry["op"], entry.get("args")
    if not isinstance(args, dict):
        return str(op)
    ops = args.get("ops")       # a list, or its length when the stack kept a summary
    if op == "batch" and (isinstance(ops, list) or type(ops) is int):
        return f"batch ({ops if type(ops) is int else len(ops)} ops)"
    sub = args.get("req") or args.get("type") or args.get("name")
    return f"{op} {sub}" if isinstance(sub, str) else str(op)


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
            if not verbose:
                e.pop("args", None)
        emit_json({"audit": {"entry": entries}})
        return 0
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"]))
        outcome = "ok" if not e["errno"] else (
            f"refused: {e['msg'] or strerror(e['errno'])} (errno {e['errno']})")
        print(f"{e['seq']:>6} {when} pid {e['pid']} uid {e['uid']} {describe(e)}: {outcome}")
        if verbose:
            print(f"       {e.get('args')!r}")
    return 0
