import pytest
from hypothesis import given, settings, strategies as st

from plebnet_core.dataplane.reassembly import Reassembler
from plebnet_core.dataplane.wire import WireError, ethernet, icmp, ipv4
from plebnet_core.dataplane.wire.checksum import checksum
from conftest import Clock
from vectors import ECHO_REQUEST, FRAG_1, FRAG_2

A = bytes([10, 0, 0, 1])
B = bytes([10, 0, 0, 2])


def test_parse_kernel_packet():
    pkt = ipv4.parse(ethernet.parse(ECHO_REQUEST).payload)
    assert pkt.src == bytes([10, 233, 0, 1]) and pkt.dst == bytes([10, 233, 0, 2])
    assert (pkt.total_length, pkt.ident, pkt.df, pkt.mf, pkt.frag_offset) == (84, 0x5E6A, True,
                                                                              False, 0)
    assert (pkt.ttl, pkt.proto, pkt.checksum, pkt.tos) == (64, ipv4.PROTO_ICMP, 0xC66A, 0)
    assert pkt.header_length == 20 and len(pkt.payload) == 64 and not pkt.is_fragment


def test_emit_reproduces_kernel_header():
    raw = ethernet.parse(ECHO_REQUEST).payload
    pkt = ipv4.parse(raw)
    again = ipv4.emit(pkt.src, pkt.dst, pkt.proto, pkt.payload, ttl=64, ident=0x5E6A, df=True)
    assert again == bytes(raw)


def test_hand_computed_checksum():
    # 192.168.0.1 -> 192.168.0.199, UDP, 115 bytes, DF: the header checksum is 0xb861
    out = ipv4.emit(bytes([192, 168, 0, 1]), bytes([192, 168, 0, 199]), ipv4.PROTO_UDP,
                    bytes(95), df=True)
    assert out[:20].hex() == "45000073000040004011b861c0a80001c0a800c7"


def test_link_padding_is_cut_off():
    raw = ipv4.emit(A, B, 253, b"xy")
    pkt = ipv4.parse(raw + bytes(24))
    assert pkt.payload == b"xy" and pkt.total_length == 22


def test_options_round_trip():
    opts = bytes([0x94, 4, 0, 0])  # router alert, padded to 4
    raw = ipv4.emit(A, B, 2, b"igmp", options=opts)
    pkt = ipv4.parse(raw)
    assert pkt.options == opts and pkt.header_length == 24 and pkt.payload == b"igmp"


def fix_checksum(b: bytearray) -> bytearray:
    hl = (b[0] & 15) * 4
    b[10:12] = b"\0\0"
    b[10:12] = checksum(bytes(b[:hl])).to_bytes(2, "big")
    return b


def test_emit_refuses_ping_of_death():
    with pytest.raises(WireError):
        ipv4.emit(A, B, 1, bytes(16), frag_offset=65528)


def edited(**fields) -> bytes:
    """A good 32-byte UDP packet with some header bytes changed and the checksum redone."""
    b = bytearray(ipv4.emit(A, B, ipv4.PROTO_UDP, bytes(12)))
    for at, value in fields.values():
        b[at:at + len(value)] = value
    return bytes(fix_checksum(b))


