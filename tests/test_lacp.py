"""802.3ad LACP: the slow-protocols codec (wire/lacp.py), and a lacp lagg negotiating with a
real partner on its TAP ports.

The partner is Linux bonding in 802.3ad mode where the kernel has it; where it does not (CI's
kernel has no bonding module and none to load), the test plays the partner itself with packet
sockets on the TAPs' kernel ends, in a namespace: it answers the stack's LACPDUs and markers
as a partner system whose two ports share a key, and answers ARP and pings for the hosts
behind it.  Either way: no traffic before negotiation, both ports COLLECTING,DISTRIBUTING
after it, pings through the lagg, and a port whose partner falls silent expires and carries
nothing more."""
import select
import socket
import subprocess
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_tool
from netns_util import answer, ip, namespace, require_root, socket_in
from plebnet_core.dataplane.wire import ethernet, icmp, ipv4
from plebnet_core.dataplane.wire import lacp as wire
from plebnet_core.dataplane.wire.errors import WireError
from plebnet_core.dataplane.wire.lacp import PeerInfo
from plebnet_core.spawn import spawn_stack

ACTOR = PeerInfo(0x8000, bytes.fromhex("020000004701"), 0x0101, 0x8000, 1, 0x3F)
PARTNER = PeerInfo(0xFFFF, bytes.fromhex("0a0b0c0d0e0f"), 0x0092, 0x00FF, 7, 0x45)


# ------------------------------------------------------------------------------- the codec
def test_lacpdu_layout_and_round_trip():
    pdu = wire.emit_lacpdu(ACTOR, PARTNER, max_delay=5)
    assert len(pdu) == wire.PDU_LEN == 110
    # subtype, version; actor TLV 1/20 and its fields; partner TLV 2/20; collector 3/16;
    # terminator 0/0; the rest reserved zeros
    assert pdu[:4] == bytes([1, 1, 1, 20])
    assert pdu[4:22] == bytes.fromhex("8000" "020000004701" "0101" "8000" "0001" "3f" "000000")
    assert pdu[22:24] == bytes([2, 20])
    assert pdu[24:42] == bytes.fromhex("ffff" "0a0b0c0d0e0f" "0092" "00ff" "0007" "45" "000000")
    assert pdu[42:46] == bytes([3, 16, 0, 5]) and pdu[46:58] == bytes(12)
    assert pdu[58:60] == bytes([0, 0]) and pdu[60:] == bytes(50)
    assert wire.parse_lacpdu(pdu) == wire.Lacpdu(1, ACTOR, PARTNER, 5)
    frame = wire.frame(bytes.fromhex("020000000001"), pdu)
    eth = ethernet.parse(frame)
    assert (eth.dst, eth.ethertype, len(frame)) == (wire.SLOW_PROTOCOLS_MAC, 0x8809, 124)
    # the version is not checked (future revisions)
    assert wire.parse_lacpdu(pdu[:1] + b"\x02" + pdu[2:]).version == 2


def test_marker_layout_and_round_trip():
    info = wire.MarkerInfo(3, bytes.fromhex("020000004701"), 0x01020304)
    pdu = wire.emit_marker(wire.MARKER_TYPE_INFO, info)
    assert len(pdu) == 110
    assert pdu[:20] == bytes.fromhex("0201" "0110" "0003" "020000004701" "01020304" "0000"
                                     "0000")
    assert pdu[20:] == bytes(90)
    assert wire.parse_marker(pdu) == wire.Markerdu(1, wire.MARKER_TYPE_INFO, info)
    response = wire.emit_marker(wire.MARKER_TYPE_RESPONSE, info)
    assert wire.parse_marker(response).type == wire.MARKER_TYPE_RESPONSE


