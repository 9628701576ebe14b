"""The hardening issue's attacks (RELIABILITY.md, "Bounded cost under big tables and hostile
peers"), short versions of tools/hardening.py's, plus in-process checks of the costs.

Costs are checked by counting, never by timing: the Python lines one operation executes
(sys.settrace) must not grow with the number of addresses already there.
"""
import sys

from plebnet_core.state.check import check_stack
from plebnet_core.state.stack import Stack
from plebnet_core.syscalls import Syscalls
from tools import hardening


def _stack(n: int, v6: bool = False):
    st = Stack()
    st.if_attach("lo0", "lo")
    st.if_attach("vnet0", "vnet")
    st.if_attach("vnet1", "vnet")
    sc = Syscalls(st, 1)
    sc.run_batch([_add(i, v6) for i in range(n)])
    return st, sc


def _add(i: int, v6: bool = False, ifname: str = "vnet0") -> list:
    if v6:
        return ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": ifname,
                          "addr": f"2001:db8::{i >> 16:x}:{i & 0xFFFF:x}", "plen": 64}]
    return ["ioctl", {"req": "SIOCAIFADDR", "ifname": ifname,
                      "addr": f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", "plen": 32}]


def _lines(fn) -> int:
    """Python lines executed by fn() (line events of every frame)."""
    count = [0]

    def tracer(frame, event, arg):
        if event == "line":
            count[0] += 1
        return tracer
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count[0]


def _op_lines(n: int, v6: bool) -> dict:
    """Lines executed by one add, one delete and one re-add (same address: the duplicate
    path) with n addresses already on the interface."""
    st, sc = _stack(n, v6)
    new = _add(n + 7, v6)
    delete = ["ioctl", {"req": "SIOCDIFADDR_IN6" if v6 else "SIOCDIFADDR",
                        "ifname": "vnet0", "addr": new[1]["addr"]}]
    out = {"add": _lines(lambda: sc.run_batch([new])),
           "readd": _lines(lambda: sc.run_batch([new])),
           "delete": _lines(lambda: sc.run_batch([delete]))}
    assert check_stack(st) == []
    return out


def test_address_ops_cost_does_not_grow_with_the_table():
    """Item A: 100k aliases froze the stack (quadratic: the duplicate check and the lookups
    scanned the interface's addresses).  Now an add, a re-add and a delete execute the same
    lines with 50 or 5,000 addresses there."""
    for v6 in (False, True):
        small, big = _op_lines(50, v6), _op_lines(5000, v6)
        for what in small:
            assert big[what] <= small[what] + 5, (v6, what, small, big)


def test_rollback_and_destroy_cost_linear():
    """Rolling back a batch of n adds, and destroying an interface holding n addresses,
    execute lines in proportion to n (each used to shift or search the address list)."""
    def cost(n):
        st, sc = _stack(0)
        st.if_create("tap0")
        ops = [_add(i, ifname="tap0") for i in range(n)]
        bad = ["ioctl", {"req": "SIOCSIFMTU", "ifname": "nosuch", "mtu": 1500}]
        rollback = _lines(lambda: _refused(sc, ops + [bad]))
        assert st.by_name["tap0"].addrs == []
        sc.run_batch(ops)
        destroy = _lines(lambda: sc.run_batch([["ioctl", {"req": "SIOCIFDESTROY",
                                                            "ifname": "tap0"}]]))
        assert check_stack(st) == []
        return rollback, destroy
    small, big = cost(200), cost(2000)
    for s, b in zip(small, big):
        # ten times the addresses: about ten times the lines (the route table's amortised
        # index compaction adds a little); a quadratic cost would be a hundred times
        assert b <= 20 * s, (small, big)


def _refused(sc, ops):
    try:
        sc.run_batch(ops)
    except Exception:
        return
    raise AssertionError("the batch should have failed")


def test_prefix_route_handed_over_by_index():
    """The prefix route of an address removed goes to the first other up interface holding
    the same prefix, in interface order then address order (found through the indexes now,
    as the walk found it)."""
    st, sc = _stack(0)
    sc.run_batch([
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.9.0.1", "plen": 24}],
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet1", "addr": "10.9.0.3", "plen": 24}],
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet1", "addr": "10.9.0.2", "plen": 24}],
    ])
    sc.run_batch([["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "10.9.0.1"}]])
    (route,) = st.rt[2].exact(0x0A090000, 24)
    assert route.ifp.name == "vnet1" and route.ifa.addr == 0x0A090003
    assert check_stack(st) == []


def test_alias_flood_against_a_stack():
    """The real stack: aliases added in one batch, as many again in steps, all deleted; the
    tables stay consistent (the report runs it with 100,000)."""
    r = hardening.alias_flood(3000)
    assert r["left"] == 0 and r["violations"] == 0, r


def test_listings_past_a_frame():
    """Item B: after enough aliases that vnet0's map is several MiB, ifconfig -a/-l,
    netstat -rn/-in, rc save and a dry run's reads still come back whole, every frame far
    below MAX_FRAME (an interface's addresses are split across chunks)."""
    from plebproto import protocol
    r = hardening.big_listings(protocol.CHUNK_ADDRS * 3 + 5)
    assert all(ok for ok, _, _ in r["tools"].values()), r["tools"]
    assert r["iflist_addrs"] == r["dry_run_addrs"] == r["aliases"]
    assert r["largest_frame"] < protocol.MAX_FRAME // 8, r


def test_iflist_split_and_joined(client):
    """An interface with more than CHUNK_ADDRS addresses is cut into continuation chunks;
    the client joins them in order, the other interfaces intact around it."""
    from plebproto import protocol
    n = protocol.CHUNK_ADDRS + 10
    client.batch([_add(i) for i in range(n)])
    chunks = list(client.stream("sysctl", {"name": "NET_RT_IFLIST"}))
    assert any(c and c[0].get("continues") for c in chunks)
    assert all(sum(len(r["addrs"]) for r in c) <= protocol.CHUNK_ADDRS for c in chunks)
    listed = {i["name"]: i for i in client.sysctl("NET_RT_IFLIST")}
    assert sorted(listed) == ["lo0", "vnet0"]
    assert [a["addr"] for a in listed["lo0"]["addrs"]] == ["127.0.0.1", "::1", "fe80::1%lo0"]
    addrs = [a["addr"] for a in listed["vnet0"]["addrs"] if a["af"] == "inet"]
    assert addrs == [_add(i)[1]["addr"] for i in range(n)]


def test_neighbour_storm_bounded():
    """Item C: ARP requests for our address from senders on none of our subnets teach
    nothing (in_lltable_rtcheck); on-link ARP and NDP senders fill each table up to
    net.link.lltable.max_entries and no further."""
    r = hardening.neighbour_storm(offlink=2000, onlink=3000, ndp=1500, limit=500)
    assert r["offlink_learned"] == 0, r
    assert r["onlink_learned"] == 500 and r["ndp_learned"] == 500, r
    assert r["arp_an_lines"] == 501, r        # the learned ones and our own address


def test_configured_entries_not_bounded_and_rtcheck():
    """arp -s is configuration: never refused by the bound; learning is checked against
    the interface's subnets, as in.c's in_lltable_rtcheck does."""
    from plebproto.constants import AF_INET
    st, sc = _stack(0)
    sc.run_batch([["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.1.0.1",
                             "plen": 16}],
                  ["sysctl", {"name": "net.link.lltable.max_entries", "value": 2}]])
    vnet0 = st.by_name["vnet0"]
    mac = bytes.fromhex("020000000001")
    with st.transaction():
        for i in range(5):
            st.ll_set(AF_INET, 0x0A010100 + i, mac)
    assert len(vnet0.llinfo) == 6
    st.ll_learn(AF_INET, vnet0, 0x0A010200, mac, True)      # full: not learned
    assert 0x0A010200 not in vnet0.llinfo
    sc.run_batch([["sysctl", {"name": "net.link.lltable.max_entries", "value": 0}]])
    st.ll_learn(AF_INET, vnet0, 0x0A010200, mac, True)      # 0: no bound
    st.ll_learn(AF_INET, vnet0, 0x0A020001, mac, True)      # not on 10.1/16: refused
    assert 0x0A010200 in vnet0.llinfo and 0x0A020001 not in vnet0.llinfo
    assert not st.ll_rtcheck(AF_INET, st.by_name["vnet1"], 0x0A010203)


def test_keep_going_is_one_pass():
    """Item D: `batch --keep-going` used to re-send the rest of its window after each
    failure and log every refused batch in full (quadratic).  Now the stack gets one
    keep-going batch: one audit entry for what applied, one bounded one for what was
    refused, whatever the number of failures; the output is the same line per failure."""
    r = hardening.keep_going_lines(600, every=3)
    assert r["exit"] == 1 and r["reported"] == r["refused"] == 200, r
    assert r["first"] == ("<stdin>:1: route add 10.0.0.0/24 192.0.2.1: add net 10.0.0.0: "
                          "gateway 192.0.2.1 fib 0: Network is unreachable"), r
    assert r["routes"] == 400 and r["audit_entries"] == 2, r


def test_keep_going_unit_all_or_nothing(client):
    """A unit (one command line: several ops) that fails part-way is rolled back whole; the
    reply names the failing op's index and errno, the other units are applied."""
    ok = ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.3.0.1", "plen": 24}]
    bad = ["ioctl", {"req": "SIOCSIFMTU", "ifname": "nosuch", "mtu": 1500}]
    half = ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.4.0.1", "plen": 24}]
    last = ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.5.0.1", "plen": 24}]
    r = client.batch_keep_going([ok, half, bad, last], [1, 2, 1])
    assert [f[:2] for f in r["failed"]] == [[2, 6]]         # ENXIO at op 2
    addrs = {a["addr"] for a in client.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]}
    assert {"10.3.0.1", "10.5.0.1"} <= addrs and "10.4.0.1" not in addrs
    from plebproto.errors import OpError
    try:
        client.batch_keep_going([ok], [2])
    except OpError as exc:
        assert exc.errno == 22
    else:
        raise AssertionError("units not adding up to the ops must be refused")


def test_keep_going_sliced_between_units(monkeypatch):
    """A keep-going batch is applied a slice per loop turn, as any batch: keep_going_steps
    yields between units (never inside one's savepoint), and driven slice by slice it
    ends as the one-shot run does, the failing unit rolled back whole."""
    from plebnet_core.syscalls import batch as batch_mod
    monkeypatch.setattr(batch_mod, "SLICE", 0.0)        # a yield after every unit
    bad = ["ioctl", {"req": "SIOCSIFMTU", "ifname": "nosuch", "mtu": 1500}]
    entries = [_add(1), _add(2), bad, _add(3)]
    units = [1, 2, 1]
    st, sc = _stack(0)
    steps = sc.keep_going_steps(entries, units)
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result, applied = done.value
            break
        yields += 1
        assert st.journal.depth == 1, "a yield inside a unit's savepoint"
    assert yields == len(units)
    assert [f[:2] for f in result["failed"]] == [[2, 6]]    # ENXIO at op 2
    assert applied == [entries[0], entries[3]]
    assert {a.addr for a in st.by_name["vnet0"].addrs} == {0x0A000001, 0x0A000003}
    assert check_stack(st) == []


def test_values_freebsd_refuses(stack, client):
    """Item E: negative, fractional and out-of-range values are EINVAL with the tool's
    FreeBSD message, and change nothing; an address with a NUL is EINVAL, never an
    internal error."""
    from plebproto.errors import OpError
    from tests.conftest import run_tool
    client.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.1", plen=24)
    for metric in (["-mtu", "-5"], ["-hopcount", "-1"]):
        r = run_tool(stack, "route", "add", "10.9.0.0/16", "10.0.0.2", *metric)
        assert (r.returncode, r.stdout) == (
            1, "add net 10.9.0.0: gateway 10.0.0.2 fib 0: Invalid argument\n"), r
    assert not any(row[1] == "10.9.0.0" for row in client.sysctl("NET_RT_DUMP", af="inet"))
    before = client.sysctl("net.link.ether.inet.max_age")
    for name, value in [("net.inet.ip.forwarding", 2 ** 64 - 1),
                        ("net.inet.ip.forwarding", "18446744073709551615"),
                        ("net.inet.ip.forwarding", 1.5), ("net.inet.ip.forwarding", "1.5"),
                        ("net.link.ether.inet.max_age", -5),
                        ("net.link.ether.inet.max_age", "-5"),
                        ("net.link.ether.inet.maxhold", True)]:
        try:
            client.sysctl(name, value=value)
        except OpError as exc:
            assert exc.errno == 22, (name, value)
        else:
            raise AssertionError(f"{name}={value!r} accepted")
    assert client.sysctl("net.link.ether.inet.max_age") == before
    client.sysctl("net.link.ether.inet.max_age", value="600")    # rc.conf's text form
    assert client.sysctl("net.link.ether.inet.max_age") == 600
    for req, extra in (("SIOCAIFADDR_IN6", {}), ("SIOCAIFADDR", {"plen": 24})):
        for text in ("\x00", "::1\x00", "10.0.0.9\x00"):
            try:
                client.ioctl(req, ifname="vnet0", addr=text, **extra)
            except OpError as exc:
                assert exc.errno == 22 and "internal error" not in str(exc), (req, text)
            else:
                raise AssertionError(f"{req} {text!r} accepted")
    r = run_tool(stack, "batch", "-", input="sysctl net.link.ether.inet.max_age=-5\n")
    assert r.returncode == 1 and r.stderr.startswith(
        "<stdin>:1: sysctl net.link.ether.inet.max_age=-5: sysctl: "
        "net.link.ether.inet.max_age: Invalid argument"), r.stderr


def test_peers_that_never_read():
    """Item F: a peer that never reads gets no more output than its budget, whatever it
    asks (dumps, a ping with interval 0), and everything it asked comes once it reads;
    subscribers that fall behind lose their subscription and are told (ENOBUFS)."""
    r = hardening.deaf_peers(aliases=3000, requests=60, subscribers=3, routes=30000,
                             ping_seconds=1.0)
    assert r["alive"] and r["dumps_answered"] == 60, r
    assert r["subscribers_told"] == 3, r
    # (memory is the report's figure; here: the ping's queue did not keep growing)
    assert r["rss_ping_later_mb"] - r["rss_after_ping_mb"] < 8, r


def test_pipelined_replies_leave_in_request_order(stack):
    """A dump is streamed in chunks while the loop goes on; the requests a peer pipelined
    after it (and after a batch long enough to be applied over several loop turns, behind
    which they wait) are answered after it: replies in the order asked, each id once."""
    from plebconf.rpc.client import Client
    routes = [["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{i >> 8}.{i & 255}.0",
                         "plen": 24, "gateway": "127.0.0.1"}] for i in range(20_000)]
    asks = [("batch", {"ops": routes}), ("sysctl", {"name": "NET_RT_DUMP"}),
            ("sysctl", {"name": "NET_RT_IFLIST"}),
            ("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "10.1.2.3"}),
            ("sysctl", {"name": "NET_RT_IFLIST"}),
            ("ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": 1400}),
            ("sysctl", {"name": "net.inet.ip.forwarding"})]
    with Client.connect(pid=stack.pid, directory=stack.sockdir, timeout=60) as c:
        ids = [c.send(op, args) for op, args in asks]
        finals = []
        while len(finals) < len(ids):
            msg = c.receive()
            if msg.get("progress") or msg.get("more"):
                assert msg.get("id") in (0, *ids[len(finals):len(finals) + 1]), msg
                continue
            assert msg.get("errno") == 0, msg
            finals.append(msg["id"])
    assert finals == ids


def test_a_running_ping_leaves_the_loop_idle(stack):
    """Between its packets a ping costs nothing: the loop sleeps (a task that merely runs
    must not keep rescheduling its connection's resume, which spun a CPU per stack and made
    a 50-stack lab's pings time out).  Counted in the stack's CPU seconds, not wall time."""
    import os

    from plebconf.rpc.client import Client

    def cpu() -> float:
        with open(f"/proc/{stack.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    with Client.connect(pid=stack.pid, directory=stack.sockdir, timeout=30) as c:
        before = cpu()
        rid = c.send("ping", {"dst": "127.0.0.1", "count": 3, "interval": 1.0, "size": 56,
                              "ttl": 64, "timeout": 0, "waittime": 1.0})
        while (msg := c.receive()).get("more") or msg.get("id") != rid:
            pass
        assert msg["errno"] == 0, msg
        used = cpu() - before
    assert used < 0.5, f"{used:.2f} CPU seconds during a 2-second ping"


def test_a_big_commit_leaves_its_undo_log_to_be_freed_piecewise():
    """Dropping a committed undo log frees everything it alone held (100,000 deleted
    addresses: a fifth of a second in one loop turn); past FREE_LATER records the journal
    hands it to free_later (the server frees a piece per loop turn), smaller logs go at
    once, and a rolled-back log is consumed by the rollback."""
    from plebnet_core.state.txn import FREE_LATER, free_some
    st, sc = _stack(0)
    handed: list = []
    st.journal.free_later = handed.append
    sc.run_batch([_add(i) for i in range(100)])
    assert handed == []
    n = FREE_LATER // 2         # each add records several undo steps
    sc.run_batch([_add(i) for i in range(1000, 1000 + n)])
    (log,) = handed
    records = len(log)
    assert records > FREE_LATER
    pieces = 1
    while not free_some(log):
        pieces += 1
    assert log == [] and pieces == -(-records // 16384)
    assert len(st.by_name["vnet0"].addrs) == 100 + n and check_stack(st) == []
