"""IPv6 between real stacks linked by Ethernet over UDP (VXLAN framing on 127.0.0.1): no
root needed.  Two stacks find each other by Neighbor Discovery and ping over global and
link-local addresses; a third network is reached through a stack forwarding IPv6; DAD
catches an address configured twice; plebconf ping -6 prints what FreeBSD 14's ping6 prints.
"""
from __future__ import annotations

import re
import time


from conftest import run_tool
from plebproto.constants import IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE


def add6(client, ifname, address, plen=64):
    client.ioctl("SIOCAIFADDR_IN6", ifname=ifname, addr=address, plen=plen)


def addrs6(client, ifname):
    info = client.sysctl("NET_RT_IFLIST", ifname=ifname)[0]
    return {a["addr"]: a for a in info["addrs"] if ":" in a["addr"]}


def settled(client, ifname, limit=15.0):
    """Wait (bounded) until DAD has run for every address of ifname; their flags then."""
    end = time.monotonic() + limit
    while True:
        flags = {k: a["flags"] for k, a in addrs6(client, ifname).items()}
        if not any(f & IN6_IFF_TENTATIVE for f in flags.values()) or time.monotonic() > end:
            return flags
        time.sleep(0.2)


def link_local(client, ifname):
    return next(k for k in addrs6(client, ifname) if k.startswith("fe80:"))


def ping6(client, dst, count=1, **kw):
    rows = []
    for chunk in client.stream("ping", {"af": "inet6", "dst": dst, "count": count,
                                        "interval": 0.05,
                                        "waittime": kw.pop("waittime", 2.0), **kw}):
        rows.extend(chunk or ())
    return rows


def replies(rows):
    return [r for r in rows if r.get("ev") == "reply"]


def ndp(client):
    return {e["addr"]: e for e in client.sysctl("NET_RT_FLAGS", af="inet6")}


def test_two_stacks_ping_over_ipv6_and_through_a_router(chain):
    a, b, c = chain
    with a.client() as ca, b.client() as cb, c.client() as cc:
        add6(ca, "vnet0", "2001:db8:a::1")
        add6(cb, "vnet0", "2001:db8:a::2")
        add6(cb, "vnet1", "2001:db8:b::2")
        add6(cc, "vnet0", "2001:db8:b::3")
        for client, ifname in ((ca, "vnet0"), (cb, "vnet0"), (cb, "vnet1"), (cc, "vnet0")):
            flags = settled(client, ifname)
            assert flags and not any(f & (IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED)
                                     for f in flags.values()), flags
        rows = ping6(ca, "2001:db8:a::2", count=3)
        assert [r["seq"] for r in replies(rows)] == [0, 1, 2]
        assert all(r["ttl"] == 64 and r["bytes"] == 16 and r["from"] == "2001:db8:a::2"
                   for r in replies(rows))
        assert rows[0] == {"ev": "start", "src": "2001:db8:a::1"}
        # both learned each other by NDP, into the NDP table
        mac_b = cb.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["mac"]
        mac_a = ca.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]["mac"]
        assert ndp(ca)["2001:db8:a::2"]["mac"] == mac_b
        assert ndp(cb)["2001:db8:a::1"]["mac"] == mac_a
        # link-local, with the zone naming the interface
        ll_b = link_local(cb, "vnet0").split("%")[0]
        rows = ping6(ca, f"{ll_b}%vnet0", count=2)
        assert [r["from"] for r in replies(rows)] == [f"{ll_b}%vnet0"] * 2
        assert rows[0]["src"] == link_local(ca, "vnet0")
        # the third network through b
        ca.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:b::", plen=64, gateway="2001:db8:a::2")
        cc.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:a::", plen=64, gateway="2001:db8:b::2")
        assert replies(ping6(ca, "2001:db8:b::3", waittime=1.0)) == []     # not forwarding
        cb.sysctl("net.inet6.ip6.forwarding", value=1)
        rows = ping6(ca, "2001:db8:b::3", count=2)
        assert [r["ttl"] for r in replies(rows)] == [63, 63]
        # hop limit 1 dies at the router: time exceeded, from b's address facing a
        rows = ping6(ca, "2001:db8:b::3", ttl=1, waittime=1.0)
        errors = [r for r in rows if r.get("ev") == "icmp"]
        assert errors and (errors[0]["type"], errors[0]["code"], errors[0]["from"]) == (
            3, 0, "2001:db8:a::2")
        # ping6 -v prints it as pr_icmph and pr_retip do
        res = run_tool(a, "ping", "-6", "-v", "-c", "1", "-m", "1", "-W", "500",
                       "2001:db8:b::3")
        assert res.stdout.splitlines()[1:7] == [
            "64 bytes from 2001:db8:a::2: Time to live exceeded",
            "Vr TC  Flow Plen Nxt Hlim",
            " 6 00 00000 0010  3a   01",
            "2001:db8:a::1->2001:db8:b::3",
            "ICMP6: type = 128, code = 0",
            ""], res.stdout
        # no route at the router: destination unreachable, no route
        ca.rtmsg("RTM_ADD", af="inet6", dst="2001:db8:dead::", plen=48,
                 gateway="2001:db8:a::2")
        rows = ping6(ca, "2001:db8:dead::1", waittime=1.0)
        errors = [r for r in rows if r.get("ev") == "icmp"]
        assert errors and (errors[0]["type"], errors[0]["code"]) == (1, 0)


