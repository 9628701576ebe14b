"""Start a plebnet process and wait for its ready line: for the demo, tests and benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StackStartError(RuntimeError):
    pass


class RunningStack:
    def __init__(self, proc: subprocess.Popen, pid: int, path: str, sockdir: str, errfile):
        self.proc = proc
        self.errfile = errfile
        self.pid = pid
        self.path = path
        self.sockdir = sockdir

    def client(self, **kw):
        from plebconf.rpc.client import Client
        return Client.connect(pid=self.pid, directory=self.sockdir, **kw)

    def env(self) -> dict:
        """Environment for running the tools against this stack."""
        env = dict(os.environ, PLEBNET_PID=str(self.pid), PLEBNET_SOCKDIR=self.sockdir)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def stop(self, sig=signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def stderr(self) -> str:
        """What the stack wrote on stderr so far (it goes to a file: a pipe could fill)."""
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def plebnet_argv(args) -> list[str]:
    return [sys.executable, "-m", "plebnet_core", *args]


def spawn_stack(args=(), sockdir: str = "/tmp", env: dict | None = None,
                timeout: float = 30) -> RunningStack:
    """Run `plebnet ARGS --sockdir DIR`; return once it printed its ready line."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    errfile = tempfile.TemporaryFile()
    proc = subprocess.Popen(plebnet_argv([*args, "--sockdir", sockdir]), env=full_env,
                            stdout=subprocess.PIPE, stderr=errfile, text=True)
    line = proc.stdout.readline()
    if not line.startswith("plebnet: ready pid "):
        proc.kill()
        proc.wait()
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
        raise StackStartError((line + err).strip() or "plebnet exited before it was ready")
    words = line.split()
    return RunningStack(proc, int(words[3]), words[5], sockdir, errfile)
