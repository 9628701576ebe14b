"""Routing tables as they really are (bench/tables.py): a million routes of the public
table's shape, through `plebconf batch`, beside the Linux kernel loading the same table with
`ip -force -batch` in a namespace made for it, in the same run.

For each next-hop spread (3: an edge router; 64: a route server):
- load: `plebconf batch FILE` from start until the lookup arrays are filled (lookups at
  full speed), and the kernel's `ip -force -batch` of the same routes;
- the stack's RSS holding the table (and its peak);
- `netstat -rn` to a file, the first dump after the load and the best of three, beside
  `ip route show` of the same table;
- while the load, the fill and the dump run, a second client asks the stack `hello` every
  5 ms: its answer times (p99, worst);
- SIGTERM sent in the middle of a load: time until the stack has exited.
Then churn on the full table: independent route changes (withdraw, announce, next-hop
change) pipelined as a routing daemon sends them, for CHURN_SECONDS (60), several requests
per frame, and (reference, CHURN_REFERENCE=0 skips it) one request per frame; as root with
forwarding running meanwhile; RSS before and after; the table against a model at the end.

    python bench/bench_routes.py [N_ROUTES]      (default 1,000,000)
    CHURN_ONLY=1 python bench/bench_routes.py    (the churn alone)
    LOAD_ONLY=1 python bench/bench_routes.py     (the loads alone, no churn)
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from common import ROOT, Prober, cpu_seconds, table, temp_stack, verdict, wait_settled
from tables import ipv4_table

from plebproto import protocol

N_ROUTES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
CHURN_SECONDS = float(os.environ.get("CHURN_SECONDS", 60))
# also churn with one request per frame (the protocol before requests frames), as reference
CHURN_REFERENCE = os.environ.get("CHURN_REFERENCE", "1") != "0"
# CHURN_ONLY=1: skip the load benchmarks, run only the churn
CHURN_ONLY = os.environ.get("CHURN_ONLY") == "1"
# LOAD_ONLY=1: skip the churn, run only the load benchmarks
LOAD_ONLY = os.environ.get("LOAD_ONLY") == "1"


def gateways(n: int) -> list[str]:
    return [f"10.0.{i >> 8}.{1 + (i & 255)}" for i in range(n)]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of pid in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def tool(stack, *argv, stdout=subprocess.DEVNULL, text_input=None):
    env = stack.env()
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", "plebconf", *argv], env=env, stdout=stdout,
                          stderr=subprocess.PIPE, input=text_input, text=True)


def setup(stack, hops: int) -> None:
    run = tool(stack, "batch", "-", text_input="ifconfig vnet0 inet 10.0.0.254/16 up\n")
    assert run.returncode == 0, run.stderr


def netstat_to_file(stack, path: str) -> float:
    t0 = time.perf_counter()
    with open(path, "w") as f:
        run = tool(stack, "netstat", "-rn", stdout=f)
    if run.returncode:
        raise SystemExit(f"netstat -rn failed: {run.stderr[:500]}")
    return time.perf_counter() - t0


def ours(tab, hops: int, workdir: str) -> dict:
    path = os.path.join(workdir, f"routes-{hops}.batch")
    with open(path, "w") as f:
        f.write("\n".join(tab.plebconf_lines(gateways(hops))) + "\n")
    out = {}
    with temp_stack(["--nic", "vnet0=none"]) as stack:
        setup(stack, hops)
        probe = Prober(stack)
        probe.start()
        t0 = time.perf_counter()
        run = tool(stack, "batch", path)
        out["batch"] = time.perf_counter() - t0
        if run.returncode:
            raise SystemExit(f"plebconf batch failed: {run.stderr[:2000]}")
        with stack.client() as c:
            wait_settled(c)
        out["load"] = time.perf_counter() - t0
        out["rss"], out["hwm"] = rss_mb(stack.pid)
        dump = os.path.join(workdir, "netstat.txt")
        out["netstat_first"] = netstat_to_file(stack, dump)
        out["p99"], out["worst"], out["probes"] = probe.stop()
        out["netstat"] = min(netstat_to_file(stack, dump) for _ in range(3))
        with open(dump) as f:
            out["lines"] = sum(1 for _ in f)
        out["sigterm"] = sigterm_during_load(path)
    return out


def sigterm_during_load(path: str) -> float:
    """Seconds from SIGTERM, sent one second into a load, until the stack has exited."""
    with temp_stack(["--nic", "vnet0=none"]) as stack:
        setup(stack, 1)
        env = stack.env()
        env["PYTHONPATH"] = ROOT
        loader = subprocess.Popen([sys.executable, "-m", "plebconf", "batch", path], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        t0 = time.perf_counter()
        stack.proc.send_signal(signal.SIGTERM)
        try:
            stack.proc.wait(30)
            took = time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            took = float("inf")
        loader.kill()
        loader.wait()
        return took


def kernel(tab, hops: int, workdir: str) -> dict | None:
    """The kernel loading the same table with `ip -force -batch` in a fresh namespace, and
    `ip route show` of it; None without root or iproute2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None
    ns = f"plebbench-routes-{os.getpid()}"
    path = os.path.join(workdir, f"ip-{hops}.batch")
    with open(path, "w") as f:
        f.write("\n".join(tab.ip_batch_lines(gateways(hops))) + "\n")
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        for cmd in (["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                    ["addr", "add", "10.0.0.254/16", "dev", "veth0"],
                    ["link", "set", "veth1", "up"], ["link", "set", "veth0", "up"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        t0 = time.perf_counter()
        run = subprocess.run(["ip", "-n", ns, "-force", "-batch", path], capture_output=True,
                             text=True)
        load = time.perf_counter() - t0
        if run.returncode:
            print(f"ip -batch failed: {run.stderr[:300]}")
            return None
        shows = []
        for _ in range(3):
            t0 = time.perf_counter()
            with open(os.path.join(workdir, "ip-route.txt"), "w") as f:
                subprocess.run(["ip", "-n", ns, "route", "show"], stdout=f, check=True)
            shows.append(time.perf_counter() - t0)
        return {"load": load, "show_first": shows[0], "show": min(shows)}
    finally:
        subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)


# a UDP sender in a namespace, paced (bursts of 50, ~100 a second): forwarding runs beside
# the churn without taking a core of this 2-core machine from it
PACED_BLASTER = """
import socket, time
dsts = {dsts!r}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end = time.monotonic() + {seconds}
i = 0
while time.monotonic() < end:
    for _ in range(50):
        try:
            s.sendto(bytes(18), (dsts[i % len(dsts)], 9))
        except OSError:
            pass
        i += 1
    time.sleep(0.01)
"""


def churn_requests(rng, n, prefixes, model, withdrawn, hops) -> list:
    """n independent changes as a feed brings them: withdraw (RTM_DELETE of a prefix in
    the table), announce (RTM_ADD of a withdrawn one back) and next-hop change
    (RTM_CHANGE), about equally; model and withdrawn follow."""
    requests = []
    while len(requests) < n:
        r = rng.random()
        if r < 0.33 and withdrawn:
            p = withdrawn.pop(rng.randrange(len(withdrawn)))
            dst, plen = p.split("/")
            model[p] = hops[rng.randrange(len(hops))]
            requests.append(("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": dst,
                                       "plen": int(plen), "gateway": model[p]}))
            continue
        p = prefixes[rng.randrange(len(prefixes))]
        if p not in model:
            continue
        dst, plen = p.split("/")
        if r < 0.66:
            del model[p]
            withdrawn.append(p)
            requests.append(("rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": dst,
                                       "plen": int(plen)}))
        else:
            model[p] = hops[rng.randrange(len(hops))]
            requests.append(("rtmsg", {"type": "RTM_CHANGE", "af": "inet", "dst": dst,
                                       "plen": int(plen), "gateway": model[p]}))
    return requests


