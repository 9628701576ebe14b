"""route(8) against a live stack: grammar, FreeBSD 14 text and exit statuses (docs/freebsd-tools.md §2)."""
import os
import re
import subprocess
import sys
import time

import pytest

from plebconf.cli.common import ToolError, ToolOps
from plebconf.cli.route import failure, ops_for
from plebproto.constants import (
    EADDRINUSE, EBUSY, EEXIST, ENOBUFS, ESRCH, IFF_UP, RTF_BLACKHOLE,
    RTF_PROTO1, RTF_REJECT, RTF_STATIC,
)
from tests.conftest import ROOT
from tests.tooltest import add_addr, ok, tool

USAGE = "route: usage: route [-j jail] [-46dnqtv] command [[modifiers] args]\n"
METRICS = " recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire\n"


@pytest.fixture
def net(stack, client):
    add_addr(client, "vnet0", "10.0.0.2", 24)
    add_addr(client, "vnet0", "2001:db8::2", 64)
    return stack


# -- add / delete / change ----------------------------------------------------------------------
def test_add_delete_change_output(net, client):
    assert ok(net, "route", "add", "-net", "10.1.0.0/16", "10.0.0.1") == (
        "add net 10.1.0.0: gateway 10.0.0.1\n")
    assert ok(net, "route", "add", "default", "10.0.0.1") == "add net default: gateway 10.0.0.1\n"
    assert ok(net, "route", "add", "10.2.3.4", "10.0.0.1") == (
        "add host 10.2.3.4: gateway 10.0.0.1\n")
    assert ok(net, "route", "add", "-net", "10.5.0.0/16", "-interface", "vnet0") == (
        "add net 10.5.0.0: gateway vnet0\n")
    assert ok(net, "route", "add", "-inet6", "2001:db8:1::/48", "2001:db8::1") == (
        "add net 2001:db8:1::/48: gateway 2001:db8::1\n")
    assert ok(net, "route", "change", "-net", "10.1.0.0/16", "10.0.0.9", "-mtu", "1400") == (
        "change net 10.1.0.0: gateway 10.0.0.9\n")
    r = client.rtmsg("RTM_GET", af="inet", dst="10.1.0.0", plen=16)
    assert (r["gateway"], r["mtu"]) == ("10.0.0.9", 1400)
    assert ok(net, "route", "delete", "10.2.3.4") == "delete host 10.2.3.4\n"
    assert ok(net, "route", "del", "-net", "10.1.0.0/16", "10.0.0.9") == (
        "del net 10.1.0.0: gateway 10.0.0.9\n")
    assert ok(net, "route", "-q", "delete", "default") == ""
    assert ok(net, "route", "-n", "delete", "-inet6", "2001:db8:1::/48") == (
        "delete net 2001:db8:1::/48\n")


def test_add_through_the_wrapper(net):
    assert ok(net, "route", "add", "10.1.0.0/16", "10.0.0.1", wrapper=True) == (
        "add net 10.1.0.0: gateway 10.0.0.1\n")
    assert tool(net, "route", "add", "10.1.0.0/16", "10.0.0.1", wrapper=True) == (
        1, "add net 10.1.0.0: gateway 10.0.0.1 fib 0: route already in table\n", "")


