"""One stack under test: started from its NICs, rc.conf, state dir and socket dir; the tools
run against it (text, `--libxo json`, parsed objects); its RPC client, route events, pings and
path lookups; stopped and cleaned up whatever happens to the test.

Everything here goes through the `plebnet` and `plebconf` command lines and the control
protocol (plebconf.rpc.client), never through the stack's internals.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from plebconf.rpc import client as rpc
from plebnet_core.spawn import ROOT

from .launch import close_shared, launcher as make_launcher, shared_fork_launcher
from .results import ArpEntry, PingResult, Route, RouteGet, ToolResult

# the refusal the client raises: RpcError today, plebproto's OpError once the client says it
try:
    from plebproto.errors import OpError
except ImportError:         # pragma: no cover - older trees
    OpError = None
RpcFailure = tuple(c for c in (getattr(rpc, "RpcError", None), OpError) if c is not None)


# every started stack and lab not stopped yet: the pytest plugin reports on them when a test
# fails, and stop_all() (at exit, and at the end of a pytest session) leaves nothing running
LIVE_STACKS: dict[int, "Stack"] = {}
LIVE_LABS: dict[int, object] = {}


def stop_all() -> None:
    """Stop every lab and stack this process started and has not stopped."""
    for lab in list(LIVE_LABS.values()):
        with contextlib.suppress(Exception):
            lab.down()
    for stack in list(LIVE_STACKS.values()):
        with contextlib.suppress(Exception):
            stack.stop()
    close_shared()


atexit.register(stop_all)


def rc_text(lines) -> str:
    """rc.conf lines (a string or a list of lines) as file text."""
    if isinstance(lines, str):
        return lines if lines.endswith("\n") else lines + "\n"
    return "".join(line.rstrip("\n") + "\n" for line in lines)


class Stack:
    """A plebnet stack as a context manager:

        with Stack(nics={"vnet0": "none"}, rc=['ifconfig_vnet0="inet 10.0.0.1/24"']) as s:
            s.tool("ifconfig", "vnet0").stdout
            s.routes()

    nics: {name: backend} (backends as `plebnet --nic`); rc: rc.conf files (paths);
    rc_lines: inline rc.conf text or lines; state: a --state directory (True: a fresh one in
    the stack's directory); sockdir: where the control socket goes (default: a private
    directory, removed at stop).  launcher: "fork" (forked by this process's shared fork
    server, pleblab.forkserver: cheap, and gone with us even if we are killed), "spawn" (its
    own interpreter, plebnet_core.spawn: stopped at exit, but orphaned by a SIGKILL of ours),
    or a launcher object.
    """

    def __init__(self, nics: dict | None = None, rc=(), rc_lines=None, state=None,
                 sockdir: str | None = None, name: str = "stack", launcher="fork",
                 keep_going: bool = False, extra_args=(), workdir: str | None = None):
        self.name = name
        self.nics = dict(nics if nics is not None else {"vnet0": "none"})
        self.rc_files = [rc] if isinstance(rc, str) else list(rc)
        self.rc_lines = rc_lines
        self.keep_going = keep_going
        self.extra_args = list(extra_args)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"pleblab-{name}-")
        self._own_sockdir = sockdir is None
        self.sockdir = sockdir or os.path.join(self.workdir, "sock")
        os.makedirs(self.sockdir, exist_ok=True)
        self.state_dir = os.path.join(self.workdir, "state") if state is True else state
        if launcher == "fork":              # the process's shared fork server
            self._own_launcher, self.launcher = False, shared_fork_launcher()
        else:
            self._own_launcher = isinstance(launcher, str)
            self.launcher = make_launcher(launcher) if self._own_launcher else launcher
        self.proc = None
        self._clients: list = []
        self._lock = threading.Lock()

    # -- life ------------------------------------------------------------------------------------
    def argv(self) -> list[str]:
        """The `plebnet` command line of this stack (without --sockdir)."""
        args = []
        for nic, backend in self.nics.items():
            args += ["--nic", f"{nic}={backend}"]
        rc_files = list(self.rc_files)
        if self.rc_lines:
            path = os.path.join(self.workdir, f"{self.name}.rc.conf")
            with open(path, "w") as f:
                f.write(rc_text(self.rc_lines))
            rc_files.append(path)
        for path in rc_files:
            args += ["--rc", os.path.abspath(path)]
        if self.keep_going:
            args.append("--keep-going")
        if self.state_dir:
            args += ["--state", self.state_dir]
        return args + self.extra_args

    def start(self, timeout: float = 30) -> "Stack":
        try:
            if self._own_workdir:
                self.launcher.own(self.workdir)
            self.attach(self.launcher.start(self.argv(), self.sockdir, timeout=timeout))
        except BaseException:
            self._cleanup()
            raise
        return self

    def attach(self, proc, track: bool = True) -> None:
        """Take over a started process; track: stop it at exit if nobody did (False for
        stacks of a lab that outlives us, found again by `plebconf lab`)."""
        self.proc = proc
        if track:
            LIVE_STACKS[id(self)] = self

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self, timeout: float = 10) -> int | None:
        """Stop the stack (SIGTERM, then SIGKILL after timeout) and remove what it left."""
        code = None
        try:
            for c in self._clients:
                with contextlib.suppress(OSError):
                    c.close()
            self._clients.clear()
            if self.proc is not None:
                code = self.proc.stop(timeout)
        finally:
            self._cleanup()
        return code

    def _cleanup(self) -> None:
        LIVE_STACKS.pop(id(self), None)
        if self._own_launcher:
            self.launcher.close()
            self._own_launcher = False
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.proc.path)       # left behind only by a SIGKILL
        if self._own_sockdir:
            shutil.rmtree(self.sockdir, ignore_errors=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Stack":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stderr(self) -> str:
        """What the stack process wrote on stderr."""
        return self.proc.stderr() if self.proc else ""

    # -- tools -----------------------------------------------------------------------------------
    def env(self) -> dict:
        """The environment under which `plebconf TOOL` (and scripts/) talk to this stack."""
        env = dict(os.environ, PLEBNET_PID=str(self.pid), PLEBNET_SOCKDIR=self.sockdir)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def tool(self, *argv, input: str | None = None, check: bool = False,
             timeout: float = 60) -> ToolResult:
        """Run `plebconf TOOL ARGS...` against the stack; the exit status, stdout, stderr."""
        argv = [str(a) for a in argv]
        cmd = [sys.executable, "-m", "plebconf", *argv]
        done = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              input=input, timeout=timeout)
        result = ToolResult(argv, done.returncode, done.stdout, done.stderr)
        return result.check() if check else result

    def run(self, *argv, **kw) -> str:
        """The tool's stdout; raises ToolFailed when it exits non-zero."""
        return self.tool(*argv, check=True, **kw).stdout

    def json(self, *argv, **kw):
        """The tool's `--libxo json` document."""
        return json.loads(self.run(*argv, "--libxo", "json", **kw))

    # -- parsed listings -------------------------------------------------------------------------
    def routes(self, family: str | None = "Internet") -> list[Route]:
        """`netstat -rn` as Route objects (family: "Internet", "Internet6" or None: all)."""
        doc = self.json("netstat", "-rn")
        out = []
        for fam in doc["statistics"]["route-information"]["route-table"]["rt-family"]:
            if family is None or fam["address-family"] == family:
                out += [Route.from_json(e, fam["address-family"]) for e in fam["rt-entry"]]
        return out

    def arp(self) -> list[ArpEntry]:
        """`arp -an` as ArpEntry objects."""
        return [ArpEntry(e["ip-address"], e.get("mac-address"), e["interface"],
                         bool(e.get("permanent")), e.get("expires"))
                for e in self.json("arp", "-an")["arp"]["arp-cache"]]

    def interfaces(self) -> list[dict]:
        """`ifconfig -a --libxo json`'s interfaces (README.md documents the schema)."""
        return self.json("ifconfig", "-a")["interfaces"]

    def addresses(self, loopback: bool = False) -> list[tuple[str, str, int]]:
        """(interface, IPv4 address, prefix length) of every configured IPv4 address (read
        over the control socket: NET_RT_IFLIST, what ifconfig lists)."""
        with rpc.Client.connect(pid=self.pid, directory=self.sockdir) as c:
            ifaces = c.sysctl("NET_RT_IFLIST")
        return [(i["name"], a["addr"], a["plen"]) for i in ifaces for a in i.get("addrs", ())
                if a["af"] == "inet" and (loopback or i["kind"] != "lo")]

    def route_get(self, dst: str) -> RouteGet | None:
        """The route to DST, as `route -n get DST` shows it (an RTM_GET over the control
        socket; gateway None: on-link or local).  None: no route."""
        from plebproto.constants import RTF_GATEWAY, RTF_NAMES
        try:
            with rpc.Client.connect(pid=self.pid, directory=self.sockdir) as c:
                r = c.rtmsg("RTM_GET", af="inet", dst=dst)
        except RpcFailure:
            return None
        flags = tuple(name for bit, name in RTF_NAMES if r["flags"] & bit)
        return RouteGet(dst, r["dst"], r["gateway"] if r["flags"] & RTF_GATEWAY else None,
                        r["ifname"], flags)

    def log(self, count: int | None = None) -> list[dict]:
        """The audit log (`plebconf log --libxo json`), oldest first."""
        args = ["log"] + (["-n", str(count)] if count else [])
        return self.json(*args)["audit"]["entry"]

    def rc_diff(self, *files) -> ToolResult:
        """`plebconf rc diff FILES`: exit 0 when the stack matches them, 1 with the drift."""
        files = files or self.rc_sources()
        return self.tool("rc", "diff", *files)

    def rc_sources(self) -> list[str]:
        """The rc.conf files this stack was started from (inline lines written to a file)."""
        files = [os.path.abspath(f) for f in self.rc_files]
        if self.rc_lines:
            files.append(os.path.join(self.workdir, f"{self.name}.rc.conf"))
        return files

    # -- the control socket ----------------------------------------------------------------------
    def client(self, **kw) -> "rpc.Client":
        """A new RPC client (plebconf.rpc.client.Client) connected to the stack; closed at stop
        if not before."""
        c = rpc.Client.connect(pid=self.pid, directory=self.sockdir, **kw)
        with self._lock:
            self._clients.append(c)
        return c

    @contextlib.contextmanager
    def monitor(self, timeout: float | None = 10.0):
        """Routing-socket events (what `route monitor` prints), as dicts, from now on:

            with s.monitor() as events:
                s.run("route", "add", "10.9.0.0/16", "10.0.0.1")
                ev = next(events)       # raises TimeoutError after `timeout` seconds of silence
        """
        c = rpc.Client.connect(pid=self.pid, directory=self.sockdir, timeout=timeout)
        try:
            yield c.subscribe()
        finally:
            c.close()

    def ping(self, dst: str, count: int = 1, interval: float = 0.2, wait: float = 1.0,
             size: int = 56, ttl: int = 64, src: str | None = None,
             client=None) -> PingResult:
        """Echo requests sent by the stack (the RPC op `plebconf ping` uses); the result as an
        object.  wait: seconds to wait for replies after the last request."""
        req = {"dst": dst, "count": count, "interval": interval, "size": size, "ttl": ttl,
               "timeout": 0, "waittime": wait}
        if src:
            req["src"] = src
        own = client is None
        c = client or rpc.Client.connect(pid=self.pid, directory=self.sockdir)
        result = PingResult(dst)
        try:
            for chunk in c.stream("ping", req):
                if isinstance(chunk, dict):             # the final statistics
                    continue
                for ev in chunk or ():
                    if "transmitted" in ev:
                        continue
                    kind = ev.get("ev")
                    if kind == "sent":
                        result.transmitted += 1
                        if ev.get("errno"):
                            result.send_errnos.append(ev["errno"])
                    elif kind == "reply":
                        if all(r["seq"] != ev["seq"] for r in result.replies):
                            result.received += 1
                        result.replies.append({k: ev[k] for k in
                                               ("seq", "from", "ttl", "bytes", "time")
                                               if k in ev})
                    elif kind == "icmp":
                        result.errors.append({k: ev[k] for k in ("from", "type", "code")})
        except RpcFailure as exc:
            result.send_errnos.append(exc.errno)
        finally:
            if own:
                c.close()
        return result

    def has_tool(self, name: str) -> bool:
        """Whether plebconf has the tool (traceroute is not built everywhere)."""
        from plebconf.cli import load_tool
        return load_tool(name) is not None

    def __repr__(self) -> str:
        pid = self.proc.pid if self.proc else None
        return f"<Stack {self.name} pid={pid} sockdir={self.sockdir}>"


def start_stack(**kw) -> Stack:
    """Stack(**kw).start(): use as `with start_stack(...) as s:`."""
    return Stack(**kw).start()
