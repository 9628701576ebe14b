"""rc.d/routing start: static routes, default routes, forwarding (docs/freebsd-tools.md §5.6).

    routing_start(ctx, implicit_routes=True)

Per family, as `routing_start doall` does: IPv4 static routes (`_loopback`,
static_routes in list order, `_default` from defaultrouter), IPv4 options
(gateway_enable), then IPv6 routes (`_loopback _lla _llma _v4mapped _v4compat`,
ipv6_static_routes, `_default` from ipv6_defaultrouter) and IPv6 options.

Route values are split at blanks, not eval'd (rc runs `route add ${route_args}`).
A list entry `name:IF` names route_name (the IF part only matters for
`service routing start any IF`). Entry names are sanitised like interface names.
Only gateway_enable/ipv6_gateway_enable are planned among the "options": the
stack has no ICMP redirect / source routing / proxyall switches.
"""

from __future__ import annotations

from .context import Context, builtin, checkyesno, ifs_split

# rc.d/routing's own routes (single FIB: no "-fib 0-N" suffix).
IMPLICIT_INET = [("_loopback", "-inet 127.0.0.1 -iface lo0")]
IMPLICIT_INET6 = [
    ("_loopback", "::1 -prefixlen 128 -iface lo0"),
    ("_lla", "fe80:: -prefixlen 10 ::1 -reject"),
    ("_llma", "ff02:: -prefixlen 16 ::1 -reject"),
    ("_v4mapped", "::ffff:0.0.0.0 -prefixlen 96 ::1 -reject"),
    ("_v4compat", "::0.0.0.0 -prefixlen 96 ::1 -reject"),
]

# family: (list variable, per-route prefix, route(8) family flag, defaultrouter, forwarding switch)
FAMILIES = {
    "inet": ("static_routes", "route_", [], "defaultrouter",
             ("gateway_enable", "net.inet.ip.forwarding")),
    "inet6": ("ipv6_static_routes", "ipv6_route_", ["-inet6"], "ipv6_defaultrouter",
              ("ipv6_gateway_enable", "net.inet6.ip6.forwarding")),
}


def routing_start(ctx: Context, implicit_routes: bool = True) -> None:
    for af in ("inet", "inet6"):
        static_routes(ctx, af, implicit_routes)
        options(ctx, af)


def static_routes(ctx: Context, af: str, implicit_routes: bool) -> None:
    list_var, prefix, family_flag, router_var, _ = FAMILIES[af]
    if implicit_routes:
        for name, args in IMPLICIT_INET if af == "inet" else IMPLICIT_INET6:
            origin = builtin(f"{prefix}{name}", args)
            ctx.emit(["route", "add", *family_flag, *ifs_split(args)], origin, tolerate_error=True)

    listed = ctx.origin(list_var)
    for entry in ifs_split(listed.text):
        name = entry.rpartition(":")[0] if ":" in entry else entry  # ${i%:*}
        v = ctx.if_var(name, f"{prefix}IF")
        if v is not None and v.text:
            ctx.emit(["route", "add", *family_flag, *ifs_split(v.text)], v)
        else:
            ctx.warn(f"{prefix}{name} not found.")

    router = ctx.origin(router_var)
    if router.text and checkyesno(router.text) is not False:  # "NO" or empty: none
        ctx.emit(["route", "add", *family_flag, "default", *ifs_split(router.text)], router)


def options(ctx: Context, af: str) -> None:
    switch, sysctl = FAMILIES[af][4]
    value = 1 if ctx.yes(switch) else 0
    ctx.emit(["sysctl", f"{sysctl}={value}"], ctx.origin(switch))
