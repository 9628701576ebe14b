"""What the API hands back: tool runs, routes, ARP entries, ping and path results, as plain
dataclasses built from the tools' `--libxo json` documents and the RPC ping stream."""
from __future__ import annotations

from dataclasses import dataclass, field


class ToolFailed(Exception):
    """A tool exited non-zero where success was expected: the run is attached."""

    def __init__(self, result: "ToolResult"):
        super().__init__(f"{' '.join(result.argv)} exited {result.returncode}: "
                         f"{result.stderr.strip()}")
        self.result = result


@dataclass
class ToolResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> "ToolResult":
        if self.returncode:
            raise ToolFailed(self)
        return self


@dataclass(frozen=True)
class Route:
    """One line of `netstat -rn`."""
    destination: str
    gateway: str
    flags: str
    interface: str
    family: str = "Internet"

    @classmethod
    def from_json(cls, entry: dict, family: str) -> "Route":
        return cls(entry["destination"], entry["gateway"], entry["flags"],
                   entry.get("interface-name", ""), family)


@dataclass(frozen=True)
class ArpEntry:
    """One line of `arp -an`."""
    ip: str
    mac: str | None
    interface: str
    permanent: bool
    expires: int | None = None


@dataclass(frozen=True)
class RouteGet:
    """`route -n get DST`: the route a packet to DST takes (gateway None: on-link)."""
    target: str
    destination: str
    gateway: str | None
    interface: str
    flags: tuple[str, ...]


@dataclass
class PingResult:
    """One ping run: the replies (seq, from, ttl, time in ms) and the ICMP errors."""
    dst: str
    transmitted: int = 0
    received: int = 0
    replies: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)       # ICMP errors: from, type, code
    send_errnos: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.received > 0

    @property
    def loss(self) -> float:
        return 100.0 * (self.transmitted - self.received) / self.transmitted \
            if self.transmitted else 100.0

    @property
    def rtts(self) -> list[float]:
        return [r["time"] for r in self.replies if r.get("time") is not None]


@dataclass(frozen=True)
class Hop:
    """A hop of a path: the address that answered for it and the node that owns it."""
    ttl: int
    address: str | None
    node: str | None = None
