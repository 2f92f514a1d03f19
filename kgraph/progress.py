"""Progress for long commands: papers/s and ETA on a terminal, nothing in a pipe.

A bar is shown only when stderr is a terminal and the user did not ask for quiet
(``kgraph -q`` / ``--quiet``); otherwise :func:`bar` returns a silent one with the same API.
Between bars, :class:`Status` says on one line which step a long command is at, and for how
long (a 160k build spends four minutes after its extraction: resolving, the graph, the
exports, the store).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from typing import IO, Any

from tqdm import tqdm

__all__ = ["Status", "bar", "shown"]


def shown(quiet: bool = False) -> bool:
    """Whether progress is shown: not quiet and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def bar(total: int | None, desc: str, *, quiet: bool = False, unit: str = "paper") -> Any:
    """A context manager with ``update(n)``: a tqdm bar with rate and ETA, or a silent one."""
    return tqdm(
        total=total,
        desc=f"kgraph: {desc}",
        unit=unit,
        unit_scale=False,
        dynamic_ncols=True,
        smoothing=0.1,
        mininterval=0.25,
        file=sys.stderr,
        disable=not shown(quiet),
        leave=True,
    )


class Status:
    """One line at the bottom of a terminal saying what a long command is doing and for how
    long (``kgraph: resolving entities (00:12)``), redrawn every ``every`` seconds while it
    is :meth:`open`; nothing where :func:`shown` says no (a pipe, or quiet). Messages printed
    meanwhile go above it (:meth:`echo`); :meth:`hide` takes it away (before a progress bar)
    until the next :meth:`step`. Steps are announced from any thread."""

    def __init__(
        self, quiet: bool = False, *, stream: IO[str] | None = None, every: float = 1.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.every = every
        self._text: str | None = None
        self._since = 0.0
        self._drawn = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if self.enabled:  # (one that is not never draws)
            _SHOWN.add(self)

    def __enter__(self) -> Status:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Status:
        if self.enabled and self._thread is None:
            self._done.clear()
            self._thread = threading.Thread(target=self._run, name="kgraph-status", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop redrawing and take the line away."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.hide()

    def step(self, text: str) -> None:
        """The command is now doing ``text`` (its time counts from here)."""
        with self._lock:
            self._text, self._since = text, time.monotonic()
            self._draw()

    def hide(self) -> None:
        with self._lock:
            self._clear()
            self._text = None

    def echo(self, message: str) -> None:
        """Print ``message`` (a line) above the status line."""
        with self._lock:
            self._clear()
            print(message, file=self.stream, flush=True)
            self._draw()

    def _run(self) -> None:
        while not self._done.wait(self.every):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if not self.enabled or self._text is None:
            return
        elapsed = tqdm.format_interval(time.monotonic() - self._since)
        line = f"kgraph: {self._text} ({elapsed})"
        try:  # (a line longer than the terminal would wrap, and not be redrawn in place)
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            width = 80
        if len(line) >= width:
            line = line[: max(0, width - 2)] + "…"
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


#: the status lines of this process: a fork waits until none is being drawn (see below)
_SHOWN: weakref.WeakSet[Status] = weakref.WeakSet()
_HELD: list[Status] = []


def _before_fork() -> None:
    # A status line is drawn by its thread, holding the stream's own lock while it writes. A
    # copy forked then would inherit that lock held, by a thread it does not have, and hang
    # at its first write to stderr: the fork waits for the drawing to end (each drawing is
    # done holding the Status's lock).
    for status in list(_SHOWN):
        status._lock.acquire()
        _HELD.append(status)


def _after_fork() -> None:
    while _HELD:
        _HELD.pop()._lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork
    )
