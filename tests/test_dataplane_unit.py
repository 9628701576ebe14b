"""The data plane in-process: a stack, its loop on a fake clock, and devices that record what
is sent, fed with frames built by the wire codecs.  Kernel rules (ARP lifecycle, forwarding,
ICMP errors) are checked frame by frame; the live tests with real peers are in
test_dataplane_kernel.py and test_dataplane_stacks.py."""
from __future__ import annotations

import pytest

from plebproto.constants import (
    AF_INET, EHOSTDOWN, EINVAL, EHOSTUNREACH, IFF_PPROMISC, IFF_STATICARP, IFF_UP, RTF_ANNOUNCE,
    RTF_BLACKHOLE, RTF_REJECT, RTF_STATIC,
)
from plebnet_core.dataplane.plane import DataPlane
from plebnet_core.dataplane.phy.base import Device
from plebnet_core.dataplane.reassembly import Reassembler
from plebnet_core.dataplane.wire import arp, ethernet, icmp, ipv4, udp
from plebnet_core.loop import EventLoop
from plebproto.errors import OpError
from plebnet_core.state.inet import aton
from plebnet_core.state.stack import Stack
from plebnet_core.syscalls import Syscalls
from conftest import Clock

PEER_MAC = bytes.fromhex("020000000001")
PEER2_MAC = bytes.fromhex("020000000002")


class FakeDevice(Device):
    def __init__(self, name):
        super().__init__(name)
        self.sent = []
        self.queue = []

    def recv(self):
        return self.queue.pop(0) if self.queue else None

    def send(self, frame):
        self.sent.append(bytes(frame))

    def take(self):
        out, self.sent = self.sent, []
        return out


class Rig:
    def __init__(self, nics=("vnet0",)):
        self.clock = Clock()
        self.loop = EventLoop(clock=self.clock)
        self.stack = Stack(clock=self.clock, pid=4242)
        self.sys = Syscalls(self.stack, 4242)
        self.dp = DataPlane(self.stack, self.loop, 4242, self.sys)
        self.dev = {}
        with self.stack.transaction():
            for name in nics:
                ifp = self.stack.if_attach(name, "vnet")
                self.dev[name] = FakeDevice(name)
                self.dp.attach(ifp, self.dev[name])
            lo0 = self.stack.if_attach("lo0", "lo")
        self.dp.attach_loopback(lo0)

    def ifp(self, name="vnet0"):
        return self.stack.ifunit(name)

    def addr(self, name, text, plen=24):
        with self.stack.transaction():
            self.stack.in_aifaddr(name, aton(text), plen)

    def run(self, seconds=0.0):
        """Advance the clock and run what is due (and everything queued)."""
        self.clock.now += seconds
        for _ in range(50):
            self.loop.run_once(0)

    def feed(self, name, frame):
        self.dp.link.input(self.ifp(name), frame)
        self.run()

    def sent(self, name="vnet0"):
        return [ethernet.parse(f) for f in self.dev[name].take()]


def ip_frame(dst_mac, src_mac, src, dst, proto, payload, **kw):
    pkt = ipv4.emit(bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))), proto,
                    payload, **kw)
    return ethernet.emit(dst_mac, src_mac, ethernet.ETHERTYPE_IPV4, pkt)


def echo(seq=1, data=b"x" * 56):
    return icmp.echo_request(0x1234, seq, data)


def b4(text):
    return bytes(map(int, text.split(".")))


@pytest.fixture
def rig():
    r = Rig()
    r.addr("vnet0", "10.0.0.1")
    return r


def learn(rig, name, ip_text, mac):
    """Teach the stack a neighbour the way the wire would: it talks to us first."""
    ifp = rig.ifp(name)
    own = ifp.first_inet().addr.to_bytes(4, "big")
    req = arp.request(mac, b4(ip_text), own)
    rig.feed(name, ethernet.emit(ethernet.BROADCAST, mac, ethernet.ETHERTYPE_ARP, req))
    rig.dev[name].take()


