"""`plebconf rc`: rc.conf(5) against a running stack.

    plebconf -p PID rc apply [-n|--dry-run] [-k|--keep-going] [--strict] FILE...
    plebconf -p PID rc diff FILE...      exit 0: the stack matches, 1: applying would change it
    plebconf -p PID rc save              the running configuration as rc.conf

apply: planned and compiled as at boot (plebconf.rc.apply) and sent as one atomic batch; an
error names file:line, the variable, the command and the tool's message, and the stack is
unchanged.  --keep-going applies what works (each failing command reported, exit 1).
--dry-run prints the command lines in the order they would run and changes nothing; the
stack then applies them in a dry run (protocol: batch with "dry_run", rolled back) and what
would fail is reported as apply reports it (exit 1).
SYNCDHCP (`dhclient IF` in the foreground): as rc.d/dhclient, apply waits there for the lease
(at most dhclient.conf's timeout, 60 s; PLEBNET_DHCP_TIMEOUT sets another) before the rest
(the routing section) goes, printing dhclient's "No DHCPOFFERS received." when none came; the
file is then applied in parts, each atomic, cut after each such dhclient.  DHCP (`dhclient
-b`) does not wait.
diff: in one dry run the stack undoes its running configuration (back to a booted stack's,
for all that rc.conf sets), applies the files and reads the result; the configuration items
that `rc save` would write and the files do not give (-) and the files' that the stack lacks
(+) are printed (plebconf.rc.running.diff).
Warnings (the rc scripts' and the tools') go to stderr as `rc: WARNING: ...`; among them one
per variable the stack does not act on (pf, ipfw, natd, wireless, tunnels: rc/unmodelled.py).
--strict refuses files that give any warning: nothing is applied (exit 1, as a refused apply).
What a tool says while its command is applied and goes on (ifconfig's `tunnel` and
`laggport` that the stack refuses: FreeBSD's warn()) is printed as a failure is, in order
with them, `file:line: VAR: COMMAND: ifconfig: ...`; the rest is applied, and the exit
status is the tool's: 1 for a laggport that could not join, 0 for a tunnel
(docs/freebsd-tools.md §5.9).  A dry run says them too.
"""
from __future__ import annotations

import sys

from .common import tool_command

USAGE = ("usage: plebconf rc apply [-n|--dry-run] [-k|--keep-going] [--strict] file ...\n"
         "       plebconf rc diff file ...\n"
         "       plebconf rc save")
EX_USAGE = 64


def _usage(problem: str | None = None) -> int:
    if problem:
        sys.stderr.write(f"rc: {problem}\n")
    sys.stderr.write(USAGE + "\n")
    return EX_USAGE


class _Refused(Exception):
    def __init__(self, message: str, status: int = 1):
        self.message, self.status = message, status


def _program(client, files):
    from plebconf.rc.apply import rc_program
    from plebconf.rc.parser import RcSyntaxError
    # the names interfaces were created with: a renamed clone is not created again
    iflist = client.call("sysctl", {"name": "NET_RT_IFLIST"})
    live = [i["name"] for i in iflist]
    renamed = {i["name"]: i["dname"] for i in iflist if i.get("dname", i["name"]) != i["name"]}
    try:
        program = rc_program(files, live, renamed)
    except OSError as exc:
        raise _Refused(f"rc: {exc.filename}: {exc.strerror}") from None
    except RcSyntaxError as exc:
        raise _Refused(f"rc: {exc}") from None
    for warning in program.warnings:
        sys.stderr.write(f"rc: WARNING: {warning}\n")
    return program


@tool_command("rc")
def command(ctx, args) -> int:
    """rc.conf(5): apply it, compare it with the stack, write the stack's as one."""
    if not args or args[0] in ("-h", "--help"):
        return _usage() if not args else (sys.stdout.write(USAGE + "\n") and 0)
    sub, rest = args[0], args[1:]
    try:
        if sub == "apply":
            flags = {"dry_run": False, "keep_going": False, "strict": False}
            files = []
            for word in rest:
                if word in ("-n", "--dry-run"):
                    flags["dry_run"] = True
                elif word in ("-k", "--keep-going"):
                    flags["keep_going"] = True
                elif word == "--strict":
                    flags["strict"] = True
                elif word.startswith("-") and word != "-":
                    return _usage(f"unknown option {word}")
                else:
                    files.append(word)
            if not files:
                return _usage("apply needs at least one file")
            return apply(ctx, files, **flags)
        if sub == "diff":
            if not rest or any(w.startswith("-") for w in rest):
                return _usage("diff needs files (and no options)")
            return diff(ctx, rest)
        if sub == "save":
            if rest:
                return _usage("save takes no arguments")
            return save(ctx)
    except _Refused as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.status
    return _usage(f"unknown command {sub}")


