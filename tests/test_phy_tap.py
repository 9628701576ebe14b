"""TAP device against the Linux kernel, which sits on the other side inside a test namespace."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from netns_util import answer_until_done, ip, namespace, ping_in, require_root
from plebnet_core.dataplane.phy import PcapTap, TapDevice
from plebnet_core.dataplane.wire import arp, ethernet, icmp, ipv4
from plebnet_core.loop import EventLoop

pytestmark = pytest.mark.root

STACK_MAC = ethernet.mac_parse("02:00:00:00:00:02")
STACK_IP = bytes([10, 233, 0, 2])


@pytest.fixture
def ns():
    require_root()
    with namespace("tap") as name:
        yield name


def test_created_inside_namespace_and_destroyed_on_close(ns):
    tap = TapDevice("pltap%d", netns=ns, up=True, address="10.233.0.1/24", mtu=1400)
    assert tap.kind == "tap" and tap.name == tap.ifname and tap.ifname.startswith("pltap")
    link = ip("-n", ns, "-o", "link", "show", tap.ifname)
    assert "mtu 1400" in link and ",UP" in link
    assert "10.233.0.1/24" in ip("-n", ns, "-o", "addr", "show", tap.ifname)
    # nothing appeared in our own namespace
    assert tap.ifname not in ip("-o", "link", "show")
    tap.close()
    assert tap.ifname not in ip("-n", ns, "-o", "link", "show")
    assert tap.fileno() is None and tap.recv() is None
    tap.send(bytes(60))  # counted, not raised, and never written to a recycled fd number
    assert tap.stats.oerrors == 1


def test_kernel_pings_the_stack_side(ns, tmp_path):
    # the kernel owns 10.233.0.1; the test plays 10.233.0.2 behind the TAP with the codecs
    pcap = tmp_path / "tap.pcap"
    tap = PcapTap(TapDevice("pltap%d", netns=ns, up=True, address="10.233.0.1/24"), pcap)
    try:
        proc = ping_in(ns, "10.233.0.2")
        seen = answer_until_done(tap, proc, STACK_MAC, STACK_IP)
        out = proc.stdout.read()
        assert proc.returncode == 0, out
        assert "1 received" in out
        neigh = ip("-n", ns, "neigh", "show", "10.233.0.2")
        assert "02:00:00:00:00:02" in neigh

        # what the kernel sent decodes the way the kernel meant it
        kernel_mac = ethernet.mac_parse(ip("-n", ns, "-o", "link", "show", tap.ifname)
                                        .split("link/ether ")[1].split()[0])
        frames = [ethernet.parse(f) for f in seen]
        arps = [arp.parse(f.payload) for f in frames if f.ethertype == ethernet.ETHERTYPE_ARP]
        assert arps[0] == (arp.OP_REQUEST, kernel_mac, bytes([10, 233, 0, 1]), arps[0].tha,
                           STACK_IP)
        ips = [ipv4.parse(f.payload) for f in frames if f.ethertype == ethernet.ETHERTYPE_IPV4]
        echo = [icmp.parse(p.payload) for p in ips if p.proto == ipv4.PROTO_ICMP]
        assert echo and echo[0].type == icmp.ECHO_REQUEST and len(echo[0].payload) == 56
        assert tap.stats.opackets == 2 and tap.stats.ipackets == len(seen)
    finally:
        tap.close()
    assert tap.writer.count == len(seen) + 2
    if shutil.which("tcpdump"):
        res = subprocess.run(["tcpdump", "-r", str(pcap), "-nn", "-vv"], capture_output=True,
                             text=True)
        assert res.returncode == 0, res.stderr
        text = res.stdout.lower()
        assert "echo reply" in text and "is-at 02:00:00:00:00:02" in text
        for bad in ("bad cksum", "malformed", "truncated", "wrong"):
            assert bad not in text, res.stdout


def test_attach_to_event_loop(ns):
    with TapDevice("pltap%d", netns=ns, up=True, address="10.233.0.1/24") as tap:
        loop = EventLoop()
        got = []

        def readable():
            while (frame := tap.recv()) is not None:
                got.append(frame)
                if ethernet.parse(frame).ethertype == ethernet.ETHERTYPE_ARP:
                    loop.stop()

        tap.attach(loop, readable)
        proc = ping_in(ns, "10.233.0.2")  # unanswered: the kernel ARPs until ping gives up
        loop.call_later(5, loop.stop)  # a backstop so a broken device cannot hang the suite
        loop.run()
        proc.terminate()
        proc.wait()
        tap.detach()
        assert any(ethernet.parse(f).ethertype == ethernet.ETHERTYPE_ARP for f in got)


def test_move_to_netns(ns):
    with namespace("tap2") as other:
        with TapDevice("pltap%d", netns=ns) as tap:
            tap.move_to_netns(other)
            assert tap.ifname in ip("-n", other, "-o", "link", "show")
            assert tap.ifname not in ip("-n", ns, "-o", "link", "show")
            tap.configure(up=True, address="10.233.0.1/24")
            proc = ping_in(other, "10.233.0.2")
            answer_until_done(tap, proc, STACK_MAC, STACK_IP)
            assert proc.returncode == 0, proc.stdout.read()


def test_send_while_kernel_side_down_counts_error(ns):
    with TapDevice("pltap%d", netns=ns) as tap:
        tap.send(b"\xff" * 6 + STACK_MAC + b"\x08\x06" + bytes(28))
        # the kernel refuses frames for an interface that is down (EIO): counted, not raised
        assert tap.stats.oerrors == 1 and tap.stats.opackets == 0
