"""The ioctl family: SIOC* requests on interfaces (create, destroy, rename, flags, MTU,
metric, description, link-level address, capabilities, groups, ND6 flags) and on their
IPv4/IPv6 addresses (docs/freebsd-tools.md §7)."""
from __future__ import annotations

from plebproto.constants import AF_INET6, EADDRNOTAVAIL, EINVAL
from plebproto.errors import OpError

from ..state.bridge import bridge_add, bridge_delete
from ..state.gif import gif_set_running
from ..state.inet import ntoa, ntop6, strip_scope
from ..state.vlan import set_vlan, set_vlanpcp
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
    "SIOCSDEFIFACE_IN6": "nd6defif", "SIOCSRTRFLUSH_IN6": "nd6rtrflush",
    "SIOCSPFXFLUSH_IN6": "nd6pfxflush", "SIOCSNDFLUSH_IN6": "nd6harmonize",
    "SIOCAIFADDR": "aifaddr", "SIOCDIFADDR": "difaddr",
    "SIOCAIFADDR_IN6": "aifaddr6", "SIOCDIFADDR_IN6": "difaddr6",
    "SIOCSETVLAN": "setvlan",
    "BRDGADD": "brdgadd", "BRDGDEL": "brdgdel", "BRDGRTS": "brdgrts",
    "BRDGFLUSH": "brdgflush", "SIOCSVLANPCP": "setvlanpcp",
    "SIOCSIFPHYADDR": "ifphyaddr", "SIOCSIFPHYADDR_IN6": "ifphyaddr6",
    "SIOCDIFPHYADDR": "ifdelphyaddr",
}


class IoctlOps:
    """The ioctl handlers, for a class with self.stack, self.ioctls (IOCTLS bound) and the
    address parsers of args.Addresses (Syscalls)."""

    ioctls: dict
    ioctl_watchers: list
    dry_running: bool

    def ioctl(self, args):
        result = pick(self.ioctls, args.get("req"), "ioctl")(args)
        if not self.dry_running:        # a dry run opens and closes no device
            for watcher in self.ioctl_watchers:
                watcher(args)
        return result

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
        for gone in self.stack.if_destroy(ifp.name):    # an epair goes with its peer
            if self.dataplane is not None:  # the device closes when the change commits
                self.dataplane.destroyed(gone)

    def setvlan(self, args):
        """{ifname, vlandev, vlan, vlanproto?, vlanpcp?}: attach to a parent; vlandev ""
        detaches (state/vlan.py)."""
        set_vlan(self.stack, arg(args, "ifname", str), args)

    def brdgadd(self, args):
        """{ifname, member}: bridge(4)'s BRDGADD (state/bridge.py)."""
        bridge_add(self.stack, arg(args, "ifname", str), arg(args, "member", str))

    def brdgrts(self, args):
        """{ifname}: the bridge's address table, {"addrs": [{mac, vlan, ifname, expire,
        flags}]}; EINVAL for an interface that is no bridge (the driver ioctl fails)."""
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        if ifp.cloner != "bridge":
            raise OpError(EINVAL)
        return {"addrs": self.stack.if_clone_info(ifp)["bridge"]["addrs"]}

    def brdgflush(self, args):
        """{ifname}: forget what the bridge learned (bridge_rtflush), once the batch commits;
        EINVAL for an interface that is no bridge."""
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        if ifp.cloner != "bridge":
            raise OpError(EINVAL)
        table = getattr(getattr(ifp.device, "device", ifp.device), "rtable", None)
        if table is not None:
            self.stack.journal.on_commit(table.clear)

    def setvlanpcp(self, args):
        """{ifname, vlanpcp}: the priority the vlan's frames carry (state/vlan.py)."""
        set_vlanpcp(self.stack, arg(args, "ifname", str), arg(args, "vlanpcp", int))

    def brdgdel(self, args):
        bridge_delete(self.stack, arg(args, "ifname", str), arg(args, "member", str))

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
        """{ifname, set?, clear?, basereachable?, retrans?, curhlim?, linkmtu?}: the ND
        flags, and the values ndp -i sets (0: unchanged)."""
        name = arg(args, "ifname", str)
        self.stack.if_setnd6(name, arg(args, "set", int, 0), arg(args, "clear", int, 0))
        self.stack.nd6_setinfo(name, arg(args, "basereachable", int, 0),
                               arg(args, "retrans", int, 0), arg(args, "curhlim", int, 0),
                               arg(args, "linkmtu", int, 0))

    def nd6rtrflush(self, args):
        self.stack.nd6_rtr_flush()

    def nd6pfxflush(self, args):
        self.stack.nd6_pfx_flush()

    def nd6harmonize(self, args):
        self.stack.nd6_harmonize()

    def nd6defif(self, args):
        """{ifname?}: the ND default interface (ndp -I); none clears it."""
        name = arg(args, "ifname", str, None)
        self.stack.nd6_setdefif(self.stack.ifunit(name).index if name else 0)

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
        ifp = self._gif(args)
        src, dst = (ntoa(self.addr4(v)) for v in args["value"])
        # in_gif_ioctl: INADDR_ANY at either end is EADDRNOTAVAIL
        self._set_tunnel(ifp, src, dst, "0.0.0.0")

    def ifphyaddr6(self, args):
        """{ifname, value: [src, dst]}: SIOCSIFPHYADDR_IN6, an IPv6 tunnel (in6_gif_ioctl);
        it replaces an IPv4 one, as a gif has one outer family at a time."""
        ifp = self._gif(args)
        src, dst = (ntop6(strip_scope(self.addr6(v))[0]) for v in args["value"])
        self._set_tunnel(ifp, src, dst, "::")

    def _gif(self, args):
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        if ifp.iftype.name != "gif":
            raise OpError(EINVAL)
        value = args.get("value")
        if type(value) is not list or len(value) != 2:
            raise OpError(EINVAL, "value must be [src, dst]")
        return ifp

    def _set_tunnel(self, ifp, src: str, dst: str, unspecified: str) -> None:
        """in{,6}_gif_checkdup: another gif with the same two ends is EADDRNOTAVAIL (its
        packets could not be told apart); the same ends again change nothing."""
        if unspecified in (src, dst):
            raise OpError(EADDRNOTAVAIL)
        for other in self.stack.ifaces:
            if other is not ifp and other.iftype.name == "gif" and \
                    other.params.get("tunnelsrc") == src and \
                    other.params.get("tunneldst") == dst:
                raise OpError(EADDRNOTAVAIL)
        params = dict(ifp.params, tunnelsrc=src, tunneldst=dst)
        self.stack.journal.setattr(ifp, "params", params)
        gif_set_running(self.stack, ifp)

    def ifdelphyaddr(self, args):
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        if ifp.iftype.name != "gif":
            raise OpError(EINVAL)
        params = {k: v for k, v in ifp.params.items() if k not in ("tunnelsrc", "tunneldst")}
        self.stack.journal.setattr(ifp, "params", params)
        gif_set_running(self.stack, ifp)        # (gif_delete_tunnel: not RUNNING)

    def difaddr6(self, args):
        self.stack.in6_difaddr(arg(args, "ifname", str), self.addr6(args.get("addr")))