GOOD = wire.emit_lacpdu(ACTOR, PARTNER)
MARKER = wire.emit_marker(wire.MARKER_TYPE_INFO, wire.MarkerInfo(1, bytes(6), 1))
MALFORMED = {
    "empty": (wire.parse_lacpdu, b""),
    "short": (wire.parse_lacpdu, GOOD[:109]),
    "long": (wire.parse_lacpdu, GOOD + b"\0"),
    "marker subtype": (wire.parse_lacpdu, MARKER),
    "actor tlv length": (wire.parse_lacpdu, GOOD[:3] + b"\x13" + GOOD[4:]),
    "partner tlv length": (wire.parse_lacpdu, GOOD[:23] + b"\x00" + GOOD[24:]),
    "collector tlv length": (wire.parse_lacpdu, GOOD[:43] + b"\x11" + GOOD[44:]),
    "terminator length": (wire.parse_lacpdu, GOOD[:59] + b"\x02" + GOOD[60:]),
    "marker short": (wire.parse_marker, MARKER[:60]),
    "marker version": (wire.parse_marker, MARKER[:1] + b"\x02" + MARKER[2:]),
    "marker tlv type": (wire.parse_marker, MARKER[:2] + b"\x03" + MARKER[3:]),
    "marker tlv length": (wire.parse_marker, MARKER[:3] + b"\x0f" + MARKER[4:]),
    "lacp subtype": (wire.parse_marker, GOOD),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_pdus_are_wire_errors(name):
    parse, data = MALFORMED[name]
    with pytest.raises(WireError):
        parse(data)


def test_impossible_fields_are_wire_errors():
    with pytest.raises(WireError):
        wire.emit_lacpdu(ACTOR._replace(key=0x10000), PARTNER)
    with pytest.raises(WireError):
        wire.emit_marker(wire.MARKER_TYPE_INFO, wire.MarkerInfo(-1, bytes(6), 0))
    with pytest.raises(WireError):
        wire.subtype(b"")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=130), st.integers(0, 109), st.integers(0, 255))
def test_any_bytes_parse_or_raise_wire_error(data, at, byte):
    """Random bytes, and good PDUs with one byte changed: a value or WireError, nothing
    else."""
    for parse, good in ((wire.parse_lacpdu, GOOD), (wire.parse_marker, MARKER)):
        for buf in (data, good[:at] + bytes([byte]) + good[at + 1:]):
            try:
                parse(buf)
            except WireError:
                pass


# ---------------------------------------------------------------------- against a partner
PARTNER_MAC = bytes.fromhex("020000004701")
PARTNER_KEY = 0x0101
HOSTS = [bytes([10, 247, 0, n]) for n in range(10, 26)]       # 16 flows, one MAC
FULL = (wire.STATE_ACTIVITY | wire.STATE_TIMEOUT | wire.STATE_AGGREGATION | wire.STATE_SYNC
        | wire.STATE_COLLECTING | wire.STATE_DISTRIBUTING)


