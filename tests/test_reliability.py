"""Issue 7: no lost changes (--state), an audit log, access for a read group, bounds, and the
short versions of the crash, load and stall exercises of tools/harness.py."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from plebproto import protocol
from plebconf.rpc.client import Client, ConnectError
from plebproto.constants import ENETUNREACH, EPERM
from plebproto.errors import OpError
from plebnet_core.persist import pack_record, read_records
from plebnet_core.spawn import StackStartError, spawn_stack
from tests.conftest import ROOT, need_root, run_tool
from tests.test_rpc import dump, read_frame
from tools import harness

NIC = ["--nic", "vnet0=none"]


def configure(c):
    """A bit of everything --state must bring back."""
    c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
    c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.1.2", plen=24)
    c.ioctl("SIOCIFCREATE2", ifname="tap")
    c.ioctl("SIOCIFCREATE2", ifname="tap")
    c.ioctl("SIOCIFDESTROY", ifname="tap0")          # a gap in the interface indices
    c.ioctl("SIOCSIFNAME", ifname="tap1", newname="uplink")
    c.ioctl("SIOCAIFADDR", ifname="uplink", addr="192.0.2.1", plen=28)
    c.ioctl("SIOCAIFADDR_IN6", ifname="uplink", addr="2001:db8::1", plen=64, flags=0x100)
    c.ioctl("SIOCSIFMTU", ifname="uplink", mtu=9000)
    c.ioctl("SIOCSIFDESCR", ifname="uplink", descr="to the world")
    c.ioctl("SIOCAIFGROUP", ifname="uplink", group="wan")
    c.ioctl("SIOCSIFLLADDR", ifname="uplink", lladdr="02:00:00:00:00:01")
    c.rtmsg("RTM_ADD", af="inet", dst="0.0.0.0", plen=0, gateway="192.0.2.14")
    c.rtmsg("RTM_ADD", af="inet", dst="10.9.0.0", plen=16, gateway="10.0.0.1")
    c.rtmsg("RTM_ADD", af="inet", dst="10.9.0.0", plen=16, gateway="10.0.1.1")   # ECMP
    c.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:1::", plen=48, gateway="2001:db8::2")
    c.call("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.9",
                     "mac": "00:11:22:33:44:55"})
    c.call("llmsg", {"type": "RTM_ADD", "af": "inet6", "addr": "2001:db8::9",
                     "mac": "00:11:22:33:44:66"})
    c.sysctl("net.inet.ip.forwarding", value=1)
    c.sysctl("kern.hostname", value="gw")
    c.batch([["ioctl", {"req": "SIOCIFCREATE2", "ifname": "vxlan"}],
             ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vxlan0", "set": 1}]])


def full_dump(c):
    """dump() plus the hostname, minus what belongs to the process, not the configuration:
    counters and the driver's "Opened by PID n"."""
    iflist, *rest = dump(c)
    for i in iflist:
        i.pop("stats"), i.pop("drv_status")
    return (iflist, *rest, c.sysctl("kern.hostname"))


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "snapshot"])
def test_state_survives_sigkill(sockdir, compact):
    """Everything comes back, whether from the journal or from a compacted snapshot
    (PLEBNET_COMPACT_BYTES=1 compacts after every change)."""
    state = os.path.join(sockdir, "state")
    env = dict(os.environ, PLEBNET_COMPACT_BYTES="1" if compact else str(1 << 30))
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    with stack.client() as c:
        configure(c)
        before = full_dump(c)
    stack.stop(signal.SIGKILL)
    assert stat_mode(state) == 0o700 and stat_mode(os.path.join(state, "journal")) == 0o600
    for _ in range(2):          # from the journal, then from the start-up snapshot
        stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
        with stack.client() as c:
            assert full_dump(c) == before
        stack.stop(signal.SIGKILL)


