"""The rc.conf executor against real plebnet processes: `plebconf rc apply|diff|save`, boot
with --rc / PLEBNET_RC, and the compiled form of command lines (plebconf.rc.apply)."""
import os
import subprocess
import time

import pytest

from tests.conftest import TEST_HOSTUUID
from conftest import ROOT, run_tool
from plebnet_core.spawn import StackStartError, plebnet_argv, spawn_stack

EXAMPLE = os.path.join(ROOT, "rc", "rc.conf.example")
# one host uuid: stacks booted from the same rc.conf list the same MACs, as one FreeBSD host
# (one kern.hostuuid) does across reboots
NICS = ["--nic", "vnet0=none", "--nic", "vnet1=none", "--hostuuid", TEST_HOSTUUID]



def state(stack) -> dict:
    """Everything the executor can change, from the stack's dumps (order kept)."""
    with stack.client() as c:
        ifaces = []
        for i in c.call("sysctl", {"name": "NET_RT_IFLIST"}):
            i = dict(i)
            i.pop("stats")
            ifaces.append(i)
        return {
            "ifaces": ifaces,
            "routes": [tuple(r[:6]) for r in c.call("sysctl", {"name": "NET_RT_DUMP"})],
            "arp": [(e["addr"], e["mac"], e["ifname"], e["flags"])
                    for e in c.call("sysctl", {"name": "NET_RT_FLAGS", "af": "inet"})],
            "ndp": [(e["addr"], e["mac"], e["ifname"], e["flags"])
                    for e in c.call("sysctl", {"name": "NET_RT_FLAGS", "af": "inet6"})],
            "sysctl": {n: c.call("sysctl", {"name": n}) for n in (
                "kern.hostname", "net.inet.ip.forwarding", "net.inet6.ip6.forwarding")},
        }


def iface(st, name):
    return next(i for i in st["ifaces"] if i["name"] == name)


def addrs(st, name, af="inet"):
    return [(a["addr"], a["plen"]) for a in iface(st, name)["addrs"] if a["af"] == af]


def route(st, dst, plen):
    found = [r for r in st["routes"] if r[1] == dst and r[2] == plen]
    return found[0] if found else None


def apply(stack, path, *opts):
    return run_tool(stack, "rc", "apply", *opts, path)


# ---------------------------------------------------------------- one test per variable
IFF_UP = 0x1
RTF_GATEWAY, RTF_HOST, RTF_STATIC, RTF_BLACKHOLE, RTF_ANNOUNCE = 0x2, 0x4, 0x800, 0x1000, 0x4000

