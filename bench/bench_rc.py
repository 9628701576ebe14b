"""rc.conf executor and batch files: 1M `route add` lines through `plebconf batch`, beside the
Linux kernel loading the same routes with `ip -batch` in a network namespace made (and
deleted) here; an rc.conf with 10,000 static_routes applied at boot (`plebnet --rc`).

    python bench/bench_rc.py [N_LINES]      (root for the kernel column; skipped otherwise)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import ROOT, table, temp_stack, verdict, wait_settled

from plebnet_core.spawn import spawn_stack

N_LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
N_RC_ROUTES = 10_000


def prefixes(n: int):
    """n distinct /24s outside 10/8, 127/8 and multicast, in order."""
    out = []
    i = 0
    while len(out) < n:
        a, b, c = 11 + (i >> 16), (i >> 8) & 255, i & 255
        i += 1
        if a in (127,) or a >= 224:
            continue
        out.append(f"{a}.{b}.{c}.0")
    return out


def plebconf_env(stack) -> dict:
    env = stack.env()
    env["PYTHONPATH"] = ROOT
    return env


def bench_batch(lines_path: str, n: int) -> tuple[float, float, int]:
    """Seconds for `plebconf batch FILE` (process start to exit: every route in the table and
    found by lookups), seconds the stack then takes to fill its lookup arrays behind them,
    routes in the table after."""
    with temp_stack(["--nic", "vnet0=none"]) as stack:
        env = plebconf_env(stack)
        setup = subprocess.run([sys.executable, "-m", "plebconf", "batch", "-"], env=env,
                               input="ifconfig vnet0 inet 10.0.0.2/24\n", text=True)
        assert setup.returncode == 0
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "plebconf", "batch", lines_path], env=env,
                             capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if run.returncode != 0:
            raise SystemExit(f"plebconf batch failed: {run.stderr[:2000]}")
        with stack.client() as c:
            settle = wait_settled(c)
            count = sum(1 for r in c.call("sysctl", {"name": "NET_RT_DUMP", "af": "inet"}))
        return elapsed, settle, count


def bench_kernel(dsts, workdir: str) -> tuple[float | None, str]:
    """Seconds for `ip -batch` adding the same routes in a fresh namespace, or None."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None, "needs root and iproute2"
    ns = f"plebbench-rc-{os.getpid()}"
    path = os.path.join(workdir, "ip.batch")
    with open(path, "w") as f:
        f.write("".join(f"route add {d}/24 via 10.0.0.1\n" for d in dsts))
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        for cmd in (["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                    ["addr", "add", "10.0.0.2/24", "dev", "veth0"],
                    ["link", "set", "veth1", "up"], ["link", "set", "veth0", "up"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        t0 = time.perf_counter()
        run = subprocess.run(["ip", "-n", ns, "-batch", path], capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if run.returncode != 0:
            return None, f"ip -batch failed: {run.stderr[:200]}"
        return elapsed, ""
    except (subprocess.CalledProcessError, OSError) as exc:
        return None, f"namespace setup failed: {exc}"
    finally:
        subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)


def ready_time(args, sockdir: str) -> float:
    t0 = time.perf_counter()
    with spawn_stack(args, sockdir=sockdir, timeout=120):
        return time.perf_counter() - t0


def bench_boot(workdir: str) -> tuple[float, float]:
    """(seconds to the ready line with the rc.conf, without any rc.conf)."""
    dsts = prefixes(N_RC_ROUTES)
    names = [f"r{i}" for i in range(N_RC_ROUTES)]
    rc = ['ifconfig_vnet0="inet 10.0.0.2/24"', f'static_routes="{" ".join(names)}"']
    rc += [f'route_{n}="-net {d}/24 10.0.0.1"' for n, d in zip(names, dsts)]
    path = os.path.join(workdir, "rc.conf")
    with open(path, "w") as f:
        f.write("\n".join(rc) + "\n")
    sockdir = tempfile.mkdtemp(prefix="pleb-bench-", dir=workdir)
    nic = ["--nic", "vnet0=none"]
    ready_time(nic, sockdir)      # warm the page cache
    bare = min(ready_time(nic, sockdir) for _ in range(3))
    with_rc = min(ready_time([*nic, "--rc", path], sockdir) for _ in range(3))
    return with_rc, bare


def main():
    workdir = tempfile.mkdtemp(prefix="bench-rc-")
    try:
        dsts = prefixes(N_LINES)
        lines_path = os.path.join(workdir, "routes.batch")
        with open(lines_path, "w") as f:
            f.write("".join(f"route add -net {d}/24 10.0.0.1\n" for d in dsts))
        pleb, settle, count = bench_batch(lines_path, N_LINES)
        assert count >= N_LINES, (count, N_LINES)
        kernel, why = bench_kernel(dsts, workdir)
        with_rc, bare = bench_boot(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    per_line = pleb / N_LINES * 1e6
    rows = [
        (f"plebconf batch, {N_LINES:,} route add lines", f"{pleb:.2f} s ({per_line:.1f} µs/line)",
         "≤ 2.5 s", verdict(pleb <= 2.5 * N_LINES / 1_000_000)),
        ("… then filling the lookup arrays behind it", f"{settle:.2f} s", "", ""),
        (f"Linux ip -batch, same {N_LINES:,} routes (netns)",
         f"{kernel:.2f} s" if kernel is not None else f"skipped: {why}", "reference", ""),
    ]
    if kernel is not None:
        rows.append(("plebconf / kernel", f"{pleb / kernel:.2f}×", "", ""))
    rows += [
        (f"plebnet --rc, {N_RC_ROUTES:,} static_routes: ready line", f"{with_rc:.2f} s",
         "≤ 1 s", verdict(with_rc <= 1.0)),
        ("plebnet without rc.conf: ready line", f"{bare:.2f} s", "", ""),
    ]
    table("rc.conf executor and batch files", rows)


if __name__ == "__main__":
    main()
