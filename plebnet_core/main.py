"""`plebnet`: the stack process.

    plebnet [--nic NAME=BACKEND]... [--pcap IF=FILE]... [--rc FILE]... [--sockdir DIR]
            [--state DIR [--salvage]] [--read-group GROUP] [--daemon]

Backends (see plebnet_core/dataplane/plane.py):
    none
    tap:KNAME[,netns=NS][,addr=A/LEN][,down][,mtu=N]
    vxlan:VNI,LOCAL_ADDR:PORT,REMOTE_ADDR:PORT[,netns=NS]

Creates the NICs (in --nic order) and lo0 with their devices, runs the rc.conf files, opens the
control socket at
<sockdir>/<pid>, prints one ready line and serves until SIGTERM/SIGINT.  With --state, the
configuration saved there replaces the rc.conf files, and every change is saved before it is
acknowledged (plebnet_core/persist.py); a damaged journal stops the start unless --salvage.

Start-up failures are one `plebnet: ...` line (or several, for rc.conf errors), FreeBSD tool
style, and one sysexits(3) status per kind of failure (EX_* below; listed in README.md).
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import time

import click


from .loop import EventLoop
from .persist import Audit, Persist, PersistError
from .listener import StartupError, check_sockdir, sweep_stale_sockets
from .server import ControlServer
from plebproto.errors import OpError
from .dataplane.plane import DataPlane, open_backend
from .state.stack import IFNAMSIZ, Stack, new_hostuuid, stable_mac
from .syscalls import Syscalls
from .sysexits import (
    EX_CANTCREAT, EX_DATAERR, EX_IOERR, EX_NOUSER, EX_OSERR, EX_USAGE,
)

TICK = 0.5      # seconds between timed transitions (DAD, ARP expiry)

USAGE = ("usage: plebnet [--nic NAME=BACKEND]... [--rc FILE]... [--keep-going] [--strict] "
         "[--sockdir DIR]\n"
         "               [--state DIR [--salvage]] [--hostuuid UUID] [--read-group GROUP]\n"
         "               [--pcap IF=FILE]... [--daemon]")
SETTLE_SLICE = 16384    # prefixes placed in the lookup arrays per loop turn (tens of ms)


def ready_line(pid: int, path: str) -> str:
    return f"plebnet: ready pid {pid} socket {path}"


class StackProcess:
    """The stack, its loop and its control server, wired together."""

    def __init__(self, nics, sockdir: str, read_gid: int | None = None, pcaps=(),
                 state_dir: str | None = None, salvage: bool = False,
                 hostuuid: str | None = None):
        self.pid = os.getpid()
        self.loop = EventLoop()
        # the host uuid the MACs derive from, known before any interface is attached: given,
        # else kept in the state directory (FreeBSD's /etc/hostid), else a new one
        self.persist = Persist(state_dir, salvage=salvage) if state_dir else None
        if hostuuid is None and self.persist is not None:
            hostuuid = self.persist.hostuuid(new_hostuuid)
        self.stack = Stack(clock=self.loop.clock, pid=self.pid, hostuuid=hostuuid)
        self.syscalls = Syscalls(self.stack, self.pid, time.time())
        self.dataplane = DataPlane(self.stack, self.loop, self.pid, self.syscalls)
        try:
            with self.stack.transaction():
                for name, backend in nics:
                    self.attach_nic(name, backend)
                lo0 = self.stack.if_attach("lo0", "lo")
            self.dataplane.attach_loopback(lo0)
            for ifname, path in pcaps:
                self.dataplane.start_capture(ifname, os.path.abspath(path))
        except BaseException:
            self.dataplane.close()
            raise
        self.path = os.path.join(sockdir, str(self.pid))
        self.server = None
        self.read_gid = read_gid
        self.audit = Audit()
        self.syscalls.register("audit", self.audit.op, mutating=False)
        self.restored = False
        self._settling = False
        self._after_soon = False
        if self.persist is not None:
            try:
                self.restored = self.persist.restore(self.syscalls, self.audit)
            except BaseException:
                self.dataplane.close()
                raise
            self.audit.sink = self.persist.append

    def attach_nic(self, name: str, backend: str) -> None:
        try:
            device = open_backend(name, backend)
        except ValueError as exc:
            raise _Exit(f"--nic {name}={backend}: {exc}", EX_USAGE) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise _Exit(f"--nic {name}={backend}: {where}{exc.strerror or exc}",
                        EX_OSERR) from None
        try:
            ifp = self.stack.if_attach(name, "vnet", stable_mac(self.stack.hostuuid, name),
                                       params={"backend": backend})
        except BaseException:
            device.close()
            raise
        self.dataplane.attach(ifp, device)

    def serve(self) -> None:
        # Routes, addresses and entries live long and are acyclic: collect young objects
        # rarely, and never rescan what exists at boot.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        # handlers first: a SIGTERM right after the ready line must still shut down cleanly
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.loop.stop)
        if self.persist:
            self.persist.compact(self.stack, self.audit)   # what start-up built, saved
        for path in sweep_stale_sockets(os.path.dirname(self.path)):
            print(f"plebnet: removed {path}, the socket of a stack that is gone",
                  file=sys.stderr)
        self.server = ControlServer(self.loop, self.syscalls, self.path, self.read_gid,
                                    on_change=self._changed, on_refused=self._refused,
                                    barrier=self.persist)
        self._tick()
        self._settle_soon()         # behind routes the rc.conf or restored state filed

    def _changed(self, conn, changes) -> None:
        self.audit.changed_many(conn, changes)
        self._compact_soon()        # (before the reply's commit, as the change's record)
        if not self._after_soon:    # the rest runs once a loop turn, not once a change
            self._after_soon = True
            self.loop.call_soon(self._after_changes)

    def _after_changes(self) -> None:
        self._after_soon = False
        self.audit.flush()
        self._settle_soon()

    def _refused(self, conn, op, args, errno, msg) -> None:
        self.audit.refused(conn, op, args, errno, msg)
        self._compact_soon()        # refusals grow the journal too

    def _compact_soon(self) -> None:
        if self.persist and self.persist.due():
            self.loop.call_soon(self._compact)

    def _settle_soon(self) -> None:
        """Fill the lookup arrays behind a route run a slice per loop turn (RouteTable.
        settle): control requests and packets are served in between."""
        if not self._settling and self.stack.unsettled():
            self._settling = True
            self.loop.call_soon(self._settle)

    def _settle(self) -> None:
        self._settling = False
        self.stack.settle(SETTLE_SLICE)
        self._settle_soon()

    def _compact(self) -> None:
        if self.persist and self.persist.due():
            try:
                self.persist.compact(self.stack, self.audit)
            except PersistError as exc:
                # the journal still holds every change: keep serving, retry later
                print(f"plebnet: {exc}", file=sys.stderr)

    def _tick(self) -> None:
        # not while a batch's transaction is set aside between its slices: an entry or route
        # that batch made could expire under it, and its rollback would then undo a change
        # that is no longer there (the expiry waits for the batch's end, a few seconds)
        more = False
        if self.server is None or self.server.job is None:
            more = self.stack.tick(self.loop.clock())
        # (a mass expiry goes a tick's share per loop turn, the next one at once)
        self.loop.call_later(0 if more else TICK, self._tick)

    def run(self) -> None:
        try:
            self.loop.run()
        finally:
            self.close()

    def close(self) -> None:
        if self.server:
            self.server.close()
            self.server = None
        if self.persist:
            self.persist.close()
            self.persist = None
        self.dataplane.close()


def pairs(shape: str, names=None):
    """A click callback reading repeated NAME=VALUE options (shape names them in errors);
    names(name) says what is wrong with a NAME, if anything."""
    def parse(ctx, param, values):
        out = []
        for value in values:
            name, sep, rest = value.partition("=")
            if not sep or not name or not rest:
                raise click.BadParameter(f"'{value}' is not {shape}", ctx, param)
            problem = names(name) if names else None
            if problem:
                raise click.BadParameter(f"'{value}': {problem}", ctx, param)
            if names and name in (n for n, _ in out):
                raise click.BadParameter(f"'{value}': interface {name} already exists "
                                         "(if_rename: ifunit(new_name) != NULL, EEXIST)",
                                         ctx, param)
            out.append((name, rest))
        return out
    return parse


class _Exit(Exception):
    """A failed start: the message (without the "plebnet: " prefix) and the exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def nic_name_problem(name: str) -> str | None:
    """What FreeBSD would refuse in an interface name: more than IFNAMSIZ-1 bytes (the
    kernel takes names with copyinstr(..., IFNAMSIZ), ENAMETOOLONG beyond), a byte that is
    not a printable, non-blank ASCII character (a name must be one word of ifconfig's argv
    and of rc.conf's ifconfig_<name>), or lo0, which the stack attaches itself."""
    if len(name.encode()) > IFNAMSIZ - 1:
        return f"interface names have at most {IFNAMSIZ - 1} characters (IFNAMSIZ {IFNAMSIZ})"
    bad = [c for c in name if not "!" <= c <= "~"]
    if bad:
        return f"{bad[0]!r} cannot be in an interface name"
    if name == "lo0":
        return "interface lo0 already exists (the stack's loopback)"
    return None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nic", "nics", multiple=True, callback=pairs("NAME=BACKEND", nic_name_problem),
              metavar="NAME=BACKEND",
              help="Attach an Ethernet interface (backend: none, tap:KNAME[,netns=NS], "
                   "vxlan:VNI,LOCAL:PORT,REMOTE:PORT).")