VARIABLES = {
    "hostname": ('hostname="edge-1.example.net"\n',
                 lambda st: st["sysctl"]["kern.hostname"] == "edge-1.example.net"),
    "ifconfig_IF": ('ifconfig_vnet0="inet 192.0.2.10/24 mtu 9000"\n',
                    lambda st: addrs(st, "vnet0") == [("192.0.2.10", 24)]
                    and iface(st, "vnet0")["mtu"] == 9000
                    and iface(st, "vnet0")["flags"] & IFF_UP),
    "ifconfig_IF_descr": ('ifconfig_vnet0="up"\nifconfig_vnet0_descr="uplink port"\n',
                          lambda st: iface(st, "vnet0")["description"] == "uplink port"),
    "ifconfig_IF_aliases": (
        'ifconfig_vnet0="inet 192.0.2.10/24"\n'
        'ifconfig_vnet0_aliases="inet 192.0.2.20-22/32 inet 10.1.0.1/16"\n',
        lambda st: addrs(st, "vnet0") == [("192.0.2.10", 24), ("192.0.2.20", 32),
                                          ("192.0.2.21", 32), ("192.0.2.22", 32),
                                          ("10.1.0.1", 16)]),
    "ifconfig_IF_aliasN": (
        'ifconfig_vnet0="inet 192.0.2.10/24"\nifconfig_vnet0_alias7="inet 10.2.0.1/16"\n'
        'ifconfig_vnet0_alias2="inet 10.1.0.1/16"\n',
        lambda st: addrs(st, "vnet0") == [("192.0.2.10", 24), ("10.1.0.1", 16),
                                          ("10.2.0.1", 16)]),
    "ipv4_addrs_IF": ('ipv4_addrs_vnet1="198.51.100.1/24 198.51.100.5-6/32"\n',
                      lambda st: addrs(st, "vnet1") == [("198.51.100.1", 24),
                                                        ("198.51.100.5", 32),
                                                        ("198.51.100.6", 32)]),
    "ifconfig_IF_ipv6": ('ifconfig_vnet0_ipv6="inet6 2001:db8:1::10/64"\n',
                         lambda st: ("2001:db8:1::10", 64) in addrs(st, "vnet0", "inet6")),
    "cloned_interfaces": ('cloned_interfaces="tap0"\nifconfig_tap0="inet 10.9.0.1/24"\n',
                          lambda st: addrs(st, "tap0") == [("10.9.0.1", 24)]
                          and iface(st, "tap0")["cloner"] == "tap"),
    "ifconfig_IF_name": ('ifconfig_vnet1_name="lan0"\nifconfig_lan0="inet 10.8.0.1/24"\n',
                         lambda st: [i["name"] for i in st["ifaces"]] == ["vnet0", "lan0", "lo0"]
                         and addrs(st, "lan0") == [("10.8.0.1", 24)]),
    "defaultrouter": ('ifconfig_vnet0="inet 192.0.2.10/24"\ndefaultrouter="192.0.2.1"\n',
                      lambda st: route(st, "0.0.0.0", 0)[3] == "192.0.2.1"),
    "ipv6_defaultrouter": ('ifconfig_vnet0_ipv6="inet6 2001:db8:1::10/64"\n'
                           'ipv6_defaultrouter="2001:db8:1::1"\n',
                           lambda st: route(st, "::", 0)[3] == "2001:db8:1::1"),
    "static_routes": (
        'ifconfig_vnet0="inet 192.0.2.10/24"\nstatic_routes="net host hole"\n'
        'route_net="-net 203.0.113.0/24 192.0.2.254"\n'
        'route_host="-host 10.20.30.40 192.0.2.253"\n'
        'route_hole="-net 10.66.0.0/16 127.0.0.1 -blackhole"\n',
        lambda st: route(st, "203.0.113.0", 24)[3:6] == ("192.0.2.254", RTF_GATEWAY
                                                          | RTF_STATIC | 0x1, "vnet0")
        and route(st, "10.20.30.40", 32)[4] & RTF_HOST
        and route(st, "10.66.0.0", 16)[4] & RTF_BLACKHOLE),
    "ipv6_static_routes": ('ifconfig_vnet0_ipv6="inet6 2001:db8:1::10/64"\n'
                           'ipv6_static_routes="lab"\n'
                           'ipv6_route_lab="2001:db8:99::/48 2001:db8:1::99"\n',
                           lambda st: route(st, "2001:db8:99::", 48)[3] == "2001:db8:1::99"),
    "gateway_enable": ('gateway_enable="YES"\n',
                       lambda st: st["sysctl"]["net.inet.ip.forwarding"] == 1),
    "ipv6_gateway_enable": ('ipv6_gateway_enable="YES"\n',
                            lambda st: st["sysctl"]["net.inet6.ip6.forwarding"] == 1),
    "static_arp_pairs": ('ifconfig_vnet0="inet 192.0.2.10/24"\nstatic_arp_pairs="gw pr"\n'
                         'static_arp_gw="192.0.2.1 00:00:5e:00:53:01"\n'
                         'static_arp_pr="192.0.2.9 00:00:5e:00:53:09 pub"\n',
                         lambda st: ("192.0.2.1", "00:00:5e:00:53:01", "vnet0", RTF_STATIC
                                     | RTF_HOST | 0x400) in st["arp"]
                         or any(e[:3] == ("192.0.2.1", "00:00:5e:00:53:01", "vnet0")
                                and e[3] & RTF_STATIC for e in st["arp"])
                         and any(e[0] == "192.0.2.9" and e[3] & RTF_ANNOUNCE
                                 for e in st["arp"])),
    "static_ndp_pairs": ('ifconfig_vnet0_ipv6="inet6 2001:db8:1::10/64"\n'
                         'static_ndp_pairs="gw"\n'
                         'static_ndp_gw="2001:db8:1::1 00:00:5e:00:53:01"\n',
                         lambda st: any(e[:3] == ("2001:db8:1::1", "00:00:5e:00:53:01", "vnet0")
                                        for e in st["ndp"])),
}


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_variable_applied(stack2, conf, variable):
    text, check = VARIABLES[variable]
    result = apply(stack2, conf(text))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ""
    assert check(state(stack2))


