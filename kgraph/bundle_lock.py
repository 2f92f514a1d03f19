"""One writer at a time in a bundle folder.

A build writes its files beside the bundle's and renames them into place at the end
(:class:`kgraph.bundle.Staging`), so a reader never sees a half-written file. Two writers at
once would still race: each reads the bundle as it was, the last to commit wins and drops
the other's papers, and one's clean-up of its temporary files can remove the other's.
:func:`writing` makes them take turns: an advisory lock (``flock``) on the bundle folder
itself, held while a build (or the store's rebuild, :func:`kgraph.rdf.store.ensure_store`)
writes. Nothing is left in the folder, and the system lets the lock go when its holder ends,
however it ends (a killed build leaves no stale lock). The second writer does not wait: it
stops at once with :class:`BundleBusy`, naming the folder, and the bundle is as the first
leaves it.

Readers (``query``, ``stats``, ``view``, ``export``, ``serve`` on a fresh store) take no
lock. Where the system has no ``flock`` (Windows), or the folder's file system refuses it,
writers are not kept apart.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["BundleBusy", "writing"]


class BundleBusy(Exception):
    """Another process is writing the bundle."""


#: what flock raises where the file system cannot lock (then writers are not kept apart)
_UNSUPPORTED = frozenset({errno.ENOLCK, errno.EINVAL, errno.EBADF, errno.ENOTSUP})


@contextmanager
def writing(folder: Path, *, create: bool = False) -> Iterator[None]:
    """Hold the write lock of the bundle ``folder`` (made first when ``create``; a folder
    that does not exist has nothing to lock). :class:`BundleBusy` at once if another
    process holds it."""
    fd: int | None = None
    if fcntl is not None:
        try:
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            # missing, a file, not ours to open: nothing to lock, and the caller, which
            # reads the folder next, says what is wrong with it
            fd = None
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleBusy(
                f"{folder}: another kgraph process is writing this bundle (a build, or a "
                "query or serve making its store); run this again once it has finished"
            ) from None
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
        yield
    finally:
        os.close(fd)  # (the lock goes with it; a forked copy holding it shares it)
