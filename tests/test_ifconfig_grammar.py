"""ifconfig's grammar without a stack: ops_for() builds exactly FreeBSD's sequence of effects,
and grammar errors are ToolErrors with FreeBSD's text."""
import pytest

from plebconf.cli.common import ToolError
from plebconf.cli.ifconfig import ToolOps, ops_for
from plebconf.cli.ifconfig_grammar import USAGE, c_atoi, inet_aton, parse_invocation
from plebproto.constants import EADDRNOTAVAIL, EEXIST, EINVAL, ENOENT, ENXIO, EPERM


def ops(*argv):
    return ops_for(list(argv)).ops


def err(*argv) -> ToolError:
    with pytest.raises(ToolError) as info:
        ops_for(list(argv))
    assert info.value.status == 1
    return info.value.message


# -- listings are not ops ----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [[], ["-a"], ["-l"], ["-l", "inet6"], ["-au", "inet"],
                                  ["vnet0"], ["vnet0", "inet"], ["vnet0", "ether"], ["-C"],
                                  ["-g", "tap"], ["-f", "inet:cidr", "vnet0"], ["-d"]])
def test_listings_are_none(argv):
    assert ops_for(argv) is None


def test_no_argument_is_dash_a():
    assert parse_invocation([]).all


# -- addresses ---------------------------------------------------------------------------------
def test_inet_non_alias_deletes_first_address_tolerating_none_then_adds():
    """Spec §1.3: SIOCDIFADDR without an address (the first one), EADDRNOTAVAIL tolerated;
    `up` is applied as parsed, before the deferred address ops."""
    assert ops("vnet0", "inet", "10.0.0.2/24", "up") == [
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vnet0", "set": 1}],
        ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0"}, [EADDRNOTAVAIL]],
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24}],
    ]


@pytest.mark.parametrize("argv", [
    ["vnet0", "10.0.0.2", "netmask", "255.255.255.0", "alias"],
    ["vnet0", "inet", "alias", "10.0.0.2", "netmask", "0xffffff00"],
    ["vnet0", "add", "10.0.0.2/24"],
    ["vnet0", "inet", "10.0.0.2", "prefixlen", "24", "alias"],
])
def test_alias_forms_only_add(argv):
    assert ops(*argv) == [
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24}]]


def test_inet_aton_short_and_hex_forms():
    assert inet_aton("10.1") == 0x0A000001
    assert inet_aton("0xffffff00") == 0xFFFFFF00
    assert inet_aton("010.0.0.1") == 0x08000001
    assert inet_aton("256.0.0.1") is None


def test_broadcast_and_destination():
    assert ops("vnet0", "10.0.0.2/24", "broadcast", "10.0.0.127", "alias")[0][1] == {
        "req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2", "plen": 24,
        "broadcast": "10.0.0.127"}


@pytest.mark.parametrize("argv", [["vnet0", "10.0.0.9", "-alias"],
                                  ["vnet0", "inet", "delete", "10.0.0.9"],
                                  ["vnet0", "remove", "10.0.0.9"]])
def test_delete_forms(argv):
    assert ops(*argv) == [["ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                                     "addr": "10.0.0.9"}]]


def test_no_mask_uses_classful_default_and_warns_except_on_loopback():
    t = ops_for(["vnet0", "172.16.1.1"])
    assert t.ops[-1][1]["plen"] == 16
    assert t.warnings == ["ifconfig: WARNING: setting interface address without mask is "
                          "deprecated,\ndefault mask may not be correct."]
    t = ops_for(["lo0", "127.0.0.2", "alias"])
    assert t.ops[-1][1]["plen"] == 8 and t.warnings == []
    assert ops_for(["vnet0", "192.168.1.1"]).ops[-1][1]["plen"] == 24


def test_inet6_non_alias_replaces_only_the_same_address():
    assert ops("vnet0", "inet6", "2001:db8::1", "prefixlen", "48", "prefer_source") == [
        ["ioctl", {"req": "SIOCDIFADDR_IN6", "ifname": "vnet0", "addr": "2001:db8::1"},
         [EADDRNOTAVAIL]],
        ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "2001:db8::1",
                   "plen": 48, "flags": 0x100}],
    ]
    assert ops("vnet0", "inet6", "fe80::5%vnet0/64", "alias") == [
        ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "fe80::5%vnet0",
                   "plen": 64}]]


def test_inet6_nd_flags_are_sifinfo():
    assert ops("vnet0", "inet6", "-ifdisabled", "accept_rtadv", "-nud") == [
        ["ioctl", {"req": "SIOCSIFINFO_IN6", "ifname": "vnet0", "clear": 0x8}],
        ["ioctl", {"req": "SIOCSIFINFO_IN6", "ifname": "vnet0", "set": 0x2}],
        ["ioctl", {"req": "SIOCSIFINFO_IN6", "ifname": "vnet0", "clear": 0x1}],
    ]


