"""The reliability exercises, shared by the tests (short runs) and tools/*.py (long runs).

Each function starts its own stack(s) in a private socket directory, runs, stops them and
returns a dict of figures.  Nothing here asserts: callers decide what a failure is.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time

import msgpack

from plebproto import protocol
from plebconf.rpc.client import Client, ConnectError
from plebnet_core.spawn import spawn_stack
from plebnet_core.state.check import fetch_and_check

NIC = ["--nic", "vnet0=none"]


class Sandbox:
    """A private socket directory (and state directory), removed at the end."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pleb-rel-")
        self.state = os.path.join(self.dir, "state")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def _answers_due(frame: bytes) -> int:
    """The answers one frame is owed: one per request of a requests frame (a malformed
    element gets its own error), else one (a reply or the error for what does not decode)."""
    decoded = next(protocol.read_frames(bytearray(frame)), None)
    return len(decoded) if protocol.is_group(decoded) else 1


def _final_replies(sock, expect: int, rbuf: bytearray) -> list[dict]:
    """Read until `expect` answers (not stream chunks, not events) arrived; return them.
    A group of replies (to a requests frame) counts as its members."""
    out = []
    while len(out) < expect:
        for msg in protocol.read_frames(rbuf):
            if isinstance(msg, Exception):
                raise msg
            if protocol.is_group(msg):     # the answers to a requests frame's requests
                out.extend(protocol.reply_map(reply) for reply in msg)
                continue
            if type(msg) is list:   # the answer to a compact request
                msg = protocol.reply_map(msg)
            if "errno" in msg:      # chunks and events carry none; every answer does
                out.append(msg)
        if len(out) >= expect:
            break
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionResetError("stack closed the connection")
        rbuf += data
    return out


# == crash: SIGKILL while 4 clients stream changes; every acknowledged change survives ==========
def _crash_client(stack, n: int, rnd: random.Random, model: dict, lock, stop,
                  counter: list) -> None:
    """Stream route adds (some refused on purpose) and deletes, pipelined 8 deep; record the
    outcome of each in model[dst] = 'present' | 'absent' | 'unknown'."""
    try:
        client = stack.client(timeout=10)
    except (ConnectError, OSError):
        return
    inflight = []           # (rid, dst, kind)
    try:
        while not stop.is_set() or inflight:
            while len(inflight) < 8 and not stop.is_set():
                counter[n] += 1             # every address is used once across rounds
                seq = counter[n]
                net = f"{n * 50 + (seq >> 16)}.{seq >> 8 & 255}.{seq & 255}"
                roll = rnd.random()
                mine = []
                if roll < 0.2:
                    with lock:
                        mine = [d for d, s in model.items()
                                if s in ("present", "kept") and d[1] == n]
                if mine:
                    dst = rnd.choice(mine)
                    kind = "delete"
                    args = {"type": "RTM_DELETE", "af": "inet", "dst": dst[0], "plen": 32}
                elif roll < 0.35:
                    dst = (f"11.{net}", n)
                    kind = "refused"    # unreachable gateway: ENETUNREACH, never applied
                    args = {"type": "RTM_ADD", "af": "inet", "dst": dst[0], "plen": 32,
                            "gateway": "192.0.2.1"}
                else:
                    dst = (f"10.{net}", n)
                    kind = "add"
                    args = {"type": "RTM_ADD", "af": "inet", "dst": dst[0], "plen": 32,
                            "gateway": "lo0", "iface": True}
                with lock:
                    if kind == "delete":
                        model[dst] = "unknown"
                    elif dst not in model:
                        model[dst] = "unknown"
                inflight.append((client.send("rtmsg", args), dst, kind))
            if not inflight:
                break
            reply = client._reply(inflight[0][0])
            _, dst, kind = inflight.pop(0)
            with lock:
                if reply.get("errno"):
                    model[dst] = "absent" if kind in ("add", "refused") else "unknown"
                else:
                    model[dst] = "absent" if kind == "delete" else "present"
                    if kind == "refused":
                        model[dst] = "present-refused"      # must never happen
    except (ConnectError, OSError, ConnectionError):
        pass                # the stack was killed: what is in flight stays 'unknown'
    finally:
        client.close()


