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
(all of its ops or none), failing units are reported and skipped, the others applied.  It is
one keep-going batch (protocol: batch "keep_going", with each unit's number of entries), so
the stack skips the failing units in one pass: `send.keep_going(entries, units)` returns the
failures as [op index, errno, msg].
"""
from __future__ import annotations

from bisect import bisect_right
import os
import time

from plebproto.errors import OpError

from .programs import Program

__all__ = ["execute", "client_sender", "keep_going_sender", "wait_for_lease", "NO_LEASE",
           "sync_dhcp_timeout"]

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
