"""Boot-time rc.conf: `plebnet --rc FILE` (repeatable) or PLEBNET_RC=FILE.

The files are planned against the stack's interfaces (the --nic ones and lo0), compiled to
batch entries by the tools' grammars (plebconf.rc.apply) and applied in the stack process
through Syscalls.run_batch, before the control socket exists: nobody can see a half
configured stack.  Atomic by default: a failure leaves the stack as it was and plebnet exits
with status 65 (EX_DATAERR; 66, EX_NOINPUT, for a file it cannot read) and the error, before
printing its ready line.  --keep-going: FreeBSD's rc behaviour, every failing command
reported on stderr, everything else applied, the stack starts.  Plan and tool warnings go to
stderr as `plebnet: WARNING: ...`; with --strict any warning refuses the files (status 65).
What a tool says while its command is applied and goes on (ifconfig's tunnel and laggport
refused by the stack: FreeBSD's warn(), which rc.d/netif's console shows as the boot goes
on) is printed as `plebnet: FILE:LINE: VAR: COMMAND: ifconfig: ...`, and the stack starts.

This is the one place the stack uses plebconf: the pure rc executor, given a sender that
applies in this process (Syscalls.run_batch raises OpError with .index, as the executor's
senders do); the executor never imports the stack.
"""
from __future__ import annotations

import sys

from plebconf.rc.apply import execute, rc_program
from plebconf.rc.executor import keep_going_sender, sync_dhcp_timeout
from plebconf.rc.parser import RcSyntaxError

from .sysexits import EX_DATAERR, EX_NOINPUT


class RcBootError(Exception):
    """rc.conf could not be applied at boot: the message is plebnet's stderr text, status its
    exit status, and the stack must not start."""

    def __init__(self, message: str, status: int = EX_DATAERR):
        super().__init__(message)
        self.status = status


def run_rc(proc, files: list[str], keep_going: bool = False, strict: bool = False) -> None:
    """Apply rc.conf files to proc's stack; RcBootError when it must not start."""
    live = [ifp.name for ifp in proc.stack.ifaces]
    try:
        program = rc_program(files, live)
    except OSError as exc:
        raise RcBootError(f"plebnet: {exc.filename}: {exc.strerror}", EX_NOINPUT) from None
    except RcSyntaxError as exc:
        raise RcBootError(f"plebnet: {exc}") from None
    for warning in program.warnings:
        print(f"plebnet: WARNING: {warning}", file=sys.stderr)
    if strict and program.warnings:     # --strict: what is not modelled refuses the files
        n = len(program.warnings)
        raise RcBootError(f"plebnet: --strict: {n} warning{'s' if n != 1 else ''} above; "
                          "rc.conf not applied; not starting")
    # SYNCDHCP: rc.d/dhclient's dhclient waits for its lease (dhclient.conf's timeout)
    # before rc goes on (to the routing section): the program is applied in parts, cut
    # after each foreground dhclient
    dhcp = getattr(proc.dataplane, "dhcp", None)
    stages = program.stages() if keep_going or not program.failures else [(program, None)]
    errors: list[str] = []
    for part, lease_of in stages:
        outcome = execute(part, keep_going_sender(proc.syscalls), keep_going)
        errors += outcome.errors
        if errors and not keep_going:
            break
        # what this part said, before the lease is waited for: the failures (keep-going)
        # and the tools' warnings (a tunnel, a laggport the stack refused), in order
        if outcome.lines:
            print("\n".join(f"plebnet: {line}" for line in outcome.lines), file=sys.stderr,
                  flush=True)
        if lease_of is not None and dhcp is not None:
            dhcp.wait_sync(sync_dhcp_timeout())
    if not errors or keep_going:
        return
    lines = [f"plebnet: {e}" for e in errors]
    hint = program.keep_going_hint(errors)
    if hint:
        lines.append(f"plebnet: {hint}")
    raise RcBootError("\n".join(lines + ["plebnet: rc.conf not applied; not starting"]))
