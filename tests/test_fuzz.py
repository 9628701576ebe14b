"""Property tests: whatever arrives — random, truncated, mistyped, huge or nested frames and
op arguments — the stack answers each request once, survives, answers hello, and its state
keeps its invariants (plebnet_core/state/check.py).  tools/fuzz.py is the long version."""
import math
import random
import socket

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from plebproto import protocol
from plebproto.constants import AF_INET6, ND6_IFF_ACCEPT_RTADV, RTF_STATIC
from plebnet_core.dataplane.wire import ethernet, ipv6
from plebnet_core.state.inet import pton6
from test_dataplane_unit import Rig
from plebnet_core.persist import apply, load_state, serialise_state
from plebnet_core.spawn import spawn_stack
from plebnet_core.state.check import check_stack, fetch_and_check
from plebproto.errors import OpError
from plebnet_core.state.stack import Stack, stable_mac
from plebnet_core.syscalls import Syscalls
from conftest import Clock
from tools import packets6
from tools.harness import _KEYS, _WORDS, _final_replies, rows

OPS = ["hello", "ioctl", "rtmsg", "sysctl", "llmsg", "batch", "subscribe", "audit", "nope"]
REQS = ["SIOCAIFADDR", "SIOCDIFADDR", "SIOCIFCREATE2", "SIOCIFDESTROY", "SIOCSIFNAME",
        "SIOCSIFFLAGS", "SIOCSIFMTU", "SIOCAIFADDR_IN6", "SIOCDIFADDR_IN6", "SIOCSIFLLADDR",
        "SIOCAIFGROUP", "SIOCDIFGROUP", "SIOCSIFINFO_IN6", "SIOCSIFMETRIC"]
IFNAMES = ["vnet0", "lo0", "tap", "tap0", "tap1", "vxlan0", "x", "lo1"]
ADDRS4 = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.1.0.0", "127.0.0.1", "0.0.0.0",
          "192.0.2.1", "10.0.0.255", "1.2.3"]
ADDRS6 = ["2001:db8::1", "2001:db8::2", "fe80::1%vnet0", "fe80::2", "::1", "::", "2001:db8:1::"]

leaf = st.one_of(st.sampled_from(_WORDS), st.integers(), st.booleans(), st.none(),
                 st.floats(allow_nan=True), st.binary(max_size=8), st.text(max_size=8))
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
                     max_leaves=12)
random_args = st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=4), value, max_size=6)

# plausible requests reach deep into the state model; random ones test the edges
addr = st.sampled_from(ADDRS4) | st.sampled_from(ADDRS6)
small = st.integers(-2, 200) | st.sampled_from([1500, 9000, 65535, 2 ** 31, 2 ** 64])
plausible = st.one_of(
    st.fixed_dictionaries({"req": st.sampled_from(REQS), "ifname": st.sampled_from(IFNAMES)},
                          optional={"addr": addr, "plen": small, "mtu": small, "set": small,
                                    "clear": small, "newname": st.sampled_from(IFNAMES),
                                    "group": st.sampled_from(["wan", "lan", "x1", ""]),
                                    "lladdr": st.sampled_from(["02:00:00:00:00:01", "zz"]),
                                    "metric": small, "broadcast": addr, "dstaddr": addr,
                                    "flags": small}).map(lambda a: ("ioctl", a)),
    st.fixed_dictionaries({"type": st.sampled_from(["RTM_ADD", "RTM_DELETE", "RTM_CHANGE",
                                                    "RTM_GET"]),
                           "af": st.sampled_from(["inet", "inet6", "x"]), "dst": addr},
                          optional={"plen": small, "gateway": addr | st.sampled_from(IFNAMES),
                                    "iface": st.booleans(), "flags": small, "mtu": small,
                                    "expire": small, "weight": small,
                                    "ifp": st.sampled_from(IFNAMES)}).map(
        lambda a: ("rtmsg", a)),
    st.fixed_dictionaries({"type": st.sampled_from(["RTM_ADD", "RTM_DELETE", "RTM_GET"]),
                           "af": st.sampled_from(["inet", "inet6"]), "addr": addr},
                          optional={"mac": st.sampled_from(["00:11:22:33:44:55", "1:2"]),
                                    "temp": st.booleans(), "flags": small,
                                    "ifname": st.sampled_from(IFNAMES)}).map(
        lambda a: ("llmsg", a)),
    st.fixed_dictionaries({"name": st.sampled_from(["net.inet.ip.forwarding", "net.fibs",
                                                    "kern.hostname", "nope"])},
                          optional={"value": leaf}).map(lambda a: ("sysctl", a)),
)
request = plausible | st.tuples(st.sampled_from(OPS) | leaf, random_args)
batch = st.lists(st.tuples(request, st.none() | st.lists(st.integers(0, 100), max_size=3)),
                 max_size=5).map(lambda items: ("batch", {"ops": [
                     [op, args] + ([tol] if tol is not None else [])
                     for (op, args), tol in items]}))


