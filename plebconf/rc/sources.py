"""Sources: rc.conf files and batch-file text, compiled into programs.

    program = rc_program(files, live_interfaces, created_as)  # rc.conf files -> RcProgram
    program = batch_program(text, name, progress)    # command lines -> BatchProgram
"""
from __future__ import annotations

from plebproto.constants import ALL_ERRNOS, EEXIST

from .parser import parse_files
from .plan import plan
from .programs import BatchProgram, Program, RcProgram

__all__ = ["read_rc_files", "rc_program", "batch_program", "ALL_ERRNOS"]


def read_rc_files(files: list[str]):
    """parse_files for files named on a command line: an unreadable one is an error here."""
    for path in files:
        with open(path):        # OSError names the file
            pass
    return parse_files(files)


def rc_program(files: list[str], live_interfaces: list[str], created_as=None) -> Program:
    """The rc.d network start for rc.conf files on a stack with these interfaces
    (`ifconfig -l` order; created_as: plan()'s, live name -> name as created).  Raises
    OSError / RcSyntaxError for files that cannot be read.
    program.warnings: the plan's warnings, then the tools' own.

    Applying an rc.conf again is not an error: a route it adds that is already in the table
    (EEXIST, FreeBSD's "route already in table", which rc.d/routing reports and ignores) is
    tolerated; addresses, flags, MTUs, descriptions and `arp -S` simply set again, cloned
    interfaces that exist are not created, and a bridge member already on its bridge
    (BRDGADD's EEXIST: if_bridge.c answers EBUSY for another bridge's) stays as it is.  On
    FreeBSD that `addm` makes ifconfig exit (ifbridge.c: err(1, "BRDGADD %s")) and rc go
    on with the next command; here the rest of the line still applies, so applying again
    converges on the file.  The plan's implicit routes tolerate any failure, as at every
    FreeBSD boot."""
    rcvars = read_rc_files(files)
    p = plan(rcvars, live_interfaces, created_as=created_as)
    program = RcProgram()
    program.warnings.extend(p.warnings)
    for step in p.steps:
        tolerate = ALL_ERRNOS if step.tolerate_error else (
            [EEXIST] if step.argv[:2] == ["route", "add"] else None)
        if step.argv[:2] == ["route", "add"] and not step.tolerate_error:
            program.routing[program.units] = step.var
        program.add(step.argv, f"{step.file}:{step.line}: {step.var}: ", tolerate,
                    _member_again if step.argv[:1] == ["ifconfig"] else None)
    program.steps = p.steps
    return program


def _member_again(entry: list) -> list | None:
    """A BRDGADD op tolerates EEXIST: the interface is a member of this bridge already."""
    if entry[0] == "ioctl" and entry[1].get("req") == "BRDGADD":
        return [EEXIST]
    return None


def batch_program(text: str, name: str, progress=None) -> BatchProgram:
    return BatchProgram(text, name).compile_all(progress)
