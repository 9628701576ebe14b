"""The control RPC against a real plebnet process over its real unix socket."""
import os
import socket
import stat
import subprocess
import sys
import threading

import msgpack
import pytest

from plebproto import protocol
from plebconf.rpc.client import Client, ConnectError, run
from plebproto.errors import OpError
from plebproto.constants import (
    E2BIG, EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, EOPNOTSUPP, EPERM, EPROTO, ESRCH,
    RTM_ADD, RTM_IFINFO, RTM_NEWADDR,
)
from plebnet_core.spawn import StackStartError, spawn_stack
from tests.conftest import need_root

ADD_ADDR = ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24}]


def dump(c):
    """Everything a listing shows: interfaces, routes, ARP, NDP, switches."""
    return (c.sysctl("NET_RT_IFLIST"), c.sysctl("NET_RT_DUMP"),
            c.sysctl("NET_RT_FLAGS", af="inet"), c.sysctl("NET_RT_FLAGS", af="inet6"),
            c.sysctl("net.inet.ip.forwarding"))


def raw(stack):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(stack.path)
    return s


def read_body(s) -> bytes:
    """One frame's body, read from a raw socket."""
    buf = b""
    while len(buf) < 4:
        buf += s.recv(4 - len(buf))
    (n,) = protocol.HEADER.unpack(buf)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return body


def read_frame(s):
    return protocol.decode(read_body(s))


def test_socket_is_private_and_named_by_pid(stack):
    st = os.lstat(stack.path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert os.path.basename(stack.path) == str(stack.pid)


def test_hello(client, stack):
    info = client.server
    assert info["version"] == protocol.VERSION and info["pid"] == stack.pid
    assert {"ioctl", "rtmsg", "sysctl", "batch", "subscribe"} <= set(info["ops"])
    assert info["interfaces"] == ["vnet0", "lo0"]


def test_call_and_errno(client):
    client.call(*ADD_ADDR)
    route = client.rtmsg("RTM_GET", af="inet", dst="10.0.0.77")
    assert (route["dst"], route["plen"], route["gateway"], route["ifname"]) == (
        "10.0.0.0", 24, "link#1", "vnet0")
    with pytest.raises(OpError) as exc:
        client.ioctl("SIOCDIFADDR", ifname="vnet0", addr="10.9.9.9")
    assert exc.value.errno == EADDRNOTAVAIL
    with pytest.raises(OpError) as exc:
        client.rtmsg("RTM_ADD", af="inet", dst="10.5.0.0", plen=16, gateway="192.0.2.1")
    assert exc.value.errno == ENETUNREACH


def test_pipelining_replies_in_order(client):
    requests = [("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"})] * 500
    requests.insert(250, ("ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "1.2.3.4"}))
    results = client.pipeline(requests)
    assert len(results) == 501
    assert isinstance(results[250], OpError) and results[250].errno == EADDRNOTAVAIL
    assert all(r["dst"] == "127.0.0.1" for i, r in enumerate(results) if i != 250)


def test_pipeline_windowed_distinct_requests_and_per_request_errors(client):
    """More requests than the window: each result lands in its request's slot; an RTM_GET
    with no route (ESRCH) and a refused change fail alone, in their own slots."""
    client.call(*ADD_ADDR)
    client.batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"},
                      ["dst", "plen"], rows=[[f"172.16.{i}.0", 24] for i in range(200)])])
    requests = [("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": f"172.16.{i % 200}.{i % 7}"})
                for i in range(1000)]
    requests[10] = ("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "192.0.2.1"})
    requests[777] = ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.5.0.0", "plen": 16,
                               "gateway": "192.0.2.1"})
    results = client.pipeline(requests, window=64)
    assert len(results) == 1000
    assert isinstance(results[10], OpError) and results[10].errno == ESRCH
    assert isinstance(results[777], OpError) and results[777].errno == ENETUNREACH
    for i, r in enumerate(results):
        if i not in (10, 777):
            assert (r["dst"], r["plen"], r["gateway"]) == (f"172.16.{i % 200}.0", 24,
                                                           "10.0.0.1"), i
    # the connection is in step afterwards: ids, plain calls, a window of one
    assert client.rtmsg("RTM_GET", af="inet", dst="172.16.3.1")["dst"] == "172.16.3.0"
    assert [r["dst"] for r in client.pipeline(requests[:3], window=1)] == [
        "172.16.0.0", "172.16.1.0", "172.16.2.0"]
    assert client.pipeline([]) == []