def fresh():
    # one host uuid for every fresh stack: a restart keeps it (DIR/hostid), so a restored
    # snapshot finds its NIC by the MAC derived from it
    stack = Stack(clock=Clock(), pid=4242, hostuuid="f0220000-0000-4000-8000-000000000000")
    with stack.transaction():
        stack.if_attach("vnet0", "vnet", stable_mac(stack.hostuuid, "vnet0"))
        stack.if_attach("lo0", "lo")
    return stack, Syscalls(stack, 4242)


def listing(sc):
    return (rows(sc.if_list({})), rows(sc.rt_dump({})), rows(sc.ll_dump({"af": "inet"})),
            rows(sc.ll_dump({"af": "inet6"})), dict(sc.stack.sysctl))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(request | batch, max_size=25))
def test_ops_never_break_the_state(requests):
    """In-process: any op sequence raises only OpError (a refusal), a refusal changes
    nothing, and the invariants hold after every op."""
    stack, sc = fresh()
    for op, args in requests:
        before = listing(sc)
        try:
            apply(sc, op, args)
        except OpError:
            assert listing(sc) == before
        assert check_stack(stack) == [], (op, args)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(plausible | batch, max_size=25), st.floats(0, 3))
@example([("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.1",       # flags 0: kept
                     "mac": "00:11:22:33:44:55", "ifname": "vnet0", "flags": 0})], 0.0)
@example([("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0"}),      # temp, flags 0: kept
          ("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.1",
                     "mac": "00:11:22:33:44:55", "ifname": "vnet0", "temp": True})], 0.0)
def test_snapshot_round_trip(requests, later):
    """serialise_state/load_state rebuild exactly the same listings and state, also after
    time passed (DAD, expiry)."""
    stack, sc = fresh()
    for op, args in requests:
        try:
            apply(sc, op, args)
        except OpError:
            pass
    copy, sc2 = fresh()
    copy.pid = stack.pid
    load_state(copy, serialise_state(stack))
    assert check_stack(copy) == []
    assert listing(sc2) == listing(sc)
    assert serialise_state(copy) == serialise_state(stack)
    # the copy behaves the same from here on
    for s in (stack, copy):
        s.clock.now += later
        s.tick(s.clock())
    more = [("ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap"}),
            ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.77.0.0", "plen": 16,
                       "gateway": "lo0", "iface": True})]
    for op, args in more:
        results = []
        for s in (sc, sc2):
            try:
                results.append(apply(s, op, args))
            except OpError as exc:
                results.append(exc.errno)
        assert results[0] == results[1]
    assert listing(sc2)[:4] == listing(sc)[:4]


# -- over the socket -------------------------------------------------------------------------------
wire_leaf = st.one_of(st.sampled_from(_WORDS), st.integers(-2 ** 63, 2 ** 64 - 1),
                      st.booleans(), st.none(), st.floats(), st.binary(max_size=8),
                      st.text(max_size=8))
wire_value = st.recursive(wire_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
                          max_leaves=12)

