"""Addresses as integers: the state keys routes and addresses by int, formats at the edges.

IPv6 link-local (and other scoped) addresses are keyed KAME-style, with the zone (interface
index) embedded in bits 16..31, so a routing-table walk groups them by interface
(docs/freebsd-tools.md §4.1).
"""
from __future__ import annotations

import socket
from typing import NoReturn

from plebproto.errors import OpError
from plebproto.constants import EINVAL

_pack4 = (4).to_bytes
MASK4 = [(0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF for n in range(33)]
MASK6 = [((1 << 128) - 1) ^ ((1 << (128 - n)) - 1) for n in range(129)]


def aton(text: str) -> int:
    """Dotted quad to int; raises EINVAL (inet_pton strictness: no short forms on the wire)."""
    try:
        return int.from_bytes(socket.inet_aton(text), "big") if text.count(".") == 3 else _bad(text)
    except (OSError, ValueError):       # ValueError: an embedded NUL
        return _bad(text)


def ntoa(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def _bad(text: str) -> NoReturn:
    raise OpError(EINVAL, f"bad address: {text}")


def pton6(text: str) -> int:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):       # ValueError: an embedded NUL
        return _bad(text)


def ntop6(value: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def is_scoped6(value: int) -> bool:
    """Link-local unicast (fe80::/10) or interface/link-local multicast (ff01::/16, ff02::/16)."""
    top = value >> 112
    return (top & 0xFFC0) == 0xFE80 or top in (0xFF01, 0xFF02)


def embed_scope(value: int, scopeid: int) -> int:
    return (value & ~(0xFFFF << 96)) | (scopeid << 96) if is_scoped6(value) else value


def strip_scope(value: int) -> tuple[int, int]:
    """(address without the zone, zone) for an embedded-scope key."""
    if is_scoped6(value):
        return value & ~(0xFFFF << 96), (value >> 96) & 0xFFFF
    return value, 0


def plen_of_mask4(mask: int) -> int:
    """Prefix length of a netmask; 14.x keeps only the popcount (docs/freebsd-tools.md §1.2)."""
    return bin(mask & 0xFFFFFFFF).count("1")
