"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

:func:`atomic_open` is the one implementation (streamed); the helpers below write whole
values through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_BUFFER = 1 << 20


def write_all(fd: int, data: bytes) -> None:
    """Every byte of ``data`` to the file descriptor ``fd``, however many writes that takes.
    One write to a pipe may take part of the bytes when a signal comes while it blocks (a
    profiler's, or a handler's), and Python's unbuffered streams (``PYTHONUNBUFFERED``, the
    pipes between kgraph's processes) drop the rest: the reader then gets a message cut
    short."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def file_mode() -> int:
    """0o666 less the process umask: the mode a plain ``open()`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], *, text: bool = False, newline: str | None = None
) -> Iterator[IO[Any]]:
    """A file to stream into (binary, or UTF-8 text with ``text``); when the block ends without
    error it is synced and renamed over ``path``, so readers see the old file or the new one,
    never half. On error the temporary file is removed and ``path`` is unchanged."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if text:
            fh: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline=newline, buffering=_BUFFER)
        else:
            fh = os.fdopen(fd, "wb", buffering=_BUFFER)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
