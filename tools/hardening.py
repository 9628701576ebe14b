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


# == C: neighbour learning bounded ================================================================
def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def neighbour_storm(offlink: int = 100_000, onlink: int = 50_000, ndp: int = 50_000,
                    limit: int | None = None) -> dict:
    """A peer on the wire (VXLAN over loopback) sends `offlink` ARP requests for our address
    from senders on no subnet of ours, `onlink` from senders on our /8, and `ndp` neighbor
    solicitations from as many IPv6 senders.  Figures: entries learned per kind (none off
    link; at most net.link.lltable.max_entries per table), `arp -an`'s time, peak RSS and
    the probe's loop figures."""
    import subprocess
    import sys
    from plebnet_core.dataplane.wire import arp, ethernet, icmp6, ipv6, vxlan
    figures: dict = {"offlink": offlink, "onlink": onlink, "ndp": ndp}
    port = _free_udp_port()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    with Sandbox() as box:
        stack = spawn_stack(["--nic", f"vnet0=vxlan:42,127.0.0.1:{port},"
                                      f"127.0.0.1:{peer.getsockname()[1]}"], sockdir=box.dir)
        try:
            with stack.client(timeout=600) as c:
                c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.1", plen=8)
                c.ioctl("SIOCAIFADDR_IN6", ifname="vnet0", addr="2001:db8::1", plen=64,
                        flags=0x20)    # IN6_IFF_NODAD: usable at once
                if limit is not None:
                    c.sysctl("net.link.lltable.max_entries", value=limit)
                figures["limit"] = c.sysctl("net.link.lltable.max_entries")
            ours4 = bytes([10, 0, 0, 1])
            ours6 = ipv6_bytes = bytes.fromhex("20010db8000000000000000000000001")
            group = ipv6.solicited_node(ipv6_bytes)

            def send(frame: bytes) -> None:
                for _ in range(1000):
                    try:
                        peer.sendto(vxlan.emit(42, frame), ("127.0.0.1", port))
                        return
                    except BlockingIOError:
                        time.sleep(0.001)

            def storm(count: int, make, first: int = 0) -> None:
                for i in range(first, first + count):
                    sha = bytes([2, 0x55]) + i.to_bytes(4, "big")
                    send(make(i, sha))
                    if i % 256 == 255:
                        time.sleep(0.002)   # the stack reads as fast as it can; UDP drops
                                            # what it cannot, which proves nothing

            def learned(c, af: str) -> int:
                return sum(1 for e in c.sysctl("NET_RT_FLAGS", af=af)
                           if not e["flags"] & 0x100000)     # not RTF_PINNED: learned

            with Probe(stack.path) as probe:
                reset_peak(stack.pid)
                storm(offlink, lambda i, sha: ethernet.emit(
                    ethernet.BROADCAST, sha, 0x0806,
                    arp.request(sha, bytes([172, 16 + (i >> 16) % 16, i >> 8 & 255, i & 255]),
                                ours4)))
                with stack.client(timeout=600) as c:
                    c.call("hello", {})             # the storm read: every frame before it
                    time.sleep(0.5)
                    figures["offlink_learned"] = learned(c, "inet")
                arp_storm = (onlink, "inet", lambda i, sha: ethernet.emit(
                    ethernet.BROADCAST, sha, 0x0806,
                    arp.request(sha, bytes([10, 1 + (i >> 16), i >> 8 & 255, i & 255]),
                                ours4)))
                ndp_storm = (ndp, "inet6", lambda i, sha: ethernet.emit(
                    ipv6.multicast_mac(group), sha, 0x86DD, ipv6.emit(
                        bytes.fromhex("20010db80000000000000000") + (i + 2).to_bytes(4, "big"),
                        group, 58, icmp6.neighbor_solicit(
                            bytes.fromhex("20010db80000000000000000") + (i + 2).to_bytes(
                                4, "big"), group, ours6, sha), hop_limit=255)))
                for key, (count, af, make) in (("onlink_learned", arp_storm),
                                               ("ndp_learned", ndp_storm)):
                    storm(count, make)
                    # a loaded machine's UDP drops what the stack cannot read in time: new
                    # senders go on until the table is at its bound (a few rounds at most),
                    # then one more round, which must teach nothing
                    for round_ in range(1, 8):
                        with stack.client(timeout=600) as c:
                            c.call("hello", {})
                            time.sleep(0.5)
                            now = learned(c, af)
                        if limit is None or now >= limit:
                            break
                        storm(count, make, first=round_ * count)
                    if limit is not None:
                        storm(count, make, first=8 * count)
                        time.sleep(0.5)
                    with stack.client(timeout=600) as c:
                        figures[key] = learned(c, af)
                env = {**stack.env(), "PYTHONPATH": ROOT}
                start = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "plebconf", "arp", "-an"], env=env,
                                   capture_output=True, text=True, timeout=600)
                figures["arp_an_s"] = round(time.perf_counter() - start, 2)
                figures["arp_an_lines"] = p.stdout.count("\n")
            figures.update(probe.figures())
            figures["peak_mb"] = peak_mb(stack.pid)
            figures["rss_mb"] = rss_mb(stack.pid)
        finally:
            peer.close()
            stack.stop()
    return figures