def crash_rounds(rounds: int = 20, seed: int = 1, clients: int = 4, max_run: float = 0.4,
                 log=None) -> dict:
    """Kill a --state stack with SIGKILL at a random moment, `rounds` times, on one state
    directory; after each restart check every acknowledged change against the listing."""
    rnd = random.Random(seed)
    figures = {"rounds": 0, "acked": 0, "refused": 0, "unknown": 0, "lost": 0,
               "phantom": 0, "violations": 0, "restarts_failed": 0}
    model: dict = {}
    counter = [0] * clients
    lock = threading.Lock()
    with Sandbox() as box:
        for r in range(rounds):
            stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
            stop = threading.Event()
            threads = [threading.Thread(target=_crash_client,
                                        args=(stack, n, random.Random(rnd.random()), model,
                                              lock, stop, counter))
                       for n in range(clients)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.02, max_run))
            stack.stop(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join()
            try:
                stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
            except Exception as exc:
                figures["restarts_failed"] += 1
                if log:
                    log(f"round {r}: restart failed: {exc}")
                break
            with stack.client() as c:
                have = {row[1] for row in c.sysctl("NET_RT_DUMP", af="inet")}
                figures["violations"] += len(fetch_and_check(c))
            stack.stop()
            for dst, state in list(model.items()):
                present = dst[0] in have
                if state == "present":
                    figures["acked"] += 1
                    figures["lost"] += not present
                elif state == "kept":       # acknowledged in an earlier round
                    figures["lost"] += not present
                elif state in ("absent", "present-refused"):
                    figures["refused" if dst[0].startswith("11.") else "acked"] += 1
                    figures["phantom"] += present or state == "present-refused"
                else:
                    figures["unknown"] += 1
                # the next round starts from the state the stack came back with
                model[dst] = "kept" if present else "absent"
            figures["rounds"] += 1
            if log:
                log(f"round {r + 1}: {len(have)} routes, lost {figures['lost']}, "
                    f"phantom {figures['phantom']}")
            # keep the model small: forget settled entries of earlier rounds
            for dst in [d for d, s in model.items() if s == "absent"]:
                del model[dst]
    return figures


# == fuzz: random, truncated, mistyped, huge and nested frames, pipelined ========================
_KEYS = ["req", "type", "name", "ifname", "newname", "addr", "plen", "dst", "gateway", "af",
         "iface", "mac", "flags", "set", "clear", "mtu", "value", "ops", "more", "params",
         "broadcast", "dstaddr", "expire", "weight", "ifp", "temp", "n", "descr", "group",
         "lladdr", "metric", "version", "args", "tolerate"]
_WORDS = ["SIOCAIFADDR", "SIOCDIFADDR", "SIOCIFCREATE2", "SIOCIFDESTROY", "SIOCSIFNAME",
          "SIOCSIFFLAGS", "SIOCSIFMTU", "SIOCAIFADDR_IN6", "SIOCDIFADDR_IN6", "SIOCSIFLLADDR",
          "SIOCAIFGROUP", "SIOCDIFGROUP", "SIOCSIFDESCR", "SIOCSIFINFO_IN6", "SIOCSIFCAP",
          "RTM_ADD", "RTM_DELETE", "RTM_CHANGE", "RTM_GET", "NET_RT_DUMP", "NET_RT_FLAGS",
          "NET_RT_IFLIST", "net.inet.ip.forwarding", "net.fibs", "kern.hostname",
          "net.inet6.ip6.dad_count", "inet", "inet6", "vnet0", "lo0", "tap", "tap0", "tap1",
          "vxlan", "vxlan0", "10.0.0.1", "10.0.0.2", "10.1.0.0", "127.0.0.1", "0.0.0.0",
          "255.255.255.255", "::1", "fe80::1%vnet0", "2001:db8::1", "fe80::1%bogus",
          "00:11:22:33:44:55", "ff:ff:ff:ff:ff:ff", "", "x" * 20, "1.2.3", "::", "é"]
_OPS = ["hello", "ioctl", "rtmsg", "sysctl", "llmsg", "batch", "bogus", None, 7]


def random_value(rnd: random.Random, depth: int = 0):
    roll = rnd.random()
    if roll < 0.35:
        return rnd.choice(_WORDS)
    if roll < 0.6:
        return rnd.choice([0, 1, -1, 24, 32, 64, 128, 129, 1500, 65536, 2 ** 31, -2 ** 63,
                           2 ** 64 - 1, rnd.randrange(-1000, 100000)])
    if roll < 0.7:
        return rnd.choice([True, False, None, 1.5, float("nan"), b"\x00\xff"])
    if roll < 0.8 and depth < 4:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if roll < 0.9 and depth < 4:
        return random_args(rnd, depth + 1)
    return "".join(chr(rnd.randrange(32, 0x3000)) for _ in range(rnd.randrange(12)))


def random_args(rnd: random.Random, depth: int = 0) -> dict:
    return {rnd.choice(_KEYS) if rnd.random() < 0.9 else random_value(rnd, 4):
            random_value(rnd, depth) for _ in range(rnd.randrange(6))}


def random_request(rnd: random.Random):
    op = rnd.choice(_OPS)
    args = random_args(rnd)
    if op == "batch" and rnd.random() < 0.7:
        args = {"ops": [[rnd.choice(_OPS), random_args(rnd)] + (
            [[rnd.randrange(100)]] if rnd.random() < 0.3 else []) for _ in
            range(rnd.randrange(5))]}
    if op == "batch":
        args.pop("more", None)      # a batch left open would make later replies 'more' ones
    msg = {"id": rnd.randrange(1 << 31), "op": op, "args": args}
    if rnd.random() < 0.05:
        msg["args"] = random_value(rnd)
    return msg


def random_frame(rnd: random.Random) -> bytes:
    """One complete frame (the length prefix always right, so the stream stays in step)."""
    roll = rnd.random()
    if roll < 0.6:
        body = msgpack.packb(random_request(rnd), use_bin_type=True)
    elif roll < 0.7:
        body = msgpack.packb(random_value(rnd), use_bin_type=True)
    elif roll < 0.8:        # truncated request
        body = msgpack.packb(random_request(rnd), use_bin_type=True)
        body = body[:rnd.randrange(len(body) + 1)]
    elif roll < 0.9:        # a byte flipped
        body = bytearray(msgpack.packb(random_request(rnd), use_bin_type=True))
        body[rnd.randrange(len(body))] ^= 1 << rnd.randrange(8)
        body = bytes(body)
    elif roll < 0.95:       # deeply nested
        depth = rnd.randrange(10, 3000)
        body = b"\x91" * depth + b"\xc0"
        if rnd.random() < 0.5:
            body = b"\x83\xa2id\x01\xa2op\xa5hello\xa4args" + b"\x81\xa1a" * depth + b"\xc0"
    else:
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
    return protocol.HEADER.pack(len(body)) + body


def fuzz_frames(frames: int = 100_000, seed: int = 1, window: int = 512, check_every=20_000,
                pool: int = 5000, log=None) -> dict:
    """Pipeline `frames` fuzz frames (drawn from a pool of generated ones, each sent with a
    fresh byte flipped half the time) into one stack; every frame must get exactly one final
    reply; the stack must answer hello and keep its invariants; huge length prefixes are
    sent on side connections (they close theirs by design)."""
    rnd = random.Random(seed)
    figures = {"frames": 0, "replies": 0, "crashes": 0, "violations": 0, "huge": 0,
               "hello_after": 0, "internal_errors": 0}
    frame_pool = [random_frame(rnd) for _ in range(pool)]
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(60)
            sock.connect(stack.path)
            rbuf = bytearray()
            sent = answered = 0
            since_check = 0
            while sent < frames:
                burst = []
                for _ in range(min(window, frames - sent)):
                    frame = rnd.choice(frame_pool)
                    if rnd.random() < 0.5 and len(frame) > 4:
                        frame = bytearray(frame)
                        i = rnd.randrange(4, len(frame))
                        frame[i] = rnd.randrange(256)
                        frame = bytes(frame)
                    burst.append(frame)
                sock.sendall(b"".join(burst))
                sent += len(burst)
                due = sum(map(_answers_due, burst))
                got = len(_final_replies(sock, due, rbuf))
                answered += got if got != due else len(burst)
                since_check += len(burst)
                if since_check >= check_every or sent >= frames:
                    since_check = 0
                    if stack.proc.poll() is not None:
                        figures["crashes"] += 1
                        break
                    figures["huge"] += _huge_frame(stack)
                    with stack.client() as c:
                        figures["hello_after"] += c.server["pid"] == stack.pid
                        bad = fetch_and_check(c)
                    figures["violations"] += len(bad)
                    err = stack.stderr()
                    figures["internal_errors"] = err.count("Traceback")
                    if log and figures["internal_errors"]:
                        log("stack's last internal error:\n" + err[err.rindex("Traceback"):])
                    if log:
                        log(f"{sent} frames, {answered} replies"
                            + (f", violations: {bad[:3]}" if bad else ""))
            figures["frames"], figures["replies"] = sent, answered
            sock.close()
        except (OSError, ConnectionError) as exc:
            figures["crashes"] += stack.proc.poll() is not None
            if log:
                log(f"connection failed: {exc!r}")
        finally:
            figures["crashes"] += stack.stop() not in (0, None) and figures["crashes"] == 0
    return figures


def _huge_frame(stack) -> int:
    """A length prefix over MAX_FRAME: E2BIG, the connection closes, the stack lives."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(stack.path)
    s.sendall(protocol.HEADER.pack(0xFFFFFFFF) + b"\x00" * 64)
    reply = _final_replies(s, 1, bytearray())[0]
    s.close()
    return int(reply["errno"] == 7)     # E2BIG


# == stalls: idle and byte-at-a-time peers must not slow a normal client down =====================
def stalls(idle: int = 100, trickle: int = 100, deaf: int = 10, requests: int = 500,
           log=None) -> dict:
    """Open `idle` silent connections, `trickle` ones sending a request one byte at a time and
    `deaf` ones asking for dumps without reading; meanwhile one normal client runs `requests`
    requests.  Figures: completed requests, worst latency, trickled requests answered."""
    figures = {"stalled_peers": idle + trickle + deaf, "requests": requests, "completed": 0,
               "worst_ms": 0.0, "trickled_answered": 0}
    with Sandbox() as box:
        stack = spawn_stack(NIC, sockdir=box.dir)
        socks = []
        try:
            def connect():
                s = socket.socket(socket.AF_UNIX)
                s.connect(stack.path)
                socks.append(s)
                return s
            for _ in range(idle):
                connect()
            trickling = [connect() for _ in range(trickle)]
            for s in trickling:
                s.setblocking(False)
            for _ in range(deaf):
                s = connect()
                s.setblocking(False)
                try:
                    for _ in range(200):
                        s.send(protocol.encode({"id": 1, "op": "sysctl",
                                                "args": {"name": "NET_RT_IFLIST"}}))
                except BlockingIOError:
                    pass
            frame = protocol.encode({"id": 1, "op": "hello", "args": {}})
            stop = threading.Event()

            def trickler():
                for i in range(len(frame)):
                    for s in trickling:
                        try:
                            s.send(frame[i:i + 1])
                        except OSError:
                            pass
                    if stop.wait(0.002):
                        return
            t = threading.Thread(target=trickler)
            t.start()
            with stack.client() as c:
                for i in range(requests):
                    start = time.perf_counter()
                    if i % 2:
                        c.rtmsg("RTM_ADD", af="inet", dst=f"10.9.{i >> 8}.{i & 255}", plen=32,
                                gateway="lo0", iface=True)
                    else:
                        c.sysctl("NET_RT_IFLIST")
                    figures["worst_ms"] = max(figures["worst_ms"],
                                              (time.perf_counter() - start) * 1000)
                    figures["completed"] += 1
            t.join()
            for s in trickling:
                s.setblocking(True)
                s.settimeout(10)
                try:
                    figures["trickled_answered"] += "result" in _final_replies(
                        s, 1, bytearray())[0]
                except OSError:
                    pass
        finally:
            for s in socks:
                s.close()
            stack.stop()
    figures["worst_ms"] = round(figures["worst_ms"], 1)
    return figures


# == load: many clients, mixed ops; the result equals a sequential replay of the audit log ========
def _load_ops(n: int, count: int, seed: int):
    """Client n's mixed ops: routes (some colliding with other clients'), neighbours, aliases,
    interface clones, flags, sysctls, reads."""
    rnd = random.Random(seed * 1000 + n)
    for i in range(count):
        roll = rnd.random()
        k = rnd.randrange(64)
        if roll < 0.30:
            yield "rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{100 + k}.{n}.0",
                            "plen": 24, "gateway": f"10.255.{k}.1"}
        elif roll < 0.45:
            yield "rtmsg", {"type": "RTM_DELETE", "af": "inet", "dst": f"10.{100 + k}.{n}.0",
                            "plen": 24}
        elif roll < 0.55:
            yield "rtmsg", {"type": "RTM_GET", "af": "inet", "dst": f"10.{100 + k}.{n}.9"}
        elif roll < 0.63:
            yield "llmsg", {"type": "RTM_ADD", "af": "inet", "addr": f"10.255.{k}.{n + 2}",
                            "mac": f"02:00:00:00:{k:02x}:{n:02x}"}
        elif roll < 0.68:
            yield "llmsg", {"type": "RTM_DELETE", "af": "inet", "addr": f"10.255.{k}.{n + 2}"}
        elif roll < 0.74:
            yield "ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0",
                            "addr": f"10.{200 + n % 50}.{k % 4}.1", "plen": 24}
        elif roll < 0.79:
            yield "ioctl", {"req": "SIOCDIFADDR", "ifname": "vnet0",
                            "addr": f"10.{200 + n % 50}.{k % 4}.1"}
        elif roll < 0.82:
            yield "ioctl", {"req": "SIOCIFCREATE2", "ifname": f"tap{k % 8}"}
        elif roll < 0.85:
            yield "ioctl", {"req": "SIOCIFDESTROY", "ifname": f"tap{k % 8}"}
        elif roll < 0.88:
            yield "ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": 1280 + k}
        elif roll < 0.90:
            yield "sysctl", {"name": "net.inet.ip.forwarding", "value": k & 1}
        elif roll < 0.93:
            yield "batch", {"ops": [
                ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{100 + k}.{n}.128",
                           "plen": 25, "gateway": f"10.255.{k}.1"}],
                ["rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": f"10.{100 + k}.{n}.0",
                           "plen": 25, "gateway": f"10.255.{k}.1"}, [17]]]}
        else:
            yield "sysctl", {"name": "NET_RT_IFLIST", "ifname": "lo0"}


def _load_client(path: str, pid: int, n: int, count: int, seed: int, window: int, out):
    """Run in a child process: pipeline client n's ops; report (op, errno) per request."""
    seen, answered, ids = [], 0, []
    with Client.connect(pid=pid, directory=os.path.dirname(path), timeout=300) as c:
        ops = list(_load_ops(n, count, seed))
        sent = 0
        while answered < len(ops):
            while sent < len(ops) and sent - answered < window:
                ids.append(c.send(*ops[sent]))
                sent += 1
            msg = c._reply(ids[answered])
            while msg.get("more"):
                msg = c._reply(ids[answered])
            seen.append(msg.get("errno", 0))
            answered += 1
    out.put((n, (os.getpid(), seen)))


