"""The stack's one event loop: file descriptors, timers and callbacks, no threads.

Everything that touches the state (control connections, device fds, ARP timers) runs as a
callback here, so the state model needs no locks.  asyncio would do, but a bare epoll loop
costs a fraction as much per wake-up, and the control path is measured in microseconds (the
selectors module, used before, spent several of them per wake-up wrapping epoll's answer).

Slow-turn tracer (opt-in, for finding what holds the loop): with PLEBNET_SLOW_TURN_MS=N in
the environment, every loop turn whose work (the wait in epoll not counted) took longer than
N ms is logged on stderr: its length (and the CPU time in it: less means the process was
not running, the machine busy), the callbacks that ran longest (name, ms), the time the
cyclic collector took inside it, and, for a callback still running N ms after it began, where
it was then (sampled again every N ms; SIGALRM).  Without the variable run_once is the plain
one: tracing costs nothing when off.
"""
from __future__ import annotations

import gc
import heapq
import itertools
import os
import select
import signal
import socket
import sys
import time
import traceback
from typing import Callable


_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_NOT_OUT, _NOT_IN = ~_OUT, ~_IN
_NONE = (None, None)
ENV_SLOW_TURN_MS = "PLEBNET_SLOW_TURN_MS"


class Timer:
    """A handle returned by call_later; cancel() makes the callback not run."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable, args: tuple):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._epoll = select.epoll()
        self._handlers: dict[int, list] = {}    # fd -> [reader, writer]
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._soon: list[tuple[Callable, tuple]] = []
        self._running = False
        slow = os.environ.get(ENV_SLOW_TURN_MS)
        if slow:
            self.tracer = TurnTracer(float(slow) / 1000, clock=time.perf_counter)
            self.run_once = self._run_once_traced       # type: ignore[method-assign]

    # -- file descriptors ------------------------------------------------------------------
    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        """Call callback() whenever fd is readable (replaces an earlier reader)."""
        self._update(fd, 0, callback)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self._update(fd, 1, callback)

    def remove_reader(self, fd: int) -> None:
        self._update(fd, 0, None)

    def remove_writer(self, fd: int) -> None:
        self._update(fd, 1, None)

    def _update(self, fd: int, slot: int, callback: Callable | None) -> None:
        handlers = self._handlers.get(fd)
        if handlers is None:
            if callback is None:
                return
            handlers = self._handlers[fd] = [None, None]
        old = (_IN if handlers[0] else 0) | (_OUT if handlers[1] else 0)
        handlers[slot] = callback
        mask = (_IN if handlers[0] else 0) | (_OUT if handlers[1] else 0)
        if mask == old:             # a new callback, or nothing to remove: no system call
            return
        if not old:
            self._epoll.register(fd, mask)
        elif mask:
            self._epoll.modify(fd, mask)
        else:
            del self._handlers[fd]
            try:
                self._epoll.unregister(fd)
            except OSError:         # already closed: the kernel forgot it by itself
                pass

    # -- time --------------------------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable, *args) -> Timer:
        return self.call_at(self.clock() + delay, callback, *args)

    def call_at(self, when: float, callback: Callable, *args) -> Timer:
        timer = Timer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def call_soon(self, callback: Callable, *args) -> None:
        self._soon.append((callback, args))

    # -- signals -----------------------------------------------------------------------------
    def add_signal_handler(self, sig: int, callback: Callable[[], None]) -> None:
        """Run callback on the loop when sig arrives.  The signal's byte on a wakeup socket
        ends a select() at once, whatever timeout it was sleeping on."""
        if not hasattr(self, "_wakeup"):
            self._wakeup = socket.socketpair()
            for s in self._wakeup:
                s.setblocking(False)
            signal.set_wakeup_fd(self._wakeup[1].fileno(), warn_on_full_buffer=False)
            self.add_reader(self._wakeup[0].fileno(), self._drain_wakeup)
            self._signal_callbacks = {}
        self._signal_callbacks[sig] = callback
        signal.signal(sig, lambda *_: None)     # the handler only needs to exist

    def _drain_wakeup(self) -> None:
        try:
            data = self._wakeup[0].recv(4096)
        except BlockingIOError:
            return
        for signum in data:
            callback = self._signal_callbacks.get(signum)
            if callback:
                callback()

    # -- running -----------------------------------------------------------------------------
    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        self._running = True
        while self._running:
            self.run_once()

    def _timeout(self, max_wait: float | None) -> float:
        """How long the turn may wait in epoll: not at all with callbacks due soon, else
        until the next timer (or max_wait), forever (-1) with neither."""
        timeout = max_wait
        if self._soon:
            timeout = 0
        elif self._timers:
            delay = max(0.0, self._timers[0][0] - self.clock())
            timeout = delay if timeout is None else min(timeout, delay)
        return -1 if timeout is None else timeout

    def run_once(self, max_wait: float | None = None) -> None:
        handlers = self._handlers
        for fd, events in self._epoll.poll(self._timeout(max_wait)):
            # an error or hang-up wakes both the reader and the writer, who will meet it
            if events & _NOT_OUT:
                reader = handlers.get(fd, _NONE)[0]
                if reader:
                    reader()
            if events & _NOT_IN:
                # the reader may have unregistered the fd; look the writer up again
                writer = handlers.get(fd, _NONE)[1]
                if writer:
                    writer()
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.callback(*timer.args)
        soon, self._soon = self._soon, []
        for callback, args in soon:
            callback(*args)

    def _run_once_traced(self, max_wait: float | None = None) -> None:
        """run_once, each callback timed by the tracer (PLEBNET_SLOW_TURN_MS)."""
        handlers = self._handlers
        events = self._epoll.poll(self._timeout(max_wait))
        run = self.tracer.begin()
        for fd, mask in events:
            if mask & _NOT_OUT:
                reader = handlers.get(fd, _NONE)[0]
                if reader:
                    run(reader, ())
            if mask & _NOT_IN:
                writer = handlers.get(fd, _NONE)[1]
                if writer:
                    run(writer, ())
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                run(timer.callback, timer.args)
        soon, self._soon = self._soon, []
        for callback, args in soon:
            run(callback, args)
        self.tracer.end()

    def close(self) -> None:
        if hasattr(self, "tracer"):
            self.tracer.close()
        self._epoll.close()


def callback_name(fn: Callable) -> str:
    """A callback as the tracer names it: its qualified name, and for a lambda or local
    function (a connection's reader, say) where it was defined."""
    target = getattr(fn, "__func__", fn)
    code = getattr(target, "__code__", None)
    name = getattr(target, "__qualname__", None) or repr(fn)
    if code is not None and "<locals>" in name:
        name += f" ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"
    return name


class TurnTracer:
    """Times a loop turn's callbacks; logs (to out, stderr by default) each turn longer than
    threshold seconds: see the module's docstring.  begin() returns the function that runs
    and times one callback, end() closes the turn."""

    TOP = 5         # callbacks named per slow turn, longest first
    SAMPLES = 6     # where-was-it samples kept per slow callback

    def __init__(self, threshold: float, clock: Callable[[], float] = time.perf_counter,
                 out=None, sample: bool = True):
        self.threshold = threshold
        self.clock = clock
        self.out = out if out is not None else sys.stderr
        self.durations: list[tuple[float, Callable]] = []
        self.samples: list[str] = []
        self.gc_time = 0.0
        self._gc_began = 0.0
        self.turn_began = 0.0
        self.cpu_began = 0.0
        self.current: Callable | None = None
        self.sample = sample and hasattr(signal, "setitimer")
        gc.callbacks.append(self._gc)
        if self.sample:
            try:
                signal.signal(signal.SIGALRM, self._alarm)
            except ValueError:      # (a loop outside the main thread: no sampling)
                self.sample = False

    def begin(self):
        self.durations = []
        self.samples = []
        self.gc_time = 0.0
        self.turn_began = self.clock()
        self.cpu_began = time.thread_time()
        return self._run

    def _run(self, callback: Callable, args: tuple) -> None:
        self.current = callback
        if self.sample:
            signal.setitimer(signal.ITIMER_REAL, self.threshold, self.threshold)
        t0 = self.clock()
        try:
            callback(*args)
        finally:
            took = self.clock() - t0
            if self.sample:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.current = None
            self.durations.append((took, callback))

    def end(self) -> None:
        took = self.clock() - self.turn_began
        if took < self.threshold:
            return
        top = sorted(self.durations, key=lambda d: d[0], reverse=True)[:self.TOP]
        parts = ", ".join(f"{callback_name(cb)} {t * 1000:.1f}" for t, cb in top)
        cpu = time.thread_time() - self.cpu_began
        line = (f"plebnet: slow turn {took * 1000:.1f} ms (cpu {cpu * 1000:.1f}), "
                f"{len(self.durations)} callbacks: {parts}")
        if self.gc_time:
            line += f"; gc {self.gc_time * 1000:.1f}"
        for where in self.samples:
            line += f"\n    at {where}"
        print(line, file=self.out, flush=True)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_began = self.clock()
        else:
            self.gc_time += self.clock() - self._gc_began

    def _alarm(self, signum, frame) -> None:
        """A callback still running: note where (the innermost frames, innermost first)."""
        if self.current is None or frame is None or len(self.samples) >= self.SAMPLES:
            return
        stack = traceback.extract_stack(frame, limit=6)
        ms = (self.clock() - self.turn_began) * 1000
        self.samples.append(f"{ms:.0f} ms: " + " < ".join(
            f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(stack)))

    def close(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self.sample:
            signal.setitimer(signal.ITIMER_REAL, 0)
