"""The rc.conf variables the stack does not act on, said out loud: packet filters (pf, ipfw,
ipfilter), NAT daemons, PPP, tunnels (WireGuard, IPsec, stf, the legacy gif_interfaces),
wireless.

    unmodelled_start(ctx)     # one warning per such variable, `FILE:LINE: NAME: what`

A real rc.conf that enables pf applies here without any filtering: the operator must be
told, once per variable, rather than find out from traffic.  `rc apply --strict` (and
`plebnet --strict`) turns these warnings into a refusal.

A family is warned about when its enable variable says yes, or for families that have none
(wlans_IF, gif_interfaces): `pf_enable="NO"` with `pf_rules` set does nothing on FreeBSD
either, so nothing is said.
"""
from __future__ import annotations

import re

from .context import Context, checkyesno

__all__ = ["unmodelled_start", "FAMILIES"]

FILTER = "packet filtering is not modelled; traffic is not filtered"
NAT = "address translation is not modelled; traffic is not translated"
TUNNEL = "tunnelling is not modelled; no tunnel is set up"
WIRELESS = "wireless is not modelled; no wireless link is made"
LEGACY_GIF = ("the legacy gif_interfaces/gifconfig_IF are not modelled; no tunnel is set up "
              '(cloned_interfaces="gif0" with create_args_gif0="tunnel SRC DST" is)')

# (variable-name pattern, its enable variable or None, what is not done).  Order matters
# only for names two patterns could match (none do).
FAMILIES: tuple[tuple[str, str | None, str], ...] = (
    (r"pf_.*", "pf_enable", FILTER),
    (r"pflog_.*", "pflog_enable", "pflog(4) is not modelled; filtered packets are not logged"),
    (r"pfsync_.*", "pfsync_enable", "pfsync(4) is not modelled; filter state is not shared"),
    (r"firewall_.*", "firewall_enable", FILTER),
    (r"ipfw_.*", None, FILTER),
    (r"dummynet_.*", "dummynet_enable", "dummynet(4) is not modelled; traffic is not shaped"),
    (r"ipfilter_.*", "ipfilter_enable", FILTER),
    (r"ipmon_.*", "ipmon_enable", FILTER),
    (r"ipfs_.*", "ipfs_enable", FILTER),
    (r"ipnat_.*", "ipnat_enable", NAT),
    (r"natd_.*", "natd_enable", NAT),
    (r"ppp_.*", "ppp_enable", "ppp(8) is not modelled; no PPP link is made"),
    (r"pppoed_.*", "pppoed_enable", "pppoed(8) is not modelled; no PPP link is made"),
    (r"wireguard_.*", "wireguard_enable", TUNNEL),
    (r"ipsec_.*", "ipsec_enable", TUNNEL),
    (r"racoon_.*", "racoon_enable", TUNNEL),
    (r"strongswan_.*", "strongswan_enable", TUNNEL),
    (r"openvpn_.*", "openvpn_enable", TUNNEL),
    (r"stf_interface_.*", None, TUNNEL),
    (r"gif_interfaces", None, LEGACY_GIF),
    (r"gifconfig_.*", None, LEGACY_GIF),
    (r"wlans_.*", None, WIRELESS),
    (r"create_args_wlan[0-9].*", None, WIRELESS),
    (r"ifconfig_wlan[0-9][0-9_a-z]*", None, WIRELESS),     # and its _ipv6, _aliasN, ...
    (r"wpa_supplicant_.*", None, WIRELESS),
    (r"hostapd_.*", "hostapd_enable", WIRELESS),
)
_COMPILED = [(re.compile(p), enable, what) for p, enable, what in FAMILIES]


def family_of(name: str):
    """(enable variable, what) of the family name belongs to, or None."""
    for pattern, enable, what in _COMPILED:
        if pattern.fullmatch(name):
            return enable, what
    return None


def unmodelled_start(ctx: Context) -> None:
    for name in ctx.names():
        found = family_of(name)
        if found is None:
            continue
        enable, what = found
        if enable is not None:
            on = ctx.vars.get(enable)
            if on is None or not checkyesno(on.text):
                continue
        v = ctx.vars.get(name)
        if v is None:                   # set from a command's output: where the parser saw it
            file, line, _ = ctx.unparsed[name]
        else:
            if not v.text and name != enable:
                continue                # empty: nothing to act on
            file, line = v.file, v.line
        ctx.warn(f"{file}:{line}: {name}: {what}")