def sequential_model(pid: int, entries: list, hostuuid: str | None = None):
    """A fresh in-process stack like `plebnet --nic vnet0=none`, with the acknowledged changes
    of the audit log replayed in the stack's order; returns (syscalls, errnos)."""
    from plebnet_core.persist import apply
    from plebproto.errors import OpError
    from plebnet_core.state.stack import Stack, stable_mac
    from plebnet_core.syscalls import Syscalls
    stack = Stack(pid=pid, hostuuid=hostuuid)        # the same MACs as the stack's
    with stack.transaction():
        stack.if_attach("vnet0", "vnet", stable_mac(stack.hostuuid, "vnet0"),
                        params={"backend": "none"})
        stack.if_attach("lo0", "lo")
    sc = Syscalls(stack, pid)
    errnos = []
    for e in entries:
        try:
            apply(sc, e["op"], e["args"])
            errnos.append(0)
        except OpError as exc:
            errnos.append(exc.errno)
    return sc, errnos


def rows(stream) -> list:
    """A Stream's rows as the client sees them (a chunked one yields lists of rows; an
    interface split across chunks is joined again)."""
    return stream.collect()


def comparable(dumps):
    """Listings as they arrive over the wire (lists, not tuples), minus counters and clocks."""
    iflist, routes, arp, sysctl = msgpack.unpackb(msgpack.packb(dumps))
    for i in iflist:        # the process's, not the configuration: counters, "Opened by PID"
        i.pop("stats", None)
        i.pop("drv_status", None)
    arp = [{k: v for k, v in a.items() if k != "expire"} for a in arp]
    return iflist, [list(r) for r in routes], arp, sysctl


