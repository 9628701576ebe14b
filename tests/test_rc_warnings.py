"""ifconfig's warn-and-go-on commands (FreeBSD 14: in_set_tunnel's warn("SIOCSIFPHYADDR"),
setlaggport's warnx("%s %s: SIOCSLAGGPORT: %s")) applied by `plebconf rc apply`, by the
stack's own rc at boot and by `plebconf batch`: the warning ifconfig prints for the line is
printed, in order with the failures, the rest of the line applied, and the status is the
tool's (1 for a laggport that could not join, 0 for a tunnel).  Real stacks; the failures
are the stack's own: a gif whose two ends another gif has (in_gif_checkdup's
EADDRNOTAVAIL), a port already in another lagg (lagg_port_create's EBUSY)."""
import pytest

from conftest import TEST_HOSTUUID, run_tool
from plebnet_core.spawn import spawn_stack

NICS = ["--nic", "vnet0=none", "--nic", "vnet1=none", "--nic", "vnet2=none",
        "--hostuuid", TEST_HOSTUUID]

GIF1 = "ifconfig gif1 inet 10.99.0.1/32 10.99.0.2 tunnel 10.0.0.1 10.0.0.2 mtu 1400"
LAGG1 = "ifconfig lagg1 laggport vnet1 laggport vnet2 10.5.0.1/24"
TUNNEL_WARNING = "ifconfig: SIOCSIFPHYADDR: Can't assign requested address"
PORT_WARNING = "ifconfig: lagg1 vnet1: SIOCSLAGGPORT: Device busy"

RC = f"""\
cloned_interfaces="gif0 gif1 lagg0 lagg1"
ifconfig_vnet0="inet 10.0.0.1/24 up"
create_args_gif0="tunnel 10.0.0.1 10.0.0.2"
ifconfig_gif1="{GIF1.removeprefix('ifconfig gif1 ')}"
ifconfig_lagg0="laggport vnet1"
ifconfig_lagg1="{LAGG1.removeprefix('ifconfig lagg1 ')}"
"""
# rc.d's order: netif's interfaces in `ifconfig -l` order (gif1 before lagg1); an alias on
# lagg0 that the grammar refuses comes between the two (ipv4_up after lagg0's ifconfig_up)
BAD_ALIAS = 'ifconfig_lagg0_alias0="inet 10.0.0.1/33"\n'


@pytest.fixture
def stack3(sockdir):
    running = spawn_stack(NICS, sockdir=sockdir)
    yield running
    running.stop()


def warnings(path: str) -> str:
    """rc's stderr for RC: the tunnel's warning (line 4), then the laggport's (line 6)."""
    return (f"{path}:4: ifconfig_gif1: {GIF1}: {TUNNEL_WARNING}\n"
            f"{path}:6: ifconfig_lagg1: {LAGG1}: {PORT_WARNING}\n")


def keep_going_stderr(path: str) -> str:
    """rc's stderr for RC + BAD_ALIAS with --keep-going: the failure between the warnings."""
    return (f"{path}:4: ifconfig_gif1: {GIF1}: {TUNNEL_WARNING}\n"
            f"{path}:7: ifconfig_lagg0_alias0: ifconfig lagg0 inet 10.0.0.1/33 alias: "
            "ifconfig: 10.0.0.1/33: bad value (width too large)\n"
            f"{path}:6: ifconfig_lagg1: {LAGG1}: {PORT_WARNING}\n")


def listing(stack, name: str) -> list[str]:
    return run_tool(stack, "ifconfig", name).stdout.splitlines()


def assert_applied_around_the_warnings(stack):
    """What the warned lines still did: gif1's address and MTU without a tunnel, lagg1's
    other port and address; lagg0 kept its port."""
    gif1 = listing(stack, "gif1")
    assert gif1[0].endswith(" mtu 1400")
    assert "\tinet 10.99.0.1 --> 10.99.0.2 netmask 0xffffffff" in gif1
    assert not any(line.startswith("\ttunnel") for line in gif1)
    assert "\ttunnel inet 10.0.0.1 --> 10.0.0.2" in listing(stack, "gif0")
    lagg1 = listing(stack, "lagg1")
    assert [line.split(" flags=")[0] for line in lagg1 if line.startswith("\tlaggport")] == \
        ["\tlaggport: vnet2"]
    assert "\tinet 10.5.0.1 netmask 0xffffff00 broadcast 10.5.0.255" in lagg1
    assert [line.split(" flags=")[0] for line in listing(stack, "lagg0")
            if line.startswith("\tlaggport")] == ["\tlaggport: vnet1"]