CHURN_ROUND = 20_000       # changes per Client.pipeline call


def churn(tab, workdir: str, reference: bool = True) -> dict:
    """Independent route changes (churn_requests) pipelined against the full table, rounds
    of CHURN_ROUND, for CHURN_SECONDS of rounds with requests frames (protocol.FRAME_REQUESTS per
    frame); with reference, every other round goes one request per frame (the protocol
    before requests frames) on the same connection: both see the same machine load.  At
    the end the table must equal the model.

    Rates are given over the time spent in Client.pipeline (the stack's and the protocol's
    share: what "through the pipeline" measures) and over the wall time, which adds this
    process making the next round's requests.  As root, forwarding runs meanwhile: the
    gateways live in a namespace behind vnet1 and a paced UDP sender in another (behind
    vnet0) sends to hosts of the table's prefixes; the stack's CPU per change is given with
    forwarding's own share (measured alone for 3 s first) taken out."""
    hops = gateways(3)
    path = os.path.join(workdir, "routes-churn.batch")
    with open(path, "w") as f:
        f.write("\n".join(tab.plebconf_lines(hops)) + "\n")
    prefixes = tab.prefixes()
    model = {p: hops[h] for p, h in zip(prefixes, tab.hops)}
    rng = random.Random(7)
    forwarding = os.geteuid() == 0 and shutil.which("ip") is not None \
        and os.environ.get("CHURN_FORWARDING") != "0"
    pid = os.getpid()
    ns_l, ns_r = f"pleb-c-{pid}-l", f"pleb-c-{pid}-r"
    if forwarding:
        for ns in (ns_l, ns_r):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        nics = ["--nic", f"vnet0=tap:pcl{pid},netns={ns_l},addr=10.242.1.1/24",
                "--nic", f"vnet1=tap:pcr{pid},netns={ns_r},addr=10.0.0.1/16"]
        config = ("ifconfig vnet0 inet 10.242.1.2/24 up\n"
                  "ifconfig vnet1 inet 10.0.0.254/16 up\n"
                  "sysctl net.inet.ip.forwarding=1\n")
    else:
        nics = ["--nic", "vnet0=none"]
        config = "ifconfig vnet0 inet 10.0.0.254/16 up\n"
    blaster = None
    try:
        with temp_stack(nics) as stack:
            run = tool(stack, "batch", "-", text_input=config)
            assert run.returncode == 0, run.stderr
            if forwarding:
                for hop in hops[1:]:        # (the first is the TAP's own address)
                    subprocess.run(["ip", "-n", ns_r, "addr", "add", f"{hop}/16", "dev",
                                    f"pcr{pid}"], check=True)
                subprocess.run(["ip", "-n", ns_l, "route", "add", "default", "via",
                                "10.242.1.2"], check=True)
            if tool(stack, "batch", path).returncode:
                raise SystemExit("churn: load failed")
            with stack.client() as c:
                wait_settled(c)
                rss_before = rss_mb(stack.pid)[0]

                def opackets() -> int:
                    return c.sysctl("NET_RT_IFLIST", ifname="vnet1")[0]["stats"]["opackets"]

                if forwarding:
                    dsts = [p.split("/")[0].rsplit(".", 1)[0] + ".1"
                            for p in prefixes[::max(1, len(prefixes) // 512)]]
                    blaster = subprocess.Popen(
                        ["ip", "netns", "exec", ns_l, sys.executable, "-c",
                         PACED_BLASTER.format(dsts=dsts, seconds=3 * CHURN_SECONDS + 60)])
                    time.sleep(1)
                    cpu0, t0 = cpu_seconds(stack.pid), time.perf_counter()
                    time.sleep(3)
                    fwd_cpu = (cpu_seconds(stack.pid) - cpu0) / (time.perf_counter() - t0)
                    sent0 = opackets()
                else:
                    fwd_cpu = 0.0
                modes = [protocol.FRAME_REQUESTS, 1] if reference else [protocol.FRAME_REQUESTS]
                done = dict.fromkeys(modes, 0)
                busy = dict.fromkeys(modes, 0.0)
                wall = dict.fromkeys(modes, 0.0)
                cpu = dict.fromkeys(modes, 0.0)
                t0 = time.perf_counter()
                rss_warm = None
                withdrawn: list[str] = []
                rounds = 0
                # CHURN_SECONDS of requests-frames rounds (the reference's come on top)
                while wall[modes[0]] < CHURN_SECONDS or rounds % len(modes):
                    if rss_warm is None and time.perf_counter() - t0 >= CHURN_SECONDS / 4:
                        # the audit log (bounded, PLEBNET_AUDIT_BYTES) has filled by now
                        rss_warm = rss_mb(stack.pid)[0]
                    per_frame = modes[rounds % len(modes)]
                    rounds += 1
                    t1, c1 = time.perf_counter(), cpu_seconds(stack.pid)
                    requests = churn_requests(rng, CHURN_ROUND, prefixes, model, withdrawn,
                                              hops)
                    t2 = time.perf_counter()
                    results = c.pipeline(requests, per_frame=per_frame)
                    t3 = time.perf_counter()
                    busy[per_frame] += t3 - t2
                    wall[per_frame] += t3 - t1
                    cpu[per_frame] += cpu_seconds(stack.pid) - c1 - fwd_cpu * (t3 - t1)
                    failed = [r for r in results if isinstance(r, Exception)]
                    if failed:
                        raise SystemExit(f"churn: {len(failed)} changes refused: "
                                         f"{failed[0]!r}")
                    done[per_frame] += len(requests)
                elapsed = time.perf_counter() - t0
                forwarded = (opackets() - sent0) / elapsed if forwarding else None
                if blaster is not None:
                    blaster.kill()
                    blaster.wait()
                    blaster = None
                wait_settled(c)
                rss_after = rss_mb(stack.pid)[0]
                table_now = {}
                for row in c.call("sysctl", {"name": "NET_RT_DUMP", "af": "inet"}):
                    dst, plen, gateway = row[1], row[2], row[3]
                    table_now[f"{dst}/{plen}"] = gateway
    finally:
        if blaster is not None:
            blaster.kill()
            blaster.wait()
        if forwarding:
            for ns in (ns_l, ns_r):
                subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)
    equal = all(table_now.get(p) == g for p, g in model.items()) and len(
        [p for p in table_now if p in model or p in withdrawn]) == len(model)
    return {"rate": {m: done[m] / busy[m] for m in modes},
            "wall_rate": {m: done[m] / wall[m] for m in modes},
            "cpu_us": {m: cpu[m] / done[m] * 1e6 for m in modes},
            "changes": done, "wall": wall, "seconds": elapsed, "rss_before": rss_before,
            "rss_after": rss_after, "rss_warm": rss_warm or rss_after,
            "equal": equal, "forwarded": forwarded}


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="pleb-bench-routes-")
    rows = []
    try:
        for hops in () if CHURN_ONLY else (3, 64):
            t0 = time.perf_counter()
            tab = ipv4_table(N_ROUTES, hops)
            print(f"(table of {N_ROUTES:,} routes, {hops} next hops: "
                  f"{time.perf_counter() - t0:.1f} s to make or read)", flush=True)
            us = ours(tab, hops, workdir)
            ref = kernel(tab, hops, workdir)
            n = f"{N_ROUTES:,} routes, {hops} next hops"
            rows.append((f"plebconf batch until lookups at full speed ({n})",
                         f"{us['load']:.2f} s (batch {us['batch']:.2f} s)", "", ""))
            if ref:
                ratio = ref["load"] / us["load"]
                rows.append(("  Linux ip -force -batch, same table (netns)",
                             f"{ref['load']:.2f} s", "reference", ""))
                rows.append(("  kernel / ours", f"{ratio:.1f}×", "≥ 5×", verdict(ratio >= 5)))
            else:
                rows.append(("  Linux ip -force -batch", "skipped (needs root, iproute2)", "",
                             ""))
            rows.append(("  stack RSS holding the table (peak)",
                         f"{us['rss']:.0f} MB ({us['hwm']:.0f} MB)", "≤ 400 MB",
                         verdict(us["hwm"] <= 400)))
            rows.append((f"  netstat -rn > file, first after the load ({us['lines']:,} lines)",
                         f"{us['netstat_first']:.2f} s", "", ""))
            rows.append(("  netstat -rn > file, best of 3", f"{us['netstat']:.2f} s", "", ""))
            if ref:
                rows.append(("  Linux ip route show > file, first / best of 3",
                             f"{ref['show_first']:.2f} / {ref['show']:.2f} s", "reference",
                             verdict(us["netstat_first"] <= ref["show_first"]
                                     and us["netstat"] <= ref["show"])))
            rows.append((f"  second client during load, fill, dump: p99 / worst "
                         f"({us['probes']:,} answers)",
                         f"{us['p99']:.1f} / {us['worst']:.1f} ms", "≤ 20 / 50 ms",
                         verdict(us["p99"] <= 20 and us["worst"] <= 50)))
            rows.append(("  SIGTERM one second into a load: exited after",
                         f"{us['sigterm']:.2f} s", "≤ 0.5 s", verdict(us["sigterm"] <= 0.5)))
        if not LOAD_ONLY:
            c = churn(ipv4_table(N_ROUTES, 3), workdir, CHURN_REFERENCE)
            frames, single = protocol.FRAME_REQUESTS, 1
            rows.append((f"churn: independent changes/s through the pipeline, "
                         f"{c['changes'][frames]:,} changes in {c['wall'][frames]:.0f} s, "
                         f"{frames} per frame",
                         f"{c['rate'][frames]:,.0f}", "≥ 100,000",
                         verdict(c["rate"][frames] >= 100_000)))
            rows.append(("  the same over wall time (incl. making the requests)",
                         f"{c['wall_rate'][frames]:,.0f}", "", ""))
            rows.append(("  stack CPU per change (forwarding's share taken out)",
                         f"{c['cpu_us'][frames]:.1f} µs", "", ""))
            if single in c["rate"]:
                rows.append((f"  one request per frame, rounds interleaved "
                             f"({c['changes'][single]:,} changes): rate, wall, CPU",
                             f"{c['rate'][single]:,.0f}, {c['wall_rate'][single]:,.0f}, "
                             f"{c['cpu_us'][single]:.1f} µs", "reference", ""))
            rows.append((f"  churn run, all rounds: {c['seconds']:.0f} s, forwarding throughout",
                         "", "", ""))
            rows.append(("  forwarded pkt/s meanwhile (paced UDP through the table)",
                         "skipped (needs root, iproute2)" if c["forwarded"] is None
                         else f"{c['forwarded']:,.0f}", "> 0",
                         "" if c["forwarded"] is None else verdict(c["forwarded"] > 0)))
            rows.append(("  RSS before / a quarter in / after churn",
                         f"{c['rss_before']:.0f} / {c['rss_warm']:.0f} / {c['rss_after']:.0f} MB",
                         "flat", verdict(c["rss_after"] <= c["rss_warm"] * 1.05)))
            rows.append(("  table equal to the model after churn", str(c["equal"]), "True",
                         verdict(c["equal"])))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table(f"routes: realistic tables (bench/tables.py), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", rows)


if __name__ == "__main__":
    main()
