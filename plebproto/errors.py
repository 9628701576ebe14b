"""The one failure: "op N was refused with errno E", from the state model that decides it,
through the server that sends it and the client that receives it, to the tool that prints
FreeBSD's words for it."""
from __future__ import annotations

from .constants import strerror


class OpError(Exception):
    """A refused op: a FreeBSD errno and, when the detail is not strerror's text, the message
    to print.  index: the op's position in the batch that carried it (None: not in a batch)."""

    def __init__(self, errno: int, msg: str = "", index: int | None = None):
        super().__init__(errno, msg)
        self.errno = errno
        self.msg = msg
        self.index = index

    def at(self, index: int) -> OpError:
        """This failure, placed at op `index` of a batch."""
        self.index = index
        return self

    def __str__(self) -> str:
        return self.msg or strerror(self.errno)
