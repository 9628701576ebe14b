"""The hardening attacks (RELIABILITY.md, "Bounded cost under big tables and hostile peers"),
shared by tests/test_hardening*.py (short runs) and tools/reliability_report.py (report rows).

Each function starts its own stack in a private socket directory (harness.Sandbox), attacks
it, and returns a dict of figures; nothing here asserts.  Every attack is measured the same
way: the stack's peak resident memory during it (VmHWM, reset before through
/proc/PID/clear_refs) and the event loop's responsiveness, as a probe client on its own
connection sees it: the round trip of a `hello` sent every few milliseconds while the attack
runs (its 99th percentile and worst, in ms).
"""
from __future__ import annotations

import socket
import threading
import time

from plebproto import protocol
from plebconf.rpc.client import Client
from plebnet_core.spawn import spawn_stack

from tools.harness import NIC, Sandbox, _rss_kib

ROOT = __file__.rsplit("/tools/", 1)[0]


# -- measuring ------------------------------------------------------------------------------------
def reset_peak(pid: int) -> None:
    """Start VmHWM over from the current RSS (proc(5): clear_refs value 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mb(pid: int) -> float:
    return round(_rss_kib(pid, "VmHWM") / 1024, 1)


def rss_mb(pid: int) -> float:
    return round(_rss_kib(pid) / 1024, 1)


class Probe:
    """A client that sends `hello` every `every` seconds on its own connection and records
    each round trip: how long the event loop keeps everybody waiting."""

    def __init__(self, path: str, every: float = 0.005):
        self.path, self.every = path, every
        self.rtts: list[float] = []
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_.set()
        self.thread.join()

    def _run(self) -> None:
        client = Client.connect(path=self.path, timeout=3600)
        try:
            while not self.stop_.is_set():
                start = time.perf_counter()
                client.call("hello", {"version": protocol.VERSION})
                self.rtts.append(time.perf_counter() - start)
                self.stop_.wait(self.every)
        finally:
            client.close()

    def figures(self) -> dict:
        rtts = sorted(self.rtts) or [0.0]
        return {"probes": len(self.rtts),
                "p99_ms": round(rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000, 1),
                "worst_ms": round(rtts[-1] * 1000, 1)}


def _aliases(n: int, ifname: str = "vnet0") -> list:
    return [["ioctl", {"req": "SIOCAIFADDR", "ifname": ifname,
                       "addr": f"10.{64 + (i >> 16)}.{i >> 8 & 255}.{i & 255}", "plen": 32}]
            for i in range(n)]


# == A: adding an address costs the same whatever the number already there ======================
def alias_flood(n: int = 100_000, steps: int = 4) -> dict:
    """`n` aliases added in one batch, then (in `steps` equal batches, to show the per-op
    cost does not grow) as many again, and every one deleted; figures: seconds per step (a
    flat column means O(1) per address), peak RSS, the probe's p99/worst, and whether the
    state checker finds the tables consistent."""
    from plebnet_core.state.check import fetch_and_check
    figures: dict = {"aliases": n}
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        try:
            with stack.client(timeout=3600) as c, Probe(stack.path) as probe:
                reset_peak(stack.pid)
                start = time.perf_counter()
                c.batch(_aliases(n))
                figures["batch_s"] = round(time.perf_counter() - start, 2)
                more = _aliases(2 * n)[n:]
                step = max(1, n // steps)
                figures["step_s"] = []
                for k in range(0, n, step):
                    start = time.perf_counter()
                    c.batch(more[k:k + step])
                    figures["step_s"].append(round(time.perf_counter() - start, 2))
                start = time.perf_counter()
                c.batch([["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                                    "addr": op[1]["addr"]}] for op in _aliases(2 * n)])
                figures["delete_s"] = round(time.perf_counter() - start, 2)
                figures["left"] = len(c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"])
                figures["violations"] = len(fetch_and_check(c))
            figures.update(probe.figures())
            figures["peak_mb"] = peak_mb(stack.pid)
        finally:
            stack.stop()
    return figures


# == B: every dump streamed in bounded chunks, whatever the table size ============================
def _largest_frame(path: str, op: str, args: dict) -> tuple[int, int]:
    """(largest frame of the reply, number of frames) to one request on a raw socket."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(600)
    s.connect(path)
    s.sendall(protocol.encode({"id": 1, "op": op, "args": args}))
    buf, largest, frames = bytearray(), 0, 0
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                raise ConnectionResetError("stack closed the connection")
            buf += data
            while len(buf) >= 4:
                size = protocol.HEADER.unpack_from(buf)[0]
                if len(buf) < 4 + size:
                    break
                largest, frames = max(largest, size), frames + 1
                msg = protocol.decode(bytes(buf[4:4 + size]))
                del buf[:4 + size]
                if not (type(msg) is dict and msg.get("more")) and msg.get("id") == 1:
                    return largest, frames
    finally:
        s.close()


def big_listings(n: int = 100_000) -> dict:
    """After `n` aliases on one interface, the listings and `rc save`/`rc diff`'s reads:
    each must come back whole, in frames far below MAX_FRAME.  Figures: per listing its
    largest frame and whether the tool (run as a process) exits 0 with the right count."""
    import subprocess
    import sys
    figures: dict = {"aliases": n, "tools": {}, "largest_frame": 0}
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        try:
            with stack.client(timeout=3600) as c:
                c.batch(_aliases(n))
            with Probe(stack.path) as probe:
                reset_peak(stack.pid)
                for op, args in [("sysctl", {"name": "NET_RT_IFLIST"}),
                                 ("sysctl", {"name": "NET_RT_DUMP"}),
                                 ("sysctl", {"name": "NET_RT_DUMP", "form": "compact"}),
                                 ("sysctl", {"name": "NET_RT_FLAGS", "af": "inet"}),
                                 ("batch", {"ops": [], "dry_run": True, "reads": [
                                     ["sysctl", {"name": "NET_RT_IFLIST"}],
                                     ["sysctl", {"name": "NET_RT_DUMP"}]]})]:
                    largest, _ = _largest_frame(stack.path, op, args)
                    figures["largest_frame"] = max(figures["largest_frame"], largest)
                env = {**stack.env(), "PYTHONPATH": ROOT}
                for argv, want in [(["ifconfig", "-a"], f"inet 10.{64 + ((n - 1) >> 16)}."),
                                   (["ifconfig", "-l"], "vnet0"),
                                   (["netstat", "-rn"], "10.64.0.1 "),
                                   (["netstat", "-in"], "vnet0"),
                                   (["rc", "save"], "ifconfig_vnet0_alias")]:
                    p = subprocess.run([sys.executable, "-m", "plebconf", *argv], env=env,
                                       capture_output=True, text=True, timeout=1200)
                    figures["tools"][" ".join(argv)] = (p.returncode == 0 and want in p.stdout,
                                                       p.stdout.count("\n"),
                                                       p.stderr.strip()[-200:])
                with stack.client(timeout=3600) as c:
                    listed = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]
                    figures["iflist_addrs"] = len(listed)
                    inside = c.dry_run([], [["sysctl", {"name": "NET_RT_IFLIST",
                                                        "ifname": "vnet0"}]])
                    figures["dry_run_addrs"] = len(inside["reads"][0][0]["addrs"])
            figures.update(probe.figures())
            figures["peak_mb"] = peak_mb(stack.pid)
        finally:
            stack.stop()
    return figures
