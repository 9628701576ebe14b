"""Durable configuration (`plebnet --state DIR`): a journal of changes plus a snapshot, and the
audit log (bounded in bytes) that rides in them.  This module is the state directory
(Persist); records.py frames, scans and writes records, snapshot.py turns the state into
plain data and replays requests, audit.py keeps the audit log.

Files in DIR (created 0700; a flock on DIR/lock keeps a second stack out):

    snapshot   one record: the whole configuration state (snapshot.serialise_state), the seq of
               the last change it contains, the MAC-seed pid and the recent audit entries
    journal    records appended since that snapshot, one per handled change request:
               {"seq", "time", "pid", "uid", "op", "args", "errno", "msg"}; seqs are
               consecutive, the first one right after the snapshot's

Record framing: 4-byte big-endian length, 4-byte CRC-32 of the body, msgpack body.

Loading is strict.  The only damage repaired silently is a torn tail: the last record runs
past the end of the file (the stack died in the middle of writing it) and no intact record
follows; it was never acknowledged, so it is dropped whole, never half-applied.  Anything
else (a complete record that fails its CRC, zeros, a gap in the seqs, a journal missing beside
a snapshot or the reverse, a directory or symlink in a file's place) stops the start with one
line naming the file and offset, leaving every file as it is.  `--salvage` then
starts anyway: it first copies the journal and snapshot into DIR/salvage-<UTC time>/, then
loads what precedes the damage.

Why a journal of requests: the state model is deterministic, so replaying the successful
requests through the same Syscalls on the restored snapshot rebuilds exactly the state the
replies described (refused requests are journaled only for the audit log and are skipped).
MACs derive from the stack's host uuid (DIR/hostid, written at the first start and read before
any interface is attached), so every start has the same ones and the NICs are recognised by them.

Durability: ControlServer holds every outgoing byte while records are pending (see
ControlServer._flush); at the end of the event-loop iteration sync() writes them all and fsyncs
once (group commit), then the replies go.  A failed write or fsync cannot be taken back (the
change is in memory), so the stack stops rather than acknowledge what may be lost.

Compaction: once the journal (written or pending, changes and refusals alike) passes
PLEBNET_COMPACT_BYTES, the current state is written whole to snapshot.tmp (every write checked
and completed), fsynced, read back and compared, and only then renamed over the snapshot (the
directory fsynced) and the journal emptied.  Any failure before the rename removes snapshot.tmp
and leaves snapshot and journal as they were (the journal still holds every change, so nothing
is lost; compaction is retried once the journal has grown by as much again).  Journal records
at or below the snapshot's seq are skipped on load, so a crash between the rename and the
truncation is harmless.

The snapshot is a dedicated serialisation of the state (not pickle): interfaces with their
index, MAC, flags and addresses, every route path (connected ones too, so indices, nexthops and
hand-overs are exact), static ARP/NDP entries (learned ones are not configuration), sysctls.
Times (route expiry, temporary neighbours, DAD) are stored relative to the moment of saving.
"""
from __future__ import annotations

import errno as _errno
import fcntl
import os
import shutil
import stat
import sys
import time

from plebproto.errors import OpError

from .audit import Audit, preview, summary
from .records import (
    FORMAT,
    PersistError,
    _write_all,
    check_journal,
    frame,
    pack_record,
    read_records,
)
from .snapshot import apply, load_state, serialise_state

# what callers import from here (the modules are the package's inside)
__all__ = ["Persist", "PersistError", "Audit", "check_journal", "pack_record", "read_records",
           "preview", "summary", "apply", "load_state", "serialise_state"]

COMPACT_BYTES = int(os.environ.get("PLEBNET_COMPACT_BYTES", 64 << 20))


