"""rc.conf files as real FreeBSD machines have them: what the stack does not model is said
once per variable (and refused with --strict), a failing route in the routing section tells
how to get rc.d/routing's keep-going behaviour, and the corpus in tests/data/rc/ applies,
diffs clean and survives `rc save` -> boot."""
import os
import subprocess

import pytest

from conftest import ROOT, run_tool
from plebnet_core.spawn import plebnet_argv, spawn_stack

NICS = ["--nic", "vnet0=none", "--nic", "vnet1=none"]
DATA = os.path.join(ROOT, "tests", "data", "rc")

FIREWALLED = """\
hostname="gw.example.org"
ifconfig_vnet0="inet 192.0.2.10/24"
defaultrouter="192.0.2.1"
pf_enable="YES"
pf_rules="/etc/pf.conf"
natd_enable="YES"
natd_interface="vnet0"
firewall_enable="NO"
firewall_type="open"
"""
FIREWALLED_WARNINGS = [
    "4: pf_enable: packet filtering is not modelled; traffic is not filtered",
    "5: pf_rules: packet filtering is not modelled; traffic is not filtered",
    "6: natd_enable: address translation is not modelled; traffic is not translated",
    "7: natd_interface: address translation is not modelled; traffic is not translated",
]



def hostname(stack):
    with stack.client() as c:
        return c.call("sysctl", {"name": "kern.hostname"})


def test_unmodelled_variables_warned_and_the_rest_applied(stack2, conf):
    path = conf(FIREWALLED)
    r = run_tool(stack2, "rc", "apply", path)
    assert r.returncode == 0
    assert r.stderr.splitlines() == [f"rc: WARNING: {path}:{w}" for w in FIREWALLED_WARNINGS]
    assert hostname(stack2) == "gw.example.org"


def test_strict_refuses_what_would_be_warned(stack2, conf):
    path = conf(FIREWALLED)
    for argv in (["--strict", path], ["--strict", "--dry-run", path]):
        r = run_tool(stack2, "rc", "apply", *argv)
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.splitlines() == [
            *(f"rc: WARNING: {path}:{w}" for w in FIREWALLED_WARNINGS),
            "rc: --strict: 4 warnings above; nothing applied; the stack is unchanged"]
        assert hostname(stack2) == ""
    # a file without warnings applies under --strict
    clean = conf('hostname="quiet"\n', "clean.conf")
    r = run_tool(stack2, "rc", "apply", "--strict", clean)
    assert (r.returncode, r.stderr) == (0, "")
    assert hostname(stack2) == "quiet"


