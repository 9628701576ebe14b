"""`plebconf ps`: every stack socket in the socket directory, with its owner and what this
user can do with it: the running stacks it may talk to (uptime, interfaces), the ones it may
not (another user's, or one that refuses it), and stale sockets of stacks that are gone
(the next stack its owner starts removes them: the stack server's sweep_stale_sockets).

Another user's stack is not talked to at all unless --owner names that user: its answers
could say anything (plebconf/rpc/client.py, trust)."""
from __future__ import annotations

import os
import stat
import time

from plebconf.rpc.client import Client, ConnectError, user_name
from plebproto.errors import OpError

from .common import emit_json, strip_libxo, tool_command

RUNNING, STALE, FOREIGN, REFUSED = "running", "stale", "not yours", "refused"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # EPERM: alive, as another user's process
        return True
    return True


def _listening(path: str) -> bool:
    """Somebody accepts connections at path (nothing is sent: a probe, not a talk)."""
    import _socket as socket
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def survey(directory: str, owner: int | None = None) -> list[dict]:
    """One entry per stack socket (a socket named by a pid) in directory, in pid order:
    pid, uid, socket, status (RUNNING, STALE, FOREIGN, REFUSED), and info (the stack's
    hello) when RUNNING or reason (why not) when REFUSED."""
    try:
        names = sorted((n for n in os.listdir(directory) if n.isdigit()), key=int)
    except OSError:
        return []
    trusted = {0, os.getuid(), owner}
    found = []
    for name in names:
        pid, path = int(name), os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode):
            continue            # a file, a symlink: no stack's socket
        entry = {"pid": pid, "uid": st.st_uid, "socket": path}
        found.append(entry)
        if not _pid_alive(pid) and not _listening(path):
            entry["status"] = STALE
        elif st.st_uid not in trusted:
            entry["status"] = FOREIGN
        else:
            try:
                with Client.connect(pid=pid, directory=directory, timeout=2.0,
                                    owner=owner) as client:
                    entry["status"], entry["info"] = RUNNING, client.server
            except (ConnectError, OpError, OSError) as exc:
                entry["status"], entry["reason"] = REFUSED, str(exc)
    return found


def running_stacks(directory: str):
    """(pid, hello info) of every live stack in directory this user may talk to."""
    return [(e["pid"], e["info"]) for e in survey(directory) if e["status"] == RUNNING]


def uptime_text(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}+{text}" if days else text


def _note(entry: dict) -> str:
    """What the INTERFACES column says of a stack this user cannot list."""
    status = entry["status"]
    if status == STALE:
        return "(stale: its stack is gone; removed when its owner starts a stack)"
    if status == FOREIGN:
        return (f"(not yours: plebconf --owner {user_name(entry['uid'])} -p {entry['pid']}"
                f" to talk to it)")
    return f"(cannot talk to it: {entry['reason']})"


@tool_command("ps")
def command(ctx, args):
    """List the stack sockets: pid, owner, uptime, interfaces (or why not)."""
    fmt, args = strip_libxo(args, ctx.libxo)
    entries = survey(ctx.sockdir, ctx.owner)
    now = time.time()
    if fmt == "json":
        stacks = []
        for e in entries:
            item = {"pid": e["pid"], "user": user_name(e["uid"]), "uid": e["uid"],
                    "socket": e["socket"], "status": e["status"]}
            if e["status"] == RUNNING:
                item["uptime"] = int(now - e["info"]["started"])
                item["interfaces"] = e["info"]["interfaces"]
            elif e["status"] == REFUSED:
                item["reason"] = e["reason"]
            stacks.append(item)
        emit_json({"stacks": stacks})
        return 0
    print(f"{'PID':>7} {'USER':<10} {'UPTIME':>11}  INTERFACES")
    for e in entries:
        if e["status"] == RUNNING:
            uptime = uptime_text(now - e["info"]["started"])
            rest = " ".join(e["info"]["interfaces"])
        else:
            uptime, rest = "-", _note(e)
        print(f"{e['pid']:>7} {user_name(e['uid']):<10} {uptime:>11}  {rest}")
    return 0