class Persist:
    def __init__(self, directory: str, compact_bytes: int = COMPACT_BYTES,
                 salvage: bool = False):
        self.dir = directory
        self.compact_bytes = compact_bytes
        self.salvage = salvage
        self.pending: list[bytes] = []      # records not yet written and fsynced
        self.pending_size = 0
        self.journal_fd: int | None = None
        self.journal_size = 0
        self.retry_at = 0                   # after a failed compaction: journal size to wait for
        self.snapshot_seq = 0
        self.mac_pid: int | None = None
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self.lock_fd = os.open(os.path.join(directory, "lock"),
                                   os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise PersistError(f"state directory {directory}: {exc.strerror}") from None
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.lock_fd)
            raise PersistError(f"state directory {directory} is in use by another "
                               f"stack") from None

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _read(self, name: str, what: str):
        """The bytes of DIR/name, or None if it does not exist; anything but a regular file
        in its place is refused (a symlink is not followed, a FIFO not opened)."""
        path = self._path(name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise PersistError(f"{path} is a symbolic link, not a {what} file: refusing to "
                               f"follow it")
        if stat.S_ISDIR(st.st_mode):
            raise PersistError(f"{path} is a directory, not a {what} file")
        if not stat.S_ISREG(st.st_mode):
            raise PersistError(f"{path} is not a regular file, not a {what} file")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):      # swapped since the lstat
                    raise PersistError(f"{path} is not a regular file, not a {what} file")
                with os.fdopen(os.dup(fd), "rb") as f:
                    return f.read()
            finally:
                os.close(fd)
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None

    def _clear_tmp(self) -> None:
        """A snapshot.tmp is what a failed compaction left: never the state, removed."""
        path = self._path("snapshot.tmp")
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                raise PersistError(f"{path} is a directory; move it out of the state "
                                   f"directory")
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None

    def hostuuid(self, new) -> str:
        """The stack's host uuid (its MACs derive from it), kept in DIR/hostid as FreeBSD
        keeps kern.hostuuid in /etc/hostid: made by new() at the first start, read after."""
        path = self._path("hostid")
        try:
            with open(path) as f:
                value = f.read().strip()
            if value:
                return value
        except FileNotFoundError:
            pass
        value = new()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            _write_all(fd, (value + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._fsync_dir()
        return value

    # -- start ----------------------------------------------------------------------------------
    def restore(self, syscalls, audit: Audit) -> bool:
        """Load the snapshot and replay the journal into syscalls.stack; False if DIR held
        no state yet.  Damage other than a torn tail raises PersistError (files untouched)
        unless salvaging."""
        self._clear_tmp()
        raw = self._read("snapshot", "snapshot")
        data = self._read("journal", "journal")
        snapshot = None
        if raw is not None:
            records, end = read_records(raw)
            if len(records) != 1 or end != len(raw):
                at = end if records else 0
                raise PersistError(f"{self._path('snapshot')} is damaged at offset {at} "
                                   f"(of {len(raw)} bytes); files left untouched: restore it "
                                   f"from a copy, or move {self.dir} aside to start afresh")
            snapshot = records[0]
            if snapshot.get("format") != FORMAT:
                raise PersistError(f"{self._path('snapshot')}: unknown format "
                                   f"{snapshot.get('format')}")
        records, damage = self._journal(data, snapshot)
        if raw is None and data and damage is None:
            # a start writes the snapshot before any change is journaled: a journal with
            # no snapshot beside it lost its base (salvage replays it on an empty state)
            damage = (f"{self._path('snapshot')} is missing beside a journal of "
                      f"{len(records)} change record(s)")
        if damage is not None:
            if not self.salvage:
                raise PersistError(f"{damage}; files left untouched (plebnet --state "
                                   f"{self.dir} --salvage keeps a copy and loads what "
                                   f"precedes the damage)")
            kept = self._keep_copy()
            print(f"plebnet: {damage}; salvaging: copy kept in {kept}, loading "
                  f"{len(records)} change record(s) before it", file=sys.stderr)
        if snapshot is None and not records:
            return False
        if snapshot is not None:
            self.snapshot_seq = snapshot["seq"]
            self.mac_pid = snapshot["mac_pid"]
            syscalls.stack.pid = self.mac_pid
            try:
                created = load_state(syscalls.stack, snapshot["state"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                # intact bytes, but not a state this version writes: say so, not a traceback
                raise PersistError(f"{self._path('snapshot')}: not a state this plebnet can "
                                   f"load ({type(exc).__name__}: {exc}); files left "
                                   f"untouched") from None
            for ifp in created:
                self._open_device(syscalls, ifp)
            for e in snapshot["audit"]:     # packed entries (older snapshots: maps)
                if isinstance(e, bytes):
                    audit.keep(e)
                else:
                    audit.keep_entry(e)
            audit.seq = self.snapshot_seq
        for rec in records:
            audit.keep_entry(rec)
            audit.seq = rec["seq"]
            if rec["errno"] == 0:
                try:
                    apply(syscalls, rec["op"], rec["args"])
                except OpError as exc:      # would mean the model is not deterministic
                    print(f"plebnet: replaying change {rec['seq']} ({rec['op']}) failed: "
                          f"{exc}", file=sys.stderr)
        return True

    def _journal(self, data, snapshot):
        """The journal's records after the snapshot, and a one-line description of the
        damage that stops the start (None: none, or only a torn tail, dropped here)."""
        path = self._path("journal")
        if data is None:
            if snapshot is None:
                return [], None
            return [], (f"{path} is missing beside a snapshot of change {snapshot['seq']}: "
                        f"changes after it may be lost")
        records, damage, torn = check_journal(data, snapshot["seq"] if snapshot else 0, path)
        if torn:
            print(f"plebnet: {path}: dropped a torn last record ({torn} bytes at offset "
                  f"{len(data) - torn})", file=sys.stderr)
        return records, damage

    def _keep_copy(self) -> str:
        """Copy journal and snapshot (as they are) into DIR/salvage-<time>/, durably, before
        the start compaction replaces them."""
        dest = self._path(time.strftime("salvage-%Y%m%dT%H%M%SZ", time.gmtime()))
        try:
            os.mkdir(dest, 0o700)
            for name in ("journal", "snapshot"):
                if os.path.lexists(self._path(name)):
                    shutil.copyfile(self._path(name), os.path.join(dest, name),
                                    follow_symlinks=False)
                    fd = os.open(os.path.join(dest, name), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            self._fsync_dir(dest)
            self._fsync_dir()
        except OSError as exc:
            raise PersistError(f"cannot keep a copy in {dest}: {exc.strerror}; files left "
                               f"untouched") from None
        return dest

    @staticmethod
    def _open_device(syscalls, ifp) -> None:
        """A restored clone gets its device as a created one would (tap, vxlan, ...)."""
        if syscalls.dataplane is None:
            return
        try:
            with syscalls.stack.transaction():
                syscalls.dataplane.created(ifp)
        except OpError as exc:
            print(f"plebnet: {ifp.name}: {exc}; restored without a device",
                  file=sys.stderr)

    # -- changes --------------------------------------------------------------------------------
    def append(self, body: bytes) -> None:
        """Queue one packed audit entry as a journal record (written by sync)."""
        record = frame(body)
        self.pending.append(record)
        self.pending_size += len(record)

    def sync(self) -> None:
        """Write and fsync every pending record (one fsync for all: the group commit)."""
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_size = 0
        try:
            _write_all(self.journal_fd, data)
            os.fsync(self.journal_fd)
        except OSError as exc:
            # the changes are applied in memory and cannot be taken back: acknowledging
            # them now could lose them, so stop (like a database on a failed fsync)
            print(f"plebnet: cannot write {self._path('journal')}: {exc.strerror}; stopping",
                  file=sys.stderr)
            os._exit(75)
        self.journal_size += len(data)

    def due(self) -> bool:
        size = self.journal_size + self.pending_size
        return size >= self.compact_bytes and size >= self.retry_at

    def compact(self, stack, audit: Audit) -> None:
        """Write the current state as the snapshot and empty the journal.  Raises
        PersistError if the new snapshot could not be written whole: then snapshot and
        journal are as they were, and still hold every change."""
        self.sync()
        path, tmp = self._path("snapshot"), self._path("snapshot.tmp")
        try:
            if self.journal_fd is None:
                # the journal exists before any snapshot does: a snapshot without a journal
                # beside it is then always damage, never a start that died half-way
                self.journal_fd = os.open(self._path("journal"),
                                          os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                          | os.O_NOFOLLOW, 0o600)
                self.journal_size = os.fstat(self.journal_fd).st_size
                self._fsync_dir()
        except OSError as exc:
            raise PersistError(f"cannot open {self._path('journal')}: "
                               f"{exc.strerror}") from None
        mac_pid = self.mac_pid if self.mac_pid is not None else stack.pid
        data = pack_record({"format": FORMAT, "seq": audit.seq, "mac_pid": mac_pid,
                            "time": time.time(), "state": serialise_state(stack),
                            "audit": list(audit.entries)})
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
                # read back what the file holds: renamed only if it is exactly the snapshot
                back, view = bytearray(), b"-"
                os.lseek(fd, 0, os.SEEK_SET)
                while view:
                    view = os.read(fd, 1 << 20)
                    back += view
                if back != data:
                    raise OSError(_errno.EIO, "read back differs from what was written")
            finally:
                os.close(fd)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self.retry_at = self.journal_size + self.pending_size + self.compact_bytes
            raise PersistError(f"cannot write {tmp}: {exc.strerror}; {path} and the journal "
                               f"are kept as they were") from None
        try:
            os.replace(tmp, path)
            self._fsync_dir()
            self.mac_pid = mac_pid
            self.snapshot_seq = audit.seq
            # records up to snapshot_seq are skipped on load: a crash before this is harmless
            os.ftruncate(self.journal_fd, 0)
            os.fsync(self.journal_fd)
        except OSError as exc:
            self.retry_at = self.journal_size + self.pending_size + self.compact_bytes
            raise PersistError(f"compacting {self.dir}: {exc.strerror}") from None
        self.journal_size = 0
        self.retry_at = 0

    def _fsync_dir(self, directory: str | None = None) -> None:
        fd = os.open(directory or self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sync()
        if self.journal_fd is not None:
            os.close(self.journal_fd)
            self.journal_fd = None
        os.close(self.lock_fd)

