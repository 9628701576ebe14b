"""gif(4): `ifconfig gifN create`, `tunnel SRC DST` with IPv4 or IPv6 ends, IPv4 and IPv6
inside IPv4 or IPv6 (protocols 4 and 41) carried by the stack's own IP: between two stacks
linked over Ethernet-over-UDP on loopback (IPv4 and IPv6 underlays), and against Linux's
ipip, sit and ip6tnl in a namespace over TAP (or the kernel's raw sockets of protocols 4 and
41 where it has no such devices)."""
import socket
import subprocess
import time

import pytest

from conftest import run_tool, start_tool
from netns_util import ip, namespace, require_root, socket_in
from plebnet_core.dataplane.wire import icmp, icmp6, ipv4, ipv6
from plebnet_core.spawn import spawn_stack
from test_dataplane_stacks import free_udp_ports, vx


def ifconfig(stack, *argv):
    r = run_tool(stack, "ifconfig", *argv)
    return r


def _setup(stack, me, peer, inner, inner_peer):
    for argv in (["vnet0", "inet", f"{me}/24", "up"], ["gif0", "create"],
                 ["gif0", "tunnel", me, peer], ["gif0", "inet", inner, inner_peer, "up"]):
        r = ifconfig(stack, *argv)
        assert r.returncode == 0, (argv, r.stderr)


@pytest.fixture
def pair(sockdir):
    from test_dataplane_stacks import free_udp_ports
    pa, pb = free_udp_ports(2)      # (fixed ports collide with another run's)
    a = spawn_stack(["--nic", f"vnet0=vxlan:42,127.0.0.1:{pa},127.0.0.1:{pb}"],
                    sockdir=sockdir)
    b = spawn_stack(["--nic", f"vnet0=vxlan:42,127.0.0.1:{pb},127.0.0.1:{pa}"],
                    sockdir=sockdir)
    yield a, b
    a.stop()
    b.stop()


def test_two_stacks_ping_through_their_tunnel(pair, tmp_path):
    a, b = pair
    _setup(a, "10.248.0.1", "10.248.0.2", "10.99.0.1", "10.99.0.2")
    _setup(b, "10.248.0.2", "10.248.0.1", "10.99.0.2", "10.99.0.1")
    lines = ifconfig(a, "gif0").stdout.splitlines()
    assert lines[:5] == [
        "gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280",
        "\toptions=80000<LINKSTATE>",
        "\ttunnel inet 10.248.0.1 --> 10.248.0.2",
        "\tinet 10.99.0.1 --> 10.99.0.2 netmask 0xff000000",
        "\tgroups: gif"]
    r = run_tool(a, "ping", "-c", "2", "-i", "0.2", "-t", "5", "10.99.0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    with b.client() as c:
        stats = {i["name"]: i["stats"] for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})}
    assert stats["gif0"]["ipackets"] >= 2 and stats["gif0"]["opackets"] >= 2
    # the outer packets are real IPv4 on vnet0: the peer's vnet0 saw them
    assert stats["vnet0"]["ipackets"] >= 2
    saved = run_tool(a, "rc", "save").stdout.splitlines()
    assert 'create_args_gif0="tunnel 10.248.0.1 10.248.0.2"' in saved
    assert 'ifconfig_gif0="inet 10.99.0.1/8 10.99.0.2"' in saved
    path = tmp_path / "saved.conf"
    path.write_text("\n".join(saved) + "\n")
    assert run_tool(a, "rc", "diff", str(path)).returncode == 0