def test_link_address():
    assert ops("vnet0", "ether", "02:11:22:33:44:55") == [
        ["ioctl", {"req": "SIOCSIFLLADDR", "ifname": "vnet0", "lladdr": "02:11:22:33:44:55"}]]
    mac = ops("vnet0", "lladdr", "random")[0][1]["lladdr"]
    assert int(mac[:2], 16) & 3 == 2        # locally administered unicast


# -- other keywords, in order of effect ----------------------------------------------------------
def test_several_keywords_in_order():
    assert ops("vnet0", "mtu", "9000", "-arp", "promisc", "metric", "3", "description",
               "uplink port", "staticarp", "group", "wan", "-group", "lan", "down") == [
        ["ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": 9000}],
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vnet0", "set": 0x80}],
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vnet0", "set": 0x20000}],
        ["ioctl", {"req": "SIOCSIFMETRIC", "ifname": "vnet0", "metric": 3}],
        ["ioctl", {"req": "SIOCSIFDESCR", "ifname": "vnet0", "descr": "uplink port"}],
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vnet0", "set": 0x80000}],
        ["ioctl", {"req": "SIOCAIFGROUP", "ifname": "vnet0", "group": "wan"}, [EEXIST]],
        ["ioctl", {"req": "SIOCDIFGROUP", "ifname": "vnet0", "group": "lan"}, [ENOENT]],
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vnet0", "clear": 0x1}],
    ]


def test_mtu_is_atoi():
    """FreeBSD passes atoi(value): garbage is 0, which the kernel refuses."""
    assert c_atoi("abc") == 0 and c_atoi(" 1500xyz") == 1500 and c_atoi("-1") == -1
    assert ops("vnet0", "mtu", "abc")[0][1]["mtu"] == 0


def test_rename_then_later_ops_use_new_name_and_print_it():
    t = ops_for(["vnet0", "name", "wan0", "up"])
    assert t.ops == [["ioctl", {"req": "SIOCSIFNAME", "ifname": "vnet0", "newname": "wan0"}],
                     ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "wan0", "set": 1}]]
    assert t.output([None, None]) == ["wan0"]


# -- create / destroy ----------------------------------------------------------------------------
def test_create_with_unit_prints_nothing_without_unit_prints_result():
    t = ops_for(["tap0", "create"])
    assert t.ops == [["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap0"}]]
    assert t.output([{"ifname": "tap0"}]) == []
    t = ops_for(["tap", "plumb"])
    assert t.output([{"ifname": "tap3"}]) == ["tap3"] and not t.needs_unit


def test_vxlan_create_parameters_go_in_params_then_the_rest_runs_on_the_new_interface():
    t = ops_for(["vxlan0", "create", "vxlanid", "42", "vxlanlocal", "192.0.2.1",
                 "vxlanremote", "192.0.2.2", "vxlanlocalport", "4790", "vxlanremoteport",
                 "4791", "vxlandev", "vnet0", "vxlanttl", "64", "inet", "10.9.0.1/24", "up"])
    assert t.ops == [
        ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "vxlan0", "params": {
            "vxlanid": 42, "vxlanlocal": "192.0.2.1", "vxlanremote": "192.0.2.2",
            "vxlanlocalport": 4790, "vxlanremoteport": 4791, "vxlandev": "vnet0",
            "vxlanttl": 64}}, [EEXIST]],
        ["ioctl", {"req": "SIOCSIFFLAGS", "ifname": "vxlan0", "set": 1}],
        ["ioctl", {"req": "SIOCDIFADDR", "ifname": "vxlan0"}, [EADDRNOTAVAIL]],
        ["ioctl", {"req": "SIOCAIFADDR", "ifname": "vxlan0", "addr": "10.9.0.1", "plen": 24}],
    ]
    assert ops("vxlan", "create", "vxlanvni", "7")[0][1]["params"] == {"vxlanid": 7}


def test_unit_less_create_with_more_ops_needs_the_unit():
    """The stack picks the unit of `tap create`; later ops must name it, so the caller
    (ifconfig itself, or the rc executor) resolves it to the lowest free unit first."""
    t = ops_for(["tap", "create", "mtu", "9000", "name", "wan0"])
    assert t.needs_unit
    r = t.resolve_created("tap2")
    assert r.ops == [["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap2"}],
                     ["ioctl", {"req": "SIOCSIFMTU", "ifname": "tap2", "mtu": 9000}],
                     ["ioctl", {"req": "SIOCSIFNAME", "ifname": "tap2", "newname": "wan0"}]]
    assert r.output([None] * 3) == ["wan0"] and not r.needs_unit


