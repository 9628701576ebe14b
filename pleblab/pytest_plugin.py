"""The pytest plugin (entry point pytest11 "pleblab"): stacks and labs as fixtures, what the
stacks looked like when a test failed, and a marker for tests that need root.

Fixtures:
    plebstack           one stack: vnet0 (no wire) and lo0; stopped after the test
    plebstack_factory   make(**Stack arguments) -> a started Stack; all stopped after the test
    pleblab             the lab of the test's topology, marked
                            @pytest.mark.pleblab_topology("lab.toml")   (relative to the test file)
                        up for the test, down after it
    pleblab_module      the same, shared by the tests of a module (mark the module:
                            pytestmark = pytest.mark.pleblab_topology("lab.toml"))
    pleblab_factory     make(topology, **Lab arguments) -> a Lab that is up; down after the test

Markers:
    needs_root          skipped without root (network namespaces, TAP: Linux peers); a failure,
                        not a skip, when the CI environment variable is set
    pleblab_topology(path)

On a failing test, the report gets a section per live stack (up to --pleblab-report-max):
its `netstat -rn`, `arp -an` and the audit log entries (`plebconf log`) made during the test.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from . import stack as _stack
from .lab import Lab
from .stack import Stack
from .topology import load_topology


def pytest_addoption(parser):
    group = parser.getgroup("pleblab")
    group.addoption("--pleblab-report-max", type=int, default=8, metavar="N",
                    help="stacks shown (netstat -rn, arp -an, audit log) when a test fails")
    group.addoption("--pleblab-launcher", default="fork", choices=("fork", "spawn"),
                    help="how the fixtures start stacks (default: a fork server)")


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_root: needs root and network namespaces "
                                       "(Linux peers); skipped elsewhere, never when CI is set")
    config.addinivalue_line("markers", "pleblab_topology(path): the topology file of the "
                                       "pleblab / pleblab_module fixtures")


def require_root(what: str = "network namespaces and TAP devices") -> None:
    """Skip unless root; fail instead when CI is set (there, every test must run)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run as root: this test needs {what}")
        pytest.skip(f"needs root for {what}")


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_root"):
        require_root()


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture
def plebstack_factory(request):
    made: list[Stack] = []

    def make(**kw) -> Stack:
        kw.setdefault("launcher", request.config.getoption("--pleblab-launcher"))
        s = Stack(**kw).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture
def plebstack(plebstack_factory) -> Stack:
    return plebstack_factory(nics={"vnet0": "none"})


def _topology_path(node, marker_owner) -> str:
    marker = marker_owner.get_closest_marker("pleblab_topology")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{node.nodeid}: the pleblab fixtures need "
                                "@pytest.mark.pleblab_topology(\"FILE.toml\")")
    path = str(marker.args[0])
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(str(node.path)), path)


def _up(config, topology, **kw) -> Lab:
    topo = load_topology(topology) if isinstance(topology, (str, os.PathLike)) else topology
    if topo.peers():
        require_root("the Linux peers of this lab")
    kw.setdefault("launcher", config.getoption("--pleblab-launcher"))
    return Lab(topo, **kw).up()


@pytest.fixture
def pleblab_factory(request):
    made: list[Lab] = []
    base = os.path.dirname(str(request.node.path))

    def make(topology, **kw) -> Lab:
        if isinstance(topology, (str, os.PathLike)) and not os.path.isabs(topology):
            topology = os.path.join(base, topology)
        lab = _up(request.config, topology, **kw)
        made.append(lab)
        return lab
    yield make
    for lab in made:
        lab.down()


@pytest.fixture
def pleblab(request):
    lab = _up(request.config, _topology_path(request.node, request.node))
    yield lab
    lab.down()


@pytest.fixture(scope="module")
def pleblab_module(request):
    lab = _up(request.config, _topology_path(request.node, request.node))
    yield lab
    lab.down()


# -- what the stacks looked like when a test failed -------------------------------------------
def pytest_runtest_call(item):
    item._pleblab_t0 = time.time()


def _changes(s: Stack, since: float) -> list[dict] | Exception:
    """The stack's audit log entries (the `audit` op `plebconf log` reads) since the test began."""
    try:
        with s.client(timeout=5) as c:
            entries = c.call("audit", {"args": True})
    except Exception as exc:        # a dead stack: say so rather than hide the test's failure
        return exc
    return [e for e in entries if e.get("time", 0) >= since]


def _stack_report(s: Stack, changes) -> str:
    from plebconf.cli.log import describe
    parts = []
    for argv in (("netstat", "-rn"), ("arp", "-an")):
        res = s.tool(*argv)
        parts.append(f"$ {' '.join(argv)}\n{res.stdout}{res.stderr}")
    if isinstance(changes, Exception):
        parts.append(f"$ plebconf log\n(unavailable: {changes})\n")
    else:
        lines = [f"{e['seq']:>6} {time.strftime('%H:%M:%S', time.localtime(e['time']))} "
                 f"pid {e['pid']} {describe(e)}: "
                 + ("ok" if not e["errno"] else f"refused: {e['msg'] or e['errno']}")
                 for e in changes]
        parts.append("$ plebconf log   (the changes made during this test)\n"
                     + ("\n".join(lines) or "(none)") + "\n")
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if call.when != "call" or not rep.failed:
        return
    stacks = [s for s in _stack.LIVE_STACKS.values() if s.running]
    if not stacks:
        return
    limit = item.config.getoption("--pleblab-report-max")
    since = getattr(item, "_pleblab_t0", 0.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        changes = list(pool.map(lambda s: _changes(s, since), stacks))
        # the stacks this test changed first: in a big lab they are the ones to look at
        order = sorted(range(len(stacks)), key=lambda i: not changes[i])[:limit]
        texts = list(pool.map(lambda i: _stack_report(stacks[i], changes[i]), order))
    for i, text in zip(order, texts):
        rep.sections.append((f"pleblab: {stacks[i].name} (pid {stacks[i].pid})", text))
    if len(stacks) > limit:
        rep.sections.append(("pleblab", f"{len(stacks) - limit} more stacks not shown "
                                        "(--pleblab-report-max)"))


def pytest_sessionfinish(session, exitstatus):
    # whatever a fixture could not finalize (an interrupted run): stopped here, not orphaned
    _stack.stop_all()
