"""vlan(4): creation (vlanN with vlan/vlandev, PARENT.TAG names, unconfigured), the listing as
FreeBSD 14's ifvlan.c prints it, SIOCSETVLAN on an existing vlan, 802.1Q on the parent's wire
between two stacks (Ethernet over UDP on 127.0.0.1) and with the Linux kernel's own vlan
interface in a network namespace, and the rc.conf round trip."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import run_tool
from netns_util import namespace, require_root
from test_dataplane_stacks import free_udp_ports, ping, replies, vx

from plebnet_core.spawn import spawn_stack


def ifconfig(stack, *argv):
    res = run_tool(stack, "ifconfig", *argv)
    return res.returncode, res.stdout, res.stderr


def mac_of(stack, ifname):
    return re.search(r"ether (\S+)", ifconfig(stack, ifname)[1]).group(1)


@pytest.fixture
def two(sockdir):
    p = free_udp_ports(2)
    a = spawn_stack(["--nic", f"vnet0={vx(p[0], p[1])}"], sockdir=sockdir)
    try:
        b = spawn_stack(["--nic", f"vnet0={vx(p[1], p[0])}", "--nic", "tap0=none"],
                        sockdir=sockdir)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def test_vlan_listing_is_ifvlan_c_s(two):
    a, _ = two
    assert ifconfig(a, "vlan0", "create", "vlan", "5", "vlandev", "vnet0",
                    "inet", "10.5.0.1/24") == (0, "", "")
    assert ifconfig(a, "vnet0.6", "create") == (0, "", "")
    assert ifconfig(a, "vlan", "create") == (0, "vlan1\n", "")
    mac = mac_of(a, "vnet0")
    # the parent's MAC and media, its MTU (it has VLAN_MTU), RUNNING from the attach on
    assert ifconfig(a, "vlan0")[1] == (
        "vlan0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        f"\tether {mac}\n"
        "\tinet 10.5.0.1 netmask 0xffffff00 broadcast 10.5.0.255\n"
        "\tgroups: vlan\n"
        "\tvlan: 5 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n"
        "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    assert ifconfig(a, "vnet0.6")[1] == (
        "vnet0.6: flags=1008842<BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        f"\tether {mac}\n"
        "\tgroups: vlan\n"
        "\tvlan: 6 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n"
        "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    # unconfigured: a zero MAC, no protocol yet (ifv_proto 0), no parent, no media
    assert ifconfig(a, "vlan1")[1] == (
        "vlan1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
        "\tether 00:00:00:00:00:00\n"
        "\tgroups: vlan\n"
        "\tvlan: 0 vlanproto: 0x0000 vlanpcp: 0 parent interface: <none>\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    # up, it is still not RUNNING (if_vlan.c's init does nothing, only vlan_config sets
    # it), and its link state unknown: no LOWER_UP (netlink's get_operstate_ether)
    assert ifconfig(a, "vlan1", "up") == (0, "", "")
    assert ifconfig(a, "vlan1")[1].startswith(
        "vlan1: flags=8803<UP,BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n")
    assert ifconfig(a, "vlan1", "down") == (0, "", "")
    # SIOCSETVLAN on it attaches it; on a configured one the kernel says EBUSY
    assert ifconfig(a, "vlan1", "vlan", "7", "vlandev", "vnet0") == (0, "", "")
    assert "\tvlan: 7 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n" in \
        ifconfig(a, "vlan1")[1]
    assert ifconfig(a, "vlan1", "vlan", "8", "vlandev", "vnet0") == (
        1, "", "ifconfig: SIOCSETVLAN: Device busy\n")
    assert ifconfig(a, "vlan1", "-vlandev") == (0, "", "")
    # off its parent: not RUNNING, no media, the MAC it had stays (vlan_unconfig_locked)
    assert ifconfig(a, "vlan1")[1] == (
        "vlan1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
        f"\tether {mac}\n"
        "\tgroups: vlan\n"
        "\tvlan: 0 vlanproto: 0x0000 vlanpcp: 0 parent interface: <none>\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    # the priority on an existing vlan (SIOCSVLANPCP); a NIC has none to set
    assert ifconfig(a, "vlan0", "vlanpcp", "6") == (0, "", "")
    assert "\tvlan: 5 vlanproto: 802.1q vlanpcp: 6 parent interface: vnet0\n" in \
        ifconfig(a, "vlan0")[1]
    assert ifconfig(a, "vnet0", "vlanpcp", "6") == (
        1, "", "ifconfig: SIOCSVLANPCP: Invalid argument\n")
    # a non-vlan interface: ifconfig's SIOCGETVLAN fails and it sends nothing
    assert ifconfig(a, "vnet0", "vlan", "7", "vlandev", "vnet0") == (0, "", "")


def test_vlan_errors(two):
    a, _ = two
    assert ifconfig(a, "vlan0", "create", "vlan", "5") == (
        1, "", "ifconfig: must specify a parent device for vlan create\n")
    assert ifconfig(a, "vlan0", "create", "vlandev", "vnet0") == (
        1, "", "ifconfig: must specify a tag for vlan create\n")
    assert ifconfig(a, "vnet0", "vlan", "5") == (
        1, "", "ifconfig: both vlan and vlandev must be specified\n")
    assert ifconfig(a, "vlan0", "create", "vlan", "5", "vlandev", "vnet9") == (
        1, "", "ifconfig: SIOCIFCREATE2 (vlan0): Device not configured\n")
    assert ifconfig(a, "vlan0", "create", "vlan", "4096", "vlandev", "vnet0") == (
        1, "", "ifconfig: SIOCIFCREATE2 (vlan0): Invalid argument\n")
    assert ifconfig(a, "vlan0", "create", "vlan", "5", "vlandev", "lo0") == (
        1, "", "ifconfig: SIOCIFCREATE2 (vlan0): Protocol not supported\n")
    assert ifconfig(a, "vnet0.5", "create") == (0, "", "")
    # the tag is taken on that parent: the kernel's EEXIST, worded as for any create with
    # parameters
    assert ifconfig(a, "vlan0", "create", "vlan", "5", "vlandev", "vnet0") == (
        1, "", "ifconfig: SIOCIFCREATE2 (vlan0): File exists\n")
    assert ifconfig(a, "vnet0.5", "create") == (
        1, "", "ifconfig: interface vnet0.5 already exists\n")
    assert ifconfig(a, "-l")[1] == "vnet0 lo0 vnet0.5\n"
    # the parent's new MAC is the vlan's too (vlan_iflladdr)
    assert ifconfig(a, "vnet0", "ether", "02:00:00:00:00:05") == (0, "", "")
    assert mac_of(a, "vnet0.5") == "02:00:00:00:00:05"
    # a parent that goes leaves its vlans unconfigured (vlan_ifdetach)
    assert ifconfig(a, "tap0", "create") == (0, "", "")
    assert ifconfig(a, "vlan3", "create", "vlan", "3", "vlandev", "tap0") == (0, "", "")
    assert ifconfig(a, "tap0", "destroy") == (0, "", "")
    assert "\tvlan: 0 vlanproto: 0x0000 vlanpcp: 0 parent interface: <none>\n" in \
        ifconfig(a, "vlan3")[1]


def test_vlan_mtu_without_vlan_mtu_capability(two):
    _, b = two
    assert ifconfig(b, "tap0", "-vlanmtu") == (0, "", "")
    assert ifconfig(b, "vlan0", "create", "vlan", "2", "vlandev", "tap0") == (0, "", "")
    assert ifconfig(b, "vlan0")[1].startswith(
        "vlan0: flags=1008842<BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1496\n")
    # no more than the parent carries with the tag (vlan_ioctl's SIOCSIFMTU)
    assert ifconfig(b, "vlan0", "mtu", "1500") == (
        1, "", "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n")
    assert ifconfig(b, "vlan0", "mtu", "1400") == (0, "", "")


def test_two_stacks_ping_through_the_tag(two):
    a, b = two
    for stack, host in ((a, 1), (b, 2)):
        assert ifconfig(stack, "vnet0", "up") == (0, "", "")
        assert ifconfig(stack, "vnet0.5", "create", "inet", f"10.5.0.{host}/24") == (0, "", "")
        # the untagged network on the same wire stays separate
        assert ifconfig(stack, "vnet0", "inet", f"10.0.0.{host}/24") == (0, "", "")
    with a.client() as ca:
        assert [r["seq"] for r in replies(ping(ca, "10.5.0.2", count=2))] == [0, 1]
        assert [r["seq"] for r in replies(ping(ca, "10.0.0.2", count=1))] == [0]
        stats = {i["name"]: i["stats"] for i in ca.sysctl("NET_RT_IFLIST")}
    assert stats["vnet0.5"]["ipackets"] >= 3 and stats["vnet0.5"]["opackets"] >= 3
    with b.client() as cb:
        arp = {e["addr"]: e for e in cb.sysctl("NET_RT_FLAGS", af="inet")}
    assert arp["10.5.0.1"]["ifname"] == "vnet0.5" and arp["10.0.0.1"]["ifname"] == "vnet0"
    # arp's type suffix is the vlan's (IFT_L2VLAN)
    out = run_tool(b, "arp", "-n", "10.5.0.1").stdout
    assert re.fullmatch(rf"\? \(10\.5\.0\.1\) at {mac_of(a, 'vnet0')} on vnet0\.5 "
                        r"expires in \d+ seconds \[vlan\]\n", out), out
    # another tag on one side: nothing gets through
    assert ifconfig(b, "vnet0.5", "destroy") == (0, "", "")
    assert ifconfig(b, "vnet0.7", "create", "inet", "10.5.0.2/24") == (0, "", "")
    with a.client() as ca:
        assert replies(ping(ca, "10.5.0.2", count=1, waittime=0.5)) == []


def test_rc_conf_vlans_and_save_round_trip(sockdir, tmp_path):
    rc = tmp_path / "rc.conf"
    rc.write_text('vlans_vnet0="5 guest"\n'
                  'create_args_guest="vlan 7"\n'
                  'ifconfig_vnet0_5="inet 10.5.0.1/24"\n'
                  'ifconfig_guest="inet 10.7.0.1/24"\n')
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        assert ifconfig(s, "-l")[1] == "vnet0 lo0 vnet0.5 guest\n"
        assert "\tvlan: 7 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n" in \
            ifconfig(s, "guest")[1]
        saved = run_tool(s, "rc", "save").stdout
    finally:
        s.stop()
    assert 'cloned_interfaces="vnet0.5 vlan0"' in saved
    assert 'create_args_vlan0="vlan 7 vlandev vnet0"' in saved
    assert 'ifconfig_vlan0_name="guest"' in saved
    rc.write_text(saved)
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        assert run_tool(s, "rc", "save").stdout == saved
    finally:
        s.stop()


def test_linux_vlan_pings_through_the_tag(sockdir):
    """vnet0.5 on a TAP against Linux's vlan 5 where the kernel has 8021q; where it does not
    (CI's kernel is built without it and loads no modules), the far end is a packet socket on
    the TAP in the namespace playing host 10.5.0.9 on VLAN 5."""
    require_root()
    kname = f"plv{os.getpid() % 100000}"
    with namespace("vlan") as netns, spawn_stack(
            ["--nic", f"vnet0=tap:{kname},netns={netns}"], sockdir=sockdir) as s:
        def ns(*cmd):
            subprocess.run(["ip", "netns", "exec", netns, *cmd], check=True)
        res = subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "add", "link", kname,
                              "name", f"{kname}.5", "type", "vlan", "id", "5"],
                             capture_output=True, text=True)
        assert res.returncode == 0 or "Unknown device type" in res.stderr, res.stderr
        assert ifconfig(s, "vnet0", "up") == (0, "", "")
        assert ifconfig(s, "vnet0.5", "create", "inet", "10.5.0.1/24") == (0, "", "")
        if res.returncode:
            _packet_socket_vlan_peer(s, netns, kname)
            return
        ns("ip", "addr", "add", "10.5.0.9/24", "dev", f"{kname}.5")
        ns("ip", "link", "set", f"{kname}.5", "up")
        with s.client() as c:
            assert [r["seq"] for r in replies(ping(c, "10.5.0.9", count=2))] == [0, 1]
        # and the kernel pings us
        res = subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2",
                              "10.5.0.1"], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


_SOL_PACKET, _PACKET_AUXDATA, _TP_STATUS_VLAN_VALID = 263, 8, 0x10


def _packet_socket_vlan_peer(s, netns, kname):
    import socket
    import struct

    from conftest import start_tool
    from netns_util import answer, socket_in

    from plebnet_core.dataplane.wire import ethernet, icmp, ipv4
    host_mac, host_ip = bytes.fromhex("020000000509"), bytes([10, 5, 0, 9])

    def tagged(frame):
        return frame[:12] + b"\x81\x00\x00\x05" + frame[12:]

    def receive(sock):
        """(VLAN id or None, the frame untagged) of one frame the stack sent, else None.
        Linux moves a received tag out of the frame into the packet's metadata before packet
        sockets see it (skb_vlan_untag), so the tag comes back in PACKET_AUXDATA."""
        try:
            data, anc, _, addr = sock.recvmsg(65535, socket.CMSG_SPACE(32))
        except TimeoutError:
            return None
        if addr[2] == socket.PACKET_OUTGOING:      # our own frames, on their way to the stack
            return None
        for level, kind, cdata in anc:
            if (level, kind) == (_SOL_PACKET, _PACKET_AUXDATA):
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", cdata[:20])
                if status & _TP_STATUS_VLAN_VALID:
                    return tci & 0xFFF, data
        if data[12:14] == b"\x81\x00":
            return int.from_bytes(data[14:16], "big") & 0xFFF, data[:12] + data[16:]
        return None, data

    with socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)) as sock:
        sock.bind((kname, 0))
        sock.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
        sock.settimeout(0.05)
        # the stack pings the host: ARP and echo requests arrive tagged, and so go the answers
        pinger = start_tool(s, "ping", "-c", "2", "10.5.0.9")
        answered = []
        while pinger.poll() is None:
            got = receive(sock)
            if got is None or got[0] != 5:
                continue
            reply = answer(got[1], host_mac, host_ip)
            if reply is not None:
                answered.append(got[1])
                sock.send(tagged(reply))
        out, err = pinger.communicate()
        assert pinger.returncode == 0, out + err
        assert "2 packets transmitted, 2 packets received" in out
        assert [ethernet.parse(f).ethertype for f in answered] == \
            [ethernet.ETHERTYPE_ARP, ethernet.ETHERTYPE_IPV4, ethernet.ETHERTYPE_IPV4]
        # and the host pings the stack, tagged both ways
        stack_mac = ethernet.parse(answered[0]).src
        sock.send(tagged(ethernet.emit(stack_mac, host_mac, ethernet.ETHERTYPE_IPV4, ipv4.emit(
            host_ip, bytes([10, 5, 0, 1]), ipv4.PROTO_ICMP, icmp.echo_request(7, 1, b"tag")))))
        for _ in range(100):
            got = receive(sock)
            if got is not None and got[0] == 5:
                pkt = ipv4.parse(ethernet.parse(got[1]).payload)
                if pkt.proto == ipv4.PROTO_ICMP and pkt.dst == host_ip:
                    break
        else:
            raise AssertionError("no tagged echo reply within 5 s")
        msg = icmp.parse(pkt.payload)
        assert (msg.type, msg.rest, msg.payload) == (icmp.ECHO_REPLY, 7 << 16 | 1, b"tag")


def test_tagged_frames_on_the_wire_byte_for_byte(sockdir):
    """The stack's vlan0 (tag 5, priority 3) pings a host this test plays at the far end of
    vnet0's Ethernet over UDP: every frame it sends carries 802.1Q's 0x8100 and the TCI
    right after the MAC addresses, and the host's tagged answers reach vlan0."""
    import select
    import socket
    import sys

    from netns_util import answer

    from plebnet_core.dataplane.wire import vxlan

    host_mac, host_ip = bytes.fromhex("020000000009"), bytes([10, 5, 0, 9])
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    (near,) = free_udp_ports(1)
    tci = (3 << 13 | 5).to_bytes(2, "big")
    with far, spawn_stack(["--nic", f"vnet0={vx(near, far.getsockname()[1])}"],
                          sockdir=sockdir) as s:
        assert ifconfig(s, "vnet0", "up") == (0, "", "")
        assert ifconfig(s, "vlan0", "create", "vlan", "5", "vlandev", "vnet0", "vlanpcp", "3",
                        "inet", "10.5.0.1/24") == (0, "", "")
        env = s.env()
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pinger = subprocess.Popen([sys.executable, "-m", "plebconf", "ping", "-c", "1",
                                   "-W", "3000", "10.5.0.9"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = []
        while pinger.poll() is None:
            if not select.select([far], [], [], 0.05)[0]:
                continue
            data, peer = far.recvfrom(65535)
            frame = data[vxlan.HEADER_LEN:]
            seen.append(frame)
            assert frame[12:14] == b"\x81\x00" and frame[14:16] == tci, frame.hex()
            reply = answer(frame[:12] + frame[16:], host_mac, host_ip)
            if reply is not None:
                far.sendto(data[:vxlan.HEADER_LEN] + reply[:12] + b"\x81\x00"
                           + (5).to_bytes(2, "big") + reply[12:], peer)
        out, err = pinger.communicate()
    assert pinger.returncode == 0, out + err
    assert "1 packets transmitted, 1 packets received" in out
    # the ARP request and the echo request, both tagged
    assert [f[16:18] for f in seen[:2]] == [b"\x08\x06", b"\x08\x00"]


def test_rc_conf_cloned_vlan_configured_by_ifconfig_IF(sockdir, tmp_path):
    """The older rc.conf form: the vlan cloned empty, tag and parent in ifconfig_IF (after
    the address: ifconfig takes the family only first), the IF.TAG form in
    cloned_interfaces, and create_args_IF."""
    rc = tmp_path / "rc.conf"
    rc.write_text('cloned_interfaces="vlan0 vnet0.6 vlan7"\n'
                  'ifconfig_vlan0="inet 10.5.0.1/24 vlan 5 vlandev vnet0"\n'
                  'ifconfig_vnet0_6="inet 10.6.0.1/24"\n'
                  'create_args_vlan7="vlan 7 vlandev vnet0 vlanpcp 2"\n'
                  'ifconfig_vnet0="up"\n')
    s = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        lines = {name: ifconfig(s, name)[1] for name in ("vlan0", "vnet0.6", "vlan7")}
    finally:
        s.stop()
    assert "\tinet 10.5.0.1 netmask 0xffffff00 broadcast 10.5.0.255\n" in lines["vlan0"]
    assert "\tvlan: 5 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n" in lines["vlan0"]
    assert lines["vlan0"].startswith("vlan0: flags=1008843<UP,")
    assert "\tvlan: 6 vlanproto: 802.1q vlanpcp: 0 parent interface: vnet0\n" in \
        lines["vnet0.6"]
    assert "\tvlan: 7 vlanproto: 802.1q vlanpcp: 2 parent interface: vnet0\n" in lines["vlan7"]
