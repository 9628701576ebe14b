"""The assertions network testers need, over a Lab: who reaches whom (a reachability matrix,
pinged in parallel), which way packets go (a path, hop by hop), what a routing table holds, and
whether a node's running configuration drifted from its rc.conf.

Each check returns an object describing what it saw (printable as a table or list) and has an
assert_* twin that raises AssertionError with that description.
"""
from __future__ import annotations

import ipaddress
import shutil
import threading
from dataclasses import dataclass, field

from plebconf.rpc import client as rpc

from .results import Hop, PingResult, Route
from .stack import Stack


# -- reachability ----------------------------------------------------------------------------
@dataclass
class Matrix:
    """Ping results of every (source node, target address) pair."""
    results: dict[tuple[str, str], PingResult] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)        # address -> node

    def ok(self, src: str, address: str) -> bool:
        return self.results[(src, address)].ok

    @property
    def pairs(self) -> int:
        return len(self.results)

    def failures(self) -> list[tuple[str, str]]:
        return sorted(k for k, r in self.results.items() if not r.ok)

    def mismatches(self, expect=None) -> list[tuple[str, str, bool]]:
        """(src, address, expected) where the outcome is not what expect says (a function
        (src, dst node, address) -> bool, or None: everything reachable)."""
        out = []
        for (src, addr), res in sorted(self.results.items()):
            want = True if expect is None else bool(expect(src, self.owners.get(addr), addr))
            if res.ok != want:
                out.append((src, addr, want))
        return out

    def table(self) -> str:
        """Sources down, target nodes across: `ok` when every address answered, `--` when
        none did, `n/m` for some."""
        srcs = sorted({s for s, _ in self.results})
        dsts = sorted({self.owners.get(a, a) for _, a in self.results})
        cells = {}
        for (src, addr), res in self.results.items():
            good, total = cells.get((src, self.owners.get(addr, addr)), (0, 0))
            cells[(src, self.owners.get(addr, addr))] = (good + res.ok, total + 1)
        width = max([len(d) for d in dsts] + [len(s) for s in srcs] + [5])
        lines = [" " * width + " " + " ".join(d.rjust(width) for d in dsts)]
        for s in srcs:
            row = []
            for d in dsts:
                good, total = cells.get((s, d), (0, 0))
                text = "." if not total else "ok" if good == total else "--" if not good \
                    else f"{good}/{total}"
                row.append(text.rjust(width))
            lines.append(s.ljust(width) + " " + " ".join(row))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()


def ping_many(stack: Stack, targets: list[str], wait: float = 1.0, count: int = 1,
              interval: float = 0.2) -> dict[str, PingResult]:
    """Ping every target from one stack at once: all sessions in flight on one connection,
    their streamed events told apart by request id."""
    results = {t: PingResult(t) for t in targets}
    if not targets:
        return results
    with rpc.Client.connect(pid=stack.pid, directory=stack.sockdir,
                            timeout=wait + count * interval + 30) as c:
        pending = {}
        for t in targets:
            rid = c.send("ping", {"dst": t, "count": count, "interval": interval, "size": 56,
                                  "ttl": 64, "timeout": 0, "waittime": wait})
            pending[rid] = results[t]
        while pending:
            msg = c.receive()
            res = pending.get(msg.get("id"))
            if res is None or "event" in msg:
                continue
            if msg.get("errno"):
                res.send_errnos.append(msg["errno"])
                del pending[msg["id"]]
                continue
            chunk = msg.get("result")
            for ev in chunk if isinstance(chunk, list) else ():
                kind = ev.get("ev")
                if kind == "sent":
                    res.transmitted += 1
                    if ev.get("errno"):
                        res.send_errnos.append(ev["errno"])
                elif kind == "reply":
                    if all(r["seq"] != ev["seq"] for r in res.replies):
                        res.received += 1
                    res.replies.append({k: ev.get(k) for k in ("seq", "from", "ttl", "time")})
                elif kind == "icmp":
                    res.errors.append({k: ev.get(k) for k in ("from", "type", "code")})
            if not msg.get("more"):
                del pending[msg["id"]]
    return results


