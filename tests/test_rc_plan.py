"""rc.conf -> tool command lines: plebconf.rc.plan and the rc.d modules.

Whole step lists are compared. Most tests pass implicit_routes=False and spell
out the steps every plan has (lo0 and the two forwarding sysctls) as constants.
"""

import pytest

from plebconf.rc import RcSyntaxError, Step, parse_files, parse_text, plan

LO0 = [
    ["ifconfig", "lo0", "up"],
    ["ifconfig", "lo0", "inet", "127.0.0.1/8", "alias"],
]
FWD4_OFF = [["sysctl", "net.inet.ip.forwarding=0"]]
FWD6_OFF = [["sysctl", "net.inet6.ip6.forwarding=0"]]
FWD_OFF = FWD4_OFF + FWD6_OFF


def run(text, live=("lo0", "vnet0"), implicit_routes=False):
    return plan(parse_text(text), list(live), implicit_routes=implicit_routes)


def argvs(text, live=("lo0", "vnet0"), implicit_routes=False):
    return run(text, live, implicit_routes).argvs


# --- the baseline ----------------------------------------------------------------------------

def test_empty_rcconf_has_origins_builtin_and_defaults():
    p = run("")
    assert p.steps == [
        Step(["ifconfig", "lo0", "up"], "ifconfig_lo0", "<builtin>", 0),
        Step(["ifconfig", "lo0", "inet", "127.0.0.1/8", "alias"], "ifconfig_lo0", "<builtin>", 0),
        Step(["sysctl", "net.inet.ip.forwarding=0"], "gateway_enable", "<defaults>", 0),
        Step(["sysctl", "net.inet6.ip6.forwarding=0"], "ipv6_gateway_enable", "<defaults>", 0),
    ]
    assert p.warnings == []


def test_implicit_routes_are_emitted_and_tolerated():
    # Choice: emit rc.d/routing's own routes like FreeBSD does, marked
    # tolerate_error: the stack already has the loopback ones from lo0's
    # addresses (FreeBSD prints "route already in table" for them too).
    p = run("", implicit_routes=True)
    implicit = [(s.argv, s.var, s.tolerate_error) for s in p.steps if s.argv[0] == "route"]
    assert implicit == [
        (["route", "add", "-inet", "127.0.0.1", "-iface", "lo0"], "route__loopback", True),
        (["route", "add", "-inet6", "::1", "-prefixlen", "128", "-iface", "lo0"],
         "ipv6_route__loopback", True),
        (["route", "add", "-inet6", "fe80::", "-prefixlen", "10", "::1", "-reject"],
         "ipv6_route__lla", True),
        (["route", "add", "-inet6", "ff02::", "-prefixlen", "16", "::1", "-reject"],
         "ipv6_route__llma", True),
        (["route", "add", "-inet6", "::ffff:0.0.0.0", "-prefixlen", "96", "::1", "-reject"],
         "ipv6_route__v4mapped", True),
        (["route", "add", "-inet6", "::0.0.0.0", "-prefixlen", "96", "::1", "-reject"],
         "ipv6_route__v4compat", True),
    ]
    assert [s.tolerate_error for s in p.steps if s.argv[0] != "route"] == [False] * 4
    # IPv4 routes, IPv4 options, then IPv6 routes, IPv6 options (routing_start doall).
    assert [s.argv[:3] for s in p.steps[2:]] == [
        ["route", "add", "-inet"], ["sysctl", "net.inet.ip.forwarding=0"],
        *[["route", "add", "-inet6"]] * 5, ["sysctl", "net.inet6.ip6.forwarding=0"],
    ]


def test_hostname():
    p = run('hostname="pleb.example.org"\n')
    assert p.argvs == [["hostname", "pleb.example.org"]] + LO0 + FWD_OFF
    assert (p.steps[0].var, p.steps[0].where) == ("hostname", "rc.conf:1")
    assert argvs('hostname=""\n') == LO0 + FWD_OFF


# --- ifconfig_IF ------------------------------------------------------------------------------

def test_ifconfig_if_is_evaluated_like_eval():
    text = (
        "ip=10.0.0.2\n"
        "ifconfig_vnet0='inet $ip/24 description \"uplink   port\" mtu 9000'\n"
    )
    assert argvs(text) == LO0 + [
        # rc rejoins the words with single blanks before eval, hence "uplink port"
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24", "description", "uplink port", "mtu", "9000"],
        ["ifconfig", "vnet0", "up"],
    ] + FWD_OFF


def test_pseudo_keywords_removed_case_insensitively_with_warnings():
    text = (
        'ifconfig_vnet0="DHCP inet 10.0.0.2/24 wpa"\n'
        'ifconfig_vnet1="SyncDhcp up"\n'
        'ifconfig_vnet2="nosyncdhcp HostAP"\n'
        'ifconfig_vnet3="vnet myjail inet 10.0.3.1/24"\n'
    )
    p = run(text, live=["lo0", "vnet0", "vnet1", "vnet2", "vnet3"])
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
        ["ifconfig", "vnet0", "up"],
        ["dhclient", "-b", "vnet0"],   # DHCP: devd starts it, rc does not wait
        ["ifconfig", "vnet1", "up"],
        ["ifconfig", "vnet1", "up"],
        ["dhclient", "vnet1"],         # SYNCDHCP: rc.d/dhclient waits for the lease
        ["ifconfig", "vnet2", "up"],  # DHCP only: rc brings it up for dhclient
        ["dhclient", "-b", "vnet2"],
        ["ifconfig", "vnet3", "inet", "10.0.3.1/24"],
        ["ifconfig", "vnet3", "up"],
    ] + FWD_OFF
    assert p.warnings == [
        "rc.conf:1: ifconfig_vnet0: WPA: wireless is not modelled; no wireless link is made",
        "rc.conf:3: ifconfig_vnet2: HOSTAP: wireless is not modelled; no wireless link is made",
    ]