bodies = st.one_of(
    st.binary(max_size=64),                                             # garbage
    wire_value.map(lambda v: msgpack.packb(v)),                        # not a request
    st.builds(lambda op, rid, args: msgpack.packb({"id": rid, "op": _wire(op),
                                                   "args": _wire(args)}),
              st.sampled_from(OPS) | wire_leaf, st.integers(0, 2 ** 31) | wire_leaf,
              random_args | wire_value),
    (plausible | batch).map(lambda r: msgpack.packb({"id": 5, "op": r[0],
                                                     "args": _wire(r[1])})),
    st.integers(1, 5000).map(lambda depth: b"\x91" * depth + b"\xc0"),        # nested
    st.integers(1, 3000).map(
        lambda d: b"\x83\xa2id\x01\xa2op\xa5hello\xa4args" + b"\x81\xa1a" * d + b"\xc0"),
)


def _wire(obj):
    """Make hypothesis' values msgpack-encodable (ints beyond 64 bits become strings)."""
    if isinstance(obj, int) and not isinstance(obj, bool) and not -2 ** 63 <= obj < 2 ** 64:
        return str(obj)
    if isinstance(obj, float) and math.isinf(obj):
        return obj
    if isinstance(obj, list):
        return [_wire(x) for x in obj]
    if isinstance(obj, dict):
        return {(_wire(k) if not isinstance(k, (list, dict)) else str(k)): _wire(v)
                for k, v in obj.items()}
    return obj


def _answers_due(body: bytes) -> int:
    """The answers a frame gets: one per element of a requests frame (an array of arrays,
    protocol.is_group), else one."""
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:           # garbage: one error answer
        return 1
    return len(message) if protocol.is_group(message) else 1


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    running = spawn_stack(["--nic", "vnet0=none"], sockdir=str(tmp_path_factory.mktemp("fz")))
    yield running
    running.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(bodies, min_size=1, max_size=8), st.data())
def test_frames_each_answered_once_stack_survives(fuzz_stack, frames, data):
    stack = fuzz_stack
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    assert stack.proc.poll() is None, stack.stderr()[-2000:]
    s.connect(stack.path)
    wire = b"".join(protocol.HEADER.pack(len(b)) + b for b in frames)
    cut = data.draw(st.sampled_from([None, "truncate"]))
    if cut:                             # the last frame arrives short, then the peer leaves
        wire = wire[:data.draw(st.integers(0, len(wire) - 1))]
    s.sendall(wire)
    if not cut:
        # "subscribe" answers and then pushes events; a batch with more=True waits
        due = sum(_answers_due(body) for body in frames)
        replies = _final_replies(s, due, bytearray())
        assert len(replies) == due
        assert all(isinstance(r.get("errno"), int) for r in replies)
    s.close()
    assert stack.proc.poll() is None
    with stack.client() as c:
        assert c.server["pid"] == stack.pid
        assert fetch_and_check(c) == []
    assert "Traceback" not in stack.stderr(), stack.stderr()[-3000:]   # no internal error


