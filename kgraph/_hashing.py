"""A writable file that hashes and counts what passes through it (a bundle's files are listed
in its manifest with their SHA-256 and size, computed as they are written)."""

from __future__ import annotations

import hashlib
import io
from typing import IO, Any


class HashingWriter(io.RawIOBase):
    """Writes through to ``fh``, keeping the SHA-256 (``digest``) and ``size`` of it all."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.fh.write(view)
        self.digest.update(view)
        self.size += view.nbytes
        return view.nbytes
