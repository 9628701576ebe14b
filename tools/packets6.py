"""Malformed IPv6 into a live stack: frames of known-bad IPv6, ICMPv6, Neighbor Discovery,
router advertisement, fragment, extension header and packet-too-big shapes (each with random
fields), sent over Ethernet-over-UDP (VXLAN framing on 127.0.0.1) from a peer the stack knows
statically.  Every frame must be counted (ip6s_total), the stack must live, answer hello and
keep its invariants, and its IPv6 state (addresses and their flags, routes, neighbor cache,
default routers, prefixes, ND interface values, learned path MTUs) must be what it was.

Used by tools/fuzz.py (--packets6), tools/reliability_report.py and tests/test_fuzz.py.
Nothing here asserts: fuzz_packets6 returns figures, the callers judge them.
"""
from __future__ import annotations

import random
import socket
import struct
import time

from plebnet_core.dataplane.wire import ethernet, icmp6, ipv6, udp, vxlan
from plebnet_core.spawn import spawn_stack
from plebnet_core.state.check import fetch_and_check
from plebnet_core.state.inet import pton6
from plebproto.constants import IN6_IFF_TENTATIVE, ND6_IFF_ACCEPT_RTADV, RTF_STATIC
from tools.harness import Sandbox

VNI = 42
ME, PEER = "2001:db8:f::1", "2001:db8:f::2"
PEER_MAC = bytes.fromhex("02005e00f002")
BURST = 64                  # frames between two waits for the stack to have counted them


def _a(text: str) -> bytes:
    return pton6(text).to_bytes(16, "big")


class Ctx:
    """The addresses and MACs of the stack (me) and of the peer that sends."""

    def __init__(self, mac: bytes, me_ll: bytes):
        self.mac, self.me, self.me_ll = mac, _a(ME), me_ll
        self.peer, self.peer_ll = _a(PEER), ipv6.eui64_link_local(PEER_MAC)
        self.group = ipv6.solicited_node(self.me)


def _pkt(src, dst, nh, payload, hlim=64) -> bytes:
    return ipv6.emit(src, dst, nh, payload, hop_limit=hlim)


def _icmp(src, dst, type_, code, rest, body=b"", hlim=64) -> bytes:
    return _pkt(src, dst, 58, icmp6.emit(src, dst, type_, code, rest, body), hlim)


def _echo(c, rnd) -> bytes:
    data = rnd.randbytes(rnd.randrange(0, 64))
    return _pkt(c.peer, c.me, 58, icmp6.echo_request(c.peer, c.me, rnd.randrange(65536), 1, data))


def _ns(c, rnd, hlim=255, code=0, target=None, opts=None, src=None, dst=None) -> bytes:
    src = c.peer if src is None else src
    dst = c.group if dst is None else dst
    opts = icmp6.lladdr_option(icmp6.OPT_SOURCE_LLADDR, PEER_MAC) if opts is None else opts
    return _icmp(src, dst, icmp6.NEIGHBOR_SOLICIT, code, 0, (target or c.me) + opts, hlim)


def _na(c, rnd, hlim=255, code=0, target=None, flags=0x60, opts=None, dst=None) -> bytes:
    opts = icmp6.lladdr_option(icmp6.OPT_TARGET_LLADDR, PEER_MAC) if opts is None else opts
    return _icmp(c.peer, dst or c.me, icmp6.NEIGHBOR_ADVERT, code, flags << 24,
                 (target or c.peer) + opts, hlim)


def _ra(c, rnd, hlim=255, code=0, src=None, body=None) -> bytes:
    """An RA (a router for 1800 s, MTU 1400, source lladdr); body: what follows its
    hop limit, flags and lifetime instead of the reachable and retransmit times and
    options."""
    src = src or c.peer_ll
    msg = icmp6.router_advert(src, ipv6.ALL_NODES, mac=PEER_MAC, mtu=1400,
                              hop_limit=rnd.randrange(1, 256), lifetime=1800)
    return _icmp(src, ipv6.ALL_NODES, icmp6.ROUTER_ADVERT, code,
                 struct.unpack("!I", msg[4:8])[0], msg[8:] if body is None else body, hlim)


def _ours(c, rnd, size=1400) -> bytes:
    """A packet the stack could have sent (to the peer), for packet too big to quote."""
    return _pkt(c.me, c.peer, 58, icmp6.echo_request(c.me, c.peer, 9, 1, bytes(size)))


def _flip(packet: bytes, rnd, start: int) -> bytes:
    """One bit flipped at or after start: one's complement sums always notice one."""
    b = bytearray(packet)
    b[rnd.randrange(start, len(b))] ^= 1 << rnd.randrange(8)
    return bytes(b)


