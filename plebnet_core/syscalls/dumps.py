"""Dump rendering: the rows of NET_RT_DUMP (routes, in radix-walk order, as rows or in the
protocol's compact form with its per-chunk cache), NET_RT_IFLIST (interfaces with their
addresses) and NET_RT_FLAGS (ARP/NDP entries).  What these read is protocol.ROUTE_COLUMNS /
PATH_COLUMNS and the interface map of if_info; sysctl() routes the three names here."""
from __future__ import annotations

import socket
from bisect import bisect_right
from math import ceil
from operator import attrgetter

from plebproto import protocol
from plebproto.constants import AF_INET, AF_INET6, EINVAL, RTF_GATEWAY
from plebproto.errors import OpError

from ..state.ifnet import LLTBL_BUCKETS, WALK_SHIFT
from ..state.inet import embed_scope, is_scoped6, ntoa
from ..state.stack import mac_text
from .args import af_arg, arg
from .dispatch import Stream

# the sysctl names this module answers: name -> DumpOps method
# rows per route dump chunk: half the protocol's, so that building one stays well inside a
# loop turn's share on a busy machine
DUMP_PIECE = protocol.CHUNK_ROWS // 2
DUMPS = {"NET_RT_DUMP": "rt_dump", "NET_RT_FLAGS": "ll_dump", "NET_RT_IFLIST": "if_list",
         # ndp -r, -p, -i, -I (state/nd6_rtr.py)
         "ICMPV6CTL_ND6_DRLIST": "nd6_drlist", "ICMPV6CTL_ND6_PRLIST": "nd6_prlist",
         "SIOCGIFINFO_IN6": "nd6_ifinfo", "SIOCGDEFIFACE_IN6": "nd6_defif"}

_WALK = attrgetter("walk")
WALK_STEP = 8192        # neighbour entries a dump sorts per loop turn (_walk_sorted)
LL_PIECE = protocol.CHUNK_ROWS // 4     # rows per neighbour dump chunk (~4 µs each to render)
# what a compact dump reads of each route: rows with equal tuples share one "paths" entry
_PATH_OF = attrgetter("gateway", "flags", "ifp", "expire", "mtu", "weight", "nhidx")


def _walk_sorted(entries: list):
    """One interface's neighbour entries in walk order (LLEntry.walk), sorted a slice per
    loop turn (sorting 200,000 at once held the loop ~40 ms): each slice of WALK_STEP
    sorted alone, None after it (the turn may end there), then the sorted slices cut at
    each hash bucket's end and every bucket's part sorted (Timsort merges the presorted
    pieces): lists, in order, a bucket's entries each."""
    if len(entries) <= WALK_STEP:
        yield sorted(entries, key=_WALK)
        return
    runs = []
    for start in range(0, len(entries), WALK_STEP):
        run = sorted(entries[start:start + WALK_STEP], key=_WALK)
        runs.append((list(map(_WALK, run)), run))
        yield None
    starts = [0] * len(runs)
    for bucket in range(LLTBL_BUCKETS):
        end_key = bucket << WALK_SHIFT      # (a bucket's walks are below it, seq ≥ 1)
        part: list = []
        for i, (keys, run) in enumerate(runs):
            end = bisect_right(keys, end_key)
            part += run[starts[i]:end]
            starts[i] = end
        part.sort(key=_WALK)
        yield part


class _Numbering(dict):
    """Numbers its keys 0, 1, 2... in the order they are first looked up."""

    def __missing__(self, key):
        number = self[key] = len(self)
        return number


_PAIRS: list[tuple[list[str], list[str]]] = []     # _octet_pairs, once made
PAIRS_STEP = 8192       # of its 65536 entries made per loop turn (all at once: ~15 ms)


def _octet_pairs() -> tuple[list[str], list[str]]:
    """Texts of every 16-bit half of an IPv4 address: "a.b." and "c.d"."""
    if not _PAIRS:
        for _ in _make_octet_pairs():
            pass
    return _PAIRS[0]