def test_restored_stack_forwards_by_the_restored_table(sockdir):
    """The data plane keeps the routing table it was built with: a restore refills that
    table in place (a new one would leave packets following the table of before)."""
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
    stack.stop(signal.SIGKILL)
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    try:
        # the address's local route, only in the restored table: ping goes through lo0
        done = run_tool(stack, "ping", "-c", "1", "10.0.0.2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 packets transmitted, 1 packets received" in done.stdout
    finally:
        stack.stop()


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_learned_arp_is_not_configuration(sockdir):
    from plebnet_core.persist import load_state, serialise_state
    from plebnet_core.state.stack import Stack
    stack = Stack()
    with stack.transaction():
        stack.if_attach("vnet0", "vnet")
        stack.if_attach("lo0", "lo")
        stack.in_aifaddr("vnet0", 0x0A000002, 24)
        stack.ll_set(2, 0x0A000009, b"\x00\x11\x22\x33\x44\x55")
    stack.ll_learn(2, stack.ifunit("vnet0"), 0x0A000007, b"\x02" * 6, create=True)
    copy = Stack()
    load_state(copy, serialise_state(stack))
    assert sorted(copy.ifunit("vnet0").llinfo) == [0x0A000002, 0x0A000009]


def test_torn_last_record_is_dropped_never_half_applied(sockdir):
    state = os.path.join(sockdir, "state")
    env = dict(os.environ, PLEBNET_COMPACT_BYTES=str(1 << 30))
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    with stack.client() as c:
        c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
        c.rtmsg("RTM_ADD", af="inet", dst="10.1.0.0", plen=16, gateway="10.0.0.1")
        before = dump(c)
        seq = c.call("audit", {"n": 1})[0]["seq"]
    stack.stop(signal.SIGKILL)
    journal = os.path.join(state, "journal")
    record = pack_record({"seq": seq + 1, "time": 0, "pid": 1, "uid": 0, "op": "rtmsg",
                          "args": {"type": "RTM_ADD", "af": "inet", "dst": "10.2.0.0",
                                   "plen": 16, "gateway": "10.0.0.1"}, "errno": 0, "msg": ""})
    intact = os.path.getsize(journal)
    with open(journal, "ab") as f:
        f.write(record[:-3])                    # the stack died in the middle of this write
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    with stack.client() as c:
        assert dump(c) == before                # 10.2/16 is not there, nothing else changed
    stack.stop()
    assert "dropped a torn last record" in stack.stderr()
    # a record whose checksum fails is dropped the same way
    with open(journal, "rb") as f:
        data = f.read()
    records, end = read_records(data)
    assert end == len(data)
    damaged = bytearray(record)
    damaged[-1] ^= 0xFF
    assert read_records(data + bytes(damaged)) == (records, end)
    assert intact > 0


def test_state_dir_is_locked(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack(["--state", state], sockdir=sockdir)
    try:
        with pytest.raises(StackStartError, match="in use by another stack"):
            spawn_stack(["--state", state], sockdir=sockdir)
    finally:
        stack.stop()


def test_crash_twenty_times_nothing_acknowledged_is_lost():
    figures = harness.crash_rounds(rounds=20, seed=7)
    assert figures["rounds"] == 20 and figures["restarts_failed"] == 0
    assert figures["acked"] > 200 and figures["refused"] > 20
    assert figures["lost"] == 0 and figures["phantom"] == 0 and figures["violations"] == 0


# == audit ==========================================================================================
def test_audit_records_changes_and_refusals(stack, client):
    client.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
    client.rtmsg("RTM_GET", af="inet", dst="10.0.0.2")                # reads are not changes
    with pytest.raises(OpError):
        client.rtmsg("RTM_ADD", af="inet", dst="10.5.0.0", plen=16, gateway="192.0.2.1")
    with pytest.raises(OpError):
        client.batch([["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap"}],
                      ["ioctl", {"req": "SIOCIFDESTROY", "ifname": "lo0"}]])
    entries = client.call("audit", {"args": True})
    assert [(e["op"], e["errno"]) for e in entries] == [
        ("ioctl", 0), ("rtmsg", ENETUNREACH), ("batch", 22)]
    assert {e["pid"] for e in entries} == {os.getpid()} and {e["uid"] for e in entries} == {0}
    assert entries[1]["args"]["dst"] == "10.5.0.0" and entries[1]["msg"] == \
        "Network is unreachable"
    assert "args" not in client.call("audit", {"n": 1})[0]
    assert [e["seq"] for e in client.call("audit", {"n": 2})] == [2, 3]

    out = run_tool(stack, "log")
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3
    # each change said as the FreeBSD command that makes it (a lone SIOCAIFADDR is ifconfig's
    # `alias`; a batch's commands in order)
    assert lines[0].endswith(f"pid {os.getpid()} uid 0 ifconfig vnet0 inet 10.0.0.2/24 alias: ok")
    assert lines[1].endswith(f"pid {os.getpid()} uid 0 route add -net 10.5.0.0/16 192.0.2.1: "
                             "refused: Network is unreachable (errno 51)")
    assert lines[2].endswith(f"pid {os.getpid()} uid 0 ifconfig tap create; ifconfig lo0 "
                             "destroy: refused: Invalid argument (errno 22)")
    doc = json.loads(run_tool(stack, "log", "-n", "1", "--libxo", "json").stdout)
    assert [(e["seq"], e["op"], e["result"], e["commands"]) for e in doc["audit"]["entry"]] == [
        (3, "batch", "Invalid argument", ["ifconfig tap create", "ifconfig lo0 destroy"])]
    # -v: the request as it reached the stack, as JSON (not a Python repr)
    verbose = run_tool(stack, "log", "-v", "-n", "1").stdout.splitlines()
    assert json.loads(verbose[1]) == {"op": "batch", "args": {"ops": [
        ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap"}],
        ["ioctl", {"req": "SIOCIFDESTROY", "ifname": "lo0"}]]}}
    assert verbose[1].startswith("       {")
    bad = run_tool(stack, "log", "-n", "x")
    assert (bad.returncode, bad.stderr) == (64, "log: illegal count -- x\n")


def test_audit_survives_restart(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
        with pytest.raises(OpError):
            c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1)
        before = c.call("audit", {"args": True})
    stack.stop(signal.SIGKILL)
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        assert c.call("audit", {"args": True}) == before
        c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1300)
        assert c.call("audit", {"n": 1})[0]["seq"] == 3
    stack.stop()


