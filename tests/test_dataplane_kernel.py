"""The stack against the Linux kernel as a peer, inside throwaway namespaces (root).

Every stack here is a real plebnet process whose NICs are TAP interfaces (or a VXLAN socket)
with the kernel side in a namespace the test creates; the kernel's own tools (ping,
traceroute, ip neigh, a UDP socket) are the other end.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from netns_util import ip, kernel_vtep, namespace, require_root
from test_dataplane_stacks import need_tool
from plebproto.errors import OpError
from plebproto.constants import RTF_BLACKHOLE, RTF_STATIC
from plebnet_core.spawn import spawn_stack

pytestmark = pytest.mark.root


def kname(tag: str) -> str:
    return f"pk{os.getpid() % 100000}{tag}"        # < IFNAMSIZ, unique per test run


def in_ns(ns, *argv, timeout=30):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=timeout)


def addr(client, ifname, address, plen=24):
    client.ioctl("SIOCAIFADDR", ifname=ifname, addr=address, plen=plen)


def ping(client, dst, count=1, **kw):
    rows = []
    for chunk in client.stream("ping", {"dst": dst, "count": count, "interval": 0.05,
                                        "waittime": kw.pop("waittime", 2.0), **kw}):
        rows.extend(chunk or ())
    return [r for r in rows if r.get("ev") == "reply"]


def kernel_mac(ns, ifname) -> str:
    return re.search(r"link/ether (\S+)", ip("-n", ns, "link", "show", ifname)).group(1)


@pytest.fixture
def tap_stack(sockdir, tmp_path):
    """A stack whose vnet0 is TAP interface k in a namespace (kernel side 10.241.0.1/24,
    stack 10.241.0.2/24), capturing vnet0 to a pcap."""
    require_root()
    with namespace("tap") as ns:
        k = kname("t")
        cap = tmp_path / "vnet0.pcap"
        with spawn_stack(["--nic", f"vnet0=tap:{k},netns={ns},addr=10.241.0.1/24",
                          "--pcap", f"vnet0={cap}"], sockdir=sockdir) as s, s.client() as c:
            addr(c, "vnet0", "10.241.0.2")
            yield ns, k, s, c, cap


def test_kernel_and_stack_ping_each_other_over_tap(tap_stack):
    ns, k, s, c, cap = tap_stack
    res = in_ns(ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "10.241.0.2")
    assert res.returncode == 0 and " 0% packet loss" in res.stdout, res.stdout
    info = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]
    assert info["drv_status"] == f"Opened by PID {s.pid}"
    assert info["mac"] in ip("-n", ns, "neigh", "show", "10.241.0.2")     # kernel learned us
    assert len(ping(c, "10.241.0.1", count=3)) == 3                      # and we ping it
    entry = {e["addr"]: e for e in c.sysctl("NET_RT_FLAGS", af="inet")}["10.241.0.1"]
    assert entry["mac"] == kernel_mac(ns, k) and 1100 < entry["expire"] <= 1200
    stats = info["stats"]
    assert stats["ipackets"] >= 3 and stats["opackets"] >= 3
    need_tool("tcpdump")                             # the --pcap capture reads cleanly
    out = subprocess.run(["tcpdump", "-nn", "-vv", "-r", str(cap)], capture_output=True,
                         text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and text.count("ICMP echo reply") >= 6, text
    for bad in ("bad cksum", "malformed", "truncated", "[|"):
        assert bad not in text, text


def test_udp_echo_and_port_unreachable(tap_stack):
    ns, _, _, c, _ = tap_stack
    script = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.241.0.2", 7))
s.send(b"plebnet echo")
print(s.recv(100).decode())
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t.settimeout(3)
t.connect(("10.241.0.2", 9))
t.send(b"x")
try:
    t.recv(10)
except ConnectionRefusedError:
    print("refused")
"""
    res = in_ns(ns, sys.executable, "-c", script)
    assert res.stdout.split("\n")[:2] == ["plebnet echo", "refused"], res.stderr
    c.sysctl("net.inet.udp.echo", value=0)
    res = in_ns(ns, sys.executable, "-c", script)
    assert res.stdout.startswith("") and "ConnectionRefusedError" in res.stderr


def test_tap_clone_opens_and_closes_a_kernel_interface(sockdir):
    require_root()
    with namespace("clone") as ns:
        k = kname("c")
        with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as s, s.client() as c:
            name = c.ioctl("SIOCIFCREATE2", ifname="tap",
                           params={"tapname": k, "netns": ns})["ifname"]
            assert name == "tap0"
            assert k in ip("-n", ns, "link", "show")
            info = c.sysctl("NET_RT_IFLIST", ifname="tap0")[0]
            assert info["drv_status"] == f"Opened by PID {s.pid}"
            # the same kernel name again cannot open: the create fails and leaves nothing
            with pytest.raises(OpError):
                c.ioctl("SIOCIFCREATE2", ifname="tap1", params={"tapname": k, "netns": ns})
            assert [i["name"] for i in c.sysctl("NET_RT_IFLIST")] == ["vnet0", "lo0", "tap0"]
            c.ioctl("SIOCIFDESTROY", ifname="tap0")
            assert k not in ip("-n", ns, "link", "show")


