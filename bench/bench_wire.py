"""Micro-benchmarks for the wire codecs on the paths that must keep up with ~30k pings/s.

Run: python bench/bench_wire.py [--quick].  Prints operations per second and time per operation,
with simple reference implementations measured in the same run for comparison.
"""
from __future__ import annotations

import os
import sys
import timeit
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from plebnet_core.dataplane.wire import ethernet, icmp, ipv4  # noqa: E402
from plebnet_core.dataplane.wire.checksum import checksum  # noqa: E402

STACK_MAC = bytes.fromhex("020000000002")
STACK_IP = bytes([10, 233, 0, 2])
# a ping -c 1 echo request as the Linux kernel sent it (98 bytes: 56 bytes of data)
REQUEST = bytes.fromhex(
    "0200000000020200000000010800450000545e6a40004001c66a0ae900010ae90002"
    "0800254e12f70001d331096b00000000234a010000000000"
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637")
BUF1500 = os.urandom(1500)


# -- checksum: ours against two obvious ways ----------------------------------------------------
def checksum_array(data) -> int:
    """Sum of array('H') in native order, folded and byte-swapped (RFC 1071 section 2(B))."""
    words = array("H", data)
    s = sum(words)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = ~s & 0xFFFF
    return ((s & 0xFF) << 8 | s >> 8) if sys.byteorder == "little" else s


def checksum_loop(data) -> int:
    s = 0
    for i in range(0, len(data), 2):
        s += data[i] << 8 | data[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# -- the echo path: frame in, reply frame out ---------------------------------------------------
def echo_reply(frame: bytes) -> bytes | None:
    """What interface input will do for a ping to us, minus the table lookups."""
    eth = ethernet.parse(frame)
    if eth.ethertype != ethernet.ETHERTYPE_IPV4:
        return None
    pkt = ipv4.parse(eth.payload)
    if pkt.proto != ipv4.PROTO_ICMP or pkt.dst != STACK_IP:
        return None
    msg = icmp.parse(pkt.payload)
    if msg.type != icmp.ECHO_REQUEST:
        return None
    reply = icmp.echo_reply_to(msg)
    return ethernet.header(eth.src, STACK_MAC, ethernet.ETHERTYPE_IPV4) + ipv4.header(
        STACK_IP, pkt.src, ipv4.PROTO_ICMP, len(reply)) + reply


def echo_reply_full_emit(frame: bytes) -> bytes | None:
    """The same with the reply's checksum summed afresh (icmp.echo_reply), for comparison."""
    eth = ethernet.parse(frame)
    pkt = ipv4.parse(eth.payload)
    msg = icmp.parse(pkt.payload)
    reply = icmp.echo_reply(msg.ident, msg.seq, msg.payload)
    return ethernet.emit(eth.src, STACK_MAC, ethernet.ETHERTYPE_IPV4,
                         ipv4.emit(STACK_IP, pkt.src, ipv4.PROTO_ICMP, reply))


def measure(fn, arg, seconds: float) -> float:
    """Best-of-7 time per call in seconds (the machine may be shared: the minimum is the signal)."""
    timer = timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg})
    n, _ = timer.autorange()
    n = max(1, int(n * seconds / 0.2 / 7))
    return min(timer.repeat(7, n)) / n


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 0.2 if quick else 1.0
    assert checksum(BUF1500) == checksum_array(BUF1500) == checksum_loop(BUF1500)
    reply = echo_reply(REQUEST)
    assert reply == echo_reply_full_emit(REQUEST)
    assert icmp.parse(ipv4.parse(ethernet.parse(reply).payload).payload).type == icmp.ECHO_REPLY

    rows = [
        ("checksum 1500 B: int.from_bytes % 0xFFFF (ours)", checksum, BUF1500),
        ("checksum 1500 B: sum(array('H')) (reference)", checksum_array, BUF1500),
        ("checksum 1500 B: Python loop (reference)", checksum_loop, BUF1500),
        ("checksum 20 B IPv4 header (ours)", checksum, REQUEST[14:34]),
        ("ethernet.parse", ethernet.parse, REQUEST),
        ("ipv4.parse (with header checksum)", ipv4.parse, REQUEST[14:]),
        ("icmp.parse (with checksum, 64 B)", icmp.parse, REQUEST[34:]),
        ("echo request frame -> reply frame (ours)", echo_reply, REQUEST),
        ("  same, reply checksum summed afresh", echo_reply_full_emit, REQUEST),
    ]
    print(f"Python {sys.version.split()[0]}  ({'quick' if quick else 'full'} run)")
    print(f"{'operation':<50} {'per second':>13} {'time':>10}")
    print("-" * 75)
    for label, fn, arg in rows:
        t = measure(fn, arg, seconds)
        print(f"{label:<50} {1 / t:>13,.0f} {t * 1e6:>8.2f} us")


if __name__ == "__main__":
    main()
