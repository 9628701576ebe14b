"""Turn rc.conf variables into the tool command lines FreeBSD's rc.d scripts would run.

Public API::

    plan(rcvars, live_interfaces, *, implicit_routes=True, created_as=None) -> Plan
    Plan.steps: list[Step]; Plan.warnings: list[str]
    Step(argv, var, file, line, tolerate_error)   # argv e.g. ["ifconfig", "vnet0", "up"]
    checkyesno(text) -> bool | None                  # None = not a boolean
    DEFAULTS: the /etc/defaults/rc.conf values that matter here

`live_interfaces` is what `ifconfig -l` prints before anything runs (kernel order);
the planner simulates creations and renames on a copy of it. `created_as` maps a live
interface's name to the one it was attached or created with, when renamed since: a clone
the file creates and renames that is there under its new name is not created again.
Nothing here does I/O.

Steps come in rc.d order (docs/freebsd-tools.md §5.8): hostname; netif (clone_up, ifnet_rename,
ifn_start for each interface of list_net_interfaces, lo0 first); routing (IPv4
static routes then default route, IPv4 options, IPv6 static routes then default,
IPv6 options), as rc.d/routing's `routing_start doall` runs them per family;
static_arp; static_ndp.

Step origins: `var`/`file`/`line` name the variable that produced the step.
Values the rc scripts supply themselves (lo0's 127.0.0.1, the implicit
`_loopback` routes) have file "<builtin>"; values left at their
/etc/defaults/rc.conf setting have file "<defaults>"; line is 0 for both.

Only the implicit routes of rc.d/routing are `tolerate_error` steps: they exist
already when lo0 has its addresses and FreeBSD itself prints "route already in
table" for the loopback ones at every boot. Pass implicit_routes=False to leave them out.
Warnings are the parser's `file:line:` notes on what sh would run (commands skipped,
values left unset), then the texts rc.subr's `warn` would print (without the "rc: WARNING: "
prefix), plus "not supported" notes for features the stack does not have; each
distinct warning appears once.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import netif, routing, static_arp  # the rc.d scripts, in rcorder order
from .unmodelled import unmodelled_start
from .context import (  # noqa: F401 (re-exported: plan's public API)
    BUILTIN, DEFAULTS, DEFAULTS_FILE, Context, Plan, Step, builtin, checkyesno, ifs_split,
    sanitize_ifname,
)
from .parser import RcSyntaxError, Value

__all__ = ["Step", "Plan", "plan", "checkyesno", "DEFAULTS", "sanitize_ifname", "ifs_split",
           "Context", "builtin", "RcSyntaxError"]


def plan(rcvars: Mapping[str, Value], live_interfaces: list[str], *,
         implicit_routes: bool = True, created_as: Mapping[str, str] | None = None) -> Plan:
    """Plan the rc.d network start for `rcvars` on a stack whose `ifconfig -l` is
    `live_interfaces`. Raises RcSyntaxError when a value that rc would `eval` is
    not plain words (the error cites the variable's file:line)."""
    ctx = Context(rcvars)
    for warning in getattr(rcvars, "warnings", ()):    # the parser's: what sh would run
        ctx.warn(warning)
    unmodelled_start(ctx)
    hostname_start(ctx)
    ifaces = list(live_interfaces)
    netif.netif_start(ctx, ifaces, created_as or {})
    routing.routing_start(ctx, implicit_routes=implicit_routes)
    static_arp.static_arp_start(ctx)
    static_arp.static_ndp_start(ctx)
    netif.rtadvd_start(ctx, ifaces)     # rc.d/rtadvd (REQUIRE: DAEMON, after these)
    return ctx.plan


def hostname_start(ctx: Context) -> None:
    """rc.d/hostname: `hostname NAME` (the executor maps it to kern.hostname)."""
    v = ctx.get("hostname")
    if v is not None and v.text:
        ctx.emit(["hostname", v.text], v)
