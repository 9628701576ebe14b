"""ifconfig: wall time of one-shot `plebconf -p PID ifconfig ...` runs beside `python3 -c pass`
measured in the same run (the floor any Python tool pays).

Bytecode caching is allowed here even when the environment disables it
(PYTHONDONTWRITEBYTECODE): an installed plebconf has its .pyc files, and the warm-up run of
time_command writes them."""
from __future__ import annotations

import os
import sys

from common import ROOT, median_ms, table, temp_stack, time_command, verdict

RUNS = 21
TARGET_MS = 60


def main():
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    plebconf = [sys.executable, "-m", "plebconf"]
    floor = median_ms(time_command([sys.executable, "-c", "pass"], env, RUNS))
    with temp_stack(["--nic", "vnet0=none"]) as stack:
        env["PLEBNET_SOCKDIR"] = stack.sockdir
        pid = str(stack.pid)
        # the same address every time: the non-alias form replaces it (delete + add)
        config = median_ms(time_command(
            [*plebconf, "-p", pid, "ifconfig", "vnet0", "10.0.0.2/24"], env, RUNS))
        listing = median_ms(time_command([*plebconf, "-p", pid, "ifconfig"], env, RUNS))
        names = median_ms(time_command([*plebconf, "-p", pid, "ifconfig", "-l"], env, RUNS))
    table("ifconfig: one-shot runs (median wall time)", [
        ("python3 -c pass (floor)", f"{floor:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig vnet0 10.0.0.2/24", f"{config:.1f} ms",
         f"≤ {TARGET_MS} ms", verdict(config <= TARGET_MS)),
        ("  … above the floor", f"{config - floor:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig (listing)", f"{listing:.1f} ms", "", ""),
        ("plebconf -p PID ifconfig -l", f"{names:.1f} ms", "", ""),
    ])


if __name__ == "__main__":
    main()
