"""Interface aliases: network.subr's ifalias_af_common and its range expansion
(docs/freebsd-tools.md §5.3-§5.5).

    alias_steps(ctx, ifn, af)        # emit `ifconfig IF <af> ADDR ... alias` steps for one family
    expand_inet(addr, max) -> (addresses, warning | None)
    expand_inet6(addr, max) -> (addresses, warning | None)

Sources, in the order rc applies them: `ifconfig_IF_aliases`, then every set
`ifconfig_IF_aliasN` sorted by N, then (inet6 only) the legacy
`ipv6_ifconfig_IF_aliasN` sorted by N, then the legacy `ipv4_addrs_IF`. All of them are
split at blanks (rc does not eval them) and cut into entries at the address-family
keywords inet/inet6/link/ether.

The numbered searches follow FreeBSD 14's network.subr ifalias_af_common, not the older
text of rc.conf(5) ("the search stops at the first missing number"): the set variables are
listed (`list_vars ifconfig_${_vif}_alias[0-9]*`) and sorted by their number (`sort_lite
-nk1.$((9+${#_vif}+7))`), so gaps in the numbering are fine; a variable set to the empty
string stops that list (`${_af}:*:"":"") break`).
"""

from __future__ import annotations

import re

from .parser import Value
from .context import ifs_split, sanitize_ifname

AFS = ("inet", "inet6", "link", "ether")
_ALIAS_N = re.compile(r"alias([0-9]+).*", re.S)


def _alias_vars(ctx, ifn: str, head: str = "ifconfig_") -> list[Value]:
    """Set HEAD<IF>_aliasN variables, numerically sorted (`sort -n` on N): list_vars lists
    every set variable, whatever its number, empty ones included."""
    prefix = f"{head}{sanitize_ifname(ifn)}_"
    found = []
    for name in ctx.names():
        if name.startswith(prefix):
            m = _ALIAS_N.fullmatch(name[len(prefix):])
            if m:
                found.append((int(m.group(1)), name))
    return [ctx.get(name) for _, name in sorted(found)]


def _tokens(ctx, ifn: str, af: str, warn: bool = True) -> list[tuple[str, Value]]:
    """The word stream rc builds for family `af`, each word with the variable it came from.
    warn=False: only looking (rc would not run ifalias, so it would not warn either)."""
    tokens: list[tuple[str, Value]] = []
    aliases = ctx.if_var(ifn, "ifconfig_IF_aliases")
    if aliases is not None:
        tokens += [(w, aliases) for w in ifs_split(aliases.text)]
    for v in _alias_vars(ctx, ifn):
        words = ifs_split(v.text)
        value_af = next((k for k in AFS if v.text.startswith(k + " ")), None)
        if value_af == af:
            tokens += [(w, v) for w in words]
        elif value_af is None and v.text == "":
            break  # an empty aliasN ends the list (modern network.subr)
        elif value_af is None and af == "inet":
            if warn:
                ctx.warn(f'${v.name} needs leading "inet" keyword for an IPv4 address.')
            tokens += [("inet", v)] + [(w, v) for w in words]
    if af == "inet6":
        for v in _alias_vars(ctx, ifn, "ipv6_ifconfig_"):
            if v.text == "":
                break       # an empty one ends this list too
            if warn:
                ctx.warn(f"${v.name} is obsolete.  Use ifconfig_{sanitize_ifname(ifn)}_aliasN "
                         "instead.")
            tokens += [("inet6", v)] + [(w, v) for w in ifs_split(v.text)]
    addrs = ctx.if_var(ifn, "ipv4_addrs_IF")
    if addrs is not None:
        for w in ifs_split(addrs.text):
            tokens += [("inet", addrs), (w, addrs)]
    return tokens


def _entries(tokens: list[tuple[str, Value]], af: str) -> list[tuple[list[str], Value]]:
    """Cut the stream at AF keywords; keep `af` entries that have an argument."""
    entries: list[tuple[list[str], Value]] = []
    for word, origin in tokens:
        if word in AFS or not entries:
            entries.append(([word], origin))
        else:
            entries[-1][0].append(word)
    return [(words, origin) for words, origin in entries if words[0] == af and len(words) > 1]


def alias_steps(ctx, ifn: str, af: str) -> bool:
    """Emit the alias steps of one family; True if any was emitted (ifalias's status)."""
    emitted = False
    for words, origin in _entries(_tokens(ctx, ifn, af), af):
        for argv in _entry_commands(ctx, ifn, af, words, origin):
            ctx.emit(argv, origin)
            emitted = True
    return emitted


def has_aliases(ctx, ifn: str, af: str) -> bool:
    return bool(_entries(_tokens(ctx, ifn, af, warn=False), af))


