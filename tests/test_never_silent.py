"""The stack never goes silent (issue #13, item 3): the slow-turn tracer, and the long work
that is sliced across loop turns -- a big batch's rollback, its end (journal record, events,
answer), a dump's snapshot -- still does exactly what it did in one go.  Correctness only:
nothing here measures time."""
from __future__ import annotations

import io
import itertools
import random
import socket
import sys
from types import SimpleNamespace

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from plebconf.rpc.client import run
from plebproto import protocol
from plebproto.constants import RTM_ADD
from plebproto.errors import OpError
from plebproto.protocol import pack_column
from plebnet_core import loop as loop_mod
from plebnet_core.server import ControlServer
from plebnet_core.spawn import spawn_stack
from plebnet_core.state.check import check_stack
from plebnet_core.state.inet import aton
from plebnet_core.state.txn import Journal
from plebnet_core.syscalls import batch as batch_mod

from conftest import Clock
from test_batch import _dump, _fresh


# -- the tracer ----------------------------------------------------------------------------------
def test_tracer_logs_a_slow_turn_with_its_callbacks_longest_first():
    clock, out = Clock(), io.StringIO()
    tracer = loop_mod.TurnTracer(0.010, clock=clock, out=out, sample=False)
    try:
        def slow():
            clock.now += 0.025

        def quick():
            clock.now += 0.001
        run_one = tracer.begin()
        run_one(quick, ())
        run_one(slow, ())
        tracer.end()
        line = out.getvalue()
        assert line.startswith("plebnet: slow turn 26.0 ms (cpu "), line
        assert "2 callbacks: " in line
        # longest first, each named with its time
        assert line.index("slow (test_never_silent.py:") < line.index("quick (")
        assert "slow (test_never_silent.py:" in line and " 25.0, " in line
        out.truncate(0)
        out.seek(0)
        run_one = tracer.begin()
        run_one(quick, ())
        tracer.end()
        assert out.getvalue() == ""         # under the threshold: nothing
    finally:
        tracer.close()


def test_tracer_names_methods_and_notes_where_a_long_callback_was():
    clock, out = Clock(), io.StringIO()
    tracer = loop_mod.TurnTracer(0.005, clock=clock, out=out, sample=False)
    try:
        class Worker:
            def work(self):
                clock.now += 0.006
                tracer._alarm(14, sys._getframe())     # what SIGALRM does mid-callback
        run_one = tracer.begin()
        run_one(Worker().work, ())
        tracer.end()
        text = out.getvalue()
        assert "Worker.work" in text
        assert "\n    at 6 ms: test_never_silent.py:" in text and " work < " in text
    finally:
        tracer.close()


def test_loop_traces_only_when_asked(monkeypatch):
    monkeypatch.delenv(loop_mod.ENV_SLOW_TURN_MS, raising=False)
    plain = loop_mod.EventLoop()
    assert "run_once" not in vars(plain) and not hasattr(plain, "tracer")
    plain.close()
    monkeypatch.setenv(loop_mod.ENV_SLOW_TURN_MS, "50")
    traced = loop_mod.EventLoop()
    try:
        assert traced.tracer.threshold == 0.05
        ran = []
        traced.call_soon(ran.append, 1)
        traced.call_later(0, ran.append, 2)
        traced.run_once(0)
        assert sorted(ran) == [1, 2]        # callbacks still run, timers and soon alike
    finally:
        traced.close()


def test_a_stack_with_the_tracer_logs_its_turns(sockdir):
    """PLEBNET_SLOW_TURN_MS=0: every turn is over it, so each is logged, naming the
    control server's callbacks."""
    import os
    env = dict(os.environ, PLEBNET_SLOW_TURN_MS="0")
    stack = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir, env=env)
    try:
        with stack.client() as c:
            c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
    finally:
        stack.stop()
    err = stack.stderr()
    assert "plebnet: slow turn " in err
    assert "ControlServer." in err


# -- rolling back a slice at a time --------------------------------------------------------------
_OPS = st.lists(st.tuples(st.sampled_from(["set", "del", "append", "attr"]),
                          st.integers(0, 20)), max_size=80)