# -- the cases: each returns a list of IPv6 packets, every one of them bad -------------------
def garbage(c, rnd):
    kind = rnd.randrange(3)
    if kind == 0:                                       # shorter than a header
        return [rnd.randbytes(rnd.randrange(0, 40))]
    b = bytearray(rnd.randbytes(rnd.randrange(40, 120)))
    if kind == 1:                                       # not version 6
        b[0] = rnd.choice([0, 4, 5, 7, 15]) << 4 | b[0] & 15
    else:                                               # payload length past the end
        b[0] = 0x60 | b[0] & 15
        struct.pack_into("!H", b, 4, rnd.randrange(len(b) - 39, 65536))
    return [bytes(b)]


def truncated(c, rnd):
    seed = rnd.choice([_echo(c, rnd), _ns(c, rnd), _na(c, rnd), _ra(c, rnd),
                       _icmp(c.peer, c.me, 2, 0, 1280, _ours(c, rnd)[:1232])])
    return [seed[:rnd.randrange(0, len(seed))]]


def bad_checksum(c, rnd):
    seed = rnd.choice([_echo(c, rnd), _ns(c, rnd), _na(c, rnd), _ra(c, rnd),
                       _icmp(c.peer, c.me, 2, 0, 1280, _ours(c, rnd)[:1232]),
                       _pkt(c.peer, c.me, 17, udp.emit(c.peer, c.me, 4000, 7, b"echo"))])
    return [_flip(seed, rnd, 40)]


def nd_hop_limit(c, rnd):
    hlim = rnd.randrange(0, 255)
    return [rnd.choice([_ns(c, rnd, hlim=hlim), _na(c, rnd, hlim=hlim),
                        _ra(c, rnd, hlim=hlim),
                        _icmp(c.peer_ll, ipv6.ALL_ROUTERS, icmp6.ROUTER_SOLICIT, 0, 0, b"",
                              hlim)])]


def nd_code(c, rnd):
    code = rnd.randrange(1, 256)
    return [rnd.choice([_ns(c, rnd, code=code), _na(c, rnd, code=code),
                        _ra(c, rnd, code=code)])]


def ns_bad(c, rnd):
    kind = rnd.randrange(4)
    if kind == 0:                                       # a multicast target
        return [_ns(c, rnd, target=ipv6.ALL_NODES)]
    if kind == 1:                                       # DAD (from ::) with a source lladdr
        return [_ns(c, rnd, src=ipv6.UNSPECIFIED)]
    if kind == 2:                                       # an option of length 0
        return [_ns(c, rnd, opts=bytes((1, 0)) + bytes(6))]
    # shorter than an NS
    return [_icmp(c.peer, c.group, icmp6.NEIGHBOR_SOLICIT, 0, 0, rnd.randbytes(
        rnd.randrange(0, 16)), 255)]


def na_bad(c, rnd):
    kind = rnd.randrange(4)
    if kind == 0:
        return [_na(c, rnd, target=ipv6.ALL_NODES)]
    if kind == 1:                                       # solicited, to a group
        return [_na(c, rnd, dst=ipv6.ALL_NODES, flags=0x40)]
    if kind == 2:
        return [_na(c, rnd, opts=bytes((2, 0)) + bytes(6))]
    return [_icmp(c.peer, c.me, icmp6.NEIGHBOR_ADVERT, 0, 0, rnd.randbytes(
        rnd.randrange(0, 16)), 255)]


def ra_bad(c, rnd):
    kind = rnd.randrange(3)
    if kind == 0:                                       # not from a link-local address
        return [_ra(c, rnd, src=c.peer)]
    if kind == 1:                                       # an option of length 0
        return [_ra(c, rnd, body=bytes(8) + bytes((1, 0)) + bytes(6))]
    return [_ra(c, rnd, body=rnd.randbytes(rnd.randrange(0, 8)))]     # shorter than an RA


def fragments_bad(c, rnd):
    ident = rnd.randrange(1 << 32)
    data = icmp6.echo_request(c.peer, c.me, 3, 3, bytes(rnd.randrange(64, 600)))
    kind = rnd.randrange(3)
    if kind == 0:                                       # a non-final piece not 8n bytes
        n = rnd.randrange(1, 200) * 8 + rnd.randrange(1, 8)
        return [_pkt(c.peer, c.me, 44, ipv6.fragment_header(58, 0, True, ident) + data[:n])]
    if kind == 1:                                       # ends beyond 65535
        off = 65528
        return [_pkt(c.peer, c.me, 44, ipv6.fragment_header(58, off, False, ident)
                     + bytes(rnd.randrange(16, 64)))]
    # two overlapping pieces (RFC 5722: the datagram is dropped)
    first = ipv6.fragment_header(58, 0, True, ident) + data[:64]
    second = ipv6.fragment_header(58, 32, False, ident) + data[32:]
    return [_pkt(c.peer, c.me, 44, first), _pkt(c.peer, c.me, 44, second)]


