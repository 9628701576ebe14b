"""rc.d/static_arp and rc.d/static_ndp start (docs/freebsd-tools.md §5.7).

    static_arp_start(ctx)   # static_arp_pairs="gw" static_arp_gw="192.0.2.1 00:11:22:33:44:55"
    static_ndp_start(ctx)   # static_ndp_pairs="gw" static_ndp_gw="2001:db8::1 00:11:22:33:44:55"

Each pair becomes `arp -S <value words>` / `ndp -s <value words>`. A pair whose
variable is unset or empty gets a warning and no step (FreeBSD would run the
tool without arguments and discard the usage error). Pair names are used as
written (rc.d/static_arp evals `$static_arp_NAME` without sanitising).
"""

from __future__ import annotations

from .context import Context, ifs_split

TABLES = {
    "arp": ("static_arp_pairs", "static_arp_", ["arp", "-S"]),
    "ndp": ("static_ndp_pairs", "static_ndp_", ["ndp", "-s"]),
}


def _start(ctx: Context, table: str) -> None:
    list_var, prefix, command = TABLES[table]
    for name in ifs_split(ctx.text(list_var)):
        v = ctx.get(prefix + name)
        if v is None or not v.text:
            ctx.warn(f"{prefix}{name} not found.")
            continue
        ctx.emit([*command, *ifs_split(v.text)], v)


def static_arp_start(ctx: Context) -> None:
    _start(ctx, "arp")


def static_ndp_start(ctx: Context) -> None:
    _start(ctx, "ndp")
