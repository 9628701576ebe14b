"""Stacks linked by Ethernet over UDP (VXLAN framing) on loopback: no root needed.

The README demo's shape: plebnet processes whose vnet0 NICs are each other's VTEP, configured
through the RPC, pinging across, with a third network routed through the middle one; a pcap the
stack writes must read cleanly in tcpdump.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import run_tool
from plebnet_core.spawn import spawn_stack


def need_tool(name: str) -> None:
    """Skip without the Debian tool (make test-deps installs it), except in CI."""
    if shutil.which(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing and CI is set: run make test-deps")
        pytest.skip(f"{name} not installed (make test-deps)")


def free_udp_ports(n: int, family: int = socket.AF_INET) -> list[int]:
    """n UDP ports free on the loopback address of family (127.0.0.1 or ::1)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def vx(local: int, remote: int, vni: int = 42) -> str:
    return f"vxlan:{vni},127.0.0.1:{local},127.0.0.1:{remote}"


def addr(client, ifname, address, plen=24):
    client.ioctl("SIOCAIFADDR", ifname=ifname, addr=address, plen=plen)


def ping(client, dst, count=1, **kw):
    """Events of one ping op, flattened."""
    rows = []
    for chunk in client.stream("ping", {"dst": dst, "count": count, "interval": 0.05,
                                        "waittime": kw.pop("waittime", 2.0), **kw}):
        rows.extend(chunk or ())
    return rows


def replies(rows):
    return [r for r in rows if r.get("ev") == "reply"]


@pytest.fixture
def chain(sockdir):
    """a --vx-- b --vx-- c: 10.9.0.0/24 between a and b, 10.10.0.0/24 between b and c."""
    p = free_udp_ports(4)
    stacks = []
    try:
        a = spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir)
        stacks.append(a)
        b = spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}", "--nic",
                         f"vnet1={vx(p[2], p[3], 43)}"], sockdir=sockdir)
        stacks.append(b)
        c = spawn_stack(["--nic", f"vnet0={vx(p[3], p[2], 43)}"], sockdir=sockdir)
        stacks.append(c)
        yield a, b, c
    finally:
        for s in stacks:
            s.stop()


def test_two_stacks_ping_and_a_third_network_routed_through_one(chain):
    a, b, c = chain
    with a.client() as ca, b.client() as cb, c.client() as cc:
        addr(ca, "vnet0", "10.9.0.1")
        addr(cb, "vnet0", "10.9.0.2")
        addr(cb, "vnet1", "10.10.0.2")
        addr(cc, "vnet0", "10.10.0.3")
        rows = ping(ca, "10.9.0.2", count=3)
        assert [r["seq"] for r in replies(rows)] == [0, 1, 2]
        assert all(r["ttl"] == 64 and r["bytes"] == 64 for r in replies(rows))
        # both learned each other, with FreeBSD's 1200 s lifetime counting down
        arp_a = {e["addr"]: e for e in ca.sysctl("NET_RT_FLAGS", af="inet")}
        mac_b = cb.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["mac"]
        assert arp_a["10.9.0.2"]["mac"] == mac_b and 1100 < arp_a["10.9.0.2"]["expire"] <= 1200
        # the third network, through b
        ca.rtmsg("RTM_ADD", dst="10.10.0.0", plen=24, gateway="10.9.0.2")
        cc.rtmsg("RTM_ADD", dst="10.9.0.0", plen=24, gateway="10.10.0.2")
        rows = ping(ca, "10.10.0.3", waittime=1.0)
        assert replies(rows) == []                      # b does not forward yet
        cb.sysctl("net.inet.ip.forwarding", value=1)
        rows = ping(ca, "10.10.0.3", count=2)
        assert [r["ttl"] for r in replies(rows)] == [63, 63]
        # no route at the router: it says so
        ca.rtmsg("RTM_ADD", dst="192.0.2.0", plen=24, gateway="10.9.0.2")
        rows = ping(ca, "192.0.2.1", waittime=1.0)
        errors = [r for r in rows if r.get("ev") == "icmp"]
        assert errors and (errors[0]["type"], errors[0]["code"], errors[0]["from"]) == (
            3, 0, "10.9.0.2")
        stats = {i["name"]: i["stats"] for i in cb.sysctl("NET_RT_IFLIST")}
        assert stats["vnet0"]["ipackets"] >= 4 and stats["vnet1"]["opackets"] >= 2


