"""DHCPv4 messages (RFC 2131) and their options (RFC 2132): the BOOTP header as one struct,
the options as (code, bytes) after the magic cookie.

    m = parse(udp_payload)            # Dhcp; WireError for anything malformed
    m.options[OPT_MSG_TYPE], m.msg_type, m.yiaddr (bytes), m.xid
    emit(op, xid, chaddr, options, ciaddr=..., flags=...) -> bytes

Options are kept in the order received; a code given twice is concatenated (RFC 3396).
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import WireError

SERVER_PORT = 67
CLIENT_PORT = 68
BOOTREQUEST, BOOTREPLY = 1, 2
HTYPE_ETHER = 1
FLAG_BROADCAST = 0x8000
MAGIC = b"\x63\x82\x53\x63"

# message types (option 53)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)

OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK = 1
OPT_ROUTERS = 3
OPT_DNS = 6
OPT_HOSTNAME = 12
OPT_DOMAIN = 15
OPT_BROADCAST = 28
OPT_REQUESTED_IP = 50
OPT_LEASE_TIME = 51
OPT_MSG_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAM_REQUEST = 55
OPT_RENEWAL_TIME = 58       # T1
OPT_REBINDING_TIME = 59     # T2
OPT_CLIENT_ID = 61
OPT_CLASSLESS_ROUTES = 121

# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr(16) sname(64) file(128)
_HDR = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
HEADER_LEN = _HDR.size      # 236
MIN_LEN = HEADER_LEN + 4    # with the cookie


class Dhcp(NamedTuple):
    op: int
    xid: int
    secs: int
    flags: int
    ciaddr: bytes
    yiaddr: bytes
    siaddr: bytes
    giaddr: bytes
    chaddr: bytes           # the hardware address (hlen bytes)
    options: dict           # code -> bytes

    @property
    def msg_type(self) -> int | None:
        v = self.options.get(OPT_MSG_TYPE)
        return v[0] if v and len(v) == 1 else None

    def addr_option(self, code: int) -> bytes | None:
        """An option holding one IPv4 address (first of a list), or None."""
        v = self.options.get(code)
        return v[:4] if v is not None and len(v) >= 4 and len(v) % 4 == 0 else None

    def addrs_option(self, code: int) -> list[bytes]:
        v = self.options.get(code)
        if v is None or len(v) % 4:
            return []
        return [v[i:i + 4] for i in range(0, len(v), 4)]

    def u32_option(self, code: int) -> int | None:
        v = self.options.get(code)
        return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None


def parse(buf) -> Dhcp:
    n = len(buf)
    if n < MIN_LEN:
        raise WireError(f"dhcp: {n} bytes is shorter than a header")
    (op, htype, hlen, _hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr,
     _sname, _file) = _HDR.unpack_from(buf)
    if op not in (BOOTREQUEST, BOOTREPLY) or hlen > 16:
        raise WireError(f"dhcp: op {op}, hlen {hlen}")
    if bytes(buf[HEADER_LEN:MIN_LEN]) != MAGIC:
        raise WireError("dhcp: no magic cookie")
    options: dict[int, bytes] = {}
    i = MIN_LEN
    while i < n:
        code = buf[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 2 > n or i + 2 + buf[i + 1] > n:
            raise WireError(f"dhcp: option {code} runs past the end")
        length = buf[i + 1]
        options[code] = options.get(code, b"") + bytes(buf[i + 2:i + 2 + length])
        i += 2 + length
    return Dhcp(op, xid, secs, flags, bytes(ciaddr), bytes(yiaddr), bytes(siaddr),
                bytes(giaddr), bytes(chaddr[:hlen]), options)


def emit(op: int, xid: int, chaddr: bytes, options: list[tuple[int, bytes]], *,
         ciaddr: bytes = bytes(4), yiaddr: bytes = bytes(4), siaddr: bytes = bytes(4),
         giaddr: bytes = bytes(4), flags: int = 0, secs: int = 0) -> bytes:
    out = [_HDR.pack(op, HTYPE_ETHER, len(chaddr), 0, xid, secs, flags, ciaddr, yiaddr,
                     siaddr, giaddr, chaddr, b"", b""), MAGIC]
    for code, value in options:
        for k in range(0, max(len(value), 1), 255):     # long values split (RFC 3396)
            chunk = value[k:k + 255]
            out.append(bytes((code, len(chunk))) + chunk)
    out.append(bytes((OPT_END,)))
    msg = b"".join(out)
    if len(msg) < 300:      # BOOTP's minimum; some relays and servers want it
        msg += bytes(300 - len(msg))
    return msg
