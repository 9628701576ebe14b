"""The ioctl family: SIOC* requests on interfaces (create, destroy, rename, flags, MTU,
metric, description, link-level address, capabilities, groups, ND6 flags) and on their
IPv4/IPv6 addresses (docs/freebsd-tools.md §7)."""
from __future__ import annotations

from plebproto.constants import AF_INET6, EADDRNOTAVAIL, EINVAL
from plebproto.errors import OpError

from ..state.inet import ntoa, strip_scope
from .args import arg
from .dispatch import pick

# request -> IoctlOps method
IOCTLS = {
    "SIOCIFCREATE2": "ifcreate", "SIOCIFDESTROY": "ifdestroy",
    "SIOCSIFNAME": "ifname", "SIOCSIFFLAGS": "ifflags",
    "SIOCSIFMTU": "ifmtu", "SIOCSIFMETRIC": "ifmetric",
    "SIOCSIFDESCR": "ifdescr", "SIOCSIFLLADDR": "iflladdr",
    "SIOCSIFCAP": "ifcap", "SIOCAIFGROUP": "ifaddgroup",
    "SIOCDIFGROUP": "ifdelgroup", "SIOCSIFINFO_IN6": "ifnd6",
    "SIOCAIFADDR": "aifaddr", "SIOCDIFADDR": "difaddr",
    "SIOCAIFADDR_IN6": "aifaddr6", "SIOCDIFADDR_IN6": "difaddr6",
    "SIOCSIFPHYADDR": "ifphyaddr", "SIOCDIFPHYADDR": "ifdelphyaddr",
}


class IoctlOps:
    """The ioctl handlers, for a class with self.stack, self.ioctls (IOCTLS bound) and the
    address parsers of args.Addresses (Syscalls)."""

    ioctls: dict
    dry_running: bool

    def ioctl(self, args):
        return pick(self.ioctls, args.get("req"), "ioctl")(args)

    def ifcreate(self, args):
        params = arg(args, "params", dict, {})
        name = self.stack.if_create(arg(args, "ifname", str), params)
        # a device that won't open fails the create; a dry run opens none (it would be
        # closed again at once, and the state model alone says what the batch would do)
        if self.dataplane is not None and not self.dry_running:
            self.dataplane.created(self.stack.ifunit(name))
        return {"ifname": name}

    def ifdestroy(self, args):
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        self.stack.if_destroy(ifp.name)
        if self.dataplane is not None:      # the device closes when the change commits
            self.dataplane.destroyed(ifp)

    def ifname(self, args):
        self.stack.if_rename(arg(args, "ifname", str), arg(args, "newname", str))

    def ifflags(self, args):
        self.stack.if_setflags(arg(args, "ifname", str), arg(args, "set", int, 0),
                               arg(args, "clear", int, 0))

    def ifmtu(self, args):
        self.stack.if_setmtu(arg(args, "ifname", str), arg(args, "mtu", int))

    def ifmetric(self, args):
        self.stack.if_setmetric(arg(args, "ifname", str), arg(args, "metric", int))

    def ifdescr(self, args):
        self.stack.if_setdescr(arg(args, "ifname", str), arg(args, "descr", str))

    def iflladdr(self, args):
        text = arg(args, "lladdr", str)
        try:
            mac = bytes(int(part, 16) for part in text.split(":"))
        except ValueError:
            raise OpError(EINVAL) from None
        self.stack.if_setlladdr(arg(args, "ifname", str), mac)

    def ifcap(self, args):
        self.stack.if_setcaps(arg(args, "ifname", str), arg(args, "set", int, 0),
                              arg(args, "clear", int, 0))

    def ifaddgroup(self, args):
        self.stack.if_addgroup(arg(args, "ifname", str), arg(args, "group", str))

    def ifdelgroup(self, args):
        self.stack.if_delgroup(arg(args, "ifname", str), arg(args, "group", str))

    def ifnd6(self, args):
        self.stack.if_setnd6(arg(args, "ifname", str), arg(args, "set", int, 0),
                             arg(args, "clear", int, 0))

    def aifaddr(self, args):
        """{ifname, addr, plen, broadcast?, dstaddr?}"""
        broadcast = arg(args, "broadcast", str, None)
        dst = arg(args, "dstaddr", str, None)
        self.stack.in_aifaddr(arg(args, "ifname", str), self.addr4(args.get("addr")),
                              arg(args, "plen", int),
                              self.addr4(broadcast) if broadcast is not None else None,
                              self.addr4(dst) if dst is not None else None)

    def difaddr(self, args):
        """{ifname, addr?}; no addr: the first IPv4 address."""
        addr = arg(args, "addr", str, None)
        self.stack.in_difaddr(arg(args, "ifname", str),
                              self.addr4(addr) if addr is not None else None)

    def aifaddr6(self, args):
        """{ifname, addr, plen, flags?, pltime?, vltime?, dstaddr?, eui64?}"""
        dst = arg(args, "dstaddr", str, None)
        addr = self.addr6(args.get("addr"))
        if arg(args, "eui64", bool, False):
            addr = self._eui64(arg(args, "ifname", str), addr)
        self.stack.in6_aifaddr(arg(args, "ifname", str), addr,
                               arg(args, "plen", int, 64), arg(args, "flags", int, 0),
                               arg(args, "pltime", int, 0), arg(args, "vltime", int, 0),
                               strip_scope(self.addr6(dst))[0] if dst is not None else None)

    def _eui64(self, ifname: str, addr: int) -> int:
        """ifconfig's `eui64`: the interface identifier of the interface's link-local address
        fills the low 64 bits (ifconfig reads it itself; one op keeps the batch atomic)."""
        low = (1 << 64) - 1
        for ifa in self.stack.ifunit(ifname).addrs:
            if ifa.af == AF_INET6 and ifa.addr >> 118 == 0xFE80 >> 6:
                return (addr & ~low) | (ifa.addr & low)
        raise OpError(EADDRNOTAVAIL, "could not determine link local address")

    def ifphyaddr(self, args):
        """{ifname, value: [src, dst]}: a gif(4) tunnel's outer IPv4 addresses (`tunnel`);
        another interface's driver does not know the request (EINVAL, as ether_ioctl)."""
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        value = args.get("value")
        if ifp.iftype.name != "gif":
            raise OpError(EINVAL)
        if type(value) is not list or len(value) != 2:
            raise OpError(EINVAL, "value must be [src, dst]")
        src, dst = (self.addr4(v) for v in value)
        params = dict(ifp.params, tunnelsrc=ntoa(src), tunneldst=ntoa(dst))
        self.stack.journal.setattr(ifp, "params", params)

    def ifdelphyaddr(self, args):
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        if ifp.iftype.name != "gif":
            raise OpError(EINVAL)
        params = {k: v for k, v in ifp.params.items() if k not in ("tunnelsrc", "tunneldst")}
        self.stack.journal.setattr(ifp, "params", params)

    def difaddr6(self, args):
        self.stack.in6_difaddr(arg(args, "ifname", str), self.addr6(args.get("addr")))