def test_noauto_excluded_from_auto_list():
    text = 'ifconfig_vnet0="NOAUTO inet 10.0.0.2/24"\nifconfig_vnet1="inet 10.0.1.2/24"\n'
    assert argvs(text, live=["vnet0", "lo0", "vnet1"]) == LO0 + [
        ["ifconfig", "vnet1", "inet", "10.0.1.2/24"],
        ["ifconfig", "vnet1", "up"],
    ] + FWD_OFF


def test_auto_list_puts_lo0_first_then_kernel_order():
    text = 'ifconfig_vnet0="up"\nifconfig_vnet1="up"\n'
    assert argvs(text, live=["vnet1", "lo0", "vnet0"]) == LO0 + [
        ["ifconfig", "vnet1", "up"], ["ifconfig", "vnet1", "up"],
        ["ifconfig", "vnet0", "up"], ["ifconfig", "vnet0", "up"],
    ] + FWD_OFF


def test_explicit_network_interfaces():
    # lo0 is prepended, cloned_interfaces appended, NOAUTO is not consulted.
    text = (
        'network_interfaces="vnet1 vnet0"\n'
        'cloned_interfaces="tap0"\n'
        'ifconfig_vnet0="NOAUTO up"\nifconfig_vnet1="up"\nifconfig_vnet2="up"\n'
        'ifconfig_tap0="up"\n'
    )
    assert argvs(text, live=["lo0", "vnet0", "vnet1", "vnet2"]) == [
        ["ifconfig", "tap0", "create"],
        *LO0,
        ["ifconfig", "vnet1", "up"], ["ifconfig", "vnet1", "up"],
        ["ifconfig", "vnet0", "up"], ["ifconfig", "vnet0", "up"],
        ["ifconfig", "tap0", "up"], ["ifconfig", "tap0", "up"],
    ] + FWD_OFF


