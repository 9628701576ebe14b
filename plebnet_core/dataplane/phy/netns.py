"""Entering a named network namespace (ip netns's /run/netns/NAME) for the calling thread.

Sockets, TAP devices and netlink sockets belong to the namespace of the thread that creates
them and stay there afterwards, so a device can be opened inside a namespace and then used from
the stack's thread in its own namespace.  Python 3.11 has no os.setns, hence ctypes.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def netns(name: str | None):
    """Run the block with the calling thread in network namespace `name` (None: stay put)."""
    if name is None:
        yield
        return
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad network namespace name {name!r}")
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_RUN_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)  # if this fails the thread is in the wrong namespace: let it raise
    finally:
        os.close(own)