class PacketPartner:
    """A LACP partner system on the TAPs' kernel ends: per port it answers markers, sends a
    LACPDU (fast, each second, and at once when the stack's information changes) once it is
    speaking, claiming to be in sync, collecting and distributing; it answers ARP and pings
    for HOSTS on the port a request came in by, and records the other frames the stack
    sends, by port."""

    def __init__(self, ns, knames, answering=True):
        self.answering = answering
        self.socks = []
        for n, kname in enumerate(knames):
            sock = socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            sock.bind((kname, 0))
            sock.setblocking(False)
            self.socks.append(sock)
        self.speaking = [False] * len(knames)
        self.heard = [None] * len(knames)               # the stack's actor, by port
        self.first = [None] * len(knames)               # the first LACPDU frame, by port
        self.traffic = [[] for _ in knames]             # the stack's non-LACP frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()

    def _pdu(self, n):
        heard = self.heard[n] or PeerInfo()
        actor = PeerInfo(0x8000, PARTNER_MAC, PARTNER_KEY, 0x8000, n + 1,
                         FULL if self.heard[n] else wire.STATE_ACTIVITY | wire.STATE_TIMEOUT)
        return wire.frame(PARTNER_MAC, wire.emit_lacpdu(actor, heard))

    def _run(self):
        next_tx = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_tx:
                for n, sock in enumerate(self.socks):
                    if self.speaking[n]:
                        sock.send(self._pdu(n))
                next_tx = now + 1.0         # the fast periodic rate
            ready, _, _ = select.select(self.socks, [], [], 0.05)
            for sock in ready:
                self._read(self.socks.index(sock), sock)

    def _read(self, n, sock):
        while True:
            try:
                frame, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] == socket.PACKET_OUTGOING:
                continue                # the kernel's own, or ours
            eth = ethernet.parse(frame)
            if eth.ethertype != wire.ETHERTYPE_SLOW:
                self.traffic[n].append(frame)
                for host in HOSTS if self.answering else ():
                    reply = answer(frame, PARTNER_MAC, host)
                    if reply is not None:
                        sock.send(reply)
                continue
            if not self.speaking[n]:
                continue
            if wire.subtype(eth.payload) == wire.SUBTYPE_MARKER:
                mdu = wire.parse_marker(eth.payload)
                if mdu.type == wire.MARKER_TYPE_INFO:
                    sock.send(wire.frame(PARTNER_MAC, wire.emit_marker(
                        wire.MARKER_TYPE_RESPONSE, mdu.info)))
                continue
            du = wire.parse_lacpdu(eth.payload)
            if self.first[n] is None:
                self.first[n] = frame
            if du.actor != self.heard[n]:
                self.heard[n] = du.actor
                sock.send(self._pdu(n))


def ifconfig(stack, *argv):
    return run_tool(stack, "ifconfig", *argv)


def port_lines(stack):
    return [line for line in ifconfig(stack, "lagg0").stdout.splitlines()
            if line.startswith("\tlaggport")]


