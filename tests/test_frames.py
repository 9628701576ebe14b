"""Requests frames (protocol: several independent requests in one frame): the encoding, the
stack's answers (grouped, in request order, each request on its own), malformed elements,
the output budget, and a churn stream checked against a model."""
import os
import random
import shutil
import signal
import socket
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plebconf.rpc.client import run
from plebnet_core.spawn import spawn_stack
from plebproto import protocol
from plebproto.constants import (EEXIST, EINVAL, ENETUNREACH, EOPNOTSUPP, EPROTO, ESRCH,
                                 RTM_ADD, RTM_CHANGE, RTM_DELETE)
from plebproto.errors import OpError

GET = {"type": "RTM_GET", "af": "inet", "dst": "127.0.0.1"}
ADD_ADDR = ("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24})


def route(kind: str, dst: str, plen: int = 24, gateway: str | None = None) -> tuple:
    args = {"type": kind, "af": "inet", "dst": dst, "plen": plen}
    if gateway is not None:
        args["gateway"] = gateway
    return ("rtmsg", args)


def raw(stack):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(stack.path)
    return s


def read_messages(s, count: int) -> list:
    """Frames from a raw socket until count final replies (a group counts its members)
    have come; returns the decoded frames."""
    buf, frames, replies = bytearray(), [], 0
    while replies < count:
        data = s.recv(1 << 20)
        assert data, "stack closed the connection"
        buf += data
        for msg in protocol.read_frames(buf):
            assert not isinstance(msg, Exception), msg
            frames.append(msg)
            if protocol.is_group(msg):
                replies += len(msg)
            elif type(msg) is list or "more" not in msg:
                replies += 1
    return frames


def flat(frames: list) -> list:
    """The compact final replies of frames, groups opened, in arrival order."""
    out = []
    for msg in frames:
        out.extend(msg if protocol.is_group(msg) else [msg])
    return out


# -- encoding ----------------------------------------------------------------------------------
def test_request_frames_round_trip():
    ops = [("rtmsg", dict(GET, dst=f"10.0.0.{i}")) for i in range(600)]
    buf = protocol.request_frames(7, ops, per_frame=256)
    frames = list(protocol.read_frames(buf))
    assert not buf and [len(f) for f in frames] == [256, 256, 88]
    assert all(protocol.is_group(f) for f in frames)
    items = [item for f in frames for item in f]
    assert items == [[7 + i, op, args] for i, (op, args) in enumerate(ops)]
    # a frame of one request is that request alone (the compact form)
    (single,) = protocol.read_frames(protocol.request_frames(3, ops[:1]))
    assert single == [3, "rtmsg", ops[0][1]] and not protocol.is_group(single)
    assert protocol.request_frames(1, []) == b""


def test_request_frames_split_at_max_frame(monkeypatch):
    """A frame that would pass MAX_FRAME is split; a lone request that does is refused."""
    monkeypatch.setattr(protocol, "MAX_FRAME", 2000)
    ops = [("hello", {"pad": "x" * 100}) for _ in range(100)]
    buf = protocol.request_frames(1, ops, per_frame=100)
    sizes, items = [], []
    while buf:
        (length,) = protocol.HEADER.unpack_from(buf)
        sizes.append(length)
        items += [m for f in protocol.read_frames(buf[:4 + length]) for m in
                  (f if protocol.is_group(f) else [f])]
        del buf[:4 + length]
    assert len(sizes) > 1 and max(sizes) <= 2000
    assert [i[0] for i in items] == list(range(1, 101))
    with pytest.raises(protocol.ProtocolError):
        protocol.request_frames(1, [("hello", {"pad": "x" * 3000})])


def test_a_group_that_cannot_go_as_one_frame_goes_as_single_replies():
    """The server packs a frame's replies as one array when the group ends; one that
    cannot be packed (here an unencodable result: a bug) sends the group's replies one by
    one, the bad one as E2BIG, in order; a long frame's replies come in groups of
    GROUP_MAX."""
    from plebnet_core.loop import EventLoop
    from plebnet_core.server import GROUP_MAX, Connection, ControlServer
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls
    box = tempfile.mkdtemp()
    server = ControlServer(EventLoop(), Syscalls(Stack(), 1), os.path.join(box, "s"))
    a, b = socket.socketpair()
    try:
        conn = Connection(a, 1, 0, 0, True)
        server.grouping, server.compact = conn, True
        server._reply(conn, [1, 0, "", "fine"])
        server._reply(conn, [2, 0, "", object()])
        server._reply(conn, [3, 0, "", None])
        server._end_group(conn)
        for i in range(GROUP_MAX + 1):
            server._reply(conn, [10 + i, 0, "", i])
        server._end_group(conn)
        msgs = list(protocol.read_frames(conn.wbuf))
        assert msgs[:3] == [[1, 0, "", "fine"], [2, 7, msgs[1][2], None], [3, 0, "", None]]
        assert msgs[1][2].startswith("reply not sent: ")
        assert msgs[3:] == [[[10 + i, 0, "", i] for i in range(GROUP_MAX)],
                            [[10 + GROUP_MAX, 0, "", GROUP_MAX]]]
    finally:
        server.close()
        a.close()
        b.close()
        shutil.rmtree(box, ignore_errors=True)


# -- the stack's answers -----------------------------------------------------------------------
def test_frame_replies_in_order_each_request_on_its_own(client):
    """Adds, a refused add, deletes and reads in one frame: every request applied (or
    refused) alone, in order, each with its own audit entry and errno."""
    client.call(*ADD_ADDR)
    requests = [
        route("RTM_ADD", "172.16.1.0", gateway="10.0.0.1"),
        route("RTM_ADD", "172.16.2.0", gateway="192.0.2.1"),     # no route to it
        route("RTM_ADD", "172.16.3.0", gateway="10.0.0.1"),
        route("RTM_GET", "172.16.1.0"),
        route("RTM_DELETE", "172.16.1.0"),
        route("RTM_GET", "172.16.1.0"),                          # gone now
        route("RTM_ADD", "172.16.3.0", gateway="10.0.0.1"),     # exists
        route("RTM_CHANGE", "172.16.3.0", gateway="10.0.0.9"),
        route("RTM_GET", "172.16.3.0"),
    ]
    results = client.pipeline(requests, per_frame=len(requests))
    errnos = [r.errno if isinstance(r, OpError) else 0 for r in results]
    assert errnos == [0, ENETUNREACH, 0, 0, 0, ESRCH, EEXIST, 0, 0]
    assert results[3]["gateway"] == "10.0.0.1"
    assert results[8]["gateway"] == "10.0.0.9"
    table = {(r[1], r[2]): r[3] for r in client.sysctl("NET_RT_DUMP", af="inet")}
    assert table.get(("172.16.3.0", 24)) == "10.0.0.9"
    assert ("172.16.1.0", 24) not in table and ("172.16.2.0", 24) not in table
    # one audit entry per change, refused ones included, in the frame's order
    entries = client.call("audit", {"n": 6, "args": True})
    assert [(e["args"]["type"], e["args"]["dst"], e["errno"]) for e in entries] == [
        ("RTM_ADD", "172.16.1.0", 0), ("RTM_ADD", "172.16.2.0", ENETUNREACH),
        ("RTM_ADD", "172.16.3.0", 0), ("RTM_DELETE", "172.16.1.0", 0),
        ("RTM_ADD", "172.16.3.0", EEXIST), ("RTM_CHANGE", "172.16.3.0", 0)]


def test_frame_events_of_what_succeeded_in_order(stack):
    """A subscriber sees one routing message per change of a frame that succeeded, in the
    frame's order, none for a refused one, and their own process named (served as a run:
    one transaction around the frame's requests, a savepoint each)."""
    with stack.client() as watcher, stack.client() as actor:
        actor.call(*ADD_ADDR)
        events = watcher.subscribe()
        results = actor.pipeline([
            route("RTM_ADD", "172.16.1.0", gateway="10.0.0.1"),
            route("RTM_ADD", "172.16.2.0", gateway="192.0.2.1"),      # ENETUNREACH
            route("RTM_CHANGE", "172.16.1.0", gateway="10.0.0.3"),
            route("RTM_GET", "172.16.1.0"),
            route("RTM_DELETE", "172.16.9.0"),                        # ESRCH
            route("RTM_DELETE", "172.16.1.0"),
        ], per_frame=6)
        assert [r.errno if isinstance(r, OpError) else 0 for r in results] == [
            0, ENETUNREACH, 0, 0, ESRCH, 0]
        got = [next(events) for _ in range(3)]
    assert [(e["type"], e["route"]["dst"], e["route"]["gateway"]) for e in got] == [
        (RTM_ADD, "172.16.1.0", "10.0.0.1"), (RTM_CHANGE, "172.16.1.0", "10.0.0.3"),
        (RTM_DELETE, "172.16.1.0", "10.0.0.3")]
    assert {e["pid"] for e in got} == {os.getpid()}


def test_malformed_elements_answered_in_place(stack):
    """Elements that are not [id, op, args] get EPROTO in their place (their id when they
    have an int one); the requests around them are served; the connection goes on.  (An id
    that is not an int is answered as id 0, as in a frame of its own.)"""
    s = raw(stack)
    frame = [[1, "rtmsg", GET], 5, [2], ["x", "hello", {}], [3, "nosuchop", {}],
             [4, "rtmsg", "notamap"], [6, "rtmsg", GET], [], [7, "hello", {"version": 1},
                                                               "extra"], [8, "rtmsg", GET]]
    s.sendall(protocol.encode(frame))
    replies = flat(read_messages(s, len(frame)))
    assert [(r[0], r[1]) for r in replies] == [
        (1, 0), (0, EPROTO), (2, EPROTO), (0, 0), (3, EOPNOTSUPP), (4, EINVAL), (6, 0),
        (0, EPROTO), (7, EPROTO), (8, 0)]
    assert replies[0][3]["dst"] == "127.0.0.1" and replies[6][3] == replies[0][3]
    s.sendall(protocol.request(9, "rtmsg", GET))
    (reply,) = read_messages(s, 1)
    assert reply[:3] == [9, 0, ""]
    s.close()


def test_dump_inside_a_frame_keeps_order(client):
    """A streamed dump among a frame's requests: the replies before it, its chunks, then
    the rest -- whatever is grouped."""
    client.call(*ADD_ADDR)
    client.batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"},
                      ["dst", "plen"], rows=[[f"172.20.{i >> 8}.{i & 255}", 32]
                                             for i in range(3 * protocol.CHUNK_ROWS)])])
    requests = [("rtmsg", GET)] * 50 + [("sysctl", {"name": "NET_RT_DUMP"})] + \
        [("rtmsg", GET)] * 50 + [route("RTM_DELETE", "172.20.0.5", 32)] + \
        [("sysctl", {"name": "NET_RT_DUMP", "af": "inet"})]
    results = client.pipeline(requests, per_frame=len(requests))
    assert all(r["dst"] == "127.0.0.1" for r in results[:50] + results[51:101])
    assert len(results[50]) > 3 * protocol.CHUNK_ROWS
    assert results[101] is None
    dsts = {(r[1], r[2]) for r in results[102]}
    assert ("172.20.0.5", 32) not in dsts and ("172.20.0.6", 32) in dsts


