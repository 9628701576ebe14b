"""traceroute and traceroute6 between real stacks linked by Ethernet over UDP (VXLAN framing
on 127.0.0.1, no root): a --- b --- c, b forwarding IPv4 and IPv6.  The probes go out of a,
b answers time exceeded, c port unreachable (or echo replies with -I); what plebconf prints
is FreeBSD 14's traceroute(8)/traceroute6(8) text.  Also the option checks, which need no
stack.
"""
from __future__ import annotations

import re

import pytest

from conftest import run_tool, spawn_chain
from test_ipv6_stacks import add6, settled

MS = r"  \d+\.\d{3} ms"


def hop(n: int, addr: str, marks: str = "", probes: int = 3) -> str:
    """A regex for one hop line where every probe was answered by addr."""
    return "%2d  %s" % (n, re.escape(addr)) + (MS + re.escape(marks)) * probes


@pytest.fixture(scope="module")
def chain():
    import shutil
    import tempfile
    sockdir = tempfile.mkdtemp(prefix="pleb-")
    try:
        with spawn_chain(sockdir) as stacks:
            yield configured(stacks)
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def configured(stacks):
    """The chain addressed and routed both ways, b forwarding IPv4 and IPv6."""
    a, b, c = stacks
    with a.client() as ca, b.client() as cb, c.client() as cc:
        ca.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.1.0.1", plen=24)
        cb.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.1.0.2", plen=24)
        cb.ioctl("SIOCAIFADDR", ifname="vnet1", addr="10.2.0.2", plen=24)
        cc.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.2.0.3", plen=24)
        ca.rtmsg("RTM_ADD", dst="10.2.0.0", plen=24, gateway="10.1.0.2")
        ca.rtmsg("RTM_ADD", dst="10.9.0.0", plen=16, gateway="10.1.0.2")
        cc.rtmsg("RTM_ADD", dst="10.1.0.0", plen=24, gateway="10.2.0.2")
        cb.sysctl("net.inet.ip.forwarding", value=1)
        add6(ca, "vnet0", "2001:db8:a::1")
        add6(cb, "vnet0", "2001:db8:a::2")
        add6(cb, "vnet1", "2001:db8:b::2")
        add6(cc, "vnet0", "2001:db8:b::3")
        for client, ifname in ((ca, "vnet0"), (cb, "vnet0"), (cb, "vnet1"),
                               (cc, "vnet0")):
            settled(client, ifname)
        ca.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:b::", plen=64,
                 gateway="2001:db8:a::2")
        ca.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:c::", plen=64,
                 gateway="2001:db8:a::2")
        cc.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:a::", plen=64,
                 gateway="2001:db8:b::2")
        cb.sysctl("net.inet6.ip6.forwarding", value=1)
    return stacks


def lines(res):
    return res.stdout.splitlines()


def test_traceroute_shows_the_router_then_the_host(chain):
    a = chain[0]
    res = run_tool(a, "traceroute", "-n", "-w", "2", "10.2.0.3")
    assert res.returncode == 0, res.stderr
    assert res.stderr == "traceroute to 10.2.0.3 (10.2.0.3), 64 hops max, 40 byte packets\n"
    out = lines(res)
    assert len(out) == 2, res.stdout
    assert re.fullmatch(hop(1, "10.1.0.2"), out[0]), out
    assert re.fullmatch(hop(2, "10.2.0.3"), out[1]), out


def test_traceroute_icmp_probes_and_options(chain):
    a = chain[0]
    res = run_tool(a, "traceroute", "-n", "-I", "-q", "2", "-m", "5", "-s", "10.1.0.1",
                   "10.2.0.3")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ("traceroute to 10.2.0.3 (10.2.0.3) from 10.1.0.1, 5 hops max, "
                          "48 byte packets\n")
    out = lines(res)
    assert re.fullmatch(hop(1, "10.1.0.2", probes=2), out[0]), out
    assert re.fullmatch(hop(2, "10.2.0.3", probes=2), out[1]), out
    assert len(out) == 2
    # -f starts further out; a packet length is the whole IP packet
    res = run_tool(a, "traceroute", "-n", "-f", "2", "-q", "1", "10.2.0.3", "100")
    assert res.stderr.endswith(", 64 hops max, 100 byte packets\n")
    assert re.fullmatch(hop(2, "10.2.0.3", probes=1), res.stdout.rstrip("\n")), res.stdout


