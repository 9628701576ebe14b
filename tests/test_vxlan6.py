"""VXLAN over an IPv6 underlay (::1, no root): devices, two stacks whose --nic backends are
`vxlan:VNI,[::1]:PORT,[::1]:PORT`, and vxlan(4) clones made with ifconfig's vxlanlocal /
vxlanremote as IPv6 addresses; IPv4 and IPv6 (ND, ping, traceroute6) inside the tunnel."""
from __future__ import annotations

import select
import socket

import pytest

from conftest import run_tool
from plebnet_core.dataplane.phy import VxlanDevice
from plebnet_core.dataplane.wire import ethernet
from plebnet_core.spawn import spawn_stack
from test_dataplane_stacks import free_udp_ports
from test_ipv6_stacks import add6, ping6, replies, settled

FRAME = ethernet.emit(ethernet.BROADCAST, ethernet.mac_parse("02:00:00:00:00:0b"), 0x88B5,
                      b"plebnet vxlan over ipv6")


def free_udp6_ports(n: int) -> list[int]:
    return free_udp_ports(n, socket.AF_INET6)


def vx6(local: int, remote: int, vni: int = 42) -> str:
    return f"vxlan:{vni},[::1]:{local},[::1]:{remote}"


def ping4(client, dst, count=2):
    rows = []
    for chunk in client.stream("ping", {"dst": dst, "count": count, "interval": 0.05,
                                        "waittime": 2.0}):
        rows.extend(chunk or ())
    return [r for r in rows if r.get("ev") == "reply"]


def test_devices_over_ipv6_loopback():
    a = VxlanDevice("vxa", vni=42, local=("::1", 0), remote=("::1", 9))
    b = VxlanDevice("vxb", vni=42, local=("::1", 0), remote=a.local[:2])
    try:
        a.remote = b.local[:2]
        a.send(FRAME)
        select.select([b.fileno()], [], [], 2)
        assert b.recv() == FRAME
        b.send(FRAME[::-1])
        select.select([a.fileno()], [], [], 2)
        assert a.recv() == FRAME[::-1]
        assert (a.stats.opackets, a.stats.ipackets) == (1, 1)
    finally:
        a.close()
        b.close()


@pytest.fixture
def pair6(sockdir):
    p = free_udp6_ports(2)
    stacks = []
    try:
        stacks.append(spawn_stack(["--nic", f"vnet0={vx6(p[0], p[1])}"], sockdir=sockdir))
        stacks.append(spawn_stack(["--nic", f"vnet0={vx6(p[1], p[0])}"], sockdir=sockdir))
        yield stacks
    finally:
        for s in stacks:
            s.stop()


def test_two_stacks_over_an_ipv6_underlay(pair6):
    a, b = pair6
    with a.client() as ca, b.client() as cb:
        ca.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.6.0.1", plen=24)
        cb.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.6.0.2", plen=24)
        add6(ca, "vnet0", "2001:db8:6::1")
        add6(cb, "vnet0", "2001:db8:6::2")
        settled(ca, "vnet0")
        settled(cb, "vnet0")
        assert [r["from"] for r in ping4(ca, "10.6.0.2")] == ["10.6.0.2"] * 2
        rows = ping6(ca, "2001:db8:6::2", count=2)
        assert [r["from"] for r in replies(rows)] == ["2001:db8:6::2"] * 2
    res = run_tool(b, "traceroute6", "-n", "-q", "1", "2001:db8:6::1")
    assert res.returncode == 0 and res.stdout.startswith(" 1  2001:db8:6::1  "), res.stdout


def test_vxlan_clones_with_ipv6_endpoints(sockdir):
    p = free_udp6_ports(2)
    with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as a, \
            spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as b:
        for s, mine, theirs, v4, v6 in ((a, p[0], p[1], "10.7.0.1", "2001:db8:7::1"),
                                        (b, p[1], p[0], "10.7.0.2", "2001:db8:7::2")):
            res = run_tool(s, "ifconfig", "vxlan0", "create", "vxlanid", "77",
                           "vxlanlocal", "::1", "vxlanremote", "::1",
                           "vxlanlocalport", str(mine), "vxlanremoteport", str(theirs),
                           "inet", f"{v4}/24", "up")
            assert res.returncode == 0, res.stderr
            res = run_tool(s, "ifconfig", "vxlan0", "inet6", f"{v6}/64")
            assert res.returncode == 0, res.stderr
        res = run_tool(a, "ifconfig", "vxlan0")
        assert f"\tvxlan vni 77 local [::1]:{p[0]} remote [::1]:{p[1]}\n" in res.stdout, \
            res.stdout
        with a.client() as ca, b.client() as cb:
            settled(ca, "vxlan0")
            settled(cb, "vxlan0")
            assert [r["from"] for r in ping4(ca, "10.7.0.2")] == ["10.7.0.2"] * 2
            rows = ping6(cb, "2001:db8:7::1", count=2)
            assert [r["from"] for r in replies(rows)] == ["2001:db8:7::1"] * 2
        # mixing families is refused as ifconfig refuses it
        res = run_tool(a, "ifconfig", "vxlan1", "create", "vxlanid", "78", "vxlanlocal",
                       "::1", "vxlanremote", "127.0.0.1")
        assert res.returncode != 0 and "cannot mix IPv4 and IPv6 addresses" in res.stderr
