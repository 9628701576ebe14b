"""Linux's traceroute and traceroute6 through a stack that forwards between two namespaces
(root): the stack must answer an expiring probe with time exceeded from its address facing
the sender and a probe for itself with port unreachable (echo replies for ICMP probes), in
IPv4 and IPv6; and plebconf traceroute from the stack through the Linux kernel.

    L (10.245.1.1, 2001:db8:245:1::1) -- stack -- R (10.245.2.1, 2001:db8:245:2::1;
    10.245.3.1 and 2001:db8:245:3::1 on its lo)
"""
from __future__ import annotations

import re

import pytest

from conftest import run_tool
from netns_util import ip, namespace, require_root
from test_dataplane_kernel import addr, in_ns, kname
from test_dataplane_stacks import need_tool
from test_ipv6_stacks import add6, settled
from plebnet_core.spawn import spawn_stack

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def router():
    import shutil
    import tempfile
    require_root()
    need_tool("traceroute")
    sockdir = tempfile.mkdtemp(prefix="pleb-")
    try:
        with namespace("trl") as left, namespace("trr") as right:
            kl, kr = kname("L"), kname("R")
            with spawn_stack(["--nic", f"vnet0=tap:{kl},netns={left},addr=10.245.1.1/24",
                              "--nic", f"vnet1=tap:{kr},netns={right},addr=10.245.2.1/24"],
                             sockdir=sockdir) as s, s.client() as c:
                ip("-n", left, "addr", "add", "2001:db8:245:1::1/64", "dev", kl, "nodad")
                ip("-n", right, "addr", "add", "2001:db8:245:2::1/64", "dev", kr, "nodad")
                ip("-n", right, "addr", "add", "10.245.3.1/32", "dev", "lo")
                ip("-n", right, "addr", "add", "2001:db8:245:3::1/128", "dev", "lo")
                ip("-n", left, "route", "add", "default", "via", "10.245.1.2")
                ip("-n", right, "route", "add", "default", "via", "10.245.2.2")
                ip("-n", left, "-6", "route", "add", "default", "via", "2001:db8:245:1::2")
                ip("-n", right, "-6", "route", "add", "default", "via", "2001:db8:245:2::2")
                addr(c, "vnet0", "10.245.1.2")
                addr(c, "vnet1", "10.245.2.2")
                add6(c, "vnet0", "2001:db8:245:1::2")
                add6(c, "vnet1", "2001:db8:245:2::2")
                settled(c, "vnet0")
                settled(c, "vnet1")
                c.sysctl("net.inet.ip.forwarding", value=1)
                c.sysctl("net.inet6.ip6.forwarding", value=1)
                c.rtmsg("RTM_ADD", dst="10.245.3.0", plen=24, gateway="10.245.2.1")
                c.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:245:3::", plen=64,
                        gateway="2001:db8:245:2::1")
                yield left, right, s
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def hops(res) -> list[list[str]]:
    """Linux traceroute's hop lines, as [hop, address, address-or-time...] words, with the
    times (and "ms") left out."""
    out = []
    for line in res.stdout.splitlines()[1:]:
        words = line.split()
        out.append([w for i, w in enumerate(words) if w != "ms"
                    and words[i + 1:i + 2] != ["ms"]])
    return out


@pytest.mark.parametrize("extra", [[], ["-I"]], ids=["udp", "icmp"])
def test_linux_traceroute_through_the_stack(router, extra):
    left, right, s = router
    res = in_ns(left, "traceroute", "-n", "-w", "2", *extra, "10.245.3.1")
    assert res.returncode == 0, res.stderr
    # every probe answered: time exceeded from the stack, then the far host
    assert hops(res) == [["1", "10.245.1.2"], ["2", "10.245.3.1"]], res.stdout
    assert "*" not in res.stdout
    # to the stack itself: port unreachable (echo reply) ends it at the first hop
    res = in_ns(left, "traceroute", "-n", "-w", "2", *extra, "10.245.2.2")
    assert hops(res) == [["1", "10.245.2.2"]], res.stdout


@pytest.mark.parametrize("extra", [[], ["-I"]], ids=["udp", "icmp"])
def test_linux_traceroute6_through_the_stack(router, extra):
    left, right, s = router
    res = in_ns(left, "traceroute", "-6", "-n", "-w", "2", *extra, "2001:db8:245:3::1")
    assert res.returncode == 0, res.stderr
    assert hops(res) == [["1", "2001:db8:245:1::2"], ["2", "2001:db8:245:3::1"]], res.stdout
    assert "*" not in res.stdout
    res = in_ns(left, "traceroute", "-6", "-n", "-w", "2", *extra, "2001:db8:245:2::2")
    assert hops(res) == [["1", "2001:db8:245:2::2"]], res.stdout


def test_plebconf_traceroute_through_the_kernel(router):
    left, right, s = router
    ip("-n", right, "link", "set", "lo", "up")
    # R forwards nothing, but answers for its lo's address: one hop, port unreachable
    res = run_tool(s, "traceroute", "-n", "-w", "2", "10.245.3.1")
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r" 1  10\.245\.3\.1(  \d+\.\d{3} ms){3}\n", res.stdout), res.stdout
    res = run_tool(s, "traceroute6", "-n", "-w", "2", "2001:db8:245:3::1")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ("traceroute6 to 2001:db8:245:3::1 (2001:db8:245:3::1) from "
                          "2001:db8:245:2::2, 64 hops max, 28 byte packets\n")
    assert re.fullmatch(r" 1  2001:db8:245:3::1(  \d+\.\d{3} ms){3}\n", res.stdout), \
        res.stdout