# 14's netlink route(8) says nothing on stderr for a failed add/change/delete
# (route_netlink.c rtmsg_nl_int: `if (snl_parse_errmsg(ss, hdr, &e)) return (e.error);`);
# newroute() prints the stdout line and exits 1 (route.c newroute: `error = 1; ... exit(error)`)
@pytest.mark.parametrize("argv, out", [
    # EEXIST: same prefix, same gateway (and an interface route cannot go multipath)
    (["add", "-net", "10.0.0.0/24", "10.0.0.1"],
     "add net 10.0.0.0: gateway 10.0.0.1 fib 0: route already in table\n"),
    # ESRCH: delete / change of a prefix not in the table
    (["delete", "-net", "10.7.0.0/16"], "delete net 10.7.0.0 fib 0: not in table\n"),
    (["change", "10.77.0.0/16", "10.0.0.1"],
     "change net 10.77.0.0: gateway 10.0.0.1 fib 0: not in table\n"),
    # ENETUNREACH: the gateway is on no connected network
    (["add", "10.5.0.0/16", "192.0.2.1"],
     "add net 10.5.0.0: gateway 192.0.2.1 fib 0: Network is unreachable\n"),
    # EINVAL: -blackhole with -reject; no gateway at all
    (["add", "-net", "10.1.0.0/16", "10.0.0.1", "-blackhole", "-reject"],
     "add net 10.1.0.0: gateway 10.0.0.1 fib 0: Invalid argument\n"),
    (["add", "10.7.0.0/16"], "add net 10.7.0.0 fib 0: Invalid argument\n"),
])
def test_kernel_errors_exit_1_and_change_nothing(net, client, argv, out):
    before = client.sysctl("NET_RT_DUMP")
    assert tool(net, "route", *argv) == (1, out, "")
    assert client.sysctl("NET_RT_DUMP") == before


# Every form of destination, as newroute() echoes it (route.c: printf("%s %s %s", cmd,
# host/net, dest) then ": gateway %s").  dest is the argument string after getaddr(): its
# IPv4 A.B.C.D/NUM branch writes a NUL over the '/' (`*q = '\0'`) and returns without
# restoring it; its AF_INET6 branch restores it (`*q++ = '/'`).
@pytest.mark.parametrize("argv, echo", [
    (["-net", "10.1.0.0/16", "10.0.0.1"], "net 10.1.0.0: gateway 10.0.0.1"),
    (["-host", "10.2.0.7/24", "10.0.0.1"], "host 10.2.0.7: gateway 10.0.0.1"),
    (["-net", "10.5.0.0/16", "-iface", "vnet0"], "net 10.5.0.0: gateway vnet0"),
    (["-net", "10.6.0.0/16", "-interface", "vnet0"], "net 10.6.0.0: gateway vnet0"),
    (["-net", "10.7.0.0", "-netmask", "255.255.0.0", "10.0.0.1"],
     "net 10.7.0.0: gateway 10.0.0.1"),
    (["-dst", "10.8.0.0/16", "-gateway", "10.0.0.1"], "net 10.8.0.0: gateway 10.0.0.1"),
    (["-inet6", "-net", "2001:db8:1::/48", "2001:db8::1"],
     "net 2001:db8:1::/48: gateway 2001:db8::1"),
    (["-inet6", "-host", "2001:db8:2::/64", "2001:db8::1"],
     "host 2001:db8:2::/64: gateway 2001:db8::1"),
    (["-inet6", "2001:db8:3::/48", "-interface", "vnet0"], "net 2001:db8:3::/48: gateway vnet0"),
    (["-inet6", "2001:db8:4::", "-netmask", "ffff:ffff:ffff::", "2001:db8::1"],
     "net 2001:db8:4::: gateway 2001:db8::1"),
])
def test_whole_output_of_each_form(net, argv, echo):
    # success: the echo on stdout, nothing on stderr, exit 0 (newroute: fibnum > 0 line)
    assert tool(net, "route", "add", *argv) == (0, f"add {echo}\n", "")
    # EEXIST: only newroute's failure line, on stdout; exit 1 (route_netlink.c
    # rtmsg_nl_int returns e.error without printing; newroute sets error = 1)
    assert tool(net, "route", "add", *argv) == (
        1, f"add {echo} fib 0: route already in table\n", "")
    # -q: newroute prints neither line (`if (!qflag)` around both), the status stays 1
    assert tool(net, "route", "-q", "add", *argv) == (1, "", "")
    assert tool(net, "route", "delete", *argv) == (0, f"delete {echo}\n", "")
    # ESRCH: "not in table" (newroute's errmsg switch), stdout only, exit 1
    assert tool(net, "route", "delete", *argv) == (
        1, f"delete {echo} fib 0: not in table\n", "")