def load(clients: int = 64, ops: int = 10_000, seed: int = 1, window: int = 32, log=None) -> dict:
    """`clients` processes × `ops` mixed ops, pipelined, against one stack.  Checks: every
    request answered once; each client's errnos equal, in order, the audit log's for its pid;
    replaying the audit log sequentially gives the same errnos and the same final state."""
    import multiprocessing as mp
    figures = {"clients": clients, "ops": clients * ops, "answered": 0, "changes": 0,
               "seconds": 0.0, "order_mismatch": 0, "model_mismatch": 0, "state_equal": False}
    with Sandbox() as box:
        env = dict(os.environ, PLEBNET_AUDIT_BYTES=str((clients * ops + 1000) * 512))
        hostuuid = "00000000-0000-4000-8000-00000000load"
        stack = spawn_stack([*NIC, "--hostuuid", hostuuid], sockdir=box.dir, env=env)
        try:
            with stack.client() as c:
                c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.255.0.2", plen=16)
            ctx = mp.get_context("fork")
            queue = ctx.Queue()
            start = time.perf_counter()
            procs = [ctx.Process(target=_load_client, args=(
                stack.path, stack.pid, n, ops, seed, window, queue)) for n in range(clients)]
            for p in procs:
                p.start()
            results = dict(queue.get(timeout=1800) for _ in procs)
            for p in procs:
                p.join()
            figures["seconds"] = round(time.perf_counter() - start, 1)
            figures["answered"] = sum(len(v[1]) for v in results.values())
            with stack.client(timeout=300) as c:
                entries = c.call("audit", {"args": True})
                final = comparable((c.sysctl("NET_RT_IFLIST"), c.sysctl("NET_RT_DUMP"),
                                    c.sysctl("NET_RT_FLAGS", af="inet"),
                                    c.sysctl("net.inet.ip.forwarding")))
            figures["changes"] = len(entries)
            # the connection's pid in the audit names the client process
            by_pid: dict = {}
            for e in entries[1:]:           # [0] is the setup address above
                by_pid.setdefault(e["pid"], []).append(e["errno"])
            for n, (pid, seen) in results.items():
                mutating = [err for (op, args), err in zip(_load_ops(n, ops, seed), seen)
                            if not _read_only(op, args)]
                figures["order_mismatch"] += mutating != by_pid.get(pid)
            sc, errnos = sequential_model(stack.pid, entries, hostuuid)
            figures["model_mismatch"] = sum(a != b for a, b in
                                            zip(errnos, (e["errno"] for e in entries)))
            model = comparable((rows(sc.if_list({})), rows(sc.rt_dump({})),
                                rows(sc.ll_dump({"af": "inet"})),
                                sc.sysctl({"name": "net.inet.ip.forwarding"})))
            figures["state_equal"] = model == final
        finally:
            stack.stop()
    return figures


