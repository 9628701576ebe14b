"""vlan(4)'s ifconfig grammar, as FreeBSD 14's ifvlan.c registers it: `vlan`, `vlandev`,
`vlanpcp`, `vlanproto` as clone commands (into SIOCIFCREATE2's params) and as ordinary ones
(SIOCSETVLAN once both the tag and the parent are known, on a vlan interface only), `-vlandev`,
the create hook for vlan* and IF.TAG names, and the end-of-command check that both the tag
and the parent were given.

Handlers get ifconfig_grammar's Command as `cmd`: during `create` its params, else its
vlan_params (FreeBSD's static `params`), which this module adds.
"""
from __future__ import annotations

from plebproto.constants import EOPNOTSUPP

from .ifconfig_clone import CALLBACKS, CLONE_TABLE, CREATE_HOOKS, NAME_FILTERS
from .ifconfig_values import errx, strtoul
from .keywords import Keyword, register

PROTOS = {"802.1q": "802.1q", "802.1Q": "802.1q", "802.1ad": "802.1ad", "802.1AD": "802.1ad",
          "qinq": "802.1ad", "QinQ": "802.1ad"}


def _vlan_params(cmd) -> dict:
    """The tag/parent/proto given so far in this command (created or not)."""
    if cmd.creating:
        return cmd.params
    if not hasattr(cmd, "vlan_params"):
        cmd.vlan_params = {}
    return cmd.vlan_params


def _set(cmd, key, value) -> None:
    """A clone command during create; else remembered, and SIOCSETVLAN once the tag and the
    parent are both known (vlan_set).  ifconfig sends it only when SIOCGETVLAN answers,
    i.e. on a vlan: the stack's EOPNOTSUPP for any other interface is that silence."""
    params = _vlan_params(cmd)
    params[key] = value
    if cmd.creating or key == "vlanpcp":
        return
    if "vlan" in params and "vlandev" in params:
        args = {"req": "SIOCSETVLAN", "ifname": cmd.ifname, "vlandev": params["vlandev"],
                "vlan": params["vlan"]}
        if "vlanproto" in params:
            args["vlanproto"] = params["vlanproto"]
        cmd.emit(["ioctl", args, [EOPNOTSUPP]], _label("SIOCSETVLAN"))


def _label(what, errx_map=None):
    from .ifconfig_grammar import Label  # (the grammar imports this module first)
    return Label(what, errx=errx_map)


def vlantag(cmd, word, label, value):
    tag = strtoul(value)
    if tag is None:
        raise errx("invalid value for vlan")
    if tag > 0xFFFF:                # vlr_tag is a u_short
        raise errx("value for vlan out of range")
    _set(cmd, "vlan", tag)


def vlandev(cmd, word, label, value):
    _set(cmd, "vlandev", value)


def unsetvlandev(cmd, word, label):
    # SIOCGETVLAN (fails on a non-vlan: err "SIOCGETVLAN"), then SIOCSETVLAN without parent
    cmd.emit(["ioctl", {"req": "SIOCSETVLAN", "ifname": cmd.ifname, "vlandev": ""}],
             _label("SIOCSETVLAN", {EOPNOTSUPP: "SIOCGETVLAN: Invalid argument"}))


def vlanpcp(cmd, word, label, value):
    pcp = strtoul(value)
    if pcp is None or pcp > 7:
        raise errx("invalid value for vlanpcp")
    if cmd.creating:
        cmd.params["vlanpcp"] = pcp
    else:
        cmd.emit(["ioctl", {"req": "SIOCSVLANPCP", "ifname": cmd.ifname, "vlanpcp": pcp}],
                 _label("SIOCSVLANPCP"))


def vlanproto(cmd, word, label, value):
    if value not in PROTOS:
        raise errx("invalid value for vlanproto")
    _set(cmd, "vlanproto", PROTOS[value])


def vlan_create(cmd, args) -> None:
    """vlan_create(): with a tag or a parent, both, and they go with the create."""
    p = {k: v for k, v in cmd.params.items() if k.startswith("vlan")}
    if "vlan" in p or "vlandev" in p:
        if "vlan" not in p:
            raise errx("must specify a tag for vlan create")
        if "vlandev" not in p:
            raise errx("must specify a parent device for vlan create")
    if p:
        args["params"] = p
        # an EEXIST now is the kernel's (the tag is taken on that parent), not the name's:
        # it must fail the command (an existing vlan would refuse the tag anyway)
        cmd.more_after_create = False


def vlan_cb(cmd) -> None:
    """vlan_cb(): a tag without a parent or the other way round."""
    for params in (cmd.params, getattr(cmd, "vlan_params", {})):
        if ("vlan" in params) != ("vlandev" in params):
            raise errx("both vlan and vlandev must be specified")


KEYWORDS = (
    Keyword("vlan", 1, vlantag, "SIOCSETVLAN"),
    Keyword("vlandev", 1, vlandev, "SIOCSETVLAN"),
    Keyword("vlanpcp", 1, vlanpcp, "SIOCSVLANPCP"),
    Keyword("vlanproto", 1, vlanproto, "SIOCSETVLAN"),
)
register(CLONE_TABLE, *KEYWORDS)
register("ifconfig", *KEYWORDS, Keyword("-vlandev", 0, unsetvlandev, "SIOCSETVLAN"))
CREATE_HOOKS["vlan"] = vlan_create
NAME_FILTERS["vlan"] = lambda name: "." in name      # vlan_match_ethervid
CALLBACKS.append(vlan_cb)