@settings(max_examples=60, deadline=None)
@given(before=_OPS, inside=_OPS, step=st.integers(1, 9), saved=st.integers(0, 30))
def test_undo_some_restores_exactly_what_a_rollback_does(before, inside, step, saved):
    """Undoing the log a few records at a time (down to a mark) leaves the state as the
    transaction's own rollback to that mark would."""
    def apply(journal, state, ops):
        for kind, k in ops:
            if kind == "set":
                journal.setitem(state["d"], k, len(state["l"]))
            elif kind == "del" and k in state["d"]:
                journal.delitem(state["d"], k)
            elif kind == "append":
                journal.append(state["l"], k)
            else:
                journal.setattr(state["o"], "v", k)

    def fresh():
        journal = Journal()
        return journal, {"d": {}, "l": [], "o": SimpleNamespace(v=-1)}

    def snap(state):
        return dict(state["d"]), list(state["l"]), state["o"].v

    results = []
    for sliced in (False, True):
        journal, state = fresh()
        with journal.transaction():
            apply(journal, state, before[:saved])
            mark = journal.log_length()
            try:
                with journal.transaction():             # a savepoint
                    apply(journal, state, inside)
                    if sliced:         # step records per call: a clock ticking per read
                        clock = itertools.count().__next__
                        while not journal.undo_some(mark, clock() + step, clock):
                            assert journal.log_length() > mark
                        assert journal.log_length() == mark
                    raise KeyError("fail")
            except KeyError:
                pass
            apply(journal, state, before[saved:])
        results.append(snap(state))
    assert results[0] == results[1]


def _routes(n, seed=7):
    rng = random.Random(seed)
    seen, rows = set(), []
    while len(rows) < n:
        plen = rng.choice([16, 20, 22, 23, 24, 24, 24])
        dst = rng.getrandbits(32) & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        if (dst, plen) not in seen and dst >> 24 not in (0, 10, 127) and dst >> 28 < 14:
            seen.add((dst, plen))
            rows.append((dst, plen, aton(f"10.0.0.{1 + len(rows) % 3}")))
    return rows


def _packed_run(rows):
    return run("rtmsg", {"type": "RTM_ADD", "af": "inet"}, ["dst", "plen", "gateway"],
               columns=[pack_column("dst", "inet", [r[0] for r in rows]),
                        pack_column("plen", "inet", [r[1] for r in rows]),
                        pack_column("gateway", "inet", [r[2] for r in rows])])


def test_a_failing_big_batch_is_undone_a_slice_at_a_time_and_changes_nothing(monkeypatch):
    """batch_steps of a big batch whose last op fails: the undo is spread over many
    yields (the log shrinking between them), then the batch fails at that op's index,
    and the stack is exactly as before."""
    monkeypatch.setattr(batch_mod, "SLICE", 0.0)        # a yield at every chance
    sc = _fresh()
    before = _dump(sc)
    hostname = sc.dispatch("sysctl", {"name": "kern.hostname"})
    rows = _routes(6000)
    entries = [["sysctl", {"name": "kern.hostname", "value": "busy"}], _packed_run(rows),
               ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "1.2.3.4"}]]
    steps = sc.batch_steps(entries)
    logs = []
    failure = None
    while True:
        try:
            next(steps)
        except OpError as exc:
            failure = exc
            break
        logs.append(sc.stack.journal.log_length())
    assert failure is not None and failure.index == 1 + len(rows)
    peak = logs.index(max(logs))
    undoing = logs[peak:]
    assert len(undoing) > 4 and undoing == sorted(undoing, reverse=True)
    assert sc.stack.journal.depth == 0
    assert _dump(sc) == before
    assert sc.dispatch("sysctl", {"name": "kern.hostname"}) == hostname
    assert check_stack(sc.stack) == []
    # and it still applies whole once the failing op is gone
    assert len(sc.run_batch(entries[:2])) == 1 + len(rows)
    assert len(_dump(sc)) == len(before) + len(rows)
    assert check_stack(sc.stack) == []


def test_dump_results_in_a_batch_are_none():
    """A dump run inside a batch answers None (its rows are not sent), as before the
    results stopped being scanned for them at the end."""
    sc = _fresh()
    results = sc.run_batch([["sysctl", {"name": "NET_RT_DUMP"}],
                            ["sysctl", {"name": "kern.hostname"}]])
    assert results[0] is None and results[1] is not None


# -- the answer of a big batch ------------------------------------------------------------------
def test_a_route_batch_answer_is_the_bytes_msgpack_makes():
    """_answer_batch packs a long all-None result list itself: the very frame _answer
    would have queued, in both reply forms and both array header sizes."""
    for compact in (False, True):
        for n in (5000, 70000):
            for results in ([None] * n, [None] * (n - 1) + [{"errno": 17, "msg": "x"}]):
                got: list = []
                fake = SimpleNamespace(compact=compact, grouping=None, _answer=lambda conn,
                                       rid, r, got=got: got.append(r))
                conn = SimpleNamespace(wbuf=bytearray())
                ControlServer._answer_batch(fake, conn, 42, results)
                if results[-1] is not None:         # not all None: the ordinary path
                    assert got == [results] and not conn.wbuf
                    continue
                reply = [42, 0, "", results] if compact else \
                    {"id": 42, "errno": 0, "msg": "", "result": results}
                assert bytes(conn.wbuf) == protocol.encode(reply)
                assert list(protocol.read_frames(bytearray(conn.wbuf))) == [reply]