def test_pipeline_collects_streams_and_batch_errors(client):
    """Streamed dumps, map replies and batch failures (compact reply with an index) in one
    pipeline, whatever order the stack sends them in."""
    client.call(*ADD_ADDR)
    results = client.pipeline([
        ("sysctl", {"name": "NET_RT_DUMP"}),
        ("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "10.0.0.9"}),
        ("sysctl", {"name": "NET_RT_DUMP", "form": "compact"}),
        ("batch", {"ops": [["rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"}],
                           ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                                      "addr": "1.2.3.4"}]]}),
        ("nosuchop", {}),
    ], window=2)
    assert results[0] == client.sysctl("NET_RT_DUMP")
    assert results[1]["dst"] == "10.0.0.0"
    assert results[2] == client.sysctl("NET_RT_DUMP", form="compact")
    assert isinstance(results[3], OpError) and results[3].errno == EADDRNOTAVAIL
    assert results[3].index == 1
    assert isinstance(results[4], OpError) and results[4].errno == EOPNOTSUPP


def test_pipeline_on_a_subscribed_connection_skips_events(client):
    """The address added publishes events on this very connection, between the replies."""
    client.subscribe()
    results = client.pipeline([ADD_ADDR, ("rtmsg", {"type": "RTM_GET", "af": "inet",
                                                    "dst": "10.0.0.1"})])
    assert not isinstance(results[0], OpError)
    assert results[1]["dst"] == "10.0.0.0"


def test_sixteen_concurrent_clients(stack):
    errors = []

    def work(n):
        try:
            with stack.client() as c:
                for i in range(50):
                    c.rtmsg("RTM_ADD", af="inet", dst=f"10.{n}.{i}.0", plen=24, gateway="lo0",
                            iface=True)
                    assert c.rtmsg("RTM_GET", af="inet", dst=f"10.{n}.{i}.1")["plen"] == 24
        except Exception as exc:  # collected: a thread's assert must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with stack.client() as c:
        rows = c.sysctl("NET_RT_DUMP", af="inet")
    assert len(rows) == 16 * 50 + 1


def test_oversized_frame_gets_error_and_stack_survives(stack):
    s = raw(stack)
    s.sendall(protocol.HEADER.pack(protocol.MAX_FRAME + 1) + b"x" * 100)
    reply = read_frame(s)
    assert reply["errno"] == E2BIG and "exceeds" in reply["msg"]
    s.close()
    with stack.client() as c:
        assert c.server["pid"] == stack.pid


def test_garbage_frames_get_error_replies_connection_stays(stack):
    s = raw(stack)
    for body in (b"\xc1\xc1\xc1", msgpack.packb([1, 2]), msgpack.packb("hello"), b""):
        s.sendall(protocol.HEADER.pack(len(body)) + body)
        assert read_frame(s)["errno"] == EPROTO
    s.sendall(protocol.encode({"id": 7, "op": "ioctl", "args": "not a map"}))
    assert read_frame(s) == {"id": 7, "errno": EINVAL, "msg": "args must be a map"}
    s.sendall(protocol.encode({"id": 8, "op": "ioctl", "args": {"req": "SIOCSIFMTU",
                                                                 "ifname": 5, "mtu": "x"}}))
    assert read_frame(s)["errno"] == EINVAL
    s.sendall(protocol.encode({"id": 9, "op": "hello", "args": {}}))
    assert read_frame(s)["result"]["pid"] == stack.pid
    s.close()