def test_running_follows_the_tunnel_source_being_local(stack):
    """FreeBSD 14 if_gif.c: `up` does not make a gif RUNNING; a tunnel does when its source
    is one of the host's addresses (in_gif_set_running: in_localip), and the gif follows
    that address coming and going (the ifaddr_event handler in_gif_srcaddr), a rolled-back
    batch included; `down` leaves it, deletetunnel clears it (gif_delete_tunnel).  Without
    RUNNING gif_transmit sends nothing: ENETDOWN."""
    def first_line():
        return ifconfig(stack, "gif0").stdout.splitlines()[0]
    up_not_running = "gif0: flags=1008011<UP,POINTOPOINT,MULTICAST,LOWER_UP> metric 0 mtu 1280"
    running = "gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280"
    assert ifconfig(stack, "gif0", "create").returncode == 0
    assert ifconfig(stack, "gif0", "inet", "10.99.0.1/8", "10.99.0.2", "up").returncode == 0
    assert first_line() == up_not_running
    assert ifconfig(stack, "gif0", "tunnel", "10.248.0.1", "10.248.0.2").returncode == 0
    assert first_line() == up_not_running           # 10.248.0.1 is nobody's address yet
    r = run_tool(stack, "ping", "-c", "1", "-t", "2", "10.99.0.2")
    assert (r.returncode, r.stderr) == (2, "ping: sendto: Network is down\n")
    assert ifconfig(stack, "vnet0", "inet", "10.248.0.1/24").returncode == 0
    assert first_line() == running
    batch = "ifconfig vnet0 inet 10.248.0.1 -alias\nroute add 1.2.3.4 9.9.9.9\n"
    assert run_tool(stack, "batch", "-", input=batch).returncode == 1
    assert first_line() == running                  # (the batch was undone whole)
    assert ifconfig(stack, "vnet0", "inet", "10.248.0.1", "-alias").returncode == 0
    assert first_line() == up_not_running
    assert ifconfig(stack, "vnet0", "inet", "10.248.0.1/24").returncode == 0
    assert ifconfig(stack, "gif0", "down").returncode == 0
    assert first_line() == "gif0: flags=8050<POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1280"
    assert ifconfig(stack, "gif0", "deletetunnel").returncode == 0
    assert first_line() == "gif0: flags=8010<POINTOPOINT,MULTICAST> metric 0 mtu 1280"
    # an IPv6 tunnel: in6_gif_set_running, by in6_localip
    assert ifconfig(stack, "vnet0", "inet6", "2001:db8:248::1/64").returncode == 0
    assert ifconfig(stack, "gif0", "inet6", "tunnel", "2001:db8:248::1",
                    "2001:db8:248::2").returncode == 0
    assert first_line() == "gif0: flags=8050<POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1280"
    assert ifconfig(stack, "gif0", "inet6", "tunnel", "2001:db8:248::9",
                    "2001:db8:248::2").returncode == 0
    assert first_line() == "gif0: flags=8010<POINTOPOINT,MULTICAST> metric 0 mtu 1280"


def test_no_tunnel_no_traffic_and_deletetunnel(pair):
    a, b = pair
    _setup(a, "10.248.0.1", "10.248.0.2", "10.99.0.1", "10.99.0.2")
    _setup(b, "10.248.0.2", "10.248.0.1", "10.99.0.2", "10.99.0.1")
    assert ifconfig(b, "gif0", "deletetunnel").returncode == 0
    assert "tunnel inet" not in ifconfig(b, "gif0").stdout
    r = run_tool(a, "ping", "-c", "1", "-t", "2", "10.99.0.2")
    assert r.returncode == 2        # no reply: b has no tunnel to receive on


def test_tunnel_on_another_kind_of_interface_is_refused_with_a_warning(pair):
    """in_set_tunnel only warn()s when SIOCSIFPHYADDR fails (FreeBSD 14 sbin/ifconfig/
    af_inet.c): the rest of the line is applied and the exit status stays 0."""
    a, _ = pair
    r = ifconfig(a, "vnet0", "tunnel", "10.0.0.1", "10.0.0.2", "mtu", "1400")
    assert (r.returncode, r.stderr) == (0, "ifconfig: SIOCSIFPHYADDR: Invalid argument\n")
    assert " mtu 1400" in ifconfig(a, "vnet0").stdout.splitlines()[0]
    r = ifconfig(a, "gif9", "tunnel", "10.0.0.1", "10.0.0.2")
    assert (r.returncode, r.stderr) == (1, "ifconfig: interface gif9 does not exist\n")