# -- a live stack: events, abandonment -------------------------------------------------------
def test_a_big_batch_publishes_its_events_in_order_after_its_commit(stack):
    """A subscriber gets every event of a big batch, in the batch's order, and the event of
    a change made after it comes after all of them."""
    rows = _routes(5000, seed=11)
    with stack.client(timeout=120) as watcher, stack.client(timeout=120) as actor:
        actor.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.254", plen=24)
        events = watcher.subscribe()
        actor.batch([_packed_run(rows)])
        actor.rtmsg("RTM_ADD", af="inet", dst="192.0.2.0", plen=24, gateway="10.0.0.1")
        want = [socket.inet_ntoa(r[0].to_bytes(4, "big")) for r in rows] + ["192.0.2.0"]
        got = [next(events) for _ in want]
    assert {e["type"] for e in got} == {RTM_ADD}
    got = [e["route"]["dst"] for e in got]
    assert got == want


def test_a_batch_whose_client_leaves_is_rolled_back_before_the_next_change(stack):
    """A big batch's client goes away mid-batch: the batch is undone (a slice per turn)
    and a change asked meanwhile by another client waits for that, then applies; the
    table holds that change and nothing of the batch."""
    with stack.client(timeout=120) as c:
        c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.254", plen=24)
        before = c.sysctl("NET_RT_DUMP", af="inet")
        gateway = aton("10.0.0.1")
        rows = [((11 << 24) + (i << 8), 24, gateway) for i in range(300_000)]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(stack.path)
        sock.sendall(protocol.encode({"id": 1, "op": "batch",
                                      "args": {"ops": [_packed_run(rows)]}}))
        # the batch has begun (its routes wait for the lookup arrays): its client leaves
        while not c.sysctl("net.route.algo.inet.pending"):
            pass
        sock.close()
        c.rtmsg("RTM_ADD", af="inet", dst="192.0.2.0", plen=24, gateway="10.0.0.1")
        after = c.sysctl("NET_RT_DUMP", af="inet")
        assert c.call("hello", {"version": protocol.VERSION})
    added = [r for r in after if r not in before]
    assert [r[1] for r in added] == ["192.0.2.0"]
    assert [r for r in before if r not in after] == []


# -- dumps --------------------------------------------------------------------------------------
def test_a_dump_snapshot_copied_a_length_per_turn_is_of_one_moment(monkeypatch):
    """walk_pieces copies a big table a prefix length or so per turn; a change between
    those turns makes it copy again at once: the walk is the table after the change,
    whole."""
    from plebnet_core.state import route as route_mod
    from plebnet_core.state.route import Route, RouteTable
    monkeypatch.setattr(route_mod, "WALK_STEP", 64)     # 3000 routes: a big table
    rng = random.Random(9)
    table = RouteTable(32)
    for i in range(3000):
        plen = rng.choice([8, 16, 24, 28])
        dst = rng.getrandbits(32) & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        if table.exact(dst, plen) is None:
            table.add_path(Route(dst, plen, 1 + i % 3, None, None, 1))
    walk = table.walk_pieces(500)
    assert next(walk) is None           # the first length copied, the turn ends
    assert table.exact(0xC0A80000, 16) is None
    late = Route(0xC0A80000, 16, 7, None, None, 1)
    table.add_path(late)                # (a length copied already: the copy is stale)
    got = [(key, route) for piece in walk if piece is not None for key, route in zip(*piece)]
    want_keys, want_paths = table._sorted()
    assert got == [(key, paths[0]) for key, paths in zip(want_keys, want_paths)]
    assert any(route is late for _, route in got)


def test_octet_texts_made_a_slice_at_a_time_are_the_texts():
    from plebnet_core.syscalls import dumps
    saved = list(dumps._PAIRS)
    dumps._PAIRS.clear()
    try:
        pauses = sum(1 for _ in dumps._make_octet_pairs())
        assert pauses == (1 << 16) // dumps.PAIRS_STEP
        high, low = dumps._octet_pairs()
        assert (len(high), len(low)) == (1 << 16, 1 << 16)
        assert (high[0x0A01], low[0xFF00]) == ("10.1.", "255.0")
        assert dumps.inet_prefix_texts([(0x0A010203 << 8) | (255 - 24)], many=True) == \
            ["10.1.2.3/24"]
    finally:
        dumps._PAIRS[:] = saved or dumps._PAIRS