def test_d_and_t_change_the_table_except_in_flush(net, client):
    """14's rtmsg() passes add/change/delete/get to rtmsg_nl() whatever -d says (only the
    rtsock build's rtmsg_rtsock has `if (debugonly) return (0);`), and -t only redirected
    the rtsock socket; -d still skips each route in flushroutes_fib_nl."""
    assert tool(net, "route", "-d", "add", "10.9.0.0/16", "10.0.0.1") == (
        0, "add net 10.9.0.0: gateway 10.0.0.1\n", "")
    assert client.rtmsg("RTM_GET", af="inet", dst="10.9.0.0", plen=16)["gateway"] == "10.0.0.1"
    assert tool(net, "route", "-d", "-n", "get", "10.9.1.1")[1].startswith(
        "   route to: 10.9.1.1\ndestination: 10.9.0.0\n")
    before = client.sysctl("NET_RT_DUMP")
    assert tool(net, "route", "-d", "-4", "flush") == (0, "", "")
    assert client.sysctl("NET_RT_DUMP") == before
    assert tool(net, "route", "-t", "delete", "10.9.0.0/16") == (
        0, "delete net 10.9.0.0\n", "")
    assert tool(net, "route", "-n", "get", "10.9.1.1") == (
        0, "", "route: route has not been found: No error: 0\n")


def test_get_errors_other_than_no_route():
    """route_netlink.c rtmsg_nl_int, get path: warn("message indicates error %d", e.error)
    with errno still 0 (warn(3) appends strerror(0), FreeBSD's "No error: 0"), then
    `return (0)`: route get exits 0 whatever the kernel said."""
    from plebconf.cli.route import get_failure
    from plebproto.constants import EINVAL
    assert get_failure(EINVAL) == (
        "", "route: message indicates error 22: No error: 0\n", 0)
    assert get_failure(ESRCH) == ("", "route: route has not been found: No error: 0\n", 0)


def test_errmsg_table_of_2_5():
    """The errnos the stack cannot produce through route(8) today, through the same table."""
    ops = ops_for(["add", "-net", "10.1.0.0/16", "10.0.0.1"])
    label = "add net 10.1.0.0: gateway 10.0.0.1 fib 0: "
    assert failure(ops, 0, EBUSY)[0] == label + "entry in use\n"
    assert failure(ops, 0, ENOBUFS)[0] == label + "not enough memory\n"
    assert failure(ops, 0, EADDRINUSE) == (label + "gateway uses the same route\n", "", 1)
    assert failure(ops, 0, EEXIST)[0] == label + "route already in table\n"
    assert failure(ops, 0, ESRCH) == (label + "not in table\n", "", 1)


