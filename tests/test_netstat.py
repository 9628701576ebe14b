"""netstat -r / -i against a live stack: whole-output goldens (docs/freebsd-tools.md §4)."""
import json
import re

import pytest

from plebconf.cli.route import ops_for
from tests.tooltest import VNET0_LL, VNET0_MAC, add_addr, ok, tool

FRESH = """\
Routing tables

Internet:
Destination        Gateway            Flags     Netif Expire
127.0.0.1          link#2             UH          lo0

Internet6:
Destination                       Gateway                       Flags     Netif Expire
::1                               link#2                        UHS         lo0
fe80::%lo0/64                     link#2                        U           lo0
fe80::1%lo0                       link#2                        UHS         lo0
"""


@pytest.mark.parametrize("wrapper", [False, True])
def test_netstat_rn_fresh_stack(stack, wrapper):
    assert ok(stack, "netstat", "-rn", wrapper=wrapper) == FRESH


def populate(stack, client):
    add_addr(client, "vnet0", "10.0.0.2", 24)
    add_addr(client, "vnet0", "2001:db8::2", 64)
    for argv in (["-net", "10.1.0.0/16", "10.0.0.1"], ["-net", "10.1.0.0/16", "10.0.0.3"],
                 ["-host", "10.2.3.4", "10.0.0.1"], ["default", "10.0.0.1"],
                 ["-net", "10.9.0.0/16", "127.0.0.1", "-blackhole"],
                 ["-net", "10.8.0.0/16", "127.0.0.1", "-reject"],
                 ["-inet6", "2001:db8:1::/48", "2001:db8::1"],
                 ["-inet6", "default", "2001:db8::1"],
                 ["-net", "10.5.0.0/16", "-interface", "vnet0"]):
        client.call(*ops_for(["add", *argv]).ops[0])


# Choice (docs/freebsd-tools.md §8.1): 14.x's netlink netstat names an interface route's gateway after its
# *output* interface (link#<index>), and puts that interface as the zone of a scoped
# destination: so the loopback routes of vnet0's own addresses read `link#2 ... lo0` and
# `fe80::…%lo0`.
POPULATED = f"""\
Routing tables

Internet:
Destination        Gateway            Flags     Netif Expire
default            10.0.0.1           UGS       vnet0
10.0.0.0/24        link#1             U         vnet0
10.0.0.2           link#2             UHS         lo0
10.1.0.0/16        10.0.0.1           UGS       vnet0
10.1.0.0/16        10.0.0.3           UGS       vnet0
10.2.3.4           10.0.0.1           UGHS      vnet0
10.5.0.0/16        link#1             US        vnet0
10.8.0.0/16        127.0.0.1          UGRS        lo0
10.9.0.0/16        127.0.0.1          UGSB        lo0
127.0.0.1          link#2             UH          lo0

Internet6:
Destination                       Gateway                       Flags     Netif Expire
default                           2001:db8::1                   UGS       vnet0
::1                               link#2                        UHS         lo0
2001:db8::/64                     link#1                        U         vnet0
2001:db8::2                       link#2                        UHS         lo0
2001:db8:1::/48                   2001:db8::1                   UGS       vnet0
fe80::%vnet0/64                   link#1                        U         vnet0
{VNET0_LL + '%lo0':<33} link#2                        UHS         lo0
fe80::%lo0/64                     link#2                        U           lo0
fe80::1%lo0                       link#2                        UHS         lo0
"""


def test_netstat_rn_after_addresses_static_host_default_blackhole_reject_inet6_multipath(
        stack, client):
    populate(stack, client)
    assert ok(stack, "netstat", "-rn") == POPULATED
    assert ok(stack, "netstat", "-rn", wrapper=True) == POPULATED


def test_netstat_family_selection(stack, client):
    populate(stack, client)
    inet, inet6 = POPULATED.split("\nInternet6:\n")
    assert ok(stack, "netstat", "-rn", "-4") == inet
    assert ok(stack, "netstat", "-rn", "-f", "inet") == inet
    assert ok(stack, "netstat", "-rn6") == "Routing tables\n\nInternet6:\n" + inet6
    assert ok(stack, "netstat", "-rnf", "inet6") == "Routing tables\n\nInternet6:\n" + inet6


