"""Journal and snapshot records: framing (length, CRC-32, msgpack body), scanning, telling a
torn tail from damage, and checked writes."""
from __future__ import annotations

import errno as _errno
import os
import re
import struct
import zlib

import msgpack

RECORD = struct.Struct(">II")
FORMAT = 1


class PersistError(Exception):
    """The state directory cannot be used; the message (one line) says why."""



# -- records ---------------------------------------------------------------------------------------
def pack_record(obj) -> bytes:
    return frame(msgpack.packb(obj, use_bin_type=True))


def frame(body: bytes) -> bytes:
    return RECORD.pack(len(body), zlib.crc32(body)) + body


def _decode(data, pos: int):
    """The record at pos if it is whole, passes its CRC and is a map: (record, next pos)."""
    if len(data) - pos < RECORD.size:
        return None
    length, crc = RECORD.unpack_from(data, pos)
    start = pos + RECORD.size
    if length == 0 or length > len(data) - start:
        return None
    body = data[start:start + length]
    if zlib.crc32(body) != crc:
        return None
    try:
        rec = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:
        return None
    return (rec, start + length) if isinstance(rec, dict) else None


def scan_records(data: bytes):
    """([(offset, record)], end): every intact record from the start, and where the intact
    part ends."""
    found, pos = [], 0
    while (got := _decode(data, pos)) is not None:
        found.append((pos, got[0]))
        pos = got[1]
    return found, pos


def read_records(data: bytes):
    """(records, end): every intact record from the start, and where the intact part ends."""
    found, end = scan_records(data)
    return [rec for _, rec in found], end


# a record's body is a msgpack map: fixmap (0x80-0x8f) or map16/map32 (0xde, 0xdf)
_MAP_START = re.compile(rb"[\x80-\x8f\xde\xdf]")


def intact_after(data: bytes, pos: int):
    """The offset of the first intact record starting after pos, or None (a resync scan:
    candidates are where a map could begin, 8 bytes on)."""
    for m in _MAP_START.finditer(data, pos + 1 + RECORD.size):
        if _decode(data, m.start() - RECORD.size) is not None:
            return m.start() - RECORD.size
    return None


def is_torn_tail(data: bytes, end: int) -> bool:
    """The bytes from end are the beginning of one record cut by a crash: too short for a
    header, or a header whose length runs past the end of the file, and nothing intact after
    it.  (A crash cuts a write short; it does not change the bytes that were written.)"""
    rest = len(data) - end
    if rest < RECORD.size:
        return True
    length, _ = RECORD.unpack_from(data, end)
    return length > rest - RECORD.size and intact_after(data, end) is None


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written; a write that makes no progress is ENOSPC."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC))
        view = view[n:]


# -- the state directory ---------------------------------------------------------------------------
def _valid(rec: dict) -> bool:
    return (type(rec.get("seq")) is int and isinstance(rec.get("op"), str)
            and type(rec.get("errno")) is int and "args" in rec)



def check_journal(data: bytes, base: int, path: str = "journal"):
    """(records after seq base, damage, torn): damage is None or the one line saying where
    the journal is damaged (the records are then those before it); torn is the size of a
    torn tail to drop silently (0: none)."""
    found, end = scan_records(data)
    out, prev = [], None
    for pos, rec in found:
        if not _valid(rec):
            return out, f"{path}: record at offset {pos} is not a change record", 0
        seq = rec["seq"]
        if prev is None and seq > base + 1:
            what = f"the snapshot's change {base}" if base else "no snapshot"
            return out, (f"{path}: change {seq} at offset {pos} follows {what}: changes "
                         f"are missing"), 0
        if prev is not None and seq != prev + 1:
            return out, (f"{path}: change {seq} at offset {pos} follows change {prev}: "
                         f"changes are missing"), 0
        if seq > base:
            out.append(rec)
        prev = seq
    if end == len(data):
        return out, None, 0
    if is_torn_tail(data, end):
        return out, None, len(data) - end
    after = intact_after(data, end)
    if after is not None:
        why = f"{len(read_records(data[after:])[0])} intact record(s) after it, from " \
              f"offset {after}"
    elif not data[end:].strip(b"\0"):
        why = "zeros to the end of the file"
    else:
        why = "nothing intact after it"
    return out, f"{path}: damaged record at offset {end} ({why})", 0