def test_against_linux_ipip(sockdir):
    """Linux's ipip at the far end of a TAP where the kernel has it; where it does not (CI's
    kernel is built without ipip and loads no modules), the far end is the kernel's raw
    socket of protocol 4 in the namespace: the kernel writes and checks the outer header
    (and ARPs for the stack), the test plays the inner host."""
    require_root()
    with namespace("gp") as ns:
        probe = subprocess.run(["ip", "-n", ns, "link", "add", "ipip0", "type", "ipip",
                                "local", "10.249.0.1", "remote", "10.249.0.2"],
                               capture_output=True, text=True)
        assert probe.returncode == 0 or "Unknown device type" in probe.stderr, probe.stderr
        stack = spawn_stack(["--nic", f"vnet0=tap:kgp0,netns={ns},addr=10.249.0.1/24"],
                            sockdir=sockdir)
        try:
            _setup(stack, "10.249.0.2", "10.249.0.1", "10.98.0.2", "10.98.0.1")
            if probe.returncode == 0:
                ip("-n", ns, "addr", "add", "10.98.0.1", "peer", "10.98.0.2", "dev", "ipip0")
                ip("-n", ns, "link", "set", "ipip0", "up")
                r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W",
                                    "3", "10.98.0.2"], capture_output=True, text=True)
                assert r.returncode == 0, r.stdout
                r = run_tool(stack, "ping", "-c", "1", "-t", "5", "10.98.0.1")
                assert r.returncode == 0, r.stdout + r.stderr
            else:
                _raw_ipip_peer(stack, ns)
        finally:
            stack.stop()


def _raw_ipip_peer(stack, ns):
    inner_me, inner_stack = bytes([10, 98, 0, 1]), bytes([10, 98, 0, 2])
    outer_me, outer_stack = bytes([10, 249, 0, 1]), bytes([10, 249, 0, 2])

    def recv_inner(sock):
        outer = ipv4.parse(sock.recv(65535))
        assert (outer.src, outer.dst, outer.proto) == (outer_stack, outer_me, 4)
        return ipv4.parse(outer.payload)

    with socket_in(ns, socket.AF_INET, socket.SOCK_RAW, 4) as sock:
        sock.settimeout(5)
        # our echo request, tunnelled to the stack: its reply comes back tunnelled
        sock.sendto(ipv4.emit(inner_me, inner_stack, ipv4.PROTO_ICMP,
                              icmp.echo_request(0x4242, 1, b"gif")), ("10.249.0.2", 0))
        inner = recv_inner(sock)
        assert (inner.src, inner.dst, inner.proto) == (inner_stack, inner_me, ipv4.PROTO_ICMP)
        msg = icmp.parse(inner.payload)
        assert (msg.type, msg.rest, msg.payload) == (icmp.ECHO_REPLY, 0x4242 << 16 | 1, b"gif")
        # the stack's ping, answered from inside the tunnel
        pinger = start_tool(stack, "ping", "-c", "1", "-t", "5", "10.98.0.1")
        inner = recv_inner(sock)
        assert (inner.src, inner.dst) == (inner_stack, inner_me)
        msg = icmp.parse(inner.payload)
        assert msg.type == icmp.ECHO_REQUEST
        sock.sendto(ipv4.emit(inner_me, inner_stack, ipv4.PROTO_ICMP, icmp.echo_reply_to(msg)),
                    ("10.249.0.2", 0))
        out, err = pinger.communicate(timeout=30)
    assert pinger.returncode == 0, out + err
    assert "1 packets transmitted, 1 packets received" in out


# -- IPv6 outer addresses (SIOCSIFPHYADDR_IN6, in6_gif.c) -----------------------------------

def _settled(stack, ifname, limit=15.0):
    """Wait (bounded) until DAD is over for ifname's IPv6 addresses."""
    end = time.monotonic() + limit
    while "tentative" in ifconfig(stack, ifname).stdout and time.monotonic() < end:
        time.sleep(0.2)


def _setup6(stack, me, peer, inner4, inner4_peer, inner6, inner6_peer):
    for argv in (["vnet0", "inet6", f"{me}/64"], ["gif0", "create"],
                 ["gif0", "tunnel", me, peer], ["gif0", "inet", inner4, inner4_peer, "up"],
                 ["gif0", "inet6", inner6, inner6_peer, "prefixlen", "128"]):
        r = ifconfig(stack, *argv)
        assert r.returncode == 0, (argv, r.stderr)