# network.subr hands an entry to the range expander when this matches (then rejects "--").
_RANGE = re.compile(r"[0-9a-fA-F]-")
_MASK_KEYWORD = {"inet": "netmask", "inet6": "prefixlen"}


def _entry_commands(ctx, ifn: str, af: str, words: list[str], origin: Value) -> list[list[str]]:
    addr, exargs = words[1], words[2:]
    if af not in _MASK_KEYWORD or not _RANGE.search(addr):
        return [["ifconfig", ifn, *words, "alias"]]
    if "--" in " ".join(words[1:]):
        ctx.warn(f"${origin.name}: invalid range specification '{addr}' ignored.")
        return []
    expand = expand_inet if af == "inet" else expand_inet6
    addresses, warning = expand(addr, _ipexpand_max(ctx))
    if warning:
        ctx.warn(warning)
    if addresses is None:
        ctx.warn(f"${origin.name}: unsupported range specification '{addr}' ignored.")
        return []
    if _MASK_KEYWORD[af] in exargs:  # an explicit mask replaces the /len
        addresses = [a.partition("/")[0] for a in addresses]
    return [["ifconfig", ifn, af, a, *exargs, "alias"] for a in addresses]


def _ipexpand_max(ctx) -> int:
    text = ctx.text("netif_ipexpand_max")
    try:
        return int(text)
    except ValueError:
        ctx.warn(f"$netif_ipexpand_max is not a number ('{text}'); using 2048.")
        return 2048


def expand_inet(addr: str, limit: int) -> tuple[list[str] | None, str | None]:
    """`10.0.0.10-15/24` -> 10.0.0.10/24 10.0.0.11/32 ... (ifalias_expand_addr_inet).

    Like network.subr, the loop stops after the address low+limit+1 (limit+2
    addresses) and says exactly which range was processed. None: not a range."""
    ip, slash, plen = addr.partition("/")
    if not slash:
        plen = "32"
    octets = ip.split(".")
    idx = next((i for i, o in enumerate(octets) if re.fullmatch(r"[0-9]+-[0-9]+", o)), None)
    if idx is None:
        return None, None
    head, tail = octets[:idx], octets[idx + 1:]
    low, high = (int(x) for x in octets[idx].split("-"))

    def fmt(n: int) -> str:
        return ".".join([*head, str(n), *tail])

    # only the first address keeps the given length
    out, stopped = _walk(low, high, limit, lambda n: f"{fmt(n)}/{plen if n == low else 32}")
    if stopped is None:
        return out, None
    return out, (f"Range specification is too large ({fmt(low)}-{fmt(high)}).  "
                 f"{fmt(low)}-{fmt(stopped)} was processed.  "
                 "Increase $netif_ipexpand_max in rc.conf.")


def _walk(low: int, high: int, limit: int, text) -> tuple[list[str], int | None]:
    """text(n) for n from low to high, as network.subr's loops: they stop after the address
    low + limit + 1 (limit + 2 addresses); (addresses, where it stopped or None)."""
    out: list[str] = []
    for n in range(low, high + 1):
        out.append(text(n))
        if n > low + limit:
            return out, n
    return out, None


def expand_inet6(addr: str, limit: int) -> tuple[list[str] | None, str | None]:
    """`2001:db8::1-5/64` -> 2001:db8::0001/64 ... 2001:db8::0005/64 (ifalias_expand_addr_inet6).

    The group before '-' and the one after it are the hex bounds; every address
    keeps the prefix length (default 64); the varying group prints as %04x.
    v4-mapped/compat ranges are not supported (None)."""
    ip, slash, plen = addr.partition("/")
    if not slash:
        plen = "64"
    if re.search(r":[^:]*\.[^:]*\.[^:]*\.[^:]*$", ip):
        return None, None
    left, right = ip.rpartition("-")[0], ip.partition("-")[2]
    left_head, _, low_text = left.rpartition(":")
    high_text, colon, right_tail = right.partition(":")
    right_tail = colon + right_tail
    try:
        low, high = int(low_text, 16), int(high_text, 16)
    except ValueError:
        return None, None
    out, stopped = _walk(low, high, limit, lambda n: f"{left_head}:{n:04x}{right_tail}/{plen}")
    if stopped is None:
        return out, None
    return out, (f"Range specification is too large "
                 f"({left_head}:{low:x}{right_tail}-{left_head}:{high:x}{right_tail}). "
                 f"{left_head}:{low:x}{right_tail}-{left_head}:{stopped:x}{right_tail} was "
                 "processed.  Increase $netif_ipexpand_max in rc.conf.")