def _read_only(op: str, args: dict) -> bool:
    return (op == "rtmsg" and args["type"] == "RTM_GET") or (
        op == "sysctl" and "value" not in args)


# == persistence attacks (RELIABILITY.md, "What --state promises") ===============================
def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def refused_frame(rid: int = 1) -> bytes:
    """One frame of MAX_FRAME bytes whose request is refused (no interface 'nosuch'): a list
    of empty maps, each one byte on the wire and ~64 in memory once decoded."""
    head = {"id": rid, "op": "ioctl", "args": {"req": "SIOCSIFMTU", "ifname": "nosuch",
                                                "mtu": 1400, "pad": []}}
    overhead = len(msgpack.packb(head)) + 4         # the array32 header instead of fixarray
    n = protocol.MAX_FRAME - overhead
    body = msgpack.packb(head)[:-1] + b"\xdd" + n.to_bytes(4, "big") + b"\x80" * n
    assert len(body) == protocol.MAX_FRAME
    return protocol.HEADER.pack(len(body)) + body


def refused_frames(frames: int = 3) -> dict:
    """Send `frames` refused MAX_FRAME requests to a --state stack; the figures: its resident
    memory before and after (KiB), the journal's size, what the audit kept of them."""
    figures = {"frames": frames, "answered": 0, "rss_before_kib": 0, "rss_after_kib": 0,
               "journal_bytes": 0, "audit_args_bytes": 0, "restart_ok": False}
    with Sandbox() as box:
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
        try:
            with stack.client() as c:
                c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
            figures["rss_before_kib"] = _rss_kib(stack.pid)
            frame = refused_frame()
            for _ in range(frames):
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(120)
                s.connect(stack.path)
                s.sendall(frame)
                reply = _final_replies(s, 1, bytearray())[0]
                figures["answered"] += reply["errno"] != 0
                s.close()
            with stack.client() as c:
                entries = c.call("audit", {"args": True})
            figures["rss_after_kib"] = _rss_kib(stack.pid)
            figures["audit_args_bytes"] = max(len(msgpack.packb(e["args"])) for e in entries)
            figures["journal_bytes"] = os.path.getsize(os.path.join(box.state, "journal"))
        finally:
            stack.stop(signal.SIGKILL)
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
        with stack.client() as c:
            figures["restart_ok"] = (len(c.call("audit", {})) == frames + 1
                                     and c.sysctl("NET_RT_IFLIST")[0]["mtu"] == 1400)
        stack.stop()
    return figures