@pytest.fixture
def pair6(sockdir):
    pa, pb = free_udp_ports(2)
    a = spawn_stack(["--nic", f"vnet0={vx(pa, pb)}"], sockdir=sockdir)
    b = spawn_stack(["--nic", f"vnet0={vx(pb, pa)}"], sockdir=sockdir)
    yield a, b
    a.stop()
    b.stop()


def _ip6stat(stack):
    with stack.client() as c:
        return c.call("sysctl", {"name": "net.inet6.ip6.stats"})


def test_two_stacks_over_an_ipv6_underlay(pair6, tmp_path, sockdir):
    """IPv4 (next header 4) and IPv6 (41) inside IPv6, each way, and the tunnel's listing
    line and rc.conf form."""
    a, b = pair6
    _setup6(a, "2001:db8:248::1", "2001:db8:248::2", "10.97.0.1", "10.97.0.2",
            "2001:db8:97::1", "2001:db8:97::2")
    _setup6(b, "2001:db8:248::2", "2001:db8:248::1", "10.97.0.2", "10.97.0.1",
            "2001:db8:97::2", "2001:db8:97::1")
    for stack in (a, b):
        _settled(stack, "vnet0")
        _settled(stack, "gif0")
    lines = ifconfig(a, "gif0").stdout.splitlines()
    assert lines[:4] == [
        "gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280",
        "\toptions=80000<LINKSTATE>",
        "\ttunnel inet6 2001:db8:248::1 --> 2001:db8:248::2",
        "\tinet 10.97.0.1 --> 10.97.0.2 netmask 0xff000000"]
    assert "\tinet6 2001:db8:97::1 --> 2001:db8:97::2 prefixlen 128" in lines
    before = _ip6stat(b)["ip6s_nxthist"]
    r = run_tool(a, "ping", "-c", "2", "-i", "0.2", "-t", "5", "10.97.0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_tool(a, "ping", "-6", "-c", "2", "-i", "0.2", "2001:db8:97::2")
    assert r.returncode == 0, r.stdout + r.stderr
    # a's pings crossed b's vnet0 as IPv6 carrying IPv4 and IPv6
    after = _ip6stat(b)["ip6s_nxthist"]
    assert after[4] - before[4] >= 2 and after[41] - before[41] >= 2, (before[41], after[41])
    r = run_tool(b, "ping", "-6", "-c", "1", "2001:db8:97::1")
    assert r.returncode == 0, r.stdout + r.stderr
    # in6_gif_output sends with IPV6_MINMTU: a full-sized inner packet (1278 of the gif's
    # 1280) makes a 1318-byte outer one, which leaves in fragments though vnet0 takes 1500
    frags = [_ip6stat(s)["ip6s_fragments"] for s in (a, b)]
    r = run_tool(a, "ping", "-c", "1", "-t", "5", "-s", "1250", "10.97.0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    # two fragments each way: the request to b, the reply back to a
    assert [_ip6stat(s)["ip6s_fragments"] - f for s, f in zip((a, b), frags)] == [2, 2]
    saved = run_tool(a, "rc", "save").stdout.splitlines()
    assert 'create_args_gif0="tunnel 2001:db8:248::1 2001:db8:248::2"' in saved
    assert 'ifconfig_gif0_ipv6="inet6 2001:db8:97::1/128 2001:db8:97::2"' in saved
    path = tmp_path / "saved.conf"
    path.write_text("\n".join(saved) + "\n")
    assert run_tool(a, "rc", "diff", str(path)).returncode == 0
    # the saved file boots a fresh stack into the same tunnel
    pc, pd = free_udp_ports(2)
    fresh = spawn_stack(["--nic", f"vnet0={vx(pc, pd)}", "--rc", str(path)], sockdir=sockdir)
    try:
        assert "\ttunnel inet6 2001:db8:248::1 --> 2001:db8:248::2" in \
            ifconfig(fresh, "gif0").stdout.splitlines()
        assert run_tool(fresh, "rc", "diff", str(path)).returncode == 0
    finally:
        fresh.stop()


def test_ipv6_tunnel_refusals_and_deletetunnel(pair6):
    a, _ = pair6
    for argv in (["gif0", "create"], ["gif1", "create"],
                 ["gif0", "tunnel", "2001:db8::1", "2001:db8::2"]):
        assert ifconfig(a, *argv).returncode == 0, argv
    cases = [
        (["gif1", "tunnel", "2001:db8::1", "10.0.0.1"],
         "ifconfig: source and destination address families do not match\n"),
        (["gif1", "tunnel", "2001:db8::1", "no.such.host"],
         "ifconfig: error in parsing address string: hostname nor servname provided, "
         "or not known\n"),
        # in6_gif_ioctl: an unspecified end; another gif with the same two ends
        (["gif1", "tunnel", "::", "2001:db8::2"],
         "ifconfig: SIOCSIFPHYADDR_IN6: Can't assign requested address\n"),
        (["gif1", "tunnel", "2001:db8::1", "2001:db8::2"],
         "ifconfig: SIOCSIFPHYADDR_IN6: Can't assign requested address\n"),
        (["gif1", "tunnel", "0.0.0.0", "10.0.0.2"],
         "ifconfig: SIOCSIFPHYADDR: Can't assign requested address\n"),
        (["vnet0", "tunnel", "2001:db8::1", "2001:db8::2"],
         "ifconfig: SIOCSIFPHYADDR_IN6: Invalid argument\n"),
    ]
    for argv, err in cases:
        r = ifconfig(a, *argv)
        # (the SIOCSIFPHYADDR* refusals only warn: in6_set_tunnel's warn(), exit status 0)
        assert (r.returncode, r.stderr) == (0 if ": SIOCSIFPHYADDR" in err else 1, err), argv
    assert "tunnel" not in ifconfig(a, "gif1").stdout
    # the same ends again are no change; an IPv4 tunnel replaces the IPv6 one
    assert ifconfig(a, "gif0", "tunnel", "2001:db8::1", "2001:db8::2").returncode == 0
    assert ifconfig(a, "gif0", "tunnel", "10.1", "10.0.0.2").returncode == 0
    lines = ifconfig(a, "gif0").stdout.splitlines()
    assert lines[2] == "\ttunnel inet 10.0.0.1 --> 10.0.0.2"
    assert ifconfig(a, "gif0", "tunnel", "2001:db8::1", "2001:db8::3").returncode == 0
    assert ifconfig(a, "gif0").stdout.splitlines()[2] == \
        "\ttunnel inet6 2001:db8::1 --> 2001:db8::3"
    assert ifconfig(a, "gif0", "deletetunnel").returncode == 0
    assert "tunnel" not in ifconfig(a, "gif0").stdout


# -- against Linux: sit (IPv6 in IPv4) and ip6tnl (IPv4/IPv6 in IPv6) -----------------------
#
# Where the kernel lacks the device (CI's has no sit/ip6_tunnel and loads no modules), the
# far end is the kernel's raw socket of protocol 41 or 4 in the namespace: the kernel writes
# the outer header (and resolves the stack by ARP/NDP), the test plays the inner host.

def _kernel_tunnel(ns, *argv):
    """`ip link add` of a tunnel device in ns; False: this kernel has no such device."""
    r = subprocess.run(["ip", "-n", ns, "link", "add", *argv], capture_output=True,
                       text=True)
    assert r.returncode == 0 or "Unknown device type" in r.stderr, r.stderr
    return r.returncode == 0


def _linux_pings(stack, ns, dev, pairs):
    """With Linux's own tunnel device: each (kernel inner, stack inner) pair pings both
    ways."""
    for mine, theirs in pairs:
        ip("-n", ns, "addr", "add", mine, "peer", theirs, "dev", dev,
           *(["nodad"] if ":" in mine else []))
    ip("-n", ns, "link", "set", dev, "up")
    for mine, theirs in pairs:
        r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "3",
                            theirs], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
        six = ["-6"] if ":" in mine else ["-t", "5"]
        r = run_tool(stack, "ping", *six, "-c", "1", mine)
        assert r.returncode == 0, r.stdout + r.stderr


class _RawPeer:
    """The far end of a tunnel as a raw socket of protocol 4 or 41 in a namespace: it
    sends inner packets to the stack's outer address and hands back inner packets that
    came from it, after checking the outer header the stack wrote."""

    def __init__(self, ns, outer6, proto, me, stack_addr):
        self.outer6, self.proto, self.me, self.stack_addr = outer6, proto, me, stack_addr
        family = socket.AF_INET6 if outer6 else socket.AF_INET
        self.sock = socket_in(ns, family, socket.SOCK_RAW, proto)
        self.sock.settimeout(5)
        if outer6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)

    def send(self, inner):
        self.sock.sendto(inner, (self.stack_addr, 0))

    def recv(self):
        if self.outer6:
            # a raw IPv6 socket gets the payload; the outer header's fields come as the
            # source address and the IPV6_HOPLIMIT control message
            data, anc, _, src = self.sock.recvmsg(65535, socket.CMSG_SPACE(4))
            hlim = [int.from_bytes(d, "little") for lvl, typ, d in anc
                    if (lvl, typ) == (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)]
            assert (src[0], hlim) == (self.stack_addr, [30])   # net.inet6.ip6.gifhlim
            return data
        outer = ipv4.parse(self.sock.recv(65535))
        assert (outer.src, outer.dst, outer.proto, outer.ttl) == (
            socket.inet_aton(self.stack_addr), socket.inet_aton(self.me), self.proto, 30)
        return bytes(outer.payload)

    def close(self):
        self.sock.close()