# == D: keep-going batches cost linear time, memory and disk ======================================
def keep_going_lines(lines: int = 4000, every: int = 2) -> dict:
    """`plebconf batch --keep-going` of `lines` route adds, one in `every` refused (a
    gateway on no network), against a --state stack.  Figures: seconds, peak RSS, the
    journal's size, the audit's entries, lines reported, routes applied."""
    import subprocess
    import sys
    text = "".join(f"route add 10.{i >> 8 & 255}.{i & 255}.0/24 "
                   f"{'192.0.2.1' if i % every == 0 else '10.255.0.2'}\n"
                   for i in range(lines))
    figures: dict = {"lines": lines, "refused": len(range(0, lines, every))}
    with Sandbox() as box:
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
        try:
            with stack.client(timeout=600) as c:
                c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.255.0.1", plen=16)
                before = len(c.call("audit", {}))
            env = {**stack.env(), "PYTHONPATH": ROOT}
            with Probe(stack.path) as probe:
                reset_peak(stack.pid)
                start = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "plebconf", "batch", "--keep-going",
                                    "-"], input=text, env=env, capture_output=True,
                                   text=True, timeout=3600)
                figures["seconds"] = round(time.perf_counter() - start, 2)
            figures.update(probe.figures())
            figures["peak_mb"] = peak_mb(stack.pid)
            figures["exit"] = p.returncode
            figures["reported"] = p.stderr.count("\n")
            figures["first"] = p.stderr.splitlines()[0] if p.stderr else ""
            with stack.client(timeout=600) as c:
                figures["routes"] = sum(1 for r in c.sysctl("NET_RT_DUMP", af="inet")
                                        if r[1].startswith("10.") and r[2] == 24
                                        and not r[1].startswith("10.255."))
                figures["audit_entries"] = len(c.call("audit", {})) - before
            import os
            figures["journal_bytes"] = os.path.getsize(os.path.join(box.state, "journal"))
        finally:
            stack.stop()
    return figures


# == E: values FreeBSD refuses ====================================================================
BAD_VALUES = [
    ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.9.0.0", "plen": 16,
               "gateway": "10.0.0.2", "mtu": -5}),
    ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.9.0.0", "plen": 16,
               "gateway": "10.0.0.2", "hopcount": -1}),
    ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.9.0.0", "plen": 16,
               "gateway": "10.0.0.2", "mtu": 1 << 32}),
    ("sysctl", {"name": "net.inet.ip.forwarding", "value": 2 ** 64 - 1}),
    ("sysctl", {"name": "net.inet.ip.forwarding", "value": "18446744073709551615"}),
    ("sysctl", {"name": "net.inet.ip.forwarding", "value": 1.5}),
    ("sysctl", {"name": "net.inet.ip.forwarding", "value": "1.5"}),
    ("sysctl", {"name": "net.link.ether.inet.max_age", "value": -5}),
    ("sysctl", {"name": "net.link.ether.inet.maxtries", "value": "-1"}),
    ("sysctl", {"name": "net.inet6.ip6.dad_count", "value": -1}),
    ("ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "\x00"}),
    ("ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "::1\x00"}),
    ("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.9\x00", "plen": 24}),
    ("ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": -1}),
    ("ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "2001:db8::1",
               "pltime": -1}),
]


def refused_values() -> dict:
    """Each of BAD_VALUES sent alone and inside a batch: EINVAL (never "internal error"),
    and the listings unchanged.  Figures: tried, held, the failing ones."""
    from plebproto.errors import OpError
    figures: dict = {"tried": 2 * len(BAD_VALUES), "held": 0, "failing": []}
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        try:
            with stack.client() as c:
                c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.1", plen=24)

                def listing():
                    return (c.sysctl("NET_RT_IFLIST"), c.sysctl("NET_RT_DUMP"),
                            [c.sysctl(n) for n in ("net.inet.ip.forwarding",
                                                   "net.link.ether.inet.max_age",
                                                   "net.link.ether.inet.maxtries",
                                                   "net.inet6.ip6.dad_count")])
                before = listing()
                for op, args in BAD_VALUES:
                    for batched in (False, True):
                        try:
                            if batched:
                                c.batch([[op, args]])
                            else:
                                c.call(op, args)
                            ok = False
                        except OpError as exc:
                            ok = exc.errno == 22 and "internal error" not in str(exc)
                        ok = ok and listing() == before
                        figures["held"] += ok
                        if not ok:
                            figures["failing"].append((op, repr(args)[:80], batched))
        finally:
            stack.stop()
    return figures