# == access =========================================================================================
def _as(uid, gid, groups, code, path):
    prog = ("import os, socket, json\nfrom plebproto import protocol\n"
            "from plebconf.rpc.client import Client, ConnectError\n"
            "from plebproto.errors import OpError\n"
            f"os.setgroups({groups!r}); os.setgid({gid}); os.setuid({uid})\n{code}")
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                          env={**os.environ, "SOCKPATH": path, "PYTHONPATH": ROOT},
                          timeout=30)


READER = """
c = Client.connect(path=os.environ['SOCKPATH'])
print('hello', c.server['pid'] > 0)
print('iflist', [i['name'] for i in c.sysctl('NET_RT_IFLIST')])
print('route', c.rtmsg('RTM_GET', af='inet', dst='127.0.0.1')['ifname'])
print('audit', len(c.call('audit', {})) >= 0)
events = c.subscribe()
for op, args in [('ioctl', {'req': 'SIOCSIFMTU', 'ifname': 'vnet0', 'mtu': 1400}),
                 ('rtmsg', {'type': 'RTM_ADD', 'af': 'inet', 'dst': '10.1.0.0', 'plen': 16,
                            'gateway': 'lo0', 'iface': True}),
                 ('sysctl', {'name': 'net.inet.ip.forwarding', 'value': 1}),
                 ('batch', {'ops': [['rtmsg', {'type': 'RTM_GET', 'af': 'inet',
                                               'dst': '127.0.0.1'}]]})]:
    try:
        c.call(op, args)
        print(op, 'allowed')
    except OpError as exc:
        print(op, exc.errno, exc.msg)
"""


@pytest.fixture
def read_group_stack(sockdir):
    need_root("dropping privileges to another uid")
    os.chmod(sockdir, 0o755)
    running = spawn_stack([*NIC, "--read-group", "nogroup"], sockdir=sockdir)
    yield running
    running.stop()


def test_read_group_member_reads_only(read_group_stack):
    stack = read_group_stack
    out = _as(65534, 65534, [], READER, stack.path)    # nobody, primary group nogroup
    assert out.stdout.splitlines() == [
        "hello True", "iflist ['vnet0', 'lo0']", "route lo0", "audit True",
        "ioctl 1 permission denied: 'ioctl' changes the stack and uid 65534 may only read "
        "(read group)",
        "rtmsg 1 permission denied: 'rtmsg' changes the stack and uid 65534 may only read "
        "(read group)",
        "sysctl 1 permission denied: 'sysctl' changes the stack and uid 65534 may only read "
        "(read group)",
        "batch 1 permission denied: 'batch' changes the stack and uid 65534 may only read "
        "(read group)",
    ], out.stderr
    # supplementary membership counts too
    out = _as(65534, 1, [65534], "print(Client.connect(path=os.environ['SOCKPATH'])"
                                 ".sysctl('net.inet.ip.forwarding'))", stack.path)
    assert out.stdout == "0\n", out.stderr
    with stack.client() as c:
        refused = c.call("audit", {})
        assert c.sysctl("net.inet.ip.forwarding") == 0
        assert [i["mtu"] for i in c.sysctl("NET_RT_IFLIST")][0] == 1500
    assert [(e["uid"], e["op"], e["errno"]) for e in refused] == [
        (65534, "ioctl", EPERM), (65534, "rtmsg", EPERM), (65534, "sysctl", EPERM),
        (65534, "batch", EPERM)]


