"""The stack's one event loop: file descriptors, timers and callbacks, no threads.

Everything that touches the state (control connections, device fds, ARP timers) runs as a
callback here, so the state model needs no locks.  asyncio would do, but a bare epoll loop
costs a fraction as much per wake-up, and the control path is measured in microseconds (the
selectors module, used before, spent several of them per wake-up wrapping epoll's answer).
"""
from __future__ import annotations

import heapq
import itertools
import select
import signal
import socket
import time
from typing import Callable


_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_NOT_OUT, _NOT_IN = ~_OUT, ~_IN
_NONE = (None, None)


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

    def run_once(self, max_wait: float | None = None) -> None:
        timeout = max_wait
        if self._soon:
            timeout = 0
        elif self._timers:
            delay = max(0.0, self._timers[0][0] - self.clock())
            timeout = delay if timeout is None else min(timeout, delay)
        handlers = self._handlers
        for fd, events in self._epoll.poll(-1 if timeout is None else timeout):
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

    def close(self) -> None:
        self._epoll.close()
