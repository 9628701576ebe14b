"""`plebconf batch [-k|--keep-going] FILE|-`: many command lines as one atomic batch.

One ifconfig/route/arp command per line (also `ndp -s`, `sysctl name=value`, `hostname NAME`),
sh quoting; comments (#) and blank lines are skipped.  Atomic by default: any error (cited as
FILE:LINE: command: the tool's message) leaves the stack unchanged.  --keep-going (alias
--force) is `ip -batch -force`: failing lines are reported, the others applied, exit 1.
Quiet on success, like `ip -batch`, but for what a tool says while its line is applied and
goes on (ifconfig's `tunnel`, `laggport` that the stack refuses: FreeBSD's warn()), printed
as a failure is, FILE:LINE: command: ifconfig's warning, in line order with the failures;
the exit status is then the tool's (1 for a laggport that could not join, 0 for a tunnel;
docs/freebsd-tools.md §5.9).  A progress bar (rich, imported only then) goes to
stderr when stderr is a terminal and the file is long.  It waits as long as the stack works
on the batch (the stack says so every second); a stack that stops answering, or goes away,
gets one line on stderr and exit status 69 (EX_UNAVAILABLE).
"""
from __future__ import annotations

import os
import sys

from .common import tool_command

USAGE = "usage: plebconf batch [-k|--keep-going] file|-"
PROGRESS_LINES = 100_000        # files at least this long get a progress bar (on a tty)


@tool_command("batch")
def command(ctx, args) -> int:
    """Apply the command lines of a file (- for stdin) as one atomic batch."""
    keep_going, files = False, []
    for word in args:
        if word in ("-k", "--keep-going", "--force", "-force"):
            keep_going = True
        elif word in ("-h", "--help"):
            sys.stdout.write(USAGE + "\n")
            return 0
        elif word.startswith("-") and word != "-":
            sys.stderr.write(f"batch: unknown option {word}\n{USAGE}\n")
            return 64
        else:
            files.append(word)
    if len(files) != 1:
        sys.stderr.write(USAGE + "\n")
        return 64
    file = files[0]
    try:
        if file == "-":
            text, name = sys.stdin.read(), "<stdin>"
        else:
            with open(file) as f:
                text, name = f.read(), file
    except OSError as exc:
        sys.stderr.write(f"batch: {file}: {exc.strerror}\n")
        return 1
    from plebconf.rc.apply import BatchProgram, client_sender, execute
    from plebconf.rpc.client import ConnectError
    program = BatchProgram(text, name, parallel=True)
    try:
        if program.line_count >= PROGRESS_LINES and sys.stderr.isatty():
            # (no second process beside the progress bar's thread: a fork copies only
            # the thread that calls it)
            program.parallel = False
            outcome = _with_progress(program, client_sender(ctx.client), keep_going)
        else:
            program.compile_all()
            outcome = execute(program, client_sender(ctx.client), keep_going)
    except (ConnectError, OSError) as exc:      # TimeoutError among them
        sys.stderr.write(f"batch: {exc or 'stack not answering'}\n")
        return 69
    for warning in program.warnings:
        sys.stderr.write(f"batch: WARNING: {warning}\n")
    # the failing lines and the tools' warnings of the lines applied, in line order
    sys.stderr.write("".join(line + "\n" for line in outcome.lines))
    if outcome.errors and not keep_going:
        sys.stderr.write("batch: nothing applied; the stack is unchanged\n")
    status = outcome.status
    if program.line_count >= PROGRESS_LINES:
        # all is said: leave now rather than have the interpreter free a million lines'
        # strings one by one on the way out (a tenth of a million-line run)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _with_progress(program, send, keep_going):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from plebconf.rc.apply import execute
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,} lines"), TimeElapsedColumn(),
                  # the real stderr: the bar's own control sequences must reach the
                  # terminal unescaped (common.sanitise_terminal)
                  transient=True, console=Console(file=sys.__stderr__)) as progress:
        task = progress.add_task("compiling", total=program.line_count)
        program.compile_all(lambda done: progress.update(task, completed=done))
        progress.update(task, description="applying")
        return execute(program, send, keep_going)
