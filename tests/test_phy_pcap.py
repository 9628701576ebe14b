import io
import shutil
import struct
import subprocess

import pytest

from plebnet_core.dataplane.phy import LoopbackDevice, NullDevice, PcapTap, PcapWriter
from plebnet_core.dataplane.wire import arp, ethernet, icmp, ipv4, udp
from vectors import ARP_REQUEST, ECHO_REQUEST, FRAG_1, FRAG_2, UDP_HELLO

MAC_A = ethernet.mac_parse("02:00:00:00:00:0a")
MAC_B = ethernet.mac_parse("02:00:00:00:00:0b")
A = bytes([192, 0, 2, 1])
B = bytes([192, 0, 2, 2])


def frames():
    """Frames built by the codecs, of every kind they make, plus the kernel's own."""
    def eth(ethertype, body):
        return ethernet.emit(MAC_B, MAC_A, ethertype, body)

    def ip(proto, body, **kw):
        return eth(ethernet.ETHERTYPE_IPV4, ipv4.emit(A, B, proto, body, **kw))

    out = [
        ethernet.emit(ethernet.BROADCAST, MAC_A, ethernet.ETHERTYPE_ARP, arp.request(MAC_A, A, B)),
        eth(ethernet.ETHERTYPE_ARP, arp.reply(MAC_B, B, MAC_A, A)),
        ip(1, icmp.echo_request(0x1234, 1, bytes(range(56)))),
        ip(1, icmp.echo_reply(0x1234, 1, bytes(range(56)))),
        ip(17, udp.emit(A, B, 5000, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                     b"\x07example\x03com\x00\x00\x01\x00\x01")),
        ip(17, udp.emit(A, B, 5000, 9, b"no sum", with_checksum=False)),
    ]
    offending = ipv4.emit(A, B, 17, udp.emit(A, B, 5000, 9, bytes(1400)), df=True)
    out.append(ip(1, icmp.dest_unreach(icmp.UNREACH_NEEDFRAG, offending, 1280)))
    out.append(ip(1, icmp.time_exceeded(icmp.TIMXCEED_INTRANS, offending)))
    big = udp.emit(A, B, 5000, 9, bytes(range(256)) * 12)
    for piece in ipv4.fragment_payload(A, B, 17, big, 1500, ident=99):
        out.append(eth(ethernet.ETHERTYPE_IPV4, piece))
    return out + [ARP_REQUEST, ECHO_REQUEST, UDP_HELLO, FRAG_1, FRAG_2]


def read_records(data: bytes):
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, zone, sigfigs) == (0xA1B2C3D4, 2, 4, 0, 0)
    recs, pos = [], 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        recs.append((sec, usec, orig, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return linktype, snaplen, recs


def test_file_format(tmp_path):
    path = tmp_path / "x.pcap"
    with PcapWriter(path, snaplen=64) as w:
        w.write(b"\xaa" * 10, ts_ns=1_700_000_000_123_456_789)
        assert path.read_bytes()[24:40]  # flushed per packet: on disk before close
        w.write(b"\xbb" * 100, ts_ns=5_999_999_999)
    linktype, snaplen, recs = read_records(path.read_bytes())
    assert (linktype, snaplen) == (1, 64)
    assert recs == [(1_700_000_000, 123_456, 10, b"\xaa" * 10), (5, 999_999, 100, b"\xbb" * 64)]


def test_file_object_target():
    buf = io.BytesIO()
    w = PcapWriter(buf, linktype=0, clock_ns=lambda: 2_000_000_000)
    w.write(b"\x02\x00\x00\x00" + b"packet")
    w.close()  # not ours to close
    linktype, _, recs = read_records(buf.getvalue())
    assert linktype == 0 and recs == [(2, 0, 10, b"\x02\x00\x00\x00packet")]


def test_tap_records_both_directions(tmp_path):
    lo = LoopbackDevice()
    path = tmp_path / "lo.pcap"
    dev = PcapTap(lo, path)
    assert (dev.name, dev.kind, dev.fileno(), dev.qlen) == ("lo0", "loopback", None, lo.qlen)
    dev.send(b"\x02\x00\x00\x00out")
    assert dev.recv() == b"\x02\x00\x00\x00out" and dev.recv() is None
    assert dev.stats is lo.stats and dev.stats.opackets == 1
    dev.close()
    assert lo.closed
    linktype, _, recs = read_records(path.read_bytes())
    assert linktype == 0 and [r[3] for r in recs] == [b"\x02\x00\x00\x00out"] * 2


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
def test_tcpdump_reads_codec_output(tmp_path):
    path = tmp_path / "codecs.pcap"
    sent = frames()
    with PcapTap(NullDevice("vnet0"), path) as dev:
        for f in sent:
            dev.send(f)
    res = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-vv"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    text = res.stdout.lower()
    for bad in ("bad cksum", "bad udp cksum", "malformed", "truncated", "wrong", "invalid"):
        assert bad not in text, res.stdout
    assert text.count("\n") >= len(sent)
    for expected in ("echo request", "echo reply", "need to frag (mtu 1280)",
                     "time exceeded in-transit", "who-has 192.0.2.2 tell 192.0.2.1",
                     "192.0.2.2 is-at 02:00:00:00:00:0b", "udp sum ok", "example.com",
                     "id 99, offset 0, flags [+]", "id 99, offset 1480, flags [+]",
                     "id 99, offset 2960, flags [none]", "[no cksum]"):
        assert expected in text, (expected, res.stdout)