def test_read_group_member_pipeline_reads_only(read_group_stack):
    """A requests frame from the read group: its reads are answered, each change in it is
    refused with EPERM in its place (and audited), and nothing changes."""
    code = """
c = Client.connect(path=os.environ['SOCKPATH'])
get = ('rtmsg', {'type': 'RTM_GET', 'af': 'inet', 'dst': '127.0.0.1'})
add = ('rtmsg', {'type': 'RTM_ADD', 'af': 'inet', 'dst': '10.9.0.0', 'plen': 16,
                 'gateway': 'lo0', 'iface': True})
for r in c.pipeline([get, get, add, get, add, ('llmsg', {'type': 'RTM_GET', 'af': 'inet',
                                                         'addr': '10.9.9.9'})], per_frame=6):
    print(f'{r.errno} {r.msg}' if isinstance(r, OpError) else r['ifname'])
"""
    out = _as(65534, 65534, [], code, read_group_stack.path)
    denied = ("1 permission denied: 'rtmsg' changes the stack and uid 65534 may only read "
              "(read group)")
    assert out.stdout.splitlines() == ["lo0", "lo0", denied, "lo0", denied,
                                       "3 No such process"], out.stderr
    with read_group_stack.client() as c:
        with pytest.raises(OpError):
            c.rtmsg("RTM_GET", af="inet", dst="10.9.0.0", plen=16)
        refused = c.call("audit", {"args": True})
    assert [(e["uid"], e["args"]["dst"], e["errno"]) for e in refused] == [
        (65534, "10.9.0.0", EPERM)] * 2


def test_read_group_member_may_dry_run(read_group_stack):
    """A dry run changes nothing (test_dry_run.py): the read group may ask what a batch
    would do (rc diff), and a part without dry_run is still refused."""
    code = """
c = Client.connect(path=os.environ['SOCKPATH'])
add = ['sysctl', {'name': 'net.inet.ip.forwarding', 'value': 1}]
print(c.dry_run([add], [['sysctl', {'name': 'net.inet.ip.forwarding'}]]))
c.send('batch', {'ops': [add], 'more': True, 'dry_run': True})
try:
    c.call('batch', {'ops': [add]})
except OpError as exc:
    print(exc.errno)
"""
    out = _as(65534, 65534, [], code, read_group_stack.path)
    assert out.stdout.splitlines() == ["{'results': [1], 'reads': [1]}", "1"], out.stderr
    with read_group_stack.client() as c:
        assert c.sysctl("net.inet.ip.forwarding") == 0
        # the dry run left no audit entry; the refused real part did
        assert [(e["op"], e["errno"]) for e in c.call("audit", {})] == [("batch", EPERM)]


def test_non_member_of_read_group_is_refused(read_group_stack):
    """Kept out twice: by the socket's mode (0660, group nogroup) and, should the mode be
    opened, by the credentials checked at accept."""
    path = read_group_stack.path
    st = os.stat(path)
    assert (st.st_mode & 0o777, st.st_gid) == (0o660, 65534)
    code = """
try:
    Client.connect(path=os.environ['SOCKPATH'])
except ConnectError as exc:
    print(exc)
"""
    assert _as(65534, 1, [], code, path).stdout == f"cannot connect to {path}: " \
        f"Permission denied (its owner may let a group read it: plebnet --read-group GROUP)\n"
    os.chmod(path, 0o666)
    out = _as(65534, 1, [], code, path)
    assert out.stdout == f"{path}: permission denied: uid 65534 may not use this stack " \
                         f"(its owner may let a group read it: plebnet --read-group GROUP)\n", \
        out.stderr


def test_unknown_read_group_fails_start(sockdir):
    with pytest.raises(StackStartError,
                       match="plebnet: --read-group no-such-group-here: no such group"):
        spawn_stack(["--read-group", "no-such-group-here"], sockdir=sockdir)


def test_client_refuses_symlink_to_another_stack(stack, sockdir):
    """/tmp/<pid> pointing at a real stack's socket: the peer is not <pid>."""
    os.symlink(stack.path, os.path.join(sockdir, "4243"))
    with pytest.raises(ConnectError, match="is pid .*not stack 4243: refusing"):
        Client.connect(pid=4243, directory=sockdir)


def test_client_refuses_plain_file_at_socket_path(sockdir):
    open(os.path.join(sockdir, "4244"), "w").close()
    with pytest.raises(ConnectError, match="no stack with pid 4244"):
        Client.connect(pid=4244, directory=sockdir)