@pytest.mark.parametrize("argv, status, err", [
    ([], 64, USAGE),
    (["frobnicate"], 64, "route: bad keyword: frobnicate\n" + USAGE),
    (["add", "-bogus", "10.0.0.0/8", "10.0.0.1"], 64, "route: bad keyword: bogus\n" + USAGE),
    (["add"], 64, "route: destination parameter required\n" + USAGE),
    (["add", "10.1.0.0/16", "10.0.0.1", "-mtu"], 64, USAGE),
    (["-x", "add"], 64, "route: illegal option -- x\n" + USAGE),
    (["add", "10.7.0.0/16", "10.0.0.1", "-fib", "1"], 64, "route: invalid fib number: 1\n"),
    (["add", "10.7.0.0/16", "10.0.0.1", "-mtu", "abc"], 64, "route: abc: Invalid argument\n"),
    (["add", "10.1.0.0/16", "-interface", "vnet9"], 65,
     "route: interface 'vnet9' does not exist\n"),
    (["add", "10/8", "10.0.0.1"], 68,
     "route: malformed address, bits set after mask; 10 means 0.0.0.10\n"),
    (["add", "10.0.0.0/33", "10.0.0.1"], 68, "route: bad mask length: 33\n"),
    (["add", "10.0.0.300/8", "10.0.0.1"], 68, "route: bad address: 10.0.0.300\n"),
    (["add", "no.such.host.invalid", "10.0.0.1"], 68,
     "route: bad address: no.such.host.invalid\n"),
    (["add", "10.1.0.0/16", "gw.invalid"], 68, "route: bad address: gw.invalid\n"),
    (["add", "-inet6", "zz::/64", "::1"], 71,
     "route: zz::: hostname nor servname provided, or not known\n"),
    # no family guessing: getaddr() takes AF_INET unless -inet6/-6 came first, and its
    # A.B.C.D/NUM branch rejects the text before the '/' (route.c getaddr, "bad address")
    (["add", "2001:db8:5::/48", "2001:db8::1"], 68, "route: bad address: 2001:db8:5::\n"),
    (["add", "10.7.0.0/16", "10.0.0.1", "-prefixlen", "99"], 1, "99: bad value\n"),
    (["add", "10.7.0.0", "10.0.0.1", "-inet6", "-netmask", "ffff::"], 64,
     "route: destination and netmask family need to be the same\n" + USAGE),
])
def test_grammar_errors(net, client, argv, status, err):
    before = client.sysctl("NET_RT_DUMP")
    assert tool(net, "route", *argv) == (status, "", err)
    assert client.sysctl("NET_RT_DUMP") == before


# -- destination rules (docs/freebsd-tools.md §2.2), pure: ops_for ----------------------------------------------
@pytest.mark.parametrize("argv, dst, plen, label", [
    # 1 default is 0/0, a net
    (["add", "default", "10.0.0.1"], "0.0.0.0", 0, "add net default: gateway 10.0.0.1"),
    # 2 CIDR: a net; the kernel masks the host bits, route(8) does not; the echo loses the
    # "/16" (getaddr leaves a NUL where the '/' was)
    (["add", "10.1.2.3/16", "10.0.0.1"], "10.1.2.3", 16, "add net 10.1.2.3: gateway 10.0.0.1"),
    # 3 a plain address is a host, whatever its trailing zeros (no classful guessing)
    (["add", "10.0.0.0", "10.0.0.1"], "10.0.0.0", 32, "add host 10.0.0.0: gateway 10.0.0.1"),
    # 4 inet_aton's short forms
    (["add", "128.32", "10.0.0.1"], "128.0.0.32", 32, "add host 128.32: gateway 10.0.0.1"),
    # 5 -net without a mask says net but sends a /32 (the kernel's host route)
    (["add", "-net", "10.1.0.0", "10.0.0.1"], "10.1.0.0", 32,
     "add net 10.1.0.0: gateway 10.0.0.1"),
    # 6 -netmask implies -net
    (["add", "10.1.0.0", "-netmask", "255.255.0.0", "10.0.0.1"], "10.1.0.0", 16,
     "add net 10.1.0.0: gateway 10.0.0.1"),
    # 7 a third positional word is the netmask, and implies -net
    (["add", "10.1.0.0", "10.0.0.1", "255.255.255.0"], "10.1.0.0", 24,
     "add net 10.1.0.0: gateway 10.0.0.1"),
    # 8 -host wins over a CIDR mask: host route, /32
    (["add", "-host", "10.1.0.0/16", "10.0.0.1"], "10.1.0.0", 32,
     "add host 10.1.0.0: gateway 10.0.0.1"),
    # 9 -prefixlen makes a net; -prefixlen 32 a host
    (["add", "10.1.0.0", "-prefixlen", "16", "10.0.0.1"], "10.1.0.0", 16,
     "add net 10.1.0.0: gateway 10.0.0.1"),
    (["add", "10.1.0.0", "-prefixlen", "32", "10.0.0.1"], "10.1.0.0", 32,
     "add host 10.1.0.0: gateway 10.0.0.1"),
    # 10 inet6 ADDR/len is a net; no length a host; `::` is /0
    (["add", "-inet6", "2001:db8::/32", "::1"], "2001:db8::", 32,
     "add net 2001:db8::/32: gateway ::1"),
    (["add", "-inet6", "2001:db8::5", "::1"], "2001:db8::5", 128,
     "add host 2001:db8::5: gateway ::1"),
    (["add", "-inet6", "::", "::1"], "::", 0, "add net ::: gateway ::1"),
    # 11 /128 is a host; -host drops an inet6 netmask
    (["add", "-inet6", "2001:db8::5/128", "::1"], "2001:db8::5", 128,
     "add host 2001:db8::5/128: gateway ::1"),
    (["add", "-inet6", "-host", "2001:db8::/64", "::1"], "2001:db8::", 128,
     "add host 2001:db8::/64: gateway ::1"),
    # 12 -prefixlen for inet6 (rc.d/routing's form); -6 is -inet6
    (["add", "-inet6", "fe80::", "-prefixlen", "10", "::1", "-reject"], "fe80::", 10,
     "add net fe80::: gateway ::1"),
    (["-6", "add", "2001:db8:5::/48", "2001:db8::1"], "2001:db8:5::", 48,
     "add net 2001:db8:5::/48: gateway 2001:db8::1"),
    # 13 -interface: the next gateway word names an interface
    (["add", "-inet", "127.0.0.1", "-iface", "lo0"], "127.0.0.1", 32,
     "add host 127.0.0.1: gateway lo0"),
    # 14 `10.1/16` has a dot, so it is accepted (10.0.0.1/16 by inet_aton)
    (["add", "10.1/16", "10.0.0.1"], "10.0.0.1", 16, "add net 10.1: gateway 10.0.0.1"),
    # 15 /etc/hosts names
    (["add", "localhost", "10.0.0.1"], "127.0.0.1", 32, "add host localhost: gateway 10.0.0.1"),
])
def test_destination_rules(argv, dst, plen, label):
    ops = ops_for(argv)
    op, args = ops.ops[0]
    assert (op, args["dst"], args["plen"]) == ("rtmsg", dst, plen)
    assert ops.labels == [label] and ops.lines == [label]


