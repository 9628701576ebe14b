"""Argument checking shared by the handlers: a wrong type is EINVAL, never a crash; address
families; address texts to the state model's integers (Addresses, which needs the stack for
IPv6 zones and caches gateway texts)."""
from __future__ import annotations

from socket import inet_aton

from plebproto.constants import AF_INET, AF_INET6, EINVAL
from plebproto.errors import OpError

from ..state.inet import embed_scope, pton6

AFS = {"inet": AF_INET, "inet6": AF_INET6}
_MISSING = object()


def arg(args: dict, name: str, kind, default=_MISSING):
    """args[name], which must be of type kind; default when absent (no default: required)."""
    value = args.get(name, default)
    if type(value) is kind or (value is default and default is not _MISSING):
        return value
    if value is _MISSING:
        raise OpError(EINVAL, f"missing argument '{name}'")
    raise OpError(EINVAL, f"argument '{name}' must be {kind.__name__}")


def family(name) -> int | None:
    """AF_INET or AF_INET6 for "inet" or "inet6"; None for anything else, unhashable
    msgpack values (a list, a map) included."""
    return AFS.get(name) if type(name) is str else None


def af_arg(args: dict) -> int:
    """The request's "af" (default inet) as AF_INET or AF_INET6."""
    af = family(args.get("af", "inet"))
    if af is None:
        raise OpError(EINVAL, "af must be inet or inet6")
    return af


def addr4(text) -> int:
    # inet_aton accepts short forms ("10.1"); the wire carries full dotted quads only
    if type(text) is str and text.count(".") == 3:
        try:
            return int.from_bytes(inet_aton(text), "big")
        except (OSError, ValueError):       # ValueError: an embedded NUL
            pass
    raise OpError(EINVAL, f"bad address: {text!r}")


class Addresses:
    """Address texts of requests to table keys, for handlers that have self.stack."""

    _gw_text: dict[int, dict[str, int]]    # family -> text -> address

    addr4 = staticmethod(addr4)

    def addr6(self, text) -> int:
        """IPv6 text, with an optional %ifname zone, to a table key (zone embedded)."""
        if not isinstance(text, str):
            raise OpError(EINVAL, "address must be a string")
        addr, _, zone = text.partition("%")
        value = pton6(addr)
        if zone:
            value = embed_scope(value, self.stack.ifunit(zone).index)
        return value

    def addr(self, af: int, text) -> int:
        return addr4(text) if af == AF_INET else self.addr6(text)

    def _gateway(self, af: int, text: str) -> int:
        """Gateways repeat across a table: parse each text once (per family: "10.0.0.1" is
        no inet6 gateway; a zoned text is not kept, its interface's index may change)."""
        cache = self._gw_text[af]
        value = cache.get(text)
        if value is None:
            value = self.addr(af, text)
            if "%" not in text:
                if len(cache) >= 4096:
                    cache.clear()
                cache[text] = value
        return value
