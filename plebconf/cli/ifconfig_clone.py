"""Cloner parameters of `ifconfig IF create ...`: vxlan(4) (ifvxlan.c) and vlan(4)
(ifvlan.c) register these keywords as clone commands.  During `create` they go into
SIOCIFCREATE2's params; on an existing interface FreeBSD uses driver ioctls the stack does
not have, so there they are sent as such and refused by the stack."""
from __future__ import annotations

from .ifconfig_values import strtoul, errx, inet_aton, inet_pton6

VXLAN_VNI_MAX = 1 << 24

# vxlan(4) parameters: during `create` they go into SIOCIFCREATE2's params (ifvxlan.c's clone
# commands); on an existing interface FreeBSD uses SIOCSDRVSPEC, which the stack lacks.
VXLAN_KEYWORDS: dict[str, tuple] = {
    "vni": (1, "vxlanid", "VXLAN_CMD_SET_VNI"),
    "vxlanid": (1, "vxlanid", "VXLAN_CMD_SET_VNI"),
    "vxlanvni": (1, "vxlanid", "VXLAN_CMD_SET_VNI"),
    "vxlanlocal": (1, "vxlanlocal", "VXLAN_CMD_SET_LOCAL_ADDR"),
    "vxlanremote": (1, "vxlanremote", "VXLAN_CMD_SET_REMOTE_ADDR"),
    "vxlangroup": (1, "vxlangroup", "VXLAN_CMD_SET_REMOTE_ADDR"),
    "vxlanlocalport": (1, "vxlanlocalport", "VXLAN_CMD_SET_LOCAL_PORT"),
    "vxlanremoteport": (1, "vxlanremoteport", "VXLAN_CMD_SET_REMOTE_PORT"),
    "vxlanportrange": (2, "vxlanportrange", "VXLAN_CMD_SET_PORT_RANGE"),
    "vxlantimeout": (1, "vxlantimeout", "VXLAN_CMD_SET_FTABLE_TIMEOUT"),
    "vxlanmaxaddr": (1, "vxlanmaxaddr", "VXLAN_CMD_SET_FTABLE_MAX"),
    "vxlandev": (1, "vxlandev", "VXLAN_CMD_SET_MULTICAST_IF"),
    "vxlanttl": (1, "vxlanttl", "VXLAN_CMD_SET_TTL"),
    "vxlanlearn": (0, "vxlanlearn", "VXLAN_CMD_SET_LEARN"),
    "-vxlanlearn": (0, "vxlanlearn", "VXLAN_CMD_SET_LEARN"),
}
# vlan(4) parameters (ifvlan.c), the same way; the stack has no vlan cloner yet, so its
# SIOCIFCREATE2 refuses them as FreeBSD's kernel refuses an unknown cloner.
VLAN_KEYWORDS: dict[str, tuple] = {
    "vlan": (1, "vlantag", "SIOCSETVLAN"),
    "vlandev": (1, "vlandev", "SIOCSETVLAN"),
    "vlanpcp": (1, "vlanpcp", "SIOCSVLANPCP"),
    "vlanproto": (1, "vlanproto", "SIOCSETVLAN"),
}
CLONE_KEYWORDS = {**VXLAN_KEYWORDS, **VLAN_KEYWORDS}
# vxlan's numeric parameters: the largest value ifvxlan.c accepts, and its message
_VXLAN_NUMBERS = {
    "vxlanid": (VXLAN_VNI_MAX - 1, "invalid network identifier: {}"),
    "vxlantimeout": (0xFFFFFFFF, "invalid timeout value: {}"),
    "vxlanmaxaddr": (0xFFFFFFFF, "invalid maxaddr value: {}"),
    "vxlanttl": (256, "invalid TTL value: {}"),
}
VXLAN_FLUSH = {"vxlanflush": "VXLAN_CMD_FLUSH", "vxlanflushall": "VXLAN_CMD_FLUSH"}