def test_compact_requests_are_answered_in_kind(stack):
    """[id, op, args] gets [id, errno, msg, result] (plus the index of a failing batch op);
    the map form is answered with maps as ever; an array that is not a request is EPROTO."""
    s = raw(stack)

    def ask(body):
        s.sendall(protocol.HEADER.pack(len(body)) + body)
        return msgpack.unpackb(read_body(s))

    get = {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"}
    reply = ask(msgpack.packb([5, "rtmsg", get]))
    assert reply[:3] == [5, 0, ""] and reply[3]["dst"] == "127.0.0.1" and len(reply) == 4
    assert ask(msgpack.packb([6, "ioctl", {"req": "SIOCSIFMTU", "ifname": "nope0", "mtu": 9}])
               ) == [6, 6, "interface nope0 does not exist", None]
    reply = ask(msgpack.packb([7, "batch", {"ops": [["rtmsg", get], ["reboot", {}]]}]))
    assert reply[:2] == [7, EOPNOTSUPP] and reply[3:] == [None, 1]
    reply = ask(msgpack.packb({"id": 8, "op": "rtmsg", "args": get}))
    assert reply["id"] == 8 and reply["result"]["plen"] == 32
    for body in ([1, "hello"], [1, "hello", {}, 4], [], 7):
        assert ask(msgpack.packb(body))["errno"] == EPROTO
    # an array of three is a request, however bad: answered as its map form would be
    assert ask(msgpack.packb([1, 2, 3])) == [1, EINVAL, "args must be a map", None]
    assert ask(msgpack.packb([1, [2], {}]))[1] == EOPNOTSUPP
    assert ask(msgpack.packb([9, "hello", {}]))[3]["pid"] == stack.pid     # still served
    s.close()
    assert protocol.reply_map([3, 22, "bad", None, 4]) == {
        "id": 3, "errno": 22, "msg": "bad", "result": None, "index": 4}


def test_unknown_op(client):
    with pytest.raises(OpError) as exc:
        client.call("reboot", {})
    assert exc.value.errno == EOPNOTSUPP and "reboot" in exc.value.msg
    assert client.call("hello", {"version": 1})["pid"]


def test_batch_rollback_leaves_state_identical(client):
    client.call(*ADD_ADDR)
    before = dump(client)
    ops = [
        ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap"}],
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "tap0", "addr": "10.7.0.1", "plen": 24}],
        ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": 16,
                   "gateway": "10.0.0.1"}],
        ["sysctl", {"name": "net.inet.ip.forwarding", "value": 1}],
        ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "10.0.0.2"}],
        ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": 16,
                   "gateway": "10.0.0.1"}],         # fails: the address went
    ]
    with pytest.raises(OpError) as exc:
        client.batch(ops)
    assert exc.value.index == 5 and exc.value.errno == ENETUNREACH
    assert dump(client) == before


def test_batch_tolerated_errno_and_results(client):
    results = client.batch([
        ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0"}, [EADDRNOTAVAIL]],
        ADD_ADDR,
        ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap"}],
    ])
    assert results == [{"errno": EADDRNOTAVAIL, "msg": "Can't assign requested address"},
                       None, {"ifname": "tap0"}]


def test_batch_in_several_frames_is_atomic(client, monkeypatch):
    import plebconf.rpc.client as client_mod
    monkeypatch.setattr(client_mod, "PART_OPS", 100)
    client.call(*ADD_ADDR)
    ops = [["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{i // 256}.{i % 256}.0",
                      "plen": 24, "gateway": "10.0.0.1"}] for i in range(1, 1000)]
    ops.append(["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": 24,
                          "gateway": "10.0.0.1"}])       # duplicate: EEXIST
    before = client.sysctl("NET_RT_DUMP")
    with pytest.raises(OpError) as exc:
        client.batch(ops)
    assert exc.value.errno == EEXIST and exc.value.index == 999
    assert client.sysctl("NET_RT_DUMP") == before
    client.batch(ops[:-1])
    assert len(client.sysctl("NET_RT_DUMP", af="inet")) == 3 + 999   # 10/24, 10.0.0.2, 127.0.0.1


def test_route_run_is_found_at_once_and_its_lookup_arrays_fill_behind_it(client):
    """A run of 150,000 routes through one gateway: the stack answers the batch once they
    are filed, then fills its lookup arrays a slice per loop turn while it goes on
    answering (RTM_GET probes the dicts meanwhile); the answers are the same before and
    after, and a delete right away works."""
    import time
    client.call(*ADD_ADDR)
    dsts = [f"{20 + (i >> 16)}.{i >> 8 & 255}.{i & 255}.0" for i in range(150000)]
    client.batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1",
                                "plen": 24}, ["dst"], columns=[dsts])])
    gauge = "net.route.algo.inet.pending"
    seen = [client.sysctl(gauge)]
    probes = [dsts[0], dsts[-1], dsts[31337]]

    def answers():
        got = [client.rtmsg("RTM_GET", af="inet", dst=d[:-1] + "7") for d in probes]
        return [(r["dst"], r["plen"], r["gateway"], r["ifname"]) for r in got]
    assert answers() == [(d, 24, "10.0.0.1", "vnet0") for d in probes]
    deadline = time.monotonic() + 60
    while seen[-1] and time.monotonic() < deadline:
        seen.append(client.sysctl(gauge))
    assert 0 < seen[0] <= 150000 and seen[-1] == 0
    assert answers() == [(d, 24, "10.0.0.1", "vnet0") for d in probes]
    with pytest.raises(OpError) as exc:
        client.sysctl(gauge, value=5)
    assert exc.value.errno == EPERM
    client.rtmsg("RTM_DELETE", af="inet", dst=dsts[5], plen=24)
    with pytest.raises(OpError) as exc:
        client.rtmsg("RTM_GET", af="inet", dst=dsts[5], plen=24)
    assert exc.value.errno == ESRCH


