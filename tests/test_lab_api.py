"""pleblab.Stack: one stack as a context manager, under both launchers; tools as text, JSON and
objects; pings, route lookups and events; and nothing left behind when it stops."""
import os
import signal
import time

import pytest

from pleblab import Stack, ToolFailed
from pleblab.launch import ForkLauncher, StackStartError

RC = ['ifconfig_vnet0="inet 10.0.0.1/24"', 'defaultrouter="10.0.0.254"']


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("launcher", ["spawn", "fork"])
def test_stack_tools_objects_and_cleanup(launcher):
    with Stack(rc_lines=RC, launcher=launcher) as s:
        assert s.running
        assert "inet 10.0.0.1 netmask 0xffffff00 broadcast 10.0.0.255" in s.run("ifconfig",
                                                                                 "vnet0")
        doc = s.json("ifconfig", "vnet0")
        assert doc["interfaces"][0]["inet"][0]["address"] == "10.0.0.1"
        routes = {r.destination: r for r in s.routes()}
        assert routes["default"].gateway == "10.0.0.254" and routes["default"].flags == "UGS"
        assert routes["10.0.0.0/24"].interface == "vnet0"
        assert s.addresses() == [("vnet0", "10.0.0.1", 24)]
        got = s.route_get("10.7.7.7")
        assert (got.gateway, got.interface, got.destination) == ("10.0.0.254", "vnet0", "0.0.0.0")
        assert "GATEWAY" in got.flags and "STATIC" in got.flags
        assert s.route_get("10.0.0.9").gateway is None
        arp = s.arp()
        assert [(e.ip, e.permanent) for e in arp] == [("10.0.0.1", True)]
        pid, sock, workdir = s.pid, s.proc.path, s.workdir
        assert os.path.exists(sock)
    assert gone(pid)
    assert not os.path.exists(sock) and not os.path.exists(workdir)
    assert not s.running


def test_tool_failures_keep_freebsd_status_and_text(plebstack):
    res = plebstack.tool("ifconfig", "vnet9")
    assert not res.ok and res.returncode == 1 and res.stderr == \
        "ifconfig: interface vnet9 does not exist\n"
    with pytest.raises(ToolFailed, match="interface vnet9 does not exist") as info:
        plebstack.run("ifconfig", "vnet9")
    assert info.value.result.argv == ["ifconfig", "vnet9"]


def test_ping_results_as_objects(plebstack_factory):
    s = plebstack_factory(rc_lines=['ifconfig_vnet0="inet 10.0.0.1/24"'])
    ok = s.ping("10.0.0.1", count=2, interval=0.05)
    assert (ok.transmitted, ok.received, ok.loss) == (2, 2, 0.0)
    assert [r["seq"] for r in ok.replies] == [0, 1] and len(ok.rtts) == 2
    assert all(r["from"] == "10.0.0.1" for r in ok.replies)
    lost = s.ping("10.0.0.77", count=1, wait=0.2)       # on-link, nobody there
    assert not lost.ok and lost.transmitted == 1 and lost.loss == 100.0
    unreachable = s.ping("192.0.2.1", wait=0.2)         # no route: the send fails
    assert not unreachable.ok and unreachable.send_errnos


def test_monitor_events_and_audit_log(plebstack_factory):
    s = plebstack_factory(rc_lines=['ifconfig_vnet0="inet 10.0.0.1/24"'])
    with s.monitor() as events:
        s.run("route", "add", "-net", "10.9.0.0/16", "10.0.0.5")
        ev = next(events)
    assert ev["route"]["dst"] == "10.9.0.0" and ev["route"]["plen"] == 16
    assert ev["route"]["gateway"] == "10.0.0.5"
    log = s.log()
    assert log and log[-1]["result"] == "ok"
    assert s.rc_diff().returncode == 1                  # the added route is drift
    s.run("route", "delete", "-net", "10.9.0.0/16")
    assert s.rc_diff().returncode == 0


def test_client_is_the_rpc_client(plebstack):
    c = plebstack.client()
    assert c.sysctl("NET_RT_IFLIST")[0]["name"] == "vnet0"
    plebstack.stop()                    # closes the clients it handed out
    with pytest.raises(OSError):
        c.sysctl("NET_RT_IFLIST")


@pytest.mark.parametrize("launcher", ["spawn", "fork"])
def test_a_stack_that_does_not_start_says_why(launcher):
    s = Stack(rc_lines=['ifconfig_vnet0="inet 10.0.0.300/24"'], launcher=launcher)
    with pytest.raises(StackStartError, match="10.0.0.300"):
        s.start()
    assert not os.path.exists(s.workdir)


def test_killed_stack_leaves_no_socket():
    s = Stack(launcher="fork").start()
    os.kill(s.pid, signal.SIGKILL)
    sock = s.proc.path
    s.stop()
    assert gone(s.pid) and not os.path.exists(sock)


def test_fork_server_takes_its_stacks_when_its_owner_dies(tmp_path):
    """The owner (this test's stand-in: a child process) dies by SIGKILL: no cleanup code of
    its runs, yet the fork server and the stacks it forked go."""
    import subprocess
    import sys
    script = ("import os, sys, time\n"
              "from pleblab.launch import ForkLauncher\n"
              "fl = ForkLauncher()\n"
              f"procs = fl.start_many([['--nic', 'vnet0=none']] * 3, {str(tmp_path)!r})\n"
              "print(fl.proc.pid, *[p.pid for p in procs], flush=True)\n"
              "time.sleep(60)\n")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(w) for w in owner.stdout.readline().split()]
    assert len(pids) == 4 and not any(gone(p) for p in pids)
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if not gone(p)] == []


def test_fork_launcher_stops_many_at_once(tmp_path):
    fl = ForkLauncher()
    try:
        procs = fl.start_many([["--nic", "vnet0=none"]] * 5, str(tmp_path))
        assert all(p.alive() for p in procs)
        fl.stop_many(procs)
        assert all(p.returncode == 0 and gone(p.pid) for p in procs)
    finally:
        fl.close()
    assert fl.proc.returncode == 0


def test_state_dir_keeps_the_configuration_across_restarts(tmp_path):
    state = str(tmp_path / "state")
    with Stack(rc_lines=RC, state=state) as s:
        s.run("route", "add", "-net", "10.5.0.0/16", "10.0.0.7")
    assert os.listdir(state)
    with Stack(state=state) as again:           # restored: no rc.conf this time
        assert any(r.destination == "10.5.0.0/16" and r.gateway == "10.0.0.7"
                   for r in again.routes())
        assert again.addresses() == [("vnet0", "10.0.0.1", 24)]