def test_ops_for_shapes():
    assert ops_for(["add", "-net", "10.1.0.0/16", "10.0.0.1"]) == ToolOps(
        [["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": 16,
                    "gateway": "10.0.0.1"}]],
        ["add net 10.1.0.0: gateway 10.0.0.1"], ["add net 10.1.0.0: gateway 10.0.0.1"])
    reject = ops_for(["add", "-inet6", "fe80::", "-prefixlen", "10", "::1", "-reject"])
    assert reject.ops[0][1]["flags"] == RTF_STATIC | RTF_REJECT
    iface = ops_for(["add", "-inet", "127.0.0.1", "-iface", "lo0"]).ops[0][1]
    assert (iface["gateway"], iface["iface"]) == ("lo0", True)
    extra = ops_for(["add", "10.3.0.0/16", "10.0.0.1", "-nostatic", "-proto1", "-mtu", "0x500",
                     "-hopcount", "3", "-weight", "7", "-expire", "+60"]).ops[0][1]
    assert (extra["flags"], extra["mtu"], extra["hopcount"], extra["weight"], extra["expire"]) == (
        RTF_PROTO1, 1280, 3, 7, 60)
    assert ops_for(["-q", "add", "10.3.0.0/16", "10.0.0.1", "-blackhole"]).lines == []
    assert ops_for(["add", "10.3.0.0/16", "10.0.0.1", "-blackhole"]).ops[0][1]["flags"] == (
        RTF_STATIC | RTF_BLACKHOLE)
    assert ops_for(["delete", "10.3.0.0/16"]).ops == [
        ["rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": "10.3.0.0", "plen": 16}]]
    for readonly in (["get", "10.0.0.1"], ["show", "default"], ["monitor"], ["-4", "flush"]):
        assert ops_for(readonly) is None
    with pytest.raises(ToolError) as exc:
        ops_for(["add", "10/8", "10.0.0.1"])
    assert exc.value.status == 68 and exc.value.message.startswith("route: malformed")
    with pytest.raises(ToolError) as exc:
        ops_for(["nonsense"])
    assert (exc.value.status, exc.value.message) == (
        64, "route: bad keyword: nonsense\n" + USAGE.rstrip("\n"))


