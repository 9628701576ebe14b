"""`plebconf ping6`: FreeBSD 14's ping6, the name under which ping(8) is ping -6."""
from __future__ import annotations

from .common import tool_command
from .ping import command as _ping


@tool_command("ping6")
def command(ctx, args):
    """Send ICMPv6 echo requests from the stack (FreeBSD ping6)."""
    return _ping(ctx, args, prog="ping6")