# -- ARP ----------------------------------------------------------------------------------------
def test_data_plane_ops_are_registered(rig):
    """ping and pcap come into the vocabulary through register(): classified (ping is a
    read, pcap needs write access), kept out of batches, and not registered twice."""
    sc = rig.sys
    assert sc.ops["ping"] == rig.dp.op_ping and sc.ops["pcap"] == rig.dp.op_pcap
    assert sc.dataplane is rig.dp
    assert not sc.is_mutating("ping", {"dst": "10.0.0.1"})
    assert sc.is_mutating("pcap", {"ifname": "vnet0", "file": "/tmp/x"})
    assert "ping" in sc.hello({})["ops"]
    for op in ("ping", "pcap"):
        with pytest.raises(OpError) as exc:
            sc.run_batch([[op, {"dst": "127.0.0.1", "ifname": "vnet0", "file": "/x"}]])
        assert (exc.value.errno, exc.value.index, exc.value.msg) == (
            EINVAL, 0, f"'{op}' cannot be batched")
    with pytest.raises(ValueError):
        sc.register("ping", rig.dp.op_ping, mutating=False)
    with pytest.raises(ValueError):
        sc.register("batch", lambda args: None)


def test_arp_request_for_us_is_answered_and_teaches_the_sender(rig):
    ifp = rig.ifp()
    req = arp.request(PEER_MAC, b4("10.0.0.2"), b4("10.0.0.1"))
    rig.feed("vnet0", ethernet.emit(ethernet.BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, req))
    (reply,) = rig.sent()
    assert reply.dst == PEER_MAC and reply.src == ifp.mac
    p = arp.parse(reply.payload)
    assert (p.op, p.sha, p.spa, p.tha, p.tpa) == (arp.OP_REPLY, ifp.mac, b4("10.0.0.1"),
                                                  PEER_MAC, b4("10.0.0.2"))
    entry = ifp.llinfo[aton("10.0.0.2")]
    assert entry.mac == PEER_MAC and entry.expire == pytest.approx(rig.clock.now + 1200)
    info = rig.stack.ll_info(entry)
    assert info["mac"] == "02:00:00:00:00:01" and 1199 < info["expire"] <= 1200


def test_arp_for_someone_else_is_ignored_and_not_learned(rig):
    req = arp.request(PEER_MAC, b4("10.0.0.2"), b4("10.0.0.3"))
    rig.feed("vnet0", ethernet.emit(ethernet.BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, req))
    assert rig.sent() == [] and aton("10.0.0.2") not in rig.ifp().llinfo


def test_published_entry_is_answered_with_its_mac(rig):
    with rig.stack.transaction():
        rig.stack.ll_set(AF_INET, aton("10.0.0.50"), PEER2_MAC, RTF_STATIC | RTF_ANNOUNCE)
    req = arp.request(PEER_MAC, b4("10.0.0.2"), b4("10.0.0.50"))
    rig.feed("vnet0", ethernet.emit(ethernet.BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, req))
    (reply,) = rig.sent()
    assert arp.parse(reply.payload).sha == PEER2_MAC


def test_static_entry_is_never_overwritten(rig):
    with rig.stack.transaction():
        rig.stack.ll_set(AF_INET, aton("10.0.0.2"), PEER2_MAC)
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    entry = rig.ifp().llinfo[aton("10.0.0.2")]
    assert entry.mac == PEER2_MAC and entry.expire == 0


def test_staticarp_learns_nothing_and_does_not_resolve(rig):
    with rig.stack.transaction():
        rig.stack.if_setflags("vnet0", IFF_STATICARP)
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    assert aton("10.0.0.2") not in rig.ifp().llinfo
    assert rig.dp.ip.output(None, aton("10.0.0.2"), 1, echo()) != 0
    assert rig.sent() == []


