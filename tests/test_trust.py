"""Who talks to which stack: connection slots kept for the owner, the client's trust in a
stack's uid (--owner), control characters escaped on a terminal, the socket directory,
`plebconf ps` and stale sockets, start-up messages and exit statuses, and one line with
status 69 when a stack dies or stalls mid-command.  Real processes throughout; the tests
needing other users create them (useradd) and remove them after."""
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from plebconf.cli.common import vis
from plebconf.rpc.client import Client, ConnectError
from plebnet_core.listener import StartupError, set_socket_mode
from plebnet_core.spawn import plebnet_argv, spawn_stack
from tests.conftest import ROOT, need_root

NIC = ["--nic", "vnet0=none"]


# == helpers ========================================================================================
@pytest.fixture
def users():
    """Two fresh users, a and b, both members of a fresh group: (a, b, group) as
    (name, uid) and (name, gid).  Removed after the test."""
    need_root("creating users (useradd)")
    tag = uuid.uuid4().hex[:6]
    group, a, b = f"plebg{tag}", f"plebta{tag}", f"plebtb{tag}"
    subprocess.run(["groupadd", group], check=True)
    made = []
    try:
        for name in (a, b):
            subprocess.run(["useradd", "-M", "-N", "-s", "/bin/false", "-G", group, name],
                           check=True)
            made.append(name)
        import grp
        import pwd
        yield ((a, pwd.getpwnam(a).pw_uid), (b, pwd.getpwnam(b).pw_uid),
               (group, grp.getgrnam(group).gr_gid))
    finally:
        for name in made:
            subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", group], check=False)


@pytest.fixture
def shared_dir():
    """A socket directory like /tmp: world-writable and sticky."""
    path = tempfile.mkdtemp(prefix="pleb-shared-")
    os.chmod(path, 0o1777)
    yield path
    import shutil
    shutil.rmtree(path, ignore_errors=True)


# Run as another user: the interpreter lives where only root may read (pyenv under /root),
# so the child starts as root, imports everything the tools and the stack can need, and only
# then drops to the user.  argv after the prefix: plebconf ARGS, plebnet ARGS or -c CODE ARGS.
DROP = """
import importlib, os, pkgutil, sys
for pkg in ("plebproto", "plebconf", "plebnet_core"):
    for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
for name in ("pwd", "grp", "json", "dataclasses", "selectors", "shlex", "inspect", "pty"):
    importlib.import_module(name)
os.setgroups([int(g) for g in sys.argv[3].split(",") if g])
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[1]))
what, sys.argv = sys.argv[4], sys.argv[4:]
if what == "plebconf":
    from plebconf.cli import main
    main(sys.argv[1:])
elif what == "plebnet":
    from plebnet_core.main import main
    main(sys.argv[1:])
else:
    code, sys.argv = sys.argv[1], ["-c", *sys.argv[2:]]
    exec(code)
"""


def as_user(uid: int, gid: int) -> list[str]:
    """The argv prefix running a child as uid, with its primary group gid and the
    supplementary groups the user database gives it."""
    import pwd
    groups = os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    return [sys.executable, "-c", DROP, str(uid), str(gid), ",".join(map(str, groups))]


def env_for(sockdir, **extra):
    env = {**os.environ, "PYTHONPATH": ROOT, "PLEBNET_SOCKDIR": sockdir, **extra}
    env.pop("PLEBNET_PID", None)
    return env


def plebconf(*argv, user=None, env=None, **kw):
    return subprocess.run([*(user or [sys.executable, "-m"]), "plebconf", *argv],
                          capture_output=True, text=True, timeout=60, env=env, **kw)


class UserStack:
    """A plebnet run as another user."""

    def __init__(self, args, sockdir, user):
        self.proc = subprocess.Popen([*user, "plebnet", *args, "--sockdir", sockdir],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env_for(sockdir))
        line = self.proc.stdout.readline()
        assert line.startswith("plebnet: ready pid "), line + self.proc.stderr.read()
        self.pid = int(line.split()[3])
        self.path = line.split()[5]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def one_line_69(result, text):
    """The tool ended with status 69 and exactly one line of stderr, text, no traceback."""
    assert (result.returncode, result.stderr) == (69, text + "\n"), result.stderr


