"""Query workers: processes that open the store read-only and answer one request at a time.

pyoxigraph cannot interrupt a query from Python, so every query runs in a worker process
(``python -m kgraph.serve.worker STORE BASE``); when one takes longer than the time bound the
:class:`WorkerPool` kills that process (which really stops the work and frees its memory) and
starts a fresh one. Requests and replies travel over the worker's stdin/stdout as
length-prefixed pickles; the worker is our own child, so the pickles are trusted.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

from .engine import Reply, describe, error, run_query

__all__ = ["PoolBusy", "QueryTimeout", "WorkerError", "WorkerPool"]

_HEADER: Final = struct.Struct(">Q")


class WorkerError(RuntimeError):
    """A worker could not start (e.g. the store cannot be opened) or died."""


class QueryTimeout(Exception):
    """A request ran past the time bound; its worker was killed."""


class PoolBusy(Exception):
    """Every worker stayed busy for the whole time bound."""


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("worker closed its pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _receive(stream: IO[bytes]) -> Any:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return pickle.loads(_read_exact(stream, size))


# --- worker side -------------------------------------------------------------------------------


def handle(store: Any, base: str, request: Mapping[str, Any]) -> Reply:
    """Answer one request (a dict with ``op``) with the open ``store``."""
    op = request.get("op")
    if op == "query":
        return run_query(
            store,
            request["query"],
            accept=request.get("accept"),
            format_params=request.get("format_params", ()),
            default_graphs=request.get("default_graphs", ()),
            named_graphs=request.get("named_graphs", ()),
            max_rows=request.get("max_rows", 10_000),
            base=base,
        )
    if op == "describe":
        reply = error(404, "not found")
        for iri in request["iris"]:
            reply = describe(store, iri, request["format"], base, request.get("links", {}))
            if reply.status != 404:
                break
        return reply
    if op == "exists":
        import pyoxigraph as ox

        for iri in request["iris"]:
            try:
                node = ox.NamedNode(iri)
            except ValueError:
                continue
            for pattern in ((node, None, None, None), (None, None, node, None)):
                if next(iter(store.quads_for_pattern(*pattern)), None) is not None:
                    return Reply(200, "text/plain; charset=utf-8", iri.encode())
        return error(404, f"not found: nothing is known about <{request['iris'][0]}>")
    if op == "sleep":  # for tests of the time bound without a heavy query
        time.sleep(float(request.get("seconds", 0)))
        return Reply(200, "text/plain", b"")
    return error(400, f"unknown worker operation {op!r}")


def _watch_parent(parent: int) -> None:
    """Exit when the server is gone, even in the middle of a query (no orphans left behind)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """The worker process: open the store, say ready, answer requests until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    store_path, base = args[0], args[1]
    # our stdout carries the protocol: anything printed by accident goes to stderr instead
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    inp = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    sys.stdout = sys.stderr
    try:
        import pyoxigraph as ox

        store = ox.Store.read_only(store_path)
    except (OSError, ValueError, ImportError) as exc:
        _send(out, ("failed", f"cannot open the store {store_path}: {exc}"))
        return 1
    _send(out, ("ready", os.getpid()))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    while True:
        try:
            request = _receive(inp)
        except (EOFError, OSError):
            return 0
        try:
            reply = handle(store, base, request)
        except Exception as exc:  # never let one bad request kill the worker
            reply = error(500, f"internal error: {type(exc).__name__}: {exc}")
        _send(out, reply)


# --- server side -------------------------------------------------------------------------------


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, store: Path, base: str, startup_timeout: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kgraph.serve.worker", str(store), base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in the terminal goes to the server, not here
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        if not self._readable(startup_timeout):
            self.kill()
            raise WorkerError(f"a query worker did not start within {startup_timeout:g} s")
        try:
            status, detail = _receive(self.stdout)
        except EOFError:
            self.kill()
            raise WorkerError("a query worker exited while starting") from None
        if status != "ready":
            self.kill()
            raise WorkerError(str(detail))

    def _readable(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.stdout], [], [], max(0.0, timeout))
        return bool(ready)

    def call(self, request: Mapping[str, Any], timeout: float) -> Reply:
        _send(self.stdin, dict(request))
        if not self._readable(timeout):
            raise QueryTimeout
        reply = _receive(self.stdout)
        assert isinstance(reply, Reply)
        return reply

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def close(self) -> None:
        try:
            self.stdin.close()  # the worker returns when its stdin closes
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class WorkerPool:
    """``size`` worker processes serving requests with a time bound of ``timeout`` seconds."""

    def __init__(
        self,
        store: Path,
        base: str,
        *,
        size: int = 2,
        timeout: float = 10.0,
        startup_timeout: float = 60.0,
    ) -> None:
        self.store = Path(store)
        self.base = base
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self._closed = False
        self.killed = 0  #: how many workers were killed for running past the bound
        try:
            for _ in range(max(1, size)):
                self._add(self._spawn())
        except WorkerError:
            self.close()
            raise

    def _spawn(self) -> _Worker:
        return _Worker(self.store, self.base, self.startup_timeout)

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.close()
                return
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

        def respawn() -> None:
            try:
                self._add(self._spawn())
            except WorkerError as exc:
                print(f"kgraph: error: {exc}", file=sys.stderr)

        threading.Thread(target=respawn, name="kgraph-respawn", daemon=True).start()

    def call(self, request: Mapping[str, Any], timeout: float | None = None) -> Reply:
        """Send ``request`` to an idle worker and return its reply.

        :class:`QueryTimeout` if it takes longer than ``timeout`` (default: the pool's; the
        worker is killed and replaced), :class:`PoolBusy` if no worker is free in that time.
        """
        bound = self.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            worker = self._idle.get(timeout=bound)
        except queue.Empty:
            raise PoolBusy from None
        left = bound - (time.monotonic() - started)
        if left <= 0:
            self._idle.put(worker)
            raise PoolBusy
        try:
            reply = worker.call(request, left)
        except QueryTimeout:
            self.killed += 1
            self._replace(worker)
            raise
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self._replace(worker)
            raise WorkerError(f"a query worker died ({type(exc).__name__})") from None
        self._idle.put(worker)
        return reply

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
