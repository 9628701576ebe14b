"""`plebconf lab ...` from the shell, and the pytest plugin as a user's pytest run loads it
(through its pytest11 entry point)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIANGLE = os.path.join(ROOT, "examples", "triangle", "triangle.toml")


def plebconf(*args, labdir):
    env = dict(os.environ, PLEBLAB_DIR=str(labdir))
    return subprocess.run([sys.executable, "-m", "plebconf", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_lab_up_status_exec_down(tmp_path):
    up = plebconf("lab", "up", TRIANGLE, labdir=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("lab triangle: 3 stacks, 0 Linux peers, 3 links, ready in ")
        pids = [int(line.split()[2]) for line in up.stdout.splitlines()[2:]]
        assert len(pids) == 3 and not any(gone(p) for p in pids)   # outlived `lab up`

        again = plebconf("lab", "up", TRIANGLE, labdir=tmp_path)
        assert again.returncode == 1
        assert again.stderr == "lab: lab triangle is already up (plebconf lab down triangle)\n"

        status = plebconf("lab", "status", labdir=tmp_path)
        assert status.returncode == 0
        assert "r1           plebnet" in status.stdout and " up     vnet0=vxlan:" in status.stdout
        assert plebconf("lab", "list", labdir=tmp_path).stdout == "triangle\n"

        got = plebconf("lab", "exec", "r1", "route", "-n", "get", "10.1.3.1", labdir=tmp_path)
        assert got.returncode == 0 and "    gateway: 10.0.13.3\n" in got.stdout
        ping = plebconf("lab", "exec", "-l", "triangle", "r2", "ping", "-c", "1", "10.1.3.1",
                        labdir=tmp_path)
        assert ping.returncode == 0 and "1 packets received" in ping.stdout
        bad = plebconf("lab", "exec", "r1", "route", "-n", "get", "10.99.0.1", labdir=tmp_path)
        # 14's route_netlink.c rtmsg_nl_int: warn() and return 0 for a get that finds nothing
        assert (bad.returncode, bad.stderr) == (
            0, "route: route has not been found: No error: 0\n")
        nonode = plebconf("lab", "exec", "r9", "ifconfig", labdir=tmp_path)
        assert (nonode.returncode, nonode.stderr) == (1, "lab: lab triangle has no node 'r9'\n")

        os.kill(pids[2], signal.SIGKILL)                # a stack dies: status says so
        while not gone(pids[2]):
            time.sleep(0.01)
        status = plebconf("lab", "status", labdir=tmp_path)
        assert status.returncode == 1 and f"r3           plebnet  {pids[2]:>7} gone" in \
            status.stdout
        dead = plebconf("lab", "exec", "r3", "ifconfig", labdir=tmp_path)
        assert (dead.returncode, dead.stderr) == (69, f"lab: r3 (pid {pids[2]}) is not running\n")
    finally:
        down = plebconf("lab", "down", labdir=tmp_path)
    assert down.returncode == 0 and down.stdout == "lab triangle: down\n"
    assert all(gone(p) for p in pids)
    assert os.listdir(tmp_path) == []
    none = plebconf("lab", "status", labdir=tmp_path)
    assert (none.returncode, none.stderr) == (1, "lab: no lab is up\n")


def test_lab_graph_and_usage(tmp_path):
    graph = plebconf("lab", "graph", TRIANGLE, labdir=tmp_path)
    assert graph.returncode == 0
    assert graph.stdout.startswith('graph "triangle" {\n')
    assert '  "r1" -- "r3" [taillabel="vnet1", headlabel="vnet1"];\n' in graph.stdout
    usage = plebconf("lab", "sideways", labdir=tmp_path)
    assert usage.returncode == 64 and usage.stderr.startswith(
        "lab: unknown command 'sideways'\nusage: plebconf lab up FILE\n")
    missing = plebconf("lab", "up", str(tmp_path / "nope.toml"), labdir=tmp_path)
    assert missing.returncode == 1 and "nope.toml: No such file or directory" in missing.stderr


def test_a_lab_that_fails_to_come_up_leaves_nothing(tmp_path):
    topo = tmp_path / "bad.toml"
    topo.write_text('[nodes.r1]\nconfig = [\'ifconfig_vnet0="inet 10.0.0.1/99"\']\n'
                    '[nodes.r2]\n[[links]]\nendpoints = ["r1:vnet0", "r2:vnet0"]\n')
    labdir = tmp_path / "labs"
    up = plebconf("lab", "up", str(topo), labdir=labdir)
    assert up.returncode == 1 and up.stderr.startswith("lab: lab bad did not come up:\n  r1: ")
    assert os.listdir(labdir) == []


USER_TEST = textwrap.dedent('''
    import pytest
    from pleblab import assert_routes

    pytestmark = pytest.mark.pleblab_topology("TOPO")

    def test_passes(pleblab):
        assert_routes(pleblab["r1"], contains=["10.1.3.0/24 via 10.0.13.3"])

    def test_fails_after_a_change(pleblab):
        pleblab["r2"].run("route", "add", "-net", "10.77.0.0/16", "10.0.23.3")
        assert_routes(pleblab["r2"], contains=["10.88.0.0/16"])

    def test_single_stack(plebstack):
        assert plebstack.addresses() == []

    @pytest.mark.needs_root
    def test_root_only():
        pass
''')


def test_pytest_plugin_in_a_users_run(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TEST.replace("TOPO", TRIANGLE))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs",
                          "test_user.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 1, out
    root = os.geteuid() == 0
    assert ("1 failed, 3 passed" if root else "1 failed, 2 passed, 1 skipped") in out
    # the failure report: each stack's tables, the changing stack first with its audit entry
    sections = out.split("pleblab: ")
    assert sections[1].startswith("r2 (pid ")
    assert "$ netstat -rn\nRouting tables\n" in sections[1]
    assert "10.77.0.0/16       10.0.23.3          UGS       vnet1" in sections[1]
    assert "$ arp -an\n" in sections[1]
    assert "route add -net 10.77.0.0/16 10.0.23.3: ok" in sections[1]     # (log: commands)
    assert any(s.startswith("r1 (pid ") and "(none)" in s for s in sections)
    pids = [int(s.split("(pid ", 1)[1].split(")", 1)[0]) for s in sections[1:]]
    assert len(pids) == 3 and all(gone(p) for p in pids)        # the run stopped its labs


@pytest.mark.skipif(os.geteuid() == 0, reason="the skip is what non-root users see")
def test_needs_root_skips_without_root(tmp_path):
    (tmp_path / "test_r.py").write_text("import pytest\n@pytest.mark.needs_root\n"
                                        "def test_r():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-rs", "test_r.py"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert "needs root for network namespaces and TAP devices" in run.stdout


PEER_TOPO = """
name = "clipeer"
[nodes.r1]
config = ['ifconfig_vnet0="inet 10.9.0.1/24"']
[nodes.h1]
kind = "linux"
[[links]]
endpoints = ["r1:vnet0", "h1:eth0"]
address = "10.9.0.2/24"
"""


@pytest.mark.needs_root
def test_lab_with_a_linux_peer_from_the_shell(tmp_path):
    topo = tmp_path / "peer.toml"
    topo.write_text(PEER_TOPO)
    labdir = tmp_path / "labs"
    up = plebconf("lab", "up", str(topo), labdir=labdir)
    try:
        assert up.returncode == 0, up.stderr
        assert "h1           linux          - netns  pleblab-clipeer-h1" in up.stdout
        ping = plebconf("lab", "exec", "h1", "ping", "-c", "1", "-W", "2", "10.9.0.1",
                        labdir=labdir)
        assert ping.returncode == 0 and "1 received" in ping.stdout
    finally:
        plebconf("lab", "down", labdir=labdir)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "pleblab-clipeer-h1" not in netns


SLEEPER = textwrap.dedent('''
    import time
    import pytest

    @pytest.mark.pleblab_topology("TOPO")
    def test_sleeps(pleblab, plebstack):
        pids = [s.pid for s in pleblab.stacks.values()] + [plebstack.pid]
        print("PIDS", *pids, pleblab.sockdir, plebstack.sockdir, flush=True)
        time.sleep(120)
''')


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_leaves_nothing(tmp_path, sig):
    """^C (pytest's teardown runs) or SIGKILL (nothing of ours runs: the kernel's parent-death
    signal and the fork server's end of file do it) in the middle of a test."""
    (tmp_path / "test_sleep.py").write_text(SLEEPER.replace("TOPO", TRIANGLE))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider",
                            "test_sleep.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           text=True)
    line = ""
    while not line.startswith("PIDS"):
        line = run.stdout.readline()
        assert line, "the test did not start"
        line = line[line.find("PIDS"):] if "PIDS" in line else line
    words = line.split()
    pids, sockdirs = [int(w) for w in words[1:5]], words[5:]
    run.send_signal(sig)
    run.communicate(timeout=120)
    # SIGKILL: the kernel and the fork server take over (a bound, generous for a loaded machine)
    deadline = time.monotonic() + 60
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if not gone(p)] == []
    # the private directories too: by the teardown, or by the fork server after a SIGKILL
    while any(os.path.exists(d) for d in sockdirs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [d for d in sockdirs if os.path.exists(d)] == []