def test_resolution_holds_retransmits_then_fails_with_host_unreachable(rig):
    maxhold = rig.stack.sysctl["net.link.ether.inet.maxhold"]
    for seq in range(maxhold + 2):
        assert rig.dp.ip.output(None, aton("10.0.0.9"), 1, echo(seq)) == 0
    frames = rig.sent()
    assert len(frames) == 1 and frames[0].dst == ethernet.BROADCAST      # one request
    entry = rig.ifp().llinfo[aton("10.0.0.9")]
    assert entry.mac is None and len(entry.hold) == maxhold
    for _ in range(4):                              # once a second, maxtries (5) in all
        rig.run(1.0)
        assert [arp.parse(f.payload).tpa for f in rig.sent()] == [b4("10.0.0.9")]
    rig.run(1.0)
    assert rig.sent() == []
    # the held packets came back to us as ICMP host unreachable (through lo0)
    lo_frames = rig.stack.lo0.stats[4]
    assert lo_frames >= maxhold
    # and now sends fail at once, as FreeBSD's do until the entry times out
    assert rig.dp.ip.output(None, aton("10.0.0.9"), 1, echo()) == EHOSTDOWN
    rig.run(20.0)
    with rig.stack.transaction():
        rig.stack.tick(rig.clock.now)
    assert aton("10.0.0.9") not in rig.ifp().llinfo


def test_failed_gateway_gives_ehostunreach(rig):
    with rig.stack.transaction():
        rig.stack.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.0.0.254"))
    rig.dp.ip.output(None, aton("192.0.2.1"), 1, echo())
    for _ in range(5):
        rig.run(1.0)
    assert rig.dp.ip.output(None, aton("192.0.2.1"), 1, echo()) == EHOSTUNREACH


def test_reply_releases_the_hold_queue(rig):
    rig.dp.ip.output(None, aton("10.0.0.2"), 1, echo(1))
    rig.sent()
    ifp = rig.ifp()
    rig.feed("vnet0", ethernet.emit(ifp.mac, PEER_MAC, ethernet.ETHERTYPE_ARP,
                                    arp.reply(PEER_MAC, b4("10.0.0.2"), ifp.mac,
                                              b4("10.0.0.1"))))
    (frame,) = rig.sent()
    assert frame.dst == PEER_MAC and frame.ethertype == ethernet.ETHERTYPE_IPV4
    assert ifp.llinfo[aton("10.0.0.2")].mac == PEER_MAC
    rig.run(5.0)
    assert rig.sent() == []                          # no more requests


# -- Ethernet -----------------------------------------------------------------------------------
def test_frames_for_other_macs_dropped_unless_promisc(rig):
    other = bytes.fromhex("02aaaaaaaaaa")
    frame = ip_frame(other, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, echo())
    rig.feed("vnet0", frame)
    assert rig.sent() == [] and rig.ifp().stats[0] == 0
    with rig.stack.transaction():
        rig.stack.if_setflags("vnet0", IFF_PPROMISC)
    rig.feed("vnet0", frame)
    assert rig.ifp().stats[0] == 1 and rig.sent() == []     # seen, not answered


def test_down_interface_carries_nothing(rig):
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    with rig.stack.transaction():
        rig.stack.if_setflags("vnet0", 0, IFF_UP)
    rig.feed("vnet0", ip_frame(rig.ifp().mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, echo()))
    assert rig.sent() == [] and rig.ifp().stats[2] == 1


# -- IPv4 / ICMP / UDP --------------------------------------------------------------------------
def test_echo_reply_and_counters(rig):
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    ifp = rig.ifp()
    before = list(ifp.stats)
    rig.feed("vnet0", ip_frame(ifp.mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, echo(7)))
    (frame,) = rig.sent()
    pkt = ipv4.parse(frame.payload)
    msg = icmp.parse(pkt.payload)
    assert (pkt.src, pkt.dst, msg.type, msg.seq) == (b4("10.0.0.1"), b4("10.0.0.2"), 0, 7)
    assert ifp.stats[0] == before[0] + 1 and ifp.stats[4] == before[4] + 1


