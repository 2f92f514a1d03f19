"""Run a function in a forked copy of this process and get back what it returns.

Memory a process has freed is not always memory the system gets back: Python's allocator
keeps a 1 MiB arena for as long as one object in it lives, so after a phase that made and
dropped millions of objects a process can hold a gigabyte it does not use. A copy of the
process that does the work and then exits gives all of it back. The build uses this for
everything up to the store's load (see :func:`kgraph.bundle.build`)::

    value = run_forked(work, {"say": print})
    # work(parent) runs in the copy; its result comes back pickled. parent.call("say", x)
    # runs print(x) here and returns its result there; parent.send("say", x) does not wait.

Callbacks thus run in the caller's process (what they print is captured where the caller
captures it, what they record is recorded there, what they raise is raised in the copy).
What ``work`` raises is raised here (pickled, with the copy's traceback as a note). Ctrl-C
reaches both processes: the copy stops and cleans up, this one waits a moment for it and
raises :class:`KeyboardInterrupt`. Where there is no ``fork``, or it fails,
:class:`ForkUnavailable` says so: the caller runs the work itself.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, BinaryIO, Final, Generic, TypeVar

from .io import write_all

__all__ = ["ForkUnavailable", "Forked", "Parent", "WorkerDied", "run_forked"]

T = TypeVar("T")

#: seconds the copy is given to clean up after Ctrl-C before it is killed
GRACE: Final = 30.0


class ForkUnavailable(Exception):
    """This system cannot fork (no ``os.fork``, or no memory or process for another one)."""


class WorkerDied(Exception):
    """The copy ended without a result: killed (the system's out-of-memory killer, say)."""


class Parent:
    """The copy's line to the process that started it: :meth:`call` runs one of the
    callbacks given to :func:`run_forked` there and returns its result (or raises what it
    raised); :meth:`send` runs it without waiting (what it raises comes back at the next
    :meth:`call`, or ends the work)."""

    def __init__(self, out: BinaryIO, replies: BinaryIO) -> None:
        self._out, self._replies = out, replies

    def send(self, name: str, *args: Any) -> None:
        _put(self._out, ("send", name, args))

    def call(self, name: str, *args: Any) -> Any:
        _put(self._out, ("call", name, args))
        kind, value = _get(self._replies)
        if kind == "error":
            raise value
        return value


class Forked(Generic[T]):
    """``work(parent)`` running in a forked copy of this process, started at once, while this
    one goes on: :meth:`result` runs the copy's ``calls`` here until its result comes, and
    returns it; :meth:`abort` kills the copy. ``pid`` is the copy's until then.

    ``abandon(result)`` is called in the copy when the result cannot be sent back (it does not
    pickle, or this process is gone), to undo what ``work`` left for this one to finish.
    :class:`ForkUnavailable` if no copy can be made."""

    def __init__(
        self,
        work: Callable[[Parent], T],
        calls: Mapping[str, Callable[..., Any]] | None = None,
        *,
        abandon: Callable[[T], object] | None = None,
        name: str = "worker",
    ) -> None:
        if not hasattr(os, "fork"):  # pragma: no cover - not on Windows
            raise ForkUnavailable("no fork on this system")
        self.calls, self.name = calls or {}, name
        for stream in (sys.stdout, sys.stderr):  # else the copy would write it a second time
            with suppress(Exception):
                stream.flush()
        up_read, up_write = os.pipe()  # copy -> here: calls, then the result
        down_read, down_write = os.pipe()  # here -> copy: what the calls returned
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (up_read, up_write, down_read, down_write):
                os.close(fd)
            raise ForkUnavailable(
                f"cannot start a {name} process ({exc.strerror or exc})"
            ) from None
        if pid == 0:  # pragma: no cover - the copy (its coverage is not collected)
            os.close(up_read)
            os.close(down_write)
            _child(work, abandon, up_write, down_read, name)
        os.close(up_write)
        os.close(down_read)
        self.pid: int | None = pid
        self._fds = (up_read, down_write)
        self._ending: threading.Thread | None = None  #: waits for the copy's end (result)

    def result(self, *, end_aside: bool = False) -> T:
        """The copy's result, once it comes; :class:`WorkerDied` if the copy ended without
        one, else what ``work`` raised. The copy has ended when it returns, unless
        ``end_aside`` and a result came: then a thread waits for the copy's end (a copy
        holding gigabytes takes half a second to give them back), and :meth:`ended` joins it."""
        pid = self.pid
        if pid is None:
            raise RuntimeError(f"the {self.name} process was already waited for")
        self.pid = None
        up_read, down_write = self._fds
        try:
            with os.fdopen(up_read, "rb") as inbox, os.fdopen(down_write, "wb", 0) as outbox:
                message = _serve(inbox, outbox, self.calls)
        except BaseException:  # Ctrl-C (the copy got it too: it cleans up), a callback's error
            _stop(pid)
            raise
        if end_aside and message is not None and message[0] == "ok":
            self._ending = threading.Thread(
                target=os.waitpid, args=(pid, 0), name=f"kgraph-{self.name}-end", daemon=True
            )
            self._ending.start()
            return message[1]  # type: ignore[no-any-return]
        _, status = os.waitpid(pid, 0)
        if message is None:
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            hint = " (out of memory?)" if code == -signal.SIGKILL else ""
            raise WorkerDied(f"the {self.name} process ended without a result: {how}{hint}")
        kind, value = message
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def ended(self) -> None:
        """Wait for the copy's end (after :meth:`result`; see ``end_aside``)."""
        if self._ending is not None:
            self._ending.join()
            self._ending = None

    def abort(self) -> None:
        """Kill the copy and wait for it (nothing if it was already waited for)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with suppress(OSError):
            os.waitpid(pid, 0)
        for fd in self._fds:
            with suppress(OSError):
                os.close(fd)


def run_forked(
    work: Callable[[Parent], T],
    calls: Mapping[str, Callable[..., Any]] | None = None,
    *,
    abandon: Callable[[T], object] | None = None,
    name: str = "worker",
) -> T:
    """``work(parent)`` run in a forked copy of this process; its result (pickled through a
    pipe). ``calls``: the callbacks the copy may run here (:class:`Parent`); ``abandon``:
    see :class:`Forked`. :class:`ForkUnavailable` if no copy can be made,
    :class:`WorkerDied` if the copy ended without a result; else what ``work`` raised."""
    return Forked(work, calls, abandon=abandon, name=name).result()


def _serve(
    inbox: BinaryIO, outbox: BinaryIO, calls: Mapping[str, Callable[..., Any]]
) -> tuple[str, Any] | None:
    """Run the copy's calls until its result comes (None if it ends without one)."""
    pending: BaseException | None = None  #: what a callback run by send() raised
    while True:
        try:
            message = _get(inbox)
        except EOFError:
            return None
        if message[0] in ("ok", "error"):
            if pending is not None:
                raise pending
            return message  # type: ignore[no-any-return]
        how, fn, args = message
        try:
            if pending is not None:
                raise pending
            value = calls[fn](*args)
        except Exception as exc:
            if how == "send":
                pending = pending or exc
                continue
            pending = None
            with suppress(OSError):
                _put(outbox, ("error", _portable(exc)))
            continue
        if how == "call":
            with suppress(OSError):
                _put(outbox, ("ok", value))


def _put(fh: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    # (the pipes' ends are unbuffered: one write may take part of the bytes, when a signal
    # comes while a large result is written, and the other side then reads a message cut short)
    write_all(fh.fileno(), len(data).to_bytes(8, "little"))
    write_all(fh.fileno(), data)


def _get(fh: BinaryIO) -> Any:
    head = fh.read(8)
    if len(head) < 8:
        raise EOFError
    size = int.from_bytes(head, "little")
    data = fh.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _child(
    work: Callable[[Parent], T],
    abandon: Callable[[T], object] | None,
    out_fd: int,
    in_fd: int,
    name: str,
) -> None:  # pragma: no cover - runs in the copy
    # What the copy inherits is never collected here: a garbage cycle of the parent's, freed
    # in the copy, may run a finaliser that needs what only the parent's threads can give
    # (an Oxigraph store's background threads, its locks). Seen: a copy making a store's
    # quads aborted while collecting, after tests in the same process had used stores.
    gc.freeze()
    code = 0
    try:
        out = os.fdopen(out_fd, "wb", 0)
        parent = Parent(out, os.fdopen(in_fd, "rb"))
        try:
            result = work(parent)
        except BaseException as exc:  # all of it goes back to the parent
            code = 1
            _annotate(exc, name)
            with suppress(OSError):
                _put(out, ("error", _portable(exc)))
        else:
            try:
                _put(out, ("ok", result))
            except Exception as exc:  # it does not pickle, or the parent is gone
                if abandon is not None:
                    abandon(result)
                code = 1
                with suppress(OSError):  # pickling fails before a byte is written
                    _put(out, ("error", _portable(exc)))
    except BaseException:  # nothing may escape into the parent's code
        code = 2
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()
        os._exit(code)


def _annotate(exc: BaseException, name: str) -> None:
    """Add the copy's traceback to ``exc`` as a note (not to Ctrl-C's)."""
    if not isinstance(exc, KeyboardInterrupt):
        text = "".join(traceback.format_exception(exc)).rstrip()
        with suppress(Exception):
            exc.add_note(f"(raised in the {name} process {os.getpid()}:)\n{text}")


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that says what it was (an
    exception whose ``__init__`` takes other arguments than its message does not)."""
    try:
        pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
        return exc
    except Exception:
        plain = RuntimeError(f"{type(exc).__name__}: {exc}")
        for note in getattr(exc, "__notes__", ()):
            plain.add_note(str(note))
        return plain


def _stop(pid: int) -> None:
    """Wait for the copy to end: Ctrl-C in a terminal reaches it too, and it cleans up. A
    signal to this process alone does not: after a second it is interrupted, and killed if it
    has not ended after :data:`GRACE` seconds more."""
    started = time.monotonic()
    interrupted = False
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        waited = time.monotonic() - started
        if not interrupted and waited > 1.0:
            with suppress(OSError):
                os.kill(pid, signal.SIGINT)
            interrupted = True
        if waited > 1.0 + GRACE:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with suppress(OSError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.05)
