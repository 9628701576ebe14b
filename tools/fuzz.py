#!/usr/bin/env python3
"""Pipeline fuzz frames (random, truncated, bit-flipped, mistyped, nested, huge) into a stack;
print the frames sent, replies, crashes, state-invariant violations and internal errors.

    python tools/fuzz.py [--frames 1000000] [--seed 1]
"""
import argparse
import json
import sys

import _run  # noqa: F401

from tools.harness import fuzz_frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-q", "--quiet", action="store_true")
    opts = ap.parse_args()
    figures = fuzz_frames(opts.frames, opts.seed, check_every=max(10_000, opts.frames // 20),
                          log=None if opts.quiet else print)
    print(json.dumps(figures))
    return int(figures["crashes"] or figures["violations"] or figures["internal_errors"]
               or figures["replies"] != opts.frames)


if __name__ == "__main__":
    sys.exit(main())
