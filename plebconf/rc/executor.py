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
(all of its ops or none), failing units are reported and skipped, the others applied.
"""
from __future__ import annotations

from plebproto.errors import OpError

from .programs import Program

__all__ = ["execute", "client_sender", "KEEP_GOING_WINDOW"]

KEEP_GOING_WINDOW = 4096                # units per batch in keep-going mode


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
    todo = program.unit_entries()
    for start in range(0, len(todo), KEEP_GOING_WINDOW):
        window = todo[start:start + KEEP_GOING_WINDOW]
        while window:
            flat, owner = [], []
            for i, (unit, entries) in enumerate(window):
                flat.extend(entries)
                owner.extend([i] * len(entries))
            if not flat:
                break
            try:
                send(flat)
                break
            except OpError as f:
                i = owner[f.index]
                unit, entries = window[i]
                first = owner.index(i)
                failed[unit] = program.failure_text(unit, f.index - first, f.errno)
                if i:           # what came before it applies on its own (it just did)
                    send([e for _, es in window[:i] for e in es])
                window = window[i + 1:]
    return [failed[u] for u in sorted(failed)]


def client_sender(client):
    """send() applying through a control-socket Client."""
    def send(entries):
        try:
            return client.batch(entries)
        except OpError as exc:
            raise exc.at(exc.index or 0) from None
    return send