def wait_for(predicate, what, tries=120):
    """Poll (a quarter second apart, 30 s at most: LACP moves a step a second)."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.25)
    pytest.fail(f"never: {what}")


def ping(stack, host):
    return run_tool(stack, "ping", "-c", "1", "-t", "2", socket.inet_ntoa(host))


def _bonding_available(ns) -> bool:
    res = subprocess.run(["ip", "-n", ns, "link", "add", "probe0", "type", "bond", "mode",
                          "802.3ad"], capture_output=True, text=True)
    if res.returncode == 0:
        ip("-n", ns, "link", "del", "probe0")
    return res.returncode == 0


def test_lacp_negotiates_with_a_partner_and_expires_a_silent_port(sockdir):
    require_root()
    with namespace("lacp") as ns:
        stack = spawn_stack(["--nic", f"vnet0=tap:klc0,netns={ns}",
                             "--nic", f"vnet1=tap:klc1,netns={ns}"], sockdir=sockdir)
        try:
            for argv in (["vnet0", "up"], ["vnet1", "up"],
                         ["lagg0", "create", "laggproto", "lacp", "lacp_fast_timeout",
                          "laggport", "vnet0", "laggport", "vnet1", "10.247.0.2/24", "up"]):
                r = ifconfig(stack, *argv)
                assert r.returncode == 0, r.stderr
            if _bonding_available(ns):
                _with_bonding(stack, ns)
            else:
                _with_packet_partner(stack, ns)
        finally:
            stack.stop()


def _names(stack):
    with stack.client() as c:
        return {i["name"]: i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})}


STACK_IP = bytes([10, 247, 0, 2])


def _echo(partner, n, lagg_mac, seq):
    """A ping from HOSTS[0] to the stack, in by port n."""
    partner.socks[n].send(ethernet.emit(lagg_mac, PARTNER_MAC, ethernet.ETHERTYPE_IPV4,
                                        ipv4.emit(HOSTS[0], STACK_IP, ipv4.PROTO_ICMP,
                                                  icmp.echo_request(0x4C, seq, b"lacp"))))


def _replied(partner, seq) -> bool:
    for frame in [f for port in partner.traffic for f in port]:
        eth = ethernet.parse(frame)
        if eth.ethertype != ethernet.ETHERTYPE_IPV4:
            continue
        pkt = ipv4.parse(eth.payload)
        if pkt.proto == ipv4.PROTO_ICMP and pkt.dst == HOSTS[0]:
            msg = icmp.parse(pkt.payload)
            if msg.type == icmp.ECHO_REPLY and msg.seq == seq:
                return True
    return False


def _with_packet_partner(stack, ns):
    # the kernel's own IPv6 chatter on the TAP ends would blur what arrives on each port
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1"], check=True)
    partner = PacketPartner(ns, ["klc0", "klc1"])
    try:
        # nobody answers yet: the ports wait, and nothing but LACP leaves them
        assert port_lines(stack) == ["\tlaggport: vnet0 flags=0<>", "\tlaggport: vnet1 flags=0<>"]
        assert ping(stack, HOSTS[0]).returncode != 0
        assert partner.traffic == [[], []]
        # malformed slow-protocol frames are dropped (counted as input errors), not fatal
        bad = [wire.frame(PARTNER_MAC, wire.emit_lacpdu(PeerInfo(), PeerInfo())[:60]),
               wire.frame(PARTNER_MAC, b"\x02\x07" + bytes(108)),
               wire.frame(PARTNER_MAC, b"")]
        for frame in bad:
            partner.socks[0].send(frame)
        wait_for(lambda: _names(stack)["vnet0"]["stats"]["ierrors"] == len(bad),
                 "three input errors")
        assert port_lines(stack) == ["\tlaggport: vnet0 flags=0<>", "\tlaggport: vnet1 flags=0<>"]
        ifs = _names(stack)
        lagg_mac = ethernet.mac_parse(ifs["lagg0"]["mac"])
        key = 0x12 | (ifs["lagg0"]["index"] << 5)     # 10Gbase-T's class, the lagg's index
        idx = [ifs["vnet0"]["index"], ifs["vnet1"]["index"]]

        partner.speaking = [True, True]
        wait_for(lambda: port_lines(stack) == [
            "\tlaggport: vnet0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>",
            "\tlaggport: vnet1 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>"], "both distributing")
        # the stack's LACPDUs: to the slow-protocols address from each port's own MAC, its
        # actor the lagg's system with the aggregatable key, the port its index
        for n, name in enumerate(("vnet0", "vnet1")):
            eth = ethernet.parse(partner.first[n])
            assert (eth.dst, eth.src) == (wire.SLOW_PROTOCOLS_MAC,
                                          ethernet.mac_parse(ifs[name]["hwaddr"]))
            actor = wire.parse_lacpdu(eth.payload).actor
            assert actor[:5] == (0x8000, lagg_mac, key, 0x8000, idx[n])
        mac = ifs["lagg0"]["mac"].replace(":", "-").upper()
        out = ifconfig(stack, "-v", "lagg0").stdout.splitlines()
        start = out.index("\tlaggproto lacp lagghash l2,l3,l4")
        assert out[start:start + 16] == [
            "\tlaggproto lacp lagghash l2,l3,l4",
            "\tlagg options:",
            "\t\tflags=94<USE_NUMA,LACP_STRICT,LACP_FAST_TIMO>",
            "\t\tflowid_shift: 16",
            "\tlagg statistics:",
            "\t\tactive ports: 2",
            "\t\tflapping: 0",
            f"\tlag id: [(8000,{mac},{key:04X},0000,0000),",
            f"\t\t (8000,02-00-00-00-47-01,{PARTNER_KEY:04X},0000,0000)]",
            "\tlaggport: vnet0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING> "
            "state=3f<ACTIVITY,TIMEOUT,AGGREGATION,SYNC,COLLECTING,DISTRIBUTING>",
            f"\t\t[(8000,{mac},{key:04X},8000,{idx[0]:04X}),",
            f"\t\t (8000,02-00-00-00-47-01,{PARTNER_KEY:04X},8000,0001)]",
            "\tlaggport: vnet1 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING> "
            "state=3f<ACTIVITY,TIMEOUT,AGGREGATION,SYNC,COLLECTING,DISTRIBUTING>",
            f"\t\t[(8000,{mac},{key:04X},8000,{idx[1]:04X}),",
            f"\t\t (8000,02-00-00-00-47-01,{PARTNER_KEY:04X},8000,0002)]",
            "\tgroups: lagg"]
        assert "\tstatus: active" in out

        # traffic flows: 16 hosts are 16 flows, hashed over both ports; every one answered
        for host in HOSTS:
            r = ping(stack, host)
            assert r.returncode == 0, r.stdout + r.stderr
        assert all(partner.traffic), "both ports carry flows"

        # the partner falls silent on vnet1's link: it expires (3 s, the short timeout our
        # fast-timeout actor asked for), stops distributing, then defaults and detaches
        partner.speaking[1] = False
        wait_for(lambda: port_lines(stack) == [
            "\tlaggport: vnet0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>",
            "\tlaggport: vnet1 flags=0<>"], "vnet1 detached")
        verbose = ifconfig(stack, "-v", "lagg0").stdout
        assert "\t\tactive ports: 1\n\t\tflapping: 1\n" in verbose
        assert "\tlaggport: vnet1 flags=0<> state=47<ACTIVITY,TIMEOUT,AGGREGATION,DEFAULTED>\n" \
            in verbose
        partner.traffic = [[], []]
        for host in HOSTS:
            r = ping(stack, host)
            assert r.returncode == 0, r.stdout + r.stderr
        assert partner.traffic[0] and not partner.traffic[1]
        # and what comes in by the expired port is not collected: a ping in by vnet1 is read
        # (counted) and dropped, the same ping in by vnet0 is answered
        before = _names(stack)["vnet1"]["stats"]["ipackets"]
        _echo(partner, 1, lagg_mac, 1)
        wait_for(lambda: _names(stack)["vnet1"]["stats"]["ipackets"] > before, "vnet1 read it")
        _echo(partner, 0, lagg_mac, 2)
        wait_for(lambda: _replied(partner, 2), "the ping in by vnet0 answered")
        assert not _replied(partner, 1)
    finally:
        partner.close()


def _with_bonding(stack, ns):
    """Linux's bond0 (802.3ad, fast rate) over the TAPs' kernel ends is the partner."""
    ip("-n", ns, "link", "add", "bond0", "type", "bond", "mode", "802.3ad", "lacp_rate", "fast",
       "miimon", "100")
    for k in ("klc0", "klc1"):
        ip("-n", ns, "link", "set", k, "down")
        ip("-n", ns, "link", "set", k, "master", "bond0")
    for host in HOSTS:
        ip("-n", ns, "addr", "add", f"{socket.inet_ntoa(host)}/24", "dev", "bond0")
    ip("-n", ns, "link", "set", "bond0", "up")
    wait_for(lambda: port_lines(stack) == [
        "\tlaggport: vnet0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>",
        "\tlaggport: vnet1 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>"], "both distributing")
    for host in HOSTS:
        r = ping(stack, host)
        assert r.returncode == 0, r.stdout + r.stderr
    # vnet1's link on the bond's side goes: the bond stops speaking on it, and it expires
    ip("-n", ns, "link", "set", "klc1", "nomaster")
    ip("-n", ns, "link", "set", "klc1", "up")
    wait_for(lambda: port_lines(stack) == [
        "\tlaggport: vnet0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>",
        "\tlaggport: vnet1 flags=0<>"], "vnet1 detached")
    recorder = PacketPartner(ns, ["klc1"], answering=False)    # silent: only records
    try:
        for host in HOSTS:
            r = ping(stack, host)
            assert r.returncode == 0, r.stdout + r.stderr
        assert recorder.traffic == [[]]
    finally:
        recorder.close()
