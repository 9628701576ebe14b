"""The one exception the state model raises: a FreeBSD errno, like a failed syscall."""
from plebproto.constants import strerror


class KernelError(Exception):
    row = 0     # for a run of items (Stack.rt_add_many): the one that failed

    def __init__(self, errno: int, detail: str = ""):
        super().__init__(errno, detail)
        self.errno = errno
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or strerror(self.errno)