def test_large_dump_is_streamed_in_chunks(client):
    client.call(*ADD_ADDR)
    client.batch([["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"20.{i >> 8}.{i & 255}.0",
                             "plen": 24, "gateway": "10.0.0.1"}] for i in range(20000)])
    chunks = list(client.stream("sysctl", {"name": "NET_RT_DUMP", "af": "inet"}))
    assert len(chunks) > 1 and all(len(c) <= protocol.CHUNK_ROWS for c in chunks)
    rows = [row for chunk in chunks for row in chunk]
    assert len(rows) == 20000 + 3
    assert [r[1] for r in rows[:2]] == ["10.0.0.0", "10.0.0.2"]     # walk order


def test_subscribe_receives_another_clients_changes(stack):
    with stack.client() as watcher, stack.client() as actor:
        events = watcher.subscribe()
        actor.call(*ADD_ADDR)
        actor.ioctl("SIOCSIFFLAGS", ifname="vnet0", clear=1)
        got = [next(events) for _ in range(4)]
    assert [e["type"] for e in got] == [RTM_NEWADDR, RTM_IFINFO, RTM_ADD, RTM_ADD]
    assert got[0]["addr"] == "10.0.0.2" and got[0]["ifname"] == "vnet0"
    assert [e["route"]["dst"] for e in got[2:]] == ["10.0.0.0", "10.0.0.2"]


def test_failed_change_publishes_nothing(stack):
    with stack.client() as watcher, stack.client() as actor:
        events = watcher.subscribe()
        with pytest.raises(OpError):
            actor.batch([ADD_ADDR, ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                                               "addr": "1.1.1.1"}]])
        actor.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
        assert next(events)["type"] == RTM_IFINFO     # the mtu change, nothing before it


def _as_nobody(path, code):
    """Run code in a child that dropped root for nobody; return its output."""
    prog = ("import os, socket\nfrom plebproto import protocol\n"
            f"os.setgid(65534); os.setuid(65534)\n{code}")
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                          env={**os.environ, "SOCKPATH": path}, timeout=30)


def test_other_uid_is_refused(stack, sockdir):
    need_root("dropping privileges to another uid")
    os.chmod(sockdir, 0o755)
    os.chmod(stack.path, 0o666)     # even with the file mode open, credentials decide
    out = _as_nobody(stack.path, """
s = socket.socket(socket.AF_UNIX); s.connect(os.environ['SOCKPATH'])
data = s.recv(65536)    # refused at accept: the reason arrives unasked, then EOF
print(protocol.decode(data[4:]), s.recv(10))
from plebconf.rpc.client import Client, ConnectError
try:
    Client.connect(path=os.environ['SOCKPATH'])
except ConnectError as exc:
    print('client says:', exc)
""")
    assert out.stdout.splitlines() == [
        "{'id': 0, 'errno': 1, 'msg': 'permission denied: uid 65534 may not use this stack "
        "(its owner may let a group read it: plebnet --read-group GROUP)'} b''",
        f"client says: {stack.path}: permission denied: uid 65534 may not use this stack "
        "(its owner may let a group read it: plebnet --read-group GROUP)",
    ], out.stderr
    with stack.client() as c:
        assert c.server["pid"] == stack.pid


