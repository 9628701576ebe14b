"""Helpers shared by the benchmarks: timing, tables, stacks."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from plebnet_core.spawn import spawn_stack  # noqa: E402


def table(title: str, rows: list[tuple]) -> None:
    """Print rows of (measure, value, target, verdict) as an aligned table."""
    head = ("measure", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def wait_settled(client, poll: float = 0.01) -> float:
    """Seconds until the stack's IPv4 lookup arrays hold every route filed: a route run
    returns once its routes are filed, and the arrays are filled behind it
    (plebnet_core/state/route.py, RouteTable.settle).  Benchmarks of lookups and forwarding
    wait for this, so that they measure the arrays and not the fallback."""
    t0 = time.perf_counter()
    while client.sysctl("net.route.algo.inet.pending"):
        time.sleep(poll)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time pid has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_command(argv, env=None, runs: int = 15) -> list[float]:
    """Wall time of running argv `runs` times (after one warm-up run)."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return samples


def temp_stack(args=()):
    return spawn_stack(list(args), sockdir=tempfile.mkdtemp(prefix="pleb-bench-"))
