"""The rtmsg family: routing messages RTM_ADD, RTM_DELETE, RTM_CHANGE and RTM_GET, one route
each (route(8)); whole runs of plain RTM_ADDs are the batch's (batch.py)."""
from __future__ import annotations

from socket import inet_aton

from plebproto.constants import AF_INET, EINVAL, RTF_PINNED, RTF_STATIC
from plebproto.errors import OpError

from .args import AFS, addr4, arg
from .runs import ROUTE_KEYS

from_bytes = int.from_bytes
# message type -> RtmsgOps method
RTMSGS = {"RTM_ADD": "rt_add", "RTM_DELETE": "rt_delete", "RTM_CHANGE": "rt_change",
          "RTM_GET": "rt_get"}


class RtmsgOps:
    """The rtmsg handlers, for a class with self.stack, self.rtmsgs (RTMSGS bound) and the
    address parsers of args.Addresses (Syscalls)."""

    rtmsgs: dict

    def rtmsg(self, args):
        kind = args.get("type")
        handler = self.rtmsgs.get(kind) if type(kind) is str else None
        if handler is None:
            raise OpError(EINVAL, f"unknown routing message type '{kind}'")
        return handler(args)

    def _route_args(self, args):
        """(af, dst, plen, gateway, gw_ifname) from {af, dst, plen?, gateway?, iface?}.
        Every route op of a million-route batch passes here: kept to a few dict reads."""
        af, dst = self._af_dst(args)
        plen = args.get("plen")
        if plen is None:
            plen = 32 if af == AF_INET else 128
        elif type(plen) is not int:
            raise OpError(EINVAL, "argument 'plen' must be int")
        gateway = args.get("gateway")
        gw_ifname = None
        if gateway is not None:
            if type(gateway) is not str:
                raise OpError(EINVAL, "argument 'gateway' must be str")
            if args.get("iface"):
                gw_ifname, gateway = gateway, None
            else:
                gateway = self._gateway(af, gateway)
        return af, dst, plen, gateway, gw_ifname

    def _af_dst(self, args) -> tuple[int, int]:
        """(af, dst) of a routing message: its family (default inet) and destination."""
        name = args.get("af", "inet")
        af = AFS.get(name) if type(name) is str else None
        text = args.get("dst")
        if af == AF_INET:
            try:        # (addr4 inlined: the common case; it raises for the rest)
                return af, (from_bytes(inet_aton(text), "big") if text.count(".") == 3
                            else addr4(text))
            except (OSError, ValueError, TypeError, AttributeError):
                return af, addr4(text)
        if af is None:
            raise OpError(EINVAL, "af must be inet or inet6")
        return af, self.addr6(text)

    def _expire(self, args):
        rel = arg(args, "expire", int, None)
        return None if rel is None else (self.stack.clock() + rel if rel else 0)

    # add/delete/change answer nothing but success: route(8) prints what it was given, and a
    # million-route batch should not carry a million replies back
    def rt_add(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        if not args.keys() <= ROUTE_KEYS:  # anything beyond these takes the full path
            self.stack.rt_add(
                af, dst, plen, gateway, gw_ifname, arg(args, "flags", int, RTF_STATIC),
                arg(args, "ifp", str, None), arg(args, "mtu", int, 0),
                arg(args, "hopcount", int, 0), self._expire(args) or 0,
                arg(args, "weight", int, 1))
        elif gateway is not None:
            self.stack.rt_announce(af, dst, plen, gateway)     # (no Route object kept)
        else:
            self.stack.rt_add(af, dst, plen, gateway, gw_ifname)

    def rt_delete(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        self.stack.rt_delete(af, dst, plen, gateway, gw_ifname,
                             arg(args, "flags", int, RTF_PINNED) if "flags" in args
                             else RTF_PINNED)

    def rt_change(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        if args.keys() <= ROUTE_KEYS:       # a next-hop change (churn): nothing else to read
            if gateway is not None:
                self.stack.rt_regateway(af, dst, plen, gateway)
            else:
                self.stack.rt_change(af, dst, plen, None, gw_ifname)
            return
        self.stack.rt_change(
            af, dst, plen, gateway, gw_ifname, arg(args, "flags", int, None),
            arg(args, "ifp", str, None), arg(args, "mtu", int, None),
            arg(args, "hopcount", int, None), self._expire(args),
            arg(args, "weight", int, None))

    def rt_get(self, args):
        """{af, dst, plen?}: longest match, or the exact prefix when plen is given."""
        af, dst = self._af_dst(args)
        plen = args.get("plen")
        if plen is not None and type(plen) is not int:
            raise OpError(EINVAL, "argument 'plen' must be int")
        return self.stack.rt_get_info(af, dst, plen)
