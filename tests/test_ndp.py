"""`plebconf ndp` against a real stack, compared whole with what FreeBSD 14's ndp(8) prints
in its default (netlink) build: usr.sbin/ndp/ndp.c (main's modes and exit statuses,
usage(), ifinfo(), rtrlist(), plist(), getdefif(), sec2str()) and ndp_netlink.c
(print_entries_nl's header and print_entry's columns, delete_nl, set_nl and their
warnings).  Column widths W_ADDR 36, W_LL 17, W_IF 6 are ndp.h's."""
from __future__ import annotations

import json
import socket
import time

import pytest

from conftest import run_tool
from plebproto.constants import IN6_IFF_TENTATIVE

HEADER = "Neighbor                             Linklayer Address  Netif Expire    S Flags\n"
USAGE = ("usage: ndp [-nt] hostname\n"
         "       ndp [-nt] -a | -c | -p | -r | -H | -P | -R\n"
         "       ndp [-nt] -A wait\n"
         "       ndp [-nt] -d hostname\n"
         "       ndp [-nt] -f filename\n"
         "       ndp [-nt] -i interface [flags...]\n"
         "       ndp [-nt] -I [interface|delete]\n"
         "       ndp [-nt] -s nodename etheraddr [temp] [proxy]\n")


def ndp(stack, *args, **kw):
    return run_tool(stack, "ndp", *args, **kw)


@pytest.fixture
def six(stack, client):
    """vnet0 with 2001:db8::1/64 (and its link-local), past DAD: (stack, client, mac, ll)."""
    res = run_tool(stack, "ifconfig", "vnet0", "inet6", "2001:db8::1/64")
    assert res.returncode == 0, res.stderr
    end = time.monotonic() + 10
    while True:
        info = client.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]
        v6 = [a for a in info["addrs"] if a["af"] == "inet6"]
        if not any(a["flags"] & IN6_IFF_TENTATIVE for a in v6) or time.monotonic() > end:
            break
        time.sleep(0.1)
    ll = next(a["addr"] for a in v6 if a["addr"].startswith("fe80:"))
    return stack, client, info["mac"], ll


def line(addr, mac, state="R", flags="", ifname="vnet0", expire="permanent"):
    """print_entry's columns, each wider column borrowing from the next (ndp_netlink.c)."""
    aw = max(len(addr), 36)
    lw = max(len(mac), 36 + 17 - aw)
    iw = max(len(ifname), 36 + 17 + 6 - aw - lw)
    return f"{addr:<{aw}} {mac:<{lw}} {ifname:>{iw}} {expire:<9} {state} {flags}\n"


def walk(*entries):
    """The lines of entries ((addr, line) pairs, oldest first) in the order FreeBSD 14's
    neighbour dump walks the table (print_entries_nl prints as it comes): hash bucket by
    bucket -- in6.c IN6_LLTBL_HASH of s6_addr32[3], 32 buckets -- the newest of a bucket
    first (htable_link_entry links at the head)."""
    def bucket(addr):
        k = int.from_bytes(socket.inet_pton(socket.AF_INET6, addr.split("%")[0])[12:], "big")
        return ((((((k >> 8) ^ k) >> 8) ^ k) >> 8) ^ k) & 31
    order = sorted(range(len(entries)), key=lambda i: (bucket(entries[i][0]), -i))
    return "".join(entries[i][1] for i in order)


def own(ll, mac):
    """The interface's own entries (its link-local address first, then 2001:db8::1)."""
    return [(ll, line(ll, mac)), ("2001:db8::1", line("2001:db8::1", mac))]


def test_ndp_a_lists_own_and_static_entries(six):
    stack, client, mac, ll = six
    assert ndp(stack, "-s", "2001:db8::2", "0:11:22:33:44:55").returncode == 0
    res = ndp(stack, "-s", "2001:db8::3", "00:11:22:33:44:66", "proxy")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    long = "2001:db8::ffff:ffff:ffff:fff7"           # inside W_ADDR
    longer = "2001:db8:1234:5678:9abc:def0:1234:5678"  # 39: lends from the next columns
    assert ndp(stack, "-s", long, "00:11:22:33:44:77").stdout == ""
    run_tool(stack, "route", "-6", "add", "2001:db8:1234::/48", "-interface", "vnet0")
    assert ndp(stack, "-s", longer, "00:11:22:33:44:88").returncode == 0
    expected = HEADER + walk(
        *own(ll, mac),
        ("2001:db8::2", line("2001:db8::2", "00:11:22:33:44:55")),
        ("2001:db8::3", line("2001:db8::3", "00:11:22:33:44:66", flags="p")),
        (long, line(long, "00:11:22:33:44:77")),
        (longer, line(longer, "00:11:22:33:44:88")))
    assert line(longer, "00:11:22:33:44:88") == (
        "2001:db8:1234:5678:9abc:def0:1234:5678 00:11:22:33:44:88 vnet0 permanent R \n")
    for args in (["-a"], ["-an"], ["-n", "-a"]):
        res = ndp(stack, *args)
        assert (res.returncode, res.stdout, res.stderr) == (0, expected, ""), args
    # --libxo json: the "ndp" container's neighbor-cache list (xo fields of print_entry)
    res = run_tool(stack, "--libxo", "json", "ndp", "-a")
    doc = json.loads(res.stdout)
    assert doc["__version"] == "1"
    assert doc["ndp"]["neighbor-cache"][3] == {
        "address": "2001:db8::3", "mac-address": "00:11:22:33:44:66", "interface": "vnet0",
        "permanent": True, "neighbor-state": "R", "nd-flags": "p"}


