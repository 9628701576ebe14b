"""The live data plane of one stack: devices for its interfaces, the Ethernet/ARP, IPv4 and
IPv6/ND layers, captures, and the data-plane ops (ping, traceroute, pcap).

NIC backends (plebnet --nic NAME=BACKEND):
    none                                  an interface with no wire
    tap:KNAME[,netns=NS][,addr=A/LEN][,down]
                                          a Linux TAP interface KNAME (the stack is its far
                                          end), created in namespace NS and brought up there
                                          (addr: give the kernel side an address too)
    vxlan:VNI,LOCAL_ADDR:PORT,REMOTE_ADDR:PORT[,netns=NS]
                                          Ethernet over UDP with VXLAN framing (RFC 7348):
                                          bind LOCAL, send to REMOTE (IPv6 in brackets)
Cloned interfaces get a device when created (Syscalls.ifcreate calls created()):
    tapN     a kernel TAP "pl<pid><ifname>" left down, or params {"tapname", "netns"} (put
             in that namespace and brought up there)
    vxlanN   params {"vxlanid", "vxlanlocal", "vxlanremote", "vxlanlocalport",
             "vxlanremoteport", "netns"} (ifconfig's vxlan(4) keywords): configuration only;
             the UDP socket opens when the interface comes up (SIOCSIFFLAGS, or an address
             added, as FreeBSD's if_init runs then) and closes when it goes down; a socket
             that won't open leaves it up without RUNNING and logs FreeBSD's message
"""
from __future__ import annotations

import errno as os_errno
import os
from functools import partial

import sys

from plebproto.constants import (
    AF_INET6, EADDRNOTAVAIL, EBUSY, EEXIST, EHOSTUNREACH, EINVAL, ENXIO, EPERM, IFF_LOOPBACK,
    IFF_RUNNING, IFF_UP, IN6_IFF_ANYCAST, IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE,
    LINK_STATE_DOWN, LINK_STATE_UNKNOWN, LINK_STATE_UP, RTF_BLACKHOLE, RTF_REJECT, strerror,
)

from plebproto.errors import OpError
from ..state.inet import embed_scope, is_scoped6, pton6, strip_scope
from ..syscalls.args import addr4, arg
from ..syscalls.dispatch import Deferred
from .dhcp import DhcpClients
from .iface import Link
from .lagg import Laggs, is_lagg, lagg_of
from .ip import IPv4
from . import stats
from .ip6 import IPv6
from .nd6 import ND6
from .bridge import BridgeDevice
from .phy import LoopbackDevice, NullDevice, PcapTap, TapDevice, VxlanClone, VxlanDevice
from .phy.epair import EpairDevice
from .rtadv import RtAdv
from .vlan import VlanDevice
from .ping import PingSession
from .traceroute import DEFAULT_PORT, TracerouteSession

VXLAN_PORT = 4789
DAD_POLL = 0.2          # seconds between looks for new tentative addresses to probe


def parse_endpoint(text: str) -> tuple[str, int]:
    """'127.0.0.1:4789' or '[::1]:4789'."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"'{text}' is not ADDRESS:PORT")
    return host, int(port)


def open_backend(name: str, backend: str):
    """A device for `--nic name=backend`; ValueError for bad syntax, OSError if it won't open."""
    kind, _, spec = backend.partition(":")
    if kind == "none" and not spec:
        return NullDevice(name)
    parts = [p for p in spec.split(",") if p]
    if kind == "tap":
        if not parts or "=" in parts[0]:
            raise ValueError("tap needs a kernel interface name: tap:NAME[,netns=NS]")
        opts = _options(parts[1:], ("netns", "addr", "down", "mtu"))
        return TapDevice(parts[0], name=name, netns=opts.get("netns"),
                         up="down" not in opts, address=opts.get("addr"),
                         mtu=int(opts["mtu"]) if "mtu" in opts else None)
    if kind == "vxlan":
        if len(parts) < 3 or not parts[0].isdigit():
            raise ValueError("vxlan needs VNI,LOCAL_ADDR:PORT,REMOTE_ADDR:PORT")
        opts = _options(parts[3:], ("netns",))
        return VxlanDevice(name, vni=int(parts[0]), local=parse_endpoint(parts[1]),
                           remote=parse_endpoint(parts[2]), netns=opts.get("netns"))
    raise ValueError(f"backend '{kind}' is not available (known: none, tap, vxlan)")