def test_large_frame_served_within_the_output_budget(stack):
    """Replies to one frame larger than the peer's output budget: served in parts as the
    peer reads (several groups), all in order; another client is answered meanwhile."""
    n = 50_000      # RTM_GET replies of ~115 bytes: well past MAX_OUTPUT (4 MiB)
    s = raw(stack)
    s.sendall(protocol.request_frames(1, [("rtmsg", GET)] * n, per_frame=n))
    with stack.client() as other:
        assert other.call("hello", {"version": protocol.VERSION})["pid"] == stack.pid
    frames = read_messages(s, n)
    assert len(frames) >= 2
    assert [r[0] for r in flat(frames)] == list(range(1, n + 1))
    s.close()


def test_requests_behind_another_clients_batch(stack):
    """Requests of a frame that wait behind a batch in progress are answered after it, in
    order (singly: the group ends where they wait)."""
    with stack.client() as a, stack.client() as b:
        a.call(*ADD_ADDR)
        rows = [[f"172.24.{i >> 8}.{i & 255}", 32] for i in range(60_000)]
        rid = a.send("batch", {"ops": [run("rtmsg", {"type": "RTM_ADD", "af": "inet",
                                                     "gateway": "10.0.0.1"},
                                           ["dst", "plen"], rows=rows)]})
        results = b.pipeline([route("RTM_ADD", "172.25.0.0", gateway="10.0.0.1"),
                              route("RTM_GET", "172.24.0.7", 32),
                              route("RTM_DELETE", "172.25.0.0")] * 3, per_frame=9)
        assert a._check(a._reply(rid)) is not None
        errnos = [r.errno if isinstance(r, OpError) else 0 for r in results]
        assert errnos == [0, 0, 0] * 3
        assert results[1]["dst"] == "172.24.0.7"