def test_ifconfig_default_applies_when_unset_not_when_empty():
    text = 'ifconfig_DEFAULT="mtu 1400"\nifconfig_vnet1=""\n'
    assert argvs(text, live=["lo0", "vnet0", "vnet1"]) == [
        ["ifconfig", "lo0", "mtu", "1400"],
        # ifconfig_IF_ipv6 also falls back to ifconfig_DEFAULT (network.subr quirk)
        ["ifconfig", "lo0", "inet6", "-ifdisabled"],
        ["ifconfig", "lo0", "mtu", "1400"],
        ["ifconfig", "lo0", "up"],
        ["ifconfig", "lo0", "inet", "127.0.0.1/8", "alias"],  # only ifconfig_lo0 suppresses it
        ["ifconfig", "vnet0", "mtu", "1400"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "mtu", "1400"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet1", "inet6", "-ifdisabled"],  # ifconfig_vnet1_ipv6 is unset
        ["ifconfig", "vnet1", "mtu", "1400"],
        ["ifconfig", "vnet1", "up"],
    ] + FWD_OFF


def test_ifconfig_default_dhcp_is_stripped_everywhere():
    p = run('ifconfig_DEFAULT="SYNCDHCP"\n', live=["lo0", "vnet0"])
    # lo0 never runs dhclient (network.subr dhcpif)
    assert p.argvs == LO0 + [["ifconfig", "vnet0", "up"], ["dhclient", "vnet0"]] + FWD_OFF
    assert p.warnings == []


def test_synchronous_dhclient_and_nosyncdhcp():
    p = run('synchronous_dhclient="YES"\nifconfig_vnet0="DHCP"\nifconfig_vnet1="NOSYNCDHCP"\n',
            live=["lo0", "vnet0", "vnet1"])
    assert p.argvs == LO0 + [["ifconfig", "vnet0", "up"], ["dhclient", "vnet0"],
                             ["ifconfig", "vnet1", "up"], ["dhclient", "-b", "vnet1"]] + FWD_OFF


UNMODELLED = (
    'pf_enable="YES"\n'                        # 1
    'pf_rules="/etc/pf.conf"\n'                # 2
    'pflog_enable="NO"\n'                      # 3: off, nothing to say
    'firewall_enable="YES"\n'                  # 4
    'firewall_type="workstation"\n'            # 5
    'natd_enable="NO"\n'                       # 6
    'natd_interface="vnet0"\n'                 # 7: natd is off
    'wlans_ath0="wlan0"\n'                     # 8
    'ifconfig_wlan0="WPA DHCP"\n'              # 9
    'gif_interfaces="gif0"\n'                  # 10
    'wireguard_enable="YES"\n'                 # 11
    'wireguard_interfaces="wg0"\n'             # 12
    'ppp_enable="YES"\n'                       # 13
    'sshd_enable="YES"\n'                      # 14: not networking config: nothing
)


def test_unmodelled_variables_warned_once_each_with_their_line():
    p = run(UNMODELLED, live=["lo0", "vnet0"])
    assert p.warnings == [
        "rc.conf:1: pf_enable: packet filtering is not modelled; traffic is not filtered",
        "rc.conf:2: pf_rules: packet filtering is not modelled; traffic is not filtered",
        "rc.conf:4: firewall_enable: packet filtering is not modelled; traffic is not filtered",
        "rc.conf:5: firewall_type: packet filtering is not modelled; traffic is not filtered",
        "rc.conf:8: wlans_ath0: wireless is not modelled; no wireless link is made",
        "rc.conf:9: ifconfig_wlan0: wireless is not modelled; no wireless link is made",
        "rc.conf:10: gif_interfaces: the legacy gif_interfaces/gifconfig_IF are not modelled; "
        'no tunnel is set up (cloned_interfaces="gif0" with create_args_gif0="tunnel SRC DST" '
        "is)",
        "rc.conf:11: wireguard_enable: tunnelling is not modelled; no tunnel is set up",
        "rc.conf:12: wireguard_interfaces: tunnelling is not modelled; no tunnel is set up",
        "rc.conf:13: ppp_enable: ppp(8) is not modelled; no PPP link is made",
    ]
    # wlan0 does not exist (no wlan cloner): its ifconfig_wlan0 is never reached
    assert ["dhclient", "-b", "wlan0"] not in p.argvs


def test_interface_names_are_sanitised_in_variable_names():
    text = (
        'ifconfig_vnet0_101="inet 10.1.0.1/24"\n'
        'ifconfig_my_lan="inet 10.2.0.1/24"\n'
        'ifconfig_my_lan_alias0="inet 10.2.0.2/32"\n'
        'ifconfig_a_b_c_d_="up"\n'
    )
    assert argvs(text, live=["lo0", "vnet0.101", "my-lan", "a.b-c/d+"]) == LO0 + [
        ["ifconfig", "vnet0.101", "inet", "10.1.0.1/24"],
        ["ifconfig", "vnet0.101", "up"],
        ["ifconfig", "my-lan", "inet", "10.2.0.1/24"],
        ["ifconfig", "my-lan", "up"],
        ["ifconfig", "my-lan", "inet", "10.2.0.2/32", "alias"],
        ["ifconfig", "a.b-c/d+", "up"],
        ["ifconfig", "a.b-c/d+", "up"],
    ] + FWD_OFF


def test_unconfigured_interface_gets_nothing():
    assert argvs("", live=["lo0", "vnet0", "vnet1"]) == LO0 + FWD_OFF


def test_ifconfig_lo0_replaces_the_default_address():
    assert argvs('ifconfig_lo0="inet 127.0.0.1/8 mtu 1500"\n') == [
        ["ifconfig", "lo0", "inet", "127.0.0.1/8", "mtu", "1500"],
        ["ifconfig", "lo0", "up"],
    ] + FWD_OFF


def test_eval_error_names_variable_and_origin():
    with pytest.raises(RcSyntaxError) as e:
        run('\n\nifconfig_vnet0="inet 10.0.0.2/24; reboot"\n')
    assert str(e.value) == ("rc.conf:3: $ifconfig_vnet0: unsupported shell syntax: "
                            "several commands in one value")


# --- cloning and renaming ---------------------------------------------------------------------

def test_cloned_interfaces_skip_existing_and_use_create_args():
    text = (
        'cloned_interfaces="tap0 vxlan0:sticky tap1 epair0"\n'
        'create_args_vxlan0="vxlanid 42 vxlanlocal 10.0.0.2 vxlanremote 10.0.0.3"\n'
        'ifconfig_vxlan0="inet 192.168.42.1/24"\n'
        'ifconfig_epair0a="up"\n'
    )
    p = run(text, live=["lo0", "vnet0", "tap1"])
    assert p.argvs == [
        ["ifconfig", "tap0", "create"],
        ["ifconfig", "vxlan0", "create", "vxlanid", "42", "vxlanlocal", "10.0.0.2",
         "vxlanremote", "10.0.0.3"],
        ["ifconfig", "epair0", "create"],
        *LO0,
        ["ifconfig", "vxlan0", "inet", "192.168.42.1/24"],
        ["ifconfig", "vxlan0", "up"],
        ["ifconfig", "epair0a", "up"],
        ["ifconfig", "epair0a", "up"],
    ] + FWD_OFF
    assert [(s.var, s.where) for s in p.steps[:3]] == [("cloned_interfaces", "rc.conf:1")] * 3


def test_rename_happens_after_cloning_and_before_configuration():
    text = (
        'cloned_interfaces="tap0"\n'
        'ifconfig_tap0_name="uplink"\n'
        'ifconfig_vnet0_name="lan0"\n'
        'ifconfig_lan0="inet 10.0.0.2/24"\n'
        'ifconfig_vnet0="inet 10.9.9.9/24"\n'  # the old name's config is not used
        'ifconfig_uplink="up"\n'
    )
    p = run(text, live=["lo0", "vnet0"])
    assert p.argvs == [
        ["ifconfig", "tap0", "create"],
        ["ifconfig", "vnet0", "name", "lan0"],
        ["ifconfig", "tap0", "name", "uplink"],
        *LO0,
        ["ifconfig", "lan0", "inet", "10.0.0.2/24"],
        ["ifconfig", "lan0", "up"],
        ["ifconfig", "uplink", "up"],
        ["ifconfig", "uplink", "up"],
    ] + FWD_OFF
    assert (p.steps[1].var, p.steps[1].where) == ("ifconfig_vnet0_name", "rc.conf:3")


def test_vlans_are_created_and_configured_after_their_parent():
    text = (
        'ifconfig_vnet0="up"\n'
        'vlans_vnet0="101 vlan5 guest"\n'
        'ifconfig_vnet0_101="inet 10.101.0.1/24"\n'
        'create_args_vlan5="vlan 5"\n'
        'create_args_guest="vlan 7"\n'
        'ifconfig_guest="inet 10.7.0.1/24"\n'
    )
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0.101", "create"],
        ["ifconfig", "vnet0.101", "inet", "10.101.0.1/24"],
        ["ifconfig", "vnet0.101", "up"],
        ["ifconfig", "vlan5", "create", "vlandev", "vnet0", "vlan", "5"],
        ["ifconfig", "vlan0", "create", "vlandev", "vnet0", "vlan", "7", "name", "guest"],
        ["ifconfig", "guest", "inet", "10.7.0.1/24"],
        ["ifconfig", "guest", "up"],
    ] + FWD_OFF


