"""The control socket as a file: the directory it lives in (check_sockdir: one nobody else
can empty; a missing --sockdir made private), its path (a stale socket of ours removed, never
another's or a symlink: claim_socket_path, sweep_stale_sockets), its mode and group
(set_socket_mode, without following symlinks), and what SO_PEERCRED does not say of a peer
(peer_groups).  The server (server.py) accepts on what listen_socket returns."""
from __future__ import annotations

import os
import socket
import stat

class StartupError(Exception):
    """The socket path cannot be used; the message says why."""


def check_sockdir(path: str, read_gid: int | None = None) -> None:
    """Make sure the socket directory keeps our socket, or raise StartupError.

    Anybody who may write to a directory may unlink what is in it unless the sticky bit is
    set: a socket removed that way leaves the stack running and unreachable.  So a directory
    writable by others must be sticky (as /tmp is), and one owned by another user (not root)
    is refused: its owner may always empty it.  A missing directory is created private
    (0700; 0750 and the read group with --read-group, so members can reach the socket) by
    mkdir, which neither follows a symlink nor accepts a directory someone else made first."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise StartupError(f"{path} is a symbolic link to nothing; refusing to start") \
                from None
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise StartupError(f"{path}: No such file or directory") from None
        _make_private_dir(path, read_gid)
        return
    except OSError as exc:
        raise StartupError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StartupError(f"{path}: Not a directory")
    if st.st_uid not in (0, os.getuid()):
        raise StartupError(f"{path} is owned by uid {st.st_uid}, who could remove the "
                           f"socket; refusing to start")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise StartupError(f"{path} is world-writable without the sticky bit: anybody could "
                           f"remove the socket; refusing to start (chmod +t {path}, or use "
                           f"a directory of your own)")


def _make_private_dir(path: str, read_gid: int | None) -> None:
    old = os.umask(0o077)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        # something appeared meanwhile: judged as anything found there is
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, os.getuid()) or \
                st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            raise StartupError(f"{path} appeared while being created; refusing to start") \
                from None
        return
    except OSError as exc:
        raise StartupError(f"cannot create {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    if read_gid is not None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, -1, read_gid)
            os.fchmod(fd, 0o750)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # EPERM: it exists, as another user's
        return True
    return True


def socket_is_stale(path: str, pid: int) -> bool:
    """Nobody listens at path and no process has the pid it is named by: the socket of a
    stack that died (a live pid may be a stack between its bind and its listen)."""
    if _pid_alive(pid):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False


def sweep_stale_sockets(directory: str) -> list[str]:
    """Remove the stale sockets of our uid's dead stacks from directory; return their paths.

    Only sockets (never a symlink or any other file), only our own (in a sticky directory
    nobody may remove another user's, and root does not either: that user's next stack, or
    `plebconf ps`, shows them), only with no live process behind them (socket_is_stale).
    The entry is checked again just before unlink, so one replaced meanwhile is kept."""
    removed = []
    try:
        names = [n for n in os.listdir(directory) if n.isdigit()]
    except OSError:
        return removed
    uid = os.getuid()
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if not stat.S_ISSOCK(st.st_mode) or st.st_uid != uid:
                continue
            if not socket_is_stale(path, int(name)):
                continue
            again = os.lstat(path)
            if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                continue
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def claim_socket_path(path: str) -> None:
    """Make sure path is free for our socket, or raise StartupError.

    /tmp is world-writable: only a socket owned by us that nobody answers on (left by a dead
    stack that had our pid) is removed.  A file, a symlink, a directory, another user's
    socket or a live stack make us refuse."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise StartupError(f"{path} exists and is a symbolic link; refusing to start")
    if not stat.S_ISSOCK(st.st_mode):
        raise StartupError(f"{path} exists and is not a socket; refusing to start")
    if st.st_uid != os.getuid():
        raise StartupError(f"{path} is a socket owned by uid {st.st_uid}; refusing to start")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)            # stale: its stack is gone
        return
    except OSError as exc:
        raise StartupError(f"{path}: {exc.strerror}; refusing to start") from None
    finally:
        probe.close()
    raise StartupError(f"a process is already answering at {path}; refusing to start")


def listen_socket(path: str, read_gid: int | None = None) -> socket.socket:
    """Bind path 0600; with a read group, 0660 and that group, so its members can connect
    (SO_PEERCRED then decides what each peer may do)."""
    claim_socket_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)             # fails with EADDRINUSE if something appeared meanwhile
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    try:
        set_socket_mode(path, read_gid)
    except StartupError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def set_socket_mode(path: str, read_gid: int | None) -> None:
    """chown/chmod the socket just bound at path without following a symlink: should the
    name have been replaced by a link meanwhile, its target keeps its owner and mode.

    Linux has no lchmod: the name is opened O_PATH|O_NOFOLLOW (a link would be opened as
    itself), checked to be a socket of ours, and changed through /proc/self/fd, which names
    that inode and no path."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW)
    except OSError as exc:
        raise StartupError(f"{path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
            raise StartupError(f"{path} was replaced after bind; refusing to start")
        inode = f"/proc/self/fd/{fd}"
        if read_gid is not None:
            os.chown(inode, -1, read_gid)       # group first, then the bits: never looser
            os.chmod(inode, 0o660)
        else:
            os.chmod(inode, 0o600)
    except OSError as exc:
        raise StartupError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def peer_groups(pid: int) -> set[int]:
    """Supplementary groups of a peer process (SO_PEERCRED gives only the primary one)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:]}
    except OSError:
        pass
    return set()