def too_big_bad(c, rnd):
    kind = rnd.randrange(5)
    quote = _ours(c, rnd)[:1232]
    if kind == 0:                                       # a code other than 0
        return [_icmp(c.peer, c.me, 2, rnd.randrange(1, 256), 1280, quote)]
    if kind == 1:                                       # abnormally small
        return [_icmp(c.peer, c.me, 2, 0, rnd.randrange(0, 56), quote)]
    if kind == 2:                                       # about a packet we never sent
        other = _a("2001:db8:f::77")
        q = _pkt(other, c.peer, 58, bytes(1400))[:1232]
        return [_icmp(c.peer, c.me, 2, 0, 1280, q)]
    if kind == 3:                                       # no IPv6 header quoted
        return [_icmp(c.peer, c.me, 2, 0, 1280, quote[:rnd.randrange(0, 40)])]
    # not below the route's MTU
    return [_icmp(c.peer, c.me, 2, 0, rnd.randrange(1500, 1 << 32), quote)]


def ext_headers_bad(c, rnd):
    body = icmp6.echo_request(c.peer, c.me, 4, 4, b"x")
    kind = rnd.randrange(4)
    if kind == 0:                                       # hop-by-hop after another header
        return [_pkt(c.peer, c.me, 60, bytes((0, 0)) + bytes(6) + bytes((58, 0)) + bytes(6)
                     + body)]
    if kind == 1:                                       # unknown option, "discard" action
        opt = bytes((rnd.choice([0x80, 0xC0, 0x40]) | rnd.randrange(2, 32), 4)) + bytes(4)
        return [_pkt(c.peer, c.me, 60, bytes((58, 0)) + opt[:6] + body)]
    if kind == 2:                                       # routing header type 0, segments left
        return [_pkt(c.peer, c.me, 43, bytes((58, 2, 0, rnd.randrange(1, 3))) + bytes(20)
                     + body)]
    n = rnd.randrange(1, 4)                             # options running past the packet
    return [_pkt(c.peer, c.me, 60, bytes((58, n + 3)) + bytes(6) * n)]


def scope_bad(c, rnd):
    body = icmp6.echo_request(c.peer, c.me, 5, 5, b"y")
    kind = rnd.randrange(3)
    if kind == 0:                                       # from a multicast address
        return [_pkt(ipv6.ALL_NODES, c.me, 58, body)]
    if kind == 1:                                       # ::1 off lo0
        return [_pkt(c.peer, b"\0" * 15 + b"\1", 58, body)]
    return [_pkt(b"\0" * 15 + b"\1", c.me, 58, body)]


def udp_bad(c, rnd):
    u = bytearray(udp.emit(c.peer, c.me, 4000, 7, rnd.randbytes(rnd.randrange(1, 32))))
    if rnd.randrange(2):
        u[6:8] = b"\0\0"                                # no checksum: not allowed over IPv6
    else:
        u = bytearray(_flip(bytes(u), rnd, 0))
    return [_pkt(c.peer, c.me, 17, bytes(u))]


CASES = {f.__name__: f for f in (garbage, truncated, bad_checksum, nd_hop_limit, nd_code,
                                 ns_bad, na_bad, ra_bad, fragments_bad, too_big_bad,
                                 ext_headers_bad, scope_bad, udp_bad)}


def _frame(c, packet: bytes) -> bytes:
    dst = packet[24:40] if len(packet) >= 40 else b""
    mac = ipv6.multicast_mac(dst) if dst[:1] == b"\xff" else c.mac
    return vxlan.emit(VNI, ethernet.emit(mac, PEER_MAC, ethernet.ETHERTYPE_IPV6, packet))


def vxlan_payload(datagram: bytes) -> bytes:
    """The Ethernet frame a VXLAN datagram of _frame carries."""
    return datagram[8:]