# --- IPv6 -------------------------------------------------------------------------------------

def test_ipv6_after_ifconfig_if_and_before_up():
    text = 'ifconfig_vnet0="inet 10.0.0.2/24"\nifconfig_vnet0_ipv6="inet6 2001:db8::2/64 accept_rtadv"\n'
    p = run(text)
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::2/64", "accept_rtadv"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "accept_rtadv", "up"],
    ] + FWD_OFF
    # rtsol's solicitations are the stack's own (dataplane/rtadv.py): nothing to warn about
    assert p.warnings == []


@pytest.mark.parametrize("listed, names", [("vnet1", "vnet1"), ("auto", "vnet0 vnet1"),
                                           ("", "vnet0 vnet1"), ("none", "")])
def test_rtadvd_interfaces(listed, names):
    p = run(f'rtadvd_enable="YES"\nrtadvd_interfaces="{listed}"\n',
            live=["lo0", "vnet0", "vnet1"])
    assert p.argvs[-1] == ["sysctl", f"net.inet6.rtadvd.interfaces={names}"]


def test_rtadvd_not_enabled_sets_nothing():
    p = run('rtadvd_interfaces="vnet1"\n')
    assert not any("rtadvd" in " ".join(a) for a in p.argvs)


@pytest.mark.parametrize("value", ["2001:db8::2/64", "::2/64", "fe80::1%vnet0"])
def test_ipv6_without_leading_inet6_is_fixed_with_a_warning(value):
    p = run(f'ifconfig_vnet0_ipv6="{value}"\n')
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", value],
        ["ifconfig", "vnet0", "up"],
    ] + FWD_OFF
    assert p.warnings == ['$ifconfig_vnet0_ipv6 needs leading "inet6" keyword for an IPv6 address.']


def test_ipv6_activate_all_and_prefix():
    text = (
        'ipv6_activate_all_interfaces="YES"\n'
        'ipv6_prefix_vnet0="2001:db8:1::/64 2001:db8:2::"\n'
    )
    assert argvs(text) == [
        ["ifconfig", "lo0", "inet6", "-ifdisabled"],
        *LO0,
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "2001:db8:1::", "prefixlen", "64", "eui64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8:2::", "prefixlen", "64", "eui64", "alias"],
    ] + FWD_OFF


# --- aliases ------------------------------------------------------------------------------------

def test_alias_numbering_is_numeric_with_gaps():
    text = (
        'ifconfig_vnet0="inet 10.0.0.2/24"\n'
        'ifconfig_vnet0_alias10="inet 10.0.0.10/32"\n'
        'ifconfig_vnet0_alias2="inet 10.0.0.3/32"\n'
        'ifconfig_vnet0_alias0="inet 10.0.0.1/32"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet", "10.0.0.1/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.3/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.10/32", "alias"],
    ] + FWD_OFF
    assert [(s.var, s.line) for s in p.steps[4:7]] == [
        ("ifconfig_vnet0_alias0", 4), ("ifconfig_vnet0_alias2", 3), ("ifconfig_vnet0_alias10", 2)]


def test_empty_alias_stops_the_rest():
    text = (
        'ifconfig_vnet0_alias0="inet 10.0.0.1/32"\n'
        'ifconfig_vnet0_alias1=""\n'
        'ifconfig_vnet0_alias2="inet 10.0.0.3/32"\n'
    )
    assert argvs(text) == LO0 + [["ifconfig", "vnet0", "inet", "10.0.0.1/32", "alias"]] + FWD_OFF


