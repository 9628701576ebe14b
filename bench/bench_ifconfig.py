"""ifconfig: wall time of one-shot `plebconf -p PID ifconfig ...` runs beside `python3 -c pass`
measured in the same run (the floor any Python tool pays).

Bytecode caching is allowed here even when the environment disables it
(PYTHONDONTWRITEBYTECODE): an installed plebconf has its .pyc files, and the warm-up run of
time_command writes them."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from common import ROOT, median_ms, table, temp_stack, verdict

RUNS = 21
TARGET_MS = 60


def interleaved(commands: dict, env, runs: int) -> dict:
    """Median wall time (ms) of each command, run in turns (after one warm-up each) so that
    every command sees the same machine load: a busy machine slows the floor too."""
    samples = {name: [] for name in commands}
    for name, argv in commands.items():
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(runs):
        for name, argv in commands.items():
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - t0)
    return {name: median_ms(values) for name, values in samples.items()}


def main():
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    with temp_stack(["--nic", "vnet0=none"]) as stack:
        env["PLEBNET_SOCKDIR"] = stack.sockdir
        tool = [sys.executable, "-m", "plebconf", "-p", str(stack.pid), "ifconfig"]
        ms = interleaved({
            "floor": [sys.executable, "-c", "pass"],
            # the same address every time: the non-alias form replaces it (delete + add)
            "config": [*tool, "vnet0", "10.0.0.2/24"],
            "listing": tool,
            "names": [*tool, "-l"],
        }, env, RUNS)
    config = ms["config"]
    table("ifconfig: one-shot runs (median wall time, interleaved)", [
        ("python3 -c pass (floor)", f"{ms['floor']:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig vnet0 10.0.0.2/24", f"{config:.1f} ms",
         f"≤ {TARGET_MS} ms", verdict(config <= TARGET_MS)),
        ("  … above the floor", f"{config - ms['floor']:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig (listing)", f"{ms['listing']:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig -l", f"{ms['names']:.1f} ms", "", ""),
    ])


if __name__ == "__main__":
    main()
