"""The configuration state as plain data (the snapshot) and the replay of journaled requests
onto it."""
from __future__ import annotations

from operator import attrgetter

from plebproto.constants import AF_INET, AF_INET6, EINVAL
from plebproto.errors import OpError
from plebproto.iftypes import IFTYPES

from ..state.ifnet import IfAddr, Interface, LLEntry
from ..state.route import Route

_SEQ = attrgetter("seq")


# -- replay ----------------------------------------------------------------------------------------
def apply(syscalls, op: str, args: dict):
    """Run one journaled change the way ControlServer ran it (one transaction; a batch
    through the same Syscalls.run_batch).  Raises OpError as the original did."""
    if op == "batch":
        ops = args.get("ops", []) if isinstance(args, dict) else None
        if not isinstance(ops, list):
            raise OpError(EINVAL, "batch ops must be a list")
        return syscalls.run_batch(ops)
    with syscalls.stack.transaction():
        return syscalls.dispatch(op, args)


# -- the state as plain data ---------------------------------------------------------------------
def _b(value):
    """Address ints (IPv6 ones exceed msgpack's 64 bits) as big-endian bytes."""
    return None if value is None else value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _i(data):
    return None if data is None else int.from_bytes(data, "big")


def serialise_state(stack) -> dict:
    now = stack.clock()
    rel = (lambda t: t - now if t else 0)
    ifaces = []
    for ifp in stack.ifaces:
        # learned entries (flags 0 and an expiry time) are not configuration; an entry set
        # with flags 0, with no expiry or a temporary one (arp -s ... temp), is
        # (oldest first: restored in this order, they walk in the same order as now)
        ll = [[e.af, _b(e.addr), e.mac, e.flags, rel(e.expire), e.set]
              for table in (ifp.llinfo, ifp.llinfo6)
              for e in sorted(table.values(), key=_SEQ)
              if e.flags or not e.expire or e.set]
        ifaces.append({
            "index": ifp.index, "name": ifp.name, "dname": ifp.dname, "kind": ifp.iftype.name,
            "cloner": ifp.cloner,
            "flags": ifp.flags, "mtu": ifp.mtu, "metric": ifp.metric, "mac": ifp.mac,
            "hwaddr": ifp.hwaddr, "descr": ifp.description, "groups": list(ifp.groups),
            "nd6": ifp.nd6_flags, "caps": ifp.caps, "link": ifp.link_state,
            "params": ifp.params,
            "addrs": [[a.af, _b(a.addr), a.plen, _b(a.broadcast), _b(a.dst), a.flags,
                       a.scopeid, a.pltime, a.vltime] for a in ifp.addrs],
            "ll": ll,
        })

    # each address's position, found once: looking it up in its list per route would
    # make a snapshot quadratic in the number of addresses
    where = {id(a): [ifp.index, pos] for ifp in stack.ifaces for pos, a in enumerate(ifp.addrs)}

    def ifa_ref(ifa):
        return None if ifa is None else where.get(id(ifa))

    routes = {}
    for af, table in stack.rt.items():
        routes[str(af)] = [
            [_b(r.dst), r.plen, _b(r.gateway), r.ifp.index if r.ifp else None, ifa_ref(r.ifa),
             r.flags, r.mtu, r.hopcount, rel(r.expire), r.weight, r.nhidx, bool(r.expire)]
            for paths in table.walk() for r in paths]
    dad = [[*where[id(ifa)], when - now] for ifa, when in stack.dad_pending.items()
           if id(ifa) in where]
    return {"next_index": stack.next_index, "lo0": stack.lo0.index if stack.lo0 else None,
            "sysctl": dict(stack.sysctl), "ifaces": ifaces, "routes": routes, "dad": dad}


def _identity(is_lo0: bool, cloner, hwaddr, name) -> tuple:
    if is_lo0:
        return ("lo0",)
    return ("nic", hwaddr) if cloner is None and hwaddr else ("name", name)


