"""Wire formats: struct-based parse/emit, one module per protocol, no I/O and no state.

Import the modules themselves (``from plebnet_core.dataplane.wire import ipv4``); parse functions
return small NamedTuples whose ``payload`` is a memoryview into the caller's buffer, emit functions
return bytes.  Every malformed input raises WireError.
"""
from .errors import WireError

__all__ = ["WireError"]
