"""bridge(4) and epair(4): two stacks bridged through a third stack's bridge0 (all over
Ethernet over UDP on 127.0.0.1) ping each other, the bridge itself, and an epair end behind
it; the listings as FreeBSD 14's ifbridge.c and if_epair.c give them; BRDGADD/BRDGDEL errors;
the rc.conf round trip; a second lo clone with no address until it is up."""
from __future__ import annotations

import re

import pytest
from conftest import run_tool
from test_dataplane_stacks import free_udp_ports, ping, replies, vx

from plebnet_core.spawn import spawn_stack


def ifconfig(stack, *argv):
    res = run_tool(stack, "ifconfig", *argv)
    return res.returncode, res.stdout, res.stderr


def mac_of(stack, ifname):
    return re.search(r"ether (\S+)", ifconfig(stack, ifname)[1]).group(1)


def index_of(stack, ifname):
    with stack.client() as c:
        return c.sysctl("NET_RT_IFLIST", ifname=ifname)[0]["index"]


@pytest.fixture
def bridged(sockdir):
    """a --vx-- b --vx-- c, with b's vnet0 and vnet1 the members of its bridge0."""
    p = free_udp_ports(4)
    stacks = []
    try:
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}",
                                   "--nic", f"vnet1={vx(p[2], p[3], 43)}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx(p[3], p[2], 43)}"], sockdir=sockdir))
        yield stacks
    finally:
        for s in stacks:
            s.stop()


def test_two_stacks_ping_each_other_through_a_bridge(bridged):
    a, b, c = bridged
    assert ifconfig(b, "bridge", "create") == (0, "bridge0\n", "")
    assert ifconfig(b, "bridge0", "addm", "vnet0", "addm", "vnet1", "up") == (0, "", "")
    for stack in (b,):
        assert ifconfig(stack, "vnet0", "up") == (0, "", "")
        assert ifconfig(stack, "vnet1", "up") == (0, "", "")
    assert ifconfig(a, "vnet0", "inet", "10.8.0.1/24") == (0, "", "")
    assert ifconfig(c, "vnet0", "inet", "10.8.0.3/24") == (0, "", "")
    with a.client() as ca:
        assert [r["seq"] for r in replies(ping(ca, "10.8.0.3", count=3))] == [0, 1, 2]
    with c.client() as cc:
        assert [r["seq"] for r in replies(ping(cc, "10.8.0.1", count=1))] == [0]
    # the bridge learned a on vnet0 and c on vnet1
    with b.client() as cb:
        rows = cb.sysctl("NET_RT_IFLIST", ifname="bridge0")[0]["bridge"]["addrs"]
    where = {r["mac"]: r["ifname"] for r in rows}
    assert where[mac_of(a, "vnet0")] == "vnet0" and where[mac_of(c, "vnet0")] == "vnet1"
    assert all(1100 < r["expire"] <= 1200 for r in rows)
    # `ifconfig bridge0 addr`, as bridge_addresses() prints the table
    code, out, err = ifconfig(b, "bridge0", "addr")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert sorted(re.sub(r" \d+ flags", " N flags", line) for line in lines) == sorted(
        [f"{mac_of(a, 'vnet0')} Vlan0 vnet0 N flags=0<>",
         f"{mac_of(c, 'vnet0')} Vlan0 vnet1 N flags=0<>"])
    assert all(1100 < int(line.split()[3]) <= 1200 for line in lines)
    assert ifconfig(b, "vnet0", "addr") == (
        1, "", "ifconfig: unable to get address cache: Invalid argument\n")
    assert ifconfig(b, "bridge0", "flush") == (0, "", "")
    assert ifconfig(b, "bridge0", "addr") == (0, "", "")
    assert ifconfig(b, "vnet0", "flush") == (1, "", "ifconfig: BRDGFLUSH: Invalid argument\n")
    # an address on the bridge itself
    assert ifconfig(b, "bridge0", "inet", "10.8.0.2/24") == (0, "", "")
    with a.client() as ca:
        assert [r["seq"] for r in replies(ping(ca, "10.8.0.2", count=1))] == [0]
    # members (newest first), their flags and port lines; the bridge's MTU was vnet0's
    assert ifconfig(b, "bridge0")[1] == (
        "bridge0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        f"\tether {mac_of(b, 'bridge0')}\n"
        "\tinet 10.8.0.2 netmask 0xffffff00 broadcast 10.8.0.255\n"
        "\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n"
        "\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200\n"
        "\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0\n"
        "\tmember: vnet1 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n"
        f"\t        ifmaxaddr 0 port {index_of(b, 'vnet1')} priority 128 path cost 2000\n"
        "\tmember: vnet0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n"
        f"\t        ifmaxaddr 0 port {index_of(b, 'vnet0')} priority 128 path cost 2000\n"
        "\tgroups: bridge\n"
        "\tnd6 options=9<PERFORMNUD,IFDISABLED>\n")
    # members are promiscuous
    assert ifconfig(b, "vnet0")[1].startswith(
        "vnet0: flags=1008943<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST,LOWER_UP>")
    # without vnet1 in the bridge, c is cut off
    assert ifconfig(b, "bridge0", "deletem", "vnet1") == (0, "", "")
    assert ifconfig(b, "vnet1")[1].startswith(
        "vnet1: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP>")
    with a.client() as ca:
        assert replies(ping(ca, "10.8.0.3", count=1, waittime=0.5)) == []

    # an epair behind the bridge: its far end answers a
    assert ifconfig(b, "epair", "create", "up") == (0, "epair0a\n", "")
    assert ifconfig(b, "bridge0", "addm", "epair0a") == (0, "", "")
    assert ifconfig(b, "epair0b", "inet", "10.8.0.9/24") == (0, "", "")
    with a.client() as ca:
        assert [r["seq"] for r in replies(ping(ca, "10.8.0.9", count=2))] == [0, 1]
    with b.client() as cb:
        stats = {i["name"]: i["stats"] for i in cb.sysctl("NET_RT_IFLIST")}
    assert stats["epair0a"]["opackets"] >= 2 and stats["epair0b"]["ipackets"] >= 2
    # learned destinations go to their member only: with c back, a's pings to c (both
    # learned, ARP resolved) put nothing out on epair0a
    assert ifconfig(b, "bridge0", "addm", "vnet1") == (0, "", "")
    with a.client() as ca:
        assert len(replies(ping(ca, "10.8.0.3", count=1))) == 1
        with b.client() as cb:
            before = {i["name"]: i["stats"] for i in cb.sysctl("NET_RT_IFLIST")}
            assert [r["seq"] for r in replies(ping(ca, "10.8.0.3", count=3))] == [0, 1, 2]
            after = {i["name"]: i["stats"] for i in cb.sysctl("NET_RT_IFLIST")}
    assert after["vnet1"]["opackets"] - before["vnet1"]["opackets"] >= 3
    assert after["epair0a"]["opackets"] == before["epair0a"]["opackets"]


