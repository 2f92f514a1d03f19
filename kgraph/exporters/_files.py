"""Atomic, streamed writes for exporters: one file, or a set of files in a folder.

:func:`atomic_text` streams a text file into a temporary file next to the target (synced), then
renames it over the target, so a reader sees the old file or the new one, never half of it.
:func:`staged_files` does the same for several files of one folder: every file is written in
full to a temporary folder inside the target folder, and only then are they renamed into place
(other files already in the folder are left alone).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from ..io import atomic_open, file_mode

__all__ = [
    "ExportTargetError",
    "atomic_bytes",
    "atomic_text",
    "close_synced",
    "open_staged",
    "staged_files",
]

_BUFFER = 1 << 20


class ExportTargetError(OSError):
    """The target of an export cannot be written (e.g. a folder is asked for, a file is there)."""


def _sync_close(fh: TextIO | BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def _not_a_folder(path: Path) -> None:
    if path.is_dir():
        raise ExportTargetError(f"{path} is a folder: give a file name")


@contextmanager
def atomic_text(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text file to stream into; it replaces ``path`` when the block ends without error."""
    _not_a_folder(path)
    with atomic_open(path, text=True, newline=newline) as fh:
        yield cast(TextIO, fh)


@contextmanager
def atomic_bytes(path: Path) -> Iterator[BinaryIO]:
    """A binary file to stream into; it replaces ``path`` when the block ends without error."""
    _not_a_folder(path)
    with atomic_open(path) as fh:
        yield cast(BinaryIO, fh)


@contextmanager
def staged_files(folder: Path) -> Iterator[Path]:
    """A temporary folder inside ``folder``; its files are moved into ``folder`` at the end.

    Write every file of the export into the yielded folder; when the block ends without error
    each is renamed over the file of the same name in ``folder`` (created if missing). On error
    nothing in ``folder`` has changed.
    """
    if folder.exists() and not folder.is_dir():
        raise ExportTargetError(f"{folder} exists and is not a folder")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".kgraph-export-", dir=folder))
    try:
        try:
            yield stage
        except BaseException:
            if created:  # leave no empty folder behind
                shutil.rmtree(folder, ignore_errors=True)
            raise
        mode = file_mode()
        names = sorted(p.name for p in stage.iterdir())
        for name in names:
            if (folder / name).is_dir():
                raise ExportTargetError(f"{folder / name} is a folder: cannot replace it")
        for name in names:
            executable = (stage / name).stat().st_mode & 0o100
            os.chmod(stage / name, mode | (mode >> 2 & 0o111) if executable else mode)
            os.replace(stage / name, folder / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def open_staged(path: Path, *, newline: str | None = None) -> TextIO:
    """Open a file of a staged folder for writing (UTF-8, large buffer)."""
    return open(path, "w", encoding="utf-8", newline=newline, buffering=_BUFFER)


def close_synced(fh: TextIO) -> None:
    """Flush, fsync and close a staged file."""
    _sync_close(fh)