def test_traceroute_net_unreachable_and_silence(chain):
    a, b, c = chain
    # b has no route to 10.9/16: the TTL runs out first (ip_forward's order), then net
    # unreachable on every probe, and traceroute stops there
    res = run_tool(a, "traceroute", "-n", "-q", "2", "10.9.0.1")
    out = lines(res)
    assert len(out) == 2, out
    assert re.fullmatch(hop(1, "10.1.0.2", probes=2), out[0]), out
    assert re.fullmatch(hop(2, "10.1.0.2", " !N", probes=2), out[1]), out
    # c's answers vanish (a blackhole back to a): the second hop stays silent
    with c.client() as cc:
        cc.rtmsg("RTM_ADD", dst="10.1.0.1", plen=32, gateway="10.2.0.2", flags=0x1000)
        try:
            res = run_tool(a, "traceroute", "-n", "-w", "1", "-q", "2", "-m", "2",
                           "10.2.0.3")
        finally:
            cc.rtmsg("RTM_DELETE", dst="10.1.0.1", plen=32)
    out = lines(res)
    assert re.fullmatch(hop(1, "10.1.0.2", probes=2), out[0]), out
    assert out[1:] == [" 2  * *"]


def test_traceroute_refusals(chain):
    a = chain[0]
    res = run_tool(a, "traceroute", "-n", "-s", "10.7.7.7", "10.2.0.3")
    assert (res.returncode, res.stderr) == (
        1, "traceroute: bind: Can't assign requested address\n")
    res = run_tool(a, "traceroute6", "-n", "-s", "2001:db8:7::7", "2001:db8:b::3")
    assert (res.returncode, res.stderr) == (1, "bind: Can't assign requested address\n")
    res = run_tool(a, "traceroute6", "-n", "2001:db8:99::1")
    assert (res.returncode, res.stderr) == (1, "connect: No route to host\n")


def test_traceroute6_through_a_router(chain):
    a = chain[0]
    res = run_tool(a, "traceroute6", "-n", "2001:db8:b::3")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ("traceroute6 to 2001:db8:b::3 (2001:db8:b::3) from 2001:db8:a::1, "
                          "64 hops max, 28 byte packets\n")
    out = lines(res)
    assert len(out) == 2, res.stdout
    assert re.fullmatch(hop(1, "2001:db8:a::2"), out[0]), out
    assert re.fullmatch(hop(2, "2001:db8:b::3"), out[1]), out
    # ICMPv6 echo probes, through the scripts/ wrapper; -f prints the hops it skips
    res = run_tool(a, "traceroute6", "-n", "-I", "-f", "2", "-q", "1", "2001:db8:b::3",
                   wrapper=True)
    assert res.stderr.endswith(", 64 hops max, 20 byte packets\n"), res.stderr
    assert lines(res)[0] == "Skipping 1 intermediate hops"
    assert re.fullmatch(hop(2, "2001:db8:b::3", probes=1), lines(res)[1]), res.stdout


def test_traceroute6_no_route_beyond_the_router(chain):
    a = chain[0]
    res = run_tool(a, "traceroute6", "-n", "-w", "1", "2001:db8:c::9")
    out = lines(res)
    # no route at the second hop: !N on each probe; two of three are enough to stop
    assert len(out) == 2, out
    assert re.fullmatch(hop(1, "2001:db8:a::2"), out[0]), out
    assert re.fullmatch(hop(2, "2001:db8:a::2", " !N"), out[1]), out


@pytest.mark.parametrize("argv, status, err", [
    (["traceroute", "-m", "0", "h"], 1, "traceroute: max ttl must be > 0\n"),
    (["traceroute", "-m", "300", "h"], 1, "traceroute: max ttl must be <= 255\n"),
    (["traceroute", "-q", "x", "h"], 1, 'traceroute: "x" bad value for nprobes \n'),
    (["traceroute", "-f", "9", "-m", "5", "h"], 1,
     "traceroute: first ttl (9) may not be greater than max ttl (5)\n"),
    (["traceroute", "-w", "0", "h"], 1, "traceroute: wait time must be > 0\n"),
    (["traceroute", "10.0.0.1", "20"], 1, "traceroute: packet length must be > 27\n"),
    (["traceroute6", "-m", "256", "h"], 1, "traceroute6: invalid max hoplimit.\n"),
    (["traceroute6", "-q", "0", "h"], 1, "traceroute6: nprobes must be >0.\n"),
    (["traceroute6", "-w", "0", "h"], 1, "traceroute6: wait must be >= 1 sec.\n"),
    (["traceroute6", "-p", "70000", "h"], 1, "traceroute6: port out of range.\n"),
    (["traceroute6", "-f", "9", "-m", "5", "h"], 1,
     "traceroute6: max hoplimit must be larger than first hoplimit.\n"),
])
def test_option_checks(argv, status, err):
    res = run_tool(None, *argv)
    assert (res.returncode, res.stderr) == (status, err)


def test_usage():
    res = run_tool(None, "traceroute")
    assert res.returncode == 1
    assert res.stderr.startswith("Version 1.4a12+FreeBSD\nUsage: traceroute [-adDeFInrSvx]")
    res = run_tool(None, "traceroute6", "-Z", "h")
    assert res.returncode == 1
    assert res.stderr.startswith("usage: traceroute6 [-adIlnNrSTUv]")
