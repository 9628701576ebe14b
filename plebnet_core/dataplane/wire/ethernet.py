"""Ethernet II frames (no FCS: TAP and VXLAN carry frames without it) and MAC address helpers."""
from __future__ import annotations

import os
import struct
from typing import NamedTuple

from .errors import WireError

HEADER_LEN = 14
MIN_FRAME_LEN = 60  # without FCS; shorter frames are padded on real wires and may arrive padded

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_IPV6 = 0x86DD

BROADCAST = b"\xff" * 6
ZERO = b"\x00" * 6

_HDR = struct.Struct("!6s6sH")
_new = tuple.__new__  # builds the NamedTuple without going through its Python-level __new__


class EthernetFrame(NamedTuple):
    dst: bytes
    src: bytes
    ethertype: int  # values below 0x0600 are 802.3 lengths; callers drop those
    payload: bytes


def parse(frame) -> EthernetFrame:
    if len(frame) < HEADER_LEN:
        raise WireError(f"ethernet: frame of {len(frame)} bytes is shorter than a header")
    return _new(EthernetFrame, _HDR.unpack_from(frame) + (frame[HEADER_LEN:],))


def header(dst: bytes, src: bytes, ethertype: int) -> bytes:
    return _HDR.pack(dst, src, ethertype)


def emit(dst: bytes, src: bytes, ethertype: int, payload) -> bytes:
    if len(dst) != 6 or len(src) != 6:
        raise WireError("ethernet: addresses must be 6 bytes")
    return _HDR.pack(dst, src, ethertype) + payload


# -- MAC addresses ------------------------------------------------------------------------------
def mac_parse(text: str) -> bytes:
    """'02:00:5e:10:00:01' (also '-' separated, or one or two digits per octet) -> 6 bytes."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise WireError(f"bad MAC address {text!r}")
    try:
        octets = [int(p, 16) for p in parts]
    except ValueError:
        raise WireError(f"bad MAC address {text!r}") from None
    if any(not p or len(p) > 2 for p in parts) or any(o > 255 for o in octets):
        raise WireError(f"bad MAC address {text!r}")
    return bytes(octets)


def mac_format(mac: bytes) -> str:
    """6 bytes -> '02:00:5e:10:00:01', as FreeBSD prints an ether address."""
    if len(mac) != 6:
        raise WireError("MAC address must be 6 bytes")
    return mac.hex(":")


def is_broadcast(mac: bytes) -> bool:
    return mac == BROADCAST


def is_multicast(mac: bytes) -> bool:
    """True for group addresses (I/G bit set), which includes broadcast."""
    return bool(mac[0] & 0x01)


def is_unicast(mac: bytes) -> bool:
    return not mac[0] & 0x01 and mac != ZERO


def is_local_admin(mac: bytes) -> bool:
    return bool(mac[0] & 0x02)


def random_local_mac() -> bytes:
    """A random locally administered unicast address, for interfaces that need one."""
    raw = os.urandom(6)
    return bytes([(raw[0] & 0xFC) | 0x02]) + raw[1:]
