"""`plebconf log` says each change as the FreeBSD command that makes it: the tools' own
requests, read back (plebconf/cli/log_commands.py), through a live stack's audit log."""
from __future__ import annotations

import json

from plebconf.cli.log_commands import commands, said
from plebproto.protocol import pack_column
from tests.tooltest import ok, tool


def test_each_tool_command_is_said_back_in_freebsd_syntax(stack):
    for argv in (["ifconfig", "vnet0", "inet", "10.0.0.2/24", "up"],
                 ["route", "add", "-net", "10.1.0.0/16", "10.0.0.1"],
                 ["route", "add", "default", "10.0.0.1"],
                 ["route", "add", "-host", "10.2.0.1", "10.0.0.1", "-blackhole"],
                 ["route", "delete", "-net", "10.1.0.0/16"],
                 ["route", "add", "-inet6", "2001:db8:1::/48", "-interface", "vnet0"],
                 ["arp", "-s", "10.0.0.7", "02:00:00:00:00:07", "pub"],
                 ["arp", "-d", "10.0.0.7"],
                 ["ifconfig", "tap", "create"],
                 ["ifconfig", "vnet0", "mtu", "1400", "description", "up link"],
                 ["ifconfig", "vnet0", "inet", "10.0.0.9/32", "alias"],
                 ["ifconfig", "vnet0", "inet", "10.0.0.9", "-alias"],
                 ["ifconfig", "tap0", "name", "wan0", "-arp"],
                 ["netstat", "-s", "-z", "-p", "arp"]):
        tool(stack, *argv)
    rc, out, err = tool(stack, "route", "add", "-net", "10.3.0.0/16", "192.0.2.1")
    assert rc == 1
    lines = [line.split(" uid 0 ", 1)[1] for line in ok(stack, "log").splitlines()]
    assert lines == [
        "ifconfig vnet0 up inet 10.0.0.2/24: ok",
        "route add -net 10.1.0.0/16 10.0.0.1: ok",
        "route add default 10.0.0.1: ok",
        "route add -host 10.2.0.1 10.0.0.1 -blackhole: ok",
        "route delete -net 10.1.0.0/16: ok",
        "route add -inet6 -net 2001:db8:1::/48 -interface vnet0: ok",
        "arp -s 10.0.0.7 02:00:00:00:00:07 pub: ok",
        "arp -d 10.0.0.7: ok",
        "ifconfig tap create: ok",
        "ifconfig vnet0 mtu 1400 description 'up link': ok",
        "ifconfig vnet0 inet 10.0.0.9/32 alias: ok",
        "ifconfig vnet0 inet 10.0.0.9 -alias: ok",
        "ifconfig tap0 name wan0 -arp: ok",
        "netstat -s -z -p arp: ok",
        "route add -net 10.3.0.0/16 192.0.2.1: refused: Network is unreachable (errno 51)",
    ]
    # -v: the request under each line, as JSON
    rc, out, err = tool(stack, "log", "-v", "-n", "1")
    first, request = out.splitlines()
    assert json.loads(request) == {"op": "rtmsg", "args": {
        "type": "RTM_ADD", "af": "inet", "dst": "10.3.0.0", "plen": 16,
        "gateway": "192.0.2.1"}}


def test_long_batches_and_route_runs_are_cut_short():
    ops = [["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{i}.0.0", "plen": 16,
                      "gateway": "10.0.0.1"}] for i in range(5)]
    assert said("batch", {"ops": ops}) == (
        "route add -net 10.0.0.0/16 10.0.0.1; route add -net 10.1.0.0/16 10.0.0.1; "
        "route add -net 10.2.0.0/16 10.0.0.1; ... and 2 more")
    run = {"op": "rtmsg", "args": {"type": "RTM_ADD", "af": "inet"},
           "fields": ["dst", "plen", "gateway"], "rows": [["10.0.0.0", 8, "10.0.0.1"]] * 7}
    assert commands("batch", {"ops": [run]}) == ["route add ... (7 routes)"]
    # the columns a `plebconf batch` sends: packed addresses, lengths, indexed gateways
    packed = {"op": "rtmsg", "args": {"type": "RTM_ADD", "af": "inet6"},
              "fields": ["dst", "plen", "gateway"],
              "columns": [pack_column("dst", "inet6", [0x20010DB8 << 96] * 5), bytes(5),
                          {"values": pack_column("gateway", "inet6", [1]), "index": bytes(5)}]}
    assert commands("batch", {"ops": [packed]}) == ["route add ... (5 routes)"]
    indexed = dict(packed, columns=[{"values": packed["columns"][0], "index": bytes(3)}])
    assert commands("batch", {"ops": [indexed]}) == ["route add ... (3 routes)"]
    assert commands("hello", {}) == ["hello"]


def test_clone_parameters_and_driver_commands_are_said_as_ifconfig_words():
    create = ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "vxlan", "params": {
        "vxlanid": 108, "vxlanlocal": "192.168.100.1", "vxlanremote": "192.168.100.2"}}]
    up = ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vxlan", "set": 1}]
    assert commands("batch", {"ops": [create, up]}) == [
        "ifconfig vxlan create vxlanid 108 vxlanlocal 192.168.100.1 vxlanremote "
        "192.168.100.2 up"]
    assert commands("ioctl", {"req": "SIOCSDRVSPEC", "ifname": "vxlan0",
                              "param": "vxlanportrange", "value": [10000, 20000]}) == [
        "ifconfig vxlan0 vxlanportrange 10000 20000"]
    assert commands("ioctl", {"req": "SIOCSDRVSPEC", "ifname": "vxlan0",
                              "param": "vxlanlearn", "value": False}) == [
        "ifconfig vxlan0 -vxlanlearn"]
    assert commands("sysctl", {"name": "net.inet.ip.forwarding", "value": 1}) == [
        "sysctl net.inet.ip.forwarding=1"]
