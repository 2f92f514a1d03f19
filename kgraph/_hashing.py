"""Files written with their SHA-256 and size computed as they are written (a bundle's files are
listed in its manifest with both). Light on imports: the Turtle child process uses it too."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, Any, BinaryIO, cast

#: what a file is made from: its bytes, or a function streaming them into a binary file
Content = bytes | Callable[[BinaryIO], None]


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


def write_content(path: Path, content: Content) -> dict[str, Any]:
    """Write ``content`` to ``path`` (replacing what is there) and sync it; its ``sha256``
    and ``bytes``."""
    with open(path, "wb", buffering=1 << 20) as fh:
        sink = HashingWriter(fh)
        if isinstance(content, bytes):
            sink.write(content)
        else:
            content(cast(BinaryIO, sink))
        fh.flush()
        os.fsync(fh.fileno())
    return {"sha256": sink.digest.hexdigest(), "bytes": sink.size}


def source_fingerprint(*modules: ModuleType, version: object = "") -> str:
    """SHA-256 of ``version`` and the source files of ``modules``: what a bundle's cache
    (the resolution state, the papers' RDF units, the kept results) records of the code
    that made it, so that other code does not reuse it."""
    digest = hashlib.sha256(str(version).encode())
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()
