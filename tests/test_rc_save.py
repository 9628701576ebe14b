"""save(config) -> rc.conf text; plan() of that text rebuilds config.

The round trip applies the planned command lines to a tiny model of a freshly
started stack (lo0 and the NICs present, unconfigured) that knows just the
FreeBSD rules these command lines rely on: a non-alias `inet` address replaces
the interface's first IPv4 address, an IPv4 address sets IFF_UP, re-adding an
existing address moves it to the end.
"""

import re

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from plebconf.rc import parse_text, plan
from conftest import run_tool
from plebconf.rc.save import ArpEntry, Interface, Route, RunningConfig, is_auto_inet6, save
from plebnet_core.spawn import spawn_stack


# --- the model -------------------------------------------------------------------------------

def apply(argvs, live):
    cfg = RunningConfig(interfaces=[Interface(name) for name in live])
    byname = {i.name: i for i in cfg.interfaces}
    for argv in argvs:
        tool, args = argv[0], argv[1:]
        if tool == "hostname":
            cfg.hostname = args[0]
        elif tool == "sysctl":
            key, value = args[0].split("=")
            attr = {"net.inet.ip.forwarding": "ip_forwarding",
                    "net.inet6.ip6.forwarding": "ip6_forwarding"}[key]
            setattr(cfg, attr, value == "1")
        elif tool == "arp":
            assert args[0] == "-S"
            cfg.arp.append(ArpEntry(args[1], args[2], pub="pub" in args[3:]))
        elif tool == "route":
            cfg.routes.append(parse_route(args))
        elif tool == "ifconfig":
            name, rest = args[0], args[1:]
            if rest[:1] == ["create"]:
                new = Interface(name, cloner=re.match(r"\D+", name).group(), create_args=tuple(rest[1:]))
                cfg.interfaces.append(new)
                byname[name] = new
            elif rest[:1] == ["name"]:
                iface = byname.pop(name)
                iface.name = rest[1]
                byname[iface.name] = iface
            else:
                ifconfig(byname[name], rest)
        else:
            raise AssertionError(argv)
    return cfg


def ifconfig(iface, args):
    af, addr, alias = "inet", None, False
    words = iter(args)
    for w in words:
        if w in ("inet", "inet6"):
            af = w
        elif w == "alias":
            alias = True
        elif w == "up":
            iface.up = True
        elif w == "mtu":
            iface.mtu = int(next(words))
        elif w == "description":
            iface.description = next(words)
        elif w == "-ifdisabled":
            pass
        else:
            assert addr is None, args
            a, _, plen = w.partition("/")
            addr = (a, int(plen))
    if addr is None:
        return
    addrs = iface.inet if af == "inet" else iface.inet6
    if af == "inet" and not alias and addrs:
        addrs.pop(0)
    for old in [x for x in addrs if x[0] == addr[0]]:
        addrs.remove(old)
    addrs.append(addr)
    if af == "inet":
        iface.up = True


def parse_route(args):
    assert args[0] == "add"
    args = args[1:]
    inet6 = args[:1] == ["-inet6"]
    if inet6:
        args = args[1:]
    if args[0] == "default":
        dest, plen, args = ("::" if inet6 else "0.0.0.0"), 0, args[1:]
    elif args[0] == "-host":
        dest, plen, args = args[1], 128 if inet6 else 32, args[2:]
    else:
        assert args[0] == "-net"
        dest, plen = args[1].split("/")
        plen, args = int(plen), args[2:]
    r = Route(dest, plen)
    if args[0] == "-iface":
        r.interface, args = args[1], args[2:]
    else:
        r.gateway, args = args[0], args[1:]
    r.blackhole = "-blackhole" in args
    r.reject = "-reject" in args
    return r


def roundtrip(cfg):
    text = save(cfg)
    live = [i.name for i in cfg.interfaces if i.cloner is None]
    p = plan(parse_text(text), live, implicit_routes=False)
    assert p.warnings == []
    return text, apply(p.argvs, live)


