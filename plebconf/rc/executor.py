"""Executing a program: all of it as one atomic batch, or unit by unit (keep-going).

    outcome = execute(program, send, keep_going=False)  # .errors [] when all applied;
                                                        # .lines (with the tools' warnings)
    send = client_sender(client)                        # over a stack's control socket
    wait_for_lease(call, ifname, timeout) -> True | False | None   # SYNCDHCP's wait

`send(entries)` applies a list of batch entries all-or-nothing, returns their results and
raises plebproto.errors.OpError whose .index names the op that failed: Client.batch over the
socket (client_sender), or Syscalls.run_batch itself in the stack process at boot (the
stack imports this executor, never the other way round).

Atomic (default): grammar errors are reported before anything is sent; then the whole
program is one batch, so a failure leaves the stack unchanged.  Keep-going (FreeBSD's own
behaviour: rc.d runs every command and carries on): every unit is applied on its own terms
(all of its ops or none), failing units are reported and skipped, the others applied.  It is
one keep-going batch (protocol: batch "keep_going", with each unit's number of entries), so
the stack skips the failing units in one pass: `send.keep_going(entries, units)` returns
{"results": per op, "failed": [[op index, errno, msg], ...]}.

An op that only warns when it fails (ifconfig's tunnel and laggport) is sent tolerating the
errnos it warns about; its result is then {"errno", "msg"} (protocol: batch), from which
the tool's own Label words the warning (Outcome.lines), as the ifconfig tool does.
"""
from __future__ import annotations

from bisect import bisect_right
import os
import time

from plebproto.errors import OpError

from .programs import Program

__all__ = ["execute", "Outcome", "client_sender", "keep_going_sender", "wait_for_lease",
           "NO_LEASE", "sync_dhcp_timeout"]

SYNC_DHCP_TIMEOUT = 60.0    # dhclient.conf(5) `timeout`: then dhclient goes to the background
LEASE_POLL = 0.2            # how often the client's state is read while waiting
# what FreeBSD's dhclient says (state_panic) when its timeout passes without a lease, before
# it goes to the background and rc goes on
NO_LEASE = ("No DHCPOFFERS received.", "No working leases in persistent database - sleeping.")


def sync_dhcp_timeout() -> float:
    """dhclient.conf's timeout; PLEBNET_DHCP_TIMEOUT (seconds) sets another."""
    return float(os.environ.get("PLEBNET_DHCP_TIMEOUT") or SYNC_DHCP_TIMEOUT)


def wait_for_lease(call, ifname: str, timeout: float, clock=time.monotonic,
                   sleep=time.sleep) -> bool | None:
    """Wait, at most timeout seconds, until the stack's DHCP client on ifname is bound, as
    dhclient in the foreground does: True when bound, False when the time ran out, None
    when no client runs there (its start failed, or the interface went away)."""
    deadline = clock() + timeout
    while True:
        info = next((i for i in call("sysctl", {"name": "NET_RT_IFLIST"})
                     if i["name"] == ifname), None)
        dhcp = info.get("dhcp") if info else None
        if not dhcp:
            return None
        if dhcp.get("state") == "BOUND":
            return True
        left = deadline - clock()
        if left <= 0:
            return False
        sleep(min(LEASE_POLL, left))


class Outcome:
    """What applying a program said.

    errors  the failures, one line per failing unit, in unit order (empty: all applied)
    lines   what goes to stderr, in unit order: the failures and, for the units applied,
            the warnings of ops that failed and only warn (ifconfig's tunnel, laggport:
            Program.warning_text), each `WHERE: [VAR: ]COMMAND: the tool's line`
    status  1 when anything failed, else the highest exit status a warning leaves (the
            tool's own: a laggport that cannot join 1, a tunnel 0)"""
    __slots__ = ("errors", "lines", "status")

    def __init__(self, errors: list[str], lines: list[str] | None = None, status: int = 0):
        self.errors = errors
        self.lines = list(errors) if lines is None else lines
        self.status = 1 if errors else status

    def __repr__(self):
        return f"Outcome({self.errors!r}, {self.lines!r}, {self.status})"


def execute(program: Program, send, keep_going: bool = False) -> Outcome:
    """Apply the program; what failed, and what the tools warned about on the way."""
    refused = {u: f"{program.describe(u)}: {msg}" for u, msg in program.failures}
    if not keep_going:
        if refused:
            return Outcome([refused[u] for u in sorted(refused)])
        try:
            results = send(program.entries())
        except OpError as f:
            unit, op = program.locate(f.index)
            return Outcome([program.failure_text(unit, op, f.errno)])
        warned = _warnings(program, results, program.locate_all)
        return Outcome([], [line for unit in sorted(warned) for line in warned[unit][0]],
                       max((w[1] for w in warned.values()), default=0))
    failed = dict(refused)
    flat: list = []
    counts: list[int] = []
    starts: list[int] = []          # each unit's first op index
    owners: list[int] = []
    for unit, entries in program.unit_entries():
        starts.append(len(flat))
        owners.append(unit)
        counts.append(len(entries))
        flat.extend(entries)

    def locate(index: int) -> tuple[int, int]:
        k = bisect_right(starts, index) - 1
        while counts[k] == 0:       # (a unit of no ops starts where the next does)
            k += 1
        return owners[k], index - starts[k]

    warned: dict = {}
    if flat:
        answer = send.keep_going(flat, counts)
        for index, errno, _ in answer["failed"]:
            unit, op = locate(index)
            failed[unit] = program.failure_text(unit, op, errno)
        # (a failed unit's results are None: only the units applied can have warned)
        warned = _warnings(program, answer["results"], lambda indices: map(locate, indices))
    lines: list[str] = []
    for unit in sorted(failed.keys() | warned.keys()):
        lines.extend([failed[unit]] if unit in failed else warned[unit][0])
    return Outcome([failed[u] for u in sorted(failed)], lines,
                   max((w[1] for w in warned.values()), default=0))


def _warnings(program: Program, results: list, locate_all
              ) -> dict[int, tuple[list[str], int]]:
    """unit -> (its warnings in op order, the status they leave), for the tolerated
    failures among a batch's results that their tool warns about.  locate_all(indices) ->
    (unit, op within it) of each.  A batch of a million routes answers a None per op: told
    in one count; re-applied routes (EEXIST tolerated for rc) are placed in one pass and
    passed over without their grammar (Program.may_warn)."""
    warned: dict[int, tuple[list[str], int]] = {}
    if not results or results.count(None) == len(results):
        return warned
    failed = [i for i, result in enumerate(results)
              if type(result) is dict and "errno" in result]
    for index, (unit, op) in zip(failed, locate_all(failed)):
        said = program.warning_text(unit, op, results[index])
        if said is not None:
            lines, status = warned.get(unit, ([], 0))
            warned[unit] = (lines + [said[0]], max(status, said[1]))
    return warned


def client_sender(client):
    """send() applying through a control-socket Client."""
    def send(entries):
        try:
            return client.batch(entries)
        except OpError as exc:
            raise exc.at(exc.index or 0) from None
    send.keep_going = client.batch_keep_going      # type: ignore[attr-defined]
    return send


def keep_going_sender(syscalls):
    """send() applying in the stack process itself (rc.conf at boot): Syscalls.run_batch,
    and its keep-going form."""
    def send(entries):
        return syscalls.run_batch(entries)
    send.keep_going = lambda entries, units: (  # type: ignore[attr-defined]
        syscalls.run_batch_keep_going(entries, units)[0])
    return send
