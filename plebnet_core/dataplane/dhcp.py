"""The stack's DHCPv4 client (RFC 2131): what dhclient(8) and dhclient-script(8) do for an
interface on FreeBSD, run in the stack's own event loop.

    clients = DhcpClients(dataplane, syscalls)   # registers the "dhclient" op
    op dhclient {ifname, sync?}: start (or restart) the client on ifname when the batch commits
    clients.wait_sync(deadline)                  # boot: run the loop until SYNCDHCP leases

States: INIT (DISCOVER, broadcast) -> SELECTING (first OFFER taken) -> REQUESTING (REQUEST,
broadcast) -> BOUND (ACK: the lease applied) -> RENEWING at T1 (REQUEST unicast to the
server) -> REBINDING at T2 (REQUEST broadcast) -> the lease expires: removed, INIT again.
A NAK anywhere drops the lease and starts over.  Retransmissions back off as FreeBSD's
dhclient does (initial interval 1 s, doubling, cut off at 15 s).

Applying a lease is what dhclient-script does, as ops through Syscalls.run_batch (one
transaction): `ifconfig IF inet ADDR netmask MASK broadcast BCAST` (replacing the first
address) when the address is new, then `route delete default; route add default ROUTER`
for the first router (option 3) when the default route is absent or already on this
interface (is_default_interface).  On expiry or NAK the address and that default route go
again; at stack exit a RELEASE goes to the server (dhclient -r).  `ifconfig IF down` does not
release (dhclient keeps its lease over a link flap).

Before an address, messages leave as 0.0.0.0 -> 255.255.255.255 Ethernet broadcasts with the
BOOTP broadcast flag set, so that servers answer by broadcast too (we accept no unicast for
an address we do not have yet).  ifp.dhcp holds what the dumps show: {"sync", "state",
"addr", "plen", "router", "server", "lease", "expires"}.
"""
from __future__ import annotations

import random
import sys

from plebproto.constants import AF_INET, EINVAL, IFF_LOOPBACK, IFF_UP
from plebproto.errors import OpError

from .wire import WireError, ethernet, ipv4, udp
from .wire import dhcp as wire

INITIAL_INTERVAL = 1.0      # dhclient.conf initial-interval
BACKOFF_CUTOFF = 15.0       # backoff-cutoff
SELECT_TIMEOUT = 60.0       # timeout: give up REQUESTING, start over
RETRY_INTERVAL = 300.0      # retry: after a full cycle without a lease (FreeBSD: 5 min)
RELEASE_WAIT = 1.0          # at exit: how long a RELEASE may wait for ARP
RELEASE_GRACE = 0.2         # ... and for the peer to read it before our devices close
MIN_RENEW_WAIT = 1.0        # floor for RENEWING/REBINDING retransmissions (short leases)
PARAMS = bytes((wire.OPT_SUBNET_MASK, wire.OPT_BROADCAST, wire.OPT_ROUTERS, wire.OPT_DNS,
                wire.OPT_DOMAIN, wire.OPT_HOSTNAME, wire.OPT_LEASE_TIME,
                wire.OPT_RENEWAL_TIME, wire.OPT_REBINDING_TIME))
ZERO = bytes(4)
ALL_ONES = b"\xff" * 4
ESRCH = 3


