"""The fork server: one process imports the stack once and forks every stack of a lab.

A `plebnet` start costs an interpreter and ~150 ms of imports; a hundred of them on two cores
take longer than the lab's whole 10 s budget.  This process pays that once, then forks a child
per stack that runs the very entry point of the `plebnet` command (plebnet_core.main:main) with
its command line, so a forked stack is the command-line stack, started from warm imports.

Protocol, on a unix socketpair given as argv[1] (one request at a time, JSON lines):
    {"op": "spawn", "argv": [...], "env": {...}, "pdeathsig": bool} + 2 fds (SCM_RIGHTS):
        the child's stdout (where the ready line goes) and stderr  ->  {"pid": N}
    {"op": "stop", "pids": [...], "timeout": T}: SIGTERM, wait, SIGKILL after T
        ->  {"status": {pid: exit status}}
    {"op": "own", "path": DIR}: a private directory of the owner's (sockets, rc files) to
        remove if the owner ends without removing it  ->  {}
    {"op": "release"}: exit leaving the stacks running (`plebconf lab up` in a shell)
End of file on the socket (the lab process ended, however) stops every child, removes the
directories it was given, then exits.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import socket
import sys
import time

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
_libc = None


def _prctl(option: int, arg) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.prctl(option, arg, 0, 0, 0)


def _pdeathsig(sig: int) -> None:
    """Have the kernel send `sig` to this process when its parent dies."""
    _prctl(PR_SET_PDEATHSIG, sig)


class Server:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.children: set[int] = set()
        self.status: dict[int, int] = {}
        self.rbuf = b""
        self.fds: list[int] = []        # received with spawn requests, not yet handed out
        self.owned: list[str] = []

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if not pid:
                return
            self.children.discard(pid)
            self.status[pid] = os.waitstatus_to_exitcode(status)

    def spawn(self, req: dict, fds: list[int]) -> dict:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:                                # the stack
            code = 1
            try:
                self.sock.close()
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                _prctl(PR_SET_NAME, b"plebnet")    # what ps -o comm, top and pgrep see
                if req.get("pdeathsig", True):
                    _pdeathsig(signal.SIGTERM)
                    if os.getppid() != parent:      # the server died before prctl took
                        os._exit(1)
                os.dup2(fds[0], 1)
                os.dup2(fds[1], 2)
                for fd in fds:
                    os.close(fd)
                os.environ.update(req.get("env") or {})
                sys.argv = ["plebnet", *req["argv"]]
                from plebnet_core.main import main
                main(req["argv"])       # the `plebnet` console script, with this argv
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        for fd in fds:
            os.close(fd)
        self.children.add(pid)
        return {"pid": pid}

    def stop(self, pids: list[int], timeout: float) -> dict:
        for pid in pids:
            if pid in self.children:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        while any(p in self.children for p in pids):
            self.reap()
            if time.monotonic() > deadline:
                for pid in pids:
                    if pid in self.children:
                        os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.005)
        return {"status": {str(p): self.status.pop(p, None) for p in pids}}

    def requests(self):
        while True:
            while b"\n" not in self.rbuf:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 8)
                if not data:
                    return
                self.rbuf += data
                self.fds += fds
            line, _, self.rbuf = self.rbuf.partition(b"\n")
            yield json.loads(line)

    def serve(self) -> str:
        for req in self.requests():
            self.reap()
            op = req.get("op")
            if op == "spawn":
                fds, self.fds = self.fds[:2], self.fds[2:]
                reply = self.spawn(req, fds)
            elif op == "stop":
                reply = self.stop(req["pids"], float(req.get("timeout", 10)))
            elif op == "own":
                self.owned.append(req["path"])
                reply = {}
            elif op == "release":
                self.sock.sendall(b'{"released": true}\n')
                return "release"
            else:
                reply = {"error": f"unknown op {op!r}"}
            self.sock.sendall(json.dumps(reply).encode() + b"\n")
        return "eof"


def warm() -> None:
    """Import, once, every module a stack may load lazily (the rc.conf path at boot imports
    the rc.d scripts and the tools' grammars): walked by package, not named, so a module that
    moves in a refactoring is still found; one that fails to import is left to the child."""
    import importlib
    import pkgutil
    for pkg in ("plebnet_core", "plebconf.rc", "plebconf.cli", "plebproto"):
        try:
            mod = importlib.import_module(pkg)
        except ImportError:
            continue
        for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
            if info.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:       # an optional backend missing here: the child says so
                pass


class OwnerGone(Exception):
    """SIGTERM: the kernel's word that our owner died (PR_SET_PDEATHSIG), or a kill."""


_cleaning = False       # set once the cleanup starts: a SIGTERM then changes nothing


def _terminated(signum, frame):
    # once only: the kernel's parent-death signal and an owner's kill can both come, and a
    # second OwnerGone raised inside the cleanup would leave stacks and directories behind
    if not _cleaning:
        raise OwnerGone


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the lab's owner decides, not a ^C
    # as for an end of file: stop the stacks and remove the directories before going
    signal.signal(signal.SIGTERM, _terminated)
    sock = socket.socket(fileno=int(sys.argv[1]))
    if len(sys.argv) < 3 or sys.argv[2] != "detachable":
        _pdeathsig(signal.SIGTERM)
    import plebnet_core.main  # noqa: F401
    warm()
    import gc
    gc.collect()
    gc.freeze()         # keep the warm heap out of every child's collections (and its pages shared)
    server = Server(sock)
    sock.sendall(b'{"ready": true}\n')
    global _cleaning
    try:
        try:
            how = server.serve()
        finally:
            _cleaning = True        # (a SIGTERM before this line is caught just below)
    except (OwnerGone, OSError):
        how = "eof"
    if how == "eof":
        server.stop(sorted(server.children), 5)
        import shutil
        for path in server.owned:
            shutil.rmtree(path, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
