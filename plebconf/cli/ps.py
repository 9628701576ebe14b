"""`plebconf ps`: the stacks running in the socket directory (stale sockets skipped)."""
from __future__ import annotations

import os
import stat
import time

from plebconf.rpc.client import Client, ConnectError
from plebproto.errors import OpError

from .common import emit_json, strip_libxo, tool_command


def running_stacks(directory: str):
    """(pid, hello info) of every live stack whose socket is in directory."""
    try:
        names = sorted((n for n in os.listdir(directory) if n.isdigit()), key=int)
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
            with Client.connect(pid=int(name), directory=directory, timeout=2.0) as client:
                found.append((int(name), client.server))
        except (ConnectError, OpError, OSError):
            continue        # stale, foreign, or not answering
    return found


def uptime_text(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}+{text}" if days else text


@tool_command("ps")
def command(ctx, args):
    """List running stacks: pid, uptime, interfaces."""
    fmt, args = strip_libxo(args, ctx.libxo)
    stacks = running_stacks(ctx.sockdir)
    now = time.time()
    if fmt == "json":
        emit_json({"stacks": [{"pid": pid, "uptime": int(now - info["started"]),
                               "interfaces": info["interfaces"],
                               "socket": os.path.join(ctx.sockdir, str(pid))}
                              for pid, info in stacks]})
        return 0
    print(f"{'PID':>7} {'UPTIME':>11}  INTERFACES")
    for pid, info in stacks:
        print(f"{pid:>7} {uptime_text(now - info['started']):>11}  "
              f"{' '.join(info['interfaces'])}")
    return 0
