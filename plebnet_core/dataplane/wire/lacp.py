"""IEEE 802.3ad slow protocols (ethertype 0x8809): the LACPDU (subtype 1) and the marker PDU
(subtype 2), as sys/net/ieee8023ad_lacp.h lays them out.

Both are 110 bytes after the Ethernet header (124 on the wire, no padding needed), sent to the
slow-protocols multicast address 01:80:c2:00:00:02:

    LACPDU  subtype version | actor TLV (1, 20) | partner TLV (2, 20) | collector TLV (3, 16)
            | terminator (0, 0) | 50 reserved
    marker  subtype version | info/response TLV (1|2, 16) | terminator (0, 0) | 90 reserved

Parsing is as lacp_pdu_input/lacp_marker_input judge a frame: the exact length, and each TLV's
length in order (an LACPDU's TLV types and version are not checked, "for compatibility with
future protocol revisions"; a marker's version must be 1 and its TLV type info or response).
Anything else raises WireError.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import WireError

ETHERTYPE_SLOW = 0x8809
SLOW_PROTOCOLS_MAC = bytes.fromhex("0180c2000002")
SUBTYPE_LACP, SUBTYPE_MARKER = 1, 2
TYPE_ACTORINFO, TYPE_PARTNERINFO, TYPE_COLLECTORINFO = 1, 2, 3
MARKER_TYPE_INFO, MARKER_TYPE_RESPONSE = 1, 2
PDU_LEN = 110                   # sizeof(struct lacpdu) == sizeof(struct markerdu), less 14

# actor/partner state bits (LACP_STATE_*)
STATE_ACTIVITY, STATE_TIMEOUT, STATE_AGGREGATION, STATE_SYNC = 0x01, 0x02, 0x04, 0x08
STATE_COLLECTING, STATE_DISTRIBUTING, STATE_DEFAULTED, STATE_EXPIRED = 0x10, 0x20, 0x40, 0x80

# struct lacp_peerinfo: system priority and MAC, key, port priority and number, state, 3 pad
_PEER = struct.Struct("!H6sHHHB3x")
_INFO_TLV_LEN = 2 + _PEER.size                  # 20
_COLLECTOR_TLV_LEN = 2 + 2 + 12                 # 16: max delay, 12 reserved
# struct lacp_markerinfo: requester port, system, transaction id, 2 pad
_MARKER = struct.Struct("!H6sI2x")
_MARKER_TLV_LEN = 2 + _MARKER.size              # 16
_TLV = struct.Struct("!BB")


class PeerInfo(NamedTuple):
    """One side's lacp_peerinfo (the PDU's actor or partner)."""
    sys_prio: int = 0
    sys_mac: bytes = bytes(6)
    key: int = 0
    port_prio: int = 0
    port_no: int = 0
    state: int = 0

    def same_id(self, other: "PeerInfo") -> bool:
        """lacp_compare_peerinfo == 0: everything but the state."""
        return self[:5] == other[:5]


class Lacpdu(NamedTuple):
    version: int
    actor: PeerInfo
    partner: PeerInfo
    max_delay: int


class MarkerInfo(NamedTuple):
    port: int
    system: bytes
    xid: int


class Markerdu(NamedTuple):
    version: int
    type: int                   # MARKER_TYPE_INFO or MARKER_TYPE_RESPONSE
    info: MarkerInfo


def subtype(payload) -> int:
    """The slow protocol's subtype (the payload's first byte), or WireError if empty."""
    if not payload:
        raise WireError("slow protocols: no subtype")
    return payload[0]


def _peer(buf, off: int) -> PeerInfo:
    prio, mac, key, pprio, pno, state = _PEER.unpack_from(buf, off)
    return PeerInfo(prio, bytes(mac), key, pprio, pno, state)


def _check_tlvs(buf, off: int, lengths) -> None:
    """tlv_check: each TLV in turn has the template's length (its type unchecked here)."""
    for want in lengths:
        if off + 2 > len(buf):
            raise WireError("slow protocols: truncated TLV")
        _, length = _TLV.unpack_from(buf, off)
        if length != want:
            raise WireError(f"slow protocols: TLV length {length} where {want} belongs")
        off += length


def parse_lacpdu(payload) -> Lacpdu:
    """The LACPDU after the Ethernet header."""
    if len(payload) != PDU_LEN:
        raise WireError(f"lacp: {len(payload)} bytes, not {PDU_LEN}")
    if payload[0] != SUBTYPE_LACP:
        raise WireError(f"lacp: subtype {payload[0]}")
    _check_tlvs(payload, 2, (_INFO_TLV_LEN, _INFO_TLV_LEN, _COLLECTOR_TLV_LEN, 0))
    actor = _peer(payload, 4)
    partner = _peer(payload, 4 + _INFO_TLV_LEN)
    (max_delay,) = struct.unpack_from("!H", payload, 2 + 2 * _INFO_TLV_LEN + 2)
    return Lacpdu(payload[1], actor, partner, max_delay)


def emit_lacpdu(actor: PeerInfo, partner: PeerInfo, max_delay: int = 0,
                version: int = 1) -> bytes:
    """lacp_xmit_lacpdu's PDU (after the Ethernet header)."""
    try:
        out = (bytes((SUBTYPE_LACP, version))
               + _TLV.pack(TYPE_ACTORINFO, _INFO_TLV_LEN) + _PEER.pack(*actor)
               + _TLV.pack(TYPE_PARTNERINFO, _INFO_TLV_LEN) + _PEER.pack(*partner)
               + _TLV.pack(TYPE_COLLECTORINFO, _COLLECTOR_TLV_LEN)
               + struct.pack("!H12x", max_delay) + _TLV.pack(0, 0))
    except (struct.error, ValueError, TypeError) as exc:
        raise WireError(f"lacp: {exc}") from None
    return out + bytes(PDU_LEN - len(out))


def parse_marker(payload) -> Markerdu:
    """The marker PDU after the Ethernet header."""
    if len(payload) != PDU_LEN:
        raise WireError(f"marker: {len(payload)} bytes, not {PDU_LEN}")
    if payload[0] != SUBTYPE_MARKER:
        raise WireError(f"marker: subtype {payload[0]}")
    if payload[1] != 1:
        raise WireError(f"marker: version {payload[1]}")
    kind = payload[2]
    if kind not in (MARKER_TYPE_INFO, MARKER_TYPE_RESPONSE):
        raise WireError(f"marker: TLV type {kind}")
    _check_tlvs(payload, 2, (_MARKER_TLV_LEN, 0))
    port, system, xid = _MARKER.unpack_from(payload, 4)
    return Markerdu(1, kind, MarkerInfo(port, bytes(system), xid))


def emit_marker(kind: int, info: MarkerInfo) -> bytes:
    try:
        out = (bytes((SUBTYPE_MARKER, 1)) + _TLV.pack(kind, _MARKER_TLV_LEN)
               + _MARKER.pack(*info) + _TLV.pack(0, 0))
    except (struct.error, ValueError, TypeError) as exc:
        raise WireError(f"marker: {exc}") from None
    return out + bytes(PDU_LEN - len(out))


def frame(src: bytes, payload: bytes) -> bytes:
    """The Ethernet frame carrying a slow protocol PDU from src."""
    return SLOW_PROTOCOLS_MAC + bytes(src) + ETHERTYPE_SLOW.to_bytes(2, "big") + payload