def apply(ctx, files, dry_run=False, keep_going=False, strict=False) -> int:
    from plebconf.rc.apply import Outcome, client_sender, command_line, execute
    from plebconf.rc.executor import NO_LEASE, sync_dhcp_timeout, wait_for_lease
    from plebconf.rc.running import dry_run_sender
    client = ctx.client
    program = _program(client, files)
    if strict and program.warnings:
        sys.stderr.write(strict_refusal("rc", len(program.warnings)) + "\n")
        return 1
    if dry_run:
        refused = dict(program.failures)
        for unit in range(program.unit_count):
            if unit in refused:
                sys.stdout.flush()
                sys.stderr.write(f"{program.describe(unit)}: {refused[unit]}\n")
            else:
                sys.stdout.write(command_line(program.argv(unit)) + "\n")
        if refused:
            return 1
        # the stack says what would fail (and what would be warned about); keep-going's
        # retries need the state of the sends before them, which a dry run does not keep:
        # only the atomic form is asked
        outcome = Outcome([]) if keep_going else execute(program, dry_run_sender(client))
        sys.stdout.flush()
        sys.stderr.write("".join(line + "\n" for line in outcome.lines))
        hint = program.keep_going_hint(outcome.errors) if outcome.errors else None
        if hint:
            sys.stderr.write(f"rc: {hint}\n")
        return outcome.status
    if program.failures and not keep_going:       # refused before anything is sent
        stages = [(program, None)]
    else:
        stages = program.stages() if hasattr(program, "stages") else [(program, None)]
    status, waited = 0, None
    for part, lease_of in stages:
        outcome = execute(part, client_sender(client), keep_going)
        # failures and the tools' warnings (a tunnel, a laggport that failed), in order
        sys.stderr.write("".join(line + "\n" for line in outcome.lines))
        status = max(status, outcome.status)
        errors = outcome.errors
        if errors and not keep_going:
            hint = program.keep_going_hint(errors)
            if hint:
                sys.stderr.write(f"rc: {hint}\n")
            sys.stderr.write("rc: nothing applied; the stack is unchanged\n" if waited is None
                             else f"rc: applied up to dhclient {waited} (rc.d waits for its "
                             "lease there); the rest not applied\n")
            return 1
        if lease_of is not None:
            waited = lease_of
            if wait_for_lease(client.call, lease_of, sync_dhcp_timeout()) is False:
                sys.stderr.write("".join(line + "\n" for line in NO_LEASE))
    return status


def strict_refusal(prog: str, count: int) -> str:
    """--strict: what is said when the files gave warnings (they were printed before)."""
    return (f"{prog}: --strict: {count} warning{'s' if count != 1 else ''} above; "
            "nothing applied; the stack is unchanged")


def diff(ctx, files) -> int:
    from plebconf.rc.parser import RcSyntaxError
    from plebconf.rc.running import DiffError
    from plebconf.rc.running import diff as rc_diff
    client = ctx.client
    try:
        changes, notes = rc_diff(files, client)
    except OSError as exc:
        raise _Refused(f"rc: {exc.filename}: {exc.strerror}", 2) from None
    except RcSyntaxError as exc:
        raise _Refused(f"rc: {exc}", 2) from None
    except DiffError as exc:
        raise _Refused("\n".join(exc.errors + ["rc: the files cannot be applied; no diff"]),
                       2) from None
    for note in notes:
        sys.stderr.write(f"rc: WARNING: {note}\n")
    if not changes:
        return 0
    lines = [f"--- running (pid {client.server.get('pid')})",
             f"+++ after rc apply {' '.join(files)}", *changes]
    sys.stdout.write("\n".join(lines) + "\n")
    return 1


def save(ctx) -> int:
    from plebconf.rc.running import client_call, running_config
    from plebconf.rc.save import save as render
    sys.stdout.write(render(running_config(client_call(ctx.client))))
    return 0