@click.option("--pcap", "pcaps", multiple=True, callback=pairs("IF=FILE"), metavar="IF=FILE",
              help="Write a pcap of everything interface IF sends and receives.")
@click.option("--rc", "rc_files", multiple=True, envvar="PLEBNET_RC", metavar="FILE",
              type=click.Path(dir_okay=False), help="rc.conf file(s) to run at start.")
@click.option("--keep-going", is_flag=True, help="Apply what works of a failing rc.conf.")
@click.option("--strict", is_flag=True,
              help="Refuse an rc.conf that gives warnings (what the stack does not model).")
@click.option("--sockdir", envvar="PLEBNET_SOCKDIR", default="/tmp", show_default=True,
              type=click.Path(file_okay=False), help="Where the control socket lives.")
@click.option("--read-group", metavar="GROUP", help="Group whose members may read the stack.")
@click.option("--state", "state_dir", envvar="PLEBNET_STATE", metavar="DIR",
              type=click.Path(file_okay=False),
              help="Keep the configuration in DIR: restored at start, saved on every change.")
@click.option("--salvage", is_flag=True,
              help="With --state: start despite a damaged journal, after copying it and the "
                   "snapshot into DIR/salvage-TIME/; loads what precedes the damage.")
@click.option("--hostuuid", metavar="UUID",
              help="The host uuid interface MACs derive from (FreeBSD's kern.hostuuid, a "
                   "jail's host.hostuuid); default: kept in the --state DIR, else new.")
