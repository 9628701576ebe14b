#!/usr/bin/env python3
"""Kill a `plebnet --state` stack with SIGKILL at random moments while 4 clients stream
changes; after each restart every acknowledged change must be there and no refused one.

    python tools/crashloop.py [--rounds 200] [--seed 1] [--clients 4]
"""
import argparse
import json
import sys

import _run  # noqa: F401

from tools.harness import crash_rounds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("-q", "--quiet", action="store_true")
    opts = ap.parse_args()
    figures = crash_rounds(opts.rounds, opts.seed, opts.clients,
                           log=None if opts.quiet else print)
    print(json.dumps(figures))
    return int(figures["lost"] or figures["phantom"] or figures["violations"]
               or figures["rounds"] != opts.rounds)


if __name__ == "__main__":
    sys.exit(main())