class CloneParams:
    """Keyword handlers mixed into ifconfig_grammar.Command (which provides errx-raising,
    creating, params and k_unsupported)."""

    # -- vxlan parameters --------------------------------------------------------------------
    def _clone_param(self, key, value, label):
        """A cloner parameter: into the create's params, else the driver ioctl."""
        if self.creating:
            self.params[key] = value
        else:
            # ifvxlan.c do_cmd(s, VXLAN_CMD_SET_..., 1): SIOCSDRVSPEC, err(1, "VXLAN_CMD_...")
            from .ifconfig_grammar import Label, _ioctl     # (the grammar imports this module)
            self.emit(["ioctl", _ioctl("SIOCSDRVSPEC", self.ifname, param=key, value=value)],
                      Label(label))

    def _number(self, key, value, label):
        """A numeric parameter, checked as ifvxlan.c checks it (_VXLAN_NUMBERS)."""
        largest, message = _VXLAN_NUMBERS[key]
        number = strtoul(value)
        if number is None or number > largest:
            raise errx(message.format(value))
        self._clone_param(key, number, label)

    def k_vxlanid(self, word, label, value):
        self._number("vxlanid", value, label)

    def _vxlan_addr(self, value, what, multicast):
        family = _af_of(value)
        if family is None:
            raise errx(f"error in parsing {what} address string: "
                       "hostname nor servname provided, or not known")
        if multicast is not None and _is_multicast(value) != multicast:
            raise errx(f"{what} address cannot be multicast" if not multicast
                       else f"{what} address must be multicast")
        return value

    def k_vxlanlocal(self, word, label, value):
        self._clone_param("vxlanlocal", self._vxlan_addr(value, "local", False), label)

    def k_vxlanremote(self, word, label, value):
        self._clone_param("vxlanremote", self._vxlan_addr(value, "remote", False), label)

    def k_vxlangroup(self, word, label, value):
        self._clone_param("vxlanremote", self._vxlan_addr(value, "group", True), label)

    def _port(self, value, what):
        port = strtoul(value)
        if port is None or port >= 0xFFFF:
            raise errx(f"invalid {what}: {value}")
        return port

    def k_vxlanlocalport(self, word, label, value):
        self._clone_param("vxlanlocalport", self._port(value, "local port"), label)

    def k_vxlanremoteport(self, word, label, value):
        self._clone_param("vxlanremoteport", self._port(value, "remote port"), label)

    def k_vxlanportrange(self, word, label, low, high):
        lo = self._port(low, "port range minimum")
        hi = self._port(high, "port range maximum")
        if hi < lo:
            raise errx("invalid port range")
        self._clone_param("vxlanportrange", [lo, hi], label)

    def k_vxlantimeout(self, word, label, value):
        self._number("vxlantimeout", value, label)

    def k_vxlanmaxaddr(self, word, label, value):
        self._number("vxlanmaxaddr", value, label)

    def k_vxlandev(self, word, label, value):
        self._clone_param("vxlandev", value, label)

    def k_vxlanttl(self, word, label, value):
        self._number("vxlanttl", value, label)

    def k_vlantag(self, word, label, value):
        tag = strtoul(value)
        if tag is None:
            raise errx("invalid value for vlan")
        if tag > 0xFFFF:
            raise errx("value for vlan out of range")
        self._clone_param("vlan", tag, label)

    def k_vlandev(self, word, label, value):
        self._clone_param("vlandev", value, label)

    def k_vlanpcp(self, word, label, value):
        pcp = strtoul(value)
        if pcp is None or pcp > 7:
            raise errx("invalid value for vlanpcp")
        self._clone_param("vlanpcp", pcp, label)

    def k_vlanproto(self, word, label, value):
        if value not in ("802.1q", "802.1Q", "802.1ad", "802.1AD", "qinq", "QinQ"):
            raise errx("invalid value for vlanproto")
        self._clone_param("vlanproto", "802.1ad" if value.lower() in ("802.1ad", "qinq")
                        else "802.1q", label)

    def k_vxlanlearn(self, word, label):
        self._clone_param("vxlanlearn", not word.startswith("-"), label)


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
