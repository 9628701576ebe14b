"""VXLAN device: between two of ours on loopback, and against the Linux kernel's vxlan."""
from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import sys

import pytest

from netns_util import answer_until_done, ip, namespace, ping_in, require_root
from netns_util import kernel_vtep as vtep_pair
from plebnet_core.dataplane.phy import VxlanDevice
from plebnet_core.dataplane.wire import WireError, ethernet, vxlan
from plebnet_core.loop import EventLoop

FRAME = ethernet.emit(ethernet.BROADCAST, ethernet.mac_parse("02:00:00:00:00:0a"), 0x88B5,
                      b"plebnet vxlan test")


def wait_readable(dev) -> None:
    # no deadline assertion: a frame that never comes fails the recv() check that follows
    select.select([dev.fileno()], [], [], 2)


def recv_one(dev) -> bytes | None:
    """The next frame the device accepts, skipping what it drops; None if nothing comes."""
    for _ in range(10):
        wait_readable(dev)
        frame = dev.recv()
        if frame is not None:
            return frame
    return None


@pytest.fixture
def pair():
    a = VxlanDevice("vxa", vni=42, local=("127.0.0.1", 0), remote=("127.0.0.1", 9))
    b = VxlanDevice("vxb", vni=42, local=("127.0.0.1", 0), remote=a.local)
    a.remote = b.local
    yield a, b
    a.close()
    b.close()


def test_frames_cross_both_ways(pair):
    a, b = pair
    assert a.kind == "vxlan" and a.recv() is None
    a.send(FRAME)
    wait_readable(b)
    assert b.recv() == FRAME and b.recv() is None
    b.send(FRAME[::-1])
    wait_readable(a)
    assert a.recv() == FRAME[::-1]
    assert (a.stats.opackets, a.stats.obytes, a.stats.ipackets) == (1, len(FRAME), 1)


def test_on_the_wire_it_is_rfc7348(pair):
    a, _ = pair
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        a.remote = s.getsockname()
        a.send(FRAME)
        data, addr = s.recvfrom(2048)
    assert addr == a.local
    assert data[:8] == bytes.fromhex("0800000000002a00") and data[8:] == FRAME
    assert vxlan.parse(data).vni == 42


def test_bad_datagrams_are_dropped_and_counted(pair):
    a, b = pair
    other_vni = VxlanDevice("vxc", vni=43, local=("127.0.0.1", 0), remote=a.local)
    with other_vni, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        other_vni.send(FRAME)                                # wrong VNI
        raw.sendto(bytes(8) + FRAME, a.local)                # I flag clear
        raw.sendto(vxlan.header(42) + b"short", a.local)     # no room for an Ethernet header
        b.send(FRAME)                                        # the one good frame, sent last
        assert recv_one(a) == FRAME
    assert a.stats.ierrors == 3 and a.stats.ipackets == 1


def test_foreign_source_dropped_unless_any_source(pair):
    a, b = pair
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.2", 0))
        stranger.sendto(vxlan.emit(42, FRAME), a.local)
        b.send(FRAME)
        assert recv_one(a) == FRAME and a.stats.iqdrops == 1
        a.any_source = True
        stranger.sendto(vxlan.emit(42, FRAME), a.local)
        wait_readable(a)
        assert a.recv() == FRAME


def test_event_loop_and_closed_device(pair):
    a, b = pair
    loop = EventLoop()
    got = []

    def readable():
        while (frame := b.recv()) is not None:
            got.append(frame)
        loop.stop()

    b.attach(loop, readable)
    a.send(FRAME)
    loop.run()
    b.detach()
    assert got == [FRAME]
    a.close()
    assert a.fileno() is None
    a.send(FRAME)  # counted, not raised
    assert a.stats.oerrors == 1


def test_bad_vni_rejected():
    with pytest.raises(WireError):
        VxlanDevice("vx", vni=1 << 24, local=("127.0.0.1", 0), remote=("127.0.0.1", 4789))


# -- against the kernel's own vxlan -------------------------------------------------------------
@pytest.fixture
def kernel_vtep():
    require_root()
    with vtep_pair("10.231.0", "10.232.0") as (k, s):
        yield k, s


@pytest.mark.root
def test_interoperates_with_linux_vxlan(kernel_vtep):
    k, s = kernel_vtep
    mac = ethernet.mac_parse("02:00:00:00:00:02")
    with VxlanDevice("vxlan0", vni=42, local=("10.231.0.2", 4789), remote=("10.231.0.1", 4789),
                     netns=s) as dev:
        proc = ping_in(k, "10.232.0.2")  # the kernel ARPs, then pings, over VXLAN
        seen = answer_until_done(dev, proc, mac, bytes([10, 232, 0, 2]))
        out = proc.stdout.read()
        assert proc.returncode == 0, out
        assert "02:00:00:00:00:02" in ip("-n", k, "neigh", "show", "10.232.0.2")
        kinds = {ethernet.parse(f).ethertype for f in seen}
        assert {ethernet.ETHERTYPE_ARP, ethernet.ETHERTYPE_IPV4} <= kinds
        if shutil.which("bridge"):
            # and the kernel's vxlan learned our MAC behind our VTEP address
            fdb = subprocess.run(["bridge", "-n", k, "fdb", "show", "dev", "vx0"],
                                 capture_output=True, text=True).stdout
            assert "02:00:00:00:00:02 dst 10.231.0.2" in fdb


# The same with both ends on lo in one namespace, the set-up a demo on one host would use.  Three
# knobs make Linux send real UDP to us there: nolocalbypass (else it hands frames for a local
# address straight to a local vxlan device, kernel >= 6.5; iproute2 6.1 has no keyword for it, so
# netlink via pyroute2, taught the attribute in a child process), nolearning (a learned entry
# would keep the MAC but send to the device's own dstport) and a default FDB entry sending to our
# port, since the kernel's own socket already holds 4789 on 127.0.0.1.
_MAKE_VX0 = """
from pyroute2.netlink.rtnl.ifinfmsg.plugins import vxlan as plugin
plugin.vxlan.nla_map += (("IFLA_VXLAN_VNIFILTER", "uint8"), ("IFLA_VXLAN_LOCALBYPASS", "uint8"))
from pyroute2 import IPRoute
with IPRoute() as ipr:
    ipr.link("add", ifname="vx0", kind="vxlan", vxlan_id=42, vxlan_local="127.0.0.1",
             vxlan_port=4789, vxlan_learning=0, vxlan_localbypass=0)
    index = ipr.link_lookup(ifname="vx0")[0]
    ipr.fdb("append", ifindex=index, lladdr="00:00:00:00:00:00", dst="127.0.0.1", port=4790)
    ipr.addr("add", index=index, address="10.232.0.1", prefixlen=24)
    ipr.link("set", index=index, state="up")
"""


@pytest.mark.root
def test_interoperates_with_linux_vxlan_on_lo():
    require_root()
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if release < (6, 5):
        pytest.skip(f"kernel {os.uname().release} cannot turn off vxlan local bypass (6.5+)")
    with namespace("vxlo") as ns:
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _MAKE_VX0], check=True)
        mac = ethernet.mac_parse("02:00:00:00:00:02")
        with VxlanDevice("vxlan0", vni=42, local=("127.0.0.1", 4790),
                         remote=("127.0.0.1", 4789), netns=ns) as dev:
            proc = ping_in(ns, "10.232.0.2")
            answer_until_done(dev, proc, mac, bytes([10, 232, 0, 2]))
            assert proc.returncode == 0, proc.stdout.read()
            assert "02:00:00:00:00:02" in ip("-n", ns, "neigh", "show", "10.232.0.2")