MALFORMED = {
    "short": ipv4.emit(A, B, ipv4.PROTO_UDP, bytes(12))[:19],
    "version 6": edited(v=(0, b"\x65")),
    "ihl < 5": edited(v=(0, b"\x44")),
    "ihl > total": edited(v=(0, b"\x4f")),
    "total > buffer": edited(total=(2, (33).to_bytes(2, "big"))),
    "total < header": edited(total=(2, (19).to_bytes(2, "big"))),
    # 12 bytes at offset 65528 would end beyond 65535
    "ping of death": edited(frag=(6, (65528 >> 3).to_bytes(2, "big"))),
    "checksum": edited()[:11] + b"\x00" + edited()[12:],
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed(case):
    with pytest.raises(WireError):
        ipv4.parse(MALFORMED[case])


def test_checksum_check_can_be_skipped():
    assert ipv4.parse(MALFORMED["checksum"], verify_checksum=False).proto == ipv4.PROTO_UDP


@pytest.mark.parametrize("kwargs", [dict(options=b"\x01"), dict(options=bytes(44)),
                                    dict(frag_offset=3), dict(ttl=256)])
def test_emit_rejects(kwargs):
    with pytest.raises(WireError):
        ipv4.emit(A, B, 17, b"x", **kwargs)


def test_emit_rejects_oversize_and_bad_addresses():
    with pytest.raises(WireError):
        ipv4.emit(A, B, 17, bytes(65516))
    with pytest.raises(WireError):
        ipv4.emit(A[:3], B, 17, b"")


def test_decrement_ttl():
    raw = ethernet.parse(ECHO_REQUEST).payload
    fwd = ipv4.decrement_ttl(raw)
    pkt = ipv4.parse(fwd)  # the patched checksum verifies
    assert pkt.ttl == 63 and fwd[20:] == bytes(raw[20:])
    for ttl in range(1, 256):
        out = ipv4.decrement_ttl(ipv4.emit(A, B, 17, b"abc", ttl=ttl, ident=ttl * 251))
        assert ipv4.parse(out).ttl == ttl - 1
    with pytest.raises(WireError):
        ipv4.decrement_ttl(ipv4.emit(A, B, 17, b"", ttl=0))


# -- fragmentation ------------------------------------------------------------------------------
def test_fragment_sizes_and_offsets():
    payload = bytes(range(256)) * 12  # 3072 bytes
    frags = ipv4.fragment_payload(A, B, 17, payload, 1500, ident=7)
    parsed = [ipv4.parse(f) for f in frags]
    assert [len(f) for f in frags] == [1500, 1500, 20 + 3072 - 2960]
    assert [p.frag_offset for p in parsed] == [0, 1480, 2960]
    assert [p.mf for p in parsed] == [True, True, False]
    assert all(p.ident == 7 for p in parsed)
    assert b"".join(p.payload for p in parsed) == payload


def test_fragment_odd_mtu_rounds_down_to_8():
    frags = ipv4.fragment_payload(A, B, 17, bytes(100), 67, ident=1)  # room 47 -> 40 per piece
    assert [ipv4.parse(f).frag_offset for f in frags] == [0, 40, 80]
    assert all(len(f) <= 67 for f in frags)


def test_fitting_packet_is_one_piece():
    assert ipv4.fragment_payload(A, B, 17, bytes(1480), 1500, ident=1) == [
        ipv4.emit(A, B, 17, bytes(1480), ident=1)]


def test_refragment_a_fragment_keeps_offsets_and_mf():
    first, second = ipv4.fragment_payload(A, B, 17, bytes(3000), 2000, ident=9)
    pieces = ipv4.fragment(ipv4.parse(first), 576)
    parsed = [ipv4.parse(p) for p in pieces]
    assert all(p.mf for p in parsed)  # the original first fragment had MF: so does its tail
    assert parsed[0].frag_offset == 0 and parsed[-1].frag_offset + len(parsed[-1].payload) == 1976
    tail = [ipv4.parse(p) for p in ipv4.fragment(ipv4.parse(second), 576)]
    assert tail[0].frag_offset == 1976 and not tail[-1].mf and all(p.mf for p in tail[:-1])


def test_only_copied_options_repeat():
    # record route (0x07, not copied) + NOP + security-ish copied option 0x82 of length 4... padded
    opts = bytes([0x07, 7, 4, 0, 0, 0, 0, 0x01, 0x82, 4, 0xAB, 0xCD])
    frags = [ipv4.parse(f) for f in ipv4.fragment_payload(A, B, 17, bytes(200), 100, ident=3,
                                                          options=opts)]
    assert frags[0].options == opts
    assert all(f.options == bytes([0x82, 4, 0xAB, 0xCD]) for f in frags[1:])
    assert ipv4.copied_options(bytes([0x07, 3, 4, 0])) == b""
    with pytest.raises(WireError):
        ipv4.copied_options(bytes([0x82, 9, 0, 0]))


def test_fragment_mtu_too_small():
    with pytest.raises(WireError):
        ipv4.fragment_payload(A, B, 17, bytes(100), 27, ident=1)


# -- reassembly ---------------------------------------------------------------------------------
def parsed(frags):
    return [ipv4.parse(f) for f in frags]


def test_reassemble_kernel_fragments():
    r = Reassembler()
    f1 = ipv4.parse(ethernet.parse(FRAG_1).payload)
    f2 = ipv4.parse(ethernet.parse(FRAG_2).payload)
    assert (f1.mf, f1.frag_offset, f2.mf, f2.frag_offset) == (True, 0, False, 552)
    assert r.push(f2) is None and len(r) == 1
    whole = r.push(f1)
    assert len(r) == 0
    assert whole.total_length == 20 + 708 and not whole.is_fragment and whole.ident == 0x4CD7
    msg = icmp.parse(whole.payload)  # the ICMP checksum covers the whole reassembled payload
    assert msg.type == icmp.ECHO_REQUEST and msg.payload[16:] == b"A" * 684


def test_unfragmented_passes_through():
    pkt = ipv4.parse(ipv4.emit(A, B, 17, b"x"))
    assert Reassembler().push(pkt) is pkt


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=4000), st.integers(68, 1500),
       st.randoms(use_true_random=False), st.integers(0, 3))