def test_netstat_r_without_n_truncates_to_the_columns(stack, client):
    populate(stack, client)
    out = ok(stack, "netstat", "-r").split("\nInternet6:\n")[1]
    assert out == f"""\
Destination        Gateway            Flags     Netif Expire
default            2001:db8::1        UGS       vnet0
::1                link#2             UHS         lo0
2001:db8::/64      link#1             U         vnet0
2001:db8::2        link#2             UHS         lo0
2001:db8:1::/48    2001:db8::1        UGS       vnet0
fe80::%vnet0/64    link#1             U         vnet0
{VNET0_LL[:18]} link#2             UHS         lo0
fe80::%lo0/64      link#2             U           lo0
fe80::1%lo0        link#2             UHS         lo0
"""


def test_netstat_rnW_adds_nhop_and_mtu(stack, client):
    populate(stack, client)
    out = ok(stack, "netstat", "-rnW", "-4")
    assert out == """\
Routing tables

Internet:
Destination        Gateway            Flags   Nhop#    Mtu      Netif Expire
default            10.0.0.1           UGS         0   1500      vnet0
10.0.0.0/24        link#1             U           0   1500      vnet0
10.0.0.2           link#2             UHS         0  16384        lo0
10.1.0.0/16        10.0.0.1           UGS         0   1500      vnet0
10.1.0.0/16        10.0.0.3           UGS         0   1500      vnet0
10.2.3.4           10.0.0.1           UGHS        0   1500      vnet0
10.5.0.0/16        link#1             US          0   1500      vnet0
10.8.0.0/16        127.0.0.1          UGRS        0  16384        lo0
10.9.0.0/16        127.0.0.1          UGSB        0  16384        lo0
127.0.0.1          link#2             UH          0  16384        lo0
"""


def test_netstat_protrusion_and_expire(stack, client):
    """An overlong destination eats into the gateway column (-n); the Expire column shows
    the seconds left of a route added with -expire."""
    add_addr(client, "vnet0", "2001:db8::2", 64)
    add_addr(client, "vnet0", "10.0.0.2", 24)
    ok(stack, "route", "add", "-inet6", "2001:db8:1234:5678:9abc:def0:1234:5678",
       "2001:db8::1")
    ok(stack, "route", "add", "192.0.2.7", "10.0.0.1", "-expire", "+600")
    out = ok(stack, "netstat", "-rn")
    assert ("2001:db8:1234:5678:9abc:def0:1234:5678 2001:db8::1              UGHS      vnet0\n"
            in out)
    assert re.search(r"\n192\.0\.2\.7          10\.0\.0\.1           UGHS      vnet0    "
                     r"(600|599)\n", out)


def test_netstat_rn_libxo_json(stack, client):
    populate(stack, client)
    doc = json.loads(ok(stack, "netstat", "-rn", "-4", "--libxo", "json"))
    family = doc["statistics"]["route-information"]["route-table"]["rt-family"][0]
    assert family["address-family"] == "Internet"
    assert family["rt-entry"][0] == {
        "destination": "default", "gateway": "10.0.0.1", "flags": "UGS",
        "flags_pretty": ["up", "gateway", "static"], "weight": 1, "nhop-kidx": 0,
        "interface-name": "vnet0"}
    assert [e["flags"] for e in family["rt-entry"]][-3:] == ["UGRS", "UGSB", "UH"]


def test_netstat_libxo_xml_and_other_formats(stack, client):
    """The same libxo document as XML; an unknown style is xo_parse_args' failure, and
    netstat exits 1."""
    populate(stack, client)
    xml = ok(stack, "netstat", "-rn", "-4", "--libxo", "xml")
    assert xml.startswith(
        "<statistics><route-information><route-table><rt-family>"
        "<address-family>Internet</address-family><rt-entry><destination>default</destination>"
        "<gateway>10.0.0.1</gateway><flags>UGS</flags><flags_pretty>up</flags_pretty>"
        "<flags_pretty>gateway</flags_pretty><flags_pretty>static</flags_pretty>"
        "<weight>1</weight><nhop-kidx>0</nhop-kidx><interface-name>vnet0</interface-name>"
        "</rt-entry>")
    assert xml.endswith("</rt-family></route-table></route-information></statistics>\n")
    assert xml.count("<rt-entry>") == len(json.loads(ok(
        stack, "netstat", "-rn", "-4", "--libxo", "json"))["statistics"]["route-information"][
        "route-table"]["rt-family"][0]["rt-entry"])
    assert tool(stack, "netstat", "-rn", "--libxo", "yaml") == (
        1, "", "netstat: unknown libxo option value: 'yaml'\n")


