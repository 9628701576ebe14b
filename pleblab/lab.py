"""A lab: every node of a topology started at once, linked, configured, behind a ready barrier,
and stopped with nothing left behind (processes, sockets, namespaces, files).

    with Lab("examples/triangle/triangle.toml") as lab:
        lab["r1"].ping("10.0.23.3")

Stacks start in parallel (forked by one fork server by default; launcher="spawn" gives one
interpreter each), each with `--nic IF=vxlan:VNI,127.0.0.1:PORT,127.0.0.1:PEER` per link and
`--rc` for its rc.conf (file, then inline lines), so a stack's ready line means configured.
Linux peers are network namespaces holding the kernel end of a stack's TAP device (root).

A lab brought up by `plebconf lab up` outlives that command: its state (pids and their start
times, sockets, namespaces) is written to <labdir>/lab.json, which `lab status|exec|down`
read back (Lab.attach).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .launch import launcher as make_launcher
from .stack import LIVE_LABS, LIVE_STACKS, RpcFailure, Stack
from .topology import Topology, load_topology

LOOPBACK = "127.0.0.1"


class LabError(RuntimeError):
    """The lab could not come up (or be found): the message says which node and why."""


def labs_dir() -> str:
    """Where `plebconf lab up` keeps its labs: $PLEBLAB_DIR, else /tmp/pleblab-<uid>."""
    return os.environ.get("PLEBLAB_DIR") or os.path.join(tempfile.gettempdir(),
                                                          f"pleblab-{os.getuid()}")


def free_udp_ports(n: int) -> list[int]:
    """n distinct free UDP ports on 127.0.0.1 (held together while picked, so distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _starttime(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


class Peer:
    """A Linux kernel peer: a network namespace holding the kernel end of a stack's TAP."""

    def __init__(self, name: str, netns: str, routes=()):
        self.name, self.netns, self.routes = name, netns, list(routes)

    def exec(self, *argv, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command inside the peer's namespace (`ip netns exec NS ...`)."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *map(str, argv)],
                              capture_output=True, text=True, timeout=timeout)

    def __repr__(self) -> str:
        return f"<Peer {self.name} netns={self.netns}>"


class _Detached:
    """A stack process of a lab started by another command: found by pid and start time."""

    def __init__(self, pid: int, path: str, sockdir: str, starttime: int | None, log: str):
        self.pid, self.path, self.sockdir = pid, path, sockdir
        self.starttime, self.log = starttime, log

    def alive(self) -> bool:
        return self.starttime is not None and _starttime(self.pid) == self.starttime

    def stop(self, timeout: float = 10) -> int | None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.01)
        return None

    def stderr(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Lab:
    """The stacks (and Linux peers) of a topology: lab["r1"] is a pleblab.Stack.

    topology: a Topology or a path to a TOML file.  workdir: where sockets, generated rc.conf
    files and state go (default: a private temporary directory, removed at down).
    launcher: "fork" (default) or "spawn".
    """

    def __init__(self, topology, workdir: str | None = None, launcher: str = "fork",
                 start_timeout: float = 60):
        self.topology = topology if isinstance(topology, Topology) else load_topology(topology)
        self.name = self.topology.name
        self._own_workdir = workdir is None
        self.workdir = workdir      # a private one is made by up()
        self.launcher_kind = launcher
        self.launcher = None
        self.start_timeout = start_timeout
        self.nodes: dict[str, Stack | Peer] = {}
        self.nics: dict[str, dict[str, str]] = {}       # node -> {ifname: backend}
        self.netns: list[str] = []
        self.up_seconds: float | None = None
        self.started = False

    # -- access ---------------------------------------------------------------------------------
    def __getitem__(self, name: str):
        return self.nodes[name]

    @property
    def stacks(self) -> dict[str, Stack]:
        return {n: s for n, s in self.nodes.items() if isinstance(s, Stack)}

    @property
    def peers(self) -> dict[str, Peer]:
        return {n: p for n, p in self.nodes.items() if isinstance(p, Peer)}

    # -- wiring ---------------------------------------------------------------------------------
    def plan(self) -> dict[str, dict[str, str]]:
        """Each stack's NICs: a VNI and two free ports per stack-to-stack link, a TAP in the
        peer's namespace per stack-to-Linux link, `none` for declared unwired NICs."""
        topo = self.topology
        nics = {n.name: {} for n in topo.stacks()}
        vx_links = [link for link in topo.links
                    if topo.nodes[link.b[0]].kind == "plebnet"]
        ports = iter(free_udp_ports(2 * len(vx_links)))
        for vni, link in enumerate(vx_links, start=1):
            pa, pb = next(ports), next(ports)
            (na, ia), (nb, ib) = link.a, link.b
            nics[na][ia] = f"vxlan:{vni},{LOOPBACK}:{pa},{LOOPBACK}:{pb}"
            nics[nb][ib] = f"vxlan:{vni},{LOOPBACK}:{pb},{LOOPBACK}:{pa}"
        for link in topo.links:
            (na, ia), (nb, ib) = link.a, link.b
            if topo.nodes[nb].kind == "linux":
                nics[na][ia] = f"tap:{ib},netns={self.netns_name(nb)},addr={link.address}"
        for node in topo.stacks():
            for ifname in node.nics:
                nics[node.name][ifname] = "none"
        # interfaces in natural name order (vnet2 before vnet10): indexes follow the names
        def natural(item):
            return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", item[0])]
        return {n: dict(sorted(v.items(), key=natural)) for n, v in nics.items()}

    def netns_name(self, node: str) -> str:
        return f"pleblab-{self.name}-{node}"[:64]

    # -- up and down ----------------------------------------------------------------------------
    def up(self, detachable: bool = False) -> "Lab":
        """Start every node in parallel; return once all are ready (configured, answering)."""
        t0 = time.monotonic()
        LIVE_LABS[id(self)] = self
        try:
            self._up(detachable)
        except BaseException:
            self.down()
            raise
        self.up_seconds = time.monotonic() - t0
        return self

    @property
    def sockdir(self) -> str:
        return os.path.join(self.workdir, "sock")

    def _up(self, detachable: bool) -> None:
        topo = self.topology
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix=f"pleblab-{self.name}-")
        if topo.peers():
            self._make_namespaces()
        os.makedirs(self.sockdir, exist_ok=True)
        self.nics = self.plan()
        self.started = True
        if self.launcher_kind == "fork":
            self.launcher = make_launcher("fork", detachable=detachable)
        else:
            self.launcher = make_launcher(self.launcher_kind)
        if self._own_workdir:
            self.launcher.own(self.workdir)
        stacks = []
        for node in topo.stacks():
            wd = os.path.join(self.workdir, node.name)
            os.makedirs(wd, exist_ok=True)
            stacks.append(Stack(nics=self.nics[node.name], rc=node.rc,
                                rc_lines=node.config or None, name=node.name,
                                sockdir=self.sockdir, workdir=wd, launcher=self.launcher,
                                state=os.path.join(wd, "state") if node.state else None))
        for stack in stacks:
            self.nodes[stack.name] = stack
        results = self.launcher.start_many(
            [s.argv() for s in stacks], self.sockdir, timeout=self.start_timeout,
            errpaths=[os.path.join(s.workdir, "stderr.log") for s in stacks])
        failed = []
        for stack, res in zip(stacks, results):
            if isinstance(res, BaseException):
                failed.append(f"{stack.name}: {res}")
            else:
                stack.attach(res)
        if failed:
            raise LabError("lab " + self.name + " did not come up:\n  " + "\n  ".join(failed))
        for peer in topo.peers():
            self.nodes[peer.name] = Peer(peer.name, self.netns_name(peer.name), peer.routes)
            for route in peer.routes:
                res = self.nodes[peer.name].exec("ip", "route", "add", *route.split())
                if res.returncode:
                    raise LabError(f"{peer.name}: ip route add {route}: {res.stderr.strip()}")
        self.barrier()

    def _make_namespaces(self) -> None:
        if os.geteuid() != 0:
            raise LabError(f"lab {self.name} has Linux peers: they need root "
                           "(network namespaces and TAP devices)")
        for node in self.topology.peers():
            name = self.netns_name(node.name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)   # a stale one
            res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if res.returncode:
                raise LabError(f"{node.name}: ip netns add {name}: {res.stderr.strip()}")
            self.netns.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], capture_output=True)

    def barrier(self, timeout: float = 30) -> None:
        """Ready: every stack answers on its control socket and has every NIC of the plan."""
        deadline = time.monotonic() + timeout
        for name, stack in self.stacks.items():
            while True:
                try:
                    with stack.client(timeout=max(1.0, deadline - time.monotonic())) as c:
                        have = {i["name"] for i in c.sysctl("NET_RT_IFLIST")}
                    missing = set(self.nics[name]) - have
                    if missing:
                        raise LabError(f"{name}: no interface {', '.join(sorted(missing))}")
                    break
                except (OSError, RpcFailure, TimeoutError) as exc:
                    if time.monotonic() > deadline:
                        raise LabError(f"{name}: not answering: {exc}") from None
                    time.sleep(0.05)

    def down(self, timeout: float = 10) -> None:
        """Stop every stack (in parallel), delete the namespaces and the lab's directory."""
        try:
            stacks = [s for s in self.stacks.values() if s.proc is not None]
            if self.launcher is not None:
                self.launcher.stop_many([s.proc for s in stacks], timeout)
            else:
                for s in stacks:
                    if s.proc.alive():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(s.pid, signal.SIGTERM)
            for s in stacks:
                s.stop(timeout)
        finally:
            if self.launcher is not None:
                self.launcher.close()
                self.launcher = None
            for ns in self.netns:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            self.netns = []
            if self.workdir is None:
                pass
            elif self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            else:
                shutil.rmtree(self.sockdir, ignore_errors=True)
            self.started = False
            LIVE_LABS.pop(id(self), None)

    def __enter__(self) -> "Lab":
        if not self.started:
            self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # -- running things -------------------------------------------------------------------------
    def exec(self, node: str, *argv, **kw):
        """A tool on a stack (`plebconf TOOL ...`: ToolResult) or a command in a Linux peer's
        namespace (CompletedProcess)."""
        target = self.nodes.get(node)
        if target is None:
            raise LabError(f"lab {self.name} has no node {node!r}")
        return target.tool(*argv, **kw) if isinstance(target, Stack) else target.exec(*argv)

    def owner(self, address: str) -> str | None:
        """The node that has `address` (stacks' IPv4 addresses and the Linux peers' links)."""
        return self.address_map().get(address)

    def address_map(self) -> dict[str, str]:
        """address -> node, for every non-loopback IPv4 address of the lab (asked now: tests
        change addresses)."""
        from concurrent.futures import ThreadPoolExecutor
        out = {}
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = pool.map(lambda item: (item[0], item[1].addresses()), self.stacks.items())
            for name, addrs in found:
                for _, addr, _ in addrs:
                    out[addr] = name
        for link in self.topology.links:
            if link.address:
                out[link.address.split("/")[0]] = link.b[0]
        return out

    # -- a lab outliving its command (plebconf lab up) -----------------------------------------
    def save(self) -> str:
        """Write <workdir>/lab.json: what `plebconf lab status|exec|down` need."""
        doc = {"name": self.name, "topology": os.path.abspath(self.topology.path or ""),
               "workdir": self.workdir, "sockdir": self.sockdir, "netns": self.netns,
               "nics": self.nics, "up_seconds": self.up_seconds, "nodes": {}}
        for name, node in self.nodes.items():
            if isinstance(node, Stack):
                doc["nodes"][name] = {"kind": "plebnet", "pid": node.pid, "path": node.proc.path,
                                      "starttime": _starttime(node.pid),
                                      "rc": node.rc_sources()}
            else:
                doc["nodes"][name] = {"kind": "linux", "netns": node.netns}
        path = os.path.join(self.workdir, "lab.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(path + ".tmp", path)
        return path

    def detach(self) -> None:
        """Leave the stacks running without us (after save())."""
        LIVE_LABS.pop(id(self), None)
        for stack in self.stacks.values():
            LIVE_STACKS.pop(id(stack), None)
        if self.launcher is not None:
            self.launcher.release()
            self.launcher = None
        for stack in self.stacks.values():
            stack._own_launcher = False
        self._own_workdir = False

    @classmethod
    def attach(cls, workdir: str) -> "Lab":
        """The lab saved in workdir (by `plebconf lab up`), its stacks found by pid."""
        try:
            with open(os.path.join(workdir, "lab.json")) as f:
                doc = json.load(f)
        except OSError:
            raise LabError(f"no lab in {workdir}") from None
        from .topology import Node
        topo = Topology(doc["name"], {}, [], doc["topology"] or None)
        lab = cls(topo, workdir=workdir)
        lab.netns = doc["netns"]
        lab.nics = doc["nics"]
        lab.up_seconds = doc.get("up_seconds")
        lab.started = True
        for name, spec in doc["nodes"].items():
            topo.nodes[name] = Node(name, spec["kind"])
            if spec["kind"] == "linux":
                lab.nodes[name] = Peer(name, spec["netns"])
                continue
            stack = Stack(nics=doc["nics"][name], name=name, sockdir=doc["sockdir"],
                          workdir=os.path.join(workdir, name), launcher=None)
            stack.rc_files = spec.get("rc", [])
            stack.attach(_Detached(spec["pid"], spec["path"], doc["sockdir"], spec["starttime"],
                                   os.path.join(workdir, name, "stderr.log")), track=False)
            lab.nodes[name] = stack
        return lab


def start_lab(topology, **kw) -> Lab:
    """Lab(topology, **kw).up(): use as `with start_lab("lab.toml") as lab:`."""
    return Lab(topology, **kw).up()