def test_ndp_host_shows_one_entry_or_says_no_entry(six):
    stack, client, mac, ll = six
    ndp(stack, "-s", "2001:db8::2", "00:11:22:33:44:55")
    res = ndp(stack, "2001:db8::2")
    assert (res.returncode, res.stdout, res.stderr) == (
        0, HEADER + line("2001:db8::2", "00:11:22:33:44:55"), "")
    res = ndp(stack, "-n", "2001:db8::9")
    # get(): the header, then xo_errx(1, "%s (%s) -- no entry")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, HEADER, "ndp: 2001:db8::9 (2001:db8::9) -- no entry\n")
    # a link-local address names its zone, as getaddrinfo's scope id does
    res = ndp(stack, ll)
    assert res.stdout == HEADER + line(ll, mac)
    res = ndp(stack, "no.such.host.invalid")
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", "ndp: no.such.host.invalid: hostname nor servname provided, or not known\n")


def test_ndp_d_deletes_and_warns_with_status_zero(six):
    stack, client, mac, ll = six
    ndp(stack, "-s", "2001:db8::2", "00:11:22:33:44:55")
    res = ndp(stack, "-d", "2001:db8::2")
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "2001:db8::2 (2001:db8::2) deleted\n", "")
    # main() ignores delete()'s result: every failure still exits 0
    res = ndp(stack, "-d", "2001:db8::2")
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", "ndp: delete 2001:db8::2: No such file or directory\n")
    res = ndp(stack, "-d", "2001:db8::1")          # our own address
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", "ndp: delete 2001:db8::1: Operation not permitted\n")
    res = ndp(stack, "-d", "2001:db8:77::1")        # no interface route: guess_ifindex 0
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", "ndp: delete: cannot locate 2001:db8:77::1\n")
    res = ndp(stack, "-d", "2001:db8::2", "extra")
    assert (res.returncode, res.stdout) == (1, USAGE)


def test_ndp_s_errors(six):
    stack, client, mac, ll = six
    res = ndp(stack, "-s", "2001:db8:77::5", "00:11:22:33:44:55")
    # set_nl words it as delete_nl does, and returns 0
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", "ndp: delete: cannot locate 2001:db8:77::5\n")
    res = ndp(stack, "-s", "2001:db8::5", "00:11:22:33:44")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "", "ndp: invalid Ethernet address '00:11:22:33:44'\n"
               "ndp: set 2001:db8::5: Invalid argument\n")
    assert ndp(stack, "-an").stdout == HEADER + walk(*own(ll, mac))
    for args in (["-s", "2001:db8::5"], ["-s", "a", "b", "c", "d", "e"]):
        res = ndp(stack, *args)
        assert (res.returncode, res.stdout, res.stderr) == (1, USAGE, ""), args


def test_ndp_c_prints_and_deletes_every_entry(six):
    stack, client, mac, ll = six
    ndp(stack, "-s", "2001:db8::2", "00:11:22:33:44:55")
    res = ndp(stack, "-c")
    # print_entries_nl with cflag: no header, each entry, then delete_nl on it (the
    # interface's own entries refuse)
    plain_ll = ll.split("%")[0]
    assert res.returncode == 0
    refused = {ll: f"ndp: delete {plain_ll}: Operation not permitted\n",
               "2001:db8::1": "ndp: delete 2001:db8::1: Operation not permitted\n"}
    entries = [*own(ll, mac), ("2001:db8::2", line("2001:db8::2", "00:11:22:33:44:55")
                                + "2001:db8::2 (2001:db8::2) deleted\n")]
    assert res.stdout == walk(*entries)
    walked = walk(*[(addr, addr + "\n") for addr, _ in entries]).split()
    assert res.stderr == "".join(refused[a] for a in walked if a in refused)
    assert ndp(stack, "-a").stdout == HEADER + walk(*own(ll, mac))


