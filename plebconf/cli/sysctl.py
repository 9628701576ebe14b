"""`plebconf sysctl [-n] [-i] name[=value] ...`: FreeBSD 14's sysctl(8) for the stack's
variables (net.inet.ip.forwarding, net.link.ether.inet.max_age, net.inet.tcp.hostcache.list,
...).

    name          prints `name: value`          (-n: the value alone)
    name=value    sets it, prints `name: old -> new`

Each name is handled alone and a failure does not stop the others, as sysctl.c's parse()
returns to its loop; the exit status is 1 if any failed.  Node listings (`sysctl net.inet`,
`-a`) are not offered: the stack keeps its variables by full name only.
"""
from __future__ import annotations

import sys

from plebproto.constants import ENOENT, EPERM, strerror

from .common import OpError, ToolError, getopt, tool_command

USAGE = "usage: sysctl [-in] name[=value] ..."


def refusal(name: str, errno: int, setting: bool, value: str | None = None) -> str:
    """sysctl.c's words for a name it could not read or set (to value, when known)."""
    if errno == ENOENT:
        return f"sysctl: unknown oid '{name}'"
    if errno == EPERM and setting:
        return f"sysctl: oid '{name}' is read only"
    shown = name if value is None else f"{name}={value}"
    return f"sysctl: {shown}: {strerror(errno)}"


def strtol(text: str) -> int | None:
    """C's strtol(text, &end, 0) when it takes the whole text (as sysctl.c requires), else
    None: optional blanks and sign, then 0x hex, 0 octal or decimal."""
    body = text.lstrip(" \t\n\v\f\r")
    sign = -1 if body[:1] == "-" else 1
    body = body[1:] if body[:1] in "+-" else body
    base = 16 if body[:2].lower() == "0x" else 8 if body[:1] == "0" and len(body) > 1 else 10
    digits = body[2:] if base == 16 else body
    try:
        return sign * int(digits, base) if digits and digits.isalnum() else None
    except ValueError:
        return None


def show(value) -> str:
    """A value as show_var prints it: integers and strings as they are; a structure (the
    counter sets, read by netstat -s) is opaque to sysctl without -o: nothing."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, str)):
        return str(value)
    return ""


@tool_command("sysctl")
def command(ctx, args):
    """Read and set the stack's variables (FreeBSD sysctl(8))."""
    try:
        opts, names = getopt(args, "in", "sysctl", USAGE, 1)
    except ToolError as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.status
    flags = {c for c, _ in opts}
    if not names:
        sys.stderr.write(USAGE + "\n")
        return 1
    status = 0
    for arg in names:
        name, sep, value = arg.partition("=")
        # the dumps (NET_RT_DUMP, ...) share the op but are not variables
        if "." not in name:
            err = ENOENT
        else:
            err = 0
            try:
                old = ctx.client.call("sysctl", {"name": name})
                sent = value
                if sep and isinstance(old, int):
                    # sysctl.c parses a number itself before the kernel sees it
                    number = strtol(value)
                    if number is None:
                        sys.stderr.write("sysctl: empty numeric value\n" if not value else
                                         f"sysctl: invalid integer '{value}'\n")
                        status = 1
                        continue
                    sent = str(number)
                if sep:
                    ctx.client.call("sysctl", {"name": name, "value": sent})
                    new = ctx.client.call("sysctl", {"name": name})
            except OpError as exc:
                err = exc.errno
        if err:
            if not (err == ENOENT and "i" in flags):
                sys.stderr.write(refusal(name, err, bool(sep), value if sep else None) + "\n")
                status = 1
            continue
        head = "" if "n" in flags else f"{name}: "
        if sep:
            print(f"{head}{show(old)} -> {show(new)}")
        else:
            print(f"{head}{show(old)}")
    return status
