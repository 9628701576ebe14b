"""The dry-run form of the batch op, against a real stack over its socket: the batch is
applied inside the stack's transaction, the reads given with it see the result, and then
everything is rolled back -- no event, no journal record, no audit entry, nothing changed --
and `rc apply --dry-run` asking the stack what would fail."""
import os

import pytest

from conftest import run_tool
from plebconf.rc.running import READS, config_from, config_lines, running_config
from plebconf.rpc.client import run
from plebnet_core.spawn import spawn_stack
from plebproto.constants import EEXIST, EINVAL, ENETUNREACH, RTM_NEWADDR
from plebproto.errors import OpError

ADD_ADDR = ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24}]
CHANGES = [
    ADD_ADDR,
    ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "lo1"}],
    run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"}, ["dst", "plen"],
        rows=[["10.1.0.0", 16], ["10.2.0.0", 16]]),
    ["sysctl", {"name": "kern.hostname", "value": "dry.example"}],
    ["llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.9",
               "mac": "00:00:5e:00:53:09"}],
]


def everything(c):
    """All a listing can show, and the audit log."""
    return ([c.call(op, args) for op, args in READS], c.call("audit", {"args": True}),
            c.sysctl("net.route.algo.inet.pending"))


@pytest.fixture
def durable(sockdir):
    state = os.path.join(sockdir, "state")
    running = spawn_stack(["--nic", "vnet0=none", "--state", state], sockdir=sockdir)
    yield running, os.path.join(state, "journal")
    running.stop()


def test_dry_run_reads_the_result_and_leaves_nothing(durable):
    stack, journal = durable
    with stack.client() as c, stack.client() as watcher:
        c.batch([["sysctl", {"name": "kern.hostname", "value": "live"}]])
        events = watcher.subscribe()
        before, size = everything(c), os.path.getsize(journal)
        answer = c.dry_run(CHANGES, READS)
        # what the reads saw inside: every change made
        inside = config_lines(config_from(answer["reads"]))
        assert "hostname dry.example" in inside
        assert "ifconfig vnet0 inet 10.0.0.2/24" in inside
        assert "ifconfig lo1 create" in inside
        assert "route add -net 10.1.0.0/16 10.0.0.1" in inside
        assert "arp -S 10.0.0.9 00:00:5e:00:53:09" in inside
        assert len(answer["results"]) == 6 and answer["results"][1] == {"ifname": "lo1"}
        # and nothing of it left: state, audit log, journal
        assert everything(c) == before
        assert os.path.getsize(journal) == size
        assert config_lines(running_config(c.call))[0] == "hostname live"
        # no event was published: the first one a subscriber gets is the next real change
        c.batch([["sysctl", {"name": "kern.hostname", "value": "after"}],
                 ["ioctl", {**ADD_ADDR[1], "addr": "10.0.0.3"}]])
        first = next(events)
        assert (first["type"], first["addr"]) == (RTM_NEWADDR, "10.0.0.3")
        assert os.path.getsize(journal) > size
    # the real change is durable, the dry run never was
    stack.stop()
    with spawn_stack(["--nic", "vnet0=none", "--state", os.path.dirname(journal)],
                     sockdir=os.path.dirname(stack.path)) as again, again.client() as c:
        lines = config_lines(running_config(c.call))
        assert "hostname after" in lines and "ifconfig vnet0 inet 10.0.0.3/24" in lines
        assert not any(word in line for line in lines
                       for word in ("lo1", "10.1.0.0", "10.0.0.2/", "10.0.0.9"))


def test_dry_run_failure_names_the_op_and_changes_nothing(client):
    before = [client.call(op, args) for op, args in READS]
    with pytest.raises(OpError) as exc:
        client.dry_run([ADD_ADDR, ["rtmsg", {"type": "RTM_ADD", "af": "inet",
                                              "dst": "10.9.0.0", "plen": 16,
                                              "gateway": "192.0.2.1"}]], READS)
    assert (exc.value.errno, exc.value.index) == (ENETUNREACH, 1)
    with pytest.raises(OpError) as exc:       # a run's rows count one op each
        client.dry_run([ADD_ADDR, run("rtmsg", {"type": "RTM_ADD", "af": "inet",
                                                "gateway": "10.0.0.1"}, ["dst", "plen"],
                                      rows=[["10.1.0.0", 16], ["10.1.0.0", 16]])], [])
    assert (exc.value.errno, exc.value.index) == (EEXIST, 2)
    assert [client.call(op, args) for op, args in READS] == before