def test_bad_header_checksum_counts_an_input_error(rig):
    ifp = rig.ifp()
    frame = bytearray(ip_frame(ifp.mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, echo()))
    frame[14 + 10] ^= 0xFF
    rig.feed("vnet0", bytes(frame))
    assert ifp.stats[1] == 1 and rig.sent() == []


def test_broadcast_ping_is_not_answered(rig):
    rig.feed("vnet0", ip_frame(ethernet.BROADCAST, PEER_MAC, "10.0.0.2", "10.0.0.255", 1,
                               echo()))
    assert rig.sent() == []


def test_udp_echo_and_port_unreachable(rig):
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    mac = rig.ifp().mac
    data = udp.emit(b4("10.0.0.2"), b4("10.0.0.1"), 5555, 7, b"hello")
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 17, data))
    (frame,) = rig.sent()
    pkt = ipv4.parse(frame.payload)
    d = udp.parse(pkt.payload, pkt.src, pkt.dst)
    assert (d.sport, d.dport, d.payload) == (7, 5555, b"hello")
    rig.stack.sysctl["net.inet.udp.echo"] = 0
    rig.feed("vnet0", ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 17, data))
    (frame,) = rig.sent()
    msg = icmp.parse(ipv4.parse(frame.payload).payload)
    assert (msg.type, msg.code) == (icmp.DEST_UNREACH, icmp.UNREACH_PORT)
    assert msg.payload[:20] == ipv4.emit(b4("10.0.0.2"), b4("10.0.0.1"), 17, data)[:20]


def test_fragments_reassembled_for_local_delivery(rig):
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    mac = rig.ifp().mac
    big = echo(3, bytes(range(256)) * 10)
    for piece in ipv4.fragment_payload(b4("10.0.0.2"), b4("10.0.0.1"), 1, big, 576, ident=99):
        rig.dp.link.input(rig.ifp(), ethernet.emit(mac, PEER_MAC, 0x0800, piece))
    rig.run()
    frames = rig.sent()
    assert len(frames) == 2                          # the reply, fragmented to our MTU 1500
    parts = [ipv4.parse(f.payload) for f in frames]
    r = Reassembler()
    r.push(parts[0])
    whole = r.push(parts[1])
    assert icmp.parse(whole.payload).payload == icmp.parse(big).payload


# -- forwarding ---------------------------------------------------------------------------------
@pytest.fixture
def router():
    r = Rig(("vnet0", "vnet1"))
    r.addr("vnet0", "10.0.0.1")
    r.addr("vnet1", "10.1.0.1")
    learn(r, "vnet0", "10.0.0.2", PEER_MAC)
    learn(r, "vnet1", "10.1.0.2", PEER2_MAC)
    r.stack.sysctl["net.inet.ip.forwarding"] = 1
    return r


def send_through(r, dst, ttl=64, payload=None, df=False):
    frame = ip_frame(r.ifp("vnet0").mac, PEER_MAC, "10.0.0.2", dst, 1,
                     payload or echo(), ttl=ttl, df=df)
    r.feed("vnet0", frame)
    return r.sent("vnet0"), r.sent("vnet1")


def icmp_of(frames):
    (frame,) = frames
    pkt = ipv4.parse(frame.payload)
    return pkt, icmp.parse(pkt.payload)


def test_forwarded_with_ttl_decremented(router):
    back, out = send_through(router, "10.1.0.2")
    assert back == [] and len(out) == 1
    pkt = ipv4.parse(out[0].payload)                  # checksum verified by parse
    assert pkt.ttl == 63 and out[0].dst == PEER2_MAC


def test_no_forwarding_when_sysctl_off(router):
    router.stack.sysctl["net.inet.ip.forwarding"] = 0
    assert send_through(router, "10.1.0.2") == ([], [])