# FreeBSD 14's libexec/rc/network.subr, ifalias_af_common (stored copies read:
# freebsd/freebsd-src 03ccfdd2, sobomax/freebsd14_vendor 0f7ff342), the aliasN loop:
#     for alias in `list_vars ifconfig_${_vif}_alias[0-9]\* |
#         sort_lite -nk1.$((9+${#_vif}+7))`
#     ...
#         ${_af}:*:"":"")
#             break
# every *set* aliasN is listed and sorted by N, so a missing number skips nothing; only a
# variable set to "" ends the loop.  (rc.conf(5)'s "the search stops at the first missing
# number" describes the rc of FreeBSD <= 10, before list_vars.)
def test_alias_gap_skips_nothing_as_network_subr_lists_the_set_variables():
    text = (
        'ifconfig_vnet0_alias0="inet 10.0.0.1/32"\n'
        'ifconfig_vnet0_alias1="inet 10.0.0.2/32"\n'
        'ifconfig_vnet0_alias3="inet 10.0.0.4/32"\n'
    )
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.1/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.2/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.4/32", "alias"],
    ] + FWD_OFF


def test_empty_alias_stops_only_its_own_family_search_for_every_family():
    # the break pattern is ${_af}:*:"":"" -- whatever family ifalias is working on
    text = (
        'ifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
        'ifconfig_vnet0_alias0="inet6 2001:db8::1/64"\n'
        'ifconfig_vnet0_alias1=""\n'
        'ifconfig_vnet0_alias2="inet6 2001:db8::3/64"\n'
        'ifconfig_vnet0_alias3="inet 10.0.0.3/32"\n'
        'ipv4_addrs_vnet0="10.0.0.9/24"\n'
    )
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet", "10.0.0.9/24", "alias"],     # ipv4_addrs: not numbered
        ["ifconfig", "vnet0", "inet6", "2001:db8::1/64", "alias"],
    ] + FWD_OFF


# The same function's backward-compatibility loop, for inet6 only:
#     for alias in `list_vars ipv6_ifconfig_${_vif}_alias[0-9]\* |
#         sort_lite -nk1.$((14+${#_vif}+7))`
#     ...
#         *:"")  break ;;
#         alias:*)
#             _aliasn="${_aliasn} inet6 ${ifconfig_args}"
#             warn "\$${alias} is obsolete. " "Use ifconfig_${_vif}_aliasN instead."
# appended after the ifconfig_IF_aliasN entries and before ipv4_addrs_IF.
def test_legacy_ipv6_ifconfig_aliasN():
    text = (
        'ifconfig_vnet0_ipv6="inet6 2001:db8::2/64"\n'
        'ipv6_ifconfig_vnet0_alias4="2001:db8::14/64"\n'
        'ipv6_ifconfig_vnet0_alias0="2001:db8::10 prefixlen 64"\n'
        'ifconfig_vnet0_alias7="inet6 2001:db8::7/64"\n'
        'ifconfig_vnet0_aliases="inet6 2001:db8::5/64"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::2/64"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::5/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::7/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::10", "prefixlen", "64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::14/64", "alias"],
    ] + FWD_OFF
    assert [s.var for s in p.steps[-4:-2]] == ["ipv6_ifconfig_vnet0_alias0",
                                               "ipv6_ifconfig_vnet0_alias4"]
    assert p.warnings == [
        "$ipv6_ifconfig_vnet0_alias0 is obsolete.  Use ifconfig_vnet0_aliasN instead.",
        "$ipv6_ifconfig_vnet0_alias4 is obsolete.  Use ifconfig_vnet0_aliasN instead."]


def test_legacy_ipv6_ifconfig_aliasN_empty_stops_and_never_counts_for_inet():
    text = (
        'ifconfig_vnet0="inet 10.0.0.2/24"\n'
        'ifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
        'ipv6_ifconfig_vnet0_alias0="2001:db8::10/64"\n'
        'ipv6_ifconfig_vnet0_alias1=""\n'
        'ipv6_ifconfig_vnet0_alias2="2001:db8::12/64"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::10/64", "alias"],
    ] + FWD_OFF
    assert p.warnings == [
        "$ipv6_ifconfig_vnet0_alias0 is obsolete.  Use ifconfig_vnet0_aliasN instead."]


def test_legacy_ipv6_aliases_of_an_interface_without_ipv6_are_not_warned_obsolete():
    # ipv6_up returns before ifalias when ipv6if is false: no "obsolete" warning
    p = run('ipv6_ifconfig_vnet0_alias0="2001:db8::10/64"\n')
    assert p.argvs == LO0 + FWD_OFF
    assert p.warnings == ['inet6 aliases of vnet0 ignored: IPv6 is enabled on it only by '
                          'ifconfig_vnet0_ipv6 (e.g. "inet6 -ifdisabled").']


def test_alias_without_inet_keyword_warns():
    p = run('ifconfig_vnet0_alias0="10.0.0.1/32"\n')
    assert p.argvs == LO0 + [["ifconfig", "vnet0", "inet", "10.0.0.1/32", "alias"]] + FWD_OFF
    assert p.warnings == ['$ifconfig_vnet0_alias0 needs leading "inet" keyword for an IPv4 address.']