def test_frame_changes_journaled_each(sockdir):
    """With --state, each change of a frame is journaled on its own before its reply
    leaves: killed right after the answers, the stack comes back with exactly the changes
    that succeeded."""
    state = os.path.join(sockdir, "state")
    nic = ["--nic", "vnet0=none"]
    stack = spawn_stack([*nic, "--state", state], sockdir=sockdir)
    try:
        with stack.client() as c:
            c.call(*ADD_ADDR)
            results = c.pipeline([route("RTM_ADD", f"172.16.{i}.0", gateway="10.0.0.1")
                                  for i in range(100)] +
                                 [route("RTM_ADD", "172.17.0.0", gateway="192.0.2.1"),
                                  route("RTM_DELETE", "172.16.7.0"),
                                  route("RTM_CHANGE", "172.16.8.0", gateway="10.0.0.3")],
                                 per_frame=64)
            assert [type(r) for r in results[100:]] == [OpError, type(None), type(None)]
            before = {(r[1], r[2]): r[3] for r in c.sysctl("NET_RT_DUMP", af="inet")}
    finally:
        stack.stop(signal.SIGKILL)
    stack = spawn_stack([*nic, "--state", state], sockdir=sockdir)
    try:
        with stack.client() as c:
            after = {(r[1], r[2]): r[3] for r in c.sysctl("NET_RT_DUMP", af="inet")}
    finally:
        stack.stop()
    assert after == before
    assert ("172.16.7.0", 24) not in after and after[("172.16.8.0", 24)] == "10.0.0.3"
    assert len([k for k in after if k[0].startswith("172.16.")]) == 99


