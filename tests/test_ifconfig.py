"""`ifconfig` against a live stack: whole outputs compared byte for byte with FreeBSD 14's
(docs/freebsd-tools.md §1.6, §1.7), through `plebconf ifconfig` and through scripts/ifconfig.

Stacks are shared per scenario (each start costs ~0.3 s).  IPv6 DAD is switched off
(net.inet6.ip6.dad_count=0) except in the one test of `tentative`."""
import json
import tempfile

import pytest

from conftest import run_tool
from plebnet_core.spawn import spawn_stack

from conftest import TEST_HOSTUUID
from tests.tooltest import VNET0_LL, VNET0_MAC, eui64     # ether_gen_addr of TEST_HOSTUUID
VNET0 = (
    "vnet0: flags=1008802<BROADCAST,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n"
    "\toptions=8<VLAN_MTU>\n"
    f"\tether {VNET0_MAC}\n"
    "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
    "\tstatus: active\n"
    "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
)
LO0 = (
    "lo0: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384\n"
    "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
    "\tinet 127.0.0.1 netmask 0xff000000\n"
    "\tinet6 ::1 prefixlen 128\n"
    "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x2\n"
    "\tgroups: lo\n"
    "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n"
)


def new_stack(dad=False):
    st = spawn_stack(["--nic", "vnet0=none", "--hostuuid", TEST_HOSTUUID],
                     sockdir=tempfile.mkdtemp(prefix="pleb-ifc-"))
    if not dad:
        with st.client() as c:
            c.call("sysctl", {"name": "net.inet6.ip6.dad_count", "value": 0})
    return st


@pytest.fixture
def st():
    s = new_stack()
    yield s
    s.stop()


def ifconfig(stack, *args, wrapper=False):
    return run_tool(stack, "ifconfig", *args, wrapper=wrapper)


def ok(stack, *args, wrapper=False) -> str:
    r = ifconfig(stack, *args, wrapper=wrapper)
    assert (r.returncode, r.stderr) == (0, ""), r
    return r.stdout


def both(stack, *args) -> str:
    """A read-only command through `plebconf ifconfig` and scripts/ifconfig: same bytes."""
    plain = ok(stack, *args)
    assert ok(stack, *args, wrapper=True) == plain
    return plain


def mac_of(stack, name):
    with stack.client() as c:
        return c.call("sysctl", {"name": "NET_RT_IFLIST", "ifname": name})[0]["mac"]


# ============================================================================ listings
def test_fresh_stack_nics_first_lo0_last(st):
    assert both(st) == VNET0 + LO0
    assert both(st, "-a") == VNET0 + LO0
    assert both(st, "vnet0") == VNET0
    assert both(st, "lo0") == LO0


