"""Cloner parameters of `ifconfig IF create ...`: vxlan(4) (ifvxlan.c) registers these
keywords as clone commands; the other cloners' modules (ifconfig_vlan, ifconfig_bridge,
ifconfig_epair, ...) register theirs and their create hooks here the same way.  During
`create` they go into SIOCIFCREATE2's params; on an existing interface they are the driver
ioctl FreeBSD sends (SIOCSDRVSPEC), which the stack applies to a vxlan interface while it is
not running.

Like ifvxlan.c, this module registers its keywords itself (keywords.register):
each both as a clone command (CLONE_TABLE, looked up while creating) and as an ordinary one
(ifconfig's table).  Handlers get ifconfig_grammar's Command as their state; this module
does not import the grammar.
"""
from __future__ import annotations

from .ifconfig_values import strtoul, errx, inet_aton, inet_pton6
from .keywords import Keyword, register

CLONE_TABLE = "ifconfig-create"
# What each cloner's module adds to the create and to the end of a command, as FreeBSD's
# ifconfig has clone_setdefcallback_prefix() and callback_register():
#   CREATE_HOOKS[prefix](cmd, args)  for a create of a name starting with prefix (or, with
#                                    NAME_FILTERS, a name the filter takes): puts the
#                                    cloner's params into SIOCIFCREATE2's args, or refuses
#   NAME_FILTERS[prefix](name)       clone_setdefcallback_filter (vlan's IF.TAG names)
#   CREATED_NAMES[prefix](name)      the name the kernel gives an explicit unit (epair0 ->
#                                    epair0a), which ifconfig prints and later words address
#   CALLBACKS                        fn(cmd) after the words of every command
CREATE_HOOKS: dict = {}
NAME_FILTERS: dict = {}
CREATED_NAMES: dict = {}
CALLBACKS: list = []


def create_hook(name: str):
    """The create hook for name: by prefix, else by a prefix's name filter."""
    for prefix, hook in CREATE_HOOKS.items():
        if name.startswith(prefix):
            return hook
    for prefix, match in NAME_FILTERS.items():
        if match(name):
            return CREATE_HOOKS.get(prefix)
    return None


def created_name(name: str) -> str:
    for prefix, rename in CREATED_NAMES.items():
        if name.startswith(prefix):
            return rename(name)
    return name


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
register(CLONE_TABLE, *VXLAN_KEYWORDS)
# ... and as ordinary commands into ifconfig's table (ifconfig_grammar.TABLE)
register("ifconfig", *VXLAN_KEYWORDS,
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
