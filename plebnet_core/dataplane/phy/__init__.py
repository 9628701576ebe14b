"""Devices: each moves whole frames between the stack and the outside, without blocking.

Common interface (see base.Device): name, kind, linktype, stats, fileno(), attach(loop, cb),
detach(), recv() -> bytes | None, send(frame), close().
"""
from .base import LINKTYPE_ETHERNET, LINKTYPE_NULL, Device, DeviceStats
from .loopback import LoopbackDevice
from .none import NullDevice
from .pcap import PcapTap, PcapWriter
from .tap import TapDevice
from .vxlan import VxlanClone, VxlanDevice

__all__ = ["Device", "DeviceStats", "LINKTYPE_ETHERNET", "LINKTYPE_NULL", "LoopbackDevice",
           "NullDevice", "PcapTap", "PcapWriter", "TapDevice", "VxlanClone", "VxlanDevice"]
