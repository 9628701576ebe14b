"""The one exception the state model raises: a FreeBSD errno, like a failed syscall."""
from plebconf.rpc.constants import strerror


class KernelError(Exception):
    def __init__(self, errno: int, detail: str = ""):
        super().__init__(errno, detail)
        self.errno = errno
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or strerror(self.errno)
