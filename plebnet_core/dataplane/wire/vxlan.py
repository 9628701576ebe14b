"""VXLAN (RFC 7348): the 8-byte header in front of an Ethernet frame inside UDP."""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import WireError

HEADER_LEN = 8
UDP_PORT = 4789  # IANA
FLAG_I = 0x08  # "VNI valid"; the only flag RFC 7348 defines
MAX_VNI = (1 << 24) - 1

_HDR = struct.Struct("!B3xI")
_new = tuple.__new__


class VxlanHeader(NamedTuple):
    flags: int
    vni: int
    payload: bytes  # the inner Ethernet frame


def parse(buf) -> VxlanHeader:
    """Parse a VXLAN header.  Reserved bits are ignored on receipt, as the RFC says."""
    if len(buf) < HEADER_LEN:
        raise WireError(f"vxlan: {len(buf)} bytes is shorter than a header")
    flags, word = _HDR.unpack_from(buf)
    if not flags & FLAG_I:
        raise WireError("vxlan: I flag not set")
    return _new(VxlanHeader, (flags, word >> 8, buf[HEADER_LEN:]))


def header(vni: int) -> bytes:
    if not 0 <= vni <= MAX_VNI:
        raise WireError(f"vxlan: VNI {vni} out of range")
    return _HDR.pack(FLAG_I, vni << 8)


def emit(vni: int, frame) -> bytes:
    return header(vni) + frame
