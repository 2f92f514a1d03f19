"""Turtle written straight from kgraph's statements.

:func:`kgraph.rdf.convert.iter_statements` gives every statement as N-Triples text; this
module turns that text into Turtle as it streams by: the prefixes declared once at the top,
IRIs under them written as prefixed names, ``rdf:type`` as ``a``, numbers bare, and each run
of statements about one subject grouped (``;`` between its predicates, ``,`` between the
objects of one predicate). Nothing is parsed into term objects and nothing is held in memory
but the current subject, so the build can write ``graph.ttl`` in the same pass that writes the
store's N-Quads (see :class:`kgraph.rdf.store.StoreLoader`) instead of converting the graph a
second time and round-tripping every triple through pyoxigraph's Python objects.

**Blocks.** The build's statements come with marks (N-Quads comment lines, which no statement
starts with): ``#u`` before each block (a paper's named graph, an entity's statements in the
entities graph: see :func:`kgraph.rdf.convert.statement_runs`), ``#t`` before the statements
that follow the blocks, and ``#c OFFSET LENGTH STATEMENTS`` in place of a block to be copied
from the previous ``graph.ttl`` (an add: see :mod:`kgraph.rdf.paper_units`). At a mark the
statement being written is ended, so a block (from its first subject to the ``.`` of its
last) is the same bytes whatever comes before or after it; the writer records where each
block lies.

A prefixed name is used only when the local part is a valid Turtle ``PN_LOCAL`` made of ASCII
letters, digits, ``_ - . :``, ``%XX`` and ``/`` (escaped as ``\\/``); any other IRI is
written in full, which is always valid. Literals keep their N-Triples escapes (valid Turtle).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from .._hashing import write_content
from ..io import write_all

__all__ = ["TurtleError", "TurtleProcess", "TurtleWriter", "write_turtle"]

#: the marks (see the module doc); each is a whole line
UNIT_MARK: Final = b"#u\n"
TAIL_MARK: Final = b"#t\n"

_RDF_TYPE: Final = b"<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_XSD: Final = b"http://www.w3.org/2001/XMLSchema#"
_BARE: Final[dict[bytes, re.Pattern[bytes]]] = {
    # lexical forms Turtle reads back as the same datatype when written bare
    _XSD + b"integer": re.compile(rb"[+-]?[0-9]+"),
    _XSD + b"decimal": re.compile(rb"[+-]?[0-9]*\.[0-9]+"),
    _XSD + b"boolean": re.compile(rb"true|false"),
}
_LOCAL_CHAR: Final = rb"(?:[A-Za-z0-9_:]|%[0-9A-Fa-f]{2}|/)"
_LOCAL: Final = re.compile(
    rb"(?:" + _LOCAL_CHAR + rb"(?:(?:" + _LOCAL_CHAR + rb"|[.\-])*(?:" + _LOCAL_CHAR + rb"|-))?)?"
)
_CACHE_MAX: Final = 200_000  #: IRIs remembered with their written form (then forgotten)


class TurtleWriter:
    """Streams statements to ``out`` as Turtle: one at a time (``"s p o"`` in N-Triples
    syntax, as :func:`~kgraph.rdf.convert.iter_statements` gives them) with :meth:`add`, or
    a chunk of N-Quads lines at a time (graph terms dropped) with :meth:`add_quads`::

        writer = TurtleWriter(fh, prefixes(base))
        for _, spo in iter_statements(graph, base, union=True):
            writer.add(spo)
        writer.close()

    The text is handled as UTF-8 bytes from end to end: nothing is decoded, and lines end
    only at ``\n`` or ``\r`` (N-Triples escapes both inside literals), where text would also
    end a line at characters a literal may hold as they are (U+2028, U+0085, ...).
    """

    def __init__(self, out: IO[bytes], spaces: Mapping[str, str]) -> None:
        self.out = out
        self.count = 0  #: statements written
        self.written = 0  #: bytes written to ``out``
        #: each block's place: offset, length, statements, in the order of their marks (flat:
        #: 24 bytes a block, where tuples took 150, half a million at 160k)
        self.flat_places = array("Q")
        self._block: tuple[int, int] | None = None  #: the open block's offset and count
        #: the blocks to copy, not yet written: the previous file, and where they lie in it
        self._copy: tuple[IO[bytes], int, int] | None = None
        self._by_ns = {ns.encode("utf-8"): p.encode("utf-8") for p, ns in spaces.items()}
        self._cache: dict[bytes, bytes] = {}  #: IRIs and typed literals as written (rolling)
        self._fixed: dict[bytes, bytes] = {_RDF_TYPE: b"a"}  #: predicates and datatypes
        self._subject = b""
        self._predicate = b""
        self._buf: list[bytes] = [f"@prefix {p}: <{ns}> .\n".encode() for p, ns in spaces.items()]

    def add(self, spo: str) -> None:
        """One statement, ``"<s> <p> o"`` (no trailing `` .``)."""
        self._statements((spo.encode("utf-8"),), quads=False)
        if len(self._buf) >= 4096:
            self._flush()

    def add_quads(self, chunk: bytes) -> None:
        """Whole N-Quads lines (``<s> <p> o <g> .``); their graph terms are dropped."""
        self._statements(chunk.splitlines(), quads=True)
        self._flush()

    def add_marked(self, chunk: bytes, previous: IO[bytes] | None = None) -> None:
        """:meth:`add_quads` for a chunk that may hold marks (see the module doc); a ``#c``
        mark copies its block from ``previous`` (the file it was written to before). A mark
        is the only line that starts with ``#`` (statements start with ``<`` or ``_:``, and
        N-Triples escapes line ends inside literals), so marks are found by ``"\\n#"``."""
        start, size = 0, len(chunk)
        while start < size:
            if chunk.startswith(b"#", start):
                end = chunk.index(b"\n", start)
                self._mark(chunk[start:end], previous)
                start = end + 1
                continue
            found = chunk.find(b"\n#", start)
            stop = size if found < 0 else found + 1
            self._statements(chunk[start:stop].splitlines(), quads=True)
            start = stop
        self._flush()
        self._copy_out()  # (copies run together within a chunk, and fail in its call)

    def _mark(self, mark: bytes, previous: IO[bytes] | None) -> None:
        self._end_statement()
        self._flush()
        self._close_block()
        if mark == UNIT_MARK[:-1]:
            self._block = (self.written, self.count)
        elif mark == TAIL_MARK[:-1]:
            pass  # (it ends the last block, as every mark does)
        elif mark.startswith(b"#c "):
            if previous is None:
                raise ValueError("a block to copy, but no previous Turtle to copy it from")
            offset, length, statements = (int(x) for x in mark[3:].split())
            self.flat_places.extend((self.written, length, statements))
            # blocks that follow each other in the previous file are copied at once (an add
            # at 160k copies half a million blocks, most of them in long stretches)
            copy = self._copy
            if copy is not None and copy[0] is previous and copy[2] == offset:
                self._copy = (previous, copy[1], offset + length)
            else:
                self._copy_out()
                self._copy = (previous, offset, offset + length)
            self.written += length
            self.count += statements
        else:
            raise ValueError(f"not a mark of the Turtle writer: {mark[:40]!r}")

    @property
    def places(self) -> list[tuple[int, int, int]]:
        """Each block's (offset, length, statements), in the order of their marks."""
        flat = self.flat_places
        return list(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))

    def close(self) -> None:
        """End the last statement and write what is buffered (``out`` stays open)."""
        self._end_statement()
        self._flush()
        self._close_block()
        self._copy_out()

    def _copy_out(self) -> None:
        """Write the blocks to copy, taken from the previous file a few megabytes at a time."""
        if self._copy is None:
            return
        previous, start, end = self._copy
        self._copy = None
        previous.seek(start)
        while start < end:
            data = previous.read(min(end - start, 1 << 23))
            if not data:
                raise ValueError(f"the previous Turtle ends before byte {end}")
            self.out.write(data)
            start += len(data)

    def _end_statement(self) -> None:
        if self._subject:
            self._buf.append(b" .\n")
            self._subject = self._predicate = b""

    def _close_block(self) -> None:
        """Record the place of the block being written (everything is flushed)."""
        if self._block is not None:
            offset, count = self._block
            self.flat_places.extend((offset, self.written - offset, self.count - count))
            self._block = None

    def _statements(self, lines: Iterable[bytes], *, quads: bool) -> None:
        """Statements as N-Triples ``"s p o"`` or, with ``quads``, N-Quads lines (the graph
        term, the last `` <`` of a line, dropped): one loop, one piece of text per statement
        (this is the Turtle process's whole work, about 1.5 µs a statement)."""
        append = self._buf.append
        term, literal, predicate_term = self._term, self._typed, self._predicate_term
        cache, fixed = self._cache, self._fixed
        subject, predicate = self._subject, self._predicate
        n = 0
        for line in lines:
            s, p, o = line.split(b" ", 2)
            if quads:
                o = o[: o.rindex(b" <")]
            first = o[:1]
            if first == b"<":
                o = cache.get(o) or term(o)
            elif first == b'"' and o[-1:] == b">":
                o = cache.get(o) or literal(o)
            # else a plain or language-tagged literal, or a blank node: as it is
            if s == subject:
                if p == predicate:
                    append(b" , " + o)
                else:
                    append(b" ;\n\t%b %b" % (fixed.get(p) or predicate_term(p), o))
                    predicate = p
            else:
                append(
                    (b" .\n%b %b %b" if subject else b"%b %b %b")
                    % (cache.get(s) or term(s), fixed.get(p) or predicate_term(p), o)
                )
                subject, predicate = s, p
            n += 1
        self._subject, self._predicate = subject, predicate
        self.count += n

    def _flush(self) -> None:
        if not self._buf:
            return
        self._copy_out()  # (what is copied comes before)
        data = b"".join(self._buf)
        self.out.write(data)
        self.written += len(data)
        self._buf.clear()

    def _remember(self, term: bytes, written: bytes) -> bytes:
        if len(self._cache) >= _CACHE_MAX:  # unique IRIs (mentions) would fill it: start over
            self._cache.clear()
        self._cache[term] = written
        return written

    def _predicate_term(self, term: bytes) -> bytes:
        written = self._fixed.get(term)
        if written is None:
            written = self._fixed[term] = self._compact(term[1:-1]) if term[:1] == b"<" else term
        return written

    def _term(self, term: bytes) -> bytes:
        """An IRI (``<...>``) or blank node as written, remembered for the next time."""
        written = self._cache.get(term)
        if written is None:
            written = self._remember(term, self._compact(term[1:-1]) if term[:1] == b"<" else term)
        return written

    def _typed(self, term: bytes) -> bytes:
        """A typed literal, ``"lexical"^^<datatype>``: bare when Turtle reads it back the
        same (numbers, booleans), else with the datatype as a prefixed name."""
        lexical, _, datatype = term.rpartition(b'"^^<')
        datatype = datatype[:-1]
        bare = _BARE.get(datatype)
        if bare is not None and bare.fullmatch(lexical, 1):
            return self._remember(term, lexical[1:])
        return self._remember(term, lexical + b'"^^' + self._predicate_term(b"<" + datatype + b">"))

    def _compact(self, iri: bytes) -> bytes:
        by_ns = self._by_ns
        cut = max(iri.rfind(b"/"), iri.rfind(b"#"))
        prefix = by_ns.get(iri[: cut + 1])
        while prefix is None and cut > 0:  # a local part with "/" in it: a shorter namespace
            cut = iri.rfind(b"/", 0, cut)
            prefix = by_ns.get(iri[: cut + 1])
        if prefix is None:
            return b"<" + iri + b">"
        local = iri[cut + 1 :]
        if _LOCAL.fullmatch(local):
            return prefix + b":" + local.replace(b"/", b"\\/")
        return b"<" + iri + b">"