def test_reassembly_any_order_with_duplicates(payload, mtu, rnd, dups):
    frags = parsed(ipv4.fragment_payload(A, B, 17, payload, mtu, ident=42))
    rnd.shuffle(frags)
    if len(frags) > 1:
        # duplicates arrive anywhere before the datagram completes
        for _ in range(dups):
            frags.insert(rnd.randrange(len(frags)), rnd.choice(frags))
    r = Reassembler(max_fragments=len(frags))
    results = [r.push(f) for f in frags]
    assert all(x is None for x in results[:-1])
    assert results[-1].payload == payload and len(r) == 0
    assert results[-1].total_length == 20 + len(payload)


def test_overlap_keeps_first_arrival():
    r = Reassembler()
    r.push(ipv4.parse(ipv4.emit(A, B, 17, b"a" * 16, ident=5, mf=True)))
    # overlaps bytes 8..15 with different data, then finishes the datagram
    whole = r.push(ipv4.parse(ipv4.emit(A, B, 17, b"b" * 16, ident=5, frag_offset=8)))
    assert whole.payload == b"a" * 16 + b"b" * 8


def test_keys_keep_datagrams_apart():
    r = Reassembler()
    r.push(ipv4.parse(ipv4.emit(A, B, 17, b"1" * 8, ident=5, mf=True)))
    r.push(ipv4.parse(ipv4.emit(A, B, 6, b"2" * 8, ident=5, mf=True)))   # other proto
    r.push(ipv4.parse(ipv4.emit(B, A, 17, b"3" * 8, ident=5, mf=True)))  # other direction
    assert len(r) == 3
    whole = r.push(ipv4.parse(ipv4.emit(A, B, 6, b"x", ident=5, frag_offset=8)))
    assert whole.payload == b"22222222x" and whole.proto == 6 and len(r) == 2


def test_timeout_with_injected_clock():
    clock = Clock()
    r = Reassembler(clock=clock, timeout=30)
    first, second, third = parsed(ipv4.fragment_payload(A, B, 17, bytes(2000), 800, ident=1))
    r.push(first)
    r.push(third)
    assert r.next_deadline() == 1030
    clock.now = 1029.9
    assert r.expire() == [] and len(r) == 1
    clock.now = 1030
    assert r.expire() == [first] and len(r) == 0 and r.next_deadline() is None
    # a late fragment starts over rather than completing the dead datagram
    assert r.push(second) is None and len(r) == 1


