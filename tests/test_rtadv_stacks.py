"""Stacks autoconfiguring each other over Ethernet over UDP (VXLAN framing on 127.0.0.1, no
root): a router stack runs rtadvd on one interface from its rc.conf (rtadvd_enable,
rtadvd_interfaces, ipv6_gateway_enable), a host stack with `ifconfig_vnet0_ipv6="inet6
accept_rtadv"` solicits, autoconfigures an address from the advertised prefix, installs the
router as its default, and pings a third stack behind the router through it."""
from __future__ import annotations

import ipaddress
import re
import time

import pytest

from conftest import run_tool
from test_dataplane_stacks import free_udp_ports, vx
from test_ipv6_stacks import link_local, ping6, replies
from plebnet_core.spawn import spawn_stack

ROUTER_RC = """ifconfig_vnet0_ipv6="inet6 2001:db8:260::1/64"
ifconfig_vnet1_ipv6="inet6 2001:db8:261::1/64"
ipv6_gateway_enable="YES"
rtadvd_enable="YES"
rtadvd_interfaces="vnet0"
"""
HOST_RC = 'ifconfig_vnet0_ipv6="inet6 accept_rtadv"\n'
FAR_RC = """ifconfig_vnet0_ipv6="inet6 2001:db8:261::3/64"
ipv6_defaultrouter="2001:db8:261::1"
"""


def wait_for(predicate, limit=25.0):
    end = time.monotonic() + limit
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


@pytest.fixture
def trio(sockdir, tmp_path):
    """host --vx-- router --vx-- far, each configured by its rc.conf."""
    p = free_udp_ports(4)
    stacks = []
    try:
        router = spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}",
                              "--nic", f"vnet1={vx(p[2], p[3], 43)}"], sockdir=sockdir)
        stacks.append(router)
        host = spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}"], sockdir=sockdir)
        stacks.append(host)
        far = spawn_stack(["--nic", f"vnet0={vx(p[3], p[2], 43)}"], sockdir=sockdir)
        stacks.append(far)
        for stack, text, name in ((router, ROUTER_RC, "router"), (far, FAR_RC, "far"),
                                  (host, HOST_RC, "host")):
            rc = tmp_path / f"{name}.conf"
            rc.write_text(text)
            res = run_tool(stack, "rc", "apply", str(rc))
            assert res.returncode == 0, (name, res.stderr)
        yield router, host, far
    finally:
        for s in stacks:
            s.stop()


def test_a_stack_advertises_and_another_autoconfigures_and_pings_through_it(trio):
    router, host, far = trio
    with router.client() as cr, host.client() as ch:
        assert cr.sysctl("net.inet6.rtadvd.interfaces") == "vnet0"
        routers = wait_for(lambda: ch.sysctl("ICMPV6CTL_ND6_DRLIST"))
        assert routers, "the host learned no router"
        rll = link_local(cr, "vnet0")
        hll = link_local(ch, "vnet0")
        iid = int(ipaddress.IPv6Address(hll.split("%")[0])) & ((1 << 64) - 1)
        mine = str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8:260::")) | iid))
        # ndp -r on the host: the router's link-local with rtadvd's 1800 s lifetime
        res = run_tool(host, "ndp", "-r")
        m = re.fullmatch(re.escape(f"{rll.split('%')[0]}%vnet0 if=vnet0, flags=, "
                                   "pref=medium, expire=") + r"(\d+)m(\d+)s\n", res.stdout)
        assert m and 1740 < int(m.group(1)) * 60 + int(m.group(2)) <= 1800, res.stdout
        # ndp -p: only vnet0's prefix is advertised (vnet1 is not an rtadvd interface),
        # with rtadvd's default lifetimes
        res = run_tool(host, "ndp", "-p")
        first = res.stdout.split("\n")[:4]
        assert first[0] == "2001:db8:260::/64 if=vnet0"
        assert re.fullmatch(r"flags=LAO vltime=2592000, pltime=604800, "
                            r"expire=29d23h5\dm\d+s, ref=1", first[1]), first[1]
        assert first[2:] == ["  advertised by", f"    {rll} (reachable)"]
        assert "2001:db8:261::" not in res.stdout
        # the autoconfigured address, as ifconfig prints it
        wait_for(lambda: "tentative" not in run_tool(host, "ifconfig", "vnet0").stdout)
        out = run_tool(host, "ifconfig", "vnet0").stdout
        assert f"\tinet6 {mine} prefixlen 64 autoconf\n" in out, out
        # ifconfig -L: what is left of its lifetimes (af_inet6.c's pltime / vltime)
        out = run_tool(host, "ifconfig", "-L", "vnet0").stdout
        m = re.search(re.escape(f"\tinet6 {mine} prefixlen 64 autoconf ")
                      + r"pltime (\d+) vltime (\d+)\n", out)
        assert m and 604700 < int(m.group(1)) <= 604800, out
        assert 2592000 - 100 < int(m.group(2)) <= 2592000, out
        # the default route through the router's link-local address
        r = ch.rtmsg("RTM_GET", af="inet6", dst="2001:db8:261::3")
        assert (r["dst"], r["gateway"], r["flags"] & 0x2) == ("::", rll, 0x2)
        # the router knows the host answers on its autoconfigured address
        rows = ping6(cr, mine, count=2)
        assert [r["from"] for r in replies(rows)] == [mine] * 2, rows
        # and the host reaches the third stack through the router, from that address
        rows = ping6(ch, "2001:db8:261::3", count=3)
        assert rows[0] == {"ev": "start", "src": mine}
        assert [r["ttl"] for r in replies(rows)] == [63, 63, 63], rows
    res = run_tool(host, "ping", "-6", "-c", "2", "2001:db8:261::3")
    assert res.returncode == 0 and "2 packets transmitted, 2 packets received" in res.stdout, \
        res.stdout + res.stderr