@click.option("--daemon", is_flag=True, help="Detach; print the pid once the socket accepts.")
def command(nics, pcaps, rc_files, keep_going, strict, sockdir, read_group, state_dir,
            salvage, hostuuid, daemon):
    """Run a plebnet user-level network stack."""
    read_gid = None
    if read_group:
        import grp
        try:
            read_gid = grp.getgrnam(read_group).gr_gid
        except KeyError:
            raise _Exit(f"--read-group {read_group}: no such group", EX_NOUSER) from None
    if salvage and not state_dir:
        raise _Exit("--salvage needs --state DIR", EX_USAGE)
    try:
        check_sockdir(sockdir, read_gid)
    except StartupError as exc:
        raise _Exit(str(exc), EX_CANTCREAT) from None
    if daemon:
        _daemonize()
    try:
        proc = StackProcess(nics, sockdir, read_gid, pcaps, state_dir, salvage, hostuuid)
        if rc_files and proc.restored:
            print(f"plebnet: configuration restored from {state_dir}; rc.conf not run",
                  file=sys.stderr)
        elif rc_files:
            # start-up time: the rc executor and the tools' grammars (a fifth of plebnet's
            # imports) load only when there is an rc.conf to apply
            from .boot import RcBootError, run_rc
            try:
                run_rc(proc, list(rc_files), keep_going, strict)
            except RcBootError as exc:
                _fail(str(exc), exc.status)
        proc.serve()
    except _Exit as exc:
        _fail(f"plebnet: {exc}", exc.status)
    except StartupError as exc:
        _fail(f"plebnet: {exc}", EX_CANTCREAT)
    except PersistError as exc:
        _fail(f"plebnet: {exc}", EX_IOERR)
    except OpError as exc:
        _fail(f"plebnet: {exc}", EX_DATAERR)
    _announce(ready_line(proc.pid, proc.path))
    proc.run()