def load_state(stack, state: dict) -> list:
    """Replace stack's configuration by a serialise_state() result.

    Interfaces the stack already has (the NICs and lo0 attached at start, with their
    devices) are updated in place, so the data plane keeps its hold on them; a NIC is
    recognised by its hardware address (derived from --nic NAME=BACKEND), so a renamed one
    is found too.  Ones the saved state lacks (a NIC added to the command line) stay, after
    the saved ones.  Returns the interfaces created anew (clones), whose devices the caller
    opens."""
    now = stack.clock()
    absolute = (lambda r: now + r if r else 0)
    by_index = {}
    present = {_identity(ifp.index == (stack.lo0.index if stack.lo0 else None), ifp.cloner,
                         ifp.hwaddr, ifp.name): ifp for ifp in stack.ifaces}
    created = []
    stack.ifaces, stack.by_name = [], {}
    for d in state["ifaces"]:
        ifp = present.pop(_identity(d["index"] == state["lo0"], d["cloner"], d["hwaddr"],
                                    d["name"]), None)
        if ifp is None:
            ifp = Interface(d["index"], d["name"], IFTYPES[d["kind"]], d["mac"], d["cloner"],
                            d["params"])
            created.append(ifp)
            ifp.dname = d.get("dname", d["name"])   # a NIC keeps its attach name
        ifp.index, ifp.name, ifp.iftype = d["index"], d["name"], IFTYPES[d["kind"]]
        ifp.mac, ifp.cloner = d["mac"], d["cloner"]
        ifp.params = dict(d["params"])
        ifp.addrs, ifp.llinfo, ifp.llinfo6 = [], {}, {}
        ifp.flags, ifp.mtu, ifp.metric = d["flags"], d["mtu"], d["metric"]
        ifp.hwaddr, ifp.description, ifp.groups = d["hwaddr"], d["descr"], list(d["groups"])
        ifp.nd6_flags, ifp.caps, ifp.link_state = d["nd6"], d["caps"], d["link"]
        for af, addr, plen, brd, dst, flags, scopeid, pltime, vltime in d["addrs"]:
            ifp.addrs.append(IfAddr(af, _i(addr), plen, ifp, _i(brd), _i(dst), flags, scopeid,
                                    pltime, vltime))
        for af, addr, mac, flags, expire, *set_ in d["ll"]:     # (older states: no set)
            table = ifp.llinfo if af == AF_INET else ifp.llinfo6
            table[_i(addr)] = LLEntry(af, _i(addr), mac, flags, absolute(expire), ifp,
                                      bool(set_ and set_[0]))
        stack.ifaces.append(ifp)
        stack.by_name[ifp.name] = ifp
        by_index[ifp.index] = ifp
    stack.next_index = state["next_index"]
    for ifp in present.values():        # attached now, unknown to the saved state
        for a in ifp.addrs:
            a.ifp = ifp
        ifp.index, stack.next_index = stack.next_index, stack.next_index + 1
        ifp.addrs, ifp.llinfo, ifp.llinfo6 = [], {}, {}
        stack.ifaces.append(ifp)
        stack.by_name[ifp.name] = ifp
    stack.lo0 = by_index.get(state["lo0"])
    # (a state saved before a sysctl existed gets its default)
    stack.sysctl = {**stack.sysctl, **state["sysctl"]}
    stack.dad_pending, stack.nd_addr_seq = {}, {}     # (of the addresses replaced)
    stack.timers_reset()
    stack._gw_cache.clear()
    for af in (AF_INET, AF_INET6):
        # emptied in place: the data plane holds the table (a new object would leave it
        # forwarding by the table of before the restore)
        table = stack.rt[af]
        table.clear()
        for (dst, plen, gw, ifindex, ref, flags, mtu, hopcount, expire, weight, nhidx,
             _expiring) in state["routes"][str(af)]:
            ifa = by_index[ref[0]].addrs[ref[1]] if ref else None
            route = Route(_i(dst), plen, _i(gw), by_index.get(ifindex), ifa, flags, mtu,
                          hopcount, absolute(expire), weight)
            route.nhidx = nhidx
            table.add_path(route)
            # (every route with an expiry time expires; states saved before said which)
            stack.rt_arm(af, route)
    for ifindex, pos, remaining in state["dad"]:
        stack.dad_pending[by_index[ifindex].addrs[pos]] = now + remaining
    stack.reindex_addrs()
    return created