def test_bridge_errors(bridged):
    _, b, _ = bridged
    assert ifconfig(b, "bridge0", "create") == (0, "", "")
    assert ifconfig(b, "bridge0", "addm", "vnet9") == (
        1, "", "ifconfig: BRDGADD vnet9: No such file or directory\n")
    assert ifconfig(b, "bridge0", "addm", "lo0") == (
        1, "", "ifconfig: BRDGADD lo0: Invalid argument\n")
    assert ifconfig(b, "bridge0", "addm", "vnet0") == (0, "", "")
    assert ifconfig(b, "bridge0", "addm", "vnet0") == (
        1, "", "ifconfig: BRDGADD vnet0: File exists\n")
    assert ifconfig(b, "bridge1", "create", "addm", "vnet0") == (
        1, "", "ifconfig: BRDGADD vnet0: Device busy\n")
    assert ifconfig(b, "-l")[1] == "vnet0 vnet1 lo0 bridge0\n"      # all or nothing
    assert ifconfig(b, "bridge0", "mtu", "9000") == (     # vnet0, a member, has 1500
        1, "", "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n")
    assert ifconfig(b, "vnet1", "mtu", "9000", "up") == (0, "", "")
    assert ifconfig(b, "bridge0", "addm", "vnet1") == (
        1, "", "ifconfig: BRDGADD vnet1: Invalid argument\n")
    assert ifconfig(b, "bridge0", "deletem", "vnet1") == (
        1, "", "ifconfig: BRDGDEL vnet1: No such file or directory\n")
    assert ifconfig(b, "vnet0", "addm", "vnet1") == (
        1, "", "ifconfig: BRDGADD vnet1: Invalid argument\n")
    # what the stack's bridge does not keep (spanning tree, cache limits) it refuses, in
    # ifbridge.c's words
    assert ifconfig(b, "bridge0", "stp", "vnet0") == (
        1, "", "ifconfig: unable to set bridge flags: Invalid argument\n")
    assert ifconfig(b, "bridge0", "maxaddr", "10") == (
        1, "", "ifconfig: BRDGSCACHE 10: Invalid argument\n")
    # a member renamed is still the member
    assert ifconfig(b, "vnet0", "name", "lan") == (0, "lan\n", "")
    assert re.findall(r"member: (\S+)", ifconfig(b, "bridge0")[1]) == ["lan"]
    # a destroyed bridge lets its members go
    assert ifconfig(b, "bridge0", "destroy") == (0, "", "")
    assert "PROMISC" not in ifconfig(b, "lan")[1]


