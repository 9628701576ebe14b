"""`plebconf batch`: command files as one atomic batch, and the compiler behind it (shapes,
templates, column-wise compilation) giving exactly what the tools' grammars give."""
import random

import pytest

from conftest import fresh_syscalls, run_tool
from plebconf.cli.common import ToolError
from plebconf.rc.apply import BatchProgram, RcProgram, command_ops, shape, tokenize
from plebproto.constants import AF_INET, AF_INET6, EEXIST
from plebproto.errors import OpError
from plebproto.protocol import pack_column
from plebnet_core.state.check import check_stack
from plebnet_core.state.inet import aton
from plebnet_core.syscalls.runs import expand

# one host uuid: stacks booted from the same rc.conf list the same MACs, as one FreeBSD host
# (one kern.hostuuid) does across reboots


def routes(stack):
    with stack.client() as c:
        return [tuple(r[:6]) for r in c.call("sysctl", {"name": "NET_RT_DUMP"})]


def setup(stack):
    """vnet0 on 192.0.2.0/24, vnet1 on 198.51.100.0/24."""
    result = run_tool(stack, "batch", "-", input="ifconfig vnet0 inet 192.0.2.10/24\n"
                                                  "ifconfig vnet1 inet 198.51.100.1/24\n")
    assert (result.returncode, result.stderr) == (0, "")


BATCH = """\
# uplink
ifconfig vnet0 inet 192.0.2.10/24 up
ifconfig vnet0 description "uplink port"

route add -net 10.1.0.0/16 192.0.2.1   # lab
route add -net 10.2.0.0/16 192.0.2.1
arp -s 192.0.2.77 00:00:5e:00:53:77
"""