# ---------------------------------------------------------------- rc apply
def test_rc_apply_prints_ifconfigs_warnings_applies_the_rest_and_exits_as_laggport(
        stack3, conf):
    path = conf(RC)
    result = run_tool(stack3, "rc", "apply", path)
    # no "nothing applied": it was; 1 is setlaggport's exit status
    assert (result.returncode, result.stdout, result.stderr) == (1, "", warnings(path))
    assert_applied_around_the_warnings(stack3)
    # the stack holds what the file gives: diff is clean, and says no warning
    diff = run_tool(stack3, "rc", "diff", path)
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", "")


def test_rc_apply_of_a_tunnel_warning_alone_exits_0(stack3, conf):
    path = conf(RC.replace(LAGG1.removeprefix("ifconfig lagg1 "), "10.5.0.1/24"))
    result = run_tool(stack3, "rc", "apply", path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "", f"{path}:4: ifconfig_gif1: {GIF1}: {TUNNEL_WARNING}\n")
    # applied again (the stack converges on the file): the tunnel is refused again
    again = run_tool(stack3, "rc", "apply", path)
    assert (again.returncode, again.stderr) == (result.returncode, result.stderr)


def test_rc_apply_keep_going_prints_warnings_and_failures_in_rc_order(stack3, conf):
    path = conf(RC + BAD_ALIAS)
    result = run_tool(stack3, "rc", "apply", "--keep-going", path)
    assert (result.returncode, result.stdout, result.stderr) == (1, "",
                                                                 keep_going_stderr(path))
    assert_applied_around_the_warnings(stack3)


def test_rc_apply_dry_run_says_the_warnings_and_changes_nothing(stack3, conf):
    path = conf(RC)
    result = run_tool(stack3, "rc", "apply", "--dry-run", path)
    assert result.returncode == 1
    assert GIF1 + "\n" + "ifconfig gif1 up\n" in result.stdout
    assert result.stderr == warnings(path)
    assert run_tool(stack3, "ifconfig", "-l").stdout == "vnet0 vnet1 vnet2 lo0\n"


# ---------------------------------------------------------------- boot
def test_boot_prints_the_warnings_and_starts(sockdir, conf):
    path = conf(RC)
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:
        assert s.stderr() == "".join(f"plebnet: {line}\n"
                                     for line in warnings(path).splitlines())
        assert_applied_around_the_warnings(s)


def test_boot_keep_going_prints_warnings_and_failures_in_rc_order(sockdir, conf):
    path = conf(RC + BAD_ALIAS)
    with spawn_stack([*NICS, "--rc", path, "--keep-going"], sockdir=sockdir) as s:
        assert s.stderr() == "".join(f"plebnet: {line}\n"
                                     for line in keep_going_stderr(path).splitlines())
        assert_applied_around_the_warnings(s)


# ---------------------------------------------------------------- batch
BATCH = [
    "ifconfig vnet0 inet 10.0.0.1/24 up",
    "ifconfig gif0 create tunnel 10.0.0.1 10.0.0.2",
    "ifconfig gif1 create",
    GIF1,
    "ifconfig lagg0 create laggport vnet1",
    "ifconfig lagg1 create",
    LAGG1,
]


def ifconfig_says(stack, lines: list[str]) -> list[tuple[int, str]]:
    """(exit status, stderr) of the ifconfig tool for each line, run one by one."""
    out = []
    for line in lines:
        r = run_tool(stack, *line.split())
        assert r.stdout == "", line
        out.append((r.returncode, r.stderr))
    return out


def test_batch_prints_what_ifconfig_prints_for_each_line_and_exits_with_its_status(
        stack3, sockdir, tmp_path):
    path = tmp_path / "cmds"
    path.write_text("\n".join(BATCH) + "\n")
    result = run_tool(stack3, "batch", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"{path}:4: {GIF1}: {TUNNEL_WARNING}\n{path}:7: {LAGG1}: {PORT_WARNING}\n")
    assert_applied_around_the_warnings(stack3)
    # the same lines through the ifconfig tool itself, on a stack of its own: what the
    # batch said of each line is what ifconfig says, and its status the worst of theirs
    with spawn_stack(NICS, sockdir=sockdir) as other:
        said = ifconfig_says(other, BATCH)
        assert_applied_around_the_warnings(other)
    assert said[3] == (0, TUNNEL_WARNING + "\n") and said[6] == (1, PORT_WARNING + "\n")
    assert result.stderr == "".join(f"{path}:{n}: {line}: {err}"
                                    for n, (line, (_, err)) in enumerate(zip(BATCH, said), 1)
                                    if err)
    assert result.returncode == max(status for status, _ in said)


def test_batch_of_a_tunnel_warning_alone_exits_0(stack3):
    result = run_tool(stack3, "batch", "-", input="\n".join(BATCH[:4]) + "\n")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "", f"<stdin>:4: {GIF1}: {TUNNEL_WARNING}\n")