@pytest.mark.parametrize("kind", ["file", "symlink", "foreign-socket", "live-stack"])
def test_precreated_path_makes_stack_refuse(sockdir, kind):
    # the stack's pid is not known before it starts: plant at every pid it could get next
    # by running it in a child whose pid we learn first via a fixed wrapper
    target = os.path.join(sockdir, "planted")
    wrapper = (
        "import os,sys\n"
        "path=os.path.join(sys.argv[1], str(os.getpid()))\n"
        "kind=sys.argv[2]\n"
        "if kind=='file': open(path,'w').close()\n"
        "elif kind=='symlink': os.symlink(sys.argv[3], path)\n"
        "elif kind in ('foreign-socket','live-stack'):\n"
        "    import socket; s=socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1)\n"
        "    if kind=='foreign-socket': os.chown(path, 65534, 65534)\n"
        "    globals()['keep']=s\n"
        "from plebnet_core.main import main\n"
        "sys.argv=['plebnet','--sockdir',sys.argv[1]]\n"
        "main()\n")
    if kind == "foreign-socket":
        need_root("chown to another uid")
    proc = subprocess.run([sys.executable, "-c", wrapper, sockdir, kind, target],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 73       # EX_CANTCREAT
    assert "refusing to start" in proc.stderr
    assert not os.path.exists(target)      # a symlink's target was not created


def test_stale_socket_of_ours_is_replaced(sockdir):
    wrapper = (
        "import os,sys,socket\n"
        "path=os.path.join(sys.argv[1], str(os.getpid()))\n"
        "s=socket.socket(socket.AF_UNIX); s.bind(path); s.close()\n"   # bound, nobody listens
        "from plebnet_core.main import main\n"
        "sys.argv=['plebnet','--sockdir',sys.argv[1]]\n"
        "main()\n")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, sockdir], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    line = proc.stdout.readline()
    assert line.startswith(f"plebnet: ready pid {proc.pid} ")
    proc.terminate()
    proc.wait(10)
    assert not os.path.exists(os.path.join(sockdir, str(proc.pid)))


def test_client_messages(sockdir):
    with pytest.raises(ConnectError, match=r"no stack with pid 999999 \(no socket at .*999999\)"):
        Client.connect(pid=999999, directory=sockdir)