def test_batch_file_applies_every_line(stack2, tmp_path):
    path = tmp_path / "cmds"
    path.write_text(BATCH)
    result = run_tool(stack2, "batch", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    rt = routes(stack2)
    assert ("inet", "10.1.0.0", 16, "192.0.2.1", 0x803, "vnet0") in rt
    assert ("inet", "10.2.0.0", 16, "192.0.2.1", 0x803, "vnet0") in rt
    with stack2.client() as c:
        info = c.call("sysctl", {"name": "NET_RT_IFLIST", "ifname": "vnet0"})[0]
        arp = c.call("sysctl", {"name": "NET_RT_FLAGS", "af": "inet"})
    assert info["description"] == "uplink port"
    assert any(e["addr"] == "192.0.2.77" and e["mac"] == "00:00:5e:00:53:77" for e in arp)


def test_batch_is_atomic_and_cites_the_line(stack2, tmp_path):
    setup(stack2)
    before = routes(stack2)
    path = tmp_path / "cmds"
    path.write_text("route add -net 10.1.0.0/16 192.0.2.1\n# comment\n\n"
                    "route add -net 10.2.0.0/16 192.0.2.1\n"
                    "route add -net 10.3.0.0/16 10.99.0.1\n"
                    "route add -net 10.4.0.0/16 192.0.2.1\n")
    result = run_tool(stack2, "batch", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"{path}:5: route add -net 10.3.0.0/16 10.99.0.1: "
        "add net 10.3.0.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "batch: nothing applied; the stack is unchanged\n")
    assert routes(stack2) == before


def test_batch_grammar_errors_all_reported_nothing_sent(stack2):
    setup(stack2)
    before = routes(stack2)
    result = run_tool(stack2, "batch", "-", input=(
        "route add -net 10.1.0.0/16 192.0.2.1\n"
        "route add -net 10.1.0.0/33 192.0.2.1\n"
        "ifconfig vnet0 mtu\n"
        'ifconfig vnet0 description "unterminated\n'
        "ping 192.0.2.1\n"))
    assert result.returncode == 1
    assert result.stderr == (
        "<stdin>:2: route add -net 10.1.0.0/33 192.0.2.1: route: bad mask length: 33\n"
        "<stdin>:3: ifconfig vnet0 mtu: ifconfig: 'mtu' requires argument\n"
        '<stdin>:4: ifconfig vnet0 description "unterminated: No closing quotation\n'
        "<stdin>:5: ping 192.0.2.1: ping: not a command plebconf can apply "
        "(ifconfig, route, arp, ndp -s, sysctl, hostname, dhclient)\n"
        "batch: nothing applied; the stack is unchanged\n")
    assert routes(stack2) == before


def test_batch_keep_going_applies_the_rest(stack2):
    setup(stack2)
    result = run_tool(stack2, "batch", "--keep-going", "-", input=(
        "route add -net 10.1.0.0/16 192.0.2.1\n"
        "route add -net 10.3.0.0/16 10.99.0.1\n"
        "route add -net 10.1.0.0/16 192.0.2.1\n"
        "ifconfig vnet9 up\n"
        "route add -net 10.4.0.0/16 198.51.100.9\n"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "<stdin>:2: route add -net 10.3.0.0/16 10.99.0.1: "
        "add net 10.3.0.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "<stdin>:3: route add -net 10.1.0.0/16 192.0.2.1: "
        "add net 10.1.0.0: gateway 192.0.2.1 fib 0: route already in table\n"
        "<stdin>:4: ifconfig vnet9 up: ifconfig: interface vnet9 does not exist\n")
    dsts = {(r[1], r[2]) for r in routes(stack2)}
    assert {("10.1.0.0", 16), ("10.4.0.0", 16)} <= dsts
    assert ("10.3.0.0", 16) not in dsts


def test_batch_from_stdin(stack2):
    setup(stack2)
    result = run_tool(stack2, "batch", "-", input="route add 10.9.9.9 192.0.2.1\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert ("inet", "10.9.9.9", 32, "192.0.2.1", 0x807, "vnet0") in routes(stack2)


def test_long_batch_runs_and_line_numbers(stack2, tmp_path):
    """Thousands of same-shape lines go as compact runs; a failure inside one still names
    its own line, also past comments and other shapes."""
    setup(stack2)
    lines = [f"route add -net 10.{i >> 8}.{i & 255}.0/24 192.0.2.1" for i in range(3000)]
    lines.insert(1000, "# a comment in the middle")
    lines.insert(2000, "route add -host 172.16.0.1 198.51.100.7")
    lines[2500] = "route add -net 10.200.1.0/24 10.99.0.1"       # unreachable gateway
    path = tmp_path / "routes"
    path.write_text("\n".join(lines) + "\n")
    before = routes(stack2)
    result = run_tool(stack2, "batch", str(path))
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:2501: route add -net 10.200.1.0/24 10.99.0.1: "
        "add net 10.200.1.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "batch: nothing applied; the stack is unchanged\n")
    assert routes(stack2) == before
    lines[2500] = "route add -net 10.200.1.0/24 192.0.2.1"
    path.write_text("\n".join(lines) + "\n")
    result = run_tool(stack2, "batch", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert len(routes(stack2)) == len(before) + 3001


def test_batch_of_100000_lines_reports_and_exits_like_a_short_one(stack2, tmp_path):
    """A long file (the tool leaves at once when done, skipping the interpreter's teardown
    of its lines): the same messages and exit status, all of them out."""
    setup(stack2)
    lines = [f"route add -net {11 + (i >> 16)}.{i >> 8 & 255}.{i & 255}.0/24 192.0.2.1"
             for i in range(100_000)]
    lines[99_998] = "route add -net 10.200.1.0/24 10.99.0.1"     # unreachable gateway
    path = tmp_path / "routes"
    path.write_text("\n".join(lines) + "\n")
    before = routes(stack2)
    result = run_tool(stack2, "batch", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"{path}:99999: route add -net 10.200.1.0/24 10.99.0.1: "
        "add net 10.200.1.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "batch: nothing applied; the stack is unchanged\n")
    assert routes(stack2) == before
    del lines[99_998]
    path.write_text("\n".join(lines) + "\n")
    result = run_tool(stack2, "batch", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert len(routes(stack2)) == len(before) + 99_999


# ---------------------------------------------------------------- the compiler (no stack)
def expanded(entries) -> list:
    return [[op, args] if tol is None else [op, args, tol]
            for _, op, args, tol in expand(entries)]


def grammar_ops(lines) -> list:
    out = []
    for line in lines:
        argv = tokenize(line)
        if argv:
            out.extend(command_ops(argv).ops)
    return out


def mixed_lines(seed=7, n=600) -> list[str]:
    rng = random.Random(seed)

    def addr():
        return rng.choice([f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                           f"192.0.2.{rng.randrange(256)}", "127.0.0.1", "0.0.0.0",
                           "224.0.0.5", f"{rng.randrange(1, 224)}.0.0.0"])
    shapes = [
        lambda: f"route add -net 10.{rng.randrange(256)}.{rng.randrange(256)}.0/24 192.0.2.1",
        lambda: f"route add -net {addr()}/{rng.choice([8, 16, 24])} 192.0.2.1",
        lambda: f"route add -host {addr()} {addr()}",
        lambda: f"route add {addr()} -iface vnet0",
        lambda: f"route add -net {addr()}/16 {addr()} -blackhole",
        lambda: f"route delete -net {addr()}/24",
        lambda: f"ifconfig vnet0 inet {addr()}/24 alias",
        lambda: f"ifconfig vnet0 inet {addr()} netmask 255.255.0.0",
        lambda: f"ifconfig vnet1 inet {addr()}/{rng.choice([24, 32])}",
        lambda: f"arp -S {addr()} 00:00:5e:00:53:{rng.randrange(256):02x}",
        lambda: f"route add -net 010.1.2.0/24 {addr()}",
        lambda: "# comment 10.0.0.1",
        lambda: "",
    ]
    lines = []
    while len(lines) < n:
        make = rng.choice(shapes)
        lines += [make() for _ in range(rng.choice([1, 2, 20, 40]))]
    return lines


def test_compiled_batch_is_exactly_what_the_grammars_give():
    lines = mixed_lines()
    program = BatchProgram("\n".join(lines), "mixed").compile_all()
    assert program.failures == []
    assert any(seg[0] == "run" and len(seg[2][0]) >= 16 for seg in program.segments)
    assert expanded(program.entries()) == grammar_ops(lines)
    # keep-going form: the same ops, unit by unit
    assert [e for _, es in program.unit_entries() for e in es] == grammar_ops(lines)


@pytest.mark.parametrize("ending", ["\n", "", "\nroute add -host 172.16.0.1 192.0.2.1\n"])
@pytest.mark.parametrize("odd", [None, "010.1.2.0", "10.1.2.0/24 192.0.2.2"])
def test_a_file_of_one_shape_compiles_as_its_lines_do(ending, odd):
    """A file whose every line has one skeleton is compiled without splitting it into
    lines (one group): the same ops, the same line numbers, as line by line; an odd line
    (leading zero, another gateway) or another ending takes the general path."""
    lines = [f"route add -net 10.{i >> 8}.{i & 255}.0/24 192.0.2.1" for i in range(300)]
    if odd:
        lines[150] = f"route add -net {odd}" + ("" if " " in odd else "/24 192.0.2.1")
    text = "\n".join(lines) + ending
    program = BatchProgram(text, "f").compile_all()
    assert (program._lines is None) == (odd != "010.1.2.0" and ending == "\n")   # unsplit
    assert program.failures == []
    assert expanded(program.entries()) == grammar_ops(text.split("\n"))
    assert [program.describe(u) for u in (0, 150, 299)] == [
        f"f:{n + 1}: {lines[n]}" for n in (0, 150, 299)]
    assert program.line_count == len(text.split("\n"))


@pytest.mark.parametrize("odd", [None, "10.1.2.0/33 192.0.2.1", "10.1.2.0/024 192.0.2.1",
                                 "10.1.2.0/0 192.0.2.1"])
def test_a_table_of_mixed_lengths_and_gateways_is_one_run(odd):
    """Lines of one skeleton whose prefix lengths and gateways vary (a routing table) make
    one run with a length column, once each length was checked by the grammar: the same
    ops and line numbers as line by line; an odd line (a length the grammar refuses, a
    leading zero) takes the general path and is reported or compiled as the grammar says."""
    rng = random.Random(5)
    lines = [f"route add -net {rng.randrange(1, 224)}.{rng.randrange(256)}.{i & 255}.0/"
             f"{rng.choice([8, 12, 16, 19, 22, 23, 24, 24, 24, 28, 32])} "
             f"192.0.2.{rng.randrange(1, 4)}" for i in range(400)]
    lines = [line for line in lines if not line.startswith("route add -net 127.")]
    if odd:
        lines[150] = f"route add -net {odd}"
    text = "\n".join(lines) + "\n"
    program = BatchProgram(text, "t").compile_all()
    ops = grammar_ops(text.split("\n")) if odd != "10.1.2.0/33 192.0.2.1" else None
    if ops is None:     # the grammar refuses /33: the line is reported, the others compile
        assert [unit for unit, _ in program.failures] == [150]
        return
    assert program.failures == []
    assert expanded(program.entries()) == ops
    assert [program.describe(u) for u in (0, 150, len(lines) - 1)] == [
        f"t:{n + 1}: {lines[n]}" for n in (0, 150, len(lines) - 1)]
    runs = [seg for seg in program.segments if seg[0] == "run"]
    if odd is None:
        assert len(runs) == 1 and len(runs[0][2][0]) == len(lines) - 1


@pytest.mark.parametrize("odd_at", [None, 40, 300])
@pytest.mark.parametrize("ipv6", [False, True])
def test_a_long_group_compiled_in_two_processes_is_what_one_gives(monkeypatch, odd_at, ipv6):
    """BatchProgram(parallel=True) cuts a long group in two halves, the second compiled by
    a forked child: the same ops (expanded), line numbers and keep-going units as one
    process gives, whichever half holds an odd line (then compiled line by line)."""
    from plebconf.rc import programs
    monkeypatch.setattr(programs, "PARALLEL_LINES", 100)
    rng = random.Random(9)
    if ipv6:
        lines = [f"route add -6 -net 2001:db8:{rng.randrange(1 << 16):x}::/"
                 f"{rng.choice([32, 44, 48, 48])} 2001:db8:ffff::{rng.randrange(1, 4)}"
                 for _ in range(400)]
    else:
        lines = [f"route add -net {rng.randrange(1, 127)}.{rng.randrange(256)}."
                 f"{rng.randrange(256)}.0/{rng.choice([16, 20, 22, 24, 24])} "
                 f"192.0.2.{rng.randrange(1, 4)}" for _ in range(400)]
    if odd_at is not None:      # a leading zero: not a plain value, the grammar's line
        lines[odd_at] = "route add -net 10.1.2.0/024 192.0.2.1" if not ipv6 else \
            "route add -6 -net 2001:db8::/048 2001:db8:ffff::1"
    text = "\n".join(lines) + "\n"
    one = BatchProgram(text, "t").compile_all()
    two = BatchProgram(text, "t", parallel=True).compile_all()
    assert len([seg for seg in two.segments if seg[0] == "run"]) >= 2   # (it was cut)
    assert expanded(two.entries()) == expanded(one.entries()) == grammar_ops(lines)
    assert two.unit_entries() == one.unit_entries()
    assert [two.locate(k) for k in range(len(lines))] == [one.locate(k)
                                                          for k in range(len(lines))]
    assert [two.describe(u) for u in range(len(lines))] == \
        [one.describe(u) for u in range(len(lines))]


def test_compiled_rc_steps_are_what_the_grammars_give():
    lines = mixed_lines(seed=11, n=300)
    program = RcProgram()
    argvs = [tokenize(line) for line in lines]
    argvs = [a for a in argvs if a]
    for n, argv in enumerate(argvs):
        program.add(argv, f"x:{n}: v: ")
    assert expanded(program.entries()) == [e for a in argvs for e in command_ops(a).ops]


def test_failure_index_maps_to_its_unit():
    lines = [f"route add -net 10.{i}.0.0/16 192.0.2.1" for i in range(40)]
    lines[5:5] = ["", "# c"]
    lines.insert(30, "ifconfig vnet0 up")
    program = BatchProgram("\n".join(lines), "f").compile_all()
    ops = expanded(program.entries())
    for index, op in enumerate(ops):
        unit, k = program.locate(index)
        assert k == 0
        assert command_ops(program.argv(unit)).ops == [op]
    assert program.describe(program.locate(30)[0]) == "f:33: route add -net 10.29.0.0/16 192.0.2.1"


def test_shapes_cut_out_plain_addresses_only():
    assert shape(["route", "add", "-net", "10.1.0.0/16", "192.0.2.1"]) == (
        ("route", "add", "-net", ("\0", "/16"), ("\0", "")), ["10.1.0.0", "192.0.2.1"])
    assert shape(["route", "add", "-6", "-net", "2001:db8::/32", "fd00::1"]) == (
        ("route", "add", "-6", "-net", ("\0", "/32"), ("\0", "")), ["2001:db8::", "fd00::1"])
    for word in ("127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.0.0", "010.1.1.1", "1.2.3",
                 "10.1.1.256", "vnet0", "::", "::1", "::ffff:10.0.0.1", "64:ff9b::10.0.0.1",
                 "fe80::1", "fe80::1%vnet0", "ff02::1", "ffff:ffff::", "2001:db8::1%vnet0",
                 "2001:db8:::1", "2001:db8::g", "dead", "a:b"):
        assert shape(["x", word]) == (("x", word), [])


def test_a_derived_field_keeps_the_grammar_running():
    """A field computed from an address (here: a made-up tool whose op carries the
    network) must not be templated: every line then runs the grammar."""
    from plebconf.rc import command as mod

    def ops_for(args):
        addr, plen = args[0].split("/")
        net = ".".join(addr.split(".")[:3]) + ".0"
        return mod.ToolOps([["rtmsg", {"dst": addr, "net": net, "plen": int(plen)}]], ["x"])
    mod_grammar = mod.grammar
    try:
        mod.grammar = lambda tool: ops_for
        lines = [f"fake 10.1.{i}.5/24" for i in range(40)]
        program = BatchProgram("\n".join(lines), "f").compile_all()
        assert all(seg[0] == "ops" for seg in program.segments)
        assert expanded(program.entries()) == [ops_for([f"10.1.{i}.5/24"]).ops[0]
                                               for i in range(40)]
    finally:
        mod.grammar = mod_grammar


def test_command_ops_of_the_rc_only_commands():
    assert command_ops(["hostname", "h.example"]).ops == [
        ["sysctl", {"name": "kern.hostname", "value": "h.example"}]]
    assert command_ops(["sysctl", "net.inet.ip.forwarding=1"]).ops == [
        ["sysctl", {"name": "net.inet.ip.forwarding", "value": "1"}]]
    assert command_ops(["ndp", "-s", "2001:db8::1", "0:0:5e:0:53:1", "proxy"]).ops == [
        ["llmsg", {"type": "RTM_ADD", "af": "inet6", "addr": "2001:db8::1",
                   "mac": "00:00:5e:00:53:01", "flags": 0x800 | 0x4000}]]
    with pytest.raises(ToolError):
        command_ops(["ifconfig", "-a"])         # a listing changes nothing


# ---------------------------------------------------------------- the stack's route runs
_fresh = fresh_syscalls


def _prefixes(sc, af=AF_INET):
    """The table's prefixes, as (text, plen), without the host routes of addresses."""
    from plebnet_core.state.inet import ntoa, ntop6
    text = ntoa if af == AF_INET else ntop6
    return sorted((text(r.dst), r.plen) for r in sc.stack.rt[af].paths()
                  if r.plen < (32 if af == AF_INET else 128))


def _dump(sc):
    return sc.dispatch("sysctl", {"name": "NET_RT_DUMP"}).collect()


@pytest.mark.parametrize("bad", [None, 7, "plen", "addr", "dup", "multipath", "width",
                                 "nogw", "listener", "empty", "v6", "dup-then-addr",
                                 "addr-then-dup", "short-row", "gw-type"])
def test_route_run_is_what_its_ops_one_by_one_are(bad):
    """Syscalls applies runs of plain RTM_ADDs without expanding them: same table, same
    results, same failing index and errno, nothing changed on failure."""
    from plebconf.rpc.client import run
    rows = [[f"10.{i}.0.0", 16, "10.0.0.1"] for i in range(12)]
    if bad == 7:
        rows[7][2] = "192.0.2.1"                   # unreachable gateway: ENETUNREACH
    elif bad == "plen":
        rows[5][1] = "16"
    elif bad == "addr":
        rows[3][0] = "10.1"
    elif bad == "dup":
        rows[9] = list(rows[2])                    # EEXIST
    elif bad == "multipath":
        rows.append(["10.2.0.0", 16, "10.0.0.9"])  # a second path: fine
    elif bad == "width":
        rows[4][1] = 33
    elif bad == "nogw":
        rows[6][2] = None
    elif bad == "empty":
        rows = []
    elif bad == "v6":
        rows[3][0] = "2001:db8::"                  # not an IPv4 address: EINVAL
    elif bad == "dup-then-addr":                   # the earlier failure is the one named
        rows[4] = list(rows[1])
        rows[8][0] = "10.1"
    elif bad == "addr-then-dup":
        rows[4][0] = "10.1"
        rows[8] = list(rows[1])
    elif bad == "short-row":
        rows[5] = rows[5][:2]
    elif bad == "gw-type":
        rows[2][2] = 10
    base = {"type": "RTM_ADD", "af": "inet"}
    fields = ["dst", "plen", "gateway"]
    head = [["sysctl", {"name": "kern.hostname", "value": "x"}]]
    as_run = head + [run("rtmsg", base, fields, rows)]
    forms = [as_run]
    if rows and all(len(r) == 3 for r in rows):
        forms.append(head + [run("rtmsg", base, fields,
                                 columns=[list(c) for c in zip(*rows)])])
        if bad in (None, 7, "dup", "multipath", "width", "listener"):   # packable values
            forms.append(head + [run("rtmsg", base, fields, columns=[
                pack_column("dst", "inet", [aton(r[0]) for r in rows]),
                pack_column("plen", "inet", [r[1] for r in rows]),
                pack_column("gateway", "inet", [aton(r[2]) for r in rows])])])
    if rows and bad != "short-row" and len({r[2] for r in rows}) == 1:   # gateway in args
        forms.append(head + [run("rtmsg", {**base, "gateway": rows[0][2]}, ["dst", "plen"],
                                 columns=[[r[0] for r in rows], [r[1] for r in rows]])])
    one_by_one = head + [["rtmsg", {**base, **dict(zip(fields, r))}] for r in rows]
    outcomes = []
    for entries in forms + [one_by_one]:
        sc = _fresh()
        if bad == "listener":                       # events wanted: route by route
            sc.stack.journal.listeners.append(lambda events: None)
        before = _dump(sc)
        try:
            outcome = ("ok", sc.run_batch(entries))
        except OpError as exc:
            outcome = ("error", exc.index, exc.errno)
            assert _dump(sc) == before
        assert check_stack(sc.stack) == []
        outcomes.append((outcome, _dump(sc)))
    assert all(outcome == outcomes[-1] for outcome in outcomes)
    assert (outcomes[0][0][0] == "ok") == (bad in (None, "multipath", "listener", "empty"))
    assert len(outcomes) >= 2


def test_packed_columns():
    """Packed columns (protocol.PACKED) carry ints; a general run gets them back as text;
    a wrong length, an unpackable field or a wrong value size is EINVAL, never a crash."""
    from plebconf.rpc.client import run
    sc = _fresh()
    dsts = [aton(f"10.{i}.0.0") for i in range(1, 5)]
    base = {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"}
    sc.run_batch([run("rtmsg", base, ["dst", "plen"], columns=[
        pack_column("dst", "inet", dsts), pack_column("plen", "inet", [16] * 4)])])
    assert _prefixes(sc) == [("10.0.0.0", 24), ("10.1.0.0", 16), ("10.2.0.0", 16),
                             ("10.3.0.0", 16), ("10.4.0.0", 16)]
    # a general run (deletes): packed addresses handed to the handler as text
    sc.run_batch([run("rtmsg", {"type": "RTM_DELETE", "af": "inet", "plen": 16}, ["dst"],
                      columns=[pack_column("dst", "inet", dsts[:2])])])
    assert _prefixes(sc) == [("10.0.0.0", 24), ("10.3.0.0", 16), ("10.4.0.0", 16)]
    six = {"type": "RTM_ADD", "af": "inet6", "gateway": "fe80::1%vnet0", "plen": 64}
    sc.run_batch([["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0",
                             "addr": "2001:db8::2", "plen": 64}],
                  run("rtmsg", six, ["dst"], columns=[
                      pack_column("dst", "inet6", [0x20010DB8_0001 << 80])])])
    assert ("2001:db8:1::", 64) in _prefixes(sc, AF_INET6)
    before = _dump(sc)
    for columns, fields in ([b"\x0a\x00\x00", [16]], ["dst", "plen"]), \
            ([["10.9.0.0"], b"\x10\x10"], ["dst", "plen"]), \
            ([b"\x0a\x09\x00\x00"], ["weight"]), \
            ([b"\x0a\x09\x00\x00", 5], ["dst", "plen"]):
        with pytest.raises(OpError) as caught:
            sc.run_batch([run("rtmsg", base, fields, columns=columns)])
        assert caught.value.errno == 22
    assert _dump(sc) == before


def test_indexed_columns():
    """An indexed packed column (its few values packed, a byte per row: how a table's
    gateways travel) applies as the same column packed in full would, for either family,
    also as a general run (keep-going: given back as text); a malformed one (an index past
    its values, a values length not a multiple of the size, a missing part, a field that
    cannot be packed) is EINVAL and changes nothing."""
    from plebconf.rpc.client import run
    gateways = [aton("10.0.0.1"), aton("10.0.0.2"), aton("10.0.0.3")]
    dsts = [aton(f"10.{i}.0.0") for i in range(1, 40)]
    rows = [i * 7 % 3 for i in range(len(dsts))]
    base = {"type": "RTM_ADD", "af": "inet", "plen": 16}
    full, indexed = _fresh(), _fresh()
    for sc in (full, indexed):
        sc.run_batch([["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.9",
                                 "plen": 24}]])
    full.run_batch([run("rtmsg", base, ["dst", "gateway"], columns=[
        pack_column("dst", "inet", dsts),
        pack_column("gateway", "inet", [gateways[r] for r in rows])])])
    column = {"values": pack_column("gateway", "inet", gateways), "index": bytes(rows)}
    indexed.run_batch([run("rtmsg", base, ["dst", "gateway"], columns=[
        pack_column("dst", "inet", dsts), column])])
    assert _dump(indexed) == _dump(full) and len(_prefixes(full)) > len(dsts)
    # a long run in several parts (joined, then applied a chunk at a time), either family
    for af, width, addrs, gws in (
            ("inet", 32, [aton(f"11.{i >> 8 & 255}.{i & 255}.0") for i in range(20_000)],
             gateways),
            ("inet6", 128, [(0x20010DB8 << 96) | (i << 64) for i in range(20_000)],
             [(0x20010DB8 << 96) | (0xFFFF << 80) | g for g in (1, 2, 3)])):
        rows = [i * 7 % 3 for i in range(len(addrs))]
        sc_full, sc_indexed = _fresh(), _fresh()
        for sc in (sc_full, sc_indexed):
            sc.run_batch([["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0",
                                     "addr": "10.0.0.9", "plen": 24}],
                          ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0",
                                     "addr": "2001:db8:ffff::9", "plen": 64}]])
        args = {"type": "RTM_ADD", "af": af, "plen": 24 if af == "inet" else 64}
        parts = range(0, len(addrs), 7000)
        sc_full.run_batch([run("rtmsg", args, ["dst", "gateway"], columns=[
            pack_column("dst", af, addrs[k:k + 7000]),
            pack_column("gateway", af, [gws[r] for r in rows[k:k + 7000]])]) for k in parts])
        sc_indexed.run_batch([run("rtmsg", args, ["dst", "gateway"], columns=[
            pack_column("dst", af, addrs[k:k + 7000]),
            {"values": pack_column("gateway", af, gws), "index": bytes(rows[k:k + 7000])}])
            for k in parts])
        # (the stacks' link-local addresses differ: their random MACs)
        loaded = [[r for r in _dump(sc) if r[1].startswith(("11.", "2001:db8:"))]
                  for sc in (sc_full, sc_indexed)]
        assert loaded[0] == loaded[1] and len(loaded[0]) > 20_000
    # keep-going (a general run): the rows given back as text
    result, _ = indexed.run_batch_keep_going([run(
        "rtmsg", {"type": "RTM_DELETE", "af": "inet", "plen": 16}, ["dst", "gateway"],
        columns=[pack_column("dst", "inet", dsts[:3]),
                 {"values": column["values"], "index": bytes(rows[:3])}])], [1])
    assert result["failed"] == [] and len(_prefixes(indexed)) == len(_prefixes(full)) - 3
    before = _dump(indexed)
    for bad in ({"values": column["values"], "index": bytes([0, 3])},
                {"values": column["values"][:5], "index": bytes([0, 1])},
                {"index": bytes([0, 1])},
                {"values": column["values"], "index": [0, 1]}):
        with pytest.raises(OpError) as caught:
            indexed.run_batch([run("rtmsg", base, ["dst", "gateway"], columns=[
                pack_column("dst", "inet", [aton("10.200.0.0"), aton("10.201.0.0")]), bad])])
        assert caught.value.errno == 22
    with pytest.raises(OpError) as caught:
        indexed.run_batch([run("rtmsg", base, ["dst", "weight"], columns=[
            pack_column("dst", "inet", [aton("10.200.0.0")]),
            {"values": b"\x00\x00\x00\x01", "index": b"\x00"}])])
    assert caught.value.errno == 22
    assert _dump(indexed) == before


def test_indexed_parts_join_as_their_rows_decoded_would():
    """The parts of an indexed column (runs.Indexed), each naming its values in its own
    order, join into one (rows renumbered) whose rows, sliced anywhere, are the parts'
    rows decoded one after the other; past 256 values together they join decoded."""
    from plebnet_core.syscalls.runs import Indexed, concat
    rng = random.Random(2)
    for values_per_part in (3, 64, 200):
        parts, want = [], []
        for _ in range(4):
            values = rng.sample(range(1000, 1000 + 2 * values_per_part), values_per_part)
            rows = bytes(rng.randrange(values_per_part) for _ in range(500))
            parts.append(Indexed(values, rows))
            want += [values[r] for r in rows]
        joined = concat(parts)
        assert (type(joined) is Indexed) == (values_per_part <= 64)
        assert list(joined) == want and len(joined) == len(want)
        assert joined[100:1700] == want[100:1700] and joined[5] == want[5]
        assert joined.index(want[777]) == want.index(want[777])
        assert list(parts[0] + parts[1]) == want[:1000]


def test_a_table_compiles_its_gateways_as_an_indexed_column():
    """A table's gateway column (few distinct addresses) travels indexed; expanded, the
    run is exactly the lines' ops, for either family."""
    rng = random.Random(4)
    for six in (False, True):
        if six:
            lines = [f"route add -6 -net 2001:db8:{i:x}::/48 2001:db8:ffff::{rng.randrange(1, 4)}"
                     for i in range(6000)]
        else:
            lines = [f"route add -net 10.{i >> 8}.{i & 255}.0/24 192.0.2.{rng.randrange(1, 4)}"
                     for i in range(6000)]
        program = BatchProgram("\n".join(lines) + "\n", "t").compile_all()
        runs = [e for e in program.entries() if type(e) is dict]
        assert any(type(c) is dict for e in runs for c in e["columns"])
        assert expanded(program.entries()) == grammar_ops(lines)


# ------------------------------------------------------- unmade prefixes (RouteTable.add_unmade)
def _through_one_gateway(n=300):
    """A stack whose n /24 routes (plus /16s, /32s) came as one run through 10.0.0.1: filed
    without Route objects, their lookup arrays not filled yet."""
    from plebconf.rpc.client import run
    sc = _fresh()
    dsts = [aton(f"20.{i // 200}.{i % 200}.0") for i in range(n)] + \
        [aton(f"30.{i}.0.0") for i in range(20)] + [aton(f"40.0.0.{i}") for i in range(20)]
    plens = [24] * n + [16] * 20 + [32] * 20
    sc.run_batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"},
                      ["dst", "plen"], columns=[pack_column("dst", "inet", dsts),
                                                pack_column("plen", "inet", plens)])])
    table = sc.stack.rt[AF_INET]
    assert table.unmade == n + 40 and table.unsettled >= n + 40
    return sc