def test_ttl_exceeded(router):
    pkt, msg = icmp_of(send_through(router, "10.1.0.2", ttl=1)[0])
    assert (msg.type, msg.code, pkt.src) == (icmp.TIME_EXCEEDED, 0, b4("10.0.0.1"))


def test_no_route_is_net_unreachable(router):
    _, msg = icmp_of(send_through(router, "192.0.2.1")[0])
    assert (msg.type, msg.code) == (icmp.DEST_UNREACH, icmp.UNREACH_NET)


def test_reject_and_blackhole_routes(router):
    with router.stack.transaction():
        router.stack.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.1.0.2"),
                            flags=RTF_STATIC | RTF_REJECT)
        router.stack.rt_add(AF_INET, aton("198.51.100.0"), 24, aton("10.1.0.2"),
                            flags=RTF_STATIC | RTF_BLACKHOLE)
    _, msg = icmp_of(send_through(router, "192.0.2.1")[0])
    assert (msg.type, msg.code) == (icmp.DEST_UNREACH, icmp.UNREACH_HOST)
    assert send_through(router, "198.51.100.1") == ([], [])


def test_route_via_gateway_arps_for_the_gateway(router):
    with router.stack.transaction():
        router.stack.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.1.0.2"))
    _, out = send_through(router, "192.0.2.7")
    assert out[0].dst == PEER2_MAC


def test_egress_mtu_fragments_or_needs_frag(router):
    with router.stack.transaction():
        router.stack.if_setmtu("vnet1", 600)
    payload = echo(1, bytes(1000))
    _, out = send_through(router, "10.1.0.2", payload=payload)
    assert len(out) == 2 and all(len(f.payload) <= 600 for f in out)
    back, out = send_through(router, "10.1.0.2", payload=payload, df=True)
    pkt, msg = icmp_of(back)
    assert out == [] and (msg.type, msg.code, msg.next_hop_mtu) == (3, 4, 600)


def test_no_error_about_an_error(router):
    err = icmp.dest_unreach(icmp.UNREACH_HOST, ipv4.emit(b4("10.0.0.2"), b4("192.0.2.9"), 17,
                                                          bytes(8)))
    assert send_through(router, "192.0.2.1", payload=err) == ([], [])


def test_route_cache_follows_table_changes(router):
    _, out = send_through(router, "192.0.2.1")
    with router.stack.transaction():
        router.stack.rt_add(AF_INET, aton("192.0.2.0"), 24, aton("10.1.0.2"))
    back, out = send_through(router, "192.0.2.1")
    assert back == [] and len(out) == 1
    with router.stack.transaction():
        router.stack.rt_delete(AF_INET, aton("192.0.2.0"), 24)
    back, out = send_through(router, "192.0.2.1")
    assert out == [] and icmp_of(back)[1].code == icmp.UNREACH_NET


# -- clones -------------------------------------------------------------------------------------
def _free_udp_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vxlan(rig, name, **params):
    rig.sys.dispatch("ioctl", {"req": "SIOCIFCREATE2", "ifname": name, "params": params})


def _flags(rig, name, set_=0, clear=0):
    rig.sys.dispatch("ioctl", {"req": "SIOCSIFFLAGS", "ifname": name, "set": set_,
                               "clear": clear})