IN_FRESH = f"""\
Name    Mtu Network       Address              Ipkts Ierrs Idrop    Opkts Oerrs  Coll
vnet0  1500 <Link#1>      {VNET0_MAC}        0     0     0        0     0     0
lo0   16384 <Link#2>      lo0                      0     0     0        0     0     0
lo0       - 127.0.0.0/8   127.0.0.1                0     -     -        0     -     -
lo0       - ::1/128       ::1                      0     -     -        0     -     -
lo0       - fe80::%lo0/64 fe80::1%lo0              0     -     -        0     -     -
"""


@pytest.mark.parametrize("wrapper", [False, True])
def test_netstat_in_fresh(stack, wrapper):
    """Counters are the interfaces' (zero until traffic); address rows show `-`."""
    assert ok(stack, "netstat", "-in", wrapper=wrapper) == IN_FRESH


def test_netstat_in_with_addresses_and_a_down_interface(stack, client):
    add_addr(client, "vnet0", "10.0.0.2", 24)
    add_addr(client, "vnet0", "2001:db8::2", 64)
    client.ioctl("SIOCIFCREATE2", ifname="tap0")        # created down: `tap0*`
    tap_mac = client.sysctl("NET_RT_IFLIST", ifname="tap0")[0]["mac"]
    assert ok(stack, "netstat", "-in") == f"""\
Name    Mtu Network       Address              Ipkts Ierrs Idrop    Opkts Oerrs  Coll
vnet0  1500 <Link#1>      {VNET0_MAC}        0     0     0        0     0     0
vnet0     - 10.0.0.0/24   10.0.0.2                 0     -     -        0     -     -
vnet0     - fe80::%vnet0/ {VNET0_LL[:17]}        0     -     -        0     -     -
vnet0     - 2001:db8::/64 2001:db8::2              0     -     -        0     -     -
lo0   16384 <Link#2>      lo0                      0     0     0        0     0     0
lo0       - 127.0.0.0/8   127.0.0.1                0     -     -        0     -     -
lo0       - ::1/128       ::1                      0     -     -        0     -     -
lo0       - fe80::%lo0/64 fe80::1%lo0              0     -     -        0     -     -
tap0*  1500 <Link#3>      {tap_mac}        0     0     0        0     0     0
"""


def test_netstat_in_bytes_and_json(stack):
    out = ok(stack, "netstat", "-inb")
    assert out.splitlines()[0] == ("Name    Mtu Network       Address              Ipkts Ierrs "
                                   "Idrop     Ibytes    Opkts Oerrs     Obytes  Coll")
    assert out.splitlines()[2] == ("lo0   16384 <Link#2>      lo0                      0     0 "
                                   "    0          0        0     0          0     0")
    doc = json.loads(ok(stack, "netstat", "-in", "--libxo", "json"))
    first = doc["statistics"]["interface-statistics"]["interface"][0]
    assert first["name"] == "vnet0" and first["network"] == "<Link#1>"
    assert first["address"] == VNET0_MAC and first["received-packets"] == 0


def test_netstat_in_counts_per_address(stack):
    """Address rows count as ip_input/ip_output do (ifa_ipackets/ifa_opackets): three echoes
    to 127.0.0.1 are 3 requests and 3 replies each way on lo0's address, 84 bytes apiece."""
    ok(stack, "ping", "-q", "-c", "3", "-i", "0.01", "127.0.0.1")
    lines = ok(stack, "netstat", "-inb", "-I", "lo0").splitlines()
    assert lines[1:3] == [
        "lo0   16384 <Link#2>      lo0                      6     0     0        504        6"
        "     0        504     0",
        "lo0       - 127.0.0.0/8   127.0.0.1                6     -     -        504        6"
        "     -        504     -"]
    assert lines[3].startswith("lo0       - ::1/128       ::1                      0     -")


def test_netstat_errors(stack):
    assert tool(stack, "netstat", "-rn", "-f", "ipx") == (
        1, "", "netstat: ipx: unknown address family\n")
    assert tool(stack, "netstat", "-rnF", "3") == (64, "", "netstat: 3: invalid fib\n")
    rc, out, err = tool(stack, "netstat", "-Z")
    # main.c: getopt's complaint, then usage(), which prints every form and does exit(1)
    assert rc == 1 and err.startswith("netstat: illegal option -- Z\nusage: netstat")
    assert err.endswith("\n       netstat -gs [-46s] [-f address_family] [-M core] [-N system]\n"
                        "       netstat -Q\n")


