"""lagg(4): ifconfig's keywords and listing lines (iflagg.c, with -v its options and
statistics), the stack's port rules, the lagg's link and media status following its ports,
rc save, and traffic through a Linux bridge: failover (the backup takes over when the primary
goes down) and loadbalance (flows spread over the ports).  LACP's negotiation with a partner
is tests/test_lacp.py's."""
import subprocess

import pytest

from conftest import run_tool
from netns_util import ip, namespace, require_root
from plebnet_core.spawn import spawn_stack

NICS = ["--nic", "vnet0=none", "--nic", "vnet1=none", "--nic", "vnet2=none"]


@pytest.fixture
def stack3(sockdir):
    running = spawn_stack(NICS, sockdir=sockdir)
    yield running
    running.stop()


def ifconfig(stack, *argv):
    return run_tool(stack, "ifconfig", *argv)


def lagg_block(stack, name="lagg0"):
    """The listing's lagg lines (laggproto .. laggport ..)."""
    out = ifconfig(stack, name).stdout.splitlines()
    return [line for line in out if line.startswith(("\tlaggproto", "\tlaggport"))]


def macs(stack, name):
    with stack.client() as c:
        info = next(i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"}) if i["name"] == name)
    return info["mac"], info["hwaddr"]


def test_create_with_ports_lists_as_freebsd_and_shares_the_mac(stack3):
    r = ifconfig(stack3, "lagg0", "create", "laggproto", "failover", "laggport", "vnet1",
                 "laggport", "vnet0", "up")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert ifconfig(stack3, "vnet0", "up").returncode == 0
    assert lagg_block(stack3) == [
        "\tlaggproto failover lagghash l2,l3,l4",
        # kept in interface index order; vnet1 (the primary) is down: vnet0 carries
        "\tlaggport: vnet0 flags=4<ACTIVE>",
        "\tlaggport: vnet1 flags=1<MASTER>"]
    assert ifconfig(stack3, "vnet1", "up").returncode == 0
    assert lagg_block(stack3)[1:] == ["\tlaggport: vnet0 flags=0<>",
                                      "\tlaggport: vnet1 flags=5<MASTER,ACTIVE>"]
    # a port shows no lagg lines: FreeBSD 14's lagg_status asks SIOCGLAGG of it, which
    # only the lagg answers
    assert lagg_block(stack3, "vnet0") == []
    # the lagg took its first port's MAC; the other port took the lagg's, keeping its own
    lagg_mac = macs(stack3, "lagg0")[0]
    assert lagg_mac == macs(stack3, "vnet1")[0] == macs(stack3, "vnet1")[1]
    assert macs(stack3, "vnet0")[0] == lagg_mac != macs(stack3, "vnet0")[1]
    groups = [line for line in ifconfig(stack3, "lagg0").stdout.splitlines()
              if line.startswith("\tgroups")]
    assert groups == ["\tgroups: lagg"]


def test_protocols_and_port_flags(stack3):
    ifconfig(stack3, "vnet0", "up")
    ifconfig(stack3, "vnet1", "up")
    ifconfig(stack3, "lagg0", "create", "laggport", "vnet0", "laggport", "vnet1")
    assert lagg_block(stack3)[0] == "\tlaggproto failover lagghash l2,l3,l4"   # the default
    # lagg_port2req: MASTER is failover's only; lacp's ports wait for a partner
    expected = {"loadbalance": ["flags=4<ACTIVE>", "flags=4<ACTIVE>"],
                "roundrobin": ["flags=4<ACTIVE>", "flags=4<ACTIVE>"],
                "failover": ["flags=5<MASTER,ACTIVE>", "flags=0<>"],
                "lacp": ["flags=0<>", "flags=0<>"],
                "none": ["flags=0<>", "flags=0<>"]}
    for proto, flags in expected.items():
        assert ifconfig(stack3, "lagg0", "laggproto", proto).returncode == 0
        block = lagg_block(stack3)
        assert block[0] == f"\tlaggproto {proto} lagghash l2,l3,l4"
        assert block[1:] == [f"\tlaggport: vnet0 {flags[0]}", f"\tlaggport: vnet1 {flags[1]}"]


def test_primary_removed_next_port_becomes_master_and_macs_come_back(stack3):
    ifconfig(stack3, "lagg0", "create", "laggport", "vnet0", "laggport", "vnet1",
             "laggport", "vnet2")
    own1 = macs(stack3, "vnet1")[1]
    assert ifconfig(stack3, "lagg0", "-laggport", "vnet0").returncode == 0
    assert lagg_block(stack3)[1:] == ["\tlaggport: vnet1 flags=1<MASTER>",
                                      "\tlaggport: vnet2 flags=0<>"]
    assert macs(stack3, "vnet0")[0] == macs(stack3, "vnet0")[1]       # its own again
    assert macs(stack3, "lagg0")[0] == own1 == macs(stack3, "vnet2")[0]


def test_verbose_listing_options_and_statistics(stack3):
    """ifconfig -v: lagg options (sc_opts: USE_NUMA by default; lacp adds LACP_STRICT),
    flowid_shift, statistics; lacp adds the LAG id, and each port's state and peers."""
    ifconfig(stack3, "vnet0", "up")
    ifconfig(stack3, "lagg0", "create", "laggproto", "loadbalance", "laggport", "vnet0",
             "laggport", "vnet1")
    out = ifconfig(stack3, "-v", "lagg0").stdout.splitlines()
    start = out.index("\tlaggproto loadbalance lagghash l2,l3,l4")
    assert out[start:start + 9] == [
        "\tlaggproto loadbalance lagghash l2,l3,l4",
        "\tlagg options:",
        "\t\tflags=4<USE_NUMA>",
        "\t\tflowid_shift: 16",
        "\tlagg statistics:",
        "\t\tactive ports: 1",                    # vnet1 is down
        "\t\tflapping: 0",
        "\tlaggport: vnet0 flags=4<ACTIVE>",
        "\tlaggport: vnet1 flags=0<>"]
    for argv in (["-use_numa"], ["use_flowid"], ["laggproto", "roundrobin"]):
        assert ifconfig(stack3, "lagg0", *argv).returncode == 0
    out = ifconfig(stack3, "-v", "lagg0").stdout.splitlines()
    start = out.index("\tlaggproto roundrobin lagghash l2,l3,l4")
    assert out[start + 1:start + 5] == ["\tlagg options:", "\t\tflags=1<USE_FLOWID>",
                                        "\t\tflowid_shift: 16", "\t\trr_limit: 0"]
    # lacp: no partner on these ports, so no aggregator: the LAG id is all zeros
    assert ifconfig(stack3, "lagg0", "laggproto", "lacp", "lacp_fast_timeout").returncode == 0
    out = ifconfig(stack3, "-v", "lagg0").stdout.splitlines()
    start = out.index("\tlaggproto lacp lagghash l2,l3,l4")
    block = out[start:start + 15]
    zeros = "(0000,00-00-00-00-00-00,0000,0000,0000)"
    assert block[:9] == [
        "\tlaggproto lacp lagghash l2,l3,l4",
        "\tlagg options:",
        "\t\tflags=91<USE_FLOWID,LACP_STRICT,LACP_FAST_TIMO>",
        "\t\tflowid_shift: 16",
        "\tlagg statistics:",
        "\t\tactive ports: 0",
        "\t\tflapping: 0",
        f"\tlag id: [{zeros},",
        f"\t\t {zeros}]"]
    with stack3.client() as c:
        ifs = {i["name"]: i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})}
    mac = ifs["lagg0"]["mac"].replace(":", "-").upper()
    key = 0x12 | (ifs["lagg0"]["index"] << 5)       # 10Gbase-T's class, the lagg's index
    idx0, idx1 = ifs["vnet0"]["index"], ifs["vnet1"]["index"]
    # vnet1 is down: it cannot aggregate, its key is its own index with bit 15 set, and its
    # partner is the strict administrative default
    assert block[12:] == [
        "\tlaggport: vnet1 flags=0<> state=43<ACTIVITY,TIMEOUT,DEFAULTED>",
        f"\t\t[(8000,{mac},{0x8000 | idx1:04X},8000,{idx1:04X}),",
        "\t\t (FFFF,00-00-00-00-00-00,0000,FFFF,0000)]"]
    # vnet0 can (up, full duplex) but hears nobody: expired at first, defaulted after
    # SHORT_TIMEOUT more (which of the two depends on when it is asked)
    expired = ["\tlaggport: vnet0 flags=0<> state=87<ACTIVITY,TIMEOUT,AGGREGATION,EXPIRED>",
               f"\t\t[(8000,{mac},{key:04X},8000,{idx0:04X}),", f"\t\t {zeros}]"]
    defaulted = ["\tlaggport: vnet0 flags=0<> state=47<ACTIVITY,TIMEOUT,AGGREGATION,DEFAULTED>",
                 f"\t\t[(8000,{mac},{key:04X},8000,{idx0:04X}),",
                 "\t\t (FFFF,00-00-00-00-00-00,0000,FFFF,0000)]"]
    assert block[9:12] in (expired, defaulted)