def _a(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _plen(mask: bytes) -> int:
    value = int.from_bytes(mask, "big")
    plen = bin(value).count("1")
    if value != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
        raise ValueError("non-contiguous netmask")
    return plen


def _classful(addr: bytes) -> int:
    """The mask dhclient assumes when a server sends none (class of the address)."""
    return 8 if addr[0] < 128 else 16 if addr[0] < 192 else 24


class Client:
    """One interface's DHCP client."""

    def __init__(self, owner: "DhcpClients", ifp, sync: bool):
        self.owner = owner
        self.ifp = ifp
        self.loop = owner.loop
        self.sync = sync
        self.state = "INIT"
        self.xid = 0
        self.timer = None
        self.interval = INITIAL_INTERVAL
        self.started = 0.0          # of this exchange (secs field)
        self.offer = None           # the OFFER being requested
        self.lease = None           # the ACK that is applied
        self.applied = None         # (addr, plen, router): what the stack has from us
        self.t1 = self.t2 = self.expiry = 0.0
        self.info = {"sync": sync, "state": "INIT", "addr": None, "plen": None,
                     "router": None, "server": None, "lease": None, "expires": None}

    # -- timers / state ------------------------------------------------------------------------
    def _set_timer(self, delay: float, fn) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(max(delay, 0.0), fn)

    def _state(self, state: str) -> None:
        self.state = state
        self.info["state"] = state

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def start(self) -> None:
        self._state("INIT")
        self.xid = random.getrandbits(32)
        self.interval = INITIAL_INTERVAL
        self.started = self.loop.clock()
        self.offer = None
        self._discover()

    def _backoff(self) -> float:
        """dhclient's: the interval doubles with jitter, capped by backoff-cutoff."""
        wait = self.interval
        self.interval = min(self.interval * 2 + random.random(), BACKOFF_CUTOFF)
        return wait

    def _discover(self) -> None:
        if self.state != "INIT":
            return
        if self.loop.clock() - self.started > SELECT_TIMEOUT:   # nothing answered: rest
            self.started = self.loop.clock() + RETRY_INTERVAL
            self._set_timer(RETRY_INTERVAL, self.start)
            return
        self._send_broadcast(wire.DISCOVER, [])
        self._set_timer(self._backoff(), self._discover)

    def _request(self) -> None:
        if self.state != "REQUESTING":
            return
        if self.loop.clock() - self.started > SELECT_TIMEOUT:
            self.start()
            return
        o = self.offer
        self._send_broadcast(wire.REQUEST, [
            (wire.OPT_REQUESTED_IP, o.yiaddr),
            (wire.OPT_SERVER_ID, o.addr_option(wire.OPT_SERVER_ID))])
        self._set_timer(self._backoff(), self._request)

    def _renew(self) -> None:
        """T1: ask the server that gave the lease, by unicast from the leased address."""
        if self.state not in ("BOUND", "RENEWING"):
            return
        self._state("RENEWING")
        now = self.loop.clock()
        if now >= self.t2:
            self._rebind()
            return
        self._send_unicast(wire.REQUEST)
        self._set_timer(min(max((self.t2 - now) / 2, MIN_RENEW_WAIT), self.t2 - now),
                        self._renew)

    def _rebind(self) -> None:
        """T2: ask any server, by broadcast (ciaddr set: no requested-IP, no server id)."""
        if self.state not in ("RENEWING", "REBINDING", "BOUND"):
            return
        self._state("REBINDING")
        now = self.loop.clock()
        if now >= self.expiry:
            self._expire()
            return
        self._send_broadcast(wire.REQUEST, [], ciaddr=self.lease.yiaddr)
        self._set_timer(min(max((self.expiry - now) / 2, MIN_RENEW_WAIT), self.expiry - now),
                        self._rebind)

    def _expire(self) -> None:
        self.owner.log(f"{self.ifp.name}: lease of {_a(self.lease.yiaddr)} expired")
        self._unapply()
        self.start()

    # -- messages ------------------------------------------------------------------------------
    def _message(self, msg_type: int, extra, ciaddr: bytes = ZERO, broadcast: bool = True):
        mac = self.ifp.mac
        options = [(wire.OPT_MSG_TYPE, bytes((msg_type,))),
                   (wire.OPT_CLIENT_ID, b"\x01" + mac)]
        options += [(c, v) for c, v in extra if v is not None]
        if msg_type in (wire.DISCOVER, wire.REQUEST):
            options.append((wire.OPT_PARAM_REQUEST, PARAMS))
        secs = min(int(self.loop.clock() - self.started), 0xFFFF) if self.started else 0
        return wire.emit(wire.BOOTREQUEST, self.xid, mac, options, ciaddr=ciaddr,
                         flags=wire.FLAG_BROADCAST if broadcast else 0, secs=max(secs, 0))

    def _send_broadcast(self, msg_type: int, extra, ciaddr: bytes = ZERO) -> None:
        ifp = self.ifp
        if ifp.device is None or ifp.mac is None:
            return
        payload = self._message(msg_type, extra, ciaddr, broadcast=ciaddr == ZERO)
        src = ciaddr
        seg = udp.emit(src, ALL_ONES, wire.CLIENT_PORT, wire.SERVER_PORT, payload)
        pkt = ipv4.header(src, ALL_ONES, ipv4.PROTO_UDP, len(seg), ttl=64, tos=0x10,
                          ident=self.owner.ip.next_ident()) + seg
        link = self.owner.link
        frame = ethernet.header(ethernet.BROADCAST, ifp.mac, ethernet.ETHERTYPE_IPV4) + pkt
        if ifp.flags & IFF_UP:          # as dhclient's bpf write: only on an up interface
            link.xmit(ifp, frame)

    def _send_unicast(self, msg_type: int) -> None:
        lease = self.lease
        server = lease.addr_option(wire.OPT_SERVER_ID) or lease.siaddr
        payload = self._message(msg_type, [], ciaddr=lease.yiaddr, broadcast=False)
        self.owner.ip.output(lease.yiaddr, server, ipv4.PROTO_UDP,
                             udp.emit(lease.yiaddr, server, wire.CLIENT_PORT,
                                      wire.SERVER_PORT, payload))

    def release(self) -> None:
        if self.lease is not None and self.state in ("BOUND", "RENEWING", "REBINDING"):
            lease = self.lease
            server = lease.addr_option(wire.OPT_SERVER_ID)
            if server is not None:
                payload = self._message(wire.RELEASE, [(wire.OPT_SERVER_ID, server)],
                                        ciaddr=lease.yiaddr, broadcast=False)
                self.owner.ip.output(lease.yiaddr, server, ipv4.PROTO_UDP,
                                     udp.emit(lease.yiaddr, server, wire.CLIENT_PORT,
                                              wire.SERVER_PORT, payload))
        self.stop()

    def input(self, m) -> None:
        t = m.msg_type
        if t == wire.OFFER and self.state == "INIT":
            if m.yiaddr == ZERO or m.addr_option(wire.OPT_SERVER_ID) is None:
                return
            self.offer = m
            self._state("REQUESTING")        # SELECTING ends with the first offer
            self.interval = INITIAL_INTERVAL
            self._request()
        elif t == wire.ACK and self.state in ("REQUESTING", "RENEWING", "REBINDING"):
            if m.yiaddr == ZERO:
                return
            self._bind(m)
        elif t == wire.NAK and self.state in ("REQUESTING", "RENEWING", "REBINDING"):
            self.owner.log(f"{self.ifp.name}: DHCPNAK")
            self._unapply()
            self.start()

    # -- the lease -----------------------------------------------------------------------------
    def _bind(self, m) -> None:
        now = self.loop.clock()
        lease_time = m.u32_option(wire.OPT_LEASE_TIME)
        if lease_time is None:
            lease_time = 43200      # dhclient's default-lease-time when the server says none
        t1 = m.u32_option(wire.OPT_RENEWAL_TIME)
        t2 = m.u32_option(wire.OPT_REBINDING_TIME)
        t1 = lease_time / 2 if t1 is None or t1 >= lease_time else t1
        t2 = lease_time * 7 / 8 if t2 is None or t2 >= lease_time or t2 < t1 else t2
        mask = m.addr_option(wire.OPT_SUBNET_MASK)
        try:
            plen = _plen(mask) if mask is not None else _classful(m.yiaddr)
        except ValueError:
            plen = _classful(m.yiaddr)
        routers = m.addrs_option(wire.OPT_ROUTERS)
        router = routers[0] if routers else None
        bcast = m.addr_option(wire.OPT_BROADCAST)
        if bcast is None:
            host = (1 << (32 - plen)) - 1
            bcast = (int.from_bytes(m.yiaddr, "big") | host).to_bytes(4, "big")
        if not self._apply(m.yiaddr, plen, bcast, router):
            self.start()
            return
        self.lease = m
        self._state("BOUND")
        self.t1, self.t2, self.expiry = now + t1, now + t2, now + lease_time
        self.info.update(addr=_a(m.yiaddr), plen=plen,
                         router=_a(router) if router else None,
                         server=_a(m.addr_option(wire.OPT_SERVER_ID) or m.siaddr),
                         lease=lease_time, expires=self.expiry)
        self.owner.bound(self)
        self._set_timer(t1, self._renew)

    def _apply(self, addr: bytes, plen: int, bcast: bytes, router: bytes | None) -> bool:
        """dhclient-script BOUND/RENEW/REBIND: the address when it is new, the default
        route when this interface may own it.  False: the stack refused (reported)."""
        name = self.ifp.name
        new = (_a(addr), plen, _a(router) if router else None)
        entries = []
        old = self.applied
        if old is None or old[:2] != new[:2]:
            if old is not None:
                entries.append(["ioctl", {"req": "SIOCDIFADDR", "ifname": name,
                                          "addr": old[0]}, [49]])
            # `ifconfig IF inet ADDR netmask MASK broadcast BCAST`: replaces the first address
            entries.append(["ioctl", {"req": "SIOCDIFADDR", "ifname": name}, [49]])
            entries.append(["ioctl", {"req": "SIOCAIFADDR", "ifname": name, "addr": new[0],
                                      "plen": plen, "broadcast": _a(bcast)}])
        if new[2] is not None and (old is None or old[2] != new[2] or old[:2] != new[:2]) \
                and self.owner.default_is(self.ifp):
            entries.append(["rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": "0.0.0.0",
                                      "plen": 0}, [ESRCH]])
            entries.append(["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "0.0.0.0",
                                      "plen": 0, "gateway": new[2]}])
        if entries:
            try:
                self.owner.syscalls.run_batch(entries)
            except OpError as exc:
                self.owner.log(f"{name}: lease of {new[0]} not applied: {exc}")
                return False
        self.applied = new
        return True

    def _unapply(self) -> None:
        """dhclient-script EXPIRE/FAIL/RELEASE: the address and our default route go."""
        old, self.applied, self.lease = self.applied, None, None
        self.info.update(addr=None, plen=None, router=None, server=None, lease=None,
                         expires=None)
        if old is None or self.owner.stack.by_name.get(self.ifp.name) is not self.ifp:
            return
        entries = [["ioctl", {"req": "SIOCDIFADDR", "ifname": self.ifp.name,
                              "addr": old[0]}, [49]]]
        if old[2] is not None and self.owner.default_via(old[2], self.ifp):
            entries.insert(0, ["rtmsg", {"type": "RTM_DELETE", "af": "inet",
                                         "dst": "0.0.0.0", "plen": 0}, [ESRCH]])
        try:
            self.owner.syscalls.run_batch(entries)
        except OpError as exc:
            self.owner.log(f"{self.ifp.name}: lease of {old[0]} not removed: {exc}")