def _inner_pings(stack, peer, me, theirs):
    """Both ways through the tunnel with the test as the inner host me (the stack: theirs):
    our echo request answered, the stack's ping answered by us."""
    six = ":" in me
    fam = socket.AF_INET6 if six else socket.AF_INET
    me_b, theirs_b = socket.inet_pton(fam, me), socket.inet_pton(fam, theirs)

    def echo(want):
        """The next inner ICMP echo message from the stack to us (ND, MLD and DAD probes
        through the tunnel are passed over)."""
        while True:
            data = peer.recv()
            if six:
                h = ipv6.parse(data)
                if h.next_header != 58 or h.dst != me_b:
                    continue
                msg = icmp6.parse(h.payload, h.src, h.dst)
            else:
                h = ipv4.parse(data)
                if h.proto != ipv4.PROTO_ICMP:
                    continue
                msg = icmp.parse(h.payload)
            if msg.type == want:
                assert (h.src, h.dst) == (theirs_b, me_b)
                return msg

    if six:
        peer.send(ipv6.emit(me_b, theirs_b, 58,
                            icmp6.echo_request(me_b, theirs_b, 0x4242, 1, b"gif")))
        msg = echo(icmp6.ECHO_REPLY)
    else:
        peer.send(ipv4.emit(me_b, theirs_b, ipv4.PROTO_ICMP,
                            icmp.echo_request(0x4242, 1, b"gif")))
        msg = echo(icmp.ECHO_REPLY)
    assert (msg.rest, msg.payload) == (0x4242 << 16 | 1, b"gif")
    pinger = start_tool(stack, "ping", *(["-6"] if six else ["-t", "5"]), "-c", "1", me)
    if six:
        req = echo(icmp6.ECHO_REQUEST)
        peer.send(ipv6.emit(me_b, theirs_b, 58, icmp6.echo_reply_to(req)))
    else:
        req = echo(icmp.ECHO_REQUEST)
        peer.send(ipv4.emit(me_b, theirs_b, ipv4.PROTO_ICMP, icmp.echo_reply_to(req)))
    out, err = pinger.communicate(timeout=30)
    assert pinger.returncode == 0, out + err
    assert "1 packets transmitted, 1 packets received" in out