def test_batch_keep_going_prints_warnings_and_failures_in_line_order(stack3):
    lines = BATCH[:4] + ["ifconfig lagg0 create laggport vnet1 mtu 100000"] + BATCH[4:]
    result = run_tool(stack3, "batch", "--keep-going", "-", input="\n".join(lines) + "\n")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"<stdin>:4: {GIF1}: {TUNNEL_WARNING}\n"
        "<stdin>:5: ifconfig lagg0 create laggport vnet1 mtu 100000: "
        "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n"
        f"<stdin>:8: {LAGG1}: {PORT_WARNING}\n")
    assert_applied_around_the_warnings(stack3)


def test_an_atomic_batch_that_fails_warns_of_nothing(stack3):
    # nothing is applied: the tunnel refused inside it is no more than the rest
    result = run_tool(stack3, "batch", "-", input="\n".join(BATCH[:4]) + "\n"
                      "route add -net 10.3.0.0/16 10.99.9.1\n")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "<stdin>:5: route add -net 10.3.0.0/16 10.99.9.1: "
        "add net 10.3.0.0: gateway 10.99.9.1 fib 0: Network is unreachable\n"
        "batch: nothing applied; the stack is unchanged\n")
    assert run_tool(stack3, "ifconfig", "-l").stdout == "vnet0 vnet1 vnet2 lo0\n"


def test_only_what_the_tool_itself_tolerates_is_warned_about():
    """ToolOps.warning words a tolerated failure only when the tool's own op tolerates that
    errno: a caller tolerating more (rc's tolerated steps) gets no warning the ifconfig tool
    would not print (ENXIO is its 'does not exist'), and laggport's EEXIST stays silent."""
    from plebconf.rc.apply import command_ops
    from plebproto.constants import EADDRNOTAVAIL, EBUSY, EEXIST, ENXIO
    tunnel = command_ops(GIF1.split())
    at = next(i for i, op in enumerate(tunnel.ops) if op[1].get("req") == "SIOCSIFPHYADDR")
    assert tunnel.warning(at, {"errno": EADDRNOTAVAIL, "msg": ""}) == (TUNNEL_WARNING, 0)
    assert tunnel.warning(at, {"errno": ENXIO, "msg": ""}) is None
    assert tunnel.warning(at, None) is None
    # (another op of the line, the address, fails the command: it does not warn)
    other = next(i for i, op in enumerate(tunnel.ops) if op[1].get("req") == "SIOCAIFADDR")
    assert tunnel.warning(other, {"errno": EADDRNOTAVAIL, "msg": ""}) is None
    port = command_ops(LAGG1.split())
    assert port.warning(0, {"errno": EBUSY, "msg": ""}) == (PORT_WARNING, 1)
    assert port.warning(0, {"errno": EEXIST, "msg": ""}) is None
    assert port.warned([{"errno": EBUSY, "msg": ""}, {"errno": EBUSY, "msg": ""}, None]) == (
        [PORT_WARNING, "ifconfig: lagg1 vnet2: SIOCSLAGGPORT: Device busy"], 1)


def test_tolerated_failures_are_placed_in_one_walk_as_locate_places_each():
    """Program.locate_all (the executor's placing of a batch's tolerated failures) agrees
    with locate, over runs, lines of ops and lines of none; only the lines whose tool's
    own ops only warn when they fail are looked at again for a warning."""
    from plebconf.rc.apply import BatchProgram
    from plebconf.rc.shapes import shape
    routes = [f"route add -net 10.{i}.0.0/16 192.0.2.1" for i in range(40)]
    again = GIF1.replace("10.99.", "10.98.").replace("10.0.0.", "10.1.0.")
    text = "\n".join(["ifconfig vnet0 inet 192.0.2.10/24", *routes[:20], "# nothing",
                      LAGG1, *routes[20:], GIF1, "ifconfig vnet0 up", again]) + "\n"
    program = BatchProgram(text, "f").compile_all()
    # (lines that may warn keep their grammar: no template for their shape)
    assert not program.templates[shape(again.split())[0]]
    assert any(seg[0] == "run" for seg in program.segments)
    count = sum(len(s[2][0]) if s[0] == "run" else len(s[2]) for s in program.segments)
    assert list(program.locate_all(range(count))) == [program.locate(i) for i in range(count)]
    with pytest.raises(IndexError):
        list(program.locate_all([count]))
    # (vnet0's first address is sent tolerating EADDRNOTAVAIL, which never warns)
    assert sorted(program.argv(u)[1] for u in program.may_warn) == ["gif1", "gif1", "lagg1"]
