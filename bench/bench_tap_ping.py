"""End-to-end: the kernel flood-pings through a TAP device, answered with the wire codecs.

Needs root (a throwaway network namespace pleb-b-<pid>; traffic stays inside it).
Run: python bench/bench_tap_ping.py [SECONDS] [FLOODERS].  Prints echo replies per second: the
ceiling a single-threaded Python responder reaches with these codecs and this device, before any
stack logic (ARP table, routing, interface state) is added.
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from plebnet_core.dataplane.phy import TapDevice  # noqa: E402
from plebnet_core.dataplane.wire import arp, ethernet, icmp, ipv4  # noqa: E402

MAC = ethernet.mac_parse("02:00:00:00:00:02")
ADDR = bytes([10, 234, 0, 2])


def respond(tap: TapDevice, until: float) -> int:
    replies = 0
    fd = tap.fileno()
    while time.monotonic() < until:
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        while (frame := tap.recv()) is not None:
            eth = ethernet.parse(frame)
            if eth.ethertype == ethernet.ETHERTYPE_IPV4:
                pkt = ipv4.parse(eth.payload)
                if pkt.proto != ipv4.PROTO_ICMP or pkt.dst != ADDR or pkt.is_fragment:
                    continue
                msg = icmp.parse(pkt.payload)
                if msg.type != icmp.ECHO_REQUEST:
                    continue
                reply = icmp.echo_reply_to(msg)
                tap.send(ethernet.header(eth.src, MAC, ethernet.ETHERTYPE_IPV4)
                         + ipv4.header(ADDR, pkt.src, ipv4.PROTO_ICMP, len(reply)) + reply)
                replies += 1
            elif eth.ethertype == ethernet.ETHERTYPE_ARP:
                req = arp.parse(eth.payload)
                if req.op == arp.OP_REQUEST and req.tpa == ADDR:
                    tap.send(ethernet.emit(req.sha, MAC, ethernet.ETHERTYPE_ARP,
                                           arp.reply(MAC, ADDR, req.sha, req.spa)))
    return replies


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    flooders = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    if os.geteuid() != 0:
        sys.exit("needs root: creates a network namespace and a TAP device")
    ns = f"pleb-b-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with TapDevice("plbench%d", netns=ns, up=True, address="10.234.0.1/24") as tap:
            # -f: send as soon as the reply arrives; several flooders keep the TAP queue busy
            procs = [subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-f", "-q", "-w",
                                       str(int(seconds)), "10.234.0.2"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(flooders)]
            start = time.monotonic()
            replies = respond(tap, start + seconds + 0.5)
            received = 0
            for p in procs:
                out = p.communicate()[0]
                m = re.search(r"(\d+) received", out)
                received += int(m.group(1)) if m else 0
            print(f"{'flooders':<28}{flooders:>12}")
            print(f"{'replies sent':<28}{replies:>12,}")
            print(f"{'replies the kernel counted':<28}{received:>12,}")
            print(f"{'replies per second':<28}{received / seconds:>12,.0f}")
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
