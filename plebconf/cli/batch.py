"""`plebconf batch FILE|-`: many ifconfig/route/arp command lines as one atomic batch.

One command per line (also `ndp -s`, `sysctl name=value`, `hostname NAME`), sh quoting;
comments (#) and blank lines are skipped.  Atomic by default: any error (cited as
FILE:LINE: command: the tool's message) leaves the stack unchanged.  --keep-going is
`ip -batch -force`: failing lines are reported, the others applied, exit status 1.
Quiet on success, like `ip -batch`.  A progress bar (rich) goes to stderr when it is a
terminal and the file is long.
"""
from __future__ import annotations

import sys

import click

from plebconf.rc.apply import Program, client_sender, execute

PROGRESS_LINES = 100_000        # files at least this long get a progress bar (on a tty)
CHUNK = 50_000


@click.command("batch", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-k", "--keep-going", "--force", "keep_going", is_flag=True,
              help="Apply what works, report each failing line (exit 1 if any).")
@click.pass_obj
def command(obj, file, keep_going):
    """Apply the command lines of FILE (- for stdin) as one atomic batch."""
    try:
        if file == "-":
            text, name = sys.stdin.read(), "<stdin>"
        else:
            with open(file) as f:
                text, name = f.read(), file
    except OSError as exc:
        sys.stderr.write(f"batch: {file}: {exc.strerror}\n")
        sys.exit(1)
    lines = text.split("\n")
    client = obj.client
    program = Program()
    if len(lines) >= PROGRESS_LINES and sys.stderr.isatty():
        errors = _with_progress(program, lines, name, client, keep_going)
    else:
        program.add_batch_lines(lines, name)
        errors = execute(program, client_sender(client), keep_going)
    for warning in program.warnings:
        sys.stderr.write(f"batch: WARNING: {warning}\n")
    for error in errors:
        sys.stderr.write(error + "\n")
    if errors and not keep_going:
        sys.stderr.write("batch: nothing applied; the stack is unchanged\n")
    sys.exit(1 if errors else 0)


def _with_progress(program, lines, name, client, keep_going):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"
               "/{task.total:,} lines"), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("compiling", total=len(lines))
        for start in range(0, len(lines), CHUNK):
            program.add_batch_lines(lines[start:start + CHUNK], name, start + 1)
            progress.update(task, completed=min(start + CHUNK, len(lines)))
        progress.update(task, description="applying")
        return execute(program, client_sender(client), keep_going)


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True)
