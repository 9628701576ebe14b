"""Boot-time rc.conf: `plebnet --rc FILE` (repeatable) or PLEBNET_RC=FILE.

The files are planned against the stack's interfaces (the --nic ones and lo0), compiled to
batch entries by the tools' grammars (plebconf.rc.apply) and applied in the stack process
through Syscalls.run_batch, before the control socket exists: nobody can see a half
configured stack.  Atomic by default: a failure leaves the stack as it was and plebnet exits
with status 65 (EX_DATAERR; 66, EX_NOINPUT, for a file it cannot read) and the error, before
printing its ready line.  --keep-going: FreeBSD's rc behaviour, every failing command
reported on stderr, everything else applied, the stack starts.  Plan and tool warnings go to stderr as `plebnet: WARNING: ...`.
"""
from __future__ import annotations

import sys

from plebconf.rc.apply import execute, rc_program, syscalls_sender
from plebconf.rc.parser import RcSyntaxError


def run_rc(proc, files: list[str], keep_going: bool = False) -> None:
    from .main import EX_DATAERR, EX_NOINPUT, _fail
    live = [ifp.name for ifp in proc.stack.ifaces]
    try:
        program = rc_program(files, live)
    except OSError as exc:
        _fail(f"plebnet: {exc.filename}: {exc.strerror}", EX_NOINPUT)
    except RcSyntaxError as exc:
        _fail(f"plebnet: {exc}", EX_DATAERR)
    for warning in program.warnings:
        print(f"plebnet: WARNING: {warning}", file=sys.stderr)
    errors = execute(program, syscalls_sender(proc.syscalls), keep_going)
    if not errors:
        return
    lines = [f"plebnet: {e}" for e in errors]
    if keep_going:
        print("\n".join(lines), file=sys.stderr, flush=True)
        return
    _fail("\n".join(lines + ["plebnet: rc.conf not applied; not starting"]), EX_DATAERR)
