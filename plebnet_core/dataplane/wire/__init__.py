"""Wire formats: struct-based parse/emit, one module per protocol, no I/O and no state.

Import the modules themselves (``from plebnet_core.dataplane.wire import ipv4``); parse functions
return small NamedTuples whose ``payload`` is a slice of the input (bytes for bytes input: copying
a packet-sized slice is cheaper in CPython than making a memoryview of it), emit functions return
bytes and accept any bytes-like payload.  Every malformed input raises WireError.
"""
from .errors import WireError

__all__ = ["WireError"]
