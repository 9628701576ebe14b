#!/usr/bin/env python3
"""64 client processes × 10,000 mixed ops against one stack: every request answered once, each
client's outcomes in the audit log's order, and the final state equal to a sequential replay
of the audit log on an in-process stack.

    python tools/load.py [--clients 64] [--ops 10000] [--seed 1] [--stalls]
"""
import argparse
import json
import sys

import _run  # noqa: F401

from tools.harness import load, stalls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stalls", action="store_true", help="also 200 stalled peers")
    opts = ap.parse_args()
    figures = load(opts.clients, opts.ops, opts.seed)
    print(json.dumps(figures))
    bad = (figures["answered"] != opts.clients * opts.ops or figures["order_mismatch"]
           or figures["model_mismatch"] or not figures["state_equal"])
    if opts.stalls:
        s = stalls()
        print(json.dumps(s))
        bad = bad or s["completed"] != s["requests"]
    return int(bool(bad))


if __name__ == "__main__":
    sys.exit(main())