def test_addresses_mixed_forms_replace_first_and_aliases(st):
    ok(st, "vnet0", "10.0.0.2/24")                                  # CIDR
    ok(st, "vnet0", "inet", "10.0.1.2", "netmask", "255.255.255.0", "alias", wrapper=True)
    ok(st, "vnet0", "10.0.2.2", "netmask", "0xffff0000", "alias")   # hex mask
    ok(st, "vnet0", "alias", "10.0.3.2/32")                         # /32 alias: bcast = addr
    # non-alias form: deletes the FIRST address (10.0.0.2) and appends the new one
    ok(st, "vnet0", "inet", "192.168.5.1/30")
    assert both(st, "vnet0") == (
        "vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        "\toptions=8<VLAN_MTU>\n"
        f"\tether {VNET0_MAC}\n"
        "\tinet 10.0.1.2 netmask 0xffffff00 broadcast 10.0.1.255\n"
        "\tinet 10.0.2.2 netmask 0xffff0000 broadcast 10.0.255.255\n"
        "\tinet 10.0.3.2 netmask 0xffffffff broadcast 10.0.3.2\n"
        "\tinet 192.168.5.1 netmask 0xfffffffc broadcast 192.168.5.3\n"
        "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    # -alias removes exactly one; re-adding an existing address moves it to the tail
    ok(st, "vnet0", "10.0.2.2", "-alias")
    ok(st, "vnet0", "10.0.1.2/24", "alias")
    assert both(st, "vnet0", "inet") == (
        "vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        "\toptions=8<VLAN_MTU>\n"
        "\tinet 10.0.3.2 netmask 0xffffffff broadcast 10.0.3.2\n"
        "\tinet 192.168.5.1 netmask 0xfffffffc broadcast 192.168.5.3\n"
        "\tinet 10.0.1.2 netmask 0xffffff00 broadcast 10.0.1.255\n")


def test_no_mask_warning_and_classful_default(st):
    r = ifconfig(st, "vnet0", "172.16.4.1")
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr == ("ifconfig: WARNING: setting interface address without mask is "
                        "deprecated,\ndefault mask may not be correct.\n")
    assert "\tinet 172.16.4.1 netmask 0xffff0000 broadcast 172.16.255.255\n" in ok(st, "vnet0")
    r = ifconfig(st, "lo0", "127.0.0.2", "alias")        # no warning for loopback
    assert (r.returncode, r.stderr) == (0, "")


def test_inet6_link_local_and_global_all_inet_first(st):
    ok(st, "vnet0", "inet6", "2001:db8::1/64")           # enables IPv6: link-local comes too
    ok(st, "vnet0", "10.0.0.2/24")                        # added after, printed before (14.x)
    ok(st, "vnet0", "inet6", "2001:db8:1::5", "prefixlen", "48", "alias", "prefer_source")
    ok(st, "vnet0", "inet6", "fe80::99%vnet0", "alias", wrapper=True)
    assert both(st, "vnet0") == (
        "vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        "\toptions=8<VLAN_MTU>\n"
        f"\tether {VNET0_MAC}\n"
        "\tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255\n"
        f"\tinet6 {VNET0_LL}%vnet0 prefixlen 64 scopeid 0x1\n"
        "\tinet6 2001:db8::1 prefixlen 64\n"
        "\tinet6 2001:db8:1::5 prefixlen 48 prefer_source\n"
        "\tinet6 fe80::99%vnet0 prefixlen 64 scopeid 0x1\n"
        "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
    # the inet6 filter: inet6 lines and the nd6 line (af_inet6's other status)
    assert both(st, "vnet0", "inet6") == (
        "vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n"
        "\toptions=8<VLAN_MTU>\n"
        f"\tinet6 {VNET0_LL}%vnet0 prefixlen 64 scopeid 0x1\n"
        "\tinet6 2001:db8::1 prefixlen 64\n"
        "\tinet6 2001:db8:1::5 prefixlen 48 prefer_source\n"
        "\tinet6 fe80::99%vnet0 prefixlen 64 scopeid 0x1\n"
        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
    ok(st, "vnet0", "inet6", "2001:db8::1", "delete")
    assert "2001:db8::1 " not in ok(st, "vnet0")


def test_inet6_tentative_during_dad():
    """New IPv6 addresses are `tentative` for net.inet6.ip6.dad_count seconds (docs/freebsd-tools.md §6.2)."""
    s = new_stack(dad=True)
    try:
        with s.client() as c:       # long enough that a slow machine still sees it
            c.call("sysctl", {"name": "net.inet6.ip6.dad_count", "value": 60})
        ok(s, "vnet0", "inet6", "2001:db8::7/64", "-ifdisabled")
        assert ok(s, "vnet0", "inet6").splitlines()[2:4] == [
            f"\tinet6 {VNET0_LL}%vnet0 prefixlen 64 tentative scopeid 0x1",
            "\tinet6 2001:db8::7 prefixlen 64 tentative"]
    finally:
        s.stop()


def test_down_mtu_metric_description_flags_lladdr(st):
    ok(st, "vnet0", "10.0.0.2/24", "mtu", "9000", "metric", "2", "description",
       "uplink to the lab", "-arp", "promisc", "staticarp")
    ok(st, "vnet0", "down")
    ok(st, "vnet0", "ether", "02:00:00:00:00:aa")
    assert both(st, "vnet0") == (
        "vnet0: flags=10a8882<BROADCAST,NOARP,SIMPLEX,MULTICAST,PPROMISC,STATICARP,LOWER_UP> "
        "metric 2 mtu 9000\n"
        "\tdescription: uplink to the lab\n"
        "\toptions=8<VLAN_MTU>\n"
        "\tether 02:00:00:00:00:aa\n"
        f"\thwaddr {VNET0_MAC}\n"
        "\tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255\n"
        "\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    ok(st, "vnet0", "-description", "arp", "-promisc", "-staticarp", "up", "mtu", "1500",
       "metric", "0")
    assert ok(st, "vnet0").splitlines()[:2] == [
        "vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500", "\toptions=8<VLAN_MTU>"]


def test_nd6_flags(st):
    """ND flags are SIOCSIFINFO_IN6 set/clear; clearing ifdisabled brings the link-local."""
    ok(st, "vnet0", "inet6", "-ifdisabled", "accept_rtadv", "no_dad", "-nud")
    out = ok(st, "vnet0")
    assert f"\tinet6 {VNET0_LL}%vnet0 prefixlen 64 scopeid 0x1\n" in out
    assert out.endswith("\tnd6 options=122<ACCEPT_RTADV,AUTO_LINKLOCAL,NO_DAD>\n")
    # eui64: the link-local's interface identifier completes the address
    ok(st, "vnet0", "inet6", "2001:db8:1::", "prefixlen", "64", "eui64", "alias")
    assert f"\tinet6 {eui64('2001:db8:1::')} prefixlen 64\n" in ok(st, "vnet0")
    # -L: lifetimes of addresses that have finite ones
    ok(st, "vnet0", "inet6", "2001:db8:2::1/64", "pltime", "3600", "vltime", "7200", "alias")
    assert ("\tinet6 2001:db8:2::1 prefixlen 64 pltime 3600 vltime 7200\n"
            in ok(st, "-L", "vnet0", "inet6"))
    assert "\tinet6 2001:db8:2::1 prefixlen 64\n" in ok(st, "vnet0", "inet6")
    ok(st, "vnet0", "inet6", "nud", "-accept_rtadv", "-no_dad", "ifdisabled", wrapper=True)
    assert ok(st, "vnet0").endswith("\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")


def test_groups(st):
    ok(st, "vnet0", "group", "wan", "group", "uplink")
    ok(st, "vnet0", "group", "wan")                     # joining twice is not an error
    ok(st, "vnet0", "-group", "uplink", "-group", "nothere")
    assert "\tgroups: wan\n" in both(st, "vnet0")
    assert both(st, "-g", "wan") == "vnet0\n"
    assert both(st, "-g", "lo") == "lo0\n"
    assert both(st, "-g", "nosuch") == ""               # unknown group: nothing, status 0
    assert both(st, "-a", "-g", "wan") == ok(st, "vnet0")
    assert both(st, "-l", "-g", "lo") == "lo0\n"


def test_rename_prints_the_new_name(st):
    assert ok(st, "vnet0", "name", "wan0") == "wan0\n"
    assert ok(st, "wan0", "name", "vnet1", "up", wrapper=True) == "vnet1\n"
    assert both(st, "-l") == "vnet1 lo0\n"
    assert both(st, "vnet1").startswith(
        "vnet1: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1500\n")


def test_list_names_with_each_filter(st):
    ok(st, "tap", "create")
    ok(st, "vnet0", "inet6", "-ifdisabled")
    ok(st, "vnet0", "10.0.0.2/24")
    assert both(st, "-l") == "vnet0 lo0 tap0\n"
    assert both(st, "-l", "inet") == "vnet0 lo0\n"
    assert both(st, "-l", "inet6") == "vnet0 lo0\n"
    assert both(st, "-l", "link") == "vnet0 tap0\n"
    assert both(st, "-l", "lladdr") == "vnet0 tap0\n"
    assert both(st, "-l", "ether") == "vnet0 tap0\n"
    assert both(st, "-l", "-u") == "vnet0 lo0\n"
    assert both(st, "-l", "-d") == "tap0\n"
    assert both(st, "-l", "-d", "inet") == "\n"          # none match: just the newline
    assert both(st, "-l", "-g", "tap") == "tap0\n"
    assert both(st, "-C") == "lo tap vxlan vlan bridge epair lagg gif\n"
    assert both(st, "-d") == ok(st, "tap0")
    assert both(st, "-a", "-u", "inet") == ok(st, "vnet0", "inet") + ok(st, "lo0", "inet")


def test_each_format(st):
    ok(st, "vnet0", "10.0.0.2/24")
    ok(st, "vnet0", "inet6", "2001:db8::1/64")
    head = ("vnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
            "mtu 1500\n\toptions=8<VLAN_MTU>\n")
    tail = ("\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n\tstatus: active\n"
            "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
    ll = f"{VNET0_LL}%vnet0"
    assert both(st, "-f", "inet:cidr", "vnet0") == (
        head + f"\tether {VNET0_MAC}\n\tinet 10.0.0.2/24 broadcast 10.0.0.255\n"
        f"\tinet6 {ll} prefixlen 64 scopeid 0x1\n\tinet6 2001:db8::1 prefixlen 64\n" + tail)
    assert both(st, "-f", "inet:dotted", "vnet0", "inet") == (
        head + "\tinet 10.0.0.2 netmask 255.255.255.0 broadcast 10.0.0.255\n")
    assert both(st, "-f", "inet:hex", "vnet0", "inet") == (
        head + "\tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255\n")
    assert both(st, "-f", "inet6:cidr", "vnet0", "inet6") == (
        head + f"\tinet6 {ll}/64 scopeid 0x1\n\tinet6 2001:db8::1/64\n"
        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
    assert both(st, "-f", "ether:dash", "vnet0", "ether") == (
        head + f"\tether {VNET0_MAC.replace(':', '-')}\n")
    assert both(st, "-f", "ether:dotted", "vnet0", "link") == (
        head + "\tether %s.%s.%s\n" % tuple(VNET0_MAC.replace(":", "")[i:i + 4]
                                              for i in (0, 4, 8)))
    assert both(st, "-f", "inet:cidr,ether:dash", "vnet0", "ether") == (
        head + f"\tether {VNET0_MAC.replace(':', '-')}\n")
    # FreeBSD prints (on stdout) and skips a format without a colon
    assert both(st, "-f", "cidr", "vnet0", "ether") == (
        "Skipping invalid format: cidr\n" + head + f"\tether {VNET0_MAC}\n")


# ============================================================================ cloners
def test_create_destroy_tap(st):
    assert ok(st, "tap", "create") == "tap0\n"              # unit picked: name printed
    assert ok(st, "tap5", "create", wrapper=True) == ""     # unit given: nothing
    assert ok(st, "tap", "plumb", "mtu", "9000", "up") == "tap1\n"
    mac = mac_of(st, "tap0")
    assert both(st, "tap0") == (
        "tap0: flags=1008802<BROADCAST,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n"
        "\toptions=80000<LINKSTATE>\n"
        f"\tether {mac}\n"
        "\tgroups: tap\n"
        "\tmedia: Ethernet autoselect\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
        f"\tOpened by PID {st.pid}\n")     # the stack holds the TAP device open (docs/freebsd-tools.md §1.6)
    assert both(st, "-l") == "vnet0 lo0 tap0 tap5 tap1\n"
    # `IF create WORDS` on an existing clone just configures it (ifconfig.c skips create)
    assert ok(st, "tap0", "create", "description", "again") == ""
    assert "\tdescription: again\n" in ok(st, "tap0")
    assert ok(st, "tap1", "destroy") == ""
    assert ok(st, "tap5", "unplumb", wrapper=True) == ""
    ok(st, "tap0", "destroy")
    assert both(st) == VNET0 + LO0


def test_create_destroy_vxlan_with_parameters(st):
    """vxlan(4) parameters ride in SIOCIFCREATE2's params; the status line is ifvxlan.c's
    `vxlan vni N local A:P remote B:P` (group for a multicast remote), after groups and
    before media; ports default to 4789; an endpoint never set prints as `:` (ifvxlan.c
    prints getnameinfo's empty result for the kernel's empty sockaddr)."""
    # a real UDP socket is bound: loopback endpoints, ports unlikely to be taken
    assert ok(st, "vxlan", "create", "vxlanid", "108", "vxlanlocal", "127.0.0.1",
              "vxlanlocalport", "47890", "vxlanremote", "127.0.0.1", "vxlanremoteport",
              "47891", "inet", "10.9.0.1/24", "up") == "vxlan0\n"
    ok(st, "vxlan7", "create", "vni", "9", "vxlangroup", "239.1.1.1", "vxlandev", "vnet0",
       wrapper=True)
    ok(st, "vxlan8", "create")
    mac = mac_of(st, "vxlan0")
    assert both(st, "vxlan0") == (
        "vxlan0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 "
        "mtu 1450\n"
        "\toptions=80000<LINKSTATE>\n"
        f"\tether {mac}\n"
        "\tinet 10.9.0.1 netmask 0xffffff00 broadcast 10.9.0.255\n"
        "\tgroups: vxlan\n"
        "\tvxlan vni 108 local 127.0.0.1:47890 remote 127.0.0.1:47891\n"
        "\tmedia: Ethernet autoselect (autoselect <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n")
    assert "\tvxlan vni 9 local : group 239.1.1.1:4789\n" in both(st, "vxlan7")
    # -v adds ifvxlan.c's config and forwarding-table lines (kernel defaults unless set)
    assert ("\tvxlan vni 9 local : group 239.1.1.1:4789\n"
            "\t\tconfig: learning portrange 10000-65535 ttl 64\n"
            "\t\tftable: cnt 0 max 2000 timeout 1200\n") in both(st, "-v", "vxlan7")
    assert "\tvxlan " not in both(st, "vxlan8")             # no VNI yet: no line
    # on an existing interface ifvxlan.c sends SIOCSDRVSPEC: taken while the interface is
    # not running, refused with EBUSY while it is (vxlan_can_change_config), the error
    # naming the driver command as err(1, "VXLAN_CMD_SET_VNI") does
    r = ifconfig(st, "vxlan8", "vni", "5")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert "\tvxlan vni 5 local : remote :\n" in both(st, "vxlan8")
    r = ifconfig(st, "vxlan0", "vni", "5")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "ifconfig: VXLAN_CMD_SET_VNI: Device busy\n")
    for name in ("vxlan0", "vxlan7", "vxlan8"):
        ok(st, name, "destroy")
    assert both(st) == VNET0 + LO0


def test_create_destroy_lo(st):
    assert ok(st, "lo", "create") == "lo1\n"
    # a clone has no address and is down (if_loop.c; only lo0 gets 127.0.0.1, from rc)
    assert both(st, "lo1") == (
        "lo1: flags=8008<LOOPBACK,MULTICAST> metric 0 mtu 16384\n"
        "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
        "\tgroups: lo\n"
        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n")
    assert ok(st, "lo1", "destroy", wrapper=True) == ""
    assert both(st) == VNET0 + LO0


def test_create_then_rename_prints_only_the_final_name(st):
    assert ok(st, "tap", "create", "name", "wan0", "up") == "wan0\n"
    assert both(st, "-l") == "vnet0 lo0 wan0\n"


# ============================================================================ libxo json
def test_libxo_json(st):
    ok(st, "vnet0", "10.0.0.2/24", "description", "lab")
    ok(st, "vnet0", "inet6", "2001:db8::1/64")
    doc = json.loads(ok(st, "--libxo", "json"))
    assert doc == json.loads(ok(st, "--libxo=json", wrapper=True))
    assert doc["interfaces"][0] == {
        "name": "vnet0", "index": 1, "flags": 0x1008843,
        "flags_names": ["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST", "LOWER_UP"],
        "metric": 0, "mtu": 1500, "description": "lab",
        "options": 8, "options_names": ["VLAN_MTU"], "ether": VNET0_MAC,
        "inet": [{"address": "10.0.0.2", "prefixlen": 24, "netmask": "0xffffff00",
                  "broadcast": "10.0.0.255"}],
        "inet6": [{"address": f"{VNET0_LL}%vnet0", "prefixlen": 64, "flags": [],
                   "scopeid": 1},
                  {"address": "2001:db8::1", "prefixlen": 64, "flags": []}],
        "media": {"type": "Ethernet", "current": "10Gbase-T",
                  "active": "10Gbase-T <full-duplex>"},
        "status": "active",
        "nd6_options": 0x21, "nd6_options_names": ["PERFORMNUD", "AUTO_LINKLOCAL"],
    }
    assert doc["interfaces"][1]["name"] == "lo0" and doc["interfaces"][1]["groups"] == ["lo"]
    assert json.loads(ok(st, "--libxo", "json", "-l")) == {"interfaces": ["vnet0", "lo0"]}
    assert json.loads(ok(st, "--libxo", "json", "-C")) == {
        "cloners": ["lo", "tap", "vxlan", "vlan", "bridge", "epair", "lagg", "gif"]}
    assert json.loads(ok(st, "--libxo", "json", "tap", "create")) == {"interface": "tap0"}
    ok(st, "vxlan3", "create", "vxlanid", "5")
    assert json.loads(ok(st, "--libxo", "json", "vxlan3"))["interfaces"][0]["vxlan"] == {
        "vni": 5, "local": None, "localport": None, "remote": None, "remoteport": None,
        "multicast": False, "learn": True, "portrange": [10000, 65535], "ttl": 64,
        "maxaddr": 2000, "timeout": 1200}


def test_libxo_xml_and_other_formats(st):
    # the documents of the json output, as XML (plebconf's extension: 14's ifconfig has no
    # libxo); a word libxo does not know is its error, exit 1
    assert ok(st, "--libxo", "xml", "-l") == (
        "<interfaces>vnet0</interfaces><interfaces>lo0</interfaces>\n")
    assert ok(st, "--libxo", "xml", "-C") == (
        "<cloners>lo</cloners><cloners>tap</cloners><cloners>vxlan</cloners>"
        "<cloners>vlan</cloners><cloners>bridge</cloners><cloners>epair</cloners>"
        "<cloners>lagg</cloners><cloners>gif</cloners>\n")
    r = ifconfig(st, "--libxo", "yaml", "-l")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "ifconfig: unknown libxo option value: 'yaml'\n")


# ============================================================================ errors
@pytest.fixture(scope="module")
def err_stack():
    s = new_stack()
    with s.client() as c:
        c.batch([["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap0"}],
                 ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                            "plen": 24}]])
    yield s
    s.stop()


def dump(stack):
    with stack.client() as c:
        return (c.call("sysctl", {"name": "NET_RT_IFLIST"}),
                c.call("sysctl", {"name": "NET_RT_DUMP"}))


USAGE = (
    "usage: ifconfig [-j jail] [-f type:format] [-C] [-g groupname] [-L] interface "
    "address_family\n"
    "                [address [dest_address]] [parameters]\n"
    "       ifconfig [-j jail] interface create\n"
    "       ifconfig [-j jail] -a [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v] "
    "[address_family]\n"
    "       ifconfig [-j jail] -l [-d] [-u] [address_family]\n"
    "       ifconfig [-j jail] [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v]\n")

ERRORS = [
    (["em9"], "ifconfig: interface em9 does not exist\n"),
    (["em9", "up"], "ifconfig: interface em9 does not exist\n"),
    (["em9", "10.0.0.1"], "ifconfig: interface em9 does not exist\n"),
    (["vnet0", "mtu"], "ifconfig: 'mtu' requires argument\n"),
    (["vnet0", "tunnel", "192.0.2.1"], "ifconfig: 'tunnel' requires 2 arguments\n"),
    (["vnet0", "10.0.0.99", "-alias"],
     "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"),
    (["vnet0", "inet6", "2001:db8::99", "delete"],
     "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"),
    (["vnet0", "foo"], "ifconfig: foo: bad value\n"),
    (["vnet0", "10.0.0.1/33"], "ifconfig: 10.0.0.1/33: bad value (width too large)\n"),
    (["vnet0", "10.0.0.1/24x"], "ifconfig: 10.0.0.1/24x: bad value (width invalid)\n"),
    (["vnet0", "inet6", "2001:db8::1/129"], "ifconfig: 129: bad value\n"),
    (["-l", "-a"], USAGE),
    (["-a", "vnet0"], "ifconfig: Address family 'vnet0' unknown.\n" + USAGE),
    (["-z"], "ifconfig: illegal option -- z\n" + USAGE),
    (["foo0", "create"], "ifconfig: SIOCIFCREATE2 (foo0): Invalid argument\n"),
    (["vnet", "create"], "ifconfig: SIOCIFCREATE2 (vnet): Invalid argument\n"),
    (["tap0", "create"], "ifconfig: interface tap0 already exists\n"),
    (["lo0", "destroy"], "ifconfig: SIOCIFDESTROY: Invalid argument\n"),
    (["vnet0", "destroy"], "ifconfig: SIOCIFDESTROY: Invalid argument\n"),
    (["tap0", "name", "vnet0"], "ifconfig: ioctl SIOCSIFNAME (set name): File exists\n"),
    (["vnet0", "mtu", "99999"], "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n"),
    (["vnet0", "mtu", "abc"], "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n"),
    (["vnet0", "description", "x" * 1025],
     "ifconfig: ioctl SIOCSIFDESCR (set descr): File name too long\n"),
    (["vnet0", "ether", "01:00:5e:00:00:01"],
     "ifconfig: ioctl (SIOCAIFADDR): Invalid argument\n"),
    (["vnet0", "group", "g1"], "ifconfig: setifgroup: group names may not end in a digit\n"),
    (["tap0", "inet6", "2001:db8:9::", "eui64", "alias"],     # IPv6 off: no link-local
     "ifconfig: could not determine link local address\n"),
    (["vlan5", "create", "vlan", "5", "vlandev", "vnet9"],   # no such parent: ENXIO
     "ifconfig: SIOCIFCREATE2 (vlan5): Device not configured\n"),
    (["vxlan0", "create", "vxlanid", "16777216"],
     "ifconfig: invalid network identifier: 16777216\n"),
    (["wg0", "create"], "ifconfig: wg0: wg(4) is not supported\n"),     # a cloner FreeBSD has
    (["pfsync0", "create"], "ifconfig: pfsync0: pfsync(4) is not supported\n"),
    (["foo0", "create"], "ifconfig: SIOCIFCREATE2 (foo0): Invalid argument\n"),
    # atomic: `up` was applied as parsed in FreeBSD; here the whole command is undone
    (["tap0", "up", "10.1.0.1/24", "mtu", "70000"],
     "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument\n"),
    # netmask / broadcast are not inet6 options: sbin/ifconfig/tests/inet6.sh (FreeBSD bug
    # 286910, whose netlink af_inet6.c had no table slot for them) checks these four
    (["vnet0", "inet6", "2001:db8:1::1", "netmask", "64"],
     "ifconfig: netmask: invalid option for inet6\n"),
    (["vnet0", "inet6", "2001:db8:1::1", "netmask", "64", "-alias"],
     "ifconfig: netmask: invalid option for inet6\n"),
    (["vnet0", "inet6", "2001:db8:1::1", "broadcast", "2001:db8:1::ffff"],
     "ifconfig: broadcast: invalid option for inet6\n"),
    (["vnet0", "inet6", "2001:db8:1::1", "broadcast", "2001:db:1::ffff", "-alias"],
     "ifconfig: broadcast: invalid option for inet6\n"),
]


@pytest.mark.parametrize("argv, stderr", ERRORS, ids=[" ".join(a)[:40] for a, _ in ERRORS])
def test_error_text_status_and_nothing_changed(err_stack, argv, stderr):
    before = dump(err_stack)
    r = ifconfig(err_stack, *argv)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", stderr)
    assert dump(err_stack) == before


def test_errors_through_the_wrapper(err_stack):
    before = dump(err_stack)
    for argv, stderr in ERRORS[:6] + ERRORS[14:20]:
        r = ifconfig(err_stack, *argv, wrapper=True)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", stderr)
    assert dump(err_stack) == before


def test_plain_runs_import_neither_click_nor_rich():
    """One-shot runs stay lean (bench/bench_ifconfig.py measures the time): no click, no
    rich, no json, and the listing formatter only for listings."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    env = dict(os.environ, PYTHONPATH=ROOT)

    def imported(*argv) -> set[str]:
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "plebconf", "ifconfig",
                            *argv], env=env, capture_output=True, text=True)
        return {line.split("|")[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    for argv in (["-C"], ["vnet0", "mtu"]):
        tops = {name.split(".")[0] for name in imported(*argv)}
        assert not tops & {"click", "rich", "json", "dataclasses"}
    assert "plebconf.cli.ifconfig_format" not in imported("vnet0", "mtu")
