import os
import shutil
import tempfile
from contextlib import contextmanager

import pytest

from plebnet_core.spawn import spawn_stack


def need_root(what: str = "network namespaces and TAP devices") -> None:
    """Skip without root, except in CI, where every test must run."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run as root: this test needs {what}")
        pytest.skip(f"needs root for {what}")


def fresh_syscalls(plen: int = 24):
    """Syscalls over an in-process Stack of vnet0 (10.0.0.2/plen) and lo0: the state and
    its handlers without a stack process."""
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls
    st = Stack(pid=1)
    with st.transaction():
        st.if_attach("vnet0", "vnet")
        st.if_attach("lo0", "lo")
    sc = Syscalls(st, 1)
    sc.run_batch([["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                             "plen": plen}]])
    return sc


class Clock:
    """A stack clock that moves only when the test sets clock.now (so listings with
    expiry times compare equal)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sockdir():
    path = tempfile.mkdtemp(prefix="pleb-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


# the host uuid of the stacks the tool tests start: their MACs (and link-local addresses)
# are then the same on every run, as a FreeBSD host's are for one kern.hostuuid
TEST_HOSTUUID = "9f3c6d2e-6a41-4c1b-9e57-2b8f0c7d1a55"


@pytest.fixture
def stack(sockdir):
    """A real plebnet process with vnet0 (no wire) and lo0."""
    running = spawn_stack(["--nic", "vnet0=none", "--hostuuid", TEST_HOSTUUID],
                          sockdir=sockdir)
    yield running
    running.stop()


@pytest.fixture
def stack2(sockdir):
    """A stack with vnet0, vnet1 and lo0, as the demo starts it."""
    running = spawn_stack(["--nic", "vnet0=none", "--nic", "vnet1=none",
                           "--hostuuid", TEST_HOSTUUID], sockdir=sockdir)
    yield running
    running.stop()


@pytest.fixture
def conf(tmp_path):
    """conf(text) -> path of an rc.conf holding text (named rc.conf in a temp dir)."""
    def write(text, name="rc.conf"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


@pytest.fixture
def client(stack):
    with stack.client() as c:
        yield c


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(stack, argv, wrapper: bool, env):
    import sys
    full_env = stack.env() if stack is not None else dict(os.environ)
    full_env["PYTHON"] = sys.executable
    full_env["PYTHONPATH"] = ROOT
    full_env.update(env or {})
    if wrapper:
        return [os.path.join(ROOT, "scripts", argv[0]), *argv[1:]], full_env
    return [sys.executable, "-m", "plebconf", *argv], full_env


def run_tool(stack, *argv, wrapper: bool = False, input: str | None = None, env=None):
    """Run `plebconf TOOL ARGS` (or scripts/TOOL ARGS when wrapper) against a running stack;
    returns the CompletedProcess (text stdout/stderr, returncode)."""
    import subprocess
    cmd, full_env = _tool(stack, argv, wrapper, env)
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, input=input,
                          timeout=60)


def start_tool(stack, *argv, env=None):
    """`plebconf TOOL ARGS` in the background (a ping the test answers as its peer): the Popen,
    text stdout/stderr piped."""
    import subprocess
    cmd, full_env = _tool(stack, argv, False, env)
    return subprocess.Popen(cmd, env=full_env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@contextmanager
def spawn_chain(sockdir):
    """Three stacks in a row, a --vx-- b --vx-- c (b has vnet0 toward a, vnet1 toward c),
    over Ethernet-over-UDP on loopback, stopped at the end."""
    from test_dataplane_stacks import free_udp_ports, vx
    p = free_udp_ports(4)
    stacks = []
    try:
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}", "--nic",
                                   f"vnet1={vx(p[2], p[3], 43)}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[3], p[2], 43)}"], sockdir=sockdir))
        yield stacks
    finally:
        for s in stacks:
            s.stop()


@pytest.fixture
def chain(sockdir):
    """spawn_chain's three stacks, unconfigured (test_ipv6_stacks, test_ipv6_pmtu)."""
    with spawn_chain(sockdir) as stacks:
        yield stacks