def test_msgpack_array_headers():
    """(what _answer_batch and the audit's packed turns rely on) protocol.array_header is
    the header msgpack writes for an array of that many items, at every size class."""
    for n in (0, 1, 15, 16, 5000, 65535, 65536, 70000):
        assert protocol.array_header(n) == msgpack.packb([None] * n)[:len(
            msgpack.packb([None] * n)) - n]


def test_a_big_run_of_ops_yields_between_them_and_stays_atomic(monkeypatch):
    """A run that is not plain routes (aliases here) is expanded op by op, yielding
    between its ops (never inside one's savepoint): all of it applies, or -- its row 250
    malformed -- none of it, the failure placed at that row."""
    monkeypatch.setattr(batch_mod, "SLICE", 0.0)
    rows = [[f"10.1.{i >> 8}.{i & 255}"] for i in range(1, 400)]
    entry = run("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "plen": 32}, ["addr"], rows)
    sc = _fresh()
    addrs = {a.addr for a in sc.stack.by_name["vnet0"].addrs}
    steps = sc.batch_steps([entry])
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            results = done.value
            break
        yields += 1
        assert sc.stack.journal.depth == 1      # between ops: no savepoint open
    assert yields >= len(rows) // 8 - 1 and len(results) == len(rows)
    assert len(sc.stack.by_name["vnet0"].addrs) == len(addrs) + len(rows)
    assert check_stack(sc.stack) == []
    sc = _fresh()
    before = _dump(sc)
    rows[250] = ["10.1.0.x"]
    try:
        sc.run_batch([entry])
    except OpError as exc:
        assert exc.index == 250
    else:
        raise AssertionError("a malformed address was accepted")
    assert {a.addr for a in sc.stack.by_name["vnet0"].addrs} == addrs
    assert _dump(sc) == before and check_stack(sc.stack) == []


def test_a_big_batch_args_packed_a_slice_at_a_time_are_msgpack_s_bytes():
    """_pack_ahead packs a big batch's {"ops": ...} a slice per call (True until done):
    the bytes msgpack makes of the whole; the audit entry made from them is the one
    packing it whole makes."""
    from collections import deque

    from plebnet_core.persist import audit as audit_mod
    from plebnet_core.server import PackedArgs
    ops = [["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": f"10.{i >> 8}.{i & 255}.1",
                      "plen": 32}] for i in range(20000)] + [_packed_run(_routes(300))]
    args = ControlServer._batch_args(ops)
    assert type(args) is PackedArgs and args == {"ops": ops}
    pieces: deque = deque()
    ControlServer._pack_ahead(pieces, args)
    calls = 1
    while pieces[0]() is True:
        calls += 1
    assert args.packed == msgpack.packb({"ops": ops}, use_bin_type=True)
    entry = {"seq": 3, "time": 1.5, "pid": 7, "uid": 0, "op": "batch", "args": args,
             "errno": 0, "msg": ""}
    assert audit_mod._pack_with(entry, "args", args.packed) == \
        msgpack.packb(entry, use_bin_type=True)
    small = ControlServer._batch_args(ops[:10])
    assert type(small) is dict
    ControlServer._pack_ahead(pieces, small)        # (nothing to pack ahead)
    assert len(pieces) == 1


def test_a_big_batch_journaled_from_its_packed_args_replays(sockdir):
    """With --state, a batch of many ops goes to the journal from the args packed a slice
    per turn (PackedArgs), and a failed one leaves no change record: after a restart the
    stack holds exactly the batch that was applied."""
    import os
    state = os.path.join(sockdir, "state")
    aliases = [["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0",
                          "addr": f"10.9.{i >> 8}.{i & 255}", "plen": 32}]
               for i in range(1, 6001)]
    bad = aliases[:5000] + [["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                                        "addr": "1.2.3.4"}]]
    first = spawn_stack(["--nic", "vnet0=none", "--state", state], sockdir=sockdir)
    try:
        with first.client(timeout=120) as c:
            c.batch(aliases[:3000])
            try:
                c.batch(bad)
            except OpError as exc:
                assert exc.index == 5000
            else:
                raise AssertionError("the failing batch applied")
            c.batch(aliases[3000:])
            want = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]
    finally:
        first.stop()
    again = spawn_stack(["--nic", "vnet0=none", "--state", state], sockdir=sockdir)
    try:
        with again.client(timeout=120) as c:
            got = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]
    finally:
        again.stop()
    assert len(want) == 6000 and [a["addr"] for a in got] == [a["addr"] for a in want]
