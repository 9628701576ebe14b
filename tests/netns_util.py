"""Helpers for tests that use the Linux kernel as a peer inside throwaway network namespaces.

Traffic in these tests stays on loopback or inside namespaces created here; every namespace is
named pleb-t-<pid>-<tag> and deleted on the way out.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import socket
import subprocess
import threading

import pytest

from plebnet_core.dataplane.wire import arp, ethernet, icmp, ipv4


def require_root() -> None:
    """Skip (fail when CI is set) unless root, /dev/net/tun and ip(8) are available."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root (network namespaces, TAP)"
    elif not os.path.exists("/dev/net/tun"):
        reason = "needs /dev/net/tun"
    elif shutil.which("ip") is None:
        reason = "needs ip(8) from iproute2"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set: these tests must run there")
        pytest.skip(reason)


def ip(*args: str, check: bool = True) -> str:
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and res.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


@contextlib.contextmanager
def namespace(tag: str):
    """A fresh network namespace with lo up; deleted afterwards, whatever happened."""
    name = f"pleb-t-{os.getpid()}-{tag}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        ip("netns", "del", name, check=False)


@contextlib.contextmanager
def kernel_vtep(underlay: str, overlay: str):
    """Two namespaces on a veth pair: "k" holds the kernel's vx0 (VNI 42, port 4789) on
    UNDERLAY.1, "s" is where our device's UDP socket goes, UNDERLAY.2; vx0 has OVERLAY.1/24.
    (On one namespace's lo both ends would be local, and Linux's vxlan then short-cuts to a
    local vxlan device instead of sending UDP; iproute2 6.1 can't turn that off.)"""
    with namespace("vxk") as k, namespace("vxs") as s:
        ip("-n", k, "link", "add", "vk", "type", "veth", "peer", "name", "vs", "netns", s)
        ip("-n", k, "addr", "add", f"{underlay}.1/24", "dev", "vk")
        ip("-n", s, "addr", "add", f"{underlay}.2/24", "dev", "vs")
        ip("-n", k, "link", "set", "vk", "up")
        ip("-n", s, "link", "set", "vs", "up")
        ip("-n", k, "link", "add", "vx0", "type", "vxlan", "id", "42", "local",
           f"{underlay}.1", "remote", f"{underlay}.2", "dstport", "4789", "dev", "vk")
        ip("-n", k, "addr", "add", f"{overlay}.1/24", "dev", "vx0")
        ip("-n", k, "link", "set", "vx0", "up")
        yield k, s


_CLONE_NEWNET = 0x40000000


def socket_in(ns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket of namespace ns, for tests that play a peer with the kernel's own sockets
    where the kernel lacks a device (raw IPIP, packet sockets).  setns(2) moves only the
    calling thread, so a short-lived thread joins ns and makes the socket, which stays there."""
    made: list = []

    def make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{ns}") as f:
            if libc.setns(f.fileno(), _CLONE_NEWNET) != 0:
                made.append(OSError(ctypes.get_errno(), "setns"))
                return
        made.append(socket.socket(family, type_, proto))

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(made[0], Exception):
        raise made[0]
    return made[0]


def ping_in(ns: str, addr: str) -> subprocess.Popen:
    """One ping from inside ns, in the background; its exit status tells whether it was answered."""
    return subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "2", addr],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def answer_until_done(dev, proc: subprocess.Popen, mac: bytes, addr: bytes) -> list[bytes]:
    """Play the host mac/addr on dev: answer ARP requests and pings until proc exits.

    Returns every frame read.  Bounded by proc, which ends on its own (ping -W).
    """
    seen = []
    fd = dev.fileno()
    while proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        while (frame := dev.recv()) is not None:
            seen.append(frame)
            reply = answer(frame, mac, addr)
            if reply is not None:
                dev.send(reply)
    return seen


def answer(frame: bytes, mac: bytes, addr: bytes) -> bytes | None:
    """The reply a host at mac/addr owes this frame (ARP request or ICMP echo), if any."""
    eth = ethernet.parse(frame)
    if eth.ethertype == ethernet.ETHERTYPE_ARP:
        req = arp.parse(eth.payload)
        if req.op == arp.OP_REQUEST and req.tpa == addr:
            return ethernet.emit(req.sha, mac, ethernet.ETHERTYPE_ARP,
                                 arp.reply(mac, addr, req.sha, req.spa))
    elif eth.ethertype == ethernet.ETHERTYPE_IPV4 and eth.dst == mac:
        pkt = ipv4.parse(eth.payload)
        if pkt.dst == addr and pkt.proto == ipv4.PROTO_ICMP and not pkt.is_fragment:
            msg = icmp.parse(pkt.payload)
            if msg.type == icmp.ECHO_REQUEST:
                out = ipv4.emit(addr, pkt.src, ipv4.PROTO_ICMP, icmp.echo_reply_to(msg))
                return ethernet.emit(eth.src, mac, ethernet.ETHERTYPE_IPV4, out)
    return None
