"""pleblab: scripted tests of plebnet stacks, and labs of many stacks from one topology file.

The public API (docs/lab.md):
    Stack, start_stack          one stack as a context manager: tools, JSON, objects, RPC, events
    Lab, start_lab              the stacks (and Linux peers) of a topology file, up and down
    load_topology, Topology     topology files (TOML)
    reachability, assert_reachability, path, assert_path, assert_routes, assert_no_drift
    result objects              ToolResult, Route, ArpEntry, RouteGet, PingResult, Hop, Matrix
The pytest plugin (pleblab.pytest_plugin) is registered through the pytest11 entry point;
`plebconf lab ...` is pleblab.cli.
"""
from .checks import (Matrix, PathError, assert_no_drift, assert_path, assert_reachability,
                     assert_routes, path, ping_many, reachability)
from .lab import Lab, LabError, Peer, start_lab
from .results import ArpEntry, Hop, PingResult, Route, RouteGet, ToolFailed, ToolResult
from .stack import Stack, start_stack, stop_all
from .topology import Topology, TopologyError, load_topology, topology_from_dict

__all__ = ["Stack", "start_stack", "stop_all", "Lab", "LabError", "Peer", "start_lab",
           "Topology", "TopologyError", "load_topology", "topology_from_dict",
           "reachability", "assert_reachability", "ping_many", "path", "assert_path",
           "PathError", "assert_routes", "assert_no_drift", "Matrix",
           "ToolResult", "ToolFailed", "Route", "ArpEntry", "RouteGet", "PingResult", "Hop"]