def refusal_compaction(requests: int = 400, compact_bytes: int = 16384) -> dict:
    """Refused requests only (each with ~4 KiB of arguments): the journal must still be
    compacted by size.  Figures: the largest journal seen, the snapshot's last change."""
    figures = {"requests": requests, "compact_bytes": compact_bytes, "journal_max": 0,
               "snapshot_seq": 0, "refused": 0}
    with Sandbox() as box:
        env = dict(os.environ, PLEBNET_COMPACT_BYTES=str(compact_bytes))
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir, env=env)
        journal = os.path.join(box.state, "journal")
        try:
            with stack.client() as c:
                for n in range(requests):
                    try:
                        c.ioctl("SIOCSIFMTU", ifname="nosuch", mtu=1400, pad="x" * 4096)
                    except Exception:
                        figures["refused"] += 1
                    figures["journal_max"] = max(figures["journal_max"],
                                                 os.path.getsize(journal))
        finally:
            stack.stop(signal.SIGKILL)
        from plebnet_core.persist import read_records
        with open(os.path.join(box.state, "snapshot"), "rb") as f:
            figures["snapshot_seq"] = read_records(f.read())[0][0]["seq"]
    return figures


def _config_routes(c, n: int) -> None:
    c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
    for i in range(n):
        c.rtmsg("RTM_ADD", af="inet", dst=f"10.{i + 1}.0.0", plen=16, gateway="10.0.0.1")


def _routes(c) -> list:
    return sorted(r[1] for r in c.sysctl("NET_RT_DUMP") if str(r[1]).startswith("10.")
                  and not str(r[1]).startswith("10.0.0"))


def short_writes(cuts: int = 200, seed: int = 1) -> dict:
    """In one process: compact a state directory while os.write fails (ENOSPC) after k bytes,
    for `cuts` values of k across the snapshot, and once while every write is short (a few
    bytes at a time).  Figures: how many failures left snapshot, journal and directory exactly
    as they were; whether the short-but-progressing writes gave a complete snapshot."""
    import errno
    from unittest import mock

    from plebnet_core import persist
    from plebnet_core.state.stack import Stack
    figures = {"cuts": 0, "untouched": 0, "refused_cleanly": 0, "short_ok": False}
    rnd = random.Random(seed)
    with Sandbox() as box:
        stack = Stack(pid=4242)
        with stack.transaction():
            stack.if_attach("vnet0", "vnet")
            stack.if_attach("lo0", "lo")
            stack.in_aifaddr("vnet0", 0x0A000002, 24)
        audit = persist.Audit()
        p = persist.Persist(box.state)
        audit.sink = p.append
        p.compact(stack, audit)
        for i in range(300):        # changes in the journal, a state worth saving
            with stack.transaction():
                stack.in_aifaddr("vnet0", 0x0B000000 + (i << 8) + 1, 24)
            audit.record(None, "ioctl", {"req": "SIOCAIFADDR", "n": i}, 0)
        p.sync()
        size = len(persist.pack_record({"format": 1, "seq": audit.seq, "mac_pid": 4242,
                                        "time": 0.0, "state": persist.serialise_state(stack),
                                        "audit": list(audit.entries)}))
        real_write = os.write

        def listing():
            out = {}
            for name in sorted(os.listdir(box.state)):
                with open(os.path.join(box.state, name), "rb") as f:
                    out[name] = f.read()
            return out

        before = listing()
        for k in sorted(rnd.sample(range(size), min(cuts, size))):
            room = [k]

            def failing(fd, data, room=room):
                if room[0] <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                n = real_write(fd, bytes(data[:room[0]]))
                room[0] -= n
                return n

            figures["cuts"] += 1
            with mock.patch.object(persist.os, "write", failing):
                try:
                    p.compact(stack, audit)
                except persist.PersistError as exc:
                    figures["refused_cleanly"] += "No space left on device" in str(exc)
            figures["untouched"] += listing() == before
        p.retry_at = 0

        def short(fd, data):
            return real_write(fd, bytes(data[:7]))

        with mock.patch.object(persist.os, "write", short):
            p.compact(stack, audit)
        with open(os.path.join(box.state, "snapshot"), "rb") as f:
            data = f.read()
        records, end = persist.read_records(data)
        figures["short_ok"] = (len(records) == 1 and end == len(data)
                               and records[0]["state"] == persist.serialise_state(stack)
                               and os.path.getsize(os.path.join(box.state, "journal")) == 0)
        p.close()
    return figures


