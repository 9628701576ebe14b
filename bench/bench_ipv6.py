"""IPv6 data plane and table: kernel -> stack `ping -6` round trip over TAP, ICMPv6 echoes
answered per second, IPv6 forwarding with 10 routes and with a 200,000-route table of the
public IPv6 table's shape (tables.ipv6_table), and loading that table through
`plebconf batch` beside the kernel's `ip -6 -force -batch` of the same routes: the batch
until it returns (the routes are in the table, answering), the trie filled behind it
(lookups at full speed), and a second client's answer times meanwhile (p99, worst: the
stack stays responsive while it loads).

    python bench/bench_ipv6.py [SECONDS] [--load]      (--load: the table load rows only)

The TAP parts need root: a real plebnet with two TAP NICs whose kernel sides sit in
throwaway namespaces (pleb-b6-<pid>-l / -r); the reference for the ping rows is a struct
echo loop answering NS and ICMPv6 echo with the wire codecs on a TAP (no stack) in a third
namespace, measured in the same run.  Rates are the best of three runs, RTTs the lowest of
three medians (the machine may be shared).  Without root only the `plebconf batch` load and
the stack's own packed-run load are measured.
"""
from __future__ import annotations

import ipaddress
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, Prober, table, temp_stack, verdict, wait_settled
from tables import ipv6_table

from plebconf.rpc.client import run as batch_run
from plebnet_core.dataplane.wire import WireError, ethernet, icmp6, ipv6
from plebproto.protocol import pack_column

PID = os.getpid()
NS_L, NS_R, NS_Q = f"pleb-b6-{PID}-l", f"pleb-b6-{PID}-r", f"pleb-b6-{PID}-q"
N_ROUTES = 200_000
BEST_OF = 3
MAC = ethernet.mac_parse("02:00:00:00:00:06")
REF_ADDR = bytes.fromhex("20010db8023400000000000000000002")      # 2001:db8:234::2

REFERENCE = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from bench_ipv6 import respond6
from plebnet_core.dataplane.phy import TapDevice
with TapDevice("plbq6{pid}", netns={ns!r}, up=True) as tap:
    print("ready", flush=True)
    respond6(tap, time.monotonic() + {seconds})
"""

BLASTER = """
import socket, time
dsts = {dsts!r}
s = socket.socket(socket.{family}, socket.SOCK_DGRAM)
s.setblocking(False)
payload = bytes(18)
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    for d in dsts:
        try:
            s.sendto(payload, (d, 9))
        except (BlockingIOError, OSError):
            pass
"""


def respond6(tap, until: float) -> int:
    """The reference: answer NS for REF_ADDR and ICMPv6 echo requests to it, nothing else."""
    replies = 0
    fd = tap.fileno()
    while time.monotonic() < until:
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        while (frame := tap.recv()) is not None:
            eth = ethernet.parse(frame)
            if eth.ethertype != ethernet.ETHERTYPE_IPV6:
                continue
            try:
                pkt = ipv6.parse(eth.payload)
                if pkt.next_header != ipv6.NH_ICMPV6:
                    continue
                msg = icmp6.parse(pkt.payload, pkt.src, pkt.dst)
            except WireError:
                continue
            if msg.type == icmp6.ECHO_REQUEST and pkt.dst == REF_ADDR:
                reply = icmp6.emit(REF_ADDR, pkt.src, icmp6.ECHO_REPLY, 0, msg.rest,
                                   msg.payload)
                tap.send(ethernet.header(eth.src, MAC, ethernet.ETHERTYPE_IPV6)
                         + ipv6.emit(REF_ADDR, pkt.src, ipv6.NH_ICMPV6, reply))
                replies += 1
            elif msg.type == icmp6.NEIGHBOR_SOLICIT and msg.payload[:16] == REF_ADDR:
                na = icmp6.neighbor_advert(REF_ADDR, pkt.src, REF_ADDR, MAC, 0x60)
                tap.send(ethernet.emit(eth.src, MAC, ethernet.ETHERTYPE_IPV6,
                                       ipv6.emit(REF_ADDR, pkt.src, ipv6.NH_ICMPV6, na,
                                                 hop_limit=255)))
    return replies


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def in_ns(ns, *argv, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          **kw)


def best(fn, *args):
    return max(fn(*args) for _ in range(BEST_OF))


def ping_times(ns, dst, n=300) -> list[float]:
    out = in_ns(ns, "ping", "-6", "-n", "-c", str(n), "-i", "0.002", dst).stdout
    return [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]


def best_median(ns, dst) -> float:
    runs = [ping_times(ns, dst) for _ in range(BEST_OF)]
    runs = [r for r in runs if r] or [[float("nan")]]
    return min(statistics.median(r) for r in runs)


def flood(ns, dst, seconds, flooders=4) -> float:
    procs = [subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-6", "-f", "-q", "-w",
                               str(int(seconds)), dst], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(flooders)]
    received = 0
    for p in procs:
        m = re.search(r"(\d+) received", p.communicate()[0])
        received += int(m.group(1)) if m else 0
    return received / seconds


def forwarded_rate(client, dsts, seconds, family="AF_INET6") -> float:
    """vnet1's output counter while a UDP blaster in L sends through the stack."""
    def opackets():
        return client.sysctl("NET_RT_IFLIST", ifname="vnet1")[0]["stats"]["opackets"]
    before = opackets()
    t0 = time.perf_counter()
    in_ns(NS_L, sys.executable, "-c", BLASTER.format(dsts=dsts, seconds=seconds,
                                                     family=family))
    return (opackets() - before) / (time.perf_counter() - t0)


