"""`plebconf rc`: rc.conf against a running stack.

    plebconf -p PID rc apply FILE... [--dry-run] [--keep-going]
    plebconf -p PID rc diff FILE...      exit 0: the stack matches, 1: applying would change it
    plebconf -p PID rc save              the running configuration as rc.conf

apply: planned and compiled like at boot (plebconf.rc.apply), sent as one atomic batch; an
error names file:line, the variable, the command and the tool's message, and the stack is
unchanged.  --keep-going applies what works (each failing command reported, exit 1).
--dry-run prints the command lines in the order they would run, and changes nothing.
diff: applies the files to an in-process copy of the stack (its interfaces, then its running
configuration) and prints the configuration items that would go (-) and come (+).
"""
from __future__ import annotations

import sys

import click

from plebconf.rc.apply import client_sender, command_line, execute, rc_program
from plebconf.rc.parser import RcSyntaxError

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))


def _program(client, files):
    try:
        program = rc_program(list(files), list(client.server.get("interfaces", [])))
    except OSError as exc:
        _die(f"rc: {exc.filename}: {exc.strerror}")
    except RcSyntaxError as exc:
        _die(f"rc: {exc}")
    for warning in program.warnings:
        sys.stderr.write(f"rc: WARNING: {warning}\n")
    return program


def _die(message: str, status: int = 1):
    sys.stderr.write(message + "\n")
    sys.exit(status)


@click.group("rc", context_settings={"help_option_names": ["-h", "--help"]})
def command():
    """rc.conf(5): apply it, compare it with the stack, write the stack's as one."""


@command.command("apply")
@FILES
@click.option("-n", "--dry-run", is_flag=True, help="Print the commands; change nothing.")
@click.option("-k", "--keep-going", is_flag=True,
              help="Apply what works, report each failing command (exit 1 if any).")
@click.pass_obj
def apply_command(obj, files, dry_run, keep_going):
    """Apply rc.conf FILES (one atomic batch unless --keep-going)."""
    client = obj.client
    program = _program(client, files)
    if dry_run:
        refused = dict(program.failures)
        for unit in range(program.unit_count):
            if unit in refused:
                sys.stderr.write(f"{program.describe(unit)}: {refused[unit]}\n")
            else:
                print(command_line(program.argv(unit)))
        sys.exit(1 if refused else 0)
    errors = execute(program, client_sender(client), keep_going)
    for error in errors:
        sys.stderr.write(error + "\n")
    if errors and not keep_going:
        sys.stderr.write("rc: nothing applied; the stack is unchanged\n")
    sys.exit(1 if errors else 0)


@command.command("diff")
@FILES
@click.pass_obj
def diff_command(obj, files):
    """Show what applying FILES would change (exit 1 if anything)."""
    from plebconf.rc.running import DiffError, client_call, diff
    client = obj.client
    try:
        changes, notes = diff(list(files), client_call(client))
    except OSError as exc:
        _die(f"rc: {exc.filename}: {exc.strerror}", 2)
    except RcSyntaxError as exc:
        _die(f"rc: {exc}", 2)
    except DiffError as exc:
        _die("\n".join(exc.errors + ["rc: the files cannot be applied; no diff"]), 2)
    for note in notes:
        sys.stderr.write(f"rc: WARNING: {note}\n")
    if not changes:
        sys.exit(0)
    print(f"--- running (pid {client.server.get('pid')})")
    print(f"+++ after rc apply {' '.join(files)}")
    for line in changes:
        print(line)
    sys.exit(1)


@command.command("save")
@click.pass_obj
def save_command(obj):
    """Print the running configuration as rc.conf."""
    from plebconf.rc.running import client_call, running_config
    from plebconf.rc.save import save
    sys.stdout.write(save(running_config(client_call(obj.client))))