def test_ops_for_batch_applies_like_the_tool(net, client):
    ops = ops_for(["add", "10.3.0.0/16", "10.0.0.1", "-blackhole"])
    client.batch(ops.ops)
    assert "10.3.0.0/16        127.0.0.1          UGSB        lo0\n" in ok(net, "netstat", "-rn")


# -- get / show (docs/freebsd-tools.md §2.6) ---------------------------------------------------------------------
def test_get_host_net_and_miss(net):
    ok(net, "route", "add", "-net", "10.1.0.0/16", "10.0.0.1")
    assert ok(net, "route", "-n", "get", "10.0.0.2") == (
        "   route to: 10.0.0.2\n"
        "destination: 10.0.0.2\n"
        "        fib: 0\n"
        "  interface: lo0\n"
        "      flags: <UP,HOST,DONE,STATIC,PINNED>\n" + METRICS +
        "       0         0         0         0     16384         1         0 \n")
    assert ok(net, "route", "-n", "get", "10.1.2.3") == (
        "   route to: 10.1.2.3\n"
        "destination: 10.1.0.0\n"
        "       mask: 255.255.0.0\n"
        "    gateway: 10.0.0.1\n"
        "        fib: 0\n"
        "  interface: vnet0\n"
        "      flags: <UP,GATEWAY,DONE,STATIC>\n" + METRICS +
        "       0         0         0         0      1500         1         0 \n")
    assert ok(net, "route", "-n", "show", "10.0.0.77", wrapper=True) == (
        "   route to: 10.0.0.77\n"
        "destination: 10.0.0.0\n"
        "       mask: 255.255.255.0\n"
        "        fib: 0\n"
        "  interface: vnet0\n"
        "      flags: <UP,DONE,PINNED>\n" + METRICS +
        "       0         0         0         0      1500         1         0 \n")
    # route_netlink.c rtmsg_nl_int: warn("route has not been found") (errno still 0, so
    # warn(3) adds "No error: 0"), then `return (0);` and newroute's exit(error) exits 0
    miss = (0, "", "route: route has not been found: No error: 0\n")
    assert tool(net, "route", "-n", "get", "8.8.8.8") == miss
    assert tool(net, "route", "-n", "get", "8.8.8.8", wrapper=True) == miss


def test_get_default_numeric_and_named_and_inet6(net):
    ok(net, "route", "add", "default", "10.0.0.1", "-mtu", "1280")
    tail = ("    gateway: 10.0.0.1\n        fib: 0\n  interface: vnet0\n"
            "      flags: <UP,GATEWAY,DONE,STATIC>\n" + METRICS +
            "       0         0         0         0      1280         1         0 \n")
    assert ok(net, "route", "-n", "get", "default") == (
        "   route to: 0.0.0.0\ndestination: 0.0.0.0\n       mask: 0.0.0.0\n" + tail)
    assert ok(net, "route", "get", "default") == (
        "   route to: default\ndestination: default\n       mask: default\n" + tail)
    assert ok(net, "route", "-n", "get", "-inet6", "2001:db8::5") == (
        "   route to: 2001:db8::5\n"
        "destination: 2001:db8::\n"
        "       mask: ffff:ffff:ffff:ffff::\n"
        "        fib: 0\n"
        "  interface: vnet0\n"
        "      flags: <UP,DONE,PINNED>\n" + METRICS +
        "       0         0         0         0      1500         1         0 \n")