# -- the run ----------------------------------------------------------------------------------
def ipv6_state(client) -> dict:
    """What malformed input must never change (the volatile parts left out: neighbor
    states and timers, lifetimes counting down, the randomised reachable time)."""
    info = client.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]
    nd = client.sysctl("SIOCGIFINFO_IN6", ifname="vnet0")
    return {
        "addrs": sorted((a["addr"], a.get("plen"), a["flags"]) for a in info["addrs"]),
        "mtu": info.get("mtu"),
        "routes": sorted(map(repr, client.sysctl("NET_RT_DUMP", af="inet6"))),
        "neighbors": sorted((e["addr"], e["mac"], e["flags"], e.get("router"))
                            for e in client.sysctl("NET_RT_FLAGS", af="inet6")),
        "routers": sorted(r["addr"] for r in client.sysctl("ICMPV6CTL_ND6_DRLIST")),
        "prefixes": sorted(repr(sorted((k, v) for k, v in p.items() if "expire" not in k
                                       and "time" not in k))
                           for p in client.sysctl("ICMPV6CTL_ND6_PRLIST")),
        "nd": {k: v for k, v in nd.items() if k != "reachable"},
        "pmtu": client.sysctl("net.inet.tcp.hostcache.list"),
    }


def _counted(client) -> int:
    return client.sysctl("net.inet6.ip6.stats")["ip6s_total"]


def fuzz_packets6(frames: int = 10_000, seed: int = 1, sockdir: str | None = None,
                  log=None, cases: dict | None = None) -> dict:
    """Send `frames` malformed IPv6 frames (drawn at random from cases, CASES by default)
    into one stack and return the figures: frames sent, counted by the stack, crashes,
    state changes (the parts that changed), invariant violations, internal errors, hello
    checks, frames per case."""
    cases = CASES if cases is None else cases
    rnd = random.Random(seed)
    figures = {"frames": 0, "counted": 0, "crashes": 0, "state_changed": [],
               "violations": 0, "internal_errors": 0, "hello_after": 0,
               "cases": dict.fromkeys(cases, 0)}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    mine = sock.getsockname()[1]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with Sandbox() as box:
        stack = spawn_stack(["--nic", f"vnet0=vxlan:{VNI},127.0.0.1:{port},127.0.0.1:{mine}"],
                            sockdir=sockdir or box.dir)
        try:
            with stack.client() as client:
                client.ioctl("SIOCAIFADDR_IN6", ifname="vnet0", addr=ME, plen=64)
                client.ioctl("SIOCSIFINFO_IN6", ifname="vnet0", set=ND6_IFF_ACCEPT_RTADV,
                             clear=0)
                ctx_info = client.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]
                mac = ethernet.mac_parse(ctx_info["mac"])
                ll = next(a["addr"] for a in ctx_info["addrs"] if a["addr"].startswith("fe80"))
                c = Ctx(mac, _a(ll.split("%")[0]))
                # the peer is known statically: errors the stack answers with change nothing
                for addr in (PEER, _ntop(c.peer_ll)):
                    client.call("llmsg", {"type": "RTM_ADD", "af": "inet6", "addr": addr,
                                          "mac": ethernet.mac_format(PEER_MAC),
                                          "flags": RTF_STATIC, "ifname": "vnet0"})
                end = time.monotonic() + 10     # DAD done: the address usable
                while time.monotonic() < end and any(
                        a["flags"] & IN6_IFF_TENTATIVE for a in client.sysctl(
                            "NET_RT_IFLIST", ifname="vnet0")[0]["addrs"]):
                    time.sleep(0.1)
                before = ipv6_state(client)
                base = _counted(client)
                sent = 0
                while sent < frames and stack.proc.poll() is None:
                    burst = 0
                    while burst < BURST and sent < frames:
                        name = rnd.choice(list(cases))
                        figures["cases"][name] += 1
                        for packet in cases[name](c, rnd):
                            sock.sendto(_frame(c, packet), ("127.0.0.1", port))
                            burst += 1
                            sent += 1
                    # wait (bounded) until the stack has counted the burst
                    end = time.monotonic() + 5
                    while _counted(client) - base < sent and time.monotonic() < end:
                        time.sleep(0.002)
                figures["frames"] = sent
                figures["counted"] = _counted(client) - base
                after = ipv6_state(client)
                figures["state_changed"] = [k for k in before if before[k] != after[k]]
                figures["hello_after"] = int(client.server["pid"] == stack.pid)
                figures["violations"] = len(fetch_and_check(client))
        except (OSError, ConnectionError) as exc:
            if log:
                log(f"connection failed: {exc!r}")
        finally:
            figures["crashes"] = int(stack.proc.poll() is not None)
            err = stack.stderr()
            figures["internal_errors"] = err.count("Traceback")
            if log and figures["internal_errors"]:
                log("stack's last internal error:\n" + err[err.rindex("Traceback"):])
            stack.stop()
            sock.close()
    if log:
        log(f"{figures['frames']} IPv6 frames, {figures['counted']} counted, state changed: "
            f"{figures['state_changed'] or 'nothing'}")
    return figures


def _ntop(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, addr)