def _one_by_one_dump(n=300):
    sc = _fresh()
    rows = [(f"20.{i // 200}.{i % 200}.0", 24) for i in range(n)] + \
        [(f"30.{i}.0.0", 16) for i in range(20)] + [(f"40.0.0.{i}", 32) for i in range(20)]
    sc.run_batch([["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": d, "plen": p,
                             "gateway": "10.0.0.1"}] for d, p in rows])
    return _dump(sc)


def test_unmade_prefixes_read_as_the_routes_rt_add_makes():
    """Dumps and RTM_GET read an unmade prefix's NextHop, lookups make its Route on demand:
    both give what one-by-one RTM_ADDs give, before and after the arrays are filled."""
    sc = _through_one_gateway()
    table = sc.stack.rt[AF_INET]
    assert _dump(sc) == _one_by_one_dump()
    for how in ({}, {"plen": 24}):
        got = sc.dispatch("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "20.1.5.9", **how})
        assert (got["dst"], got["plen"], got["gateway"], got["ifname"]) == \
            ("20.1.5.0", 24, "10.0.0.1", "vnet0")
    assert table.unmade == 340 and table.unsettled      # a read makes nothing
    table.lookup(aton("20.1.5.9"))
    assert table.unmade == 339 and table.unsettled      # made on demand, arrays still pending
    assert check_stack(sc.stack) == []                  # (settles: probes, then arrays)
    assert table.unsettled == 0
    assert table.lookup(aton("40.0.0.7"))[0].plen == 32
    assert _dump(sc) == _one_by_one_dump()


def test_unmade_prefixes_change_and_go_like_routes():
    """RTM_CHANGE and RTM_DELETE of an unmade prefix, and removing the address its gateway
    depends on, act as on any route (the prefixes are made first)."""
    sc = _through_one_gateway()
    sc.run_batch([["rtmsg", {"type": "RTM_CHANGE", "af": "inet", "dst": "20.0.3.0",
                             "plen": 24, "mtu": 1400}],
                  ["rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": "30.4.0.0",
                             "plen": 16}]])
    rows = {(r[1], r[2]): r for r in _dump(sc)}
    assert rows[("20.0.3.0", 24)][7] == 1400 and ("30.4.0.0", 16) not in rows
    assert check_stack(sc.stack) == []
    sc.run_batch([["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "10.0.0.2"}]])
    assert [r for r in _dump(sc) if r[0] == "inet" and not r[1].startswith("127.")] == []
    assert sc.stack.rt[AF_INET].unmade == 0 and check_stack(sc.stack) == []


def test_failing_batch_after_an_unmade_run_leaves_nothing_behind():
    """The run's prefixes go with the rollback: dicts, counts and reserved slots."""
    sc = _fresh()
    table = sc.stack.rt[AF_INET]
    before, slots = _dump(sc), _slots_in_use(table)
    from plebconf.rpc.client import run
    with pytest.raises(OpError) as exc:
        sc.run_batch([run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"},
                          ["dst", "plen"], columns=[[f"20.0.{i}.0" for i in range(50)],
                                                    [24] * 50]),
                      ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "20.0.7.0",
                                 "plen": 24, "gateway": "10.0.0.1"}]])
    assert exc.value.index == 50 and exc.value.errno == EEXIST
    assert _dump(sc) == before and _slots_in_use(table) == slots
    assert (table.unmade, table.unsettled) == (0, 0)
    assert check_stack(sc.stack) == []
    sc.run_batch([["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0", "addr": "10.0.0.2"}]])
    assert check_stack(sc.stack) == []