def _make_octet_pairs():
    """Make _octet_pairs' texts, yielding None after every PAIRS_STEP of them (a dump
    making them meets its first big table: its loop turn ends there)."""
    high: list[str] = []
    low: list[str] = []
    for start in range(0, 1 << 16, PAIRS_STEP):
        if _PAIRS:          # (made meanwhile, by another dump)
            return
        pairs = ["%d.%d" % divmod(i, 256) for i in range(start, start + PAIRS_STEP)]
        low += pairs
        high += [p + "." for p in pairs]
        yield None
    _PAIRS.append((high, low))


_PLEN4 = ["/%d" % plen for plen in range(32)] + [""]     # a /32 is a host: no length


def inet_prefix_texts(keys, many: bool) -> list[str]:
    """IPv4 walk-order keys as "a.b.c.d/plen" (a host route: "a.b.c.d").  For many keys
    (more than the 2 x 65536 texts of _octet_pairs, made once), two lookups and two
    concatenations per key take half the time of inet_ntoa."""
    plen4 = _PLEN4
    if not many:
        ntoa = socket.inet_ntoa
        return [ntoa((k >> 8).to_bytes(4, "big")) + plen4[255 - (k & 255)] for k in keys]
    high, low = _octet_pairs()
    return [high[k >> 24] + low[(k >> 8) & 0xFFFF] + plen4[255 - (k & 255)] for k in keys]