def normalized(cfg):
    interfaces = {}
    for i in cfg.interfaces:
        i6 = [(a, n) for a, n in i.inet6 if not is_auto_inet6(i.name, a)]
        interfaces[i.name] = (i.cloner, i.create_args, i.description, i.inet, i6, i.up, i.mtu)
    return (cfg.hostname, interfaces, sorted(map(repr, cfg.routes)), cfg.arp,
            cfg.ip_forwarding, cfg.ip6_forwarding)


# --- a worked example ---------------------------------------------------------------------------

EXAMPLE = RunningConfig(
    hostname="gw.example.org",
    interfaces=[
        Interface("lo0", inet=[("127.0.0.1", 8)], inet6=[("::1", 128), ("fe80::1", 64)], up=True),
        Interface("vnet0", description='uplink "A" $1', inet=[("10.0.0.2", 24), ("10.0.0.3", 32)],
                  inet6=[("2001:db8::2", 64), ("2001:db8::3", 64)], up=True,
                  mtu=9000),
        Interface("vnet1", up=True),
        Interface("vnet2", description="spare"),
        Interface("tap0", cloner="tap", inet=[("172.16.0.1", 30)], up=True),
        Interface("wan", cloner="vxlan", create_args=("vxlanid", "42", "vxlanlocal", "10.0.0.2"),
                  inet=[("192.0.2.2", 24)], up=True),
    ],
    routes=[
        Route("0.0.0.0", 0, gateway="192.0.2.1"),
        Route("10.1.0.0", 16, gateway="10.0.0.254"),
        Route("10.2.0.0", 16, interface="vnet0"),
        Route("10.3.0.1", 32, gateway="10.0.0.253", blackhole=True),
        Route("2001:db8:9::", 48, gateway="2001:db8::1"),
        Route("::", 0, gateway="fe80::1%vnet0"),
    ],
    arp=[ArpEntry("10.0.0.1", "02:00:00:00:00:01"), ArpEntry("10.0.0.9", "02:00:00:00:00:09", pub=True)],
    ip_forwarding=True,
)


def test_save_example_text():
    assert save(EXAMPLE) == """\
# rc.conf(5) written by plebconf from the running configuration.
hostname="gw.example.org"
cloned_interfaces="tap0 vxlan0"
create_args_vxlan0="vxlanid 42 vxlanlocal 10.0.0.2"
ifconfig_vxlan0_name="wan"
ifconfig_vnet0="inet 10.0.0.2/24 mtu 9000"
ifconfig_vnet0_ipv6="inet6 2001:db8::2/64"
ifconfig_vnet0_alias0="inet 10.0.0.3/32"
ifconfig_vnet0_alias1="inet6 2001:db8::3/64"
ifconfig_vnet0_descr="uplink \\"A\\" \\$1"
ifconfig_vnet1="up"
ifconfig_vnet2_descr="spare"
ifconfig_tap0="inet 172.16.0.1/30"
ifconfig_wan="inet 192.0.2.2/24"
static_routes="r0 r1 r2"
route_r0="-net 10.1.0.0/16 10.0.0.254"
route_r1="-net 10.2.0.0/16 -iface vnet0"
route_r2="-host 10.3.0.1 10.0.0.253 -blackhole"
defaultrouter="192.0.2.1"
ipv6_static_routes="r0"
ipv6_route_r0="-net 2001:db8:9::/48 2001:db8::1"
ipv6_defaultrouter="fe80::1%vnet0"
gateway_enable="YES"
static_arp_pairs="a0 a1"
static_arp_a0="10.0.0.1 02:00:00:00:00:01"
static_arp_a1="10.0.0.9 02:00:00:00:00:09 pub"
"""


def test_save_example_round_trips():
    _, rebuilt = roundtrip(EXAMPLE)
    assert normalized(rebuilt) == normalized(EXAMPLE)