def test_get_inet6_default_is_named_default_without_n(net):
    """route.c routename(): `if (nflag == 0 && IN6_IS_ADDR_UNSPECIFIED(...)) return
    ("default");` -- for the route to, the destination and the all-zero mask alike."""
    ok(net, "route", "add", "-inet6", "default", "2001:db8::1")
    tail = ("    gateway: 2001:db8::1\n        fib: 0\n  interface: vnet0\n"
            "      flags: <UP,GATEWAY,DONE,STATIC>\n" + METRICS +
            "       0         0         0         0      1500         1         0 \n")
    assert tool(net, "route", "get", "-inet6", "default") == (0, (
        "   route to: default\ndestination: default\n       mask: default\n" + tail), "")
    assert tool(net, "route", "-n", "get", "-inet6", "default") == (0, (
        "   route to: ::\ndestination: ::\n       mask: ::\n" + tail), "")


def test_get_shows_expire(net):
    ok(net, "route", "add", "192.0.2.9", "10.0.0.1", "-expire", "+300")
    out = ok(net, "route", "-n", "get", "192.0.2.9")
    assert re.search(r"\n       0         0         0         0      1500         1       "
                     r"(300|299) \n$", out)


# -- flush (docs/freebsd-tools.md §2.7) -------------------------------------------------------------------------
def populate(net):
    for argv in (["default", "10.0.0.1"], ["10.1.0.0/16", "10.0.0.1"],
                 ["10.1.0.0/16", "10.0.0.3"], ["10.0.0.0/8", "10.0.0.1"],
                 ["192.0.2.5", "10.0.0.1"], ["10.9.0.0/16", "127.0.0.1", "-blackhole"],
                 ["10.5.0.0/16", "-interface", "vnet0"],
                 ["-inet6", "2001:db8:1::/48", "2001:db8::1"]):
        ok(net, "route", "add", *argv)


def test_flush_inet_lists_each_gateway_route(net, client):
    populate(net)
    assert ok(net, "route", "-n", "flush", "-inet") == (
        "default              10.0.0.1             -fib 0   done\n"
        "10                   10.0.0.1             -fib 0   done\n"
        "10.1                 10.0.0.1             -fib 0   done\n"
        "10.1                 10.0.0.3             -fib 0   done\n"
        "10.9                 127.0.0.1            -fib 0   done\n"
        "192.0.2.5            10.0.0.1             -fib 0   done\n")
    left = ok(net, "netstat", "-rn", "-4")
    assert "10.5.0.0/16        link#1             US        vnet0\n" in left   # no gateway
    assert "UG" not in left
    assert "2001:db8:1::/48" in ok(net, "netstat", "-rn", "-6")
    assert ok(net, "route", "-6", "flush", wrapper=True) == (
        "2001:db8:1::         2001:db8::1          -fib 0   done\n")
    assert ok(net, "route", "-q", "-4", "flush") == ""


def test_route_flush_without_family_deletes_nothing_like_14x(net, client):
    """Choice (docs/freebsd-tools.md §2.7, §8.2): 14.x's netlink flush compares each route's family with the
    requested one, which is 0 when no -4/-6/-inet/-inet6 is given: nothing is flushed."""
    populate(net)
    before = client.sysctl("NET_RT_DUMP")
    assert tool(net, "route", "flush") == (0, "", "")
    assert client.sysctl("NET_RT_DUMP") == before


# -- monitor (docs/freebsd-tools.md §2.8) -----------------------------------------------------------------------
PREFIX = r"^\d\d:\d\d:\d\d\.\d{3} PID +(\d+) "


def unix_peers(path: str) -> int:
    with open("/proc/net/unix") as f:
        return sum(1 for line in f if line.rstrip().endswith(" " + path))


