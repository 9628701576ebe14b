"""How stack processes start and stop: one interpreter per stack (plebnet_core.spawn, the
`plebnet` command) or forked by a fork server (pleblab/forkserver.py) that imported the stack
once.  Both run the same command line and hand back a Process: pid, socket path, stderr, stop.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from plebnet_core.spawn import ROOT, StackStartError, spawn_stack

READY = "plebnet: ready pid "


class Process:
    """A running stack process, however it was started."""

    pid: int
    path: str
    sockdir: str

    def alive(self) -> bool:
        raise NotImplementedError

    def stop(self, timeout: float = 10) -> int | None:
        raise NotImplementedError

    def stderr(self) -> str:
        raise NotImplementedError


class SpawnedProcess(Process):
    """A stack started as its own `plebnet` process (plebnet_core.spawn.RunningStack)."""

    def __init__(self, running):
        self.running = running
        self.pid, self.path, self.sockdir = running.pid, running.path, running.sockdir

    def alive(self) -> bool:
        return self.running.proc.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        code = self.running.stop(timeout=timeout)
        self.running.errfile.close()
        return code

    def stderr(self) -> str:
        try:
            return self.running.stderr()
        except ValueError:          # closed by stop()
            return ""


class SpawnLauncher:
    """One interpreter per stack, through plebnet_core.spawn (what the suite's fixtures use)."""

    name = "spawn"

    def start(self, argv: list[str], sockdir: str, env: dict | None = None,
              timeout: float = 30) -> SpawnedProcess:
        return SpawnedProcess(spawn_stack(argv, sockdir=sockdir, env=env, timeout=timeout))

    def start_many(self, argvs: list[list[str]], sockdir: str, env: dict | None = None,
                   timeout: float = 30, errpaths=None) -> list:
        """Start all at once (each start waits on its own ready line, so threads overlap)."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=min(32, max(1, len(argvs)))) as pool:
            futures = [pool.submit(self.start, argv, sockdir, env, timeout) for argv in argvs]
        return [_result_or_error(f) for f in futures]

    def stop_many(self, procs: list, timeout: float = 10) -> None:
        for p in procs:                 # signal all first: they shut down in parallel
            if p.alive():
                try:
                    p.running.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            p.stop(timeout)

    def close(self) -> None:
        pass

    def own(self, path: str) -> None:
        pass            # nobody outlives us to do it: removed at exit or by the owner only


def _result_or_error(future):
    exc = future.exception()
    return exc if exc is not None else future.result()


class ForkedProcess(Process):
    def __init__(self, server: "ForkLauncher", pid: int, path: str, sockdir: str, errfile):
        self.server, self.pid, self.path, self.sockdir = server, pid, path, sockdir
        self.errfile = errfile
        self.returncode = None

    def alive(self) -> bool:
        if self.returncode is not None:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def stop(self, timeout: float = 10) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.stop_pids([self.pid], timeout).get(self.pid)
        return self.returncode

    def stderr(self) -> str:
        try:
            self.errfile.seek(0)
            return self.errfile.read().decode(errors="replace")
        except ValueError:
            return ""


class ForkLauncher:
    """Stacks forked by one fork server process; the server dies with us (and takes its stacks
    with it) unless released (`detachable`, for `plebconf lab up`)."""

    name = "fork"

    def __init__(self, detachable: bool = False, env: dict | None = None):
        self.lock = threading.Lock()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        full_env = dict(os.environ if env is None else env)
        full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
        args = [sys.executable, "-m", "pleblab.forkserver", str(theirs.fileno())]
        if detachable:
            args.append("detachable")
        # its own session: a ^C at the terminal is for the test runner, which then stops the
        # lab in order; stdin /dev/null: stacks of a `lab up` must not hold the terminal
        self.proc = subprocess.Popen(args, pass_fds=[theirs.fileno()], env=full_env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.sock = mine
        self.rfile = mine.makefile("rb")
        self.detachable = detachable
        hello = self._read()
        if not hello.get("ready"):
            raise StackStartError(f"fork server did not start: {hello}")

    def _read(self) -> dict:
        line = self.rfile.readline()
        if not line:
            raise StackStartError("the fork server exited")
        return json.loads(line)

    def _request(self, req: dict, fds=()) -> dict:
        with self.lock:
            data = json.dumps(req).encode() + b"\n"
            if fds:
                socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.sendall(data)
            return self._read()

    def _fork(self, argv: list[str], sockdir: str, env: dict | None, errpath: str | None):
        rfd, wfd = os.pipe()
        errfile = open(errpath, "w+b") if errpath else tempfile.TemporaryFile()
        try:
            reply = self._request({"op": "spawn", "argv": [*argv, "--sockdir", sockdir],
                                   "env": env or {}, "pdeathsig": not self.detachable},
                                  [wfd, errfile.fileno()])
        finally:
            os.close(wfd)
        return reply["pid"], rfd, errfile

    def start(self, argv: list[str], sockdir: str, env: dict | None = None,
              timeout: float = 30) -> ForkedProcess:
        result = self.start_many([argv], sockdir, env, timeout)[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def start_many(self, argvs: list[list[str]], sockdir: str, env: dict | None = None,
                   timeout: float = 30, errpaths: list | None = None) -> list:
        """Fork them all, then collect the ready lines as they come: a list of ForkedProcess,
        or StackStartError in the place of a stack that did not come up.  errpaths: files
        for the stacks' stderr (default: anonymous temporary files)."""
        errpaths = errpaths or [None] * len(argvs)
        forks = [self._fork(argv, sockdir, env, e) for argv, e in zip(argvs, errpaths)]
        results: list = [None] * len(forks)
        sel = selectors.DefaultSelector()
        bufs = {}
        for i, (pid, rfd, errfile) in enumerate(forks):
            sel.register(rfd, selectors.EVENT_READ, i)
            bufs[i] = b""
        deadline = time.monotonic() + timeout
        try:
            while bufs and time.monotonic() < deadline:
                for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                    i = key.data
                    pid, rfd, errfile = forks[i]
                    chunk = os.read(rfd, 4096)
                    bufs[i] += chunk
                    if b"\n" in bufs[i] or not chunk:
                        results[i] = self._ready(pid, bufs.pop(i), sockdir, errfile)
                        sel.unregister(rfd)
        finally:
            sel.close()
            for pid, rfd, errfile in forks:
                os.close(rfd)
        late = [forks[i][0] for i in bufs]
        if late:
            self.stop_pids(late, 1)
            for i in bufs:
                results[i] = StackStartError(f"stack pid {forks[i][0]} not ready in {timeout}s")
        return results

    def _ready(self, pid: int, data: bytes, sockdir: str, errfile):
        line = data.decode(errors="replace").split("\n")[0]
        if line.startswith(READY):
            words = line.split()
            return ForkedProcess(self, int(words[3]), words[5], sockdir, errfile)
        self.stop_pids([pid], 1)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
        return StackStartError((line + "\n" + err).strip() or "plebnet exited before it was ready")

    def stop_pids(self, pids: list[int], timeout: float = 10) -> dict:
        if self.proc.poll() is not None:
            return {}
        try:
            reply = self._request({"op": "stop", "pids": pids, "timeout": timeout})
        except (OSError, StackStartError):
            return {}
        return {int(k): v for k, v in reply["status"].items()}

    def stop_many(self, procs: list, timeout: float = 10) -> None:
        live = [p for p in procs if p.returncode is None]
        status = self.stop_pids([p.pid for p in live], timeout)
        for p in live:
            p.returncode = status.get(p.pid)

    def own(self, path: str) -> None:
        """Have the server remove `path` if we end without doing it (killed)."""
        if self.proc.poll() is None:
            self._request({"op": "own", "path": os.path.abspath(path)})

    def release(self) -> None:
        """Let the server go, leaving its stacks running on their own."""
        self._request({"op": "release"})
        self.close()

    def close(self) -> None:
        """End the server: its remaining stacks are stopped (it reads our end of file)."""
        try:
            self.rfile.close()
            self.sock.close()
        finally:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_shared: ForkLauncher | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_fork_launcher() -> ForkLauncher:
    """The fork server this process's single stacks share (started on first use): a stack
    then costs a fork, not an interpreter, and dies with us however we end."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid() or _shared.proc.poll() is not None:
            _shared, _shared_pid = ForkLauncher(), os.getpid()
        return _shared


def close_shared() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None and _shared_pid == os.getpid():
            _shared.close()
        _shared = None


def launcher(kind: str = "fork", **kw):
    if kind == "fork":
        return ForkLauncher(**kw)
    if kind == "spawn":
        return SpawnLauncher()
    raise ValueError(f"unknown launcher {kind!r}: fork or spawn")