def test_ndp_i_shows_and_sets_nd6_flags(six):
    stack, client, mac, ll = six
    res = ndp(stack, "-i", "vnet0")
    head, flags = res.stdout.split("\n", 1)
    assert head.startswith("linkmtu=0, maxmtu=1500, curhlim=64, basereachable=30s0ms, "
                           "reachable=") and head.endswith("s, retrans=1s0ms")
    assert flags == "Flags: nud auto_linklocal \n" and res.returncode == 0
    reachable = head.split("reachable=")[2].split("s")[0]
    # getopt goes on after -i's argument: a leading "-" flag needs "--" before it
    res = ndp(stack, "-i", "vnet0", "-nud")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, USAGE, "ndp: illegal option -- u\n")
    res = ndp(stack, "-i", "vnet0", "--", "-nud", "accept_rtadv", "basereachable=60000",
              "retrans=2500", "nonsense")
    assert res.returncode == 0, res.stderr
    head, flags = res.stdout.split("\n", 1)
    assert head.startswith("linkmtu=0, maxmtu=1500, curhlim=64, basereachable=60s0ms, "
                           "reachable=") and head.endswith("s, retrans=2s500ms")
    assert flags == "Flags: accept_rtadv auto_linklocal \n"
    assert 29 <= int(head.split("reachable=")[2].split("s")[0]) <= 89
    assert reachable.isdigit()
    info = client.sysctl("NET_RT_IFLIST", ifname="vnet0")[0]
    assert info["nd6"] & 0x3 == 0x2                 # ACCEPT_RTADV on, PERFORMNUD off
    # ifconfig shows the same flags
    assert "nd6 options=22<ACCEPT_RTADV,AUTO_LINKLOCAL>" in run_tool(
        stack, "ifconfig", "vnet0").stdout
    res = ndp(stack, "-i", "vnet9")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "", "ndp: ioctl(SIOCGIFINFO_IN6): Device not configured\n")
    res = ndp(stack, "-i", "vnet0", "curhlim")
    assert (res.returncode, res.stderr) == (
        1, "ndp: syntax error in curhlim field: No error: 0\n")
    res = run_tool(stack, "--libxo", "json", "ndp", "-i", "vnet0")
    info = json.loads(res.stdout)["ndp"]["ifinfo"]
    assert (info["interface"], info["linkmtu"], info["basereachable_ms"], info["retrans_ms"],
            info["flags"], info["flags_pretty"]) == (
        "vnet0", 0, 60000, 2500, 0x22, ["accept_rtadv", "auto_linklocal"])


def test_ndp_I_default_interface(six):
    stack, client, mac, ll = six
    assert ndp(stack, "-I").stdout == "No default interface.\n"
    res = ndp(stack, "-I", "vnet0")
    assert (res.returncode, res.stdout) == (0, "ND default interface = vnet0\n")
    assert ndp(stack, "-I").stdout == "ND default interface = vnet0\n"
    res = ndp(stack, "-I", "vnet7")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "", "ndp: invalid interface vnet7\n")
    assert ndp(stack, "-I", "delete").stdout == "No default interface.\n"
    assert (ndp(stack, "-I", "a", "b").returncode, ndp(stack, "-I", "a", "b").stdout) == (
        1, USAGE)


def test_ndp_p_and_r_without_routers(six):
    stack, client, mac, ll = six
    res = ndp(stack, "-r")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")   # rtrlist: l == 0
    res = ndp(stack, "-p")
    # in6_update_ifa's prefixes, newest first: 2001:db8::/64, then vnet0's link-local
    # one (made when the address enabled IPv6 on vnet0), then lo0's from boot
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == (
        "2001:db8::/64 if=vnet0\n"
        "flags=LO vltime=infinity, pltime=infinity, expire=Never, ref=1\n"
        "  No advertising router\n"
        "fe80::%vnet0/64 if=vnet0\n"
        "flags=LO vltime=infinity, pltime=infinity, expire=Never, ref=1\n"
        "  No advertising router\n"
        "fe80::%lo0/64 if=lo0\n"
        "flags=LO vltime=infinity, pltime=infinity, expire=Never, ref=1\n"
        "  No advertising router\n")
    run_tool(stack, "ifconfig", "vnet0", "inet6", "2001:db8::7/64", "alias")
    assert "2001:db8::/64 if=vnet0\nflags=LO vltime=infinity, pltime=infinity, " \
           "expire=Never, ref=2\n" in ndp(stack, "-p").stdout


def test_ndp_usage_and_bad_options(stack):
    for args in ([], ["-a", "-r"], ["-a", "extra"], ["-p", "x"]):
        res = ndp(stack, *args)
        assert (res.returncode, res.stdout, res.stderr) == (1, USAGE, ""), args
    res = ndp(stack, "-x")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, USAGE, "ndp: illegal option -- x\n")
    res = ndp(stack, "-d")
    assert (res.returncode, res.stdout, res.stderr) == (
        1, USAGE, "ndp: option requires an argument -- d\n")


def test_ndp_f_and_the_wrapper(six, tmp_path):
    stack, client, mac, ll = six
    f = tmp_path / "ndp.txt"
    f.write_text("# static neighbors\n2001:db8::2 00:11:22:33:44:55\n"
                 "2001:db8::3 00:11:22:33:44:66 proxy\nlonely\n")
    res = ndp(stack, "-f", str(f))
    assert (res.returncode, res.stderr) == (1, "ndp: bad line: lonely\n\n")
    res = run_tool(stack, "ndp", "-an", wrapper=True)
    assert res.returncode == 0
    assert res.stdout == HEADER + walk(
        *own(ll, mac), ("2001:db8::2", line("2001:db8::2", "00:11:22:33:44:55")),
        ("2001:db8::3", line("2001:db8::3", "00:11:22:33:44:66", flags="p")))