def test_status_and_link_follow_the_ports(stack3):
    """lagg_media_status: `status: active` while a port is up with link; lagg_linkstate:
    the lagg's link is up while a port has link, down without ports."""
    def status(name="lagg0"):
        return [line for line in ifconfig(stack3, name).stdout.splitlines()
                if line.startswith("\tstatus")]

    def link(name="lagg0"):
        with stack3.client() as c:
            return next(i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})
                        if i["name"] == name)["link_state"]

    ifconfig(stack3, "lagg0", "create", "up")
    assert status() == ["\tstatus: no carrier"]
    assert link() == 0                                # LINK_STATE_UNKNOWN, as if_attach
    ifconfig(stack3, "lagg0", "laggport", "vnet0", "laggport", "vnet1")
    assert status() == ["\tstatus: no carrier"]      # both ports down
    assert link() == 2                                # but they have link
    ifconfig(stack3, "vnet1", "up")
    assert status() == ["\tstatus: active"]
    ifconfig(stack3, "vnet1", "down")
    assert status() == ["\tstatus: no carrier"]
    ifconfig(stack3, "lagg0", "-laggport", "vnet0", "-laggport", "vnet1")
    assert (status(), link()) == (["\tstatus: no carrier"], 1)     # LINK_STATE_DOWN


