"""Apply command lines to a stack: rc.conf plans and batch files, atomic or best-effort.

    program = rc_program(files, live_interfaces)      # rc.conf files -> RcProgram
    program = batch_program(text, name)               # command lines -> BatchProgram
    outcome = execute(program, send, keep_going=False)  # Outcome: .errors ([] when all
                                                        # applied), .lines, .status
    program.warnings, program.failures (grammar refusals), program.argv(unit)

This module owns nothing but the names callers use; the executor is split by part, each
module depending only on the ones before it:

    command.py    one command line -> its tool's batch entries; the tool's error text
    shapes.py     lines of one shape compiled by substituting addresses into a template
    programs.py   Program / RcProgram / BatchProgram: units compiled, located, named
    executor.py   execute(): one atomic batch, or keep-going; client_sender
    sources.py    rc.conf files and batch-file text -> programs

`send(entries)` raises plebproto.errors.OpError with .index naming the failing op.  At boot
the stack process sends to its own Syscalls.run_batch: the stack imports this executor, the
executor never imports the stack.
"""
from __future__ import annotations

from .command import command_line, command_ops, error_text, tokenize
from .executor import Outcome, client_sender, execute
from .programs import BatchProgram, Program, RcProgram
from .shapes import shape
from .sources import ALL_ERRNOS, batch_program, rc_program, read_rc_files

__all__ = ["Program", "RcProgram", "BatchProgram", "execute", "Outcome", "rc_program",
           "batch_program", "read_rc_files", "command_ops", "command_line", "error_text",
           "shape", "tokenize", "client_sender", "ALL_ERRNOS"]
