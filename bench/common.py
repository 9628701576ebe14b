"""Helpers shared by the benchmarks: timing, tables, stacks."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from plebnet_core.spawn import spawn_stack  # noqa: E402

PROBE_EVERY = 0.005         # seconds between a Prober's questions


def table(title: str, rows: list[tuple]) -> None:
    """Print rows of (measure, value, target, verdict) as an aligned table."""
    head = ("measure", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def wait_settled(client, poll: float = 0.01, af: str = "inet") -> float:
    """Seconds until the stack's lookup arrays (IPv6: its trie) hold every route filed: a
    route run returns once its routes are filed, and the arrays are filled behind it
    (plebnet_core/state/route.py, RouteTable.settle).  Benchmarks of lookups and forwarding
    wait for this, so that they measure the arrays and not the fallback."""
    t0 = time.perf_counter()
    while client.sysctl(f"net.route.algo.{af}.pending"):
        time.sleep(poll)
    return time.perf_counter() - t0


class Prober(threading.Thread):
    """A second client asking the stack `hello` every PROBE_EVERY seconds: how long each
    answer took while the stack was busy (a load, a fill, a dump).  With
    PLEBNET_SLOW_TURN_MS set (the stack's slow-turn tracer, plebnet_core/loop.py), stop()
    also copies the slow turns the stack logged meanwhile to stderr: which work held its
    loop, and whether it ran on a CPU all that time or waited for one."""

    def __init__(self, stack):
        from plebconf.rpc.client import Client
        super().__init__(daemon=True)
        self.stack = stack
        self.logged = len(stack.stderr())
        self.client = Client.connect(pid=stack.pid, directory=stack.sockdir, timeout=120)
        self.samples: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            t0 = time.perf_counter()
            self.client.call("hello", {"version": 1})
            self.samples.append(time.perf_counter() - t0)
            time.sleep(PROBE_EVERY)

    def stop(self) -> tuple[float, float, int]:
        """(p99 ms, worst ms, answers)."""
        self.stopping.set()
        self.join()
        self.client.close()
        if os.environ.get("PLEBNET_SLOW_TURN_MS"):
            turns = self.stack.stderr()[self.logged:]
            sys.stderr.write("".join(line for line in turns.splitlines(True)
                                     if line.startswith(("plebnet: slow turn", "    at "))))
        s = sorted(self.samples)
        return (s[int(len(s) * 0.99)] * 1000, s[-1] * 1000, len(s)) if s else (0, 0, 0)


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