class DhcpClients:
    """Every interface's client, the UDP port 68 they share, and the "dhclient" op."""

    def __init__(self, plane, syscalls):
        self.plane = plane
        self.stack = plane.stack
        self.loop = plane.loop
        self.link = plane.link
        self.ip = plane.ip
        self.syscalls = syscalls
        self.clients: dict[int, Client] = {}        # by interface index
        self.ip.udp_ports[wire.CLIENT_PORT] = self.udp_input
        if syscalls is not None:
            syscalls.register("dhclient", self.op_dhclient)

    @staticmethod
    def log(message: str) -> None:
        print(f"plebnet: dhclient: {message}", file=sys.stderr, flush=True)

    def op_dhclient(self, args):
        """{ifname, sync?}: run the DHCP client on the interface (restarted if it runs)."""
        name = args.get("ifname")
        if type(name) is not str:
            raise OpError(EINVAL, "argument 'ifname' must be a string")
        ifp = self.stack.ifunit(name)
        if ifp.flags & IFF_LOOPBACK or ifp.mac is None:
            raise OpError(EINVAL, f"{name}: not an Ethernet interface")
        sync = bool(args.get("sync", False))
        running = self.clients.get(ifp.index)
        if running is not None and running.ifp is ifp:
            # rc.d/dhclient: "already running" -- applying rc.conf again keeps the lease
            self.stack.journal.setattr(ifp, "dhcp", {**running.info, "sync": sync})
            if not self.syscalls.dry_running:
                self.stack.journal.on_commit(self._resync, running, sync)
            return
        self.stack.journal.setattr(ifp, "dhcp", {"sync": sync, "state": "INIT", "addr": None,
                                                "plen": None, "router": None,
                                                "server": None, "lease": None,
                                                "expires": None})
        if not self.syscalls.dry_running:
            self.stack.journal.on_commit(self._start, ifp, sync)

    @staticmethod
    def _resync(client, sync: bool) -> None:
        client.sync = sync
        client.info["sync"] = sync
        client.ifp.dhcp = client.info

    def _start(self, ifp, sync: bool) -> None:
        old = self.clients.pop(ifp.index, None)
        if old is not None:
            old.stop()
        client = Client(self, ifp, sync)
        if old is not None:             # a restart keeps what the stack has from the old one
            client.applied = old.applied
        ifp.dhcp = client.info
        self.clients[ifp.index] = client
        client.start()

    def udp_input(self, src: bytes, sport: int, dst: bytes, payload) -> None:
        if sport != wire.SERVER_PORT:
            return
        try:
            m = wire.parse(payload)
        except WireError:
            return
        if m.op != wire.BOOTREPLY:
            return
        for index, client in list(self.clients.items()):
            if client.xid == m.xid and client.ifp.mac == m.chaddr:
                if self.stack.by_name.get(client.ifp.name) is not client.ifp:
                    client.stop()                   # the interface went away
                    del self.clients[index]
                    return
                client.input(m)
                return

    def forget(self, ifp) -> None:
        """The interface is destroyed: its client stops (the address and routes went with
        the interface, so a RELEASE can leave only while another route reaches the server)."""
        client = self.clients.pop(ifp.index, None)
        if client is not None and client.ifp is ifp:
            client.release()

    def default_is(self, ifp) -> bool:
        """dhclient-script's is_default_interface: no default route, or one out of ifp."""
        paths = self.stack.rt[AF_INET].exact(0, 0)
        return not paths or paths[0].ifp is ifp

    def default_via(self, router: str, ifp) -> bool:
        gw = int.from_bytes(bytes(int(x) for x in router.split(".")), "big")
        return any(p.ifp is ifp and p.gateway == gw
                   for p in self.stack.rt[AF_INET].exact(0, 0) or ())

    def bound(self, client) -> None:
        self.log(f"{client.ifp.name}: bound to {client.info['addr']} -- renewal in "
                 f"{int(client.t1 - self.loop.clock())} seconds.")

    def pending_sync(self) -> list[Client]:
        return [c for c in self.clients.values() if c.sync and c.state != "BOUND"]

    def wait_sync(self, timeout: float) -> None:
        """Boot with SYNCDHCP: run the loop until those clients are bound, at most timeout
        seconds (dhclient's own timeout before it goes to the background)."""
        deadline = self.loop.clock() + timeout
        while self.pending_sync():
            left = deadline - self.loop.clock()
            if left <= 0:
                for c in self.pending_sync():
                    self.log(f"{c.ifp.name}: no lease after {int(timeout)} seconds; "
                             "continuing in the background")
                return
            self.loop.run_once(min(left, 0.2))

    def close(self) -> None:
        """The stack exits: RELEASE every lease (dhclient -r), stop every client.  A server
        never talked to by unicast needs ARP first: the loop runs a little longer (at most
        RELEASE_WAIT) for those RELEASEs to leave."""
        waiting = []
        for client in self.clients.values():
            server = client.lease.addr_option(wire.OPT_SERVER_ID) if client.lease else None
            try:
                client.release()
            except Exception:               # a failing send must not stop the shutdown
                continue
            if server is not None:
                waiting.append((client.ifp, int.from_bytes(server, "big")))
        self.clients.clear()
        if not waiting:
            return
        deadline = self.loop.clock() + RELEASE_WAIT
        while self.loop.clock() < deadline and any(
                (e := ifp.llinfo.get(addr)) is not None and e.hold for ifp, addr in waiting):
            self.loop.run_once(0.05)
        # a TAP's kernel side vanishes with our fd, and with it what it had not yet handed
        # to the server's socket: give the RELEASE a moment to be taken
        grace = self.loop.clock() + RELEASE_GRACE
        while self.loop.clock() < grace:
            self.loop.run_once(grace - self.loop.clock())