def gateways(n: int) -> list[str]:
    return [f"2001:db8:ffff::{i + 1:x}" for i in range(n)]


def wait_dad(client, ifname, limit=10.0) -> None:
    """Until the stack's addresses on ifname are no longer tentative (DAD)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        info = client.sysctl("NET_RT_IFLIST", ifname=ifname)[0]
        if not any(":" in a["addr"] and a["flags"] & 0x02 for a in info["addrs"]):
            return
        time.sleep(0.1)


# -- loading the table -------------------------------------------------------------------------
def load_ours(tab, workdir: str) -> dict:
    """`plebconf batch FILE` of the table's route(8) lines (then the trie's fill behind
    it, a second client asking `hello` throughout), and the same routes as one
    packed-column run over RPC (what the batch could send: the stack's own cost)."""
    path = os.path.join(workdir, "routes6.batch")
    with open(path, "w") as f:
        f.write("\n".join(tab.plebconf_lines(gateways(3))) + "\n")
    out = {}
    for how in ("batch", "run"):
        with temp_stack(["--nic", "vnet0=none"]) as stack, stack.client(timeout=600) as c:
            c.ioctl("SIOCAIFADDR_IN6", ifname="vnet0", addr="2001:db8:ffff::fe", plen=64)
            wait_dad(c, "vnet0")
            probe = Prober(stack) if how == "batch" else None
            if probe is not None:
                probe.start()
            t0 = time.perf_counter()
            if how == "batch":
                env = stack.env()
                env["PYTHONPATH"] = ROOT
                run = subprocess.run([sys.executable, "-m", "plebconf", "batch", path],
                                     env=env, capture_output=True, text=True)
                if run.returncode:
                    raise SystemExit(f"plebconf batch failed: {run.stderr[:1000]}")
                out["fill"] = wait_settled(c, af="inet6")
                out["p99"], out["worst"], out["probes"] = probe.stop()
                t0 += out["fill"]       # (out[how] below: the batch alone)
            else:
                for h in range(3):
                    pick = [i for i, x in enumerate(tab.hops) if x == h]
                    c.batch([batch_run(
                        "rtmsg", {"type": "RTM_ADD", "af": "inet6",
                                  "gateway": gateways(3)[h]}, ["dst", "plen"],
                        columns=[pack_column("dst", "inet6", [tab.dsts[i] for i in pick]),
                                 pack_column("plen", "inet6", [tab.plens[i] for i in pick])])])
            out[how] = time.perf_counter() - t0
            out["routes"] = len(c.sysctl("NET_RT_DUMP", af="inet6"))
    return out


def load_kernel(tab, workdir: str) -> float | None:
    """The kernel loading the same routes with `ip -6 -force -batch` in a fresh namespace."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None
    ns = f"pleb-b6-{PID}-k"
    path = os.path.join(workdir, "ip6.batch")
    with open(path, "w") as f:
        # ip -batch lines are ip's commands without options: the family goes on its line
        f.write("\n".join(line.removeprefix("-6 ") for line in
                          tab.ip_batch_lines(gateways(3))) + "\n")
    try:
        sh("ip", "netns", "add", ns)
        for cmd in (["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                    ["addr", "add", "2001:db8:ffff::fe/64", "dev", "veth0", "nodad"],
                    ["link", "set", "veth1", "up"], ["link", "set", "veth0", "up"]):
            sh("ip", "-n", ns, *cmd)
        t0 = time.perf_counter()
        run = subprocess.run(["ip", "-6", "-n", ns, "-force", "-batch", path],
                             capture_output=True, text=True)
        took = time.perf_counter() - t0
        if run.returncode:
            print(f"ip -6 -batch failed: {run.stderr[:300]}")
            return None
        return took
    finally:
        sh("ip", "netns", "del", ns, check=False)


# -- the data plane ----------------------------------------------------------------------------
def data_plane(seconds: float, tab) -> list[tuple]:
    for ns in (NS_L, NS_R, NS_Q):
        sh("ip", "netns", "add", ns)
    try:
        ref = subprocess.Popen([sys.executable, "-c", REFERENCE.format(
            root=ROOT, bench=os.path.join(ROOT, "bench"), pid=PID, ns=NS_Q,
            seconds=BEST_OF * (seconds + 2) + 8)], stdout=subprocess.PIPE, text=True)
        ref.stdout.readline()
        sh("ip", "-n", NS_Q, "addr", "add", "2001:db8:234::1/64", "dev", f"plbq6{PID}",
           "nodad")
        ref_med = best_median(NS_Q, "2001:db8:234::2")
        ref_rate = best(flood, NS_Q, "2001:db8:234::2", seconds)
        ref.wait()

        nics = ["--nic", f"vnet0=tap:plb6l{PID},netns={NS_L},addr=10.242.1.1/24",
                "--nic", f"vnet1=tap:plb6r{PID},netns={NS_R},addr=10.242.2.1/24"]
        with temp_stack(nics) as stack, stack.client(timeout=600) as c:
            sh("ip", "-n", NS_L, "addr", "add", "2001:db8:242:1::1/64", "dev", f"plb6l{PID}",
               "nodad")
            sh("ip", "-n", NS_R, "addr", "add", "2001:db8:242:2::1/64", "dev", f"plb6r{PID}",
               "nodad")
            sh("ip", "-n", NS_L, "-6", "route", "add", "default", "via", "2001:db8:242:1::2")
            c.ioctl("SIOCAIFADDR_IN6", ifname="vnet0", addr="2001:db8:242:1::2", plen=64)
            c.ioctl("SIOCAIFADDR_IN6", ifname="vnet1", addr="2001:db8:242:2::2", plen=64)
            wait_dad(c, "vnet0")
            wait_dad(c, "vnet1")
            c.sysctl("net.inet6.ip6.forwarding", value=1)
            # the reference for forwarding: IPv4 through the same stack, in the same run
            sh("ip", "-n", NS_L, "route", "add", "default", "via", "10.242.1.2")
            c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.242.1.2", plen=24)
            c.ioctl("SIOCAIFADDR", ifname="vnet1", addr="10.242.2.2", plen=24)
            c.sysctl("net.inet.ip.forwarding", value=1)
            c.rtmsg("RTM_ADD", dst="0.0.0.0", plen=0, gateway="10.242.2.1")
            fwd_v4 = best(forwarded_rate, c, [f"10.{i % 200 + 1}.{i // 200}.1"
                                              for i in range(512)], seconds, "AF_INET")
            sent0 = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["stats"]["opackets"]
            med = best_median(NS_L, "2001:db8:242:1::2")
            # (the replies timed came from the stack: its counter moved as many times)
            answered = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["stats"]["opackets"] \
                - sent0
            rate = best(flood, NS_L, "2001:db8:242:1::2", seconds)

            # destinations spread over the table's prefixes, one address in each
            step = max(1, len(tab.dsts) // 512)
            dsts = [str(ipaddress.IPv6Address(d | 1))
                    for d in tab.dsts[::step]]
            c.batch([["rtmsg", {"type": "RTM_ADD", "af": "inet6", "dst": "::", "plen": 0,
                                "gateway": "2001:db8:242:2::1"}]]
                    + [["rtmsg", {"type": "RTM_ADD", "af": "inet6",
                                  "dst": str(ipaddress.IPv6Address(d)),
                                  "plen": p, "gateway": "2001:db8:242:2::1"}]
                       for d, p in zip(tab.dsts[:9], tab.plens[:9])])
            fwd_small = best(forwarded_rate, c, dsts, seconds)
            c.batch([batch_run("rtmsg", {"type": "RTM_ADD", "af": "inet6",
                                         "gateway": "2001:db8:242:2::1"}, ["dst", "plen"],
                               columns=[pack_column("dst", "inet6", tab.dsts[9:]),
                                        pack_column("plen", "inet6", tab.plens[9:])])])
            wait_settled(c, af="inet6")     # (the trie filled behind the run: full speed)
            fwd_large = best(forwarded_rate, c, dsts, seconds)
            nroutes = len(c.sysctl("NET_RT_DUMP", af="inet6"))
    finally:
        for ns in (NS_L, NS_R, NS_Q):
            sh("ip", "netns", "del", ns, check=False)
    slow = fwd_small / max(fwd_large, 1)
    return [
        ("ping -6 RTT median, struct echo loop (reference)", f"{ref_med:.3f} ms", "", ""),
        ("ping -6 RTT median, plebnet", f"{med:.3f} ms ({answered} sent)", "≤ 0.3 ms",
         verdict(med <= 0.3)),
        ("ICMPv6 echoes/s, struct echo loop, 4 flooders (reference)", f"{ref_rate:,.0f}",
         "", ""),
        ("ICMPv6 echoes/s answered by plebnet, 4 flooders", f"{rate:,.0f}", "≥ 30,000",
         verdict(rate >= 30_000)),
        ("IPv4 forwarded pkt/s, same stack, default route (reference)", f"{fwd_v4:,.0f}", "",
         ""),
        ("IPv6 forwarded pkt/s, 10 routes", f"{fwd_small:,.0f}", "≥ 20,000",
         verdict(fwd_small >= 20_000)),
        (f"IPv6 forwarded pkt/s, {nroutes:,} routes", f"{fwd_large:,.0f}", "≥ 20,000",
         verdict(fwd_large >= 20_000)),
        (f"forwarding slowdown 10 → {nroutes:,} routes", f"{slow:.2f}×", "≤ 2×",
         verdict(slow <= 2)),
    ]


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--load"]
    seconds = float(args[0]) if args else 3.0
    tab = ipv6_table(N_ROUTES, 3)
    rows = []
    if "--load" in sys.argv:
        pass
    elif os.geteuid() == 0 and shutil.which("ip"):
        rows += data_plane(seconds, tab)
    else:
        rows.append(("data plane rows", "skipped (needs root, iproute2)", "", ""))
    workdir = tempfile.mkdtemp(prefix="pleb-bench6-")
    try:
        ours = load_ours(tab, workdir)
        kernel = load_kernel(tab, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    n = f"{N_ROUTES:,}"
    rows.append((f"load {n} IPv6 routes: plebconf batch FILE", f"{ours['batch']:.2f} s", "",
                 ""))
    rows.append(("  … then filling the trie behind it (lookups at full speed)",
                 f"{ours['fill']:.2f} s", "", ""))
    rows.append((f"  second client during load and fill: p99 / worst ({ours['probes']:,} "
                 "answers)", f"{ours['p99']:.1f} / {ours['worst']:.1f} ms", "≤ 20 / 50 ms",
                 verdict(ours["p99"] <= 20 and ours["worst"] <= 50)))
    rows.append((f"load {n} IPv6 routes: one packed run over RPC", f"{ours['run']:.2f} s",
                 "", ""))
    if kernel is None:
        rows.append(("  Linux ip -6 -force -batch, same table", "skipped (needs root)", "",
                     ""))
    else:
        rows.append(("  Linux ip -6 -force -batch, same table (netns)", f"{kernel:.2f} s",
                     "", ""))
        speedup = kernel / ours["batch"]
        rows.append(("plebconf batch speed vs ip -6 -batch", f"{speedup:.2f}×", "≥ 5×",
                     verdict(speedup >= 5)))
        # (the routes answer when the batch returns, lookups probing the per-length dicts
        # until the trie is filled: this counts the fill as part of the load, as
        # bench_routes does for IPv4's arrays)
        whole = kernel / (ours["batch"] + ours["fill"])
        rows.append(("  … counting the trie's fill too", f"{whole:.2f}×", "", ""))
    table("IPv6: kernel <-> plebnet over TAP, forwarding, table load", rows)


if __name__ == "__main__":
    main()