def test_error_reply_too_large_for_a_frame(fuzz_stack):
    """An unknown op named by an 8 MB string: its error would echo it past MAX_FRAME."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(fuzz_stack.path)
    body = msgpack.packb({"id": 3, "op": "x" * (protocol.MAX_FRAME - 25), "args": {}})
    s.sendall(protocol.HEADER.pack(len(body)) + body)
    reply = _final_replies(s, 1, bytearray())[0]
    assert (reply["id"], reply["errno"]) == (3, 7) and "exceeds" in reply["msg"]
    s.close()
    with fuzz_stack.client() as c:
        assert c.server["pid"] == fuzz_stack.pid


def test_unhashable_names_are_refused_not_internal_errors(fuzz_stack):
    """Found by tools/fuzz.py: a list where a name belongs raised TypeError in the server."""
    with fuzz_stack.client() as c:
        for op, args in [("sysctl", {"name": [1], "value": 1}), ("sysctl", {"name": [1]}),
                         ([1], {}), ("ioctl", {"req": [1]}), ("rtmsg", {"type": {}}),
                         ("rtmsg", {"type": "RTM_GET", "af": [1], "dst": "10.0.0.1"}),
                         ("llmsg", {"type": "RTM_GET", "af": {}, "addr": "10.0.0.1"})]:
            with pytest.raises(Exception) as exc:
                c.call(op, args)
            assert getattr(exc.value, "errno", None) in (22, 45, 2), (op, args)
    assert "Traceback" not in fuzz_stack.stderr()


# -- malformed IPv6 into a live stack (tools/packets6.py; tools/fuzz.py --packets6 is long) ---
def test_malformed_ipv6_is_counted_and_dropped_and_changes_nothing(tmp_path):
    f = packets6.fuzz_packets6(1500, seed=7, sockdir=str(tmp_path))
    assert f["frames"] >= 1500 and f["counted"] == f["frames"], f
    assert (f["crashes"], f["state_changed"], f["violations"], f["internal_errors"],
            f["hello_after"]) == (0, [], 0, 0, 1), f
    assert all(f["cases"].values()), f["cases"]          # every kind was sent


def test_the_ipv6_fuzzer_sees_a_state_change(tmp_path):
    """The check can fail: a valid RA (a router, its MTU) and a valid packet too big (a
    path MTU) among the malformed frames are caught as changes."""
    p6 = packets6

    def valid_ra(c, rnd):
        return [p6._ra(c, rnd)]

    def valid_too_big(c, rnd):
        return [p6._icmp(c.peer, c.me, 2, 0, 1300, p6._ours(c, rnd)[:1232])]

    f = p6.fuzz_packets6(200, seed=3, sockdir=str(tmp_path),
                         cases={"valid_ra": valid_ra, "valid_too_big": valid_too_big})
    assert {"routers", "nd", "pmtu"} <= set(f["state_changed"]), f


# the same malformed IPv6 in-process (the Rig of test_dataplane_unit: fake clock, recording
# devices): many more draws per second, the state read straight from the model
_RIG6: dict = {}


def _rig6():
    if "rig" not in _RIG6:
        rig = Rig()
        ifp = rig.ifp()
        with rig.stack.transaction():
            rig.stack.in6_aifaddr("vnet0", pton6(packets6.ME), 64)
            ifp.nd6_flags |= ND6_IFF_ACCEPT_RTADV
        rig.run(1.0)
        rig.stack.tick(rig.clock.now)
        rig.run()
        peer_ll = ipv6.eui64_link_local(packets6.PEER_MAC)
        for addr in (packets6.PEER, socket.inet_ntop(socket.AF_INET6, peer_ll)):
            rig.sys.dispatch("llmsg", {"type": "RTM_ADD", "af": "inet6", "addr": addr,
                                       "mac": ethernet.mac_format(packets6.PEER_MAC),
                                       "flags": RTF_STATIC, "ifname": "vnet0"})
        me_ll = next(a.addr for a in ifp.addrs if a.af == AF_INET6 and a.addr >> 112 == 0xFE80)
        _RIG6.update(rig=rig, ctx=packets6.Ctx(ifp.mac, me_ll.to_bytes(16, "big")))
    return _RIG6["rig"], _RIG6["ctx"]


def _state6(rig):
    ifp, stack = rig.ifp(), rig.stack
    info = stack.nd6_ifinfo(ifp)
    return (sorted((a.addr, a.plen, a.flags) for a in ifp.addrs if a.af == AF_INET6),
            stack.rt[AF_INET6].generation,
            sorted((k, e.mac, e.flags, e.router) for k, e in ifp.llinfo6.items()),
            len(stack.nd_routers), len(stack.nd_prefixes),
            (info.linkmtu, info.basereachable, info.retrans, info.chlim),
            dict(rig.dp.ip6.hostcache.entries))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(packets6.CASES)), st.integers(0, 2 ** 32))
def test_malformed_ipv6_in_process_is_counted_and_changes_nothing(case, seed):
    rig, ctx = _rig6()
    before = _state6(rig)
    total = rig.dp.ip6.ip6stat["ip6s_total"]
    packets = packets6.CASES[case](ctx, random.Random(seed))
    for packet in packets:
        rig.feed("vnet0", packets6.vxlan_payload(packets6._frame(ctx, packet)))
    rig.dev["vnet0"].take()
    assert rig.dp.ip6.ip6stat["ip6s_total"] == total + len(packets)
    assert _state6(rig) == before
