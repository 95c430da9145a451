"""Random bytes from the operating system in bulk.

``os.urandom`` is one system call per value; a bulk import needs two or three random ids and
two AES-GCM nonces per row, and on a virtual machine those calls cost more than the encryption.
:class:`RandomBytes` reads the same kernel CSPRNG 64 KiB at a time and hands out each byte once.
After a fork the child drops the inherited buffer, so parent and child never share a value.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import Final

_CHUNK: Final = 64 * 1024


class RandomBytes:
    """A thread-safe buffer of ``os.urandom`` output; every byte is handed out once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._position = 0
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget(reference))

    def take(self, count: int) -> bytes:
        with self._lock:
            end = self._position + count
            if end > len(self._buffer):
                self._buffer, self._position, end = os.urandom(max(_CHUNK, count)), 0, count
            taken = self._buffer[self._position : end]
            self._position = end
            return taken

    def uuid4(self) -> uuid.UUID:
        """A random (version 4) UUID, as ``uuid.uuid4`` makes it."""
        return uuid.UUID(bytes=self.take(16), version=4)

    def _drop(self) -> None:
        self._buffer, self._position = b"", 0


def _forget(reference: weakref.ref[RandomBytes]) -> None:
    source = reference()
    if source is not None:
        source._drop()


random_bytes: Final = RandomBytes()