def _start_error(args, box, env=None) -> str:
    """The stack's complaint when it refuses to start ('' if it started: then stopped)."""
    from plebnet_core.spawn import StackStartError
    try:
        stack = spawn_stack(args, sockdir=box.dir, env=env)
    except StackStartError as exc:
        return str(exc)
    stack.stop()
    return ""


def _files(directory: str) -> dict:
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                out[name] = f.read()
        else:
            out[name] = os.readlink(path) if os.path.islink(path) else "dir"
    return out


def _fill(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _journal_on_full_disk(state: str, filler: str, box, env) -> dict:
    """The disk full to the last page: changes are acknowledged while the journal's last
    page has room, then a journal write fails and the stack must stop (exit 75) without
    acknowledging; once space is back the start has every acknowledged change."""
    from plebproto.errors import OpError
    out = {"journal_full_exit": None, "journal_full_acked": 0, "journal_full_restored": False}
    stack = spawn_stack([*NIC, "--state", state], sockdir=box.dir, env=env)
    with stack.client() as c:       # the journal gets a page before the disk fills
        c.sysctl("kern.hostname", value="before")
    acked = "before"
    _fill(filler)
    try:
        with stack.client(timeout=10) as c:
            for i in range(200):    # ~200 bytes a record: the last page fills within 20
                c.sysctl("kern.hostname", value=f"full{i:03d}")
                acked = f"full{i:03d}"
                out["journal_full_acked"] += 1
    except (ConnectError, OSError, ConnectionError, OpError):
        pass
    out["journal_full_exit"] = stack.stop(signal.SIGKILL)
    out["journal_full_message"] = "cannot write" in stack.stderr() and \
        "No space left on device; stopping" in stack.stderr()
    os.unlink(filler)
    stack = spawn_stack([*NIC, "--state", state], sockdir=box.dir, env=env)
    with stack.client() as c:
        out["journal_full_restored"] = c.sysctl("kern.hostname") == acked
    stack.stop()
    return out


def full_disk(routes: int = 400) -> dict | None:
    """A --state directory on a small tmpfs (root only; None otherwise), filled until the
    snapshot no longer fits.  A compaction while serving must fail cleanly (stack serving,
    old snapshot kept), a start that cannot save must be refused with files untouched, and
    once space is back every acknowledged change must be there."""
    import subprocess
    if os.geteuid() != 0:
        return None
    figures = {"compaction_failed_cleanly": False, "served_after": False,
               "start_refused": "", "untouched": False, "restored": False, "no_tmp": False}
    with Sandbox() as box:
        mnt = os.path.join(box.dir, "mnt")
        os.mkdir(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt],
                       check=True)
        try:
            state = os.path.join(mnt, "state")
            env = dict(os.environ, PLEBNET_COMPACT_BYTES=str(8192))
            stack = spawn_stack([*NIC, "--state", state], sockdir=box.dir, env=env)
            filler = os.path.join(mnt, "filler")
            try:
                with stack.client() as c:
                    c.batch([["ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0",
                                        "addr": "10.0.0.2", "plen": 24}]]
                            + [["rtmsg", {"type": "RTM_ADD", "af": "inet",
                                          "dst": f"10.{i >> 8 & 255}.{i & 255}.0",
                                          "plen": 24, "gateway": "10.0.0.1"}]
                               for i in range(256, 256 + routes)])
                    snapshot_size = 0
                    # compacted once by size (the batch record alone passes 8 KiB)
                    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
                    try:                    # fill the disk, then free 3 pages
                        while os.write(fd, b"\0" * 4096):
                            pass
                    except OSError:
                        pass
                    finally:
                        os.close(fd)
                    os.truncate(filler, max(0, os.path.getsize(filler) - 3 * 4096))
                    snapshot_size = os.path.getsize(os.path.join(state, "snapshot"))
                    snap_before = _files(state)["snapshot"]
                    for i in range(60):     # ~10 KiB of journal: compaction is due, and fails
                        c.sysctl("kern.hostname", value=f"host{i:03d}-" + "x" * 100)
                    figures["served_after"] = c.sysctl("kern.hostname").startswith("host059")
                    figures["no_tmp"] = not os.path.exists(os.path.join(state, "snapshot.tmp"))
                    after = _files(state)
                    figures["compaction_failed_cleanly"] = (
                        "No space left on device" in stack.stderr()
                        and after["snapshot"] == snap_before and snapshot_size > 8192)
                    expect = (_routes(c), c.sysctl("kern.hostname"))
            finally:
                stack.stop(signal.SIGKILL)
            before = _files(state)
            figures["start_refused"] = _start_error([*NIC, "--state", state], box, env)
            figures["untouched"] = _files(state) == before
            os.unlink(filler)
            from plebnet_core.spawn import StackStartError
            try:
                stack = spawn_stack([*NIC, "--state", state], sockdir=box.dir, env=env)
            except StackStartError as exc:
                figures["restore_error"] = str(exc)
            else:
                with stack.client() as c:
                    figures["restored"] = (_routes(c), c.sysctl("kern.hostname")) == expect
                stack.stop()
            figures.update(_journal_on_full_disk(state, filler, box, env))
        finally:
            subprocess.run(["umount", mnt], check=False)
    return figures


