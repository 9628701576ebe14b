"""Values as FreeBSD's ifconfig reads them: C atoi/strtoul, BSD inet_aton, MAC text."""
from __future__ import annotations

from .common import ToolError

PROG = "ifconfig"


def errx(text: str) -> ToolError:
    """FreeBSD's errx(1, ...): `ifconfig: text`, exit status 1."""
    return ToolError(f"{PROG}: {text}", 1)


_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


def c_atoi(text: str) -> int:
    """C atoi: optional blanks and sign, leading digits; garbage gives 0; an int result."""
    text = text.lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in ("+", "-"):
        text = text[1:]
    end = 0
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    if not end:
        return 0
    value = sign * int(text[:end])
    value = max(-(1 << 63), min(value, (1 << 63) - 1))     # strtol clamps to long
    value &= 0xFFFFFFFF                                     # then the cast to int
    return value - (1 << 32) if value & 0x80000000 else value


def strtoul(text: str) -> int | None:
    """strtoul(text, &end, 0) over the whole string, else None."""
    if text[:2] in ("0x", "0X"):
        digits, base, valid = text[2:], 16, _HEX
    elif text[:1] == "0":
        digits, base, valid = text, 8, "01234567"
    else:
        digits, base, valid = text, 10, _DIGITS
    if not digits or any(c not in valid for c in digits):
        return None
    return int(digits, base)


def inet_aton(text: str) -> int | None:
    """BSD inet_aton: 1 to 4 parts, each decimal, octal (0…) or hex (0x…); the last part fills
    the remaining bytes ("10.1" is 10.0.0.1, "0xffffff00" a whole address)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        value = strtoul(part)
        if value is None:
            return None
        values.append(value)
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    result = 0
    for v in head:
        result = (result << 8) | v
    return (result << (8 * (4 - len(head)))) | last


def ntoa(value: int) -> str:
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


def inet_pton6(text: str) -> bool:
    import ipaddress
    try:
        ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def classful_plen(addr: int) -> int:
    """The historical default mask (docs/freebsd-tools.md §1.3): class A /8, B /16, else /24."""
    if addr >> 31 == 0:
        return 8
    if addr >> 30 == 0b10:
        return 16
    return 24


def parse_mac(text: str) -> str | None:
    """Colon-separated hex bytes (link_addr's usual form), as the wire's xx:xx:… text."""
    parts = text.replace(".", ":").split(":")
    if not all(1 <= len(p) <= 2 and all(c in _HEX for c in p) for p in parts):
        return None
    return ":".join(f"{int(p, 16):02x}" for p in parts)


def random_mac() -> str:
    """`ether random` (14.x): a random locally administered unicast address."""
    import random
    first = (random.randrange(256) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in [first, *(random.randrange(256) for _ in range(5))])