def start_monitor(stack, *argv, wrapper=False):
    env = stack.env()
    env["PYTHON"] = sys.executable
    cmd = ([os.path.join(ROOT, "scripts", "route")] if wrapper
           else [sys.executable, "-m", "plebconf", "route"])
    before = unix_peers(stack.path)
    proc = subprocess.Popen([*cmd, "-n", "monitor", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while unix_peers(stack.path) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)         # connected: give the subscribe request time to land
    return proc


def split_lines(out: str):
    pids, rest = [], []
    for line in out.splitlines(keepends=True):
        m = re.match(PREFIX, line)
        assert m, line
        pids.append(int(m.group(1)))
        rest.append(line[m.end():])
    return pids, rest


@pytest.mark.parametrize("wrapper", [False, True])
def test_monitor_prints_changes_made_by_another_client(net, client, wrapper):
    mon = start_monitor(net, "-c", "14", wrapper=wrapper)
    ok(net, "route", "add", "10.1.0.0/16", "10.0.0.1")                   # 1 line
    add_addr(client, "vnet0", "10.0.1.2", 24)                            # 3 lines
    client.ioctl("SIOCSIFFLAGS", ifname="vnet0", clear=IFF_UP)           # 5 lines
    client.ioctl("SIOCSIFFLAGS", ifname="vnet0", set=IFF_UP)             # 5 lines
    out, err = mon.communicate(timeout=30)
    assert (mon.returncode, err) == (0, "")
    pids, lines = split_lines(out)
    assert lines == [
        "add/repl route 10.1.0.0/16 gw 10.0.0.1 iface vnet0 mtu 1500 table inet.0\n",
        "add/repl addr 10.0.1.2/24 iface vnet0 \n",
        "add/repl route 10.0.1.0/24 iface vnet0 mtu 1500 table inet.0\n",
        "add/repl route 10.0.1.2/32 iface lo0 mtu 16384 table inet.0\n",
        "add/repl iface iface#1 vnet0 admin DOWN oper DOWN mtu 1500 \n",
        "delete route 10.0.0.0/24 iface vnet0 mtu 1500 table inet.0\n",
        "delete route 10.0.1.0/24 iface vnet0 mtu 1500 table inet.0\n",
        "delete route fe80::%vnet0/64 iface vnet0 mtu 1500 table inet6.0\n",
        "delete route 2001:db8::/64 iface vnet0 mtu 1500 table inet6.0\n",
        "add/repl iface iface#1 vnet0 admin UP oper UP mtu 1500 \n",
        "add/repl route 10.0.0.0/24 iface vnet0 mtu 1500 table inet.0\n",
        "add/repl route fe80::%vnet0/64 iface vnet0 mtu 1500 table inet6.0\n",
        "add/repl route 2001:db8::/64 iface vnet0 mtu 1500 table inet6.0\n",
        "add/repl route 10.0.1.0/24 iface vnet0 mtu 1500 table inet.0\n",
    ]
    assert pids[0] != os.getpid() and set(pids[1:]) == {os.getpid()}


def test_monitor_blackhole_reject_neighbour_and_interface_arrival(net, client):
    mon = start_monitor(net, "-c", "5")
    ok(net, "route", "add", "10.9.0.0/16", "127.0.0.1", "-blackhole")
    ok(net, "route", "add", "10.8.0.0/16", "127.0.0.1", "-reject")
    ok(net, "arp", "-s", "10.0.0.5", "02:00:00:00:00:05")
    ok(net, "route", "delete", "10.9.0.0/16")
    client.ioctl("SIOCIFCREATE2", ifname="tap0")
    out, err = mon.communicate(timeout=30)
    assert split_lines(out)[1] == [
        "add/repl route 10.9.0.0/16 blackhole\n",
        "add/repl route 10.8.0.0/16 prohibit(reject)\n",
        "add/repl neigh 10.0.0.5 lladdr 02:00:00:00:00:05 iface vnet0 \n",
        "delete route 10.9.0.0/16 blackhole\n",
        "add/repl iface iface#3 tap0 admin DOWN oper DOWN mtu 1500 \n",
    ]


def test_monitor_usage(stack):
    assert tool(stack, "route", "monitor", "-x") == (64, "", "route: bad keyword: x\n" + USAGE)
    assert tool(stack, "route", "monitor", "-c", "0") == (0, "", "")