def _slots_in_use(table):
    """Lookup slots naming a prefix's paths or a NextHop some prefix names (a NextHop no
    prefix names keeps its slot, to be shared again)."""
    return sum(1 for s in table._lpm.slots if s is not None and getattr(s, "refs", 1))


@pytest.mark.parametrize("placed", [0, 7, 400])
def test_rollback_of_an_unmade_run_whose_arrays_are_partly_filled(placed):
    """A transaction that files a run, lets the stack place some of it in the lookup arrays,
    then fails: everything of the run goes, the arrays included."""
    st = _fresh().stack
    table = st.rt[AF_INET]
    before = sorted((r.dst, r.plen) for r in table.paths())
    with pytest.raises(RuntimeError), st.transaction():
        st.rt_add_many(AF_INET, [aton(f"20.{i >> 8}.{i & 255}.0") for i in range(300)] +
                       [aton(f"21.{i}.0.0") for i in range(100)],
                       [24] * 300 + [16] * 100, aton("10.0.0.1"))
        st.rt_get(AF_INET, aton("20.0.9.1"))        # one made into a Route
        st.settle(budget=placed)
        raise RuntimeError("the batch fails later")
    assert sorted((r.dst, r.plen) for r in table.paths()) == before
    assert (table.unmade, table.unsettled) == (0, 0)
    assert table.lookup(aton("20.0.9.1")) is None and table.lookup(aton("21.5.0.1")) is None
    assert check_stack(st) == []
    st.in_difaddr("vnet0", aton("10.0.0.2"))
    assert check_stack(st) == []