def test_destroy():
    assert ops("tap0", "destroy") == [["ioctl", {"req": "SIOCIFDESTROY", "ifname": "tap0"}]]
    assert ops("tap0", "unplumb") == ops("tap0", "destroy")


# -- messages for failing ops (docs/freebsd-tools.md §1.5) ----------------------------------------------------------
def message(argv, index, errno):
    return ops_for(argv).message(index, errno)


def test_messages():
    add = ["vnet0", "10.0.0.2/24"]
    assert message(add, 1, EEXIST) == "ifconfig: ioctl (SIOCAIFADDR): File exists"
    assert message(add, 1, EPERM) == "ifconfig: ioctl (SIOCAIFADDR): permission denied"
    assert message(["vnet0", "up"], 0, EPERM) == "ifconfig: up: permission denied"
    assert message(["vnet0", "up"], 0, ENXIO) == "ifconfig: interface vnet0 does not exist"
    assert message(["vnet0", "mtu", "1"], 0, EPERM) == (
        "ifconfig: ioctl SIOCSIFMTU (set mtu): Operation not permitted")
    assert message(["vnet0", "1.2.3.4", "delete"], 0, EADDRNOTAVAIL) == (
        "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address")
    assert message(["foo0", "create"], 0, EINVAL) == (
        "ifconfig: SIOCIFCREATE2 (foo0): Invalid argument")
    assert message(["tap0", "create"], 0, EEXIST) == "ifconfig: interface tap0 already exists"
    assert message(["lo0", "destroy"], 0, EINVAL) == "ifconfig: SIOCIFDESTROY: Invalid argument"
    assert message(["tap0", "name", "vnet0"], 0, EEXIST) == (
        "ifconfig: ioctl SIOCSIFNAME (set name): File exists")
    assert message(["vnet0", "ether", "01:00:00:00:00:01"], 0, EINVAL) == (
        "ifconfig: ioctl (SIOCAIFADDR): Invalid argument")


def test_warning_not_printed_when_the_interface_does_not_exist():
    t = ops_for(["em9", "10.0.0.1"])
    assert t.stderr_before(0, ENXIO) == []
    assert len(t.stderr_before(None)) == 1


# -- grammar errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, text", [
    (["vnet0", "mtu"], "ifconfig: 'mtu' requires argument"),
    (["vnet0", "description"], "ifconfig: 'description' requires argument"),
    (["vnet0", "tunnel", "1.1.1.1"], "ifconfig: 'tunnel' requires 2 arguments"),
    (["vnet0", "foo"], "ifconfig: foo: bad value"),
    (["vnet0", "inet", "10.0.0.1/33"], "ifconfig: 10.0.0.1/33: bad value (width too large)"),
    (["vnet0", "10.0.0.1/x"], "ifconfig: 10.0.0.1/x: bad value (width invalid)"),
    (["vnet0", "10.0.0.1/"], "ifconfig: 10.0.0.1/: bad value (width invalid)"),
    (["vnet0", "inet6", "2001:db8::1/129"], "ifconfig: 129: bad value"),
    (["vnet0", "inet6", "2001:db8::1", "prefixlen", "200"], "ifconfig: 200: bad value"),
    (["vnet0", "inet6", "2001:zz::1"], "ifconfig: 2001:zz::1: bad value"),
    (["vnet0", "netmask", "255.255.x.0"], "ifconfig: 255.255.x.0: bad value"),
    (["vnet0", "up", "inet6", "::1"], "ifconfig: inet6: bad value"),  # AF only in front
    (["vnet0", "link", "02:00:00:00:00:01", "netmask", "255.0.0.0"],
     "ifconfig: can't set link-level netmask or broadcast"),
    (["vnet0", "ether", "zz:zz"], "ifconfig: malformed link-level address"),
    (["vnet0", "group", "wan1"], "ifconfig: setifgroup: group names may not end in a digit"),
    (["vxlan0", "create", "vxlanid", "16777216"],
     "ifconfig: invalid network identifier: 16777216"),
    (["vxlan0", "create", "vxlanlocalport", "65535"], "ifconfig: invalid local port: 65535"),
    (["vxlan0", "create", "vxlanttl", "300"], "ifconfig: invalid TTL value: 300"),
    (["vxlan0", "create", "vxlanremote", "nowhere"],
     "ifconfig: error in parsing remote address string: "
     "hostname nor servname provided, or not known"),
    (["vxlan0", "create", "vxlanlocal", "224.0.0.1"],
     "ifconfig: local address cannot be multicast"),
    (["vxlan0", "create", "vxlangroup", "10.0.0.1"],
     "ifconfig: group address must be multicast"),
    (["vxlan0", "create", "vxlanlocal", "10.0.0.1", "vxlanremote", "2001:db8::1"],
     "ifconfig: cannot mix IPv4 and IPv6 addresses"),
    (["-j", "web", "vnet0", "up"], 'ifconfig: jail "web" not found'),
])
def test_grammar_errors(argv, text):
    assert err(*argv) == text