def test_vxlan_clone_socket_opens_at_up_and_closes_at_down(rig):
    """if_vxlan.c: vxlan_clone_create only records the parameters; vxlan_init (SIOCSIFFLAGS
    with IFF_UP) opens the socket and sets IFF_DRV_RUNNING; vxlan_teardown closes it."""
    from plebproto.constants import IFF_RUNNING
    port, peer = _free_udp_port(), _free_udp_port()
    with rig.stack.transaction():
        _vxlan(rig, "vxlan0", vxlanid=42, vxlanlocal="127.0.0.1", vxlanlocalport=port,
               vxlanremote="127.0.0.1", vxlanremoteport=peer)
    ifp = rig.stack.ifunit("vxlan0")
    dev = ifp.device
    assert dev.kind == "vxlan" and dev.fileno() is None and not ifp.flags & IFF_UP
    with rig.stack.transaction():
        _flags(rig, "vxlan0", set_=IFF_UP)
    assert dev.fileno() is not None and dev.tunnel.local == ("127.0.0.1", port)
    assert ifp.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING
    with rig.stack.transaction():
        _flags(rig, "vxlan0", clear=IFF_UP)
    assert dev.fileno() is None and not ifp.flags & IFF_RUNNING
    with rig.stack.transaction():
        _flags(rig, "vxlan0", set_=IFF_UP)          # reopened
    assert dev.fileno() is not None
    with rig.stack.transaction():
        rig.sys.dispatch("ioctl", {"req": "SIOCIFDESTROY", "ifname": "vxlan0"})
    assert dev.closed and dev.tunnel is None


def test_vxlan_up_whose_socket_fails_stays_up_not_running_and_logs(rig, capsys):
    """vxlan_socket_bind: "if (error != EADDRINUSE) if_printf(ifp, "cannot bind socket:
    %d\n", error)", then vxlan_setup_socket: "cannot create socket (error: %d), and no
    existing socket found"; vxlan_init leaves IFF_DRV_RUNNING off; the ioctl succeeds."""
    import socket
    from plebproto.constants import IFF_RUNNING
    with rig.stack.transaction():          # 192.0.2.1 (TEST-NET-1) is no address of ours
        _vxlan(rig, "vxlan0", vxlanid=108, vxlanlocal="192.0.2.1", vxlanremote="127.0.0.1")
        _flags(rig, "vxlan0", set_=IFF_UP)
    ifp = rig.stack.ifunit("vxlan0")
    assert ifp.flags & (IFF_UP | IFF_RUNNING) == IFF_UP and ifp.device.fileno() is None
    assert capsys.readouterr().err == (
        "vxlan0: cannot bind socket: 49\n"
        "vxlan0: cannot create socket (error: 49), and no existing socket found\n")
    # EADDRINUSE: only vxlan_setup_socket's line
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with rig.stack.transaction():
            _vxlan(rig, "vxlan1", vxlanid=7, vxlanlocal="127.0.0.1",
                   vxlanlocalport=taken.getsockname()[1], vxlanremote="127.0.0.1")
            _flags(rig, "vxlan1", set_=IFF_UP)
    assert capsys.readouterr().err == (
        "vxlan1: cannot create socket (error: 48), and no existing socket found\n")
    # vxlan_valid_init_config: "cannot initialize interface: %s"
    with rig.stack.transaction():
        _vxlan(rig, "vxlan2", vxlanid=9)
        _flags(rig, "vxlan2", set_=IFF_UP)
        _vxlan(rig, "vxlan3", vxlanremote="127.0.0.1")
        _flags(rig, "vxlan3", set_=IFF_UP)
    assert capsys.readouterr().err == (
        "vxlan2: cannot initialize interface: no valid destination address specified\n"
        "vxlan3: cannot initialize interface: invalid virtual network identifier "
        "specified\n")
    # and the interface sends nothing: ether_output's ENETDOWN
    from plebproto.constants import ENETDOWN
    assert rig.dp.link.output(ifp, 1, b"x" * 20, False) == ENETDOWN


def test_vxlan_init_rolled_back_closes_the_socket(rig):
    port = _free_udp_port()
    with pytest.raises(OpError):
        with rig.stack.transaction():
            _vxlan(rig, "vxlan0", vxlanid=42, vxlanlocal="127.0.0.1", vxlanlocalport=port,
                   vxlanremote="127.0.0.1")
            _flags(rig, "vxlan0", set_=IFF_UP)
            dev = rig.stack.ifunit("vxlan0").device
            assert dev.fileno() is not None
            raise OpError(22)
    assert dev.closed and dev.tunnel is None and "vxlan0" not in rig.stack.by_name