def main(args: list[str] | None = None) -> None:
    """`plebnet`: click parses the options, but its failures are worded as a FreeBSD tool's
    (`plebnet: ...` and the usage, not click's `Error:`) and every kind of failure has its
    own exit status (EX_*)."""
    try:
        command.main(args, prog_name="plebnet", standalone_mode=False)
    except click.UsageError as exc:         # BadParameter, NoSuchOption, MissingParameter
        _fail(f"plebnet: {_click_text(exc)}\n{USAGE}", EX_USAGE)
    except click.Abort:                     # click's ^C at a prompt (it has none): no traceback
        _fail("plebnet: interrupted", 1)
    except _Exit as exc:                    # refused before the stack existed
        _fail(f"plebnet: {exc}", exc.status)


def _click_text(exc: click.UsageError) -> str:
    """click's message in tool style: "Invalid value for '--nic': ..." becomes
    "--nic: ...", a capital and the full stop go."""
    text = exc.format_message()
    if isinstance(exc, click.BadParameter) and exc.param is not None:
        text = text.split(": ", 1)[-1]
        hint = exc.param_hint or "/".join(exc.param.opts)
        if isinstance(hint, (list, tuple)):
            hint = "/".join(hint)
        text = f"{hint.strip(chr(39))}: {text}"
    text = text.rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


# -- daemon mode: the parent waits for the child's ready line on a pipe ------------------------
_ready_fd: int | None = None


def _daemonize() -> None:
    global _ready_fd
    rfd, wfd = os.pipe()
    child = os.fork()
    if child:
        os.close(wfd)
        with os.fdopen(rfd) as pipe:
            line = pipe.read()
        if line.startswith("plebnet: ready pid "):
            print(line.split()[3])
            sys.exit(0)
        sys.stderr.write(line or "plebnet: the stack exited before it was ready\n")
        _, status = os.waitpid(child, 0)        # its status says which kind of failure
        code = os.waitstatus_to_exitcode(status)
        sys.exit(code if code > 0 else 1)
    os.close(rfd)
    os.setsid()
    _ready_fd = wfd


def _announce(line: str) -> None:
    global _ready_fd
    if _ready_fd is None:
        print(line, flush=True)
        return
    os.write(_ready_fd, (line + "\n").encode())
    os.close(_ready_fd)
    _ready_fd = None
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def _fail(message: str, status: int = 1):
    if _ready_fd is not None:
        os.write(_ready_fd, (message + "\n").encode())
    else:
        print(message, file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