def test_lagg_link_follows_a_port_link_event(stack3):
    """A vxlan port's link goes down with it (vxlan_teardown): lagg_port_state's
    lagg_linkstate takes the lagg's link down too, and back up with it."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    r = ifconfig(stack3, "vxlan0", "create", "vxlanid", "42", "vxlanlocal", "127.0.0.1",
                 "vxlanlocalport", str(port), "vxlanremote", "127.0.0.1", "vxlanremoteport",
                 str(port), "up")
    assert r.returncode == 0, r.stderr
    ifconfig(stack3, "lagg0", "create", "laggport", "vxlan0", "up")

    def state():
        with stack3.client() as c:
            link = next(i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})
                        if i["name"] == "lagg0")["link_state"]
        status = [line for line in ifconfig(stack3, "lagg0").stdout.splitlines()
                  if line.startswith("\tstatus")]
        return link, status, lagg_block(stack3)[1:]

    assert state() == (2, ["\tstatus: active"], ["\tlaggport: vxlan0 flags=5<MASTER,ACTIVE>"])
    assert ifconfig(stack3, "vxlan0", "down").returncode == 0
    assert state() == (1, ["\tstatus: no carrier"], ["\tlaggport: vxlan0 flags=1<MASTER>"])
    assert ifconfig(stack3, "vxlan0", "up").returncode == 0
    assert state() == (2, ["\tstatus: active"], ["\tlaggport: vxlan0 flags=5<MASTER,ACTIVE>"])


ERRORS = [
    (["lagg0", "laggproto", "fec2"], "ifconfig: Invalid aggregation protocol: fec2\n"),
    (["lagg0", "-laggport", "vnet1"], "ifconfig: SIOCSLAGGDELPORT: No such file or directory\n"),
    (["vnet1", "laggproto", "failover"], "ifconfig: SIOCSLAGG: Invalid argument\n"),
    (["lagg0", "lagghash", "l5"], "ifconfig: Invalid lagghash option: l5\n"),
    # a lacp option on a failover lagg: SIOCSLAGGOPTS refuses the combination
    (["lagg0", "lacp_fast_timeout"], "ifconfig: SIOCSLAGGOPTS: Invalid argument\n"),
    (["lagg0", "-lacp_strict"], "ifconfig: SIOCSLAGGOPTS: Invalid argument\n"),
]


@pytest.mark.parametrize("argv, stderr", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_errors_as_iflagg_prints_them(stack3, argv, stderr):
    ifconfig(stack3, "lagg0", "create", "laggport", "vnet0")
    ifconfig(stack3, "lagg1", "create")
    r = ifconfig(stack3, *argv)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", stderr)
    # laggport of a port it already has: EEXIST, which setlaggport ignores
    assert ifconfig(stack3, "lagg0", "laggport", "vnet0").returncode == 0


# setlaggport only warnx()es "IF PORT: SIOCSLAGGPORT: strerror", sets the exit status and goes
# on with the line (FreeBSD 14 sbin/ifconfig/iflagg.c: "Do not exit with an error here.
# Doing so permits a failed NIC to take down an entire lagg.")
PORT_WARNINGS = [
    ("lo0", "ifconfig: lagg0 lo0: SIOCSLAGGPORT: Protocol not supported\n"),
    ("nope0", "ifconfig: lagg0 nope0: SIOCSLAGGPORT: Invalid argument\n"),
]


@pytest.mark.parametrize("port, stderr", PORT_WARNINGS, ids=[p for p, _ in PORT_WARNINGS])
def test_a_port_that_cannot_join_warns_and_the_line_goes_on(stack3, port, stderr):
    ifconfig(stack3, "lagg0", "create")
    r = ifconfig(stack3, "lagg0", "laggport", port, "laggport", "vnet0", "mtu", "1400")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", stderr)
    assert any(line.startswith("\tlaggport: vnet0 ") for line in lagg_block(stack3))
    assert " mtu 1400" in ifconfig(stack3, "lagg0").stdout.splitlines()[0]
    # a port of another lagg: EBUSY, warned the same way; the lagg stays as it was
    ifconfig(stack3, "lagg1", "create")
    r = ifconfig(stack3, "lagg1", "laggport", "vnet0")
    assert (r.returncode, r.stderr) == (1, "ifconfig: lagg1 vnet0: SIOCSLAGGPORT: Device busy\n")
    assert not any(line.startswith("\tlaggport:") for line in lagg_block(stack3, "lagg1"))
    # a lagg that does not exist is still ifconfig's own refusal, before anything runs
    r = ifconfig(stack3, "lagg7", "laggport", "vnet1")
    assert (r.returncode, r.stderr) == (1, "ifconfig: interface lagg7 does not exist\n")


def test_rc_conf_lagg_round_trips_through_save(stack3, sockdir, tmp_path):
    rc = tmp_path / "rc.conf"
    rc.write_text('ifconfig_vnet0="up"\nifconfig_vnet1="up"\ncloned_interfaces="lagg0"\n'
                  'ifconfig_lagg0="laggproto loadbalance laggport vnet1 laggport vnet0 '
                  '10.5.0.1/24"\n')  # the Handbook's form
    r = run_tool(stack3, "rc", "apply", str(rc))
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    before = ifconfig(stack3, "lagg0").stdout
    saved = run_tool(stack3, "rc", "save").stdout
    assert 'create_args_lagg0="laggproto loadbalance laggport vnet1 laggport vnet0"' \
        in saved.splitlines()
    again = tmp_path / "saved.conf"
    again.write_text(saved)
    assert run_tool(stack3, "rc", "diff", str(again)).returncode == 0
    fresh = spawn_stack([*NICS, "--rc", str(again)], sockdir=sockdir)
    try:
        after = ifconfig(fresh, "lagg0").stdout
    finally:
        fresh.stop()
    strip = [line for line in before.splitlines() if "ether" not in line and "hwaddr" not in line]
    assert [line for line in after.splitlines()
            if "ether" not in line and "hwaddr" not in line] == strip


def test_rc_save_keeps_the_options(stack3, tmp_path):
    """Options that differ from a new lagg's are saved after the protocol (lacp's need it)."""
    rc = tmp_path / "rc.conf"
    rc.write_text('cloned_interfaces="lagg0"\n'
                  'ifconfig_lagg0="laggproto lacp lacp_fast_timeout -lacp_strict -use_numa '
                  'laggport vnet1 laggport vnet0"\n')
    r = run_tool(stack3, "rc", "apply", str(rc))
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    saved = run_tool(stack3, "rc", "save").stdout
    assert ('create_args_lagg0="laggproto lacp -use_numa -lacp_strict lacp_fast_timeout '
            'laggport vnet1 laggport vnet0"') in saved.splitlines()
    again = tmp_path / "saved.conf"
    again.write_text(saved)
    assert run_tool(stack3, "rc", "diff", str(again)).returncode == 0
    # a new protocol is a new lacp state: its options are the defaults again
    assert ifconfig(stack3, "lagg0", "laggproto", "lacp").returncode == 0
    saved = run_tool(stack3, "rc", "save").stdout
    assert ('create_args_lagg0="laggproto lacp -use_numa laggport vnet1 laggport vnet0"'
            in saved.splitlines())


# -------------------------------------------------------------------- traffic, with Linux
def _ping_from(ns, addr):
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "3", addr],
                          capture_output=True, text=True)


def _lagg_stack(ns, proto, sockdir, k0, k1):
    stack = spawn_stack(["--nic", f"vnet0=tap:{k0},netns={ns}",
                         "--nic", f"vnet1=tap:{k1},netns={ns}"], sockdir=sockdir)
    for argv in (["vnet0", "up"], ["vnet1", "up"],
                 ["lagg0", "create", "laggproto", proto, "laggport", "vnet0", "laggport",
                  "vnet1", "10.246.0.2/24", "up"]):
        r = ifconfig(stack, *argv)
        assert r.returncode == 0, r.stderr
    return stack


def test_failover_through_a_linux_bridge(sockdir):
    require_root()
    with namespace("lf") as ns:
        stack = _lagg_stack(ns, "failover", sockdir, "klf0", "klf1")
        try:
            ip("-n", ns, "link", "add", "br0", "type", "bridge")
            for k in ("klf0", "klf1"):
                ip("-n", ns, "link", "set", k, "master", "br0")
            ip("-n", ns, "addr", "add", "10.246.0.1/24", "dev", "br0")
            ip("-n", ns, "link", "set", "br0", "up")
            assert _ping_from(ns, "10.246.0.2").returncode == 0
            # the primary goes down: the backup carries the lagg's traffic
            assert ifconfig(stack, "vnet0", "down").returncode == 0
            assert lagg_block(stack)[1:] == ["\tlaggport: vnet0 flags=1<MASTER>",
                                             "\tlaggport: vnet1 flags=4<ACTIVE>"]
            r = run_tool(stack, "ping", "-c", "1", "-t", "5", "10.246.0.1")
            assert r.returncode == 0, r.stdout + r.stderr
            assert _ping_from(ns, "10.246.0.2").returncode == 0
            with stack.client() as c:
                stats = {i["name"]: i["stats"] for i in c.call("sysctl",
                                                               {"name": "NET_RT_IFLIST"})}
            assert stats["vnet1"]["opackets"] > 0
        finally:
            stack.stop()


def test_loadbalance_spreads_flows_over_both_ports(sockdir):
    """Through a Linux bridge (this kernel may lack bonding): pings to 16 addresses are 16
    flows; the l2,l3,l4 hash sends them out of both ports, and every one is answered."""
    require_root()
    with namespace("lb") as ns:
        stack = _lagg_stack(ns, "loadbalance", sockdir, "klb0", "klb1")
        try:
            ip("-n", ns, "link", "add", "br0", "type", "bridge")
            for k in ("klb0", "klb1"):
                ip("-n", ns, "link", "set", k, "master", "br0")
            targets = [f"10.246.0.{n}" for n in range(10, 26)]
            for addr in targets:
                ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "br0")
            ip("-n", ns, "link", "set", "br0", "up")
            for addr in targets:
                r = run_tool(stack, "ping", "-c", "1", "-t", "5", addr)
                assert r.returncode == 0, r.stdout + r.stderr
            with stack.client() as c:
                stats = {i["name"]: i["stats"] for i in c.call("sysctl",
                                                               {"name": "NET_RT_IFLIST"})}
            assert stats["vnet0"]["opackets"] > 0 and stats["vnet1"]["opackets"] > 0
            assert _ping_from(ns, "10.246.0.2").returncode == 0
        finally:
            stack.stop()