def test_epair_listing_and_destroy(sockdir):
    s = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    try:
        assert ifconfig(s, "epair0", "create") == (0, "epair0a\n", "")
        assert ifconfig(s, "epair", "create") == (0, "epair1a\n", "")
        a, b = mac_of(s, "epair0a"), mac_of(s, "epair0b")
        # one MAC but for the last byte: 0a and 0b (epair_generate_mac)
        assert a[:-2] == b[:-2] and a.startswith("02:") and (a[-2:], b[-2:]) == ("0a", "0b")
        assert ifconfig(s, "epair0b")[1] == (
            "epair0b: flags=1008842<BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
            "mtu 1500\n"
            "\toptions=8<VLAN_MTU>\n"
            f"\tether {b}\n"
            "\tgroups: epair\n"
            "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
            "\tstatus: active\n"
            "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
        # down leaves RUNNING (epair has no stop)
        assert ifconfig(s, "epair0a", "up") == (0, "", "")
        assert ifconfig(s, "epair0a", "down") == (0, "", "")
        assert ifconfig(s, "epair0a")[1].startswith("epair0a: flags=1008842<")
        assert ifconfig(s, "epair0a", "create") == (
            1, "", "ifconfig: SIOCIFCREATE2 (epair0a): Invalid argument\n")
        # either end takes the other with it
        assert ifconfig(s, "epair0b", "destroy") == (0, "", "")
        assert ifconfig(s, "-l")[1] == "vnet0 lo0 epair1a epair1b\n"
    finally:
        s.stop()


def test_second_lo_clone_has_no_address_until_up(sockdir):
    """if_loop.c's lo_clone_create gives a clone no address (only rc gives lo0 127.0.0.1);
    bringing it up runs in6_ifattach (netinet6/in6_ifattach.c): ::1 exists on lo0 already,
    so only the link-local, whose identifier on a loopback is ::1 (fe80::1%lo1)."""
    s = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    try:
        assert ifconfig(s, "lo", "create") == (0, "lo1\n", "")
        assert ifconfig(s, "lo1")[1] == (
            "lo1: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n"
            "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
            "\tgroups: lo\n"
            "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
        assert ifconfig(s, "lo1", "up") == (0, "", "")
        assert ifconfig(s, "lo1")[1] == (
            "lo1: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384\n"
            "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
            f"\tinet6 fe80::1%lo1 prefixlen 64 scopeid 0x{index_of(s, 'lo1'):x}\n"
            "\tgroups: lo\n"
            "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
        assert ifconfig(s, "lo1", "inet", "127.0.0.2/8") == (0, "", "")
    finally:
        s.stop()


def test_rc_conf_bridge_epair_and_save_round_trip(sockdir, tmp_path):
    rc = tmp_path / "rc.conf"
    rc.write_text('cloned_interfaces="bridge0 epair0"\n'
                  'ifconfig_bridge0="inet 10.8.0.2/24 addm vnet0 addm epair0a"\n'
                  'ifconfig_epair0a="up"\n'
                  'ifconfig_epair0b="inet 10.8.0.9/24"\n'
                  'ifconfig_vnet0="up"\n')
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        assert ifconfig(s, "-l")[1] == "vnet0 lo0 bridge0 epair0a epair0b\n"
        assert re.findall(r"member: (\S+)", ifconfig(s, "bridge0")[1]) == ["epair0a", "vnet0"]
        saved = run_tool(s, "rc", "save").stdout
    finally:
        s.stop()
    assert 'cloned_interfaces="bridge0 epair0"' in saved
    assert 'ifconfig_bridge0="inet 10.8.0.2/24 addm vnet0 addm epair0a"' in saved
    rc.write_text(saved)
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        assert run_tool(s, "rc", "save").stdout == saved
    finally:
        s.stop()


def test_restored_stack_bridges_again(sockdir, tmp_path):
    """Kept state (--state) brings the clones back with their devices wired: after b
    restarts, the listings are the same and a still reaches the epair end behind b's
    bridge."""
    p = free_udp_ports(2)
    a = spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir)
    b_args = ["--nic", f"vnet0={vx(p[1], p[0])}", "--state", str(tmp_path / "b")]
    try:
        b = spawn_stack(b_args, sockdir=sockdir)
        try:
            for argv in (["vnet0", "up"], ["epair", "create", "up"],
                         ["bridge0", "create", "addm", "vnet0", "addm", "epair0a", "up"],
                         ["epair0b", "inet", "10.8.0.9/24"], ["vnet0.5", "create"]):
                assert ifconfig(b, *argv)[0] == 0, argv
            before = ifconfig(b)[1]
        finally:
            b.stop()
        assert ifconfig(a, "vnet0", "inet", "10.8.0.1/24") == (0, "", "")
        b = spawn_stack(b_args, sockdir=sockdir)
        try:
            assert ifconfig(b)[1] == before
            with a.client() as ca:
                assert [r["seq"] for r in replies(ping(ca, "10.8.0.9", count=2))] == [0, 1]
        finally:
            b.stop()
    finally:
        a.stop()


def test_restored_clones_list_the_same(sockdir, tmp_path):
    """Kept state (--state) brings back a vlan, a bridge with its members, an epair and a
    second lo as they were."""
    args = ["--nic", "vnet0=none", "--nic", "vnet1=none", "--state", str(tmp_path / "s")]
    s = spawn_stack(args, sockdir=sockdir)
    try:
        for argv in (["vnet0.5", "create", "inet", "10.5.0.1/24"],
                     ["bridge", "create", "addm", "vnet1", "up"], ["epair", "create", "up"],
                     ["bridge0", "addm", "epair0a"], ["epair0b", "inet", "10.8.0.9/24"],
                     ["lo1", "create", "up"]):
            assert ifconfig(s, *argv)[0] == 0, argv
        before = ifconfig(s)[1]
    finally:
        s.stop()
    s = spawn_stack(args, sockdir=sockdir)
    try:
        assert ifconfig(s)[1] == before
        assert ifconfig(s, "epair0a", "destroy") == (0, "", "")     # still a pair
        assert ifconfig(s, "-l")[1] == "vnet0 vnet1 lo0 vnet0.5 bridge0 lo1\n"
    finally:
        s.stop()


def test_renamed_epair_ends_round_trip(sockdir, tmp_path):
    """An epair whose ends were renamed is saved as epairN with ifconfig_epairNa_name and
    ifconfig_epairNb_name, and comes back as it was."""
    s = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    try:
        assert ifconfig(s, "epair", "create") == (0, "epair0a\n", "")
        assert ifconfig(s, "epair", "create") == (0, "epair1a\n", "")
        assert ifconfig(s, "epair0a", "inet", "10.3.0.1/24", "name", "host0") == (
            0, "host0\n", "")
        assert ifconfig(s, "epair0b", "name", "jail0") == (0, "jail0\n", "")
        assert ifconfig(s, "epair1b", "name", "jail1") == (0, "jail1\n", "")
        saved = run_tool(s, "rc", "save").stdout
    finally:
        s.stop()
    assert 'cloned_interfaces="epair0 epair1"' in saved
    assert 'ifconfig_epair0a_name="host0"' in saved and 'ifconfig_epair1b_name="jail1"' in saved
    rc = tmp_path / "rc.conf"
    rc.write_text(saved)
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        assert ifconfig(s, "-l")[1] == "vnet0 lo0 host0 jail0 epair1a jail1\n"
        assert run_tool(s, "rc", "save").stdout == saved
    finally:
        s.stop()
