"""Cloner parameters of `ifconfig IF create ...`: vxlan(4) (ifvxlan.c) and vlan(4)
(ifvlan.c) register these keywords as clone commands.  During `create` they go into
SIOCIFCREATE2's params; on an existing interface they are the driver ioctl FreeBSD sends
(SIOCSDRVSPEC), which the stack applies to a vxlan interface while it is not running.

Like ifvxlan.c and ifvlan.c, this module registers its keywords itself (keywords.register):
each both as a clone command (CLONE_TABLE, looked up while creating) and as an ordinary one
(ifconfig's table).  Handlers get ifconfig_grammar's Command as their state; this module
does not import the grammar.
"""
from __future__ import annotations

from .ifconfig_values import strtoul, errx, inet_aton, inet_pton6
from .keywords import Keyword, register

CLONE_TABLE = "ifconfig-create"
VXLAN_VNI_MAX = 1 << 24
# vxlan's numeric parameters: the largest value ifvxlan.c accepts, and its message
_VXLAN_NUMBERS = {
    "vxlanid": (VXLAN_VNI_MAX - 1, "invalid network identifier: {}"),
    "vxlantimeout": (0xFFFFFFFF, "invalid timeout value: {}"),
    "vxlanmaxaddr": (0xFFFFFFFF, "invalid maxaddr value: {}"),
    "vxlanttl": (256, "invalid TTL value: {}"),
}


# -- handlers: (cmd, word, label, *values); label is FreeBSD's name of the driver command ----
def _clone_param(cmd, key, value, label):
    """A cloner parameter: into the create's params, else the driver ioctl."""
    if cmd.creating:
        cmd.params[key] = value
    else:
        # ifvxlan.c do_cmd(s, VXLAN_CMD_SET_..., 1): SIOCSDRVSPEC, err(1, "VXLAN_CMD_...")
        cmd.driver_ioctl("SIOCSDRVSPEC", label, param=key, value=value)


def _number(cmd, key, value, label):
    """A numeric parameter, checked as ifvxlan.c checks it (_VXLAN_NUMBERS)."""
    largest, message = _VXLAN_NUMBERS[key]
    number = strtoul(value)
    if number is None or number > largest:
        raise errx(message.format(value))
    _clone_param(cmd, key, number, label)


def _numeric(key):
    def handler(cmd, word, label, value):
        _number(cmd, key, value, label)
    handler.__qualname__ = f"numeric({key})"
    return handler


def _vxlan_addr(value, what, multicast):
    family = _af_of(value)
    if family is None:
        raise errx(f"error in parsing {what} address string: "
                   "hostname nor servname provided, or not known")
    if multicast is not None and _is_multicast(value) != multicast:
        raise errx(f"{what} address cannot be multicast" if not multicast
                   else f"{what} address must be multicast")
    return value


def vxlanlocal(cmd, word, label, value):
    _clone_param(cmd, "vxlanlocal", _vxlan_addr(value, "local", False), label)


def vxlanremote(cmd, word, label, value):
    _clone_param(cmd, "vxlanremote", _vxlan_addr(value, "remote", False), label)


def vxlangroup(cmd, word, label, value):
    _clone_param(cmd, "vxlanremote", _vxlan_addr(value, "group", True), label)


def _port(value, what):
    port = strtoul(value)
    if port is None or port >= 0xFFFF:
        raise errx(f"invalid {what}: {value}")
    return port


def vxlanlocalport(cmd, word, label, value):
    _clone_param(cmd, "vxlanlocalport", _port(value, "local port"), label)


def vxlanremoteport(cmd, word, label, value):
    _clone_param(cmd, "vxlanremoteport", _port(value, "remote port"), label)


def vxlanportrange(cmd, word, label, low, high):
    lo = _port(low, "port range minimum")
    hi = _port(high, "port range maximum")
    if hi < lo:
        raise errx("invalid port range")
    _clone_param(cmd, "vxlanportrange", [lo, hi], label)


def vxlandev(cmd, word, label, value):
    _clone_param(cmd, "vxlandev", value, label)


def vxlanlearn(cmd, word, label):
    _clone_param(cmd, "vxlanlearn", not word.startswith("-"), label)


def vxlanflush(cmd, word, req):
    # only on an existing interface (ifvxlan.c registers no clone form)
    cmd.k_unsupported(word, req)


def vlantag(cmd, word, label, value):
    tag = strtoul(value)
    if tag is None:
        raise errx("invalid value for vlan")
    if tag > 0xFFFF:
        raise errx("value for vlan out of range")
    _clone_param(cmd, "vlan", tag, label)