def test_dependents_index_drops_a_path_as_it_leaves():
    """A route leaving the table leaves its address's dependents at once (no stale entries,
    so no compaction ever scans the index); dependents() loses no live one, unmade prefixes
    (listed by their NextHop, made on the way) included."""
    st = _fresh().stack
    table, gw = st.rt[AF_INET], aton("10.0.0.1")
    st.rt_add_many(AF_INET, [aton(f"30.{i >> 8}.{i & 255}.0") for i in range(200)], 24, gw)
    for i in range(3000):
        st.rt_add(AF_INET, aton(f"20.{i >> 8}.{i & 255}.0"), 24, gw)
    for i in range(2600):
        st.rt_delete(AF_INET, aton(f"20.{i >> 8}.{i & 255}.0"), 24)
    assert check_stack(st) == []
    ifa = st.by_name["vnet0"].addrs[0]
    listed = list(table._by_ifa[ifa])
    # the 600 routes left (the unmade ones made by the check), the prefix and host routes:
    # no NextHop once it names no prefix, no route that left
    assert len(listed) == 600 + 2 and all(type(e).__name__ == "Route" for e in listed)
    live = table.dependents(ifa)
    # + the prefix route and the address's own host route
    assert len(live) == 400 + 200 + 2 and table.unmade == 0
    st.in_difaddr("vnet0", ifa.addr)
    assert [r for r in table.paths() if r.ifa is ifa] == []
    assert check_stack(st) == []