def test_expired_without_first_fragment_returns_nothing():
    clock = Clock()
    r = Reassembler(clock=clock, timeout=1)
    r.push(parsed(ipv4.fragment_payload(A, B, 17, bytes(2000), 800, ident=1))[1])
    clock.now += 2
    assert r.expire() == [] and len(r) == 0


def test_stale_queue_replaced_on_push():
    clock = Clock()
    r = Reassembler(clock=clock, timeout=1)
    f = parsed(ipv4.fragment_payload(A, B, 17, bytes(2000), 800, ident=1))
    r.push(f[0])
    clock.now += 5
    assert r.push(f[1]) is None and r.push(f[2]) is None  # f[0] was dropped with the old queue
    assert r.push(f[0]).payload == bytes(2000)


def test_oldest_evicted_when_full():
    r = Reassembler(max_datagrams=2)
    for ident in (1, 2, 3):
        r.push(ipv4.parse(ipv4.emit(A, B, 17, bytes(8), ident=ident, mf=True)))
    assert len(r) == 2
    assert r.push(ipv4.parse(ipv4.emit(A, B, 17, b"z", ident=1, frag_offset=8))) is None
    assert r.push(ipv4.parse(ipv4.emit(A, B, 17, b"z", ident=3, frag_offset=8))) is not None


@pytest.mark.parametrize("frags", [
    # a non-final fragment whose length is not a multiple of 8
    [dict(payload=bytes(12), mf=True)],
    # two different ends
    [dict(payload=bytes(8), frag_offset=16), dict(payload=bytes(16), frag_offset=16)],
    # data beyond the end
    [dict(payload=bytes(8), frag_offset=32, mf=True), dict(payload=bytes(8), frag_offset=8)],
    # end before data already there
    [dict(payload=bytes(8), frag_offset=8), dict(payload=bytes(8), frag_offset=16, mf=True)],
])
def test_inconsistent_fragments_raise_and_drop(frags):
    r = Reassembler()
    with pytest.raises(WireError):
        for f in frags:
            r.push(ipv4.parse(ipv4.emit(A, B, 17, f.pop("payload"), ident=77, **f)))
    assert len(r) == 0


def test_too_many_fragments():
    r = Reassembler(max_fragments=4)
    frags = parsed(ipv4.fragment_payload(A, B, 17, bytes(80), 28, ident=1))  # 8 bytes each
    for f in frags[:4]:
        assert r.push(f) is None
    with pytest.raises(WireError):
        r.push(frags[4])
    assert len(r) == 0


def test_reassembled_too_long():
    # each fragment is legal (it ends at 65528), but with its header the datagram would be longer
    # than 65535
    r = Reassembler()
    with pytest.raises(WireError):
        for off in range(0, 65528, 8184):
            n = min(8184, 65528 - off)
            more = off + n < 65528
            r.push(ipv4.parse(ipv4.emit(A, B, 17, bytes(n), ident=1, mf=more, frag_offset=off)))
    assert len(r) == 0


@settings(deadline=None)  # shared CI machines are slow; correctness only
@given(st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4), st.integers(0, 255),
       st.binary(max_size=600), st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF),
       st.booleans(), st.booleans(), st.integers(0, 8000).map(lambda x: x * 8))
def test_emit_parse_round_trip(src, dst, proto, payload, ttl, tos, ident, df, mf, offset):
    raw = ipv4.emit(src, dst, proto, payload, ttl=ttl, tos=tos, ident=ident, df=df, mf=mf,
                    frag_offset=offset)
    assert checksum(raw[:20]) == 0
    pkt = ipv4.parse(raw)
    assert (pkt.src, pkt.dst, pkt.proto, pkt.payload, pkt.ttl, pkt.tos, pkt.ident, pkt.df,
            pkt.mf, pkt.frag_offset) == (src, dst, proto, payload, ttl, tos, ident, df, mf, offset)
    # a memoryview in gives the same fields, with the payload as a view
    again = ipv4.parse(memoryview(raw))
    assert again._replace(payload=bytes(again.payload)) == pkt