def test_alias_sources_order_and_families():
    # ether/link aliases in ifconfig_up, before the description and `up`; inet
    # aliases in ipv4_up: _aliases, then aliasN, then ipv4_addrs; inet6 last.
    text = (
        'ifconfig_vnet0="inet 10.0.0.2/24"\n'
        'ifconfig_vnet0_ipv6="inet6 2001:db8::2/64"\n'
        'ifconfig_vnet0_descr="the lan"\n'
        'ifconfig_vnet0_aliases="inet 10.0.1.1/24 inet6 2001:db8::5 inet 10.0.2.1/24 netmask 255.255.255.0"\n'
        'ifconfig_vnet0_alias0="inet6 2001:db8::6/64"\n'
        'ifconfig_vnet0_alias1="ether 02:00:00:00:00:99"\n'
        'ifconfig_vnet0_alias2="inet 10.0.3.1/24"\n'
        'ipv4_addrs_vnet0="10.0.4.1/24 10.0.5.1/24"\n'
    )
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::2/64"],
        ["ifconfig", "vnet0", "ether", "02:00:00:00:00:99", "alias"],
        ["ifconfig", "vnet0", "description", "the lan"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet", "10.0.1.1/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.2.1/24", "netmask", "255.255.255.0", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.3.1/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.4.1/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.5.1/24", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::5", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::6/64", "alias"],
    ] + FWD_OFF


def test_inet6_aliases_need_ipv6_enabled_on_the_interface():
    p = run('ifconfig_vnet0_alias0="inet6 2001:db8::6/64"\n')
    assert p.argvs == LO0 + FWD_OFF
    assert p.warnings == ['inet6 aliases of vnet0 ignored: IPv6 is enabled on it only by '
                          'ifconfig_vnet0_ipv6 (e.g. "inet6 -ifdisabled").']


def test_range_expansion_inet():
    text = 'ifconfig_vnet0_aliases="inet 10.0.0.10-12/24 inet 10.1-2.0.1 netmask 255.255.0.0"\n'
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.10/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.11/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.12/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.1.0.1", "netmask", "255.255.0.0", "alias"],
        ["ifconfig", "vnet0", "inet", "10.2.0.1", "netmask", "255.255.0.0", "alias"],
    ] + FWD_OFF


def test_range_expansion_inet6():
    text = (
        'ifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
        'ifconfig_vnet0_aliases="inet6 2001:db8::a-c inet6 2001:db8:1-2::1/48"\n'
    )
    assert argvs(text) == LO0 + [
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "inet6", "-ifdisabled"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000a/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000b/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000c/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8:0001::1/48", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8:0002::1/48", "alias"],
    ] + FWD_OFF


def test_ipv4_addrs_are_inet_aliases_with_ranges():
    p = run('ipv4_addrs_vnet0="10.0.0.1/24 10.0.1.5-6/24"\n')
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.1/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.1.5/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.1.6/32", "alias"],
    ] + FWD_OFF
    assert {(s.var, s.where) for s in p.steps[2:5]} == {("ipv4_addrs_vnet0", "rc.conf:1")}