def test_client_refuses_impostor_socket(sockdir):
    """A socket at <sockdir>/<pid> served by another process is not talked to."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(sockdir, "4242"))
    s.listen(1)
    with pytest.raises(ConnectError, match="not stack 4242: refusing"):
        Client.connect(pid=4242, directory=sockdir)
    s.close()


def test_sigterm_removes_socket(sockdir):
    running = spawn_stack([], sockdir=sockdir)
    assert os.path.exists(running.path)
    assert running.stop() == 0
    assert not os.path.exists(running.path)


def test_daemon_prints_pid_once_accepting(sockdir):
    out = subprocess.run([sys.executable, "-m", "plebnet_core", "--daemon", "--sockdir",
                          sockdir], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    pid = int(out.stdout.strip())
    try:
        with Client.connect(pid=pid, directory=sockdir) as c:
            assert c.server["pid"] == pid
    finally:
        os.kill(pid, 15)


def test_bad_nic_backend_fails_start(sockdir):
    with pytest.raises(StackStartError, match="backend 'bogus' is not available"):
        spawn_stack(["--nic", "vnet0=bogus"], sockdir=sockdir)


def test_ps_lists_running_stacks_and_stale_sockets(stack, sockdir):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(sockdir, str(gone.pid)))    # stale: its pid is gone, nobody listens
    s.close()
    out = subprocess.run([sys.executable, "-m", "plebconf", "--sockdir", sockdir, "ps"],
                         capture_output=True, text=True, env=stack.env(), timeout=30)
    lines = out.stdout.splitlines()
    assert lines[0] == "    PID USER            UPTIME  INTERFACES"
    rows = {int(line.split()[0]): line for line in lines[1:]}
    assert sorted(rows) == sorted([stack.pid, gone.pid])
    assert rows[stack.pid].endswith("  vnet0 lo0")
    assert rows[gone.pid].endswith("  (stale: its stack is gone; removed when its owner "
                                   "starts a stack)")


def compact_dump_rows(c, **args) -> list:
    """A compact NET_RT_DUMP (protocol docstring) rebuilt as rows of the default form."""
    rows = []
    for chunk in c.stream("sysctl", {"name": "NET_RT_DUMP", "form": "compact", **args}):
        if not chunk:
            continue
        width = 32 if chunk["af"] == "inet" else 128
        assert len(chunk["paths"]) == len({tuple(p) for p in chunk["paths"]})   # distinct
        for text, plen, i in zip(chunk["dst"].split("\n"), chunk["plen"], chunk["path"],
                                 strict=True):
            addr, _, shown = text.rpartition("/") if plen != width else (text, "", "")
            assert shown == (str(plen) if plen != width else "")
            rows.append([chunk["af"], addr, plen, *chunk["paths"][i]])
    return rows


def test_compact_dump_is_the_rows_dump_and_never_stale(client):
    """The compact form carries what the rows form does, chunk boundaries included; what it
    keeps between dumps follows RTM_CHANGE, interface MTUs and renames."""
    client.call(*ADD_ADDR)
    client.ioctl("SIOCAIFADDR_IN6", ifname="vnet0", addr="2001:db8::2", plen=64, flags=0x20)
    client.batch([["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"20.{i >> 8}.{i & 255}.0",
                             "plen": 24 if i % 7 else 32,
                             "gateway": "10.0.0.1" if i % 3 else "10.0.0.3"}]
                  for i in range(20000)])
    for args in ({"dst": "0.0.0.0", "plen": 0, "gateway": "10.0.0.1"},
                 {"dst": "10.5.0.0", "plen": 16, "gateway": "vnet0", "iface": True},
                 {"dst": "10.9.0.0", "plen": 16, "gateway": "127.0.0.1", "flags": 0x1000},
                 {"af": "inet6", "dst": "2001:db8:1::", "plen": 48, "gateway": "2001:db8::1"}):
        client.rtmsg("RTM_ADD", **{"af": "inet", **args})
    assert compact_dump_rows(client) == client.sysctl("NET_RT_DUMP")
    assert compact_dump_rows(client, af="inet6") == client.sysctl("NET_RT_DUMP", af="inet6")
    assert compact_dump_rows(client) == client.sysctl("NET_RT_DUMP")     # kept: still equal
    chunks = client.sysctl("NET_RT_DUMP", form="compact")                # call() collects maps
    assert len(chunks) > 2 and all(type(c) is dict for c in chunks)
    client.rtmsg("RTM_CHANGE", af="inet", dst="20.0.1.0", plen=24, gateway="10.0.0.3",
                 mtu=1280)
    assert compact_dump_rows(client) == client.sysctl("NET_RT_DUMP")
    client.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=9000)
    assert compact_dump_rows(client) == client.sysctl("NET_RT_DUMP")
    client.ioctl("SIOCSIFNAME", ifname="vnet0", newname="net7")         # fe80::%net7/64
    assert compact_dump_rows(client) == client.sysctl("NET_RT_DUMP")
    with pytest.raises(OpError) as exc:
        client.sysctl("NET_RT_DUMP", form="columns")
    assert exc.value.errno == EINVAL


def test_inet_prefix_texts_from_tables_are_inet_ntoa():
    from plebnet_core.syscalls import inet_prefix_texts
    keys = [(dst << 8) | (255 - plen) for dst, plen in
            [(0, 0), (0x0A000000, 8), (0xC0A80100, 24), (0x01020304, 32), (0xFFFFFFFF, 32),
             (0x7F000001, 32), (0xFFFFFFFE, 31), (0x80000000, 1)]]
    texts = ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.0/24", "1.2.3.4", "255.255.255.255",
             "127.0.0.1", "255.255.255.254/31", "128.0.0.0/1"]
    assert inet_prefix_texts(keys, many=False) == texts
    assert inet_prefix_texts(keys, many=True) == texts


def test_read_frames_resynchronises_on_frame_boundaries():
    """One bad frame costs that frame only: whatever its body claims, the next frame is read
    where its length prefix says; a partial frame waits; an oversized length ends the list."""
    def frame(body):
        return protocol.HEADER.pack(len(body)) + body

    good = protocol.request(1, "hello", {})
    buf = bytearray(good + frame(b"\xc1") + frame(b"") + frame(b"\x92\x01")   # into the next
                    + good + frame(msgpack.packb(1) + b"x") + frame(msgpack.packb("s"))
                    + good + good[:7])
    out = list(protocol.read_frames(buf))
    assert [m if isinstance(m, list) else type(m).__name__ for m in out] == [
        [1, "hello", {}], "ProtocolError", "ProtocolError", "ProtocolError", [1, "hello", {}],
        "ProtocolError", "ProtocolError", [1, "hello", {}]]
    assert buf == good[:7]
    buf += good[7:] + protocol.HEADER.pack(protocol.MAX_FRAME + 1) + b"xx"
    out = list(protocol.read_frames(buf))
    assert out[0] == [1, "hello", {}] and isinstance(out[1], protocol.FrameTooLarge)
    assert len(out) == 2
    for body in (b"\xc1", b"", b"\x92\x01", msgpack.packb(1) + b"x", msgpack.packb(1)):
        buf = bytearray(frame(body))                    # a lone frame takes another path
        (error,) = protocol.read_frames(buf)
        assert type(error) is protocol.ProtocolError and buf == b""