# ---------------------------------------------------------------- order, dry run
EXAMPLE_COMMANDS = """\
hostname demo-router.example.net
ifconfig lo0 up
ifconfig lo0 inet 127.0.0.1/8 alias
ifconfig vnet0 inet 192.0.2.10/24
ifconfig vnet0 inet6 -ifdisabled
ifconfig vnet0 inet6 2001:db8:1::10/64
ifconfig vnet0 description 'uplink to the documentation network'
ifconfig vnet0 up
ifconfig vnet0 inet 192.0.2.20/32 alias
ifconfig vnet0 inet 192.0.2.21/32 alias
ifconfig vnet0 inet 192.0.2.22/32 alias
ifconfig vnet0 inet 192.0.2.23/32 alias
ifconfig vnet0 inet6 2001:db8:1::11/64 alias
ifconfig vnet1 inet 198.51.100.1/24 mtu 9000
ifconfig vnet1 description 'inside LAN'
ifconfig vnet1 up
ifconfig vnet1 inet 10.10.0.1/16 alias
route add -inet 127.0.0.1 -iface lo0
route add -net 203.0.113.0/24 198.51.100.254
route add -host 10.20.30.40 10.10.0.254
route add -net 10.66.0.0/16 127.0.0.1 -blackhole
route add default 192.0.2.1
sysctl net.inet.ip.forwarding=1
route add -inet6 ::1 -prefixlen 128 -iface lo0
route add -inet6 fe80:: -prefixlen 10 ::1 -reject
route add -inet6 ff02:: -prefixlen 16 ::1 -reject
route add -inet6 ::ffff:0.0.0.0 -prefixlen 96 ::1 -reject
route add -inet6 ::0.0.0.0 -prefixlen 96 ::1 -reject
route add -inet6 default 2001:db8:1::1
sysctl net.inet6.ip6.forwarding=0
arp -S 192.0.2.1 00:00:5e:00:53:01
"""


def test_dry_run_prints_the_commands_in_order_and_changes_nothing(stack2):
    before = state(stack2)
    result = apply(stack2, EXAMPLE, "--dry-run")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXAMPLE_COMMANDS
    assert state(stack2) == before