def _number(args, name, default):
    """A numeric op argument (int or float), or None."""
    value = args.get(name, default)
    if type(value) not in (int, float) and value is not None:
        raise OpError(EINVAL, f"argument '{name}' must be a number")
    return value


def _port(value) -> int:
    """A vxlan port parameter: VXLAN_PORT when absent; 0 (any) is a valid local port."""
    if value is None or value == "":
        return VXLAN_PORT
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"bad port {value}")
    return port


def _options(parts, known) -> dict:
    opts = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if key not in known:
            raise ValueError(f"unknown option '{key}' (known: {', '.join(known)})")
        opts[key] = value if eq else True
    return opts


def _kernel_error(exc: OSError, what: str) -> OpError:
    code = {os_errno.EPERM: EPERM, os_errno.EACCES: EPERM, os_errno.EBUSY: EBUSY,
            os_errno.EEXIST: EEXIST, os_errno.EADDRINUSE: 48,
            os_errno.EADDRNOTAVAIL: 49}.get(exc.errno, ENXIO)
    return OpError(code, f"{what}: {exc.strerror or exc}")


class DataPlane:
    def __init__(self, stack, loop, pid: int, syscalls=None):
        self.stack = stack
        self.loop = loop
        self.pid = pid
        self.link = Link(stack, loop)
        self.ip = IPv4(stack, loop, self.link)
        self.link.ip = self.ip
        self.nd6 = ND6(stack, loop, self.link)
        self.ip6 = IPv6(stack, loop, self.link, self.nd6)
        self.nd6.ip6 = self.ip6
        self.rtadv = self.nd6.rtadv = RtAdv(stack, loop, self.link, self.nd6)
        self.link.ip6, self.link.nd6 = self.ip6, self.nd6
        self._dad_timer = loop.call_later(DAD_POLL, self._dad_poll)
        self.captures: dict[str, PcapTap] = {}
        self.dhcp = DhcpClients(self, syscalls)
        self.laggs = Laggs(self, syscalls)
        if syscalls is not None:
            syscalls.attach_dataplane(self)
            # ping(8) is for everyone (the read group too); both answer as they go, so
            # neither can be part of a batch
            syscalls.register("ping", self.op_ping, mutating=False, batchable=False)
            syscalls.register("traceroute", self.op_traceroute, mutating=False,
                              batchable=False)
            syscalls.register("pcap", self.op_pcap, batchable=False)
            syscalls.register_ioctl("SIOCSDRVSPEC", self.ioctl_drvspec)
            syscalls.watch_ioctls(self._ioctl_done)
            sets = {"ip": self.ip.ipstat, "icmp": self.ip.icmpstat, "udp": self.ip.udpstat,
                    "arp": self.link.arpstat, "ip6": self.ip6.ip6stat,
                    "icmp6": self.ip6.icmp6stat}
            for name, proto in stats.SYSCTLS.items():
                syscalls.register_counters(name, self._stats_reader(sets[proto]))
            # icmp_input answers no address mask requests: the knob reads as off, and is not
            # offered for turning on
            syscalls.gauges["net.inet.icmp.maskrepl"] = lambda: 0
            # the path MTUs learned (hostcache.py): where FreeBSD lists them
            hc = self.ip6.hostcache
            syscalls.gauges["net.inet.tcp.hostcache.list"] = hc.list
            syscalls.gauges["net.inet.tcp.hostcache.count"] = hc.__len__

    def _ioctl_done(self, args) -> None:
        """vxlan_ioctl: SIOCSIFFLAGS runs vxlan_init when the interface is up and
        vxlan_teardown when it is not; an IPv4 address added does ether_ioctl's
        SIOCSIFADDR, which marks it up and runs if_init."""
        if args.get("req") in ("SIOCSIFFLAGS", "SIOCAIFADDR"):
            ifp = self.stack.by_name.get(args.get("ifname"))
            if ifp is not None:
                self.sync_vxlan(ifp)

    @staticmethod
    def _stats_reader(counters: dict):
        def read(zero: bool) -> dict:
            """The set as it is; zeroed when written to (netstat -z), answering the zeroed
            set, as FreeBSD's sysctl write hands back nothing read."""
            if zero:
                stats.zero(counters)
            return stats.copy(counters)
        return read

    def _dad_poll(self) -> None:
        """Addresses come from control requests, not packets: look for new tentative ones
        (the state model queues them in dad_pending) and send their DAD probes."""
        if self.stack.dad_pending or self.nd6.probing():
            self.nd6.dad_start()
        self.rtadv.poll()           # router solicitations at up, rtadvd's advertisements
        self._dad_timer = self.loop.call_later(DAD_POLL, self._dad_poll)

    # -- devices -----------------------------------------------------------------------------
    def attach(self, ifp, device) -> None:
        self.link.attach(ifp, device)
        if isinstance(device, TapDevice):
            ifp.drv_status = f"Opened by PID {self.pid}"

    def attach_loopback(self, ifp) -> None:
        self.attach(ifp, LoopbackDevice(ifp.name, qlen=4096))

    def created(self, ifp) -> None:
        """A clone was created (inside the request's transaction): open its device, or fail
        the create.  Rolled back, the device closes again."""
        if ifp.device is not None:
            return              # an epair end opened with its peer
        try:
            device = self._clone_device(ifp)
        except OSError as exc:
            raise _kernel_error(exc, f"{ifp.name}: cannot open device") from None
        except ValueError as exc:
            raise OpError(EINVAL, f"{ifp.name}: {exc}") from None
        journal = self.stack.journal
        if device is not None:
            journal.setattr(ifp, "drv_status", ifp.drv_status)
            self.attach(ifp, device)
            journal.record(self.link.detach, ifp)
            if isinstance(device, VxlanClone) and not ifp.flags & IFF_UP:
                # if_alloc leaves a new interface's link state unknown until the driver
                # sets it: vxlan_init's if_link_state_change(ifp, LINK_STATE_UP)
                journal.setattr(ifp, "link_state", LINK_STATE_UNKNOWN)
            if ifp.flags & IFF_UP:          # restored (--state) up: running again
                self.sync_vxlan(ifp)
        if isinstance(device, BridgeDevice):
            self.link.bridges.append(device)
            journal.record(self.link.bridges.remove, device)
        if isinstance(device, EpairDevice):
            # the other end: created with this one (or, restored, found with its device)
            peer = self.stack.by_name.get(ifp.params.get("peer") or "")
            if peer is not None:
                if peer.device is None:
                    self.created(peer)
                other = self._unwrapped(peer.device)
                if isinstance(other, EpairDevice):
                    EpairDevice.link(device, other)

    def sync_vxlan(self, ifp) -> None:
        """Inside the request's transaction: a vxlan clone that is up gets its socket
        (vxlan_init), one that is down loses it (vxlan_teardown).  A failed init leaves the
        interface up and not RUNNING, and its messages go to the stack's log (stderr, the
        console) as the kernel's if_printf does, once the change commits."""
        device = ifp.device
        while isinstance(device, PcapTap):
            device = device.device
        if not isinstance(device, VxlanClone):
            return
        journal = self.stack.journal
        if ifp.flags & IFF_UP:
            if device.running:
                return
            lines = device.init(dict(ifp.params), VXLAN_PORT)
            if lines:
                journal.setattr(ifp, "flags", ifp.flags & ~IFF_RUNNING)
                self._link_state(ifp, LINK_STATE_DOWN if ifp.link_state == LINK_STATE_UP
                                 else ifp.link_state)
                name = ifp.name
                journal.on_commit(self._log, [f"{name}: {line}" for line in lines])
                return
            journal.record(self._vxlan_down, ifp, device)      # rolled back: closed again
            journal.setattr(ifp, "flags", ifp.flags | IFF_RUNNING)
            self._link_state(ifp, LINK_STATE_UP)
            self.link.attach(ifp, ifp.device)                  # the new socket is polled
        elif device.running:
            self._link_state(ifp, LINK_STATE_DOWN)             # vxlan_teardown_locked
            journal.on_commit(self._vxlan_down, ifp, device)

    def _link_state(self, ifp, state: int) -> None:
        """if_link_state_change: the new state, and RTM_IFINFO telling it."""
        if ifp.link_state != state:
            self.stack.journal.setattr(ifp, "link_state", state)
            self.stack._ifinfo(ifp)
            self.laggs.port_link(ifp)       # a lagg port's link: the lagg's follows

    def ioctl_drvspec(self, args):
        """SIOCSDRVSPEC {ifname, param, value}: a vxlan parameter changed after create
        (ifvxlan.c's VXLAN_CMD_SET_*).  vxlan_can_change_config refuses while the interface
        runs (EBUSY); the new value is used at the next vxlan_init.  Other interfaces have no
        such driver command: ifconfig's vxlan_exists() finds none and sets nothing."""
        ifp = self.stack.ifunit(arg(args, "ifname", str))
        param = arg(args, "param", str)
        if ifp.cloner != "vxlan":
            return None
        device = ifp.device
        while isinstance(device, PcapTap):
            device = device.device
        if isinstance(device, VxlanClone) and device.running:
            raise OpError(EBUSY)
        self.stack.journal.setitem(ifp.params, param, args.get("value"))
        return None

    @staticmethod
    def _vxlan_down(ifp, device) -> None:
        device.detach()
        device.teardown()

    @staticmethod
    def _log(lines) -> None:
        for line in lines:
            print(line, file=sys.stderr, flush=True)

    @staticmethod
    def _unwrapped(device):
        """The device under a capture."""
        return getattr(device, "device", device) if isinstance(device, _Capture) else device

    def _clone_device(self, ifp):
        p = ifp.params
        if ifp.flags & IFF_LOOPBACK:
            return LoopbackDevice(ifp.name)
        if ifp.cloner == "tap":
            # the kernel side: named by params, else unique to this stack (two stacks may
            # both have a tap0); brought up only inside a namespace the caller named
            netns = p.get("netns") or None
            kname = str(p.get("tapname") or f"pl{self.pid}{ifp.name}"[:15])
            return TapDevice(kname, name=ifp.name, netns=netns, up=netns is not None)
        if ifp.cloner == "vlan":
            return VlanDevice(ifp.name, self.link, ifp)
        if ifp.cloner == "bridge":
            return BridgeDevice(ifp.name, self.link, ifp)
        if ifp.cloner == "epair":
            return EpairDevice(ifp.name)
        if ifp.cloner == "lagg":
            return self.laggs.created(ifp)
        if ifp.cloner == "gif":
            return GifDevice(ifp.name)
        if ifp.cloner == "vxlan":
            return VxlanClone(ifp.name, netns=p.get("netns") or None)
        return NullDevice(ifp.name)

    def destroyed(self, ifp) -> None:
        """The interface is going: its device closes when the change commits.  A lagg's
        ports are released first; a port leaves its lagg."""
        if is_lagg(ifp):
            for port in [p for p in self.stack.ifaces if lagg_of(self.stack, p) is ifp]:
                self.laggs.release(ifp, port)
            self.stack.journal.on_commit(self.laggs.rewire)
        else:
            lagg = lagg_of(self.stack, ifp)
            if lagg is not None:
                self.laggs.release(lagg, ifp)
        self.stack.journal.on_commit(self.dhcp.forget, ifp)
        self.stack.journal.on_commit(self._close, ifp)

    def _close(self, ifp) -> None:
        self.stop_capture(ifp.name)
        if ifp.device in self.link.bridges:
            self.link.bridges.remove(ifp.device)
        self.link.detach(ifp)

    def close(self) -> None:
        self.dhcp.close()               # RELEASEs go out while the devices are still open
        if self._dad_timer is not None:
            self._dad_timer.cancel()
            self._dad_timer = None
        for ifp in list(self.stack.ifaces):
            self._close(ifp)

    # -- captures ----------------------------------------------------------------------------
    def start_capture(self, ifname: str, path: str, count: int = 0, on_done=None):
        ifp = self.stack.ifunit(ifname)
        if ifp.device is None:
            raise OpError(ENXIO, f"{ifname}: no device to capture on")
        if ifname in self.captures:
            raise OpError(EBUSY, f"{ifname}: a capture is already running")
        try:
            cap = _Capture(ifp.device, path, count, lambda: self._capture_full(ifname))
        except OSError as exc:
            raise _kernel_error(exc, path) from None
        cap.on_done = on_done
        ifp.device = cap
        self.captures[ifname] = cap
        return cap

    def _capture_full(self, ifname: str) -> None:
        cap = self.captures.get(ifname)
        if cap is not None:
            self.loop.call_soon(self.stop_capture, ifname)

    def stop_capture(self, ifname: str):
        cap = self.captures.pop(ifname, None)
        if cap is None:
            return None
        for ifp in self.stack.ifaces:
            if ifp.device is cap:
                ifp.device = cap.device
        cap.writer.close()
        if cap.on_done:
            done, cap.on_done = cap.on_done, None
            done(cap.writer.count)
        return cap.writer.count

    # -- ops ---------------------------------------------------------------------------------
    def op_ping(self, args):
        """{dst, src?, count?, interval?, size?, ttl?, timeout?, waittime? (s), af?,
        minmtu?}: streams the events of ping.py, then {"transmitted", "received"}.  af
        "inet6" (or a dst with a colon) pings with ICMPv6; ttl is then the hop limit, a
        %zone names the interface of a link-local dst or src, minmtu the IPV6_USE_MIN_MTU
        level (-1 by default: the minimum MTU for multicast only)."""
        dst_text = args.get("dst")
        if args.get("af") == "inet6" or type(dst_text) is str and ":" in dst_text:
            return self._op_ping6(args)
        dst = addr4(args.get("dst"))
        src = args.get("src")
        src = addr4(src) if src is not None else None
        if src is not None and src not in self._local_addrs():
            raise OpError(49, "bind: Can't assign requested address")
        number = partial(_number, args)
        params = dict(dst=dst, src=src, count=arg(args, "count", int, 0),
                      interval=float(number("interval", 1.0)), size=arg(args, "size", int, 56),
                      ttl=arg(args, "ttl", int, 64), timeout=float(number("timeout", 0) or 0),
                      waittime=number("waittime", None))
        return self._ping_deferred(params)

    def _ping_deferred(self, params):
        holder = {}

        def start(push, finish, fail):
            session = PingSession(self.ip, self.loop, push=push, finish=finish, **params)
            holder["s"] = session
            session.start()

        def cancel():
            if "s" in holder:
                holder["s"].cancel()

        def resume():
            if "s" in holder:
                holder["s"].resume()

        PingSession(self.ip, self.loop, push=None, finish=None, **params)   # validates
        return Deferred(start, cancel, resume)

    def _op_ping6(self, args):
        ends = self._ends6(args)
        number = partial(_number, args)
        params = dict(count=arg(args, "count", int, 0),
                      interval=float(number("interval", 1.0)), size=arg(args, "size", int, 8),
                      ttl=arg(args, "ttl", int, 64), timeout=float(number("timeout", 0) or 0),
                      waittime=number("waittime", None),
                      minmtu=arg(args, "minmtu", int, -1), **ends)
        return self._ping_deferred(params)

    def op_traceroute(self, args):
        """{dst, src?, af?, first_ttl?, max_ttl?, nprobes?, waittime? (s), icmp?, port?,
        size?, df?}: probes with a growing TTL (hop limit), streaming the events of
        traceroute.py.  size: the IP packet's length (IPv4, 40 by default; 48 with icmp) or
        the probe's upper-layer length (IPv6, 20 by default)."""
        dst_text = args.get("dst")
        v6 = args.get("af") == "inet6" or type(dst_text) is str and ":" in dst_text
        icmp_probes = arg(args, "icmp", bool, False)
        number = partial(_number, args)
        params = dict(first_ttl=arg(args, "first_ttl", int, 1),
                      max_ttl=arg(args, "max_ttl", int, 64),
                      nprobes=arg(args, "nprobes", int, 3),
                      waittime=float(number("waittime", 5.0)),
                      icmp_probes=icmp_probes, port=arg(args, "port", int, DEFAULT_PORT),
                      df=arg(args, "df", bool, False))
        if v6:
            params.update(self._ends6(args), size=arg(args, "size", int, 20))
        else:
            dst = addr4(dst_text)
            src = args.get("src")
            src = addr4(src) if src is not None else None
            if src is not None and src not in self._local_addrs():
                raise OpError(EADDRNOTAVAIL, f"bind: {strerror(EADDRNOTAVAIL)}")
            if src is None:
                r = self.ip.route(dst)
                if r is None or r.flags & RTF_REJECT:
                    raise OpError(EHOSTUNREACH, f"findsaddr: write: {strerror(EHOSTUNREACH)}")
            params.update(dst=dst, src=src, src_name=args.get("src") or "",
                          size=arg(args, "size", int, 48 if icmp_probes else 40))
        holder = {}

        def start(push, finish, fail):
            session = TracerouteSession(self.ip, self.loop, push=push, finish=finish,
                                        **params)
            holder["s"] = session
            session.start()

        def cancel():
            if "s" in holder:
                holder["s"].cancel()

        TracerouteSession(self.ip, self.loop, push=None, finish=None, **params)   # validates
        return Deferred(start, cancel)

    def _ends6(self, args) -> dict:
        """ping6's and traceroute6's destination and source: the source the kernel would bind
        connecting a UDP socket to dst, else -s, which must be ours (a link-local source's
        zone then serves a scoped destination given without one)."""
        dst_int, zone = strip_scope(self._addr6(args.get("dst")))
        dst = dst_int.to_bytes(16, "big")
        src_arg = args.get("src")
        if src_arg is not None:
            src_int, src_zone = strip_scope(self._addr6(src_arg))
            ifa = next((a for ifp in self.stack.ifaces for a in ifp.addrs
                        if a.af == AF_INET6 and a.addr == src_int
                        and (not src_zone or a.scopeid == src_zone)), None)
            if ifa is None or ifa.flags & (IN6_IFF_ANYCAST | IN6_IFF_TENTATIVE
                                           | IN6_IFF_DUPLICATED):
                raise OpError(EADDRNOTAVAIL, f"bind: {strerror(EADDRNOTAVAIL)}")
            src = src_int.to_bytes(16, "big")
            if ifa.scopeid and not zone and is_scoped6(dst_int):
                zone = ifa.scopeid
        else:
            src = self._source6(dst, zone)
        src_name = self.stack.key_text(AF_INET6, embed_scope(int.from_bytes(src, "big"), zone))
        return dict(dst=dst, src=src, zone=zone, src_name=src_name, ip6=self.ip6)

    def _addr6(self, text) -> int:
        """IPv6 text with an optional %ifname zone to a key with the zone embedded."""
        if type(text) is not str:
            raise OpError(EINVAL, "address must be a string")
        addr, _, zone = text.partition("%")
        value = pton6(addr)
        if zone:
            value = embed_scope(value, self.stack.ifunit(zone).index)
        return value

    def _source6(self, dst: bytes, zone: int) -> bytes:
        """The source the kernel would bind for dst (ping6's UDP connect), or the errno."""
        ip6 = self.ip6
        if dst[0] == 0xFF:
            ifp = self.stack.by_index(zone) if zone else None
            src = ip6.source_on(ifp, dst) if ifp is not None else None
        else:
            d = int.from_bytes(dst, "big")
            r = ip6.route(embed_scope(d, zone) if zone else d)
            if r is None or r.flags & RTF_REJECT:
                raise OpError(EHOSTUNREACH, f"UDP connect: {strerror(EHOSTUNREACH)}")
            if r.flags & RTF_BLACKHOLE or r.ifp.flags & IFF_LOOPBACK:
                ifp = r.ifa.ifp if r.ifa is not None else r.ifp
            else:
                ifp = r.ifp
            src = ip6.source_on(ifp, dst)
        if src is None:
            raise OpError(EADDRNOTAVAIL, f"UDP connect: {strerror(EADDRNOTAVAIL)}")
        return src

    def _local_addrs(self):
        return {a.addr for ifp in self.stack.ifaces for a in ifp.addrs if a.af == 2}

    def op_pcap(self, args):
        """{ifname, file, count?}: capture to a pcap file until count packets (0: until the
        client goes away); streams {"listening", "linktype"} first, ends with {"captured"}."""
        ifname = arg(args, "ifname", str)
        path = arg(args, "file", str)
        count = arg(args, "count", int, 0)
        self.stack.ifunit(ifname)
        if not os.path.isabs(path):
            raise OpError(EINVAL, "file must be an absolute path")
        state = {}

        def start(push, finish, fail):
            try:
                cap = self.start_capture(ifname, path, count,
                                         lambda n: finish({"captured": n}))
            except OpError as exc:
                fail(exc)
                return
            state["cap"] = cap
            push({"listening": ifname, "linktype": cap.linktype})

        def cancel():
            if "cap" in state:
                state["cap"].on_done = None
                if self.captures.get(ifname) is state["cap"]:
                    self.stop_capture(ifname)

        return Deferred(start, cancel)


class GifDevice(NullDevice):
    """gif(4)'s device: what the interface sends is encapsulated by IPv4.tunnel_output
    (in an IPv4 or IPv6 header) before any device sees it, what it receives is handed up
    by IPv4.gif_input; the device itself never carries a frame."""
    kind = "gif"


class _Capture(PcapTap):
    """A PcapTap that stops itself after `count` packets (0: never)."""

    def __init__(self, device, path, count, full):
        super().__init__(device, path)
        self.limit = count
        self.full = full
        self.on_done = None
        # lo0 hands back what it is given: record each packet once, as bpf on lo0 does
        self.record_sent = device.kind != "loopback"

    def recv(self):
        frame = self.device.recv()
        if frame is not None:
            self._record(frame)
        return frame

    def send(self, frame) -> None:
        if self.record_sent:
            self._record(frame)
        self.device.send(frame)

    def _record(self, frame) -> None:
        if self.limit and self.writer.count >= self.limit:
            return
        self.writer.write(frame)
        if self.limit and self.writer.count >= self.limit:
            self.full()