def test_against_linux_sit(sockdir):
    """IPv6 in IPv4 (protocol 41): Linux's sit, or the kernel's raw socket of protocol 41."""
    require_root()
    with namespace("gs") as ns:
        have = _kernel_tunnel(ns, "sit1", "type", "sit", "local", "10.250.0.1",
                              "remote", "10.250.0.2")
        stack = spawn_stack(["--nic", f"vnet0=tap:kgs0,netns={ns},addr=10.250.0.1/24"],
                            sockdir=sockdir)
        try:
            for argv in (["vnet0", "inet", "10.250.0.2/24", "up"], ["gif0", "create"],
                         ["gif0", "tunnel", "10.250.0.2", "10.250.0.1"],
                         ["gif0", "inet6", "2001:db8:96::2", "2001:db8:96::1",
                          "prefixlen", "128", "up"]):
                r = ifconfig(stack, *argv)
                assert r.returncode == 0, (argv, r.stderr)
            _settled(stack, "gif0")
            assert "\ttunnel inet 10.250.0.2 --> 10.250.0.1" in \
                ifconfig(stack, "gif0").stdout.splitlines()
            if have:
                _linux_pings(stack, ns, "sit1", [("2001:db8:96::1", "2001:db8:96::2")])
            else:
                peer = _RawPeer(ns, False, 41, "10.250.0.1", "10.250.0.2")
                try:
                    _inner_pings(stack, peer, "2001:db8:96::1", "2001:db8:96::2")
                finally:
                    peer.close()
        finally:
            stack.stop()