# == F: one output budget per connection, for every producer =====================================
def deaf_peers(aliases: int = 24_000, requests: int = 300, subscribers: int = 20,
               routes: int = 100_000, ping_seconds: float = 3.0) -> dict:
    """Peers that never read: one sends `requests` NET_RT_IFLIST requests with `aliases`
    addresses on vnet0; one pings 127.0.0.1 with interval 0 for `ping_seconds`;
    `subscribers` subscribe and then a batch adds `routes` routes.  Figures: peak RSS, the
    RSS after each, the subscribers told of their loss once they read, the probe."""
    from plebproto.constants import ENOBUFS
    figures: dict = {"aliases": aliases, "requests": requests, "subscribers": subscribers,
                     "routes": routes}
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        socks: list = []
        try:
            def raw():
                s = socket.socket(socket.AF_UNIX)
                s.connect(stack.path)
                s.setblocking(False)
                socks.append(s)
                return s

            def push(s, frames: bytes) -> None:
                view = memoryview(frames)
                deadline = time.monotonic() + 30
                while view and time.monotonic() < deadline:
                    try:
                        view = view[s.send(view):]
                    except BlockingIOError:
                        time.sleep(0.01)        # the stack stopped reading us: as it should
            with stack.client(timeout=600) as c:
                c.batch(_aliases(aliases))
            base = rss_mb(stack.pid)
            figures["rss_base_mb"] = base
            with Probe(stack.path) as probe:
                reset_peak(stack.pid)
                deaf = raw()
                push(deaf, b"".join(protocol.encode({"id": i + 1, "op": "sysctl", "args": {
                    "name": "NET_RT_IFLIST"}}) for i in range(requests)))
                time.sleep(2)
                figures["rss_after_dumps_mb"] = rss_mb(stack.pid)
                pinger = raw()
                push(pinger, protocol.encode({"id": 1, "op": "ping", "args": {
                    "dst": "127.0.0.1", "interval": 0, "count": 0}}))
                time.sleep(ping_seconds)
                figures["rss_after_ping_mb"] = rss_mb(stack.pid)
                time.sleep(ping_seconds)
                figures["rss_ping_later_mb"] = rss_mb(stack.pid)
                subs = [raw() for _ in range(subscribers)]
                for s in subs:
                    push(s, protocol.encode({"id": 7, "op": "subscribe", "args": {}}))
                time.sleep(0.5)
                with stack.client(timeout=600) as c:
                    c.batch([["rtmsg", {"type": "RTM_ADD", "af": "inet",
                                        "dst": f"10.{128 + (i >> 16)}.{i >> 8 & 255}.{i & 255}",
                                        "plen": 32, "gateway": "lo0", "iface": True}]
                             for i in range(routes)])
                figures["rss_after_events_mb"] = rss_mb(stack.pid)
                # the subscribers read at last: each is told it lost messages
                told = 0
                for s in subs:
                    s.setblocking(True)
                    s.settimeout(3)         # quiet that long: nothing more is coming
                    rbuf = bytearray()
                    try:
                        while True:
                            data = s.recv(1 << 20)
                            if not data:
                                break
                            rbuf += data
                            msgs = list(protocol.read_frames(rbuf))
                            if any(type(m) is dict and m.get("errno") == ENOBUFS
                                   for m in msgs):
                                told += 1
                                break
                    except OSError:
                        pass
                figures["subscribers_told"] = told
                # the deaf dumper reads too: its 300 answers all come, in order
                deaf.setblocking(True)
                deaf.settimeout(60)
                rbuf, answered = bytearray(), 0
                try:
                    while answered < requests:
                        data = deaf.recv(1 << 20)
                        if not data:
                            break
                        rbuf += data
                        answered += sum(1 for m in protocol.read_frames(rbuf)
                                        if type(m) is dict and "errno" in m)
                except OSError:
                    pass
                figures["dumps_answered"] = answered
            figures.update(probe.figures())
            figures["peak_mb"] = peak_mb(stack.pid)
            figures["alive"] = stack.proc.poll() is None
        finally:
            for s in socks:
                s.close()
            stack.stop()
    return figures