def write_turtle(statements: Iterable[str], out: IO[bytes], spaces: Mapping[str, str]) -> int:
    """Write ``statements`` (N-Triples ``"s p o"``) to ``out`` as Turtle; how many."""
    writer = TurtleWriter(out, spaces)
    for spo in statements:
        writer.add(spo)
    writer.close()
    return writer.count


# --- in a process of its own -------------------------------------------------------------------


class TurtleError(OSError):
    """The Turtle process failed: the file was not written (one-line message)."""


class TurtleProcess:
    """Turtle written to ``path`` by a child process from the N-Quads chunks it is sent
    (:meth:`write`; graph terms dropped; marks as in the module doc, ``#c`` copying from
    ``previous``): the build's store pass hands its chunks over and goes on, so making the
    quads and formatting the Turtle use two cores. :meth:`close` waits and returns
    ``{"sha256", "bytes", "statements", "places"}`` (each marked block's offset, length and
    statements, in order, one after the other in an ``array("Q")``); :meth:`abort` stops the
    child. A child that fails makes :meth:`close` raise :class:`TurtleError`."""

    #: chunks waiting for the pipe: the caller never waits on the child unless it is this far
    #: behind (a chunk is about 1 MB)
    BACKLOG = 64

    def __init__(
        self,
        path: str | os.PathLike[str],
        spaces: Mapping[str, str],
        previous: str | os.PathLike[str] | None = None,
        *,
        sync: bool = True,
    ) -> None:
        self.path = Path(path)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or abort()
        # the child imports this very kgraph, wherever it was imported from
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
        }
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kgraph.rdf.turtle",
                *([] if sync else ["--no-sync"]),
                str(self.path),
                json.dumps(spaces),
                *([str(previous)] if previous is not None else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
        )
        # a thread feeds the pipe (its writes release Python's lock), so that the caller and
        # the child work at the same time instead of taking turns on a 64 KiB pipe
        self._queue: queue.Queue[bytes | None] = queue.Queue(self.BACKLOG)
        self._pump = threading.Thread(target=self._feed, name="kgraph-turtle-feed", daemon=True)
        self._pump.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        broken = False
        while (chunk := self._queue.get()) is not None:
            if not broken:
                try:
                    stdin.write(chunk)
                except (BrokenPipeError, ValueError):  # the child is gone: close() says why
                    broken = True
        with contextlib.suppress(BrokenPipeError, ValueError):
            stdin.close()

    def write(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> dict[str, Any]:
        proc = self._proc
        assert proc.stdout is not None
        self._queue.put(None)
        self._pump.join()
        out = proc.stdout.read()
        code = proc.wait()
        self._err.seek(0)
        err = self._err.read().decode("utf-8", "replace").strip()
        self._err.close()
        if code != 0:
            last = err.splitlines()[-1] if err else f"exit status {code}"
            raise TurtleError(f"{self.path.name}: the Turtle writer failed ({last})")
        info: dict[str, Any] = json.loads(out)
        info["places"] = array("Q", base64.b64decode(info["places"]))
        return info

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(queue.Full):  # the feeder drains fast once the pipe is broken
            self._queue.put(None, timeout=10)
        self._pump.join(timeout=10)
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._err.close()


def _serve(
    path: str, spaces: Mapping[str, str], previous: str | None = None, *, sync: bool = True
) -> dict[str, Any]:
    """The child's side: N-Quads lines (with marks) from stdin, Turtle to ``path`` (synced,
    unless not ``sync``: ``"synced"`` in the result says which)."""
    done: list[TurtleWriter] = []

    def fill(out: IO[bytes]) -> None:
        writer = TurtleWriter(out, spaces)
        stdin = sys.stdin.buffer
        pending = b""
        with contextlib.ExitStack() as stack:
            old = stack.enter_context(open(previous, "rb")) if previous else None
            while block := stdin.read(1 << 20):
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    pending += block
                    continue
                writer.add_marked(pending + block[:cut], old)
                pending = block[cut:]
            if pending.strip():
                writer.add_marked(pending + b"\n", old)
        writer.close()
        done.append(writer)

    info = write_content(Path(path), fill, sync=sync)
    writer = done[0]
    places = base64.b64encode(writer.flat_places.tobytes()).decode("ascii")
    return {**info, "statements": writer.count, "places": places, "synced": sync}


def _main(argv: list[str]) -> None:
    """``python -m kgraph.rdf.turtle [--no-sync] OUT PREFIXES_JSON [PREVIOUS]`` (see
    TurtleProcess; ``--no-sync``: OUT is not synced, the caller syncs it): the
    result as one line of JSON on stdout, every byte of it (``print`` to an unbuffered pipe
    lost all but its first 64 KiB when a profiler's signal came during the write, and the
    parent read half a line)."""
    sync = argv[:1] != ["--no-sync"]
    argv = argv if sync else argv[1:]
    info = _serve(argv[0], json.loads(argv[1]), *argv[2:3], sync=sync)
    write_all(sys.stdout.fileno(), json.dumps(info).encode("ascii") + b"\n")


if __name__ == "__main__":
    _main(sys.argv[1:])
