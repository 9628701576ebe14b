"""`plebconf tcpdump`: capture an interface of the stack to a pcap file.

    tcpdump -i interface -w file [-c count] [-s snaplen] [-U] [-n]

The stack writes the file (op "pcap"; the path is made absolute here).  Like tcpdump it says
where it listens on stderr, runs until count packets or ^C, then prints tcpdump's statistics
(info(1): captured, received by filter, dropped by kernel) on stderr.  Decoding to text is
left to the real tcpdump: `tcpdump -r file`.
"""
from __future__ import annotations

import os
import struct
import sys

from .common import Client, ConnectError, OpError, fail, tool_command

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
        # ^C: closing the connection stops the capture.  A round trip on a new connection
        # comes after the stack read that close (its loop takes the old connection's EOF
        # before it can read a request of a connection it has yet to accept), so the file
        # is then complete and its records are what was captured.
        client.close()
        try:
            Client.connect(pid=ctx.pid, directory=ctx.sockdir).close()
        except ConnectError:
            pass
        captured = records_in(path)
        # tcpdump: "We got interrupted, so perhaps we didn't manage to finish a line we were
        # printing.  Print an extra newline, just in case." (putchar: stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
    info(captured)
    return 0


def _plural(n: int) -> str:
    return "" if n == 1 else "s"          # tcpdump's PLURAL_SUFFIX


def info(captured: int) -> None:
    """tcpdump.c info(1).  The stack records every packet of the interface as it sees it,
    unbuffered, so what the filter received is what was captured and nothing is dropped
    between them (pcap_stats' ps_recv, ps_drop)."""
    received, dropped = captured, 0
    sys.stderr.write(f"{captured} packet{_plural(captured)} captured\n"
                     f"{received} packet{_plural(received)} received by filter\n"
                     f"{dropped} packet{_plural(dropped)} dropped by kernel\n")


def records_in(path: str) -> int:
    """The packets a pcap file holds (24-byte file header, then 16-byte record headers with
    the captured length at offset 8); a torn last record is not counted."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    n, pos = 0, 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, pos + 8)[0]
        if pos + 16 + incl > len(data):
            break
        pos += 16 + incl
        n += 1
    return n
