"""The sysctl family: dotted names read and set in the stack's sysctl map, counter sets
(read whole, zeroed by a write), read-only gauges
computed when read, and the dump names (NET_RT_DUMP, NET_RT_FLAGS, NET_RT_IFLIST) handed to
dumps.py."""
from __future__ import annotations

from plebproto.constants import EPERM
from plebproto.errors import OpError

from .args import arg


class SysctlOps:
    """The sysctl handler, for a class with self.stack, self.dumps and self.gauges
    (Syscalls)."""

    dumps: dict
    gauges: dict
    counters: dict

    def sysctl_sets(self, args) -> bool:
        """Whether a sysctl request changes the stack: a dotted name with a "value"."""
        name = args.get("name")     # any msgpack value: a list is not hashable
        return not (isinstance(name, str) and name in self.dumps) and "value" in args

    def sysctl(self, args):
        name = arg(args, "name", str)
        dump = self.dumps.get(name)
        if dump is not None:
            return dump(args)
        counters = self.counters.get(name)
        if counters is not None:
            return counters("value" in args)
        gauge = self.gauges.get(name)
        if gauge is not None:
            if "value" in args:
                raise OpError(EPERM, f"oid '{name}' is read-only")
            return gauge()
        if "value" in args:
            self.stack.sysctl_set(name, args["value"])
        if name not in self.stack.sysctl:
            raise OpError(2, f"unknown oid '{name}'")
        return self.stack.sysctl[name]
