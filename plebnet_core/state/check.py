"""State invariants, for fuzzing and crash tests: what must hold after any sequence of ops.

check_stack() looks inside a Stack (in-process fuzzing); check_dumps() works from the listings
any client can fetch (a stack in another process).  Both return a list of violations (text),
empty when the state is consistent.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from plebproto.constants import (
    AF_INET, AF_INET6, IN6_IFF_TENTATIVE, RTF_GATEWAY, RTF_PINNED,
)

from .in6_ctl import dad_ready
from .route import NextHop, Unmade
from .stack import SYSCTL_DEFAULTS, Stack


class SysctlClient(Protocol):
    """What fetch_and_check needs of a client (plebconf's rpc client is one)."""

    def sysctl(self, name: str, **args: Any) -> Any: ...


def check_stack(stack: Stack) -> list[str]:
    bad = []
    names = [ifp.name for ifp in stack.ifaces]
    indices = [ifp.index for ifp in stack.ifaces]
    if len(set(names)) != len(names):
        bad.append(f"duplicate interface names {names}")
    if len(set(indices)) != len(indices):
        bad.append(f"duplicate interface indices {indices}")
    if stack.by_name != {ifp.name: ifp for ifp in stack.ifaces}:
        bad.append("by_name disagrees with the interface list")
    if any(i >= stack.next_index for i in indices):
        bad.append("an interface index is not below next_index")
    if stack.lo0 is not None and stack.lo0 not in stack.ifaces:
        bad.append("lo0 is gone")
    live = set(map(id, stack.ifaces))
    by_index = {ifp.index: ifp for ifp in stack.ifaces}
    for ifp in stack.ifaces:
        seen = set()
        for ifa in ifp.addrs:
            if ifa.ifp is not ifp:
                bad.append(f"{ifp.name}: address belongs to another interface")
            if (ifa.af, ifa.addr) in seen:
                bad.append(f"{ifp.name}: duplicate address {ifa.addr:#x}")
            seen.add((ifa.af, ifa.addr))
            if ifp.find_addr(ifa.af, ifa.addr) is not ifa or ifa not in ifp.prefix_index.get(
                    stack._prefix_key(ifa), ()):
                bad.append(f"{ifp.name}: address {ifa.addr:#x} missing from its indexes")
        if len(ifp.addr_index) != len(ifp.addrs) or sum(ifp.naddrs.values()) != len(
                ifp.addrs) or sum(map(len, ifp.prefix_index.values())) != len(ifp.addrs):
            bad.append(f"{ifp.name}: address indexes disagree with the address list")
        if [a.seq for a in ifp.addrs] != sorted(a.seq for a in ifp.addrs):
            bad.append(f"{ifp.name}: addresses out of creation order")
        for af, entries in ((AF_INET, ifp.llinfo), (AF_INET6, ifp.llinfo6)):
            for key, entry in entries.items():
                if entry.addr != key or entry.af != af or entry.ifp is not ifp:
                    bad.append(f"{ifp.name}: neighbour entry {key:#x} misfiled")
                if entry.flags & RTF_PINNED and (af, key) not in seen:
                    bad.append(f"{ifp.name}: own-address neighbour {key:#x} without address")
                armed = stack.ll_due.when(entry)
                if entry.expire and (armed is None or armed > entry.expire):
                    bad.append(f"{ifp.name}: neighbour {key:#x} expiring at {entry.expire} "
                               f"armed for {armed}")
    for af, table in stack.rt.items():
        prefixes = 0
        lens = []
        listed = {(id(ifa), id(r)) for ifa, routes in table._by_ifa.items() for r in routes}
        for ifa, routes in table._by_ifa.items():
            if not routes:
                bad.append(f"{af}: empty dependents of {ifa.addr:#x} kept")
            for r in routes:        # a path leaves the index as it leaves the table
                if type(r) is NextHop:
                    alive = r.ifa is ifa and r.refs > 0
                else:
                    held = table._by_len[r.plen].get(r.dst)
                    alive = r.ifa is ifa and type(held) is list and r in held
                if not alive:
                    bad.append(f"{af}: stale dependent of {ifa.addr:#x}: {r!r}")
        unmade = joined = 0
        for plen, bucket in enumerate(table._by_len):
            if bucket:
                lens.append(plen)
            for dst, paths in bucket.items():
                prefixes += 1
                if type(paths) is Unmade:   # unmade: its slot holds the NextHop naming it
                    nexthop = table._lpm.slots[paths]
                    if type(nexthop) is not NextHop or nexthop.plen != plen \
                            or nexthop.slot != paths or nexthop.refs <= 0:
                        bad.append(f"af {af}: unmade prefix {dst:#x}/{plen} misfiled")
                    elif nexthop.ifa is not None and (id(nexthop.ifa), id(nexthop)) not in listed:
                        bad.append(f"af {af}: unmade {dst:#x}/{plen} not among dependents")
                    unmade += 1
                    continue
                joined += len(paths) - 1
                if not paths:
                    bad.append(f"af {af}: empty path list at {dst:#x}/{plen}")
                if dst & table.masks[plen] != dst:
                    bad.append(f"af {af}: unmasked key {dst:#x}/{plen}")
                gateways = [(r.gateway, r.flags & RTF_GATEWAY) for r in paths]
                if len(set(gateways)) != len(gateways):
                    bad.append(f"af {af}: duplicate paths at {dst:#x}/{plen}")
                for r in paths:
                    where = f"af {af} route {dst:#x}/{plen}"
                    if r.dst != dst or r.plen != plen:
                        bad.append(f"{where}: filed under the wrong key")
                    if r.ifp is None or id(r.ifp) not in live:
                        bad.append(f"{where}: leaves by a destroyed interface")
                    if r.ifa is not None and (id(r.ifa.ifp) not in live or r.ifa.ifp.find_addr(
                            r.ifa.af, r.ifa.addr) is not r.ifa):
                        bad.append(f"{where}: depends on an address that is gone")
                    if r.ifa is not None and (id(r.ifa), id(r)) not in listed:
                        bad.append(f"{where}: missing from its address's dependents")
                    if r.flags & RTF_PINNED and r.ifa is None:
                        bad.append(f"{where}: interface route without an address")
                    if not r.flags & RTF_GATEWAY and r.gateway not in by_index:
                        bad.append(f"{where}: link#{r.gateway} names no interface")
                    armed = stack.rt_due.when((af, r))
                    if r.expire and (armed is None or armed > r.expire):
                        bad.append(f"{where}: expiring at {r.expire} armed for {armed}")
        if (unmade, joined) != (table.unmade, table.joined):
            bad.append(f"af {af}: counts {table.unmade} unmade, {table.joined} joined, "
                       f"but {unmade}, {joined} found")
        # each prefix's first and last address: by the dicts while fills are pending,
        # then by the lookup arrays (trie) once they are all done
        for settled in (False, True) if table.unsettled else (True,):
            if settled:
                table.settle()
            for plen, bucket in enumerate(table._by_len):
                for dst in bucket:
                    for addr in (dst, dst | table.masks[table.width] ^ table.masks[plen]):
                        found = table.lookup(addr)
                        if not found or found[0].plen < plen or \
                                addr & table.masks[found[0].plen] != found[0].dst:
                            bad.append(f"af {af}: lookup of {addr:#x} misses {dst:#x}/{plen}")
        if prefixes != table.count:
            bad.append(f"af {af}: count {table.count} but {prefixes} prefixes")
        if sorted(lens, reverse=True) != table._lens:
            bad.append(f"af {af}: prefix length index disagrees with the table")
    for ifa in stack.dad_pending:
        if ifa.ifp.find_addr(ifa.af, ifa.addr) is not ifa:
            bad.append("DAD pending for an address that is gone")
    for ifp in stack.ifaces:
        # an interface a tick saw ready, and ready still: its tentative addresses are in DAD
        # (the tick looks at them again only when it sees the interface's readiness change)
        if stack.dad_seen.get(ifp) and dad_ready(ifp):
            for ifa in ifp.addrs:
                if ifa.af == AF_INET6 and ifa.flags & IN6_IFF_TENTATIVE \
                        and ifa not in stack.dad_pending:
                    bad.append(f"{ifp.name}: tentative {ifa.addr:#x} not in DAD")
    if set(stack.sysctl) != set(SYSCTL_DEFAULTS):
        bad.append("sysctl names changed")
    return bad


def _net(af: str, addr: str, plen: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{addr.partition('%')[0]}/{plen}", strict=False)


def check_dumps(iflist: list[dict[str, Any]], routes: list[list[Any]],
                neighbours: list[dict[str, Any]]) -> list[str]:
    """From NET_RT_IFLIST, NET_RT_DUMP rows and NET_RT_FLAGS entries (both families)."""
    bad = []
    names = [i["name"] for i in iflist]
    indices = {i["index"] for i in iflist}
    if len(set(names)) != len(names) or len(indices) != len(names):
        bad.append(f"duplicate interface names or indices: {names}")
    addrs: dict[str, list[dict[str, Any]]] = {}
    for i in iflist:
        for a in i["addrs"]:
            addrs.setdefault(i["name"], []).append(a)
    rows = [tuple(r) for r in routes]
    if len(set(rows)) != len(rows):
        bad.append("duplicate route rows")
    for family, dst, plen, gateway, flags, ifname, *_ in rows:
        if ifname not in names:
            bad.append(f"route {dst}/{plen} leaves by unknown interface {ifname}")
        if gateway.startswith("link#") and int(gateway[5:]) not in indices:
            bad.append(f"route {dst}/{plen}: {gateway} names no interface")
        if flags & RTF_PINNED and not flags & RTF_GATEWAY:
            net = _net(family, dst, plen)
            owners = [a for alist in addrs.values() for a in alist if a["af"] == family and (
                _net(family, a["addr"], plen) == net
                or (a.get("dstaddr") and _net(family, a["dstaddr"], plen) == net))]
            if not owners:
                bad.append(f"interface route {dst}/{plen} belongs to no address")
    for n in neighbours:
        if n["ifname"] not in names:
            bad.append(f"neighbour {n['addr']} on unknown interface {n['ifname']}")
    return bad


def fetch_and_check(client: SysctlClient) -> list[str]:
    """check_dumps() on a live stack through its control socket."""
    return check_dumps(client.sysctl("NET_RT_IFLIST"), client.sysctl("NET_RT_DUMP"),
                       client.sysctl("NET_RT_FLAGS", af="inet")
                       + client.sysctl("NET_RT_FLAGS", af="inet6"))
