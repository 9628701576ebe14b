"""Executing a program: all of it as one atomic batch, or unit by unit (keep-going).

    errors = execute(program, send, keep_going=False)   # [] when everything applied
    send = client_sender(client)                        # over a stack's control socket

`send(entries)` applies a list of batch entries all-or-nothing and raises
plebproto.errors.OpError whose .index names the op that failed: Client.batch over the socket
(client_sender), or Syscalls.run_batch itself in the stack process at boot (the stack
imports this executor, never the other way round).

Atomic (default): grammar errors are reported before anything is sent; then the whole
program is one batch, so a failure leaves the stack unchanged.  Keep-going (FreeBSD's own
behaviour: rc.d runs every command and carries on): every unit is applied on its own terms
(all of its ops or none), failing units are reported and skipped, the others applied.  It is
one keep-going batch (protocol: batch "keep_going", with each unit's number of entries), so
the stack skips the failing units in one pass: `send.keep_going(entries, units)` returns the
failures as [op index, errno, msg].
"""
from __future__ import annotations

from bisect import bisect_right

from plebproto.errors import OpError

from .programs import Program

__all__ = ["execute", "client_sender", "keep_going_sender"]


def execute(program: Program, send, keep_going: bool = False) -> list[str]:
    """Apply the program; the messages of what failed (empty: all applied)."""
    refused = {u: f"{program.describe(u)}: {msg}" for u, msg in program.failures}
    if not keep_going:
        if refused:
            return [refused[u] for u in sorted(refused)]
        try:
            send(program.entries())
        except OpError as f:
            unit, op = program.locate(f.index)
            return [program.failure_text(unit, op, f.errno)]
        return []
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
    if flat:
        for index, errno, _ in send.keep_going(flat, counts):
            k = bisect_right(starts, index) - 1
            while counts[k] == 0:       # (a unit of no ops starts where the next does)
                k += 1
            unit = owners[k]
            failed[unit] = program.failure_text(unit, index - starts[k], errno)
    return [failed[u] for u in sorted(failed)]


def client_sender(client):
    """send() applying through a control-socket Client."""
    def send(entries):
        try:
            return client.batch(entries)
        except OpError as exc:
            raise exc.at(exc.index or 0) from None
    send.keep_going = lambda entries, units: client.batch_keep_going(entries,  # type: ignore
                                                                     units)["failed"]
    return send


def keep_going_sender(syscalls):
    """send() applying in the stack process itself (rc.conf at boot): Syscalls.run_batch,
    and its keep-going form."""
    def send(entries):
        return syscalls.run_batch(entries)
    send.keep_going = lambda entries, units: (  # type: ignore[attr-defined]
        syscalls.run_batch_keep_going(entries, units)[0]["failed"])
    return send