# ------------------------------------------------- a big batch is applied a slice at a time
def _big_route_batch(n=300_000):
    """One run of n /24 routes through 192.0.2.1, packed; and its parts as the client sends
    them."""
    from plebconf.rpc.client import _split, run
    dsts = [(32 << 24) + (i << 8) for i in range(n)]
    ops = [run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "192.0.2.1"},
               ["dst", "plen"], columns=[pack_column("dst", "inet", dsts),
                                         pack_column("plen", "inet", [24] * n)])]
    return _split(ops)


def _replied(client, got: list) -> bool:
    """Whether a reply (not a progress message) reached client: taken into got."""
    import select
    while not got and select.select([client.sock], [], [], 0)[0]:
        msg = client.receive()
        if "progress" not in msg:
            got.append(msg)
    return bool(got)


def test_a_second_client_is_answered_while_a_big_batch_is_applied(stack2):
    """The batch is applied a slice per loop turn: another client's reads are answered
    before the batch's answer comes (and see part of it or none of it, never more), its
    changes wait behind the batch (a route the batch adds: EEXIST), and the batch's client
    gets its own answer (the batch whole) before its later requests' answers."""
    from plebconf.rpc.client import Client
    setup(stack2)
    loader = Client.connect(pid=stack2.pid, directory=stack2.sockdir, timeout=300)
    reader = Client.connect(pid=stack2.pid, directory=stack2.sockdir, timeout=300)
    parts = _big_route_batch()
    for i, part in enumerate(parts):
        rid = loader.send("batch", {"ops": part, "more": i < len(parts) - 1})
        if i < len(parts) - 1:
            loader._check(loader._reply(rid))
    after = loader.send("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": "32.0.5.1"})
    answered_first, got = 0, []
    while not _replied(loader, got):
        seen = reader.call("sysctl", {"name": "net.route.algo.inet.pending"})
        assert isinstance(seen, int)
        if not _replied(loader, got):
            answered_first += 1     # a read answered while the batch is still going on
    assert answered_first >= 1
    # a change from another client waits for the batch: it then finds the route there
    with pytest.raises(OpError) as refused:
        reader.call("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "36.0.0.0", "plen": 24,
                              "gateway": "192.0.2.1"})
    assert refused.value.errno == EEXIST
    assert got[0]["id"] == rid and loader._check(got[0]) is not None   # the batch's answer
    route = loader._check(loader._reply(after))             # first, then the next one's
    assert (route["dst"], route["plen"]) == ("32.0.5.0", 24)
    loader.close()
    reader.close()


def test_a_batch_whose_client_leaves_is_rolled_back(stack2):
    """The batch's client goes away while the batch is being applied: nothing of it
    stays (all-or-nothing), and the stack goes on serving."""
    from plebconf.rpc.client import Client
    setup(stack2)
    before = routes(stack2)
    loader = Client.connect(pid=stack2.pid, directory=stack2.sockdir, timeout=300)
    parts = _big_route_batch()
    for i, part in enumerate(parts):
        rid = loader.send("batch", {"ops": part, "more": i < len(parts) - 1})
        if i < len(parts) - 1:
            loader._check(loader._reply(rid))
    loader.close()
    with stack2.client() as c:      # answered once the batch is gone (its rollback waits
        c.call("hello", {"version": 1})     # for nothing: it happens when the peer closes)
        while c.call("sysctl", {"name": "net.route.algo.inet.pending"}):
            pass
    assert routes(stack2) == before


def test_churn_on_unmade_prefixes_makes_no_routes_and_rolls_back():
    """RTM_DELETE and RTM_CHANGE (a new gateway) of unmade prefixes, and RTM_ADD of new
    ones, keep them unmade (no Route objects: churn keeps the table's memory flat); the
    same inside a transaction that fails leaves the table as it was, even with a prefix
    made into a Route in between."""
    sc = _through_one_gateway()
    st, table = sc.stack, sc.stack.rt[AF_INET]
    before, unmade = _dump(sc), table.unmade
    ops = [["rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": "20.0.3.0", "plen": 24}],
           ["rtmsg", {"type": "RTM_CHANGE", "af": "inet", "dst": "20.0.4.0", "plen": 24,
                      "gateway": "10.0.0.3"}],
           ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "50.0.0.0", "plen": 20,
                      "gateway": "10.0.0.3"}],
           ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "20.0.3.0", "plen": 24,
                      "gateway": "10.0.0.4"}]]
    with pytest.raises(RuntimeError), st.transaction():
        for op, args in ops:
            sc.dispatch(op, args)
        assert table.unmade == unmade + 1                   # none made
        st.rt_get(AF_INET, aton("20.0.4.0"), 24)            # made into a Route
        st.rt_get(AF_INET, aton("50.0.0.0"), 20)
        raise RuntimeError("the batch fails later")
    assert _dump(sc) == before and table.unmade == unmade - 1   # (made above, still made)
    sc.run_batch(ops)
    assert table.unmade == unmade
    rows = {(r[1], r[2]): r[3] for r in _dump(sc)}
    assert (rows[("20.0.3.0", 24)], rows[("20.0.4.0", 24)], rows[("50.0.0.0", 20)]) == \
        ("10.0.0.4", "10.0.0.3", "10.0.0.3")
    assert check_stack(st) == []        # (lookups of every prefix: all made then)
    assert table.lookup(aton("20.0.4.9"))[0].gateway == aton("10.0.0.3")


def test_a_column_of_few_distinct_addresses_packs_as_one_of_all_distinct_ones():
    """plain_addresses checks and packs a gateway-like column value by value: the same bytes
    as packing each row, and None when any value is not plain."""
    from socket import inet_aton
    from plebconf.rc.shapes import plain_addresses
    col = [f"10.0.{i % 3}.{i % 5 + 1}" for i in range(10_000)]
    assert plain_addresses(col) == b"".join(map(inet_aton, col))
    for odd in ("10.0.0.01", "127.0.0.1", "10.0.0", "0.1.2.3"):
        bad = col[:]
        bad[7000] = odd
        assert plain_addresses(bad) is None


