"""Router and prefix discovery against Linux's radvd (root): radvd runs inside a throwaway
namespace on the kernel side of the stack's TAP and advertises a prefix, a link MTU and a
default router lifetime; the stack, configured by rc.conf's `ifconfig_vnet0_ipv6="inet6
accept_rtadv"`, solicits, autoconfigures an address (ifconfig's `autoconf`), installs the
default route through radvd's link-local address and shows both lists as FreeBSD 14's ndp
-r and ndp -p print them (usr.sbin/ndp/ndp.c rtrlist() and plist()).  Then packets flow
both ways over the autoconfigured address."""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import run_tool
from netns_util import ip, namespace, require_root
from test_dataplane_kernel import in_ns, kname
from test_ipv6_kernel import kernel_settled
from test_ipv6_stacks import link_local, ping6, replies
from plebnet_core.spawn import spawn_stack

pytestmark = pytest.mark.root

RADVD_CONF = """interface {dev} {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    AdvDefaultLifetime 600;
    AdvLinkMTU 1400;
    prefix 2001:db8:251::/64 {{
        AdvOnLink on;
        AdvAutonomous on;
        AdvValidLifetime 86400;
        AdvPreferredLifetime 14400;
    }};
}};
"""


def radvd_path() -> str:
    for path in (shutil.which("radvd"), "/usr/sbin/radvd"):
        if path and os.access(path, os.X_OK):
            return path
    if os.environ.get("CI"):
        pytest.fail("CI must have radvd (make test-deps installs it)")
    pytest.skip("needs radvd (make test-deps installs it)")


def seconds(text: str) -> int:
    """ndp's sec2str back to seconds: 1d2h3m4s."""
    total = 0
    for value, unit in re.findall(r"(\d+)([dhms])", text):
        total += int(value) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    return total


def expiring(text: str, lifetime: int) -> str:
    """text with each `expire=T` checked against lifetime (T counts down from it, a few
    seconds gone at most) and replaced by `expire=LIFETIME` so the rest compares whole."""
    def check(m):
        left = seconds(m.group(1))
        assert lifetime - 60 < left <= lifetime, (m.group(0), lifetime)
        return "expire=LIFETIME"
    return re.sub(r"expire=(\d[\dhms]*s)", check, text)


def wait_for(predicate, limit=20.0):
    end = time.monotonic() + limit
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


@pytest.fixture
def radvd_link(sockdir, tmp_path):
    """The stack's vnet0 is TAP k in a namespace where radvd advertises 2001:db8:251::/64;
    the stack takes `ifconfig_vnet0_ipv6="inet6 accept_rtadv"` from an rc.conf."""
    require_root()
    radvd = radvd_path()
    with namespace("rtadv") as ns:
        k = kname("r")
        with spawn_stack(["--nic", f"vnet0=tap:{k},netns={ns}"], sockdir=sockdir) as s:
            ip("-n", ns, "addr", "add", "2001:db8:251::1/64", "dev", k, "nodad")
            kll = kernel_settled(ns, k)
            assert kll is not None
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
            conf = tmp_path / "radvd.conf"
            conf.write_text(RADVD_CONF.format(dev=k))
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, radvd, "-n", "-C", str(conf),
                 "-p", str(tmp_path / "radvd.pid"), "-m", "stderr"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                rc = tmp_path / "rc.conf"
                rc.write_text('ifconfig_vnet0_ipv6="inet6 accept_rtadv"\n')
                res = run_tool(s, "rc", "apply", str(rc))
                assert res.returncode == 0, res.stderr
                assert res.stderr == ""         # no rtsol warning: the stack solicits
                yield ns, k, kll, s
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_radvd_prefix_autoconfigures_the_stack(radvd_link):
    ns, k, kll, s = radvd_link
    with s.client() as c:
        routers = wait_for(lambda: c.sysctl("ICMPV6CTL_ND6_DRLIST"))
        assert routers, "no router learned from radvd"
        ll = link_local(c, "vnet0")
        iid = int(ipaddress.IPv6Address(ll.split("%")[0])) & ((1 << 64) - 1)
        slaac = str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8:251::")) | iid))
        # the autoconfigured address: prefix + the link-local's interface identifier,
        # `autoconf` as ifconfig prints it (af_inet6.c)
        wait_for(lambda: not any(
            a["flags"] & 0x2 for a in c.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]
            if a["af"] == "inet6"))
        out = run_tool(s, "ifconfig", "vnet0").stdout
        inet6 = [line for line in out.splitlines() if line.startswith("\tinet6")]
        assert inet6 == [f"\tinet6 {ll} prefixlen 64 scopeid 0x1",
                         f"\tinet6 {slaac} prefixlen 64 autoconf"], out
        # ndp -r: rtrlist(), radvd's lifetime 600 s counting down, preference medium
        res = run_tool(s, "ndp", "-r")
        assert res.returncode == 0 and res.stderr == ""
        assert expiring(res.stdout, 600) == (
            f"{kll}%vnet0 if=vnet0, flags=, pref=medium, expire=LIFETIME\n")
        # ndp -p: plist(), the RA's prefix first (the list is newest first), then the
        # link-local prefixes the addresses made (in6_update_ifa), never expiring
        res = run_tool(s, "ndp", "-p")
        assert res.returncode == 0 and res.stderr == ""
        assert expiring(res.stdout, 86400) == (
            "2001:db8:251::/64 if=vnet0\n"
            "flags=LAO vltime=86400, pltime=14400, expire=LIFETIME, ref=1\n"
            "  advertised by\n"
            f"    {kll}%vnet0 (reachable)\n"
            "fe80::%vnet0/64 if=vnet0\n"
            "flags=LO vltime=infinity, pltime=infinity, expire=Never, ref=1\n"
            "  No advertising router\n"
            "fe80::%lo0/64 if=lo0\n"
            "flags=LO vltime=infinity, pltime=infinity, expire=Never, ref=1\n"
            "  No advertising router\n")
        # the default route goes through radvd's link-local address
        r = c.rtmsg("RTM_GET", af="inet6", dst="2001:db8:999::1")
        assert (r["dst"], r["gateway"], r["ifname"]) == ("::", f"{kll}%vnet0", "vnet0")
        # AdvLinkMTU narrowed the interface's IPv6 MTU (ndp -i's linkmtu)
        res = run_tool(s, "ndp", "-i", "vnet0")
        m = re.fullmatch(r"linkmtu=1400, maxmtu=1500, curhlim=64, basereachable=30s0ms, "
                         r"reachable=(\d+)s, retrans=1s0ms\n"
                         r"Flags: nud accept_rtadv auto_linklocal \n", res.stdout)
        assert m and 14 <= int(m.group(1)) <= 44, res.stdout     # ND_COMPUTE_RTIME(30000)
        # radvd's router entry is flagged R in ndp -a
        res = run_tool(s, "ndp", "-an")
        line = next(x for x in res.stdout.splitlines() if x.startswith(f"{kll}%vnet0"))
        assert line.split()[-2:] == ["S", "R"] or line.split()[-2:] == ["R", "R"], line
    # both ways over the autoconfigured address
    with s.client() as c:
        rows = ping6(c, "2001:db8:251::1", count=2)
        assert [r["from"] for r in replies(rows)] == ["2001:db8:251::1"] * 2, rows
    res = in_ns(ns, "ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "2", slaac)
    assert res.returncode == 0 and " 0% packet loss" in res.stdout, res.stdout
    # a packet bigger than the advertised MTU leaves in fragments that fit it
    with s.client() as c:
        rows = ping6(c, "2001:db8:251::1", count=1, size=1400)
        assert len(replies(rows)) == 1, rows