class DumpOps:
    """The dump handlers, for a class with self.stack (Syscalls)."""

    _chunks: dict       # af -> (table generation, ifnames, compact chunks)

    def rt_dump(self, args):
        """Rows of protocol.ROUTE_COLUMNS, prefixed by the family name, in walk order; or
        with {"form": "compact"} the protocol's compact chunks."""
        want = args.get("af")
        afs = [AF_INET, AF_INET6] if want is None else [af_arg(args)]
        form = arg(args, "form", str, "rows")
        if form == "compact":
            return Stream(self._route_chunks(afs), chunked=True)
        if form != "rows":
            raise OpError(EINVAL, "form must be rows or compact")
        return Stream(self._route_rows(afs), chunked=True)

    def _route_chunks(self, afs):
        """Compact chunks in walk order, from _table_chunks; only the distinct paths of each
        chunk are rendered at every dump (interface names and MTUs, seconds to expiry)."""
        now = self.stack.clock()
        for af in afs:
            family = "inet" if af == AF_INET else "inet6"
            for chunk in self._table_chunks(af):
                if chunk is None:       # (sorting: the loop turn ends, see Stream)
                    yield None
                    continue
                dst, plen, path, paths = chunk
                yield {"af": family, "dst": dst, "plen": plen, "path": path,
                       "paths": [self._path_fields(af, p, now) for p in paths]}

    def _table_chunks(self, af: int):
        """(destination texts joined by newlines, prefix lengths, each row's path number,
        the distinct _PATH_OF tuples) per chunk of the walk order.

        Built as the first dump goes (None between the slices of sorting it, see
        RouteTable.walk_pieces), then kept while the table's generation stays: it moves on
        every change to a route (RTM_CHANGE too).  Scoped IPv6 texts name interfaces, so a
        rename also invalidates.  A full-length prefix is shown as a host: the stack sets
        RTF_HOST exactly on those."""
        table = self.stack.rt[af]
        generation = table.generation
        names = [ifp.name for ifp in self.stack.ifaces]
        cached = self._chunks.get(af)
        if cached is not None and cached[0] == generation and cached[1] == names:
            yield from cached[2]
            return
        chunks = []
        many = len(table) > 1 << 17
        if many and af == AF_INET and not _PAIRS:
            yield from _make_octet_pairs()
        for piece in table.walk_pieces(DUMP_PIECE):
            if piece is None:
                yield None
                continue
            part, routes = piece
            numbers = _Numbering()
            path = list(map(numbers.__getitem__, map(_PATH_OF, routes)))
            chunk = ("\n".join(self._prefix_texts(af, part, many)),
                     bytes([255 - (k & 255) for k in part]), path, list(numbers))
            chunks.append(chunk)
            yield chunk
        if table.generation == generation and names == [ifp.name for ifp in self.stack.ifaces]:
            self._chunks[af] = (generation, names, chunks)

    def _path_fields(self, af: int, path: tuple, now: float) -> list:
        """protocol.PATH_COLUMNS of one _PATH_OF tuple."""
        gateway, flags, ifp, expire, mtu, weight, nhidx = path
        gw = self.stack.key_text(af, gateway) if flags & RTF_GATEWAY else "link#%d" % gateway
        return [gw, flags, ifp.name, ceil(expire - now) if expire else 0, mtu or ifp.mtu,
                weight, nhidx]

    def _prefix_texts(self, af: int, keys, many: bool) -> list[str]:
        if af == AF_INET:
            return inet_prefix_texts(keys, many)
        key_text = self.stack.key_text
        texts = []
        for k in keys:
            plen = 255 - (k & 255)
            text = key_text(AF_INET6, k >> 8)
            texts.append(text if plen == 128 else "%s/%d" % (text, plen))
        return texts

    def _route_rows(self, afs):
        """Chunks (lists) of rows in walk order.  Destination and prefix length come from the
        table's sorted keys, gateway texts are computed once per gateway."""
        stack = self.stack
        now = stack.clock()
        size = DUMP_PIECE
        inet_ntoa = socket.inet_ntoa
        for af in afs:
            v4 = af == AF_INET
            family = "inet" if v4 else "inet6"

            def key_text(k, v4=v4):
                return inet_ntoa(k.to_bytes(4, "big")) if v4 else stack.key_text(AF_INET6, k)
            gw_text: dict = {}
            for piece in stack.rt[af].walk_pieces(size):
                if piece is None:       # (sorting: the loop turn ends, see Stream)
                    yield None
                    continue
                rows: list = []
                append = rows.append
                last_key = last_dst = None
                for key, r in zip(*piece):
                    if key != last_key:
                        last_key = key
                        dst = key >> 8
                        last_dst = inet_ntoa(dst.to_bytes(4, "big")) if v4 else key_text(dst)
                    ifp = r.ifp
                    flags = r.flags
                    if flags & 2:
                        gw = gw_text.get(r.gateway)
                        if gw is None:
                            gw = gw_text[r.gateway] = key_text(r.gateway)
                    else:
                        gw = "link#%d" % r.gateway
                    append((family, last_dst, 255 - (key & 255), gw, flags, ifp.name,
                            ceil(r.expire - now) if r.expire else 0, r.mtu or ifp.mtu,
                            r.weight, r.nhidx))
                if rows:
                    yield rows

    def ll_dump(self, args):
        """ARP (af inet) or NDP (af inet6) entries; {ifname?}.  In FreeBSD 14's order
        (netlink's neighbour dump, which arp(8) and ndp(8) print as it comes): interface by
        interface, each table walked bucket by bucket (htable_foreach_lle), the newest
        entry of a bucket first (htable_link_entry links at the head): LLEntry.walk."""
        af = af_arg(args)
        ifname = arg(args, "ifname", str, None)
        ifaces = [self.stack.ifunit(ifname)] if ifname else self.stack.ifaces
        # the entries as they are now (C-level copies), rendered as the chunks go out (a big
        # table's rows are never all built at once)
        tables = [list(self.stack.ll_table(af, ifp).values()) for ifp in ifaces]
        return Stream(self._ll_chunks(tables), chunked=True)

    def _ll_chunks(self, tables):
        info, size = self.stack.ll_info, LL_PIECE
        for entries in tables:
            for part in _walk_sorted(entries):
                if part is None:
                    yield None
                    continue
                for start in range(0, len(part), size):
                    yield list(map(info, part[start:start + size]))

    def nd6_drlist(self, args):
        return self.stack.nd6_drlist()

    def nd6_prlist(self, args):
        return self.stack.nd6_prlist()

    def nd6_ifinfo(self, args):
        """{ifname}: ND_IFINFO of one interface."""
        return self.stack.nd6_ifinfo_of(arg(args, "ifname", str))

    def nd6_defif(self, args):
        index = self.stack.nd6_defif()
        ifp = self.stack.by_index(index) if index else None
        return {"ifindex": index, "ifname": ifp.name if ifp else None}

    def if_list(self, args):
        """Every interface with its addresses, in creation order (or one: {ifname}),
        streamed in chunks of at most CHUNK_ROWS interfaces and CHUNK_ADDRS addresses: an
        interface with more is split (protocol.join_rows joins it again)."""
        ifname = arg(args, "ifname", str, None)
        ifaces = [self.stack.ifunit(ifname)] if ifname else self.stack.ifaces
        # the addresses as they are now: the chunks go out as the peer reads them
        return Stream(self._if_chunks([(ifp, list(ifp.addrs)) for ifp in ifaces]),
                      chunked=True)

    def _if_chunks(self, listed):
        chunk: list = []
        room = protocol.CHUNK_ADDRS
        for ifp, addrs in listed:
            if len(chunk) >= protocol.CHUNK_ROWS or not room:
                yield chunk
                chunk, room = [], protocol.CHUNK_ADDRS
            info = self.if_info(ifp, addrs[:room])
            chunk.append(info)
            done = min(room, len(addrs))
            room -= done
            while done < len(addrs):        # the rest of this interface: continuations
                yield chunk
                part = addrs[done:done + protocol.CHUNK_ADDRS]
                chunk = [{"continues": True, "addrs": self._addr_rows(ifp, part)}]
                done += len(part)
                room = protocol.CHUNK_ADDRS - len(part)
        if chunk:
            yield chunk

    def _addr_rows(self, ifp, addrs) -> list:
        stack = self.stack

        def text6(v):
            return stack.key_text(AF_INET6, embed_scope(v, ifp.index) if is_scoped6(v) else v)
        rows = []
        for a in addrs:
            text = ntoa if a.af == AF_INET else text6
            rows.append({
                "af": "inet" if a.af == AF_INET else "inet6", "addr": text(a.addr),
                "plen": a.plen,
                "broadcast": ntoa(a.broadcast) if a.broadcast is not None else None,
                "dstaddr": text(a.dst) if a.dst is not None else None,
                "flags": a.flags, "scopeid": a.scopeid, **stack.in6_lifetimes(a),
                "stats": dict(zip(("ipackets", "ibytes", "opackets", "obytes"), a.stats)),
            })
        return rows

    def if_info(self, ifp, addrs=None) -> dict:
        """The interface map, with its addresses (or the ones given)."""
        stack = self.stack
        addrs = self._addr_rows(ifp, ifp.addrs if addrs is None else addrs)
        t = ifp.iftype
        return {
            "index": ifp.index, "name": ifp.name, "dname": ifp.dname, "kind": t.name,
            "cloner": ifp.cloner,
            "flags": stack.oper_flags(ifp), "mtu": ifp.mtu, "metric": ifp.metric,
            "mac": mac_text(ifp.mac) if ifp.mac else None,
            "hwaddr": mac_text(ifp.hwaddr) if ifp.hwaddr else None,
            "description": ifp.description, "groups": list(ifp.groups), "caps": ifp.caps,
            "nd6": ifp.nd6_flags, "link_state": ifp.link_state, "media": stack.if_media(ifp),
            "drv_status": ifp.drv_status, "params": dict(ifp.params),
            "dhcp": dict(ifp.dhcp) if ifp.dhcp else None,
            "lagg": _lagg_status(stack, ifp),
            "stats": dict(zip(("ipackets", "ierrors", "iqdrops", "ibytes", "opackets",
                               "oerrors", "oqdrops", "obytes", "collisions"), ifp.stats)),
            "addrs": addrs,
            **stack.if_clone_info(ifp),     # a cloner's own status (bridge members, ...)
        }


def _lagg_status(stack, ifp):
    """lagg(4) configuration of a lagg or a port (the data plane's lagg module owns it)."""
    from ..dataplane.lagg import lagg_status
    return lagg_status(stack, ifp)