def vlandev(cmd, word, label, value):
    _clone_param(cmd, "vlandev", value, label)


def vlanpcp(cmd, word, label, value):
    pcp = strtoul(value)
    if pcp is None or pcp > 7:
        raise errx("invalid value for vlanpcp")
    _clone_param(cmd, "vlanpcp", pcp, label)


def vlanproto(cmd, word, label, value):
    if value not in ("802.1q", "802.1Q", "802.1ad", "802.1AD", "qinq", "QinQ"):
        raise errx("invalid value for vlanproto")
    _clone_param(cmd, "vlanproto", "802.1ad" if value.lower() in ("802.1ad", "qinq")
                 else "802.1q", label)


# vxlan(4) parameters (ifvxlan.c's clone commands; SIOCSDRVSPEC on an existing interface)
VXLAN_KEYWORDS = (
    Keyword("vni", 1, _numeric("vxlanid"), "VXLAN_CMD_SET_VNI"),
    Keyword("vxlanid", 1, _numeric("vxlanid"), "VXLAN_CMD_SET_VNI"),
    Keyword("vxlanvni", 1, _numeric("vxlanid"), "VXLAN_CMD_SET_VNI"),
    Keyword("vxlanlocal", 1, vxlanlocal, "VXLAN_CMD_SET_LOCAL_ADDR"),
    Keyword("vxlanremote", 1, vxlanremote, "VXLAN_CMD_SET_REMOTE_ADDR"),
    Keyword("vxlangroup", 1, vxlangroup, "VXLAN_CMD_SET_REMOTE_ADDR"),
    Keyword("vxlanlocalport", 1, vxlanlocalport, "VXLAN_CMD_SET_LOCAL_PORT"),
    Keyword("vxlanremoteport", 1, vxlanremoteport, "VXLAN_CMD_SET_REMOTE_PORT"),
    Keyword("vxlanportrange", 2, vxlanportrange, "VXLAN_CMD_SET_PORT_RANGE"),
    Keyword("vxlantimeout", 1, _numeric("vxlantimeout"), "VXLAN_CMD_SET_FTABLE_TIMEOUT"),
    Keyword("vxlanmaxaddr", 1, _numeric("vxlanmaxaddr"), "VXLAN_CMD_SET_FTABLE_MAX"),
    Keyword("vxlandev", 1, vxlandev, "VXLAN_CMD_SET_MULTICAST_IF"),
    Keyword("vxlanttl", 1, _numeric("vxlanttl"), "VXLAN_CMD_SET_TTL"),
    Keyword("vxlanlearn", 0, vxlanlearn, "VXLAN_CMD_SET_LEARN"),
    Keyword("-vxlanlearn", 0, vxlanlearn, "VXLAN_CMD_SET_LEARN"),
)
# vlan(4) parameters (ifvlan.c), the same way; the stack has no vlan cloner yet, so its
# SIOCIFCREATE2 refuses them as FreeBSD's kernel refuses an unknown cloner.
VLAN_KEYWORDS = (
    Keyword("vlan", 1, vlantag, "SIOCSETVLAN"),
    Keyword("vlandev", 1, vlandev, "SIOCSETVLAN"),
    Keyword("vlanpcp", 1, vlanpcp, "SIOCSVLANPCP"),
    Keyword("vlanproto", 1, vlanproto, "SIOCSETVLAN"),
)
register(CLONE_TABLE, *VXLAN_KEYWORDS, *VLAN_KEYWORDS)
# ... and as ordinary commands into ifconfig's table (ifconfig_grammar.TABLE)
register("ifconfig", *VXLAN_KEYWORDS, *VLAN_KEYWORDS,
         Keyword("vxlanflush", 0, vxlanflush, "VXLAN_CMD_FLUSH"),
         Keyword("vxlanflushall", 0, vxlanflush, "VXLAN_CMD_FLUSH"))


def _af_of(text: str) -> str | None:
    if inet_aton(text) is not None and text.count(".") == 3:
        return "inet"
    if ":" in text and inet_pton6(text):
        return "inet6"
    return None


def _is_multicast(text: str) -> bool:
    if _af_of(text) == "inet":
        return inet_aton(text) >> 28 == 0xE
    return text.lower().startswith("ff")


def _vxlan_check(params: dict) -> None:
    """vxlan_check_params(): one family for both ends."""
    local, remote = params.get("vxlanlocal"), params.get("vxlanremote")
    if local and remote and _af_of(local) != _af_of(remote):
        raise errx("cannot mix IPv4 and IPv6 addresses")
