"""Topology files: a lab's nodes and links in TOML (read with tomllib), in containerlab's
spirit, checked on load, and drawn as Graphviz dot.

    name = "triangle"                       # optional: the file's stem otherwise

    [nodes.r1]
    rc = "r1.rc.conf"                       # an rc.conf file, relative to this file
    config = ['defaultrouter="10.0.12.2"']  # and/or inline rc.conf lines (after the file)
    nics = ["vnet9"]                        # optional: extra interfaces with no wire

    [nodes.h1]
    kind = "linux"                          # a Linux kernel peer in a network namespace (root)
    routes = ["default via 10.0.9.1"]       # `ip route add` arguments, run in the namespace

    [[links]]
    endpoints = ["r1:vnet0", "r2:vnet0"]    # or:  links = [["r1:vnet0", "r2:vnet0"], ...]
    [[links]]
    endpoints = ["r1:vnet2", "h1:eth0"]     # stack to Linux: a TAP device in h1's namespace
    address = "10.0.9.2/24"                 # the Linux side's address

Links between two stacks are Ethernet over UDP on 127.0.0.1 (`--nic NAME=vxlan:VNI,
LOCAL:PORT,REMOTE:PORT`); the lab picks each link's VNI and free ports when it starts.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field

KINDS = ("plebnet", "linux")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")


class TopologyError(ValueError):
    """The topology file is not usable: the message names the file and the problem."""


@dataclass
class Node:
    name: str
    kind: str = "plebnet"
    rc: list[str] = field(default_factory=list)         # absolute paths
    config: list[str] = field(default_factory=list)     # inline rc.conf lines
    nics: list[str] = field(default_factory=list)       # extra unwired interfaces
    routes: list[str] = field(default_factory=list)     # linux peers: `ip route add` args
    state: bool = False                                 # plebnet: keep a --state directory


@dataclass
class Link:
    a: tuple[str, str]          # (node, interface)
    b: tuple[str, str]
    address: str | None = None  # the Linux side's address, on a stack-to-Linux link

    def ends(self):
        return (self.a, self.b)


@dataclass
class Topology:
    name: str
    nodes: dict[str, Node]
    links: list[Link]
    path: str | None = None

    def stacks(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "plebnet"]

    def peers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "linux"]

    def links_of(self, node: str) -> list[tuple[str, Link]]:
        """(this node's interface, link) for each link of `node`."""
        out = []
        for link in self.links:
            for (n, ifname) in link.ends():
                if n == node:
                    out.append((ifname, link))
        return out

    def dot(self) -> str:
        """The topology as a Graphviz graph: nodes by kind, links labelled by interfaces."""
        lines = [f'graph "{self.name}" {{', '  node [shape=box, style=rounded];']
        for node in self.nodes.values():
            shape = "ellipse" if node.kind == "linux" else "box"
            lines.append(f'  "{node.name}" [shape={shape}, label="{node.name}\\n{node.kind}"];')
        for link in self.links:
            (na, ia), (nb, ib) = link.a, link.b
            lines.append(f'  "{na}" -- "{nb}" [taillabel="{ia}", headlabel="{ib}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def load_topology(path: str) -> Topology:
    """Read and check a topology file."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise TopologyError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: {exc}") from None
    return topology_from_dict(doc, path)


def topology_from_dict(doc: dict, path: str | None = None) -> Topology:
    """A Topology from the parsed document (path: where relative rc files are found)."""
    where = path or "<topology>"
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()

    def bad(msg):
        raise TopologyError(f"{where}: {msg}")

    unknown = set(doc) - {"name", "nodes", "links"}
    if unknown:
        bad(f"unknown key(s) {', '.join(sorted(unknown))}")
    name = doc.get("name") or (os.path.splitext(os.path.basename(path))[0] if path else "lab")
    if not isinstance(name, str) or not _NAME.match(name):
        bad(f"lab name {name!r} must be a letter then up to 31 letters, digits, - or _")
    nodes: dict[str, Node] = {}
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        bad("no [nodes]")
    for nname, spec in raw_nodes.items():
        if not _NAME.match(nname):
            bad(f"node name {nname!r} must be a letter then letters, digits, - or _")
        if not isinstance(spec, dict):
            bad(f"nodes.{nname} must be a table")
        extra = set(spec) - {"kind", "rc", "config", "nics", "routes", "state"}
        if extra:
            bad(f"nodes.{nname}: unknown key(s) {', '.join(sorted(extra))}")
        kind = spec.get("kind", "plebnet")
        if kind not in KINDS:
            bad(f"nodes.{nname}.kind must be one of {', '.join(KINDS)}")
        rc = spec.get("rc", [])
        rc = [rc] if isinstance(rc, str) else rc
        config = spec.get("config", [])
        config = config.splitlines() if isinstance(config, str) else config
        for key, value in (("rc", rc), ("config", config), ("nics", spec.get("nics", [])),
                           ("routes", spec.get("routes", []))):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad(f"nodes.{nname}.{key} must be a string or a list of strings")
        if kind == "linux" and (rc or config or spec.get("nics") or spec.get("state")):
            bad(f"nodes.{nname}: a linux node takes only routes (its address is on the link)")
        rc_paths = [p if os.path.isabs(p) else os.path.join(base, p) for p in rc]
        for p in rc_paths:
            if not os.path.isfile(p):
                bad(f"nodes.{nname}.rc: no file {p}")
        nodes[nname] = Node(nname, kind, rc_paths, list(config), list(spec.get("nics", [])),
                            list(spec.get("routes", [])), bool(spec.get("state", False)))
    links: list[Link] = []
    used: set[tuple[str, str]] = set()
    for i, raw in enumerate(doc.get("links", [])):
        address = None
        if isinstance(raw, dict):
            extra = set(raw) - {"endpoints", "address"}
            if extra:
                bad(f"links[{i}]: unknown key(s) {', '.join(sorted(extra))}")
            address = raw.get("address")
            raw = raw.get("endpoints")
        if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(e, str) for e in raw):
            bad(f"links[{i}] must be two \"node:interface\" endpoints")
        ends = []
        for end in raw:
            node, sep, ifname = end.partition(":")
            if not sep or node not in nodes:
                bad(f"links[{i}]: {end!r} is not \"node:interface\" of a declared node")
            if not _IFNAME.match(ifname):
                bad(f"links[{i}]: bad interface name {ifname!r}")
            if (node, ifname) in used or ifname in nodes[node].nics:
                bad(f"links[{i}]: {end} is already used")
            used.add((node, ifname))
            ends.append((node, ifname))
        kinds = sorted(nodes[n].kind for n, _ in ends)
        if kinds == ["linux", "linux"]:
            bad(f"links[{i}]: a link needs a plebnet end (Linux peers hang off stacks)")
        if ends[0][0] == ends[1][0]:
            bad(f"links[{i}]: both ends on node {ends[0][0]}")
        if "linux" in kinds:
            if not address:
                bad(f"links[{i}]: a link to a linux node needs the Linux side's address")
            if nodes[ends[0][0]].kind == "linux":   # the stack end first
                ends.reverse()
        elif address:
            bad(f"links[{i}]: address is for the Linux side of a stack-to-Linux link")
        links.append(Link(ends[0], ends[1], address))
    for node in nodes.values():
        if node.kind == "linux" and sum(1 for link in links if link.b[0] == node.name) != 1:
            bad(f"nodes.{node.name}: a linux node has exactly one link")
    return Topology(name, nodes, links, path)