def test_many_aliases_are_numbered_without_gaps_and_come_back_in_order():
    # network.subr sorts aliasN by the number (sort_lite -n: alias10 after alias9) and an
    # empty one would end the list: save numbers them 0..N-1, none empty, IPv4 first
    inet = [("10.0.0.1", 24)] + [(f"10.0.1.{i}", 32) for i in range(1, 13)]
    inet6 = [("2001:db8::1", 64)] + [(f"2001:db8::{i:x}", 64) for i in range(16, 20)]
    cfg = RunningConfig(interfaces=[Interface("lo0", inet=[("127.0.0.1", 8)], up=True),
                                    Interface("vnet0", inet=inet, inet6=inet6, up=True)])
    text, rebuilt = roundtrip(cfg)
    numbers = [int(line.split("=")[0].rpartition("alias")[2]) for line in text.splitlines()
               if line.startswith("ifconfig_vnet0_alias")]
    assert numbers == list(range(12 + 4))
    assert '=""' not in text
    assert normalized(rebuilt) == normalized(cfg)


def test_lo0_without_127_0_0_1_is_saved_explicitly():
    cfg = RunningConfig(interfaces=[Interface("lo0", inet=[("127.0.0.2", 8)], inet6=[("::1", 128)],
                                              up=True)])
    text, rebuilt = roundtrip(cfg)
    assert 'ifconfig_lo0="inet 127.0.0.2/8"' in text.splitlines()
    assert normalized(rebuilt) == normalized(cfg)
    cfg.interfaces[0].inet = []
    text, rebuilt = roundtrip(cfg)
    assert 'ifconfig_lo0="up"' in text.splitlines()
    assert normalized(rebuilt) == normalized(cfg)


def test_down_interface_with_addresses_is_noted():
    cfg = RunningConfig(interfaces=[Interface("lo0", inet=[("127.0.0.1", 8)], up=True),
                                    Interface("vnet0", inet=[("10.0.0.2", 24)], up=False)])
    assert save(cfg).splitlines()[:3] == [
        "# rc.conf(5) written by plebconf from the running configuration.",
        "# note: vnet0 is down, but rc.conf brings configured interfaces up.",
        'ifconfig_vnet0="inet 10.0.0.2/24"',
    ]


# --- property: any representable configuration round-trips ---------------------------------

def _unique(strategy, n):
    return st.lists(strategy, min_size=0, max_size=n, unique_by=lambda x: x[0])


ipv4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 32))
ipv6 = st.tuples(st.ip_addresses(v=6).filter(lambda a: not a.is_link_local and "." not in str(a))
                 .map(str), st.integers(0, 128))
description = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                      max_size=12)


@st.composite
def interfaces(draw):
    names = ["lo0"] + draw(st.lists(st.sampled_from(["vnet0", "vnet1", "vnet2"]), unique=True))
    clones = draw(st.lists(st.sampled_from([("tap", "tap0"), ("tap", "tap1"), ("vxlan", "vxlan0"),
                                            ("tap", "uplink"), ("vxlan", "my-lan.5")]),
                           unique_by=lambda c: c[1], max_size=3))
    addrs4 = iter(draw(_unique(ipv4, 12)))
    addrs6 = iter(draw(_unique(ipv6, 12)))
    out = []
    for name, cloner in [(n, None) for n in names] + [(n, c) for c, n in clones]:
        i = Interface(name, cloner=cloner)
        if cloner:
            i.create_args = tuple(draw(st.lists(st.from_regex(r"[a-z0-9.]{1,6}", fullmatch=True),
                                                max_size=3)))
        i.inet = [a for a, _ in zip(addrs4, range(draw(st.integers(0, 3))))]
        i.inet6 = [a for a, _ in zip(addrs6, range(draw(st.integers(0, 3))))]
        if name == "lo0" and draw(st.booleans()) and all(a != "127.0.0.1" for a, _ in i.inet):
            i.inet.insert(0, ("127.0.0.1", 8))     # (an interface never holds one address twice)
        i.mtu = draw(st.none() | st.integers(576, 9000))
        i.description = draw(description)
        # rc.conf brings every configured interface (and lo0) up
        i.up = bool(i.inet or i.inet6 or i.mtu is not None or name == "lo0") or draw(st.booleans())
        out.append(i)
    return out


