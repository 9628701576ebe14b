"""What the rc.d modules share: variables with their /etc/defaults/rc.conf values, rc.subr's
helpers, and the plan being built (Step, Plan, Context).

    ctx = Context(rcvars)
    ctx.get(name), ctx.text(name), ctx.origin(name), ctx.if_var(ifname, "ifconfig_IF")
    ctx.yes(name), ctx.warn(message), ctx.emit(argv, origin), ctx.eval_args(value)
    checkyesno(text), sanitize_ifname(ifname), ifs_split(text), builtin(name, text)

plan.py runs the rc.d modules (netif, routing, static_arp) over a Context; they import this
module, never plan.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .parser import RcSyntaxError, Value, eval_words

__all__ = ["Step", "Plan", "Context", "checkyesno", "DEFAULTS", "sanitize_ifname", "ifs_split",
           "builtin", "BUILTIN", "DEFAULTS_FILE"]

BUILTIN = "<builtin>"
DEFAULTS_FILE = "<defaults>"

# The /etc/defaults/rc.conf settings the network scripts read (FreeBSD 14).
DEFAULTS: dict[str, str] = {
    "hostname": "",
    "network_interfaces": "auto",
    "cloned_interfaces": "",
    "netif_ipexpand_max": "2048",
    "ipv6_network_interfaces": "auto",
    "ipv6_activate_all_interfaces": "NO",
    "ipv6_cpe_wanif": "NO",
    "defaultrouter": "NO",
    "ipv6_defaultrouter": "NO",
    "static_routes": "",
    "ipv6_static_routes": "",
    "gateway_enable": "NO",
    "synchronous_dhclient": "NO",
    "ipv6_gateway_enable": "NO",
    "static_arp_pairs": "",
    "static_ndp_pairs": "",
}

_YES = {"yes", "true", "on", "1"}
_NO = {"no", "false", "off", "0"}


def checkyesno(text: str | None) -> bool | None:
    """rc.subr's checkyesno: True/False, or None for anything else (warn, count as no)."""
    t = (text or "").lower()
    if t in _YES:
        return True
    if t in _NO:
        return False
    return None


def sanitize_ifname(ifname: str) -> str:
    """get_if_var: '.', '-', '/', '+' become '_' in variable names (docs/freebsd-tools.md §5.2)."""
    return ifname.translate(str.maketrans(".-/+", "____"))


def ifs_split(text: str) -> list[str]:
    """Field splitting of an unquoted ${var} with the default IFS (no quote handling)."""
    return [w for w in re.split(r"[ \t\n]+", text) if w]


@dataclass
class Step:
    argv: list[str]
    var: str
    file: str
    line: int
    tolerate_error: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def argvs(self) -> list[list[str]]:
        return [s.argv for s in self.steps]


class Context:
    """Variables (with defaults), and the steps and warnings produced so far."""

    def __init__(self, rcvars: Mapping[str, Value]):
        self.vars = rcvars
        self.unparsed = getattr(rcvars, "unparsed", {})
        self.plan = Plan()

    def names(self) -> list[str]:
        """Every variable set (rc.subr's list_vars), unparsed ones included."""
        return [*self.vars, *self.unparsed]

    # lookups ---------------------------------------------------------------------------
    def get(self, name: str) -> Value | None:
        """The variable (or its default); RcSyntaxError when its value would come from
        running a command (parser: RcVars.unparsed), which a network script needs here."""
        v = self.vars.get(name)
        if v is None and name in self.unparsed:
            raise self.vars.unparsed_error(name)
        if v is None and name in DEFAULTS:
            v = Value(name, DEFAULTS[name], DEFAULTS_FILE, 0)
        return v

    def text(self, name: str) -> str:
        v = self.get(name)
        return "" if v is None else v.text

    def origin(self, name: str) -> Value:
        """The variable's Value, or an empty builtin one to cite when it is unset."""
        return self.get(name) or builtin(name)

    def if_var(self, ifname: str, template: str, default: Value | None = None) -> Value | None:
        """get_if_var: the variable named by `template` with IF replaced by the
        sanitised interface name; `default` only when it is unset (not when empty)."""
        name = template.replace("IF", sanitize_ifname(ifname), 1)
        v = self.get(name)
        return default if v is None else v

    def yes(self, name: str) -> bool:
        answer = checkyesno(self.text(name))
        if answer is None:
            self.warn(f"${name} is not set properly - see rc.conf(5).")
            return False
        return answer

    # output ----------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        if message not in self.plan.warnings:
            self.plan.warnings.append(message)

    def emit(self, argv: list[str], origin: Value, tolerate_error: bool = False) -> None:
        self.plan.steps.append(Step(list(argv), origin.name, origin.file, origin.line,
                                    tolerate_error))

    def eval_args(self, value: Value, text: str | None = None) -> list[str]:
        """Words of `eval cmd <text>` (text defaults to the value's own text)."""
        try:
            return eval_words(value.text if text is None else text, self.vars, value.file,
                              value.line)
        except RcSyntaxError as e:  # say which variable, not only where
            raise RcSyntaxError(e.file, e.line, f"${value.name}: {e.message}") from None


def builtin(name: str, text: str = "") -> Value:
    return Value(name, text, BUILTIN, 0)