def test_client_refuses_impostor_of_another_uid(sockdir):
    """nobody answers at <sockdir>/<its own pid>: right pid, wrong owner for our commands."""
    need_root("dropping privileges to another uid")
    os.chmod(sockdir, 0o1777)
    prog = [sys.executable, "-c",
            "import os, socket, sys, time\nos.setgid(65534); os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(sys.argv[1], "
            "str(os.getpid()))); s.listen(5); print('ready', flush=True)\n"
            "while True:\n    c, _ = s.accept(); time.sleep(5)\n", sockdir]
    impostor = subprocess.Popen(prog, stdout=subprocess.PIPE, text=True)
    try:
        assert impostor.stdout.readline() == "ready\n"
        with pytest.raises(ConnectError, match=r"is run by nobody \(uid 65534\), not by you"):
            Client.connect(pid=impostor.pid, directory=sockdir, timeout=5)
    finally:
        impostor.kill()
        impostor.wait()


# == bounds =========================================================================================
def test_connection_limit_refuses_clearly(sockdir):
    env = dict(os.environ, PLEBNET_MAX_CONNECTIONS="4")
    stack = spawn_stack(NIC, sockdir=sockdir, env=env)
    try:
        held = [stack.client() for _ in range(4)]
        with pytest.raises(ConnectError, match=f"{stack.path}: too many connections: all 4 "
                                               f"are in use; try again later"):
            stack.client()
        held.pop().close()
        time.sleep(0.1)
        with stack.client() as c:
            assert c.server["pid"] == stack.pid
        for c in held:
            c.close()
    finally:
        stack.stop()


def test_idle_connections_are_closed_subscribers_kept(sockdir):
    env = dict(os.environ, PLEBNET_IDLE_TIMEOUT="0.6")
    stack = spawn_stack(NIC, sockdir=sockdir, env=env)
    try:
        idle = socket.socket(socket.AF_UNIX)
        idle.settimeout(5)
        idle.connect(stack.path)
        watcher = stack.client()
        events = watcher.subscribe()
        time.sleep(1.5)
        assert idle.recv(10) == b""                 # closed by the stack
        with stack.client() as c:
            c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
        assert next(events)["mtu"] == 1400          # the subscriber is still served
        watcher.close()
    finally:
        stack.stop()


def test_frame_limits(stack):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(stack.path)
    s.sendall(protocol.HEADER.pack(protocol.MAX_FRAME) + b"\x00")     # at the limit: waits
    s.sendall(b"\x00" * 1000)
    with stack.client() as c:                                         # others unaffected
        assert c.server["pid"] == stack.pid
    s.close()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(stack.path)
    s.sendall(protocol.HEADER.pack(0xFFFFFFFF))
    assert read_frame(s)["errno"] == 7 and s.recv(10) == b""


def test_stalled_peers_do_not_block_others():
    figures = harness.stalls(idle=100, trickle=100, deaf=10, requests=300)
    assert figures["completed"] == 300 and figures["trickled_answered"] == 100
    assert figures["stalled_peers"] == 210


def test_load_matches_sequential_model():
    figures = harness.load(clients=8, ops=400, seed=3)
    assert figures["answered"] == 8 * 400
    assert figures["order_mismatch"] == 0 and figures["model_mismatch"] == 0
    assert figures["state_equal"]


def test_read_group_with_a_non_root_stack(sockdir):
    """A stack run by nobody, read group nogroup; uid 1 (a member by a supplementary group)
    reads through the client, told that the stack it means is nobody's (owner=): without
    that it trusts only its own uid's stacks and root's."""
    need_root("running processes as other uids")
    os.chmod(sockdir, 0o1777)
    # import first: the interpreter's own files may not be readable by nobody
    wrapper = ("import os, sys, grp, selectors\nfrom plebnet_core.main import main\n"
               "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
               "sys.argv = ['plebnet', '--nic', 'vnet0=none', '--read-group', 'nogroup', "
               "'--sockdir', sys.argv[1]]\nmain()\n")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, sockdir], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"plebnet: ready pid {proc.pid} "), line
        out = _as(1, 1, [65534], f"""
c = Client.connect(pid={proc.pid}, directory={sockdir!r}, owner=65534)
print([i['name'] for i in c.sysctl('NET_RT_IFLIST')])
try:
    c.ioctl('SIOCSIFMTU', ifname='vnet0', mtu=1400)
except OpError as exc:
    print(exc.errno)
""", os.path.join(sockdir, str(proc.pid)))
        assert out.stdout == "['vnet0', 'lo0']\n1\n", out.stderr
    finally:
        proc.terminate()
        proc.wait(10)
