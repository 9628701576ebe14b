"""IPv6 between the stack and the Linux kernel over TAP, inside throwaway namespaces (root):
the kernel pings the stack's global and link-local addresses and learns it by NDP, the stack
pings the kernel and learns it (its NDP dump shows the kernel's MAC), and the stack forwards
IPv6 between two namespaces with the ICMPv6 errors the kernel's ping reports."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from netns_util import ip, namespace, require_root
from test_dataplane_kernel import in_ns, kernel_mac, kname
from test_dataplane_stacks import need_tool
from test_ipv6_stacks import add6, link_local, ndp, ping6, replies, settled
from plebproto.constants import IN6_IFF_TENTATIVE
from plebnet_core.spawn import spawn_stack

pytestmark = pytest.mark.root


def kernel_settled(ns, dev, limit=10.0):
    """Wait (bounded) for the kernel's own DAD on dev; its link-local address then."""
    end = time.monotonic() + limit
    while True:
        out = ip("-n", ns, "-6", "addr", "show", "dev", dev)
        if "tentative" not in out or time.monotonic() > end:
            found = re.search(r"inet6 (fe80::\S+)/64", out)
            return found.group(1) if found else None
        time.sleep(0.2)


@pytest.fixture
def tap6(sockdir, tmp_path):
    """The stack's vnet0 is TAP k in a namespace: kernel 2001:db8:241::1/64, stack ::2;
    vnet0 is captured to tmp_path/vnet0.pcap."""
    require_root()
    with namespace("tap6") as ns:
        k = kname("6")
        cap = tmp_path / "vnet0.pcap"
        with spawn_stack(["--nic", f"vnet0=tap:{k},netns={ns}", "--pcap", f"vnet0={cap}"],
                         sockdir=sockdir) as s, s.client() as c:
            ip("-n", ns, "addr", "add", "2001:db8:241::1/64", "dev", k, "nodad")
            add6(c, "vnet0", "2001:db8:241::2")
            assert not any(f & IN6_IFF_TENTATIVE for f in settled(c, "vnet0").values())
            yield ns, k, c, cap