def test_batch_whose_stack_goes_away_says_so_in_one_line(stack2, tmp_path):
    """The stack dies once `plebconf batch` has connected (while it compiles, sends, or
    waits for the answer): one line on stderr, exit status 69 (EX_UNAVAILABLE), no
    traceback."""
    import os
    import signal
    import subprocess
    import sys
    from conftest import ROOT
    path = tmp_path / "big.batch"
    # big enough that, compiled and applied in well under a second each, it is still being
    # compiled, sent or applied when the kill lands on a loaded machine
    path.write_text("".join(f"route add -net {32 + (i >> 16)}.{i >> 8 & 255}.{i & 255}.0/24 "
                            "192.0.2.1\n" for i in range(600_000)))
    env = dict(stack2.env(), PYTHONPATH=ROOT)
    fds = len(os.listdir(f"/proc/{stack2.pid}/fd"))
    batch = subprocess.Popen([sys.executable, "-m", "plebconf", "batch", str(path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(os.listdir(f"/proc/{stack2.pid}/fd")) <= fds and batch.poll() is None:
        pass                        # until the stack has accepted the tool's connection
    os.kill(stack2.pid, signal.SIGKILL)
    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 69, err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith(
        ("batch: ", "plebconf: ")), err


# ------------------------------------------------------------------------ IPv6 route tables
def _v6(rng, plen):
    """A masked IPv6 prefix of length plen in 2000::/3, as text (canonical)."""
    import ipaddress
    value = (1 << 125 | rng.getrandbits(125)) >> (128 - plen) << (128 - plen)
    return str(ipaddress.IPv6Address(value))


def _v6_table_lines(n=400, seed=3, gateways=("2001:db8:ffff::1", "2001:db8:ffff::2",
                                             "2001:db8:ffff::3")):
    """route(8) lines of a table of the public IPv6 table's kind: mixed lengths, a few
    gateways, in arrival order."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        plen = rng.choice([29, 32, 32, 36, 40, 44, 44, 46, 48, 48, 48, 48, 56, 64])
        lines.append(f"route add -6 -net {_v6(rng, plen)}/{plen} {rng.choice(gateways)}")
    return lines


def _canonical6(ops):
    """ops with every IPv6 address text (no zone) in inet_ntop's form: a packed run hands
    the stack the address, and gives it back as that text when expanded."""
    import socket

    def canon(value):
        if type(value) is str and ":" in value and "%" not in value:
            try:
                return socket.inet_ntop(socket.AF_INET6,
                                        socket.inet_pton(socket.AF_INET6, value))
            except OSError:
                pass
        return value
    return [[op[0], {k: canon(v) for k, v in op[1].items()}, *op[2:]] for op in ops]


def test_ipv6_lines_compile_as_the_grammars_give():
    """IPv6 addresses are values of shapes as IPv4 ones are: templates and column runs give
    exactly the grammars' ops (addresses compared as addresses), and the forms a grammar
    treats apart (a zone, ::1, link-local, multicast, a mask, a mapped address) keep it
    running line by line."""
    rng = random.Random(9)

    def addr():
        return rng.choice([_v6(rng, 64), _v6(rng, 128), "2001:DB8::" + str(rng.randrange(9)),
                           "2001:0db8:0:0::1", "fd00::" + str(rng.randrange(1, 9)), "::1",
                           "fe80::1%vnet0", "fe80::2", "ff02::1", "::ffff:10.0.0.1", "::"])
    shapes = [
        lambda: f"route add -6 -net {_v6(rng, 48)}/48 2001:db8:ffff::1",
        lambda: f"route add -6 -net {addr()}/{rng.choice([32, 48, 64])} {addr()}",
        lambda: f"route add -inet6 {addr()} -prefixlen {rng.choice([32, 56])} {addr()}",
        lambda: f"route add -6 -host {addr()} {addr()}",
        lambda: f"route add -6 {addr()} -interface vnet0",
        lambda: f"route delete -6 -net {addr()}/48",
        lambda: f"route add -6 -net {addr()} -netmask ffff:ffff:: {addr()}",
        lambda: f"ifconfig vnet0 inet6 {addr()}/64 alias",
        lambda: f"ifconfig vnet0 inet6 {addr()} prefixlen 64",
        lambda: f"ndp -s {addr()} 00:00:5e:00:53:{rng.randrange(256):02x}",
        lambda: f"route add -net 10.{rng.randrange(256)}.0.0/16 192.0.2.1",
    ]
    lines = []
    while len(lines) < 800:
        make = rng.choice(shapes)
        lines += [make() for _ in range(rng.choice([1, 2, 20, 40]))]
    text = "\n".join(lines) + "\n"
    program = BatchProgram(text, "six").compile_all()
    refused = {program.unit_line[u] for u, _ in program.failures}
    good = [line for j, line in enumerate(lines) if j not in refused]
    for j in refused:                   # (the grammar refuses those lines too)
        with pytest.raises(ToolError):
            command_ops(tokenize(lines[j]))
    want = _canonical6(grammar_ops(good))
    if refused:                         # what compiles, compiled again without them
        program = BatchProgram("\n".join(good) + "\n", "six").compile_all()
    assert program.failures == []
    assert any(seg[0] == "run" and len(seg[2][0]) >= 16 for seg in program.segments)
    assert _canonical6(expanded(program.entries())) == want
    assert _canonical6([e for _, es in program.unit_entries() for e in es]) == want


@pytest.mark.parametrize("odd", [None, "2001:db8::/129 2001:db8:ffff::1",
                                 "2001:db8::/048 2001:db8:ffff::1",
                                 "2001:db8::/48 fe80::1%vnet0", "2001:db8::/48 ::ffff:1.2.3.4",
                                 "2001:db8:::/48 2001:db8:ffff::1"])
def test_an_ipv6_table_is_one_packed_run(odd):
    """A table of IPv6 routes of mixed lengths through a few gateways is one run whose
    address columns travel packed (16 bytes each) and whose lengths are a column: the ops
    and line numbers of the lines one by one; an odd line takes the general path and is
    reported or compiled as the grammar says."""
    lines = _v6_table_lines()
    if odd:
        lines[150] = f"route add -6 -net {odd}"
    text = "\n".join(lines) + "\n"
    program = BatchProgram(text, "t6").compile_all()
    try:
        ops = grammar_ops(text.split("\n"))
    except ToolError:                   # /129, 2001:db8::: -- the grammar refuses the line
        assert [unit for unit, _ in program.failures] == [150]
        return
    assert program.failures == []
    assert _canonical6(expanded(program.entries())) == _canonical6(ops)
    assert [program.describe(u) for u in (0, 150, len(lines) - 1)] == [
        f"t6:{n + 1}: {lines[n]}" for n in (0, 150, len(lines) - 1)]
    runs = [seg for seg in program.segments if seg[0] == "run"]
    packed = [blob for seg in runs for blob in seg[4] or () if blob is not None]
    if odd is None:
        assert len(runs) == 1 and len(runs[0][2][0]) == len(lines) - 1
        assert sorted(map(len, packed)) == [len(lines) - 1] + [16 * (len(lines) - 1)] * 2


def _fresh6():
    """_fresh() with 2001:db8:ffff::fe/64 on vnet0."""
    sc = _fresh()
    sc.run_batch([["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0",
                             "addr": "2001:db8:ffff::fe", "plen": 64}]])
    return sc


def _dump6(sc):
    """_dump without the link-local rows (each fresh stack's MACs, hence those, differ)."""
    return [r for r in _dump(sc) if not r[1].startswith("fe80:")]


def _v6_rows(n=300, seed=4):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        plen = rng.choice([32, 36, 44, 47, 48, 48, 48, 64, 128])
        rows.append([_v6(rng, plen), plen, f"2001:db8:ffff::{1 + i % 3}"])
    rows.append([_v6(rng, 20), 20, "2001:db8:ffff::2"])    # a short one, arriving last
    return rows


@pytest.mark.parametrize("bad", [None, "dup", "multipath", "unreachable", "v4", "dup-first",
                                 "listener"])
def test_ipv6_route_run_is_what_its_ops_one_by_one_are(bad):
    """An IPv6 run of plain RTM_ADDs (packed or text columns) is filed unmade, as IPv4's
    are: the same table, results, failing index and errno as its ops one by one, and
    nothing changed on failure."""
    from plebconf.rpc.client import run
    from plebnet_core.state.inet import pton6
    rows = _v6_rows()
    if bad == "dup":
        rows[200] = list(rows[17])                      # EEXIST
    elif bad == "dup-first":
        rows[3] = list(rows[2])
    elif bad == "multipath":
        rows[200] = [rows[17][0], rows[17][1], "2001:db8:ffff::9"]  # another path: fine
    elif bad == "unreachable":
        rows[120][2] = "2001:db9::1"                    # ENETUNREACH
    elif bad == "v4":
        rows[50][0] = "10.0.0.0"                        # EINVAL
    base = {"type": "RTM_ADD", "af": "inet6"}
    fields = ["dst", "plen", "gateway"]
    forms = [[run("rtmsg", base, fields, columns=[list(c) for c in zip(*rows)])]]
    if bad != "v4":
        forms.append([run("rtmsg", base, fields, columns=[
            pack_column("dst", "inet6", [pton6(r[0]) for r in rows]),
            pack_column("plen", "inet6", [r[1] for r in rows]),
            pack_column("gateway", "inet6", [pton6(r[2]) for r in rows])])])
    one_by_one = [["rtmsg", {**base, **dict(zip(fields, r))}] for r in rows]
    outcomes = []
    for entries in forms + [one_by_one]:
        sc = _fresh6()
        if bad == "listener":                           # events wanted: route by route
            sc.stack.journal.listeners.append(lambda events: None)
        table = sc.stack.rt[AF_INET6]
        before = _dump6(sc)
        try:
            outcome = ("ok", sc.run_batch(entries))
        except OpError as exc:
            outcome = ("error", exc.index, exc.errno)
            # (fills queued for routes a failing add_run made and the rollback took out
            # may stay queued: settle() drops them, placing nothing)
            assert _dump6(sc) == before and table.unmade == 0
        if entries is forms[0] and bad is None:     # (a second path: Routes, as for IPv4)
            assert table.unmade >= len(rows) - 1 and table.unsettled   # unmade, unfilled
        assert check_stack(sc.stack) == []              # (lookups before and after settling)
        outcomes.append((outcome, _dump6(sc)))
    assert all(outcome == outcomes[-1] for outcome in outcomes)
    assert (outcomes[0][0][0] == "ok") == (bad in (None, "multipath", "listener"))


@pytest.mark.parametrize("placed", [0, 7, 400])
def test_ipv6_unmade_run_lives_and_rolls_back_like_ipv4s(placed):
    """An unmade IPv6 run partly placed in the trie: lookups, RTM_GET (which makes a Route),
    RTM_CHANGE and RTM_DELETE answer as for routes; a failing transaction takes all of it
    back, trie included; removing the gateway's address takes the rest."""
    from plebnet_core.state.inet import pton6
    sc = _fresh6()
    st, table = sc.stack, sc.stack.rt[AF_INET6]
    before, slots = _dump6(sc), _slots_in_use(table)
    rows = _v6_rows()
    with pytest.raises(RuntimeError), st.transaction():
        st.rt_add_many(AF_INET6, [pton6(r[0]) for r in rows], [r[1] for r in rows],
                       [pton6(r[2]) for r in rows])
        st.rt_get(AF_INET6, pton6(rows[9][0]) | 1)      # one made into a Route
        st.settle(budget=placed)
        raise RuntimeError("the batch fails later")
    assert _dump6(sc) == before and _slots_in_use(table) == slots
    assert (table.unmade, table.unsettled) == (0, 0) and check_stack(st) == []
    assert table.lookup(pton6(rows[9][0]) | 1) is None
    st.rt_add_many(AF_INET6, [pton6(r[0]) for r in rows], [r[1] for r in rows],
                   [pton6(r[2]) for r in rows])
    st.settle(budget=placed)
    got = sc.dispatch("rtmsg", {"type": "RTM_GET", "af": "inet6", "dst": rows[9][0]})
    assert (got["dst"], got["plen"], got["gateway"]) == tuple(rows[9])
    sc.run_batch([["rtmsg", {"type": "RTM_CHANGE", "af": "inet6", "dst": rows[10][0],
                             "plen": rows[10][1], "gateway": "2001:db8:ffff::7"}],
                  ["rtmsg", {"type": "RTM_DELETE", "af": "inet6", "dst": rows[11][0],
                             "plen": rows[11][1]}]])
    dump = {(r[1], r[2]): r[3] for r in _dump6(sc)}
    assert dump[(rows[10][0], rows[10][1])] == "2001:db8:ffff::7"
    assert (rows[11][0], rows[11][1]) not in dump
    assert check_stack(st) == []
    assert table.lookup(pton6(rows[10][0]))[0].gateway == pton6("2001:db8:ffff::7")
    sc.run_batch([["ioctl", {"req": "SIOCDIFADDR_IN6", "ifname": "vnet0",
                             "addr": "2001:db8:ffff::fe"}]])
    assert [r for r in _dump6(sc) if r[0] == "inet6" and r[3].startswith("2001:db8:ffff::")
            ] == []
    assert table.unmade == 0 and check_stack(st) == []


def test_ipv6_table_batch_applies_or_cites_the_failing_line(stack2, tmp_path):
    """Through `plebconf batch`: an IPv6 table applies as one packed run, giving the table
    that the same lines one by one (--keep-going) give; a line that fails in the middle of
    the run is cited with its number and route(8)'s own message, and nothing is applied."""
    result = run_tool(stack2, "batch", "-", input="ifconfig vnet0 inet6 2001:db8:ffff::fe/64\n")
    assert (result.returncode, result.stderr) == (0, "")
    before = routes(stack2)
    lines = _v6_table_lines(n=300)
    path = tmp_path / "six"
    bad = list(lines)
    bad[211] = lines[40]                                # the same prefix, the same gateway
    bad[250] = lines[250].rsplit(" ", 1)[0] + " 2001:db9::1"     # unreachable: later
    path.write_text("\n".join(bad) + "\n")
    result = run_tool(stack2, "batch", str(path))
    tool = run_tool(stack2, "route", *lines[40].split()[1:])     # (added now, on its own)
    again = run_tool(stack2, "route", *lines[40].split()[1:])
    assert tool.returncode == 0 and again.returncode == 1
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"{path}:212: {lines[40]}: {again.stdout.strip()}\n"
                             "batch: nothing applied; the stack is unchanged\n")
    assert "fib 0: route already in table" in result.stderr
    run_tool(stack2, "route", "delete", *lines[40].split()[2:-1])
    assert routes(stack2) == before
    path.write_text("\n".join(lines) + "\n")
    result = run_tool(stack2, "batch", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    atomic = routes(stack2)
    assert len(atomic) == len(before) + len(set(lines))
    import time
    with stack2.client() as c:      # the trie filled behind the batch: the gauge drains
        deadline = time.monotonic() + 60
        while c.sysctl("net.route.algo.inet6.pending") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert c.sysctl("net.route.algo.inet6.pending") == 0
        for line in lines[::37]:
            prefix, gateway = line.split()[4:]
            dst, plen = prefix.split("/")
            inside = dst.rstrip(":") + "::1" if dst.endswith("::") else dst
            got = c.rtmsg("RTM_GET", af="inet6", dst=inside)        # (longest match)
            assert (got["dst"], got["plen"], got["gateway"]) == (dst, int(plen), gateway)
    deletes = "".join(f"route delete {' '.join(line.split()[2:-1])}\n" for line in lines)
    result = run_tool(stack2, "batch", "-", input=deletes)
    assert (result.returncode, result.stderr) == (0, "")
    assert routes(stack2) == before
    result = run_tool(stack2, "batch", "--keep-going", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert routes(stack2) == atomic