def test_range_too_large_inet():
    # As network.subr: addresses low..low+max+1 are generated, then the warning
    # says exactly which part was processed.
    p = run('netif_ipexpand_max="2"\nifconfig_vnet0_aliases="inet 10.0.0.1-9/24"\n')
    assert p.argvs == LO0 + [
        ["ifconfig", "vnet0", "inet", "10.0.0.1/24", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.2/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.3/32", "alias"],
        ["ifconfig", "vnet0", "inet", "10.0.0.4/32", "alias"],
    ] + FWD_OFF
    assert p.warnings == [
        "Range specification is too large (10.0.0.1-10.0.0.9).  10.0.0.1-10.0.0.4 was processed.  "
        "Increase $netif_ipexpand_max in rc.conf."]


def test_range_too_large_default_max_is_2048():
    p = run('ifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
            'ifconfig_vnet0_aliases="inet6 2001:db8::0-ffff"\n')
    aliases = [s.argv for s in p.steps if s.argv[-1] == "alias"]
    assert len(aliases) == 1 + 2050  # lo0's 127.0.0.1 and 2001:db8::0000 .. ::0801
    assert aliases[-1] == ["ifconfig", "vnet0", "inet6", "2001:db8::0801/64", "alias"]
    assert p.warnings == [
        "Range specification is too large (2001:db8::0-2001:db8::ffff). 2001:db8::0-2001:db8::801 was "
        "processed.  Increase $netif_ipexpand_max in rc.conf."]


def test_range_too_large_inet6():
    p = run('netif_ipexpand_max="1"\nifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
            'ifconfig_vnet0_alias0="inet6 2001:db8::a-1f/64"\n')
    assert p.argvs[-6:] == [
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000a/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000b/64", "alias"],
        ["ifconfig", "vnet0", "inet6", "2001:db8::000c/64", "alias"],
    ] + FWD_OFF
    assert p.warnings == [
        "Range specification is too large (2001:db8::a-2001:db8::1f). 2001:db8::a-2001:db8::c was "
        "processed.  Increase $netif_ipexpand_max in rc.conf."]


def test_invalid_ranges_are_ignored_with_a_warning():
    p = run('ifconfig_vnet0_aliases="inet 10.0.0.1--5 inet 10.0.0.7/32"\n')
    assert p.argvs == LO0 + [["ifconfig", "vnet0", "inet", "10.0.0.7/32", "alias"]] + FWD_OFF
    assert p.warnings == ["$ifconfig_vnet0_aliases: invalid range specification '10.0.0.1--5' ignored."]


# --- routing ------------------------------------------------------------------------------------

def test_static_routes_then_default_router_per_family():
    text = (
        'defaultrouter="10.0.0.1"\n'
        'static_routes="net1 lan:vnet0 missing my-net"\n'
        'route_net1="-net 10.1.0.0/16 10.0.0.254"\n'
        'route_lan="-net 10.2.0.0/16 -iface vnet0"\n'
        'route_my_net="-host 10.3.0.1 10.0.0.253 -blackhole"\n'
        'ipv6_defaultrouter="fe80::1%vnet0"\n'
        'ipv6_static_routes="v6"\n'
        'ipv6_route_v6="2001:db8:9::/48 2001:db8::1"\n'
        'gateway_enable="YES"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + [
        ["route", "add", "-net", "10.1.0.0/16", "10.0.0.254"],
        ["route", "add", "-net", "10.2.0.0/16", "-iface", "vnet0"],
        ["route", "add", "-host", "10.3.0.1", "10.0.0.253", "-blackhole"],
        ["route", "add", "default", "10.0.0.1"],
        ["sysctl", "net.inet.ip.forwarding=1"],
        ["route", "add", "-inet6", "2001:db8:9::/48", "2001:db8::1"],
        ["route", "add", "-inet6", "default", "fe80::1%vnet0"],
        ["sysctl", "net.inet6.ip6.forwarding=0"],
    ]
    assert p.warnings == ["route_missing not found."]
    assert [(s.var, s.where) for s in p.steps[2:6]] == [
        ("route_net1", "rc.conf:3"), ("route_lan", "rc.conf:4"), ("route_my_net", "rc.conf:5"),
        ("defaultrouter", "rc.conf:1")]


def test_missing_ipv6_route_warning_names_the_ipv6_variable():
    # FreeBSD prints "route_x not found" here; we name the variable actually looked up.
    p = run('ipv6_static_routes="x"\n')
    assert p.argvs == LO0 + FWD_OFF
    assert p.warnings == ["ipv6_route_x not found."]


@pytest.mark.parametrize("value", ["NO", "no", ""])
def test_defaultrouter_no_or_empty_adds_nothing(value):
    assert argvs(f'defaultrouter="{value}"\nipv6_defaultrouter="{value}"\n') == LO0 + FWD_OFF


@pytest.mark.parametrize("value, expected", [
    ("YES", "1"), ("yes", "1"), ("True", "1"), ("on", "1"), ("1", "1"),
    ("NO", "0"), ("No", "0"), ("false", "0"), ("OFF", "0"), ("0", "0"),
])
def test_gateway_enable_checkyesno(value, expected):
    p = run(f'gateway_enable="{value}"\nipv6_gateway_enable="{value}"\n')
    assert p.argvs == LO0 + [["sysctl", f"net.inet.ip.forwarding={expected}"],
                             ["sysctl", f"net.inet6.ip6.forwarding={expected}"]]
    assert p.warnings == []


def test_checkyesno_garbage_warns_like_rc_subr_and_counts_as_no():
    p = run('gateway_enable="maybe"\nipv6_gateway_enable=""\n')
    assert p.argvs == LO0 + FWD_OFF
    assert p.warnings == ["$gateway_enable is not set properly - see rc.conf(5).",
                          "$ipv6_gateway_enable is not set properly - see rc.conf(5)."]


# --- static ARP / NDP -----------------------------------------------------------------------

def test_static_arp_and_ndp():
    text = (
        'static_arp_pairs="gw printer nothing"\n'
        'static_arp_gw="10.0.0.1 02:00:00:00:00:01"\n'
        'static_arp_printer="10.0.0.9 02:00:00:00:00:09 pub"\n'
        'static_ndp_pairs="gw6"\n'
        'static_ndp_gw6="2001:db8::1 02:00:00:00:00:01"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + FWD_OFF + [
        ["arp", "-S", "10.0.0.1", "02:00:00:00:00:01"],
        ["arp", "-S", "10.0.0.9", "02:00:00:00:00:09", "pub"],
        ["ndp", "-s", "2001:db8::1", "02:00:00:00:00:01"],
    ]
    assert p.warnings == ["static_arp_nothing not found."]


# --- the whole order, and origins across files ------------------------------------------------

FULL = """\
hostname="gw.example.org"
cloned_interfaces="tap0"
ifconfig_vnet1_name="wan0"
ifconfig_vnet0="inet 10.0.0.1/24"
ifconfig_vnet0_alias0="inet 10.0.0.2/32"
ifconfig_wan0="inet 192.0.2.2/24"
ifconfig_tap0="inet 172.16.0.1/30"
defaultrouter="192.0.2.1"
static_routes="lab"
route_lab="-net 10.9.0.0/16 10.0.0.9"
gateway_enable="YES"
static_arp_pairs="upstream"
static_arp_upstream="192.0.2.1 02:00:00:00:01:01"
static_ndp_pairs="up6"
static_ndp_up6="2001:db8::1 02:00:00:00:01:01"
"""


def test_order_routing_before_static_arp():
    # rc.d order (docs/freebsd-tools.md §5.8): hostname, netif (clone_up, ifnet_rename, per
    # interface), routing, then static_arp and static_ndp. routing vs static_arp
    # is not constrained by rcorder; we choose routing first (alphabetical
    # rcorder tie-break; ARP entries need the interfaces, not the routes).
    p = run(FULL, live=["lo0", "vnet0", "vnet1"], implicit_routes=True)
    assert p.argvs == [
        ["hostname", "gw.example.org"],
        ["ifconfig", "tap0", "create"],
        ["ifconfig", "vnet1", "name", "wan0"],
        *LO0,
        ["ifconfig", "vnet0", "inet", "10.0.0.1/24"],
        ["ifconfig", "vnet0", "up"],
        ["ifconfig", "vnet0", "inet", "10.0.0.2/32", "alias"],
        ["ifconfig", "wan0", "inet", "192.0.2.2/24"],
        ["ifconfig", "wan0", "up"],
        ["ifconfig", "tap0", "inet", "172.16.0.1/30"],
        ["ifconfig", "tap0", "up"],
        ["route", "add", "-inet", "127.0.0.1", "-iface", "lo0"],
        ["route", "add", "-net", "10.9.0.0/16", "10.0.0.9"],
        ["route", "add", "default", "192.0.2.1"],
        ["sysctl", "net.inet.ip.forwarding=1"],
        ["route", "add", "-inet6", "::1", "-prefixlen", "128", "-iface", "lo0"],
        ["route", "add", "-inet6", "fe80::", "-prefixlen", "10", "::1", "-reject"],
        ["route", "add", "-inet6", "ff02::", "-prefixlen", "16", "::1", "-reject"],
        ["route", "add", "-inet6", "::ffff:0.0.0.0", "-prefixlen", "96", "::1", "-reject"],
        ["route", "add", "-inet6", "::0.0.0.0", "-prefixlen", "96", "::1", "-reject"],
        ["sysctl", "net.inet6.ip6.forwarding=0"],
        ["arp", "-S", "192.0.2.1", "02:00:00:00:01:01"],
        ["ndp", "-s", "2001:db8::1", "02:00:00:00:01:01"],
    ]
    assert p.warnings == []


def test_origins_follow_the_last_assignment_across_files(tmp_path):
    conf, local = tmp_path / "rc.conf", tmp_path / "rc.conf.local"
    conf.write_text(FULL)
    local.write_text('# local overrides\nifconfig_vnet0="inet 10.0.0.5/24"\n')
    p = plan(parse_files([conf, local]), ["lo0", "vnet0", "vnet1"], implicit_routes=False)
    cited = {(s.var, s.file, s.line) for s in p.steps if s.argv[:2] == ["ifconfig", "vnet0"]}
    assert cited == {("ifconfig_vnet0", str(local), 2), ("ifconfig_vnet0_alias0", str(conf), 5)}
    assert [s.argv for s in p.steps if s.var == "ifconfig_vnet0"] == [
        ["ifconfig", "vnet0", "inet", "10.0.0.5/24"], ["ifconfig", "vnet0", "up"]]


# --- sh tolerance: only what the network scripts read must parse ----------------------------

def test_commands_and_unread_substitutions_are_warnings_of_the_plan():
    text = (
        'root@gw:~ # sysrc hostname=gw\n'
        'sshd_flags="-o Port=$(cat /etc/ssh/port)"\n'
        'ifconfig_vnet0="inet 10.0.0.2/24"\n'
    )
    p = run(text)
    assert p.argvs == LO0 + [["ifconfig", "vnet0", "inet", "10.0.0.2/24"],
                             ["ifconfig", "vnet0", "up"]] + FWD_OFF
    assert p.warnings == [
        "rc.conf:1: not a variable assignment: 'root@gw:~' (skipped: only name=value lines "
        "are applied)",
        "rc.conf:2: $sshd_flags: command substitution is not supported; $sshd_flags is left "
        "unset"]


@pytest.mark.parametrize("text, message", [
    ('\nhostname=`cat /etc/myname`\n', "rc.conf:2: $hostname: command substitution is not supported"),
    ('defaultrouter="$(cat /etc/gw)"\n',
     "rc.conf:1: $defaultrouter: command substitution is not supported"),
    # found by the aliasN search (list_vars), whatever its number
    ('ifconfig_vnet0_alias5="inet $(cat /etc/a)"\n',
     "rc.conf:1: $ifconfig_vnet0_alias5: command substitution is not supported"),
    # read through another variable: at parse time ("...") or when rc evals it ('...')
    ('gw=$(cat /etc/gw)\ndefaultrouter="$gw"\n',
     "rc.conf:2: $defaultrouter: uses $gw, which is left unset (command substitution is not "
     "supported)"),
    ("ip=$(cat /etc/ip)\nifconfig_vnet0='inet $ip'\n",    # cites where $ip was set
     "rc.conf:1: $ifconfig_vnet0: $ip: command substitution is not supported"),
    ("ifconfig_vnet0='inet $(cat /etc/ip)'\n",
     "rc.conf:1: $ifconfig_vnet0: command substitution is not supported"),
])
def test_substitutions_the_network_scripts_read_are_errors(text, message):
    rcvars = parse_text(text)
    with pytest.raises(RcSyntaxError) as e:
        plan(rcvars, ["lo0", "vnet0"])
    assert str(e.value) == message
