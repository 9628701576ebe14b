"""`plebconf tcpdump`: capture an interface of the stack to a pcap file.

    tcpdump -i interface -w file [-c count] [-s snaplen] [-U] [-n]

The stack writes the file (op "pcap"; the path is made absolute here).  Like tcpdump it says
where it listens on stderr, runs until count packets or ^C, then reports the count.  Decoding
to text is left to the real tcpdump: `tcpdump -r file`.
"""
from __future__ import annotations

import os
import sys

from .common import ConnectError, OpError, fail, tool_command

USAGE = "usage: tcpdump -i interface -w file [-c count] [-nU] [-s snaplen]"
LINKTYPES = {1: "EN10MB (Ethernet)", 0: "NULL (BSD loopback)"}


@tool_command("tcpdump")
def command(ctx, args):
    """Capture an interface's traffic to a pcap file (tcpdump -i IF -w FILE [-c N])."""
    ifname = path = None
    count = 0
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-n", "-U", "-nU", "-Un", "-p"):
            i += 1
            continue
        if arg[:2] in ("-i", "-w", "-c", "-s"):
            value = arg[2:]
            if not value:
                i += 1
                if i >= len(args):
                    fail(f"tcpdump: option requires an argument -- '{arg[1]}'\n{USAGE}", 1)
                value = args[i]
            if arg[1] == "i":
                ifname = value
            elif arg[1] == "w":
                path = value
            elif arg[1] == "c":
                if not value.isdigit() or int(value) <= 0:
                    fail(f"tcpdump: invalid packet count {value}", 1)
                count = int(value)
            i += 1
            continue
        fail(f"tcpdump: only capture to a file is supported here\n{USAGE}", 1)
    if path is None:
        fail(f"tcpdump: -w file is required (read it with: tcpdump -r file)\n{USAGE}", 1)
    if ifname is None:
        fail(f"tcpdump: -i interface is required\n{USAGE}", 1)
    client = ctx.client
    captured = 0
    try:
        chunks = client.stream("pcap", {"ifname": ifname, "file": os.path.abspath(path),
                                        "count": count})
        for chunk in chunks:
            for row in chunk or ():
                if "listening" in row:
                    sys.stderr.write(f"tcpdump: listening on {ifname}, link-type "
                                     f"{LINKTYPES.get(row['linktype'], row['linktype'])}, "
                                     f"snapshot length 262144 bytes\n")
                    sys.stderr.flush()
                elif "captured" in row:
                    captured = row["captured"]
    except KeyboardInterrupt:
        captured = None
    except OpError as exc:
        fail(f"tcpdump: {exc.msg}", 1)
    except ConnectError as exc:
        fail(f"plebconf: {exc}", 69)
    if captured is None:
        # ^C: closing the connection stops the capture; the stack counted, we did not
        sys.stderr.write("\n")
        return 0
    sys.stderr.write(f"{captured} packets captured\n{captured} packets received by filter\n"
                     "0 packets dropped by kernel\n")
    return 0