def test_duplicate_address_is_detected(chain):
    a, b, _ = chain
    with a.client() as ca, b.client() as cb:
        add6(ca, "vnet0", "2001:db8:a::1")
        assert not settled(ca, "vnet0")["2001:db8:a::1"] & IN6_IFF_TENTATIVE
        add6(cb, "vnet0", "2001:db8:a::1")     # a defends it
        flags = settled(cb, "vnet0")
        assert flags["2001:db8:a::1"] & IN6_IFF_DUPLICATED, flags
        assert not settled(ca, "vnet0")["2001:db8:a::1"] & IN6_IFF_DUPLICATED
        res = run_tool(b, "ifconfig", "vnet0")
        assert re.search(r"inet6 2001:db8:a::1 prefixlen 64 duplicated", res.stdout), \
            res.stdout


def test_plebconf_ping6_prints_what_freebsd_ping6_prints(chain):
    a, b, _ = chain
    with a.client() as ca, b.client() as cb:
        add6(ca, "vnet0", "2001:db8:a::1")
        add6(cb, "vnet0", "2001:db8:a::2")
        settled(ca, "vnet0")
        settled(cb, "vnet0")
    res = run_tool(a, "ping", "-6", "-c", "2", "-i", "0.1", "2001:db8:a::2")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "PING6(56=40+8+8 bytes) 2001:db8:a::1 --> 2001:db8:a::2"
    for seq, line in enumerate(lines[1:3]):
        assert re.fullmatch(rf"16 bytes from 2001:db8:a::2, icmp_seq={seq} hlim=64 "
                            rf"time=\d+\.\d{{3}} ms", line), line
    assert lines[3:6] == ["", "--- 2001:db8:a::2 ping6 statistics ---",
                          "2 packets transmitted, 2 packets received, 0.0% packet loss"]
    assert re.fullmatch(r"round-trip min/avg/max/std-dev = (\d+\.\d{3}/){3}\d+\.\d{3} ms",
                        lines[6])
    # ping6, an IPv6 host without -6, sizes, source, quiet
    res = run_tool(a, "ping6", "-c", "1", "-s", "100", "-q", "-S", "2001:db8:a::1",
                   "2001:db8:a::2")
    assert res.stdout.splitlines()[0] == \
        "PING6(148=40+8+100 bytes) 2001:db8:a::1 --> 2001:db8:a::2"
    assert len(res.stdout.splitlines()) == 5
    res = run_tool(a, "ping", "-c", "1", "-s", "4", "2001:db8:a::2")
    assert res.stdout.splitlines()[1] == "12 bytes from 2001:db8:a::2, icmp_seq=0 hlim=64"
    with b.client() as cb:
        ll_b = link_local(cb, "vnet0")
    res = run_tool(a, "ping", "-6", "-c", "1", ll_b)
    assert res.returncode == 0 and f"bytes from {ll_b}, icmp_seq=0" in res.stdout
    # errors as ping6.c words them
    res = run_tool(a, "ping", "-6", "-c", "0", "2001:db8:a::2")
    assert (res.returncode, res.stderr) == (1, "ping: illegal number of packets -- 0\n")
    res = run_tool(a, "ping6", "-m", "300", "2001:db8:a::2")
    assert (res.returncode, res.stderr) == (1, "ping6: illegal hoplimit -- 300\n")
    res = run_tool(a, "ping", "-4", "-6", "2001:db8:a::2")
    assert res.stderr == "ping: -4 and -6 cannot be used simultaneously\n"
    res = run_tool(a, "ping", "-4c", "1", "2001:db8:a::2")     # IPv4 asked: no such host
    assert (res.returncode, res.stderr) == (68, "ping: cannot resolve 2001:db8:a::2: "
                                                "Unknown host\n")
    # no route: the source cannot be chosen (ping6's UDP connect)
    res = run_tool(a, "ping", "-6", "-c", "1", "2001:db8:ffff::1")
    assert (res.returncode, res.stderr) == (1, "ping: UDP connect: No route to host\n")
    # nobody there: no reply, exit status 2
    res = run_tool(a, "ping", "-6", "-c", "1", "-W", "300", "2001:db8:a::77")
    assert res.returncode == 2
    assert "1 packets transmitted, 0 packets received, 100.0% packet loss" in res.stdout