def test_against_linux_ip6tnl(sockdir):
    """IPv4 (next header 4) and IPv6 (41) in IPv6: Linux's ip6tnl in mode any, or the
    kernel's raw IPv6 sockets of protocols 4 and 41."""
    require_root()
    with namespace("g6") as ns:
        have = _kernel_tunnel(ns, "ip6t1", "type", "ip6tnl", "mode", "any",
                              "local", "2001:db8:251::1", "remote", "2001:db8:251::2")
        stack = spawn_stack(["--nic", f"vnet0=tap:kg60,netns={ns}"], sockdir=sockdir)
        try:
            ip("-n", ns, "addr", "add", "2001:db8:251::1/64", "dev", "kg60", "nodad")
            for argv in (["vnet0", "inet6", "2001:db8:251::2/64", "up"], ["gif0", "create"],
                         ["gif0", "tunnel", "2001:db8:251::2", "2001:db8:251::1"],
                         ["gif0", "inet", "10.96.0.2", "10.96.0.1", "up"],
                         ["gif0", "inet6", "2001:db8:95::2", "2001:db8:95::1",
                          "prefixlen", "128"]):
                r = ifconfig(stack, *argv)
                assert r.returncode == 0, (argv, r.stderr)
            _settled(stack, "vnet0")
            _settled(stack, "gif0")
            assert "\ttunnel inet6 2001:db8:251::2 --> 2001:db8:251::1" in \
                ifconfig(stack, "gif0").stdout.splitlines()
            if have:
                _linux_pings(stack, ns, "ip6t1", [("10.96.0.1", "10.96.0.2"),
                                                  ("2001:db8:95::1", "2001:db8:95::2")])
                return
            for proto, me, theirs in ((4, "10.96.0.1", "10.96.0.2"),
                                      (41, "2001:db8:95::1", "2001:db8:95::2")):
                peer = _RawPeer(ns, True, proto, "2001:db8:251::1", "2001:db8:251::2")
                try:
                    _inner_pings(stack, peer, me, theirs)
                finally:
                    peer.close()
        finally:
            stack.stop()


def test_tunnel_in_ifconfig_IF_boots_and_diffs_clean(sockdir, tmp_path):
    """rc.conf's other form (FreeBSD 14 has no gifconfig_IF): the tunnel among ifconfig_IF's
    words, run by rc.d/netif as `ifconfig gif0 inet6 ... tunnel SRC DST`."""
    path = tmp_path / "rc.conf"
    path.write_text('cloned_interfaces="gif0"\n'
                    'ifconfig_vnet0_ipv6="inet6 2001:db8:5::1/64"\n'
                    'ifconfig_gif0="tunnel 2001:db8:5::1 2001:db8:5::2 up"\n'
                    'ifconfig_gif0_ipv6="inet6 2001:db8:6::1 2001:db8:6::2 prefixlen 128"\n')
    with spawn_stack(["--nic", "vnet0=none", "--rc", str(path)], sockdir=sockdir) as s:
        _settled(s, "gif0")
        lines = ifconfig(s, "gif0").stdout.splitlines()
        assert lines[2] == "\ttunnel inet6 2001:db8:5::1 --> 2001:db8:5::2"
        assert "\tinet6 2001:db8:6::1 --> 2001:db8:6::2 prefixlen 128" in lines
        d = run_tool(s, "rc", "diff", str(path))
        assert (d.returncode, d.stdout, d.stderr) == (0, "", "")
        saved = run_tool(s, "rc", "save").stdout.splitlines()
        assert 'create_args_gif0="tunnel 2001:db8:5::1 2001:db8:5::2"' in saved