# -- churn against a model -----------------------------------------------------------------------
PREFIXES = [(f"172.{16 + i // 64}.{i % 64 * 4}.0", 22 + i % 3) for i in range(48)]
GATEWAYS = ["10.0.0.1", "10.0.0.3", "10.0.0.4"]


@pytest.fixture(scope="module")
def churn_stack():
    sockdir = tempfile.mkdtemp(prefix="pleb-")
    running = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    with running.client() as c:
        c.call(*ADD_ADDR)
        yield running, c
    running.stop()
    shutil.rmtree(sockdir, ignore_errors=True)


OPS = st.tuples(st.sampled_from(["RTM_ADD", "RTM_DELETE", "RTM_CHANGE"]),
                st.integers(0, len(PREFIXES) - 1), st.integers(0, len(GATEWAYS) - 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, max_size=300), per_frame=st.integers(1, 64),
       window=st.integers(1, 300), seed=st.integers(0, 2**32))
def test_churn_stream_matches_a_model(churn_stack, ops, per_frame, window, seed):
    """Withdrawals, announcements and next-hop changes streamed through the pipeline, some
    refused (EEXIST, ESRCH), several per frame: each result is what the model says, and the table ends equal to
    the model.  The table starts from the previous example's end state (the model reads it)."""
    _, c = churn_stack
    ours = {(r[1], r[2]): r[3] for r in c.sysctl("NET_RT_DUMP", af="inet")}
    model = {p: ours[p] for p in PREFIXES if p in ours}
    requests, expected = [], []
    for kind, p, g in ops:
        dst, plen = PREFIXES[p]
        key = (dst, plen)
        gateway = GATEWAYS[g]
        if kind == "RTM_ADD":
            # an announcement of a prefix present is made through its own next hop: EEXIST
            # (another next hop would add a path: FreeBSD 14's routes are multipath)
            expected.append(EEXIST if key in model else 0)
            gateway = model.setdefault(key, gateway)
            requests.append(route(kind, dst, plen, gateway))
        elif kind == "RTM_DELETE":
            expected.append(0 if model.pop(key, None) else ESRCH)
            requests.append(route(kind, dst, plen))
        else:
            expected.append(0 if key in model else ESRCH)
            if key in model:
                model[key] = gateway
            requests.append(route(kind, dst, plen, gateway))
    # a few reads mixed in (reads are not changes), at places chosen by the seed
    rng = random.Random(seed)
    for _ in range(len(requests) // 10):
        at = rng.randrange(len(requests) + 1)
        requests.insert(at, ("rtmsg", GET))
        expected.insert(at, 0)
    results = c.pipeline(requests, window=window, per_frame=per_frame)
    assert [r.errno if isinstance(r, OpError) else 0 for r in results] == expected
    table = {(r[1], r[2]): r[3] for r in c.sysctl("NET_RT_DUMP", af="inet")}
    assert {p: table[p] for p in PREFIXES if p in table} == model