def test_journal_on_commit_runs_after_commit_and_never_after_rollback():
    from plebnet_core.state.txn import Journal
    j, ran = Journal(), []
    with j.transaction():
        j.on_commit(ran.append, 1)
        with pytest.raises(KeyError):
            with j.transaction():
                j.on_commit(ran.append, 2)
                raise KeyError
        assert ran == []
    assert ran == [1]
    with pytest.raises(KeyError):
        with j.transaction():
            j.on_commit(ran.append, 3)
            raise KeyError
    j.on_commit(ran.append, 4)          # outside a transaction: at once
    assert ran == [1, 4]


def test_loopback_capture_is_dlt_null(rig, tmp_path):
    cap = rig.dp.start_capture("lo0", str(tmp_path / "lo0.pcap"))
    rig.dp.ip.output(None, aton("10.0.0.1"), 1, echo())
    rig.run()
    rig.dp.stop_capture("lo0")
    data = (tmp_path / "lo0.pcap").read_bytes()
    assert cap.writer.count == 2 and int.from_bytes(data[20:24], "little") == 0   # LINKTYPE_NULL
    assert data[24 + 16:24 + 20] == (2).to_bytes(4, "little")                     # AF_INET
    assert rig.stack.lo0.device is cap.device


def test_random_and_bit_flipped_frames_never_raise(router):
    """Only counters move: nothing a peer sends may raise out of the input path."""
    import random
    rng = random.Random(7)
    mac = router.ifp("vnet0").mac
    good = [
        ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1, echo()),
        ip_frame(mac, PEER_MAC, "10.0.0.2", "10.1.0.2", 17, udp.emit(bytes(4), bytes(4), 1, 7,
                                                                     b"abc")),
        ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 17,
                 udp.emit(b4("10.0.0.2"), b4("10.0.0.1"), 9, 7, b"abc")),
        ip_frame(mac, PEER_MAC, "10.0.0.2", "10.0.0.1", 1,
                 icmp.dest_unreach(1, ipv4.emit(b4("10.0.0.1"), b4("10.0.0.9"), 1, echo()))),
        ethernet.emit(ethernet.BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP,
                      arp.request(PEER_MAC, b4("10.0.0.2"), b4("10.0.0.1"))),
    ]
    link, ifp = router.dp.link, router.ifp("vnet0")
    for _ in range(3000):
        frame = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 4)):
            frame[rng.randrange(14, len(frame))] ^= 1 << rng.randrange(8)
        if rng.random() < 0.2:
            frame = frame[:rng.randrange(len(frame))]
        link.input(ifp, bytes(frame))          # raises on a bug (input() itself has no guard)
    router.run()


def test_entry_in_use_is_verified_by_unicast_before_it_expires(rig):
    learn(rig, "vnet0", "10.0.0.2", PEER_MAC)
    rig.run(1200 - 10)
    rig.dp.ip.output(None, aton("10.0.0.2"), 1, echo())
    assert [f.ethertype for f in rig.sent()] == [ethernet.ETHERTYPE_IPV4]
    rig.run(6)
    rig.dp.ip.output(None, aton("10.0.0.2"), 1, echo())
    rig.dp.ip.output(None, aton("10.0.0.2"), 1, echo())
    frames = rig.sent()
    asks = [f for f in frames if f.ethertype == ethernet.ETHERTYPE_ARP]
    assert len(frames) == 3 and len(asks) == 1 and asks[0].dst == PEER_MAC   # once, unicast
    ifp = rig.ifp()
    rig.feed("vnet0", ethernet.emit(ifp.mac, PEER_MAC, ethernet.ETHERTYPE_ARP,
                                    arp.reply(PEER_MAC, b4("10.0.0.2"), ifp.mac,
                                              b4("10.0.0.1"))))
    assert ifp.llinfo[aton("10.0.0.2")].expire == pytest.approx(rig.clock.now + 1200)
