"""Executing a program: all of it as one atomic batch, or unit by unit (keep-going).

    errors = execute(program, send, keep_going=False)   # [] when everything applied
    send = client_sender(client)                        # over a stack's control socket
    wait_for_lease(call, ifname, timeout) -> True | False | None   # SYNCDHCP's wait

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

import os
import time

from plebproto.errors import OpError

from .programs import Program

__all__ = ["execute", "client_sender", "KEEP_GOING_WINDOW", "wait_for_lease", "NO_LEASE",
           "sync_dhcp_timeout"]

KEEP_GOING_WINDOW = 4096                # units per batch in keep-going mode
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
