"""`plebconf lab ...`: labs from the shell (plebconf/cli hands `lab` over to this module).

    plebconf lab up FILE             start the topology's stacks; they keep running
    plebconf lab status [LAB]        nodes, pids, interfaces, alive or not
    plebconf lab exec [-l LAB] NODE TOOL [ARGS...]
                                     a plebconf tool against a node (a command, for a Linux peer)
    plebconf lab down [LAB]          stop everything, remove sockets, namespaces and files
    plebconf lab graph FILE          the topology as Graphviz dot
    plebconf lab list                the labs that are up

A lab's state lives in $PLEBLAB_DIR/<name> (default /tmp/pleblab-<uid>/<name>); LAB may be
left out when only one lab is up.
"""
from __future__ import annotations

import os
import sys

USAGE = """\
usage: plebconf lab up FILE
       plebconf lab status [LAB]
       plebconf lab exec [-l LAB] NODE TOOL [ARGS...]
       plebconf lab down [LAB]
       plebconf lab graph FILE
       plebconf lab list"""
EX_USAGE, EX_SOFTWARE, EX_UNAVAILABLE = 64, 70, 69


def _err(msg: str, status: int = 1) -> int:
    sys.stderr.write(f"lab: {msg}\n")
    return status


def _usage(msg: str | None = None) -> int:
    if msg:
        sys.stderr.write(f"lab: {msg}\n")
    sys.stderr.write(USAGE + "\n")
    return EX_USAGE


def _labs() -> list[str]:
    from .lab import labs_dir
    base = labs_dir()
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    return [n for n in names if os.path.exists(os.path.join(base, n, "lab.json"))]


def _pick(name: str | None):
    """The lab directory named, or the only one up."""
    from .lab import labs_dir
    labs = _labs()
    if name is None:
        if len(labs) != 1:
            raise LookupError("no lab is up" if not labs else
                              f"{len(labs)} labs are up ({' '.join(labs)}): name one")
        name = labs[0]
    elif name not in labs:
        raise LookupError(f"no lab {name!r} is up")
    return os.path.join(labs_dir(), name)


def cmd_up(args: list[str]) -> int:
    if len(args) != 1:
        return _usage()
    from .lab import Lab, LabError, labs_dir
    from .topology import TopologyError, load_topology
    try:
        topo = load_topology(args[0])
    except TopologyError as exc:
        return _err(str(exc))
    workdir = os.path.join(labs_dir(), topo.name)
    if os.path.exists(os.path.join(workdir, "lab.json")):
        return _err(f"lab {topo.name} is already up (plebconf lab down {topo.name})")
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    lab = Lab(topo, workdir=workdir)
    try:
        lab.up(detachable=True)
        lab.save()
        lab.detach()
    except (LabError, OSError) as exc:
        lab.down()
        _remove(workdir)
        return _err(str(exc))
    except BaseException:
        lab.down()
        _remove(workdir)
        raise
    print(f"lab {lab.name}: {len(lab.stacks)} stacks, {len(lab.peers)} Linux peers, "
          f"{len(topo.links)} links, ready in {lab.up_seconds:.2f} s")
    _print_nodes(lab)
    return 0


def _remove(workdir: str) -> None:
    import shutil
    shutil.rmtree(workdir, ignore_errors=True)


def _print_nodes(lab) -> None:
    from .lab import Peer
    print(f"{'NODE':<12} {'KIND':<8} {'PID':>7} {'STATE':<6} INTERFACES")
    for name, node in lab.nodes.items():
        if isinstance(node, Peer):
            print(f"{name:<12} {'linux':<8} {'-':>7} {'netns':<6} {node.netns}")
            continue
        state = "up" if node.running else "gone"
        nics = " ".join(f"{i}={b.split(',')[0]}" for i, b in lab.nics.get(name, {}).items())
        print(f"{name:<12} {'plebnet':<8} {node.pid:>7} {state:<6} {nics}")


def cmd_status(args: list[str]) -> int:
    if len(args) > 1:
        return _usage()
    from .lab import Lab
    try:
        lab = Lab.attach(_pick(args[0] if args else None))
    except LookupError as exc:
        return _err(exc.args[0])
    print(f"lab {lab.name}: sockets in {lab.sockdir}")
    _print_nodes(lab)
    return 0 if all(s.running for s in lab.stacks.values()) else 1


def cmd_exec(args: list[str]) -> int:
    name = None
    if args[:1] == ["-l"] or args[:1] == ["--lab"]:
        if len(args) < 2:
            return _usage()
        name, args = args[1], args[2:]
    if len(args) < 2:
        return _usage()
    from .lab import Lab, Peer
    try:
        lab = Lab.attach(_pick(name))
    except LookupError as exc:
        return _err(exc.args[0])
    node = lab.nodes.get(args[0])
    if node is None:
        return _err(f"lab {lab.name} has no node {args[0]!r}")
    sys.stdout.flush()
    if isinstance(node, Peer):
        os.execvp("ip", ["ip", "netns", "exec", node.netns, *args[1:]])
    if not node.running:
        return _err(f"{args[0]} (pid {node.pid}) is not running", EX_UNAVAILABLE)
    # the tool in this process, as `plebconf -p PID --sockdir DIR TOOL ...` would run it
    from plebconf.cli import main
    main(["-p", str(node.pid), "--sockdir", lab.sockdir, *args[1:]])
    return 0


def cmd_down(args: list[str]) -> int:
    if len(args) > 1:
        return _usage()
    from .lab import Lab
    try:
        workdir = _pick(args[0] if args else None)
    except LookupError as exc:
        return _err(exc.args[0])
    lab = Lab.attach(workdir)
    lab._own_workdir = True         # down removes it all: sockets, rc files, logs, lab.json
    lab.down()
    print(f"lab {lab.name}: down")
    return 0


def cmd_graph(args: list[str]) -> int:
    if len(args) != 1:
        return _usage()
    from .topology import TopologyError, load_topology
    try:
        sys.stdout.write(load_topology(args[0]).dot())
    except TopologyError as exc:
        return _err(str(exc))
    return 0


def cmd_list(args: list[str]) -> int:
    if args:
        return _usage()
    for name in _labs():
        print(name)
    return 0


COMMANDS = {"up": cmd_up, "status": cmd_status, "exec": cmd_exec, "down": cmd_down,
            "graph": cmd_graph, "list": cmd_list}


def main(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(__doc__.split("\n\n")[1] + "\n") if args else None
        return 0 if args else _usage()
    fn = COMMANDS.get(args[0])
    if fn is None:
        return _usage(f"unknown command {args[0]!r}")
    return fn(args[1:])