def test_plebconf_ping_prints_what_freebsd_ping_prints(chain):
    a, b, _ = chain
    with a.client() as ca, b.client() as cb:
        addr(ca, "vnet0", "10.9.0.1")
        addr(cb, "vnet0", "10.9.0.2")
    res = run_tool(a, "ping", "-c", "2", "-i", "0.1", "10.9.0.2")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "PING 10.9.0.2 (10.9.0.2): 56 data bytes"
    for seq, line in enumerate(lines[1:3]):
        assert re.fullmatch(rf"64 bytes from 10\.9\.0\.2: icmp_seq={seq} ttl=64 "
                            rf"time=\d+\.\d{{3}} ms", line), line
    assert lines[3:6] == ["", "--- 10.9.0.2 ping statistics ---",
                          "2 packets transmitted, 2 packets received, 0.0% packet loss"]
    assert re.fullmatch(r"round-trip min/avg/max/stddev = (\d+\.\d{3}/){3}\d+\.\d{3} ms",
                        lines[6])
    res = run_tool(a, "ping", "-c", "1", "-S", "10.9.0.1", "-q", "10.9.0.2")
    assert res.stdout.splitlines()[0] == "PING 10.9.0.2 (10.9.0.2) from 10.9.0.1: 56 data bytes"
    assert len(res.stdout.splitlines()) == 5
    # nobody there: no reply, exit status 2
    res = run_tool(a, "ping", "-c", "1", "-W", "300", "10.9.0.77")
    assert res.returncode == 2
    assert "1 packets transmitted, 0 packets received, 100.0% packet loss" in res.stdout
    # no route: sendto fails
    res = run_tool(a, "ping", "-c", "1", "-W", "100", "192.0.2.1")
    assert res.returncode == 2 and res.stderr == "ping: sendto: No route to host\n"
    res = run_tool(a, "ping", "-x", "10.9.0.2")
    assert res.returncode == 64 and res.stderr.startswith("ping: illegal option -- x\nusage:")


def test_arp_failure_reports_host_down(sockdir):
    p = free_udp_ports(2)
    with spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir) as a:
        with a.client() as ca:
            addr(ca, "vnet0", "10.9.0.1")
            ca.sysctl("net.link.ether.inet.maxtries", value=2)
        res = run_tool(a, "ping", "-c", "4", "-i", "1", "-W", "1500", "10.9.0.5")
    assert res.returncode == 2
    # the held request comes back as host unreachable from ourselves, later sends fail
    assert "bytes from 10.9.0.1: Destination Host Unreachable" in res.stdout
    assert "Vr HL TOS  Len   ID Flg  off TTL Pro  cks      Src      Dst" in res.stdout
    assert "ping: sendto: Host is down" in res.stderr


def test_pcap_reads_cleanly_in_tcpdump(chain, tmp_path):
    need_tool("tcpdump")
    a, b, _ = chain
    with a.client() as ca, b.client() as cb:
        addr(ca, "vnet0", "10.9.0.1")
        addr(cb, "vnet0", "10.9.0.2")
        cap = tmp_path / "vnet0.pcap"
        tool = subprocess.Popen(
            [*_tool_argv(a), "tcpdump", "-i", "vnet0", "-w", str(cap), "-c", "6"],
            env=_tool_env(a), stderr=subprocess.PIPE, text=True)
        assert tool.stderr.readline() == ("tcpdump: listening on vnet0, link-type EN10MB "
                                          "(Ethernet), snapshot length 262144 bytes\n")
        ping(ca, "10.9.0.2", count=2)
        cb.sysctl("net.inet.udp.echo", value=1)
        err = tool.communicate(timeout=20)[1]
        assert tool.returncode == 0 and err.startswith("6 packets captured\n")
        ping(ca, "127.0.0.1")
    out = subprocess.run(["tcpdump", "-nn", "-vv", "-r", str(cap)], capture_output=True,
                         text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    for bad in ("bad cksum", "malformed", "truncated", "[|", "wrong"):
        assert bad not in text, text
    assert "ARP, Request who-has 10.9.0.2 tell 10.9.0.1" in text.replace("Ethernet (len 6), "
                                                                        "IPv4 (len 4), ", "")
    assert text.count("ICMP echo request") == 2 and text.count("ICMP echo reply") == 2


def _tool_argv(stack):
    import sys
    return [sys.executable, "-m", "plebconf"]


def _tool_env(stack):
    import os
    env = stack.env()
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return env


@pytest.mark.parametrize("nic, message", [
    ("vnet0=bogus", "backend 'bogus' is not available (known: none, tap, vxlan)"),
    ("vnet0=vxlan:42,127.0.0.1:4789", "vxlan needs VNI,LOCAL_ADDR:PORT,REMOTE_ADDR:PORT"),
    ("vnet0=vxlan:42,127.0.0.1:70000,127.0.0.1:1", "'127.0.0.1:70000' is not ADDRESS:PORT"),
    ("vnet0=tap:", "tap needs a kernel interface name: tap:NAME[,netns=NS]"),
])
def test_bad_nic_backends_are_usage_errors(sockdir, nic, message):
    import sys
    from plebnet_core.spawn import ROOT
    res = subprocess.run([sys.executable, "-m", "plebnet_core", "--nic", nic, "--sockdir",
                          sockdir], capture_output=True, text=True, timeout=30,
                         env={**__import__("os").environ, "PYTHONPATH": ROOT})
    assert (res.returncode, res.stderr) == (64, f"plebnet: --nic {nic}: {message}\n")


def test_a_taken_vxlan_port_stops_the_stack_cleanly(sockdir):
    from plebnet_core.spawn import StackStartError
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(StackStartError, match="Address already in use"):
            spawn_stack(["--nic", f"vnet0={vx(port, 9)}"], sockdir=sockdir)