@st.composite
def routes(draw):
    out = []
    for _ in range(draw(st.integers(0, 4))):
        inet6 = draw(st.booleans())
        dest, plen = draw(ipv6 if inet6 else ipv4)
        if plen == 0:
            dest = "::" if inet6 else "0.0.0.0"
        r = Route(dest, plen)
        if draw(st.booleans()):
            r.interface = draw(st.sampled_from(["vnet0", "lo0"]))
        else:
            r.gateway = draw(ipv6 if inet6 else ipv4)[0]
        flag = draw(st.sampled_from([None, "blackhole", "reject"]))
        if flag:
            setattr(r, flag, True)
        out.append(r)
    return out


configs = st.builds(
    RunningConfig,
    hostname=st.from_regex(r"([a-z][a-z0-9-]{0,8}(\.[a-z]{1,5}){0,2})?", fullmatch=True),
    interfaces=interfaces(),
    routes=routes(),
    arp=st.lists(st.builds(ArpEntry, ip=ipv4.map(lambda a: a[0]),
                           mac=st.from_regex(r"02(:[0-9a-f]{2}){5}", fullmatch=True),
                           pub=st.booleans()), max_size=3),
    ip_forwarding=st.booleans(),
    ip6_forwarding=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(configs)
def test_any_representable_config_round_trips(cfg):
    _, rebuilt = roundtrip(cfg)
    assert normalized(rebuilt) == normalized(cfg)


# --- live: configured with ifconfig, saved, booted from the file, saved again ----------------
# Each case: the ifconfig commands run on a stack with vnet0 and vnet1 (no wire), and the
# whole text `rc save` must write for it.  A stack booted from that text must save the same
# text, and `rc diff` of the text against it must find nothing.

HEAD = "# rc.conf(5) written by plebconf from the running configuration.\n"
LIVE = {
    "nd6_flags": ([["vnet0", "inet6", "-ifdisabled"], ["vnet1", "inet6", "accept_rtadv"],
                   ["vnet1", "up"]],
                  'ifconfig_vnet0_ipv6="inet6 -ifdisabled"\n'
                  # rc runs `inet6 -ifdisabled` for any ifconfig_IF_ipv6: disabled again
                  'ifconfig_vnet1_ipv6="inet6 accept_rtadv ifdisabled"\n'),
    "auto_linklocal": ([["vnet0", "inet6", "-auto_linklocal"], ["vnet0", "inet6", "-ifdisabled"],
                        ["vnet0", "up"]],
                       'ifconfig_vnet0_ipv6="inet6 -auto_linklocal"\n'),
    "activate_all": ([["vnet0", "inet6", "-ifdisabled"], ["vnet1", "inet6", "-ifdisabled"],
                      ["vnet1", "inet6", "2001:db8::1/64"]],
                     'ipv6_activate_all_interfaces="YES"\n'
                     'ifconfig_vnet0="up"\n'
                     'ifconfig_vnet1_ipv6="inet6 2001:db8::1/64"\n'),
    "hand_set_link_local": ([["vnet0", "inet6", "-ifdisabled"],
                             ["vnet0", "inet6", "fe80::1234/64"],
                             ["vnet0", "inet6", "fe80::99/64", "alias"], ["vnet0", "up"]],
                            'ifconfig_vnet0_ipv6="inet6 fe80::1234/64"\n'
                            'ifconfig_vnet0_alias0="inet6 fe80::99/64"\n'),
    "renamed_nic": ([["vnet0", "name", "wan"], ["wan", "inet", "192.0.2.1/24"]],
                    'ifconfig_vnet0_name="wan"\n'
                    'ifconfig_wan="inet 192.0.2.1/24"\n'),
    "cloned_loopbacks": ([["lo1", "create"], ["lo1", "inet", "127.0.0.2/8"], ["lo2", "create"],
                          ["lo3", "create"], ["lo3", "inet6", "2001:db8::9/128"]],
                         'cloned_interfaces="lo1 lo2 lo3"\n'
                         'ifconfig_lo1="inet 127.0.0.2/8"\n'
                         'ifconfig_lo3_ipv6="inet6 2001:db8::9/128"\n'),
    "vlan": ([["vnet0", "up"], ["vlan5", "create", "vlan", "5", "vlandev", "vnet0"],
              ["vlan5", "inet", "10.5.0.1/24"], ["vnet0.7", "create"], ["vnet0.7", "up"],
              ["vlan9", "create", "vlan", "9", "vlandev", "vnet1", "vlanpcp", "3"],
              ["vlan9", "name", "voice"], ["voice", "mtu", "1400", "up"]],
             'cloned_interfaces="vlan5 vnet0.7 vlan0"\n'
             'create_args_vlan5="vlan 5 vlandev vnet0"\n'
             'create_args_vlan0="vlan 9 vlandev vnet1 vlanpcp 3"\n'
             'ifconfig_vlan0_name="voice"\n'
             'ifconfig_vnet0="up"\n'
             'ifconfig_vlan5="inet 10.5.0.1/24"\n'
             'ifconfig_vnet0_7="up"\n'
             'ifconfig_voice="mtu 1400"\n'),
    "bridge": ([["bridge0", "create"], ["bridge0", "addm", "vnet0", "addm", "vnet1", "up"],
                ["vnet0", "up"], ["vnet1", "up"], ["bridge3", "create"],
                ["bridge3", "inet", "192.0.2.3/24"], ["bridge3", "name", "br"]],
               'cloned_interfaces="bridge0 bridge1"\n'
               'ifconfig_bridge1_name="br"\n'
               'ifconfig_vnet0="up"\n'
               'ifconfig_vnet1="up"\n'
               'ifconfig_bridge0="addm vnet0 addm vnet1"\n'
               'ifconfig_br="inet 192.0.2.3/24"\n'),
    "lagg": ([["lagg0", "create"],
              ["lagg0", "laggproto", "lacp", "laggport", "vnet1", "laggport", "vnet0"],
              ["lagg0", "inet", "10.9.0.1/24"]],
             'cloned_interfaces="lagg0"\n'
             'create_args_lagg0="laggproto lacp laggport vnet1 laggport vnet0"\n'
             'ifconfig_lagg0="inet 10.9.0.1/24"\n'),
    "epair": ([["epair0", "create"], ["epair0a", "inet", "10.1.0.1/24"], ["epair0b", "up"],
               ["epair3", "create"], ["epair3a", "name", "jail"],
               ["epair3b", "inet6", "-ifdisabled"], ["epair3b", "inet6", "2001:db8::3/64"]],
              'cloned_interfaces="epair0 epair3"\n'
              'ifconfig_epair3a_name="jail"\n'
              'ifconfig_epair0a="inet 10.1.0.1/24"\n'
              'ifconfig_epair0b="up"\n'
              'ifconfig_epair3b_ipv6="inet6 2001:db8::3/64"\n'),
    "gif": ([["vnet0", "inet", "192.0.2.1/24"], ["gif0", "create"],
             ["gif0", "tunnel", "192.0.2.1", "192.0.2.2"],
             ["gif0", "inet", "10.0.0.1/30", "10.0.0.2"]],
            'cloned_interfaces="gif0"\n'
            'create_args_gif0="tunnel 192.0.2.1 192.0.2.2"\n'
            'ifconfig_vnet0="inet 192.0.2.1/24"\n'
            'ifconfig_gif0="inet 10.0.0.1/30 10.0.0.2"\n'),
    "gif6": ([["vnet0", "inet6", "2001:db8::1/64"], ["gif0", "create"],
              ["gif0", "tunnel", "2001:db8::1", "2001:db8::2"],
              ["gif0", "inet6", "2001:db8:1::1", "2001:db8:1::2", "prefixlen", "128"],
              ["gif0", "inet", "10.0.0.1/30", "10.0.0.2"]],
             'cloned_interfaces="gif0"\n'
             'create_args_gif0="tunnel 2001:db8::1 2001:db8::2"\n'
             'ifconfig_vnet0_ipv6="inet6 2001:db8::1/64"\n'
             'ifconfig_gif0="inet 10.0.0.1/30 10.0.0.2"\n'
             'ifconfig_gif0_ipv6="inet6 2001:db8:1::1/128 2001:db8:1::2"\n'),
}
LIVE_NICS = ["--nic", "vnet0=none", "--nic", "vnet1=none"]


@pytest.mark.parametrize("case", list(LIVE))
def test_live_configuration_saves_boots_and_saves_the_same(case, sockdir, tmp_path):
    commands, text = LIVE[case]
    stack = spawn_stack(LIVE_NICS, sockdir=sockdir)
    try:
        for argv in commands:
            r = run_tool(stack, "ifconfig", *argv)
            assert (r.returncode, r.stderr) == (0, ""), argv
        saved = run_tool(stack, "rc", "save").stdout
        path = tmp_path / "saved.rc.conf"
        path.write_text(saved)
        # save and diff agree: the stack diffs clean against what it saved
        d = run_tool(stack, "rc", "diff", str(path))
        assert (d.returncode, d.stdout, d.stderr) == (0, "", "")
    finally:
        stack.stop()
    assert saved == HEAD + text
    with spawn_stack([*LIVE_NICS, "--rc", str(path)], sockdir=sockdir) as booted:
        assert run_tool(booted, "rc", "save").stdout == saved
        d = run_tool(booted, "rc", "diff", str(path))
        assert (d.returncode, d.stdout, d.stderr) == (0, "", "")


def test_nd6_and_renamed_clone_drift_shows_in_diff(sockdir, tmp_path):
    """A flag the file sets, cleared by hand, and a clone the file names, renamed by hand,
    are drift: the flag comes back (+), the renamed clone goes (-) and the file's comes (+)."""
    path = tmp_path / "rc.conf"
    path.write_text(HEAD + LIVE["nd6_flags"][1] + 'cloned_interfaces="bridge0"\n'
                    'ifconfig_bridge0_name="br"\n')
    with spawn_stack([*LIVE_NICS, "--rc", str(path)], sockdir=sockdir) as s:
        assert run_tool(s, "rc", "diff", str(path)).returncode == 0
        assert run_tool(s, "ifconfig", "vnet1", "inet6", "-accept_rtadv").returncode == 0
        assert run_tool(s, "ifconfig", "vnet0", "inet6", "ifdisabled").returncode == 0
        d = run_tool(s, "rc", "diff", str(path))
        assert d.returncode == 1
        assert d.stdout.splitlines()[2:] == ["+ifconfig vnet0 inet6 -ifdisabled",
                                             "+ifconfig vnet1 inet6 accept_rtadv"]
        assert run_tool(s, "rc", "apply", str(path)).returncode == 0
        # renamed again: applying the file creates a bridge0 anew and names it br
        assert run_tool(s, "ifconfig", "br", "name", "br9").returncode == 0
        d = run_tool(s, "rc", "diff", str(path))
        assert d.returncode == 1
        assert d.stdout.splitlines()[2:] == ["-ifconfig br9 create", "-ifconfig br9 down",
                                             "+ifconfig br create", "+ifconfig br down"]


def test_ipv6_addresses_on_a_disabled_interface_are_noted(sockdir):
    """A manual IPv6 address enables IPv6 (and ifconfig adds it after any flag on the same
    line): rc.conf cannot keep both, and save says so."""
    with spawn_stack(LIVE_NICS, sockdir=sockdir) as s:
        for argv in (["vnet1", "inet6", "2001:db8::1/64"], ["vnet1", "inet6", "ifdisabled"]):
            assert run_tool(s, "ifconfig", *argv).returncode == 0
        assert run_tool(s, "rc", "save").stdout == (
            HEAD + "# note: vnet1 has IPv6 disabled, but rc.conf enables IPv6 where it sets "
            'IPv6 addresses.\nifconfig_vnet1_ipv6="inet6 2001:db8::1/64"\n')