def test_kernel_pings_the_stack_and_learns_it(tap6):
    ns, k, c, cap = tap6
    res = in_ns(ns, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:241::2")
    assert res.returncode == 0 and " 0% packet loss" in res.stdout, res.stdout
    mac = c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["mac"]
    neigh = ip("-n", ns, "-6", "neigh", "show", "2001:db8:241::2")
    assert mac in neigh, neigh                      # the kernel learned us by NDP
    ll = link_local(c, "vnet0").split("%")[0]
    kernel_settled(ns, k)
    res = in_ns(ns, "ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "2", f"{ll}%{k}")
    assert res.returncode == 0 and " 0% packet loss" in res.stdout, res.stdout
    assert mac in ip("-n", ns, "-6", "neigh", "show", ll)
    # and the stack learned the kernel (it solicited us with its link-layer address)
    assert ndp(c)["2001:db8:241::1"]["mac"] == kernel_mac(ns, k)
    # what went over the wire reads cleanly, every ICMPv6 checksum right
    need_tool("tcpdump")
    out = subprocess.run(["tcpdump", "-nn", "-vv", "-r", str(cap)], capture_output=True,
                         text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and text.count("ICMP6, echo reply") >= 5, text
    assert "ICMP6, neighbor advertisement" in text and "ICMP6, neighbor solicitation" in text
    for bad in ("bad icmp6 cksum", "bad cksum", "malformed", "truncated", "[|"):
        assert bad not in text, text


def test_stack_pings_the_kernel_global_and_link_local(tap6):
    ns, k, c, cap = tap6
    rows = ping6(c, "2001:db8:241::1", count=3)
    assert [r["seq"] for r in replies(rows)] == [0, 1, 2], rows
    assert all(r["ttl"] == 64 and r["from"] == "2001:db8:241::1" for r in replies(rows))
    entry = ndp(c)["2001:db8:241::1"]
    assert entry["mac"] == kernel_mac(ns, k) and entry["expire"] > 0
    kll = kernel_settled(ns, k)
    assert kll is not None
    rows = ping6(c, f"{kll}%vnet0", count=2)
    assert [r["from"] for r in replies(rows)] == [f"{kll}%vnet0"] * 2, rows
    assert ndp(c)[f"{kll}%vnet0"]["mac"] == kernel_mac(ns, k)


@pytest.fixture
def router6(sockdir):
    """L (2001:db8:242:1::1) -- stack (::2 | 2001:db8:242:2::2) -- R (2001:db8:242:2::1,
    and 2001:db8:242:3::1 on its lo).  Forwarding on; the stack routes :3::/64 via R."""
    require_root()
    with namespace("r6l") as left, namespace("r6r") as right:
        kl, kr = kname("x"), kname("y")
        with spawn_stack(["--nic", f"vnet0=tap:{kl},netns={left}",
                          "--nic", f"vnet1=tap:{kr},netns={right}"],
                         sockdir=sockdir) as s, s.client() as c:
            ip("-n", left, "addr", "add", "2001:db8:242:1::1/64", "dev", kl, "nodad")
            ip("-n", right, "addr", "add", "2001:db8:242:2::1/64", "dev", kr, "nodad")
            ip("-n", right, "addr", "add", "2001:db8:242:3::1/128", "dev", "lo")
            ip("-n", left, "-6", "route", "add", "default", "via", "2001:db8:242:1::2")
            ip("-n", right, "-6", "route", "add", "default", "via", "2001:db8:242:2::2")
            add6(c, "vnet0", "2001:db8:242:1::2")
            add6(c, "vnet1", "2001:db8:242:2::2")
            settled(c, "vnet0")
            settled(c, "vnet1")
            c.sysctl("net.inet6.ip6.forwarding", value=1)
            c.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:242:3::", plen=64,
                    gateway="2001:db8:242:2::1")
            yield left, right, c


def kping6(ns, dst, *opts):
    return in_ns(ns, "ping", "-6", "-n", "-c", "1", "-W", "2", *opts, dst)


def test_stack_forwards_ipv6_between_namespaces(router6):
    left, right, c = router6
    res = kping6(left, "2001:db8:242:2::1")
    assert res.returncode == 0, res.stdout
    res = kping6(left, "2001:db8:242:3::1")
    assert res.returncode == 0 and "ttl=63" in res.stdout, res.stdout
    # hop limit 1: time exceeded from the stack
    res = kping6(left, "2001:db8:242:3::1", "-t", "1")
    assert res.returncode != 0
    assert "From 2001:db8:242:1::2 icmp_seq=1 Time exceeded: Hop limit" in res.stdout, \
        res.stdout
    # no route: destination unreachable, no route
    c.rtmsg("RTM_DELETE", af="inet6", dst="2001:db8:242:3::", plen=64)
    res = kping6(left, "2001:db8:242:3::1")
    assert "From 2001:db8:242:1::2 icmp_seq=1 Destination unreachable: No route" in \
        res.stdout, res.stdout
    # too big for the far link: the kernel learns the MTU and fragments at the source
    c.ioctl("SIOCSIFMTU", ifname="vnet1", mtu=1280)
    res = kping6(left, "2001:db8:242:2::1", "-s", "1400")
    assert "Packet too big: mtu=1280" in res.stdout, res.stdout
    # ... so the next try goes out in fragments, which the stack forwards as they are
    res = kping6(left, "2001:db8:242:2::1", "-s", "1400")
    assert res.returncode == 0 and "1408 bytes from 2001:db8:242:2::1" in res.stdout, \
        res.stdout


def test_fragmented_pings_both_ways(tap6):
    ns, k, c, cap = tap6
    # the kernel's 3008-byte echo comes in fragments, the stack's reply goes out in fragments
    res = in_ns(ns, "ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "2", "-s", "3000",
                "2001:db8:241::2")
    assert res.returncode == 0 and "3008 bytes from 2001:db8:241::2" in res.stdout, res.stdout
    rows = ping6(c, "2001:db8:241::1", count=2, size=3000)
    assert [r["bytes"] for r in replies(rows)] == [3008, 3008], rows


def test_udp_echo_and_port_unreachable_over_ipv6(tap6):
    ns, k, c, cap = tap6
    script = """
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("2001:db8:241::2", 7))
s.send(b"plebnet echo6")
print(s.recv(100).decode())
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
t.settimeout(3)
t.connect(("2001:db8:241::2", 9))
t.send(b"x")
try:
    t.recv(10)
except ConnectionRefusedError:
    print("refused")
"""
    res = in_ns(ns, sys.executable, "-c", script)
    assert res.stdout.split("\n")[:2] == ["plebnet echo6", "refused"], res.stderr


def test_stack_pings_all_nodes_and_the_kernel_answers(tap6):
    ns, k, c, cap = tap6
    kll = kernel_settled(ns, k)
    rows = ping6(c, "ff02::1%vnet0", count=1)
    assert f"{kll}%vnet0" in [r["from"] for r in replies(rows)], rows