@pytest.mark.parametrize("argv, first", [
    (["-l", "-a"], None), (["-u", "-d"], None), (["-l", "-m"], None),
    (["-G", "lo", "vnet0"], None),
    (["-a", "vnet0"], "ifconfig: Address family 'vnet0' unknown."),
    (["-l", "inet", "inet6"], None),
    (["-x"], "ifconfig: illegal option -- x"),
    (["-f"], "ifconfig: option requires an argument -- f"),
])
def test_usage_errors(argv, first):
    expected = USAGE if first is None else first + "\n" + USAGE
    assert err(*argv) == expected


def test_usage_text():
    assert USAGE == (
        "usage: ifconfig [-j jail] [-f type:format] [-C] [-g groupname] [-L] interface "
        "address_family\n"
        "                [address [dest_address]] [parameters]\n"
        "       ifconfig [-j jail] interface create\n"
        "       ifconfig [-j jail] -a [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v] "
        "[address_family]\n"
        "       ifconfig [-j jail] -l [-d] [-u] [address_family]\n"
        "       ifconfig [-j jail] [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v]")


def test_format_option_skips_entries_without_colon():
    inv = parse_invocation(["-f", "inet:cidr,bogus,ether:dash", "vnet0"])
    assert inv.formats == {"inet": "cidr", "ether": "dash"}
    assert inv.skipped_formats == ["Skipping invalid format: bogus"]


def test_toolops_is_plain_data():
    t = ops_for(["vnet0", "up"])
    assert isinstance(t, ToolOps) and t.ifname == "vnet0" and t.labels[0].what == "up"


def test_create_of_an_existing_clone_with_more_words_just_configures():
    """ifconfig.c: `IF create WORDS` on an existing IF skips the create; only a lone
    `IF create` reports that it exists.  The existing clone's EEXIST is tolerated."""
    assert ops("tap0", "create", "up")[0] == [
        "ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap0"}, [EEXIST]]
    assert ops("tap0", "create") == [["ioctl", {"req": "SIOCIFCREATE2", "ifname": "tap0"}]]


def test_vlan_parameters_ride_on_create():
    assert ops("vlan", "create", "vlandev", "vnet0", "vlan", "7", "name", "guest") == [
        ["ioctl", {"req": "SIOCIFCREATE2", "ifname": "vlan",
                   "params": {"vlandev": "vnet0", "vlan": 7}}],
        ["ioctl", {"req": "SIOCSIFNAME", "ifname": "vlan", "newname": "guest"}]]
    assert err("vlan0", "create", "vlan", "x") == "ifconfig: invalid value for vlan"
    assert err("vlan0", "create", "vlanpcp", "9") == "ifconfig: invalid value for vlanpcp"


def test_eui64_asks_the_stack_for_the_link_local_identifier():
    assert ops("vnet0", "inet6", "2001:db8:1::", "prefixlen", "64", "eui64", "alias") == [
        ["ioctl", {"req": "SIOCAIFADDR_IN6", "ifname": "vnet0", "addr": "2001:db8:1::",
                   "plen": 64, "eui64": True}]]


def test_inet6_refuses_netmask_and_broadcast():
    """sbin/ifconfig/tests/inet6.sh (FreeBSD bug 286910): `netmask` and `broadcast` after
    `inet6` are errx(1) "<keyword>: invalid option for inet6", whatever follows; the
    prefix length is given as ADDR/len or `prefixlen` instead."""
    for tail in ([], ["-alias"], ["up"]):
        assert err("vnet0", "inet6", "2001:db8:1::1", "netmask", "64", *tail) == (
            "ifconfig: netmask: invalid option for inet6")
        assert err("vnet0", "inet6", "2001:db8:1::1", "broadcast", "2001:db8:1::ffff",
                   *tail) == "ifconfig: broadcast: invalid option for inet6"
    # the forms inet6.sh accepts, and inet keeps both keywords
    assert ops("vnet0", "inet6", "2001:db8:1::1/64")[-1][1]["plen"] == 64
    assert ops("vnet0", "inet6", "2001:db8:1::1", "prefixlen", "64")[-1][1]["plen"] == 64
    inet = ops("vnet0", "10.0.0.1", "netmask", "255.255.0.0", "broadcast", "10.0.255.255")
    assert (inet[-1][1]["plen"], inet[-1][1]["broadcast"]) == (16, "10.0.255.255")