def test_strict_at_boot_refuses_to_start(sockdir, conf):
    path = conf(FIREWALLED)
    proc = subprocess.run(plebnet_argv([*NICS, "--rc", path, "--strict", "--sockdir", sockdir]),
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 65
    assert proc.stderr.splitlines() == [
        *(f"plebnet: WARNING: {path}:{w}" for w in FIREWALLED_WARNINGS),
        "plebnet: --strict: 4 warnings above; rc.conf not applied; not starting"]
    assert os.listdir(sockdir) == []
    with spawn_stack([*NICS, "--rc", path], sockdir=sockdir) as s:    # without: it starts
        assert hostname(s) == "gw.example.org"


def test_unsupported_cloner_named_in_rc_failure(stack2, conf):
    path = conf('cloned_interfaces="wg0"\nifconfig_wg0="inet 10.7.0.1/24"\n')
    r = run_tool(stack2, "rc", "apply", path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (f"{path}:1: cloned_interfaces: ifconfig wg0 create: "
                                        "ifconfig: wg0: wg(4) is not supported")


ROUTING = """\
hostname="r1"
ifconfig_vnet0="inet 192.0.2.10/24"
ifconfig_vnet0_ipv6="inet6 2001:db8:1::10/64"
static_routes="a"
route_a="-net 203.0.113.0/24 192.0.2.254"
ipv6_static_routes="b"
ipv6_route_b="-net 2001:db8:99::/48 2001:db8:1::fe"
ipv6_defaultrouter="2001:db8:77::1"
gateway_enable="YES"
ipv6_gateway_enable="YES"
"""


def routes(stack):
    with stack.client() as c:
        return {(r[1], r[2]): r[3] for r in c.call("sysctl", {"name": "NET_RT_DUMP"})}


def test_failing_ipv6_defaultrouter_refused_with_the_keep_going_hint(stack2, conf):
    path = conf(ROUTING)
    r = run_tool(stack2, "rc", "apply", path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{path}:8: ipv6_defaultrouter: route add -inet6 default 2001:db8:77::1: "
        "add net default: gateway 2001:db8:77::1 fib 0: Network is unreachable",
        "rc: FreeBSD's rc.d/routing reports a failing ipv6_defaultrouter and goes on with "
        "the rest; --keep-going does the same",
        "rc: nothing applied; the stack is unchanged"]
    assert hostname(stack2) == ""


def test_keep_going_gives_rc_d_routing_results(stack2, conf):
    """rc.d/routing: the default route fails, reported; everything before and after it
    (the IPv6 static route, both forwarding switches) is in place."""
    path = conf(ROUTING)
    r = run_tool(stack2, "rc", "apply", "--keep-going", path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{path}:8: ipv6_defaultrouter: route add -inet6 default 2001:db8:77::1: "
        "add net default: gateway 2001:db8:77::1 fib 0: Network is unreachable"]
    table = routes(stack2)
    assert table[("203.0.113.0", 24)] == "192.0.2.254"
    assert table[("2001:db8:99::", 48)] == "2001:db8:1::fe"
    assert ("::", 0) not in table
    with stack2.client() as c:
        assert int(c.call("sysctl", {"name": "net.inet.ip.forwarding"})) == 1
        assert int(c.call("sysctl", {"name": "net.inet6.ip6.forwarding"})) == 1
    assert hostname(stack2) == "r1"


# ------------------------------------------------------------------------------- corpus
# tests/data/rc/*.rc.conf: rc.conf files in the styles real ones are written in.  Each:
# the NICs its machine has, the variables warned about (not modelled), and the cloners it
# needs that the stack may not have yet with the variables whose steps then fail (vlan,
# bridge, epair come with another branch: until then those steps are refused, and the rest
# applies with --keep-going).
CORPUS = {
    "laptop": (["em0"], ["wlans_iwm0", "create_args_wlan0", "ifconfig_wlan0",
                         "ifconfig_wlan0_ipv6"], ((), ())),
    "router": (["igb0", "igb1"], ["pf_enable", "pf_rules", "pflog_enable", "pflog_logfile",
                                  "natd_enable", "natd_interface", "natd_flags"], ((), ())),
    "nas": (["igb0", "igb1"], [], (("vlan",), ("vlans_lagg0", "ifconfig_lagg0_100",
                                               "ifconfig_lagg0_200"))),
    "jailhost": (["em0"], [], (("bridge", "epair"), ("cloned_interfaces", "ifconfig_bridge0",
                                                     "ifconfig_epair0a", "defaultrouter"))),
}


def _corpus(name):
    from plebproto.iftypes import CLONERS
    nics, warned, (needs, dependent) = CORPUS[name]
    missing = set(dependent) if any(c not in CLONERS for c in needs) else set()
    return os.path.join(DATA, f"{name}.rc.conf"), nics, warned, missing


def _nic_args(nics):
    return [w for n in nics for w in ("--nic", f"{n}=none")]


def _warned_vars(stderr, path):
    out = []
    for line in stderr.splitlines():
        if line.startswith(f"rc: WARNING: {path}:"):
            out.append(line.split(": ")[3])
    return out


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_applies_diffs_clean_and_round_trips_through_save(name, sockdir, tmp_path):
    path, nics, warned, missing = _corpus(name)
    stack = spawn_stack(_nic_args(nics), sockdir=sockdir)
    try:
        r = run_tool(stack, "rc", "apply", path)
        if missing:
            # atomic: refused whole, naming what the stack lacks; keep-going: the rest
            assert r.returncode == 1
            assert "rc: nothing applied; the stack is unchanged" in r.stderr
            r = run_tool(stack, "rc", "apply", "--keep-going", path)
            assert r.returncode == 1
            failed = {line.split(": ")[1] for line in r.stderr.splitlines()
                      if not line.startswith("rc: ")}
            assert failed == missing, r.stderr
        else:
            assert r.returncode == 0, r.stderr
            assert [line for line in r.stderr.splitlines()
                    if not line.startswith("rc: WARNING: ")] == []
            # applying again changes nothing
            d = run_tool(stack, "rc", "diff", path)
            assert (d.returncode, d.stdout) == (0, ""), d.stdout + d.stderr
        assert _warned_vars(r.stderr, path) == warned
        saved = run_tool(stack, "rc", "save").stdout
    finally:
        stack.stop()
    again = tmp_path / "saved.rc.conf"
    again.write_text(saved)
    booted = spawn_stack([*_nic_args(nics), "--rc", str(again)], sockdir=sockdir)
    try:
        assert run_tool(booted, "rc", "save").stdout == saved
        assert run_tool(booted, "rc", "diff", str(again)).returncode == 0
    finally:
        booted.stop()


def test_corpus_router_as_configured(sockdir):
    path, nics, _, _ = _corpus("router")
    with spawn_stack(_nic_args(nics), sockdir=sockdir) as s:
        assert run_tool(s, "rc", "apply", path).returncode == 0
        table = routes(s)
        assert table[("0.0.0.0", 0)] == "198.51.100.1"
        assert table[("10.20.0.0", 16)] == "192.168.10.254"
        assert table[("172.16.0.0", 12)] == "192.168.11.254"
        shown = run_tool(s, "ifconfig", "igb1").stdout
        assert "\tinet 192.168.11.1 netmask 0xffffff00 broadcast 192.168.11.255" in shown
        with s.client() as c:
            assert int(c.call("sysctl", {"name": "net.inet.ip.forwarding"})) == 1


def test_corpus_jailhost_bridge_drift_shows(sockdir, tmp_path):
    """Booted from the file, the bridge's members are no drift; a member taken out is, and
    so is a bridge the file does not create."""
    path, nics, _, _ = _corpus("jailhost")
    with spawn_stack([*_nic_args(nics), "--rc", path], sockdir=sockdir) as s:
        d = run_tool(s, "rc", "diff", path)
        assert (d.returncode, d.stdout) == (0, ""), d.stdout + d.stderr
        # the tool itself still fails as ifbridge.c does
        r = run_tool(s, "ifconfig", "bridge0", "addm", "em0")
        assert (r.returncode, r.stderr) == (1, "ifconfig: BRDGADD em0: File exists\n")
        assert run_tool(s, "ifconfig", "bridge0", "deletem", "epair0a").returncode == 0
        d = run_tool(s, "rc", "diff", path)
        assert d.returncode == 1
        assert d.stdout.splitlines()[2:] == ["+ifconfig bridge0 addm epair0a"]
        # a member taken to another bridge: the diff undoes the stack's configuration
        # first, so bridge1 goes (drift, as save would write it) and epair0a is free again
        assert run_tool(s, "ifconfig", "bridge1", "create").returncode == 0
        assert run_tool(s, "ifconfig", "bridge1", "addm", "epair0a").returncode == 0
        d = run_tool(s, "rc", "diff", path)
        assert d.returncode == 1
        assert d.stdout.splitlines()[2:] == [
            "+ifconfig bridge0 addm epair0a", "-ifconfig bridge1 create",
            "-ifconfig bridge1 addm epair0a", "-ifconfig bridge1 down"], d.stdout


def test_syncdhcp_stages_cut_after_each_foreground_dhclient(conf):
    """rc apply's parts: up to and with each `dhclient IF` (SYNCDHCP), then the rest; the
    parts hold every op once, in order (the aliases' run stays whole)."""
    from plebconf.rc.apply import rc_program
    path = conf('ifconfig_vnet0="SYNCDHCP"\nifconfig_vnet1="DHCP"\n'
                'ifconfig_vnet1_aliases="inet 10.1.0.1-40/32"\ndefaultrouter="10.1.0.254"\n')
    program = rc_program([path], ["lo0", "vnet0", "vnet1"])
    stages = program.stages()
    assert [lease for _, lease in stages] == ["vnet0", None]
    assert [part.argv(part.locate(0)[0]) for part, _ in stages] == [
        ["ifconfig", "lo0", "up"], ["ifconfig", "vnet1", "up"]]
    assert [e for part, _ in stages for e in part.entries()] == program.entries()
    # (the first alias line teaches the template, the 39 others run)
    assert any(seg[0] == "run" and len(seg[2][0]) == 39 for seg in stages[1][0].segments)
    assert program.argv(program.sync_dhclients()[0]) == ["dhclient", "vnet0"]
