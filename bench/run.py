"""Run every benchmark (bench/bench_*.py) in turn; each prints its own table.

    python bench/run.py [NAME...]      e.g. python bench/run.py core tools
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    wanted = sys.argv[1:]
    failed = []
    # bytecode of the sources as they are now: with PYTHONDONTWRITEBYTECODE set (as here),
    # a module changed since `make` compiled it is compiled again by every process that
    # imports it, and start-up rows (one interpreter per lab stack) measure that instead
    subprocess.call([sys.executable, "-m", "compileall", "-q", "plebconf", "plebnet_core",
                     "plebproto", "pleblab"], cwd=os.path.dirname(HERE),
                    stdout=subprocess.DEVNULL)
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        name = os.path.basename(path)[len("bench_"):-3]
        if wanted and name not in wanted:
            continue
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        status = subprocess.call([sys.executable, path], cwd=HERE)
        print(f"({name}: {time.perf_counter() - t0:.0f} s{'' if status == 0 else ', FAILED'})")
        if status:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