def test_kernel_vxlan_is_the_peer_of_the_stacks_vxlan(sockdir):
    require_root()
    with kernel_vtep("10.243.0", "10.244.0") as (k, s):
        backend = f"vxlan:42,10.243.0.2:4789,10.243.0.1:4789,netns={s}"
        with spawn_stack(["--nic", f"vnet0={backend}"], sockdir=sockdir) as st, \
                st.client() as c:
            addr(c, "vnet0", "10.244.0.2")
            res = in_ns(k, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "10.244.0.2")
            assert res.returncode == 0, res.stdout
            assert len(ping(c, "10.244.0.1", count=2)) == 2
            mac = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["mac"]
            assert mac in ip("-n", k, "neigh", "show", "10.244.0.2")


@pytest.fixture
def router(sockdir):
    """L (10.242.1.1) -- stack (10.242.1.2 | 10.242.2.2) -- R (10.242.2.1, and 10.242.3.1 on
    its lo behind it).  Forwarding on; the stack routes 10.242.3.0/24 via R."""
    require_root()
    with namespace("rl") as left, namespace("rr") as right:
        kl, kr = kname("l"), kname("r")
        with spawn_stack(["--nic", f"vnet0=tap:{kl},netns={left},addr=10.242.1.1/24",
                          "--nic", f"vnet1=tap:{kr},netns={right},addr=10.242.2.1/24"],
                         sockdir=sockdir) as s, s.client() as c:
            ip("-n", left, "route", "add", "default", "via", "10.242.1.2")
            ip("-n", right, "route", "add", "default", "via", "10.242.2.2")
            ip("-n", right, "addr", "add", "10.242.3.1/32", "dev", "lo")
            addr(c, "vnet0", "10.242.1.2")
            addr(c, "vnet1", "10.242.2.2")
            c.sysctl("net.inet.ip.forwarding", value=1)
            c.rtmsg("RTM_ADD", dst="10.242.3.0", plen=24, gateway="10.242.2.1")
            yield left, right, c


def kping(ns, dst, *opts):
    return in_ns(ns, "ping", "-n", "-c", "1", "-W", "2", *opts, dst)


def test_router_forwards_traceroute_shows_the_hop(router):
    left, right, c = router
    assert kping(left, "10.242.2.1").returncode == 0
    res = kping(left, "10.242.3.1")
    assert res.returncode == 0 and "ttl=63" in res.stdout, res.stdout
    need_tool("traceroute")
    res = in_ns(left, "traceroute", "-n", "-q", "1", "-w", "2", "10.242.3.1")
    hops = [line.split()[:2] for line in res.stdout.splitlines()[1:]]
    assert hops[:2] == [["1", "10.242.1.2"], ["2", "10.242.3.1"]], res.stdout


def test_router_errors_deleted_route_blackhole_and_mtu(router):
    left, right, c = router
    assert kping(left, "10.242.3.1").returncode == 0
    c.rtmsg("RTM_DELETE", dst="10.242.3.0", plen=24)
    res = kping(left, "10.242.3.1")
    assert res.returncode != 0
    assert "From 10.242.1.2 icmp_seq=1 Destination Net Unreachable" in res.stdout, res.stdout
    c.rtmsg("RTM_ADD", dst="10.242.3.0", plen=24, gateway="10.242.2.1",
            flags=RTF_STATIC | RTF_BLACKHOLE)
    res = kping(left, "10.242.3.1")
    assert res.returncode != 0 and "Unreachable" not in res.stdout, res.stdout
    # a smaller egress MTU: fragments when allowed, need-frag with DF
    c.ioctl("SIOCSIFMTU", ifname="vnet1", mtu=1000)
    res = kping(left, "10.242.2.1", "-M", "dont", "-s", "1400")
    assert res.returncode == 0 and "1408 bytes from 10.242.2.1" in res.stdout, res.stdout
    res = kping(left, "10.242.2.1", "-M", "do", "-s", "1400")
    assert res.returncode != 0
    assert re.search(r"mtu ?= ?1000", res.stdout + res.stderr), res.stdout + res.stderr


def test_tap_clone_default_kernel_name_is_unique_to_the_stack(sockdir):
    require_root()
    with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as s, s.client() as c:
        c.ioctl("SIOCIFCREATE2", ifname="tap0")
        kernel = f"pl{s.pid}tap0"[:15]
        assert "state DOWN" in ip("link", "show", kernel)
        c.ioctl("SIOCIFDESTROY", ifname="tap0")
        assert ip("link", "show", kernel, check=False) == ""