def test_example_applies_in_rc_order(stack2):
    """Routes through aliases and the static ARP entry only work if netif ran first."""
    result = apply(stack2, EXAMPLE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    st = state(stack2)
    assert st["sysctl"]["kern.hostname"] == "demo-router.example.net"
    assert route(st, "10.20.30.40", 32)[3:6] == ("10.10.0.254", 0x1 | RTF_GATEWAY | RTF_HOST
                                                  | RTF_STATIC, "vnet1")
    assert route(st, "0.0.0.0", 0)[3] == "192.0.2.1"
    assert addrs(st, "vnet0") == [("192.0.2.10", 24), ("192.0.2.20", 32), ("192.0.2.21", 32),
                                  ("192.0.2.22", 32), ("192.0.2.23", 32)]
    # applying the same file again is not an error and changes no configuration (FreeBSD
    # moves a re-added IPv6 address to the end of the list: order only)
    again = apply(stack2, EXAMPLE)
    assert (again.returncode, again.stderr) == (0, "")
    after = state(stack2)
    for key in ("routes", "sysctl"):
        assert after[key] == st[key]
    assert sorted(after["arp"]) == sorted(st["arp"])    # own addresses were re-added
    assert addrs(after, "vnet0") == addrs(st, "vnet0")
    assert sorted(addrs(after, "vnet0", "inet6")) == sorted(addrs(st, "vnet0", "inet6"))
    diff = run_tool(stack2, "rc", "diff", EXAMPLE)
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", "")


def test_order_later_variable_sees_earlier_result(stack2, conf):
    """ifconfig_IF replaces the first address, then aliases; routes come after netif."""
    path = conf('ifconfig_vnet0="inet 192.0.2.10/24"\n'
                'ifconfig_vnet0_alias0="inet 10.10.0.1/16"\n'
                'static_routes="via"\nroute_via="-net 10.20.0.0/16 10.10.0.254"\n')
    assert apply(stack2, path).returncode == 0
    path2 = conf('ifconfig_vnet0="inet 192.0.2.99/24"\n', "second.conf")
    assert apply(stack2, path2).returncode == 0
    st = state(stack2)
    assert addrs(st, "vnet0") == [("10.10.0.1", 16), ("192.0.2.99", 24)]
    assert route(st, "10.20.0.0", 16)[3] == "10.10.0.254"


# ---------------------------------------------------------------- failures
BAD = """\
hostname="bad"
ifconfig_vnet0="inet 192.0.2.10/24"
static_routes="ok bad"
route_ok="-net 203.0.113.0/24 192.0.2.254"
route_bad="-net 198.51.100.0/24 10.99.0.1"
"""


def test_atomic_failure_names_file_line_variable_command_message(stack2, conf):
    path = conf(BAD)
    before = state(stack2)
    result = apply(stack2, path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"{path}:5: route_bad: route add -net 198.51.100.0/24 10.99.0.1: "
        "add net 198.51.100.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "rc: FreeBSD's rc.d/routing reports a failing route_bad and goes on with the rest; "
        "--keep-going does the same\n"
        "rc: nothing applied; the stack is unchanged\n")
    assert state(stack2) == before


def test_grammar_errors_are_all_reported_before_anything_is_sent(stack2, conf):
    path = conf('hostname="x"\nifconfig_vnet0="inet 10.0.0.1/33"\nstatic_routes="x"\n'
                'route_x="-net 10.20.0.0/16 nowhere.invalid"\n')
    before = state(stack2)
    result = apply(stack2, path)
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:2: ifconfig_vnet0: ifconfig vnet0 inet 10.0.0.1/33: "
        "ifconfig: 10.0.0.1/33: bad value (width too large)\n"
        f"{path}:4: route_x: route add -net 10.20.0.0/16 nowhere.invalid: "
        "route: bad address: nowhere.invalid\n"
        "rc: FreeBSD's rc.d/routing reports a failing route_x and goes on with the rest; "
        "--keep-going does the same\n"
        "rc: nothing applied; the stack is unchanged\n")
    assert state(stack2) == before


def test_keep_going_applies_the_rest_and_fails(stack2, conf):
    path = conf(BAD)
    result = apply(stack2, path, "--keep-going")
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:5: route_bad: route add -net 198.51.100.0/24 10.99.0.1: "
        "add net 198.51.100.0: gateway 10.99.0.1 fib 0: Network is unreachable\n")
    st = state(stack2)
    assert st["sysctl"]["kern.hostname"] == "bad"
    assert route(st, "203.0.113.0", 24)[3] == "192.0.2.254"
    assert route(st, "198.51.100.0", 24) is None


def test_unreadable_and_malformed_files(stack2, conf, tmp_path):
    missing = str(tmp_path / "missing.conf")
    result = apply(stack2, missing)
    assert (result.returncode, result.stderr) == (1, f"rc: {missing}: No such file or directory\n")
    path = conf('hostname=`hostname`\n')
    result = apply(stack2, path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"rc: {path}:1: ")


def test_warnings_go_to_stderr(stack2, conf):
    path = conf('static_routes="nope"\n')
    result = apply(stack2, path)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "rc: WARNING: route_nope not found.\n"


