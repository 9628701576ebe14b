"""Labs (pleblab): `lab up` of a 100-stack ring with static routes, under the fork server and
with one interpreter per stack, beside `python3 -c pass` as the reference start cost; memory
of an idle stack (RSS and PSS); `lab down` leaving no process, socket or namespace; and the
reachability matrix of a 20-node ring (380 pairs).

    python bench/bench_lab.py [RING_SIZE]        (as root, a Linux peer hangs off the ring,
                                                  so that down is seen to remove a namespace)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from common import table, verdict

from pleblab import Lab, reachability, topology_from_dict

N_RING = int(sys.argv[1]) if len(sys.argv) > 1 else 100
N_MATRIX = 20


def ring(n: int, name: str, peer: bool = False) -> dict:
    """n routers in a ring: router i has vnet0 -> i+1 on 10.0.i.0/24 (.1 its side, .2 the
    next's), vnet1 -> i-1, a LAN 10.1.i.1/24 on vnet2 (no wire); static routes send the far
    half of the ring counter-clockwise and everything else clockwise (defaultrouter)."""
    assert n <= 250
    nodes, links = {}, []
    for i in range(n):
        prev, nxt = (i - 1) % n, (i + 1) % n
        cfg = [f'ifconfig_vnet0="inet 10.0.{i}.1/24"', f'ifconfig_vnet1="inet 10.0.{prev}.2/24"',
               f'ifconfig_vnet2="inet 10.1.{i}.1/24"', 'gateway_enable="YES"',
               f'defaultrouter="10.0.{i}.2"']
        names = []
        for j in range(n):
            if j != i and (j - i) % n > n // 2:     # closer the other way round
                names += [f"l{j}"]
                cfg.append(f'route_l{j}="-net 10.1.{j}.0/24 10.0.{prev}.1"')
                if j != prev:
                    names.append(f"k{j}")
                    cfg.append(f'route_k{j}="-net 10.0.{j}.0/24 10.0.{prev}.1"')
        cfg.append(f'static_routes="{" ".join(names)}"')
        nodes[f"r{i}"] = {"config": cfg, "nics": ["vnet2"]}
        links.append([f"r{i}:vnet0", f"r{nxt}:vnet1"])
    if peer:
        nodes["r0"]["config"].append('ifconfig_vnet3="inet 10.2.0.1/24"')
        nodes["h"] = {"kind": "linux", "routes": ["default via 10.2.0.1"]}
        links.append({"endpoints": ["r0:vnet3", "h:eth0"], "address": "10.2.0.2/24"})
    return {"name": name, "nodes": nodes, "links": links}


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB: PSS shares each page among the processes mapping it."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def namespaces() -> set[str]:
    """The named network namespaces now (other programs' too: compare only the lab's)."""
    try:
        return set(os.listdir("/run/netns"))
    except OSError:
        return set()


def python_pass() -> float:
    """Median seconds of `python3 -c pass` (the floor of one interpreter per stack)."""
    samples = []
    for _ in range(11):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"])
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def up_down(launcher: str, peer: bool) -> dict:
    topo = topology_from_dict(ring(N_RING, f"ring{launcher}", peer))
    t0 = time.perf_counter()
    lab = Lab(topo, launcher=launcher, start_timeout=120).up()
    up = time.perf_counter() - t0
    try:
        time.sleep(1.0)                 # idle: let start-up garbage go before measuring
        mem = [memory(s.pid) for s in lab.stacks.values()]
        pids = [s.pid for s in lab.stacks.values()]
        server = lab.launcher.proc.pid if launcher == "fork" else None
        sockdir, workdir = lab.sockdir, lab.workdir
        ns_during = set(lab.netns) & namespaces()
        # sanity: the ring routes (the far side, both ways round)
        far = f"10.1.{N_RING // 2}.1"
        ok = lab["r0"].ping(far).ok and lab[f"r{N_RING - 1}"].ping("10.1.1.1").ok
    finally:
        t1 = time.perf_counter()
        lab.down()
        down = time.perf_counter() - t1
    left_procs = sum(alive(p) for p in pids) + (alive(server) if server else 0)
    left_socks = len(os.listdir(sockdir)) if os.path.exists(sockdir) else 0
    left_ns = len(namespaces() & ns_during)
    return {"up": up, "down": down, "rss": statistics.median(m[0] for m in mem),
            "pss": statistics.median(m[1] for m in mem), "ok": ok,
            "left": (left_procs, left_socks, left_ns, os.path.exists(workdir)),
            "ns": len(ns_during)}


def matrix() -> tuple[float, int, int]:
    topo = topology_from_dict(ring(N_MATRIX, "matrix"))
    with Lab(topo) as lab:
        targets = {name: [f"10.1.{name[1:]}.1"] for name in lab.stacks}
        t0 = time.perf_counter()
        m = reachability(lab, targets=targets)  # a pair lost while ARP resolves is retried
        elapsed = time.perf_counter() - t0
    return elapsed, m.pairs, len(m.failures())


def main() -> None:
    peer = os.geteuid() == 0 and os.path.exists("/dev/net/tun")
    ref = python_pass()
    fork = up_down("fork", peer)
    spawn = up_down("spawn", False)
    mt, pairs, failed = matrix()
    n = N_RING
    rows = [
        ("python3 -c pass (reference, one interpreter)", f"{ref * 1000:.0f} ms", "", ""),
        (f"lab up, {n}-stack ring, fork server (ready)", f"{fork['up']:.2f} s", "<= 10 s",
         verdict(fork["up"] <= 10 and fork["ok"])),
        ("  per stack (wall, 2 cores)", f"{fork['up'] / n * 1000:.0f} ms",
         f"ref {ref * 1000:.0f} ms", ""),
        (f"lab up, {n}-stack ring, one interpreter per stack", f"{spawn['up']:.2f} s",
         "<= 10 s", verdict(spawn["up"] <= 10 and spawn["ok"])),
        ("  per stack (wall, 2 cores)", f"{spawn['up'] / n * 1000:.0f} ms",
         f"ref {ref * 1000:.0f} ms", ""),
        ("idle stack RSS, fork server (median)", f"{fork['rss']:.1f} MB", "<= 30 MB",
         verdict(fork["rss"] <= 30)),
        ("idle stack PSS, fork server (median)", f"{fork['pss']:.1f} MB", "", ""),
        ("idle stack RSS, own interpreter (median)", f"{spawn['rss']:.1f} MB", "<= 30 MB",
         verdict(spawn["rss"] <= 30)),
        ("idle stack PSS, own interpreter (median)", f"{spawn['pss']:.1f} MB", "", ""),
        (f"lab down, {n} stacks (fork / spawn)", f"{fork['down']:.2f} / {spawn['down']:.2f} s",
         "", ""),
        (f"left after down: processes, sockets, namespaces (of {fork['ns']}), dir",
         " / ".join(str(x) for x in fork["left"][:3]) + f" / {fork['left'][3]}",
         "0 / 0 / 0 / False",
         verdict(fork["left"] == (0, 0, 0, False) and spawn["left"] == (0, 0, 0, False))),
        (f"reachability matrix, {N_MATRIX}-node ring ({pairs} pairs, {failed} failed)",
         f"{mt:.2f} s", "<= 5 s", verdict(mt <= 5 and failed == 0 and pairs == 380)),
    ]
    table(f"pleblab: labs of many stacks ({os.cpu_count()} cores)", rows)


if __name__ == "__main__":
    main()
