"""Interface MACs as FreeBSD makes them (ether_gen_addr_byname, sys/net/if_ethersubr.c):
SHA-1 of "<hostuuid>-<name>-<jail>" masked into 58:9c:fc's generated block.  Each stack is
a host of its own: its host uuid is new at each start, or kept in --state DIR/hostid (as
FreeBSD keeps kern.hostuuid in /etc/hostid), so two stacks' vnet0 differ and one stack's
survive its restarts.  --nic names are checked as the kernel checks interface names."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from plebnet_core.spawn import ROOT, spawn_stack
from plebnet_core.state.stack import stable_mac


def macs(stack):
    with stack.client() as c:
        return {i["name"]: i["mac"] for i in c.sysctl("NET_RT_IFLIST") if i["mac"]}


def test_the_derivation_is_ether_gen_addr_byname():
    # 'asprintf(&buf, M_TEMP, "%s-%s-%s", uuid, nameunit, jailname)'; SHA1; the first three
    # digest bytes "& OUI_FREEBSD_GENERATED_MASK" (0x10ffff) under OUI_FREEBSD_BASE 58:9c:fc
    u = "0d9b4f5e-3c1a-4a7e-8f2b-6e5d4c3b2a19"
    d = hashlib.sha1(f"{u}-vnet0-0".encode()).digest()
    assert stable_mac(u, "vnet0") == bytes([0x58, 0x9C, 0xFC, d[0] & 0x10, d[1], d[2]])
    assert stable_mac(u, "vnet0") != stable_mac(u, "vnet1")


def test_two_stacks_with_the_same_nic_get_different_macs(sockdir):
    a = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    b = spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir)
    try:
        ma, mb = macs(a)["vnet0"], macs(b)["vnet0"]
    finally:
        a.stop()
        b.stop()
    assert ma != mb
    for mac in (ma, mb):
        assert mac.startswith("58:9c:fc:") and int(mac[9:11], 16) & ~0x10 == 0


def test_macs_survive_a_restart_with_the_same_state(sockdir):
    state = os.path.join(sockdir, "state")
    first = spawn_stack(["--nic", "vnet0=none", "--state", state], sockdir=sockdir)
    try:
        with first.client() as c:
            c.ioctl("SIOCIFCREATE2", ifname="tap0")
        before = macs(first)
    finally:
        first.stop()
    with open(os.path.join(state, "hostid")) as f:
        hostuuid = f.read().strip()
    assert before == {"vnet0": stable_mac(hostuuid, "vnet0").hex(":"),
                      "tap0": stable_mac(hostuuid, "tap0").hex(":")}
    again = spawn_stack(["--nic", "vnet0=none", "--state", state], sockdir=sockdir)
    try:
        assert macs(again) == before
        # the NIC was recognised by its MAC: restored in place, not doubled
        with again.client() as c:
            assert [i["name"] for i in c.sysctl("NET_RT_IFLIST")] == ["vnet0", "lo0", "tap0"]
    finally:
        again.stop()


def _plebnet(sockdir, *args):
    return subprocess.run([sys.executable, "-m", "plebnet_core", *args, "--sockdir", sockdir],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": ROOT})


def test_nic_names_the_kernel_would_refuse(sockdir):
    # copyinstr(ifr_data, new_name, IFNAMSIZ, NULL): 15 bytes and the NUL at most
    for nic, problem in [
        ("abcdefghijklmno0=none",
         "interface names have at most 15 characters (IFNAMSIZ 16)"),
        ("vnet 0=none", "' ' cannot be in an interface name"),
        ("lo0=none", "interface lo0 already exists (the stack's loopback)"),
    ]:
        res = _plebnet(sockdir, "--nic", nic)
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr.splitlines()[-1] == \
            f"Error: Invalid value for '--nic': '{nic}': {problem}", res.stderr
    # if_rename / if_attach: "if (ifunit(new_name) != NULL) return (EEXIST)"
    res = _plebnet(sockdir, "--nic", "vnet0=none", "--nic", "vnet0=none")
    assert res.returncode == 2 and res.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--nic': 'vnet0=none': interface vnet0 already exists "
        "(if_rename: ifunit(new_name) != NULL, EEXIST)")
    # fifteen characters are a name
    st = spawn_stack(["--nic", "abcdefghijklmn0=none"], sockdir=sockdir)
    try:
        assert "abcdefghijklmn0" in macs(st)
    finally:
        st.stop()