# ---------------------------------------------------------------- diff
EXAMPLE_DIFF = """\
+++ after rc apply {path}
-hostname bad
+hostname demo-router.example.net
+ifconfig vnet0 inet 192.0.2.20/32
+ifconfig vnet0 inet 192.0.2.21/32
+ifconfig vnet0 inet 192.0.2.22/32
+ifconfig vnet0 inet 192.0.2.23/32
+ifconfig vnet0 inet6 2001:db8:1::10/64
+ifconfig vnet0 inet6 2001:db8:1::11/64
+ifconfig vnet0 inet6 -ifdisabled
+ifconfig vnet0 description 'uplink to the documentation network'
-ifconfig vnet1 down
+ifconfig vnet1 inet 198.51.100.1/24
+ifconfig vnet1 inet 10.10.0.1/16
+ifconfig vnet1 mtu 9000
+ifconfig vnet1 description 'inside LAN'
+ifconfig vnet1 up
-sysctl net.inet.ip.forwarding=0
+route add default 192.0.2.1
+route add -host 10.20.30.40 10.10.0.254
+route add -net 10.66.0.0/16 127.0.0.1 -blackhole
+route add -net 203.0.113.0/24 198.51.100.254
+route add -inet6 default 2001:db8:1::1
+arp -S 192.0.2.1 00:00:5e:00:53:01
+sysctl net.inet.ip.forwarding=1
"""


