"""`plebconf traceroute6`: FreeBSD 14's traceroute6(8) (the IPv6 half of traceroute.py)."""
from __future__ import annotations

from .common import tool_command
from .traceroute import command as _traceroute

# `plebconf traceroute6 --help`: what this build takes
USAGE = """\
usage: traceroute6 [-dIlnU] [-f firsthop] [-m hoplimit] [-p port] [-q probes] [-s src]
                   [-w waittime] target [datalen]"""


@tool_command("traceroute6")
def command(ctx, args):
    """Print the route IPv6 packets take to a host, probing from the stack (FreeBSD
    traceroute6)."""
    return _traceroute(ctx, args, prog="traceroute6")
