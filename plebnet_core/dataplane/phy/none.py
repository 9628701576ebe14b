"""A device with no wire: an interface that exists (for configuration) but carries nothing."""
from __future__ import annotations

from .base import Device


class NullDevice(Device):
    kind = "none"

    def recv(self) -> bytes | None:
        return None

    def send(self, frame) -> None:
        self.stats.oqdrops += 1

    @property
    def dropped(self) -> int:
        return self.stats.oqdrops