def test_diff_shows_drift_then_nothing_once_applied(stack2, conf):
    assert apply(stack2, conf('hostname="bad"\nifconfig_vnet0="inet 192.0.2.10/24"\n')
                 ).returncode == 0
    before = state(stack2)
    result = run_tool(stack2, "rc", "diff", EXAMPLE)
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (f"--- running (pid {stack2.pid})\n"
                             + EXAMPLE_DIFF.format(path=EXAMPLE))
    assert state(stack2) == before          # diff changes nothing
    assert apply(stack2, EXAMPLE).returncode == 0
    result = run_tool(stack2, "rc", "diff", EXAMPLE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


DRIFT_BASE = ('hostname="drift"\nifconfig_vnet0="inet 10.0.0.1/24"\n'
              'defaultrouter="10.0.0.254"\n')
# by hand on a stack booted from DRIFT_BASE -> what diff says of it (what save would write
# and the file does not set)
DRIFT = {
    "alias": ([["ifconfig", "vnet0", "inet", "10.9.9.9/32", "alias"]],
              ["-ifconfig vnet0 inet 10.9.9.9/32"]),
    "route": ([["route", "add", "-net", "10.50.0.0/16", "10.0.0.9"]],
              ["-route add -net 10.50.0.0/16 10.0.0.9"]),
    "clone": ([["ifconfig", "bridge0", "create"], ["ifconfig", "bridge0", "addm", "vnet1"],
               ["ifconfig", "bridge0", "inet", "172.16.0.1/24"]],
              ["-ifconfig bridge0 create", "-ifconfig bridge0 addm vnet1",
               "-ifconfig bridge0 inet 172.16.0.1/24", "-ifconfig bridge0 up"]),
    "mtu": ([["ifconfig", "vnet0", "mtu", "9000"]], ["-ifconfig vnet0 mtu 9000"]),
    "arp": ([["arp", "-s", "10.0.0.7", "00:00:5e:00:53:07"]],
            ["-arp -S 10.0.0.7 00:00:5e:00:53:07"]),
    "flags": ([["ifconfig", "vnet1", "inet6", "-ifdisabled", "accept_rtadv"],
               ["ifconfig", "vnet1", "description", "spare"], ["ifconfig", "vnet1", "up"]],
              ["-ifconfig vnet1 inet6 -ifdisabled accept_rtadv",
               "-ifconfig vnet1 description 'spare'", "-ifconfig vnet1 up",
               "+ifconfig vnet1 down"]),
    "rename": ([["ifconfig", "vnet1", "name", "wan"], ["ifconfig", "wan", "inet6",
                                                       "2001:db8::1/64"]],
               ["-ifconfig wan inet6 2001:db8::1/64", "-ifconfig wan inet6 -ifdisabled",
                "-ifconfig wan up",
                "+ifconfig vnet1 down"]),
    "swapped": ([["ifconfig", "vnet0", "name", "tmp"], ["ifconfig", "vnet1", "name", "vnet0"],
                 ["ifconfig", "tmp", "name", "vnet1"]],
                ["-ifconfig vnet1 inet 10.0.0.1/24", "-ifconfig vnet1 up", "-ifconfig vnet0 down",
                 "+ifconfig vnet0 inet 10.0.0.1/24", "+ifconfig vnet0 up",
                 "+ifconfig vnet1 down"]),
    "forwarding": ([["sysctl", "net.inet.ip.forwarding=1"], ["hostname", "other"]],
                   ["-hostname other", "+hostname drift", "-sysctl net.inet.ip.forwarding=1",
                    "+sysctl net.inet.ip.forwarding=0"]),
}


@pytest.mark.parametrize("case", list(DRIFT))
def test_diff_shows_what_the_file_does_not_set(case, sockdir, conf):
    """What the stack has and the file does not set is drift too (-), as `rc save` would
    write it; applying the file would not take it away, so diff's exit status is 1."""
    from plebconf.rc.apply import command_ops
    commands, expected = DRIFT[case]
    path = conf(DRIFT_BASE)
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:
        clean = run_tool(s, "rc", "diff", path)
        assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
        with s.client() as c:       # sysctl and hostname are not tools here: their ops
            for argv in commands:
                if argv[0] in ("sysctl", "hostname"):
                    c.batch(command_ops(argv).ops)
                else:
                    r = run_tool(s, *argv)
                    assert (r.returncode, r.stderr) == (0, ""), argv
        before = state(s)
        d = run_tool(s, "rc", "diff", path)
        assert (d.returncode, d.stderr) == (1, "")
        assert d.stdout == "".join(line + "\n" for line in [
            f"--- running (pid {s.pid})", f"+++ after rc apply {path}", *expected])
        # the undoing was rolled back with the rest (a re-added address's own ARP entry
        # comes back at the end of the table: order only)
        after = state(s)
        for st in (before, after):
            st["arp"].sort()
        assert after == before


def test_diff_shows_a_dhcp_client_the_file_does_not_run(sockdir, conf):
    """A DHCP client started by hand is drift (the stack has no op that stops one: diff
    leaves it out of the result when the files run no dhclient there)."""
    path = conf(DRIFT_BASE)
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:
        assert run_tool(s, "ifconfig", "vnet1", "up").returncode == 0
        with s.client() as c:
            c.batch([["dhclient", {"ifname": "vnet1", "sync": False}]])
        d = run_tool(s, "rc", "diff", path)
        assert (d.returncode, d.stderr) == (1, "")
        assert d.stdout.splitlines()[2:] == ["-dhclient -b vnet1", "-ifconfig vnet1 up",
                                             "+ifconfig vnet1 down"]
        again = conf(DRIFT_BASE + 'ifconfig_vnet1="DHCP"\n', "dhcp.conf")
        d = run_tool(s, "rc", "diff", again)
        assert (d.returncode, d.stdout, d.stderr) == (0, "", "")


def test_diff_of_a_file_that_cannot_apply(stack2, conf):
    path = conf(BAD)
    result = run_tool(stack2, "rc", "diff", path)
    assert result.returncode == 2
    assert result.stderr.endswith("rc: the files cannot be applied; no diff\n")
    assert f"{path}:5: route_bad:" in result.stderr


# ---------------------------------------------------------------- save and boot
def listings(stack) -> dict:
    """The text of the FreeBSD listings (tools that exist), and the RPC dumps."""
    out = {"ifconfig": run_tool(stack, "ifconfig", "-a").stdout}
    for tool, args in (("netstat", ["-rn"]), ("arp", ["-an"])):
        result = run_tool(stack, tool, *args)
        if result.returncode == 0:
            out[tool] = result.stdout
    st = state(stack)
    out["routes"], out["arp"], out["ndp"] = st["routes"], st["arp"], st["ndp"]
    out["sysctl"] = st["sysctl"]
    return out


def wait_dad():
    time.sleep(1.6)        # IPv6 addresses stop being tentative after DAD (1 s, 0.5 s ticks)


def test_save_boot_gives_equal_listings(stack2, sockdir, tmp_path):
    assert apply(stack2, EXAMPLE).returncode == 0
    saved = run_tool(stack2, "rc", "save")
    assert (saved.returncode, saved.stderr) == (0, "")
    assert saved.stdout.startswith("# rc.conf(5) written by plebconf")
    path = tmp_path / "saved.conf"
    path.write_text(saved.stdout)
    with spawn_stack([*NICS, "--rc", str(path)], sockdir=sockdir) as booted:
        wait_dad()
        assert listings(booted) == listings(stack2)
        again = run_tool(booted, "rc", "save")
        assert again.stdout == saved.stdout
        diff = run_tool(booted, "rc", "diff", EXAMPLE)
        assert (diff.returncode, diff.stdout) == (0, "")


def test_save_keeps_vxlan_create_parameters(stack2, tmp_path):
    """A vxlan interface's create parameters come back as create_args_IF (a multicast
    remote as vxlangroup, the learning flag as a word of its own); diffing the saved file
    against the stack it came from finds nothing to change."""
    rc = tmp_path / "vxlan.conf"
    rc.write_text('cloned_interfaces="vxlan0 vxlan1"\n'
                  'create_args_vxlan0="vxlanid 42 vxlanlocal 127.0.0.1 vxlanlocalport 47990 '
                  'vxlanremote 127.0.0.1 vxlanremoteport 47991 -vxlanlearn"\n'
                  'create_args_vxlan1="vni 7 vxlangroup 239.1.1.1 vxlandev vnet0 '
                  'vxlanportrange 40000 40100 vxlanttl 9"\n'
                  'ifconfig_vxlan0="inet 10.9.0.1/24"\n')
    assert apply(stack2, str(rc)).returncode == 0
    saved = run_tool(stack2, "rc", "save")
    assert (saved.returncode, saved.stderr) == (0, "")
    lines = saved.stdout.splitlines()
    assert 'cloned_interfaces="vxlan0 vxlan1"' in lines
    assert ('create_args_vxlan0="vxlanid 42 vxlanlocal 127.0.0.1 vxlanlocalport 47990 '
            'vxlanremote 127.0.0.1 vxlanremoteport 47991 -vxlanlearn"') in lines
    assert ('create_args_vxlan1="vxlanid 7 vxlangroup 239.1.1.1 vxlandev vnet0 '
            'vxlanportrange 40000 40100 vxlanttl 9"') in lines
    (tmp_path / "saved.conf").write_text(saved.stdout)
    diff = run_tool(stack2, "rc", "diff", str(tmp_path / "saved.conf"))
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", "")


def test_boot_with_rc_option_and_with_plebnet_rc(sockdir):
    with spawn_stack([*NICS, "--rc", EXAMPLE], sockdir=sockdir) as a:
        st = state(a)
        assert a.stderr() == ""
    env = dict(os.environ, PLEBNET_RC=EXAMPLE)
    with spawn_stack(NICS, sockdir=sockdir, env=env) as b:
        assert state(b) == st
    assert st["sysctl"]["kern.hostname"] == "demo-router.example.net"
    assert route(st, "203.0.113.0", 24)[3] == "198.51.100.254"


def test_boot_with_several_rc_files_last_assignment_wins(sockdir, conf):
    first = conf('hostname="one"\nifconfig_vnet0="inet 192.0.2.10/24"\n', "a.conf")
    second = conf('hostname="two"\n', "b.conf")
    with spawn_stack([*NICS, "--rc", first, "--rc", second], sockdir=sockdir) as s:
        st = state(s)
    assert st["sysctl"]["kern.hostname"] == "two"
    assert addrs(st, "vnet0") == [("192.0.2.10", 24)]


def test_failing_rc_conf_stops_plebnet_before_its_socket(sockdir, conf):
    path = conf(BAD)
    proc = subprocess.run(plebnet_argv([*NICS, "--rc", path, "--sockdir", sockdir]),
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 65        # EX_DATAERR
    assert proc.stdout == ""
    assert proc.stderr == (
        f"plebnet: {path}:5: route_bad: route add -net 198.51.100.0/24 10.99.0.1: "
        "add net 198.51.100.0: gateway 10.99.0.1 fib 0: Network is unreachable\n"
        "plebnet: FreeBSD's rc.d/routing reports a failing route_bad and goes on with the "
        "rest; --keep-going does the same\n"
        "plebnet: rc.conf not applied; not starting\n")
    assert os.listdir(sockdir) == []


def test_missing_rc_conf_stops_plebnet(sockdir, tmp_path):
    missing = str(tmp_path / "nope.conf")
    with pytest.raises(StackStartError) as info:
        spawn_stack([*NICS, "--rc", missing], sockdir=sockdir)
    assert str(info.value) == f"plebnet: {missing}: No such file or directory"


def test_boot_keep_going_starts_with_what_works(sockdir, conf):
    path = conf(BAD)
    with spawn_stack([*NICS, "--rc", path, "--keep-going"], sockdir=sockdir) as s:
        st = state(s)
        assert s.stderr() == (
            f"plebnet: {path}:5: route_bad: route add -net 198.51.100.0/24 10.99.0.1: "
            "add net 198.51.100.0: gateway 10.99.0.1 fib 0: Network is unreachable\n")
    assert st["sysctl"]["kern.hostname"] == "bad"
    assert route(st, "203.0.113.0", 24) is not None


def test_boot_warnings_go_to_stderr(sockdir, conf):
    path = conf('static_routes="nope"\n')
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:
        assert s.stderr() == "plebnet: WARNING: route_nope not found.\n"


def test_boot_goes_on_past_what_sh_would_run(sockdir, conf):
    # sh reports a failing command and goes on; a command's output is not known here, which
    # only matters for a variable the network scripts read
    path = conf('$ sysrc hostname=gw\nsshd_flags="$(cat /etc/sshd.flags)"\nhostname="ok"\n')
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:
        st = state(s)
        assert s.stderr() == (
            f"plebnet: WARNING: {path}:1: not a variable assignment: '$' (skipped: only "
            "name=value lines are applied)\n"
            f"plebnet: WARNING: {path}:2: $sshd_flags: command substitution is not supported; "
            "$sshd_flags is left unset\n")
    assert st["sysctl"]["kern.hostname"] == "ok"
    path = conf('hostname="$(cat /etc/myname)"\n', "read.conf")
    with pytest.raises(StackStartError) as info:
        spawn_stack([*NICS, "--rc", path], sockdir=sockdir)
    assert str(info.value) == f"plebnet: {path}:1: $hostname: command substitution is not supported"


# ---------------------------------------------------------------- the parser's fast path
SIMPLE_FILES = [
    open(EXAMPLE).read(),
    'a="x y"\n  b=\'q "z" $x\'   # c\nc=plain\nd=\n\n# only a comment\ne="" \n',
    "".join(f'route_r{i}="-net 10.{i}.0.0/16 192.0.2.1"\n' for i in range(50)),
]
NOT_SIMPLE = ['a="$b"\n', 'a="x\ny"\n', "a=1; b=2\n", "a=~/x\n", 'a="x"b\n', "a=x \\\n y\n",
              "a=x#y\n", 'a="\\$"\n']


@pytest.mark.parametrize("text", SIMPLE_FILES + NOT_SIMPLE)
def test_parser_fast_path_reads_what_the_sh_lexer_reads(text):
    from plebconf.rc.parser import RcSyntaxError, _parse_simple, parse_text, RcVars
    simple = _parse_simple(text, "f", RcVars())
    assert simple == (text in SIMPLE_FILES)
    try:
        slow = dict(parse_text(text, "f", fast=False))
    except RcSyntaxError as exc:
        slow = str(exc)
    try:
        fast = dict(parse_text(text, "f"))
    except RcSyntaxError as exc:
        fast = str(exc)
    assert fast == slow
