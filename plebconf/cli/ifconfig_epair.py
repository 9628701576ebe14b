"""epair(4)'s part of ifconfig: no keywords of its own (if_epair.c has none), only that the
kernel answers `ifconfig epairN create` with the name epairNa, which ifconfig prints and the
words after the create configure (the create hook table of ifconfig_clone)."""
from __future__ import annotations

from .ifconfig_clone import CREATED_NAMES


def epair_name(name: str) -> str:
    unit = name[len("epair"):]
    return f"{name}a" if unit.isdigit() else name


CREATED_NAMES["epair"] = epair_name