# -- the chunk-wise rendering against FreeBSD's rules applied row by row ------------------------
def reference_lines(rows, o, ifindex: dict) -> str:
    """netstat -r's lines from the rows form of NET_RT_DUMP, one row at a time: the rules
    netstat's chunk-wise rendering of the compact form must reproduce."""
    from plebconf.cli import netfmt, netstat
    out = []
    for fam, dst, plen, gw, flags, ifname, expire, mtu, weight, nhidx in rows:
        wd, wg, wf, wi, we = netstat.route_widths(fam, o)
        d = netfmt.rescope(dst, ifname)
        d = "default" if plen == 0 else d if flags & 0x4 else f"{d}/{plen}"     # RTF_HOST
        g = netfmt.rescope(gw, ifname) if flags & 0x2 else "link#%d" % ifindex[ifname]
        f = netfmt.flag_letters(flags | 1)
        if not (o.n or o.W):
            line = "%-*.*s %-*.*s %-*s %*.*s" % (wd, wd, d, wg, wg, g, wf, f, wi, wi, ifname)
        else:
            gwidth = max(wg - max(0, len(d) - wd), 0)
            prot = max(0, len(g) - gwidth)
            line = "%-*s %-*s %-*s " % (wd, d, gwidth, g, max(wf - prot, 0), f)
            line += ("%*d %*s %*s" % (6, nhidx, 6, mtu or "", wi, ifname) if o.W
                     else "%*.*s" % (wi, wi, ifname))
        if expire > 0:
            line += " %*d" % (we, expire)
        out.append(line + "\n")
    return "".join(out)


@pytest.mark.parametrize("argv", [["-rn"], ["-r"], ["-rnW"], ["-rW"]])
def test_chunkwise_rendering_is_the_row_by_row_rules(argv):
    """Several chunks of IPv4 and IPv6 routes mixing networks, hosts, interface routes,
    expiring routes and destinations or gateways too long for their columns."""
    from plebconf.cli import netstat
    from plebproto import protocol
    from plebconf.rpc.client import run
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls
    st = Stack(clock=lambda: 1000.0, pid=1)
    with st.transaction():
        st.if_attach("vnet0", "vnet")
        st.if_attach("lo0", "lo")
    sc = Syscalls(st, 1)
    sc.run_batch([
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24}],
        ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "2001:db8::2",
                   "plen": 64, "flags": 0x20}],
        run("rtmsg", {"type": "RTM_ADD", "af": "inet", "gateway": "10.0.0.1"}, ["dst", "plen"],
            rows=[[f"20.{i >> 8}.{i & 255}.0", 24 if i % 5 else 32] for i in range(9000)]),
        run("rtmsg", {"type": "RTM_ADD", "af": "inet6"}, ["dst", "plen", "gateway"],
            rows=[[f"2001:db8:{i:x}:5678:9abc:def0:1234:5678", 128 if i % 3 else 64,
                   "2001:db8::1" if i % 2 else "2001:db8::abcd:ef01:2345:6789"]
                  for i in range(1, 9000)]),
        ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "0.0.0.0", "plen": 0,
                   "gateway": "10.0.0.1"}],
        ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.5.0.0", "plen": 16,
                   "gateway": "vnet0", "iface": True}],
        ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "30.0.0.0", "plen": 8,
                   "gateway": "10.0.0.1", "expire": 600}],
        ["rtmsg", {"type": "RTM_ADD", "af": "inet6", "dst": "2001:db8:ffff::", "plen": 48,
                   "gateway": "fe80::1234:5678:9abc:def0%vnet0"}]])     # too long a gateway
    ifindex = {"vnet0": 1, "lo0": 2}
    o = netstat.parse(argv)

    def wire(chunks):          # as the client decodes them
        return [protocol.decode(protocol.encode({"result": c})[4:])["result"] for c in chunks
                if c is not None]   # (None: the stack's loop turn ends there, see Stream)
    rows = [r for c in wire(sc.dispatch("sysctl", {"name": "NET_RT_DUMP"}).rows) for r in c]
    chunks = wire(sc.dispatch("sysctl", {"name": "NET_RT_DUMP", "form": "compact"}).rows)
    assert len(chunks) > 2
    assert "".join(netstat.format_routes(c, o, ifindex) for c in chunks) == \
        reference_lines(rows, o, ifindex)
