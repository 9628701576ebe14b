#!/usr/bin/env python3
"""Pipeline fuzz frames (random, truncated, bit-flipped, mistyped, nested, huge) into a stack;
print the frames sent, replies, crashes, state-invariant violations and internal errors.
Then malformed IPv6 (IPv6, ICMPv6, ND, RA, fragments, extension headers, packet too big:
tools/packets6.py) into another, over Ethernet-over-UDP: each must be counted, and the
stack must live with its IPv6 state unchanged.

    python tools/fuzz.py [--frames 1000000] [--packets6 100000] [--seed 1]
"""
import argparse
import json
import sys

import _run  # noqa: F401

from tools.harness import fuzz_frames
from tools.packets6 import fuzz_packets6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--packets6", type=int, default=100_000,
                    help="malformed IPv6 frames into a live stack (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-q", "--quiet", action="store_true")
    opts = ap.parse_args()
    log = None if opts.quiet else print
    figures = fuzz_frames(opts.frames, opts.seed, check_every=max(10_000, opts.frames // 20),
                          log=log)
    print(json.dumps(figures))
    bad = (figures["crashes"] or figures["violations"] or figures["internal_errors"]
           or figures["replies"] != opts.frames)
    if opts.packets6:
        p6 = fuzz_packets6(opts.packets6, opts.seed, log=log)
        print(json.dumps(p6))
        bad = bad or packets6_failed(p6, opts.packets6)
    return int(bool(bad))


def packets6_failed(p6: dict, frames: int) -> bool:
    """Malformed IPv6: all sent, all counted, nothing changed, nothing broke."""
    return bool(p6["frames"] < frames or p6["counted"] != p6["frames"] or p6["crashes"]
                or p6["state_changed"] or p6["violations"] or p6["internal_errors"]
                or not p6["hello_after"])


if __name__ == "__main__":
    sys.exit(main())