def test_dry_run_reads_must_be_reads(client):
    before = [client.call(op, args) for op, args in READS]
    for reads, index in (([["sysctl", {"name": "kern.hostname"}],
                           ["sysctl", {"name": "kern.hostname", "value": "x"}]], 2),
                         ([["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.3.0.0",
                                      "plen": 16, "gateway": "10.0.0.1"}]], 1),
                         ([["ping", {"dst": "10.0.0.1"}]], 1),
                         ([["batch", {"ops": []}]], 1)):
        with pytest.raises(OpError) as exc:
            client.dry_run([ADD_ADDR], reads)
        assert (exc.value.errno, exc.value.index) == (EINVAL, index)
    with pytest.raises(OpError) as exc:
        client.dry_run([ADD_ADDR], [["sysctl"]])
    assert exc.value.errno == EINVAL
    # a failing read is placed after the ops too
    with pytest.raises(OpError) as exc:
        client.dry_run([ADD_ADDR], [["sysctl", {"name": "no.such.oid"}]])
    assert exc.value.index == 1
    assert [client.call(op, args) for op, args in READS] == before


def test_dry_run_in_parts(client):
    """A dry run larger than one frame's part (Client splits it): applied as a whole."""
    from plebconf.rpc import client as client_module
    client.batch([ADD_ADDR])
    rows = [[f"10.{i // 256}.{i % 256}.0", 24] for i in range(1, 1200)]
    old = client_module.PART_OPS
    client_module.PART_OPS = 500
    try:
        answer = client.dry_run([run("rtmsg", {"type": "RTM_ADD", "af": "inet",
                                               "gateway": "10.0.0.1"}, ["dst", "plen"],
                                     rows=rows)],
                                [["sysctl", {"name": "NET_RT_DUMP", "af": "inet"}]])
    finally:
        client_module.PART_OPS = old
    assert len(answer["results"]) == len(rows)
    assert {r[1] for r in answer["reads"][0]} >= {r[0] for r in rows}
    assert not any(r[1] == "10.0.1.0" for r in client.sysctl("NET_RT_DUMP", af="inet"))


BAD = """\
ifconfig_vnet0="inet 192.0.2.10/24"
static_routes="ok bad"
route_ok="-net 203.0.113.0/24 192.0.2.254"
route_bad="-net 198.51.100.0/24 10.99.0.1"
"""


def test_rc_apply_dry_run_asks_the_stack(stack, tmp_path):
    path = tmp_path / "rc.conf"
    path.write_text(BAD)
    with stack.client() as c:
        before = [c.call(op, args) for op, args in READS]
    result = run_tool(stack, "rc", "apply", "--dry-run", str(path))
    assert result.returncode == 1
    assert "route add -net 198.51.100.0/24 10.99.0.1" in result.stdout.splitlines()
    assert result.stderr == (
        f"{path}:4: route_bad: route add -net 198.51.100.0/24 10.99.0.1: "
        # 14's getaddr() cuts the "/24" from the text newroute() echoes (test_route.py)
        "add net 198.51.100.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "rc: FreeBSD's rc.d/routing reports a failing route_bad and goes on with the rest; "
        "--keep-going does the same\n")
    with stack.client() as c:
        assert [c.call(op, args) for op, args in READS] == before
    path.write_text(BAD.replace("10.99.0.1", "192.0.2.253"))
    result = run_tool(stack, "rc", "apply", "--dry-run", str(path))
    assert (result.returncode, result.stderr) == (0, "")


def test_client_without_plebnet_core():
    """plebconf reads and diffs through the protocol alone: it never imports the stack."""
    import subprocess
    import sys
    code = ("import sys, plebconf.cli.rc, plebconf.rc.running, plebconf.rc.apply, "
            "plebconf.rpc.client\n"
            "assert not any(m.startswith('plebnet_core') for m in sys.modules), "
            "sorted(m for m in sys.modules if m.startswith('plebnet_core'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
