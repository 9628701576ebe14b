"""The internet checksum (RFC 1071) and its incremental update (RFC 1624).

Python cannot loop over 16-bit words quickly, so the sum is taken on one big integer:
a buffer read as a big-endian number N is sum(w_i * 2**(16*i)), and since 2**16 == 1 (mod 0xFFFF),
N mod 0xFFFF is the ones' complement sum of the words.  CPython divides a long by a one-digit
number in a single linear pass, which beats summing an array('H') (see bench/bench_wire.py).
The only ambiguity is zero: end-around-carry addition of words that are not all zero never
yields 0x0000, so a zero remainder from non-zero input means 0xFFFF.
"""
from __future__ import annotations

_from_bytes = int.from_bytes


def ones_sum(data, start: int = 0) -> int:
    """Ones' complement sum (0..0xFFFF) of data as 16-bit big-endian words plus `start`.

    An odd trailing byte is padded with zero.  `start` may be any non-negative int congruent to a
    partial sum (e.g. from pseudo_header_sum), so sums of even-length pieces can be chained.
    """
    n = _from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    n += start
    s = n % 0xFFFF
    if not s and n:
        return 0xFFFF
    return s


def checksum(data, start: int = 0) -> int:
    """The value for a checksum field: the complement of ones_sum().

    Run over a region that already contains its checksum, the result is 0 when it is valid.
    """
    n = _from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    n += start
    s = n % 0xFFFF
    if not s and n:
        return 0
    return s ^ 0xFFFF


def pseudo_header_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """A start value for checksum() covering the IPv4 (or IPv6) pseudo-header.

    Not folded: only its residue mod 0xFFFF matters, and checksum() folds once at the end.
    """
    return _from_bytes(src, "big") + _from_bytes(dst, "big") + proto + length


def update(old_checksum: int, old_word: int, new_word: int) -> int:
    """Checksum after one 16-bit word of the covered data changed (RFC 1624, eqn. 3)."""
    s = (~old_checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