# == 1. connection slots ============================================================================
HOLDER = """
import os, sys
from plebconf.rpc.client import Client, ConnectError
held = []
while True:
    try:
        held.append(Client.connect(path=sys.argv[1], timeout=5))
    except ConnectError as exc:
        print(len(held)); print(exc, flush=True)
        break
sys.stdin.read()        # hold them until told
"""


def hold_connections(path, user):
    """A child of user opening connections until refused: (process, count, refusal)."""
    proc = subprocess.Popen([*user, "-c", HOLDER, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    count = int(proc.stdout.readline())
    return proc, count, proc.stdout.readline().rstrip("\n")


def test_read_group_member_cannot_take_the_owners_slots(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    env = env_for(shared_dir, PLEBNET_MAX_CONNECTIONS="6", PLEBNET_RESERVED_CONNECTIONS="2",
                  PLEBNET_MAX_PER_UID="100")
    stack = spawn_stack([*NIC, "--read-group", group], sockdir=shared_dir, env=env)
    member = as_user(a_uid, gid)
    hog = None
    try:
        hog, count, refusal = hold_connections(stack.path, member)
        assert count == 4
        assert refusal == (f"{stack.path}: too many connections: the last 2 of 6 are kept for "
                           f"the stack's owner and root; try again later")
        # the tool says it as one line, exit 69
        one_line_69(plebconf("-p", str(stack.pid), "ifconfig", "-l", user=member,
                             env=env_for(shared_dir)),
                    f"plebconf: {refusal}")
        # the owner still gets in, up to the last slot
        owner = [stack.client(), stack.client()]
        with pytest.raises(ConnectError, match="too many connections: all 6 are in use"):
            stack.client()
        assert owner[0].sysctl("net.inet.ip.forwarding") == 0
        for c in owner:
            c.close()
    finally:
        if hog:
            hog.communicate("")
        stack.stop()


def test_connections_per_uid_are_limited(users, shared_dir):
    (a, a_uid), (b, b_uid), (group, gid) = users
    env = env_for(shared_dir, PLEBNET_MAX_CONNECTIONS="20", PLEBNET_MAX_PER_UID="3")
    stack = spawn_stack([*NIC, "--read-group", group], sockdir=shared_dir, env=env)
    hog = None
    try:
        hog, count, refusal = hold_connections(stack.path, as_user(a_uid, gid))
        assert (count, refusal) == (3, f"{stack.path}: too many connections from uid {a_uid}:"
                                       f" at most 3 per uid")
        # another member, and the owner, are not locked out by a's connections
        out = plebconf("-p", str(stack.pid), "ifconfig", "-l", user=as_user(b_uid, gid),
                       env=env_for(shared_dir))
        assert (out.returncode, out.stdout, out.stderr) == (0, "vnet0 lo0\n", "")
        held = [stack.client() for _ in range(5)]
        for c in held:
            c.close()
        hog.communicate("")
        hog = None
        # the slots come back when the connections close
        again, count, _ = hold_connections(stack.path, as_user(a_uid, gid))
        again.communicate("")
        assert count == 3
    finally:
        if hog:
            hog.communicate("")
        stack.stop()


# == 2. trust =======================================================================================
ESCAPE = "\x1b]0;pwned\x07\x1b[2J\x9b31m"


def run_on_pty(argv, user, env):
    """Run argv with its stdout and stderr on a terminal; (status, what it wrote)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*user, *argv], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=env)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:         # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    return proc.wait(30), data.decode().replace("\r\n", "\n")


def test_impostor_in_a_shared_group_is_not_trusted(users, shared_dir):
    """b runs a stack open to the group a and b share (socket 0660, group plebg...): a's
    tools do not list it as a's, do not send it a's commands, and print its strings
    escaped on a terminal once a names b as the owner it means."""
    (a, a_uid), (b, b_uid), (group, gid) = users
    impostor = UserStack([*NIC, "--read-group", group], shared_dir, as_user(b_uid, gid))
    victim = as_user(a_uid, gid)
    env = env_for(shared_dir)
    try:
        st = os.stat(impostor.path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (b_uid, gid, 0o660)
        setdesc = plebconf("-p", str(impostor.pid), "ifconfig", "vnet0", "description", ESCAPE,
                           user=as_user(b_uid, gid), env=env)
        assert setdesc.returncode == 0, setdesc.stderr

        ps = plebconf("ps", user=victim, env=env)
        assert ps.returncode == 0
        assert ps.stdout.splitlines()[1:] == [
            f"{impostor.pid:>7} {b:<10} {'-':>11}  (not yours: plebconf --owner {b} "
            f"-p {impostor.pid} to talk to it)"]

        refused = plebconf("-p", str(impostor.pid), "ifconfig", "vnet0", user=victim, env=env)
        assert refused.stdout == ""
        one_line_69(refused, f"plebconf: the stack at {impostor.path} is run by {b} "
                             f"(uid {b_uid}), not by you: refusing to talk to it (to mean it: "
                             f"plebconf --owner {b} ...)")

        # named, it is talked to; on a terminal its escape codes arrive as text
        status, shown = run_on_pty(["plebconf", "--owner", b, "-p",
                                    str(impostor.pid), "ifconfig", "vnet0"], victim, env)
        assert status == 0
        assert "\tdescription: \\^[]0;pwned\\^G\\^[[2J\\M-^[31m\n" in shown
        assert not any(ord(c) < 0x20 and c not in "\t\n" or 0x7f <= ord(c) < 0xa0
                       for c in shown)
        # into a pipe they go byte-exact, as the stack has them (for scripts)
        piped = plebconf("--owner", str(b_uid), "-p", str(impostor.pid), "ifconfig", "vnet0",
                         user=victim, env=env)
        assert f"\tdescription: {ESCAPE}\n" in piped.stdout
        # ps, told the owner, lists it
        ps = plebconf("--owner", b, "ps", user=victim, env=env)
        assert ps.stdout.splitlines()[1].endswith("  vnet0 lo0")
    finally:
        impostor.stop()


def test_client_names_the_owner_of_another_users_stack(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    stack = UserStack(NIC, shared_dir, as_user(a_uid, gid))
    try:
        with pytest.raises(ConnectError) as exc:
            Client.connect(pid=stack.pid, directory=shared_dir)
        assert str(exc.value) == (f"the stack at {stack.path} is run by {a} (uid {a_uid}), "
                                  f"not by you: refusing to talk to it (to mean it: plebconf "
                                  f"--owner {a} ...)")
        with Client.connect(pid=stack.pid, directory=shared_dir, owner=a_uid) as c:
            assert c.server["pid"] == stack.pid
    finally:
        stack.stop()


def test_unknown_owner_is_a_usage_error(sockdir):
    out = plebconf("--owner", "no-such-user-here", "ps", env=env_for(sockdir))
    assert out.returncode == 64
    assert out.stderr.splitlines()[0] == "plebconf: --owner: unknown user no-such-user-here"


def test_vis_escapes_controls_as_freebsd_vis():
    assert vis("a\x00\x01\x1b\x7f\x80\x9b\x9f") == "a\\^@\\^A\\^[\\^?\\M-^@\\M-^[\\M-^_"
    assert vis("tab\there\nnext é ü") == "tab\there\nnext é ü"


# == 3. the socket directory ========================================================================
def test_world_writable_sockdir_without_sticky_bit_is_refused(sockdir):
    os.chmod(sockdir, 0o777)
    out = subprocess.run(plebnet_argv(["--sockdir", sockdir]), capture_output=True, text=True,
                         timeout=30, env=env_for(sockdir))
    assert out.returncode == 73
    assert out.stderr == (f"plebnet: {sockdir} is world-writable without the sticky bit: "
                          f"anybody could remove the socket; refusing to start (chmod +t "
                          f"{sockdir}, or use a directory of your own)\n")
    assert os.listdir(sockdir) == []


def test_missing_sockdir_is_created_private(shared_dir):
    private = os.path.join(shared_dir, "mine")
    with spawn_stack(NIC, sockdir=private) as stack:
        st = os.lstat(private)
        assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o7777 == 0o700
        assert st.st_uid == os.getuid()
        assert stack.path == os.path.join(private, str(stack.pid))


def test_missing_sockdir_with_read_group_lets_the_group_in(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    private = os.path.join(shared_dir, "ours")
    with spawn_stack([*NIC, "--read-group", group], sockdir=private) as stack:
        st = os.lstat(private)
        assert (st.st_mode & 0o7777, st.st_gid) == (0o750, gid)
        out = plebconf("-p", str(stack.pid), "ifconfig", "-l", user=as_user(a_uid, gid),
                       env=env_for(private))
        assert (out.returncode, out.stdout) == (0, "vnet0 lo0\n"), out.stderr


def test_sockdir_of_another_user_or_a_symlink_is_refused(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    theirs = os.path.join(shared_dir, "theirs")
    os.mkdir(theirs, 0o755)
    os.chown(theirs, a_uid, gid)
    out = subprocess.run(plebnet_argv(["--sockdir", theirs]), capture_output=True, text=True,
                         timeout=30, env=env_for(theirs))
    assert (out.returncode, out.stderr) == (
        73, f"plebnet: {theirs} is owned by uid {a_uid}, who could remove the socket; "
            f"refusing to start\n")
    link = os.path.join(shared_dir, "link")
    os.symlink(theirs, link)        # planted where a private directory would be made
    out = subprocess.run(plebnet_argv(["--sockdir", link]), capture_output=True, text=True,
                         timeout=30, env=env_for(link))
    assert out.returncode == 73 and f"is owned by uid {a_uid}" in out.stderr


def test_other_users_cannot_remove_the_socket_in_a_sticky_dir(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    with spawn_stack(NIC, sockdir=shared_dir) as stack:
        out = subprocess.run([*as_user(a_uid, gid), "-c", "import os,sys\ntry:\n "
                              "os.unlink(sys.argv[1])\nexcept OSError as e: print(e.strerror)",
                              stack.path], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "PYTHONPATH": ROOT})
        assert out.stdout == "Operation not permitted\n"
        with stack.client() as c:
            assert c.server["pid"] == stack.pid


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_socket_mode_is_never_set_through_a_symlink(tmp_path, planted):
    target = tmp_path / "target"
    target.write_text("")
    os.chmod(target, 0o644)
    path = tmp_path / "sock"
    if planted == "symlink":
        os.symlink(target, path)
    else:
        path.write_text("")
    with pytest.raises(StartupError, match="replaced after bind|Too many levels"):
        set_socket_mode(str(path), os.getgid())
    assert os.stat(target).st_mode & 0o777 == 0o644


def test_socket_mode_on_a_real_socket(tmp_path):
    path = str(tmp_path / "sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    set_socket_mode(path, None)
    assert os.lstat(path).st_mode & 0o777 == 0o600
    set_socket_mode(path, os.getgid())
    assert os.lstat(path).st_mode & 0o777 == 0o660
    s.close()


# == 4. ps and stale sockets ========================================================================
def dead_socket(sockdir, chown=None) -> int:
    """A socket named by the pid of a process that bound it and exited: a dead stack's."""
    code = ("import os, socket, sys\np = os.path.join(sys.argv[1], str(os.getpid()))\n"
            "socket.socket(socket.AF_UNIX).bind(p)\n"
            "if len(sys.argv) > 2: os.chown(p, int(sys.argv[2]), -1)\nprint(os.getpid())")
    argv = [sys.executable, "-c", code, sockdir] + ([str(chown)] if chown is not None else [])
    return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_ps_lists_every_socket_with_owner_and_stale_ones(users, shared_dir):
    (a, a_uid), _, (group, gid) = users
    mine = spawn_stack(NIC, sockdir=shared_dir)
    theirs = UserStack(NIC, shared_dir, as_user(a_uid, gid))
    stale = dead_socket(shared_dir)
    stale_theirs = dead_socket(shared_dir, chown=a_uid)
    link = dead_pid()
    os.symlink(os.path.join(shared_dir, str(stale)), os.path.join(shared_dir, str(link)))
    # a live process bound but not (yet) listening, as a stack between bind and listen
    binding = subprocess.Popen([sys.executable, "-c", "import os, socket, sys\n"
                                "s = socket.socket(socket.AF_UNIX)\n"
                                "s.bind(os.path.join(sys.argv[1], str(os.getpid())))\n"
                                "print(flush=True); sys.stdin.read()", shared_dir],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    binding.stdout.readline()
    try:
        out = plebconf("ps", env=env_for(shared_dir))
        assert out.returncode == 0, out.stderr
        rows = {int(line.split()[0]): line for line in out.stdout.splitlines()[1:]}
        assert sorted(rows) == sorted([mine.pid, theirs.pid, stale, stale_theirs, binding.pid])
        assert "stale" not in rows[binding.pid]
        assert rows[mine.pid].split()[1] == "root" and rows[mine.pid].endswith("  vnet0 lo0")
        assert rows[theirs.pid] == (f"{theirs.pid:>7} {a:<10} {'-':>11}  (not yours: plebconf "
                                    f"--owner {a} -p {theirs.pid} to talk to it)")
        note = "(stale: its stack is gone; removed when its owner starts a stack)"
        assert rows[stale] == f"{stale:>7} {'root':<10} {'-':>11}  {note}"
        assert rows[stale_theirs] == f"{stale_theirs:>7} {a:<10} {'-':>11}  {note}"
        js = plebconf("--libxo", "json", "ps", env=env_for(shared_dir))
        import json
        status = {s["pid"]: (s["user"], s["status"]) for s in json.loads(js.stdout)["stacks"]}
        assert status == {mine.pid: ("root", "running"), theirs.pid: (a, "not yours"),
                          stale: ("root", "stale"), stale_theirs: (a, "stale"),
                          binding.pid: ("root", "refused")}

        # the next stack removes our stale socket: not a's, not the symlink, not live ones
        with spawn_stack(NIC, sockdir=shared_dir) as nxt:
            left = set(os.listdir(shared_dir))
            assert str(stale) not in left
            assert {str(stale_theirs), str(link), str(mine.pid), str(theirs.pid),
                    str(binding.pid), str(nxt.pid)} <= left
            assert os.path.islink(os.path.join(shared_dir, str(link)))
            assert (f"plebnet: removed {shared_dir}/{stale}, the socket of a stack that is "
                    f"gone") in nxt.stderr()
    finally:
        binding.communicate("")
        theirs.stop()
        mine.stop()


# == 5. messages ====================================================================================
USAGE_LINE = ("usage: plebnet [--nic NAME=BACKEND]... [--rc FILE]... [--keep-going] "
              "[--strict] [--sockdir DIR]")


@pytest.mark.parametrize("argv, status, lines", [
    (["--bogus"], 64, ["plebnet: no such option '--bogus'", USAGE_LINE]),
    (["--nic", "x"], 64, ["plebnet: --nic: 'x' is not NAME=BACKEND", USAGE_LINE]),
    (["--nic"], 64, ["plebnet: option '--nic' requires an argument", USAGE_LINE]),
    (["--nic", "vnet0=bogus"], 64,
     ["plebnet: --nic vnet0=bogus: backend 'bogus' is not available (known: none, tap, vxlan)"]),
    (["--read-group", "no-such-group-here"], 67,
     ["plebnet: --read-group no-such-group-here: no such group"]),
    (["--rc", "/nonexistent/rc.conf"], 66,
     ["plebnet: /nonexistent/rc.conf: No such file or directory"]),
    (["--sockdir", "/nonexistent/dir"], 73,
     ["plebnet: /nonexistent/dir: No such file or directory"]),
])
def test_plebnet_start_up_errors_are_tool_style(sockdir, argv, status, lines):
    out = subprocess.run(plebnet_argv(["--sockdir", sockdir, *argv]), capture_output=True,
                         text=True, timeout=30, env=env_for(sockdir))
    assert out.returncode == status, out.stderr
    assert out.stderr.splitlines()[:len(lines)] == lines
    assert len(out.stderr.splitlines()) == len(lines) + 2 * (len(lines) > 1)  # usage: 3 lines


def test_rc_error_and_daemon_statuses(sockdir, tmp_path):
    bad = tmp_path / "rc.conf"
    bad.write_text('ifconfig_vnet0="inet 10.0.0.1/24 bogus"\n')
    out = subprocess.run(plebnet_argv([*NIC, "--rc", str(bad), "--sockdir", sockdir]),
                         capture_output=True, text=True, timeout=30, env=env_for(sockdir))
    assert out.returncode == 65, out.stderr
    assert out.stderr.splitlines()[-1] == "plebnet: rc.conf not applied; not starting"
    # --daemon: the parent exits with the status of the child's failure
    out = subprocess.run(plebnet_argv(["--daemon", "--nic", "vnet0=bogus", "--sockdir",
                                       sockdir]), capture_output=True, text=True, timeout=30,
                         env=env_for(sockdir))
    assert out.returncode == 64
    assert out.stderr.startswith("plebnet: --nic vnet0=bogus: backend 'bogus'")


def test_client_says_when_the_pid_is_not_the_stack(stack, sockdir):
    os.symlink(stack.path, os.path.join(sockdir, "4245"))
    with pytest.raises(ConnectError, match=rf"the process answering at {sockdir}/4245 is pid "
                                           rf"{stack.pid} \(uid {os.getuid()}\), not stack 4245: "
                                           rf"refusing"):
        Client.connect(pid=4245, directory=sockdir)


# == 6. a stack gone or stalled mid-command =========================================================
def tool(stack, *argv, timeout="1", **kw):
    env = {**stack.env(), "PLEBNET_TIMEOUT": timeout, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-m", "plebconf", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def stop_stack(stack, how):
    """Kill the stack, or stop it (SIGSTOP); the message its tools will give."""
    if how == "kill":
        os.kill(stack.pid, signal.SIGKILL)
        return f"plebconf: stack at {stack.path} closed the connection"
    os.kill(stack.pid, signal.SIGSTOP)
    return f"plebconf: stack at {stack.path} not answering"


def cleanup(stack):
    try:
        os.kill(stack.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    stack.stop(signal.SIGKILL)


def finish(proc, message):
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (69, message + "\n"), err
    return out


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_ping_when_the_stack_goes(sockdir, how):
    stack = spawn_stack(NIC, sockdir=sockdir)
    try:
        ping = tool(stack, "ping", "-i", "0.2", "-W", "100", "127.0.0.1")
        assert ping.stdout.readline() == "PING 127.0.0.1 (127.0.0.1): 56 data bytes\n"
        assert ping.stdout.readline().startswith("64 bytes from 127.0.0.1: icmp_seq=0 ")
        finish(ping, stop_stack(stack, how))
    finally:
        cleanup(stack)


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_route_monitor_when_the_stack_goes(sockdir, how):
    stack = spawn_stack(NIC, sockdir=sockdir)
    try:
        monitor = tool(stack, "route", "-n", "monitor")
        # a change it reports proves it subscribed: mid-command from here on (changes made
        # before it subscribed are not reported: make them until one is)
        with stack.client() as c:
            for mtu in range(1400, 1500):
                c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=mtu)
                if select.select([monitor.stdout], [], [], 0.5)[0]:
                    break
        assert " vnet0 " in monitor.stdout.readline()
        finish(monitor, stop_stack(stack, how))
    finally:
        cleanup(stack)


def test_route_monitor_on_a_quiet_stack_is_not_stalled(sockdir):
    """Quiet for several receive timeouts, the stack answers the probe: monitor keeps
    going and reports the next change."""
    stack = spawn_stack(NIC, sockdir=sockdir)
    try:
        monitor = tool(stack, "route", "-n", "monitor", "-c", "1", timeout="0.3")
        time.sleep(2)           # several timeouts' worth of silence
        assert monitor.poll() is None
        with stack.client() as c:
            c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.9.0.1", plen=24)
        out, err = monitor.communicate(timeout=60)
        assert (monitor.returncode, err) == (0, "")
        assert "10.9.0.1" in out, out
    finally:
        stack.stop()


def wait_blocked_on_stack(proc):
    """Until proc waits for a reply on its unix socket (its request sent)."""
    while True:
        assert proc.poll() is None, proc.communicate()
        with open(f"/proc/{proc.pid}/wchan") as f:
            if f.read().startswith("unix_stream"):
                return
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_batch_when_the_stack_goes(sockdir, tmp_path, how):
    """The stack stops before the batch's connection is answered: killed while the tool
    waits (it ends on the closed connection), or left stopped (it stops waiting)."""
    stack = spawn_stack(NIC, sockdir=sockdir)
    try:
        os.kill(stack.pid, signal.SIGSTOP)
        lines = tmp_path / "batch.txt"
        lines.write_text("ifconfig vnet0 inet 10.0.0.1/24\n")
        batch = tool(stack, "batch", str(lines), timeout="1" if how == "stop" else "60")
        if how == "kill":
            wait_blocked_on_stack(batch)
            os.kill(stack.pid, signal.SIGKILL)
            message = f"plebconf: stack at {stack.path} closed the connection"
        else:
            message = f"plebconf: stack not answering at {stack.path}"
        out, err = batch.communicate(timeout=60)
        assert (batch.returncode, err) == (69, message + "\n"), err
    finally:
        cleanup(stack)


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_rc_apply_when_the_stack_goes(sockdir, tmp_path, how):
    """rc apply reads its files once connected: a FIFO as the file holds it there while the
    stack is killed or stopped, so the batch itself meets it."""
    stack = spawn_stack(NIC, sockdir=sockdir)
    fifo = str(tmp_path / "rc.conf")
    os.mkfifo(fifo)
    try:
        rc = tool(stack, "rc", "apply", fifo)
        with open(fifo, "w"):       # returns once rc opened it: it is connected
            pass
        message = stop_stack(stack, how)
        content = b'ifconfig_vnet0="inet 10.0.0.1/24"\n'

        def feed():                 # every open of the file gets the content
            while rc.poll() is None:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:     # ENXIO: not open for reading right now
                    time.sleep(0.02)
                    continue
                try:
                    os.write(fd, content)
                except OSError:
                    pass
                os.close(fd)
                time.sleep(0.02)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        finish(rc, message)
        feeder.join(10)
    finally:
        cleanup(stack)


def test_dangling_symlink_as_sockdir_is_refused(shared_dir):
    link = os.path.join(shared_dir, "dangling")
    os.symlink(os.path.join(shared_dir, "nowhere"), link)
    out = subprocess.run(plebnet_argv(["--sockdir", link]), capture_output=True, text=True,
                         timeout=30, env=env_for(link))
    assert (out.returncode, out.stderr) == (
        73, f"plebnet: {link} is a symbolic link to nothing; refusing to start\n")
    assert not os.path.exists(os.path.join(shared_dir, "nowhere"))


def test_permission_denied_suggests_read_group(users, shared_dir):
    """Kept out by the socket's mode, or (mode opened) by the credentials at accept: both
    say how the owner could let a group in."""
    (a, a_uid), _, (group, gid) = users
    with spawn_stack(NIC, sockdir=shared_dir) as stack:
        out = plebconf("-p", str(stack.pid), "ifconfig", "-l", user=as_user(a_uid, gid),
                       env=env_for(shared_dir))
        one_line_69(out, f"plebconf: cannot connect to {stack.path}: Permission denied (its "
                         f"owner may let a group read it: plebnet --read-group GROUP)")
        os.chmod(stack.path, 0o666)
        out = plebconf("-p", str(stack.pid), "ifconfig", "-l", user=as_user(a_uid, gid),
                       env=env_for(shared_dir))
        one_line_69(out, f"plebconf: {stack.path}: permission denied: uid {a_uid} may not use "
                         f"this stack (its owner may let a group read it: plebnet --read-group "
                         f"GROUP)")