def journal_damage(routes: int = 60, starts: int = 3, seed: int = 1) -> dict:
    """A real journal of `routes` acknowledged changes.  Every byte of it flipped in turn,
    classified by the loader (plebnet_core.persist.check_journal): each flip must be refused
    or be a torn tail that loses only its own (last) record.  Then real starts: `starts`
    random flips in the middle, a journal of zeros, a record removed — each refused in one line
    naming the file and an offset, files untouched — and --salvage on a flip: a copy kept, the
    changes before the damage loaded."""
    from plebnet_core import persist
    figures = {"bytes_flipped": 0, "refused": 0, "torn": 0, "silent_loss": 0,
               "starts": 0, "starts_refused": 0, "salvaged": False, "salvage_routes": 0,
               "message": ""}
    rnd = random.Random(seed)
    with Sandbox() as box:
        env = dict(os.environ, PLEBNET_COMPACT_BYTES=str(1 << 30))
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir, env=env)
        with stack.client() as c:
            _config_routes(c, routes)
        stack.stop(signal.SIGKILL)
        journal = os.path.join(box.state, "journal")
        with open(journal, "rb") as f:
            good = f.read()
        found, _ = persist.records.scan_records(good)
        last = found[-1][0]
        base = found[0][1]["seq"] - 1
        for i in range(len(good)):
            bad = bytearray(good)
            bad[i] ^= 1 << rnd.randrange(8)
            records, damage, torn = persist.check_journal(bytes(bad), base)
            figures["bytes_flipped"] += 1
            if damage:
                figures["refused"] += 1
            elif torn and i < last + persist.records.RECORD.size and i >= last \
                    and len(records) == len(found) - 1:
                figures["torn"] += 1        # the last record's length: a tear, to all eyes
            else:
                figures["silent_loss"] += 1

        def attempt(data: bytes) -> bool:
            with open(journal, "wb") as f:
                f.write(data)
            before = _files(box.state)
            message = _start_error([*NIC, "--state", box.state], box, env)
            figures["starts"] += 1
            held = (message.startswith(f"plebnet: {journal}") and "offset" in message
                    and "\n" not in message and "Traceback" not in message
                    and _files(box.state) == before)
            figures["starts_refused"] += held
            figures["message"] = figures["message"] or message
            return held

        middle = [pos for pos, _ in found[len(found) // 4: 3 * len(found) // 4]]
        for pos in rnd.sample(middle, starts):
            bad = bytearray(good)
            bad[pos + rnd.randrange(persist.records.RECORD.size + 10)] ^= 0x20
            attempt(bytes(bad))
        attempt(b"\0" * len(good))
        cut = found[len(found) // 2]
        attempt(good[:cut[0]] + good[found[len(found) // 2 + 1][0]:])      # one record gone
        # --salvage on a flip in the body of the middle record
        bad = bytearray(good)
        bad[cut[0] + persist.records.RECORD.size + 3] ^= 0xFF
        with open(journal, "wb") as f:
            f.write(bad)
        stack = spawn_stack([*NIC, "--state", box.state, "--salvage"], sockdir=box.dir,
                            env=env)
        with stack.client() as c:
            figures["salvage_routes"] = len(_routes(c))
        stack.stop()
        copies = [d for d in os.listdir(box.state) if d.startswith("salvage-")]
        if copies:
            with open(os.path.join(box.state, copies[0], "journal"), "rb") as f:
                figures["salvaged"] = (f.read() == bytes(bad)
                                       and "salvaging" in stack.stderr())
        figures["expected_salvage_routes"] = sum(
            1 for _, r in found[:len(found) // 2] if r["op"] == "rtmsg")
    return figures


def odd_journals() -> dict:
    """The journal missing (beside a snapshot), a directory, a symlink, a FIFO; a stale
    snapshot.tmp.  Each start must be refused in one line naming the file, never a traceback,
    files untouched; the stale snapshot.tmp is removed and the start goes on."""
    cases = {}
    with Sandbox() as box:
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
        with stack.client() as c:
            c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
        stack.stop()
        journal = os.path.join(box.state, "journal")
        os.rename(journal, journal + ".kept")
        arrange = {"missing": lambda: None,
                   "directory": lambda: os.mkdir(journal),
                   "symlink": lambda: os.symlink(journal + ".kept", journal),
                   "fifo": lambda: os.mkfifo(journal)}
        for name, make in arrange.items():
            make()
            before = _files(box.state)
            message = _start_error([*NIC, "--state", box.state], box)
            cases[name] = (message.startswith(f"plebnet: {journal}") and "\n" not in message
                           and "Traceback" not in message and _files(box.state) == before)
            if os.path.isdir(journal) and not os.path.islink(journal):
                os.rmdir(journal)
            elif os.path.lexists(journal):
                os.unlink(journal)
        os.rename(journal + ".kept", journal)
        open(os.path.join(box.state, "snapshot.tmp"), "wb").close()   # a failed start's
        stack = spawn_stack([*NIC, "--state", box.state], sockdir=box.dir)
        with stack.client() as c:
            cases["stale snapshot.tmp"] = (
                c.sysctl("NET_RT_IFLIST")[0]["mtu"] == 1400
                and not os.path.exists(os.path.join(box.state, "snapshot.tmp")))
        stack.stop()
    return {"cases": len(cases), "held": sum(cases.values()),
            "failing": [k for k, v in cases.items() if not v]}