def _peer_ping(peer, address: str, wait: float) -> PingResult:
    res = PingResult(address, transmitted=1)
    done = peer.exec("ping", "-n", "-c", "1", "-W", str(max(1, round(wait))), address)
    if done.returncode == 0:
        res.received = 1
    return res


def reachability(lab, sources=None, targets=None, wait: float = 1.0,
                 attempts: int = 2) -> Matrix:
    """Every source node pings every target address, all in parallel.

    sources: node names (default: every stack, and every Linux peer that has ping(8));
    targets: {node: [addresses]} (default: every non-loopback IPv4 address of every node);
    a source does not ping its own addresses.  A pair that got no reply is tried again, up to
    `attempts` rounds (a first packet can be lost while ARP resolves)."""
    owners = lab.address_map()
    if targets is None:
        targets = {}
        for addr, node in owners.items():
            targets.setdefault(node, []).append(addr)
    owners.update({a: n for n, addrs in targets.items() for a in addrs})
    stacks, peers = lab.stacks, lab.peers
    if sources is None:
        sources = list(stacks) + (list(peers) if shutil.which("ping") else [])
    matrix = Matrix(owners=owners)
    todo = {src: [a for node, addrs in targets.items() if node != src for a in addrs]
            for src in sources}
    lock = threading.Lock()
    for _ in range(max(1, attempts)):
        threads = []

        def run(src, addrs):
            if src in stacks:
                got = ping_many(stacks[src], addrs, wait)
            else:
                got = {a: _peer_ping(peers[src], a, wait) for a in addrs}
            with lock:
                for a, r in got.items():
                    matrix.results[(src, a)] = r
        for src, addrs in todo.items():
            if addrs:
                t = threading.Thread(target=run, args=(src, addrs), daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
        todo = {src: [a for a in addrs if not matrix.results[(src, a)].ok]
                for src, addrs in todo.items()}
        if not any(todo.values()):
            break
    return matrix


def assert_reachability(lab, expect=None, **kw) -> Matrix:
    """reachability(), failing with the table and the pairs that differ from expect
    (a function (src, dst node, address) -> bool; None: all reachable)."""
    matrix = reachability(lab, **kw)
    bad = matrix.mismatches(expect)
    if bad:
        lines = [f"  {src} -> {addr} ({matrix.owners.get(addr, '?')}): "
                 f"{'no reply' if want else 'answered, but should not'}"
                 for src, addr, want in bad]
        raise AssertionError(f"reachability differs in {len(bad)} of {matrix.pairs} pairs:\n"
                             + "\n".join(lines) + "\n" + matrix.table())
    return matrix


# -- paths -----------------------------------------------------------------------------------
class PathError(AssertionError):
    pass


def path(lab, src: str, dst: str, max_hops: int = 32) -> list[Hop]:
    """The hops from node src to address dst, as traceroute would list them (each router's
    address facing the packet, then dst).  With a traceroute tool that is what it prints;
    without one, each node's `route -n get dst` names the next gateway, whose owner is asked
    next (the answer is checked with a ping: a path that does not deliver is an error)."""
    stack = lab[src]
    owners = lab.address_map()
    if stack.has_tool("traceroute"):
        out = stack.run("traceroute", "-n", "-q", "1", "-m", str(max_hops), dst)
        hops = []
        for line in out.splitlines()[1:] if out.startswith("traceroute") else out.splitlines():
            words = line.split()
            if words and words[0].isdigit():
                addr = words[1] if len(words) > 1 and words[1] != "*" else None
                hops.append(Hop(int(words[0]), addr, owners.get(addr) if addr else None))
        return hops
    hops: list[Hop] = []
    node = src
    local = owners.get(dst)
    if local == src:                    # one's own address: traceroute's one hop, itself
        return [Hop(1, dst, src)]
    for ttl in range(1, max_hops + 1):
        here = lab[node]
        if not isinstance(here, Stack):
            raise PathError(f"path {src} -> {dst}: hop {ttl - 1} is {node}, not a stack")
        rg = here.route_get(dst)
        if rg is None:
            raise PathError(f"path {src} -> {dst}: {node} has no route to {dst}")
        if rg.gateway is None or not _is_ipv4(rg.gateway):
            hops.append(Hop(ttl, dst, local))
            break
        nxt = owners.get(rg.gateway)
        if nxt is None:
            raise PathError(f"path {src} -> {dst}: {node}'s gateway {rg.gateway} is no node's")
        if nxt == local:                # the last router is the destination: it answers as dst
            hops.append(Hop(ttl, dst, local))
            break
        hops.append(Hop(ttl, rg.gateway, nxt))
        node = nxt
    else:
        raise PathError(f"path {src} -> {dst}: more than {max_hops} hops (a loop?): "
                        + " ".join(h.address or "*" for h in hops))
    res = stack.ping(dst, count=1, wait=1.0)
    if not res.ok:
        res = stack.ping(dst, count=2, wait=1.0)
    if not res.ok:
        raise PathError(f"path {src} -> {dst}: the routes say "
                        + " ".join(f"{h.address}({h.node})" for h in hops)
                        + f", but {dst} does not answer a ping")
    return hops


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def assert_path(lab, src: str, dst: str, expected: list[str]) -> list[Hop]:
    """The path from src to dst is `expected`: hops given as addresses or node names."""
    hops = path(lab, src, dst)
    seen = [h.address if _is_ipv4(want) else h.node for h, want in zip(hops, expected)]
    if len(hops) != len(expected) or seen != list(expected):
        got = " ".join(f"{h.address}({h.node})" for h in hops)
        raise PathError(f"path {src} -> {dst}: expected {' '.join(expected)}, got {got}")
    return hops


# -- routing tables --------------------------------------------------------------------------
def _route_matches(route: Route, spec) -> bool:
    """spec: "DEST", "DEST GATEWAY", "DEST via GATEWAY" or a dict of Route fields."""
    if isinstance(spec, dict):
        return all(getattr(route, k) == v for k, v in spec.items())
    words = [w for w in spec.split() if w != "via"]
    dest = words[0]
    if route.destination != dest and not (dest == "default" and route.destination == "default"):
        return False
    return len(words) < 2 or route.gateway == words[1]


def assert_routes(stack: Stack, contains=(), excludes=(), family: str = "Internet") -> list:
    """The stack's `netstat -rn` has a route matching each of contains and none matching any
    of excludes; on failure the message has the whole table."""
    routes = stack.routes(family)
    missing = [s for s in contains if not any(_route_matches(r, s) for r in routes)]
    present = [s for s in excludes if any(_route_matches(r, s) for r in routes)]
    if missing or present:
        msg = [f"routing table of {stack.name}:"]
        msg += [f"  missing: {s}" for s in missing] + [f"  present: {s}" for s in present]
        raise AssertionError("\n".join(msg) + "\n" + stack.run("netstat", "-rn"))
    return routes


# -- configuration drift ---------------------------------------------------------------------
def assert_no_drift(stack: Stack, *files) -> None:
    """`plebconf rc diff` of the stack against its rc.conf (or files) finds nothing."""
    res = stack.rc_diff(*files)
    if res.returncode == 1:
        raise AssertionError(f"{stack.name} drifted from its rc.conf:\n{res.stdout}{res.stderr}")
    if res.returncode:
        raise RuntimeError(f"rc diff on {stack.name} failed: {res.stderr.strip()}")


__all__ = ["Matrix", "reachability", "assert_reachability", "ping_many", "path", "assert_path",
           "PathError", "assert_routes", "assert_no_drift"]
