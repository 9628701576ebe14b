import pytest

from plebnet_core.dataplane.wire import WireError, arp, ethernet
from vectors import ARP_REQUEST

KERNEL_MAC = bytes.fromhex("020000000001")
STACK_MAC = bytes.fromhex("020000000002")


def test_parse_kernel_arp_frame():
    eth = ethernet.parse(ARP_REQUEST)
    assert eth.dst == ethernet.BROADCAST and eth.src == KERNEL_MAC
    assert eth.ethertype == ethernet.ETHERTYPE_ARP
    req = arp.parse(eth.payload)
    assert req == arp.ArpPacket(arp.OP_REQUEST, KERNEL_MAC, bytes([10, 233, 0, 1]), bytes(6),
                                bytes([10, 233, 0, 2]))


def test_emit_reproduces_kernel_bytes():
    body = arp.request(KERNEL_MAC, bytes([10, 233, 0, 1]), bytes([10, 233, 0, 2]))
    frame = ethernet.emit(ethernet.BROADCAST, KERNEL_MAC, ethernet.ETHERTYPE_ARP, body)
    assert frame == ARP_REQUEST


def test_reply_round_trip():
    body = arp.reply(STACK_MAC, bytes([10, 233, 0, 2]), KERNEL_MAC, bytes([10, 233, 0, 1]))
    assert len(body) == arp.PACKET_LEN
    assert body.hex() == ("0001080006040002" "020000000002" "0ae90002" "020000000001" "0ae90001")
    assert arp.parse(body).op == arp.OP_REPLY


def test_padding_is_ignored():
    padded = ARP_REQUEST + bytes(ethernet.MIN_FRAME_LEN - len(ARP_REQUEST))
    assert arp.parse(ethernet.parse(padded).payload).tpa == bytes([10, 233, 0, 2])


@pytest.mark.parametrize("body", [
    ARP_REQUEST[14:-1],                                        # truncated
    b"\x00\x06" + ARP_REQUEST[16:],                            # htype 6 (IEEE 802)
    ARP_REQUEST[14:16] + b"\x86\xdd" + ARP_REQUEST[18:],       # ptype IPv6
    ARP_REQUEST[14:20] + b"\x00\x03" + ARP_REQUEST[22:],       # op 3: RARP request
    ARP_REQUEST[14:18] + b"\x08\x04" + ARP_REQUEST[20:],       # hlen 8
])
def test_malformed_arp(body):
    with pytest.raises(WireError):
        arp.parse(body)


def test_arp_emit_rejects_wrong_sizes():
    with pytest.raises(WireError):
        arp.request(KERNEL_MAC[:5], bytes(4), bytes(4))
    with pytest.raises(WireError):
        arp.request(KERNEL_MAC, bytes(5), bytes(4))


def test_short_frame():
    with pytest.raises(WireError):
        ethernet.parse(b"\xff" * 13)
    assert ethernet.parse(b"\xff" * 14).payload == b""


def test_mac_helpers():
    mac = ethernet.mac_parse("02:00:5e:10:0:1")
    assert mac == bytes([2, 0, 0x5E, 0x10, 0, 1])
    assert ethernet.mac_format(mac) == "02:00:5e:10:00:01"
    assert ethernet.mac_parse("02-00-5E-10-00-01") == mac
    assert ethernet.is_broadcast(ethernet.BROADCAST) and ethernet.is_multicast(ethernet.BROADCAST)
    assert ethernet.is_multicast(ethernet.mac_parse("01:00:5e:00:00:01"))
    assert ethernet.is_multicast(ethernet.mac_parse("33:33:00:00:00:01"))
    assert not ethernet.is_multicast(mac) and ethernet.is_unicast(mac)
    assert not ethernet.is_unicast(ethernet.ZERO)
    assert ethernet.is_local_admin(mac)
    for _ in range(20):
        r = ethernet.random_local_mac()
        assert len(r) == 6 and ethernet.is_unicast(r) and ethernet.is_local_admin(r)


@pytest.mark.parametrize("text", ["", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "02:00:5e:10:00:zz",
                                  "02:00:5e:10:00:100", "02::5e:10:00:01", "0200.5e10.0001"])
def test_bad_mac(text):
    with pytest.raises(WireError):
        ethernet.mac_parse(text)


def test_emit_checks_addresses():
    with pytest.raises(WireError):
        ethernet.emit(b"\xff" * 5, KERNEL_MAC, 0x0800, b"")
