"""What every reader shares: problems and the log they go to, limits, and decoded line streams.

A reader is a function ``(lines, path, log) -> Iterator[Paper]``. ``lines`` yields decoded text
lines (with their newline) of one input; the reader reports anything it cannot use to ``log``
(naming the line) and keeps going where that is safe.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, cast

from ..records import Paper

MAX_TITLE = 2_000  #: characters; a longer "title" is a broken record, not a title
MAX_ABSTRACT = 200_000  #: characters; far above any real abstract
SNIFF_BYTES = 8_192


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be used as it is."""

    path: str
    line: int | None
    kind: str  #: a short category for the summary: "invalid JSON", "binary file", ...
    message: str
    skipped: bool = True  #: True when data was lost (a record or a file), False for a warning
    count: int = 1  #: how many records this one message stands for ("and 40 more lines...")

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class ReadLog:
    """Collects problems; ``on_problem`` lets a caller show each one as it happens."""

    on_problem: Callable[[Problem], None] | None = None
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def skip(self, path: str, line: int | None, kind: str, message: str, count: int = 1) -> None:
        self.add(Problem(path, line, kind, message, skipped=True, count=count))

    def warn(self, path: str, line: int | None, kind: str, message: str) -> None:
        self.add(Problem(path, line, kind, message, skipped=False))

    def skipped_by_kind(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for p in self.problems:
            if p.skipped:
                out[p.kind] += p.count
        return out

    def warnings_by_kind(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for p in self.problems:
            if not p.skipped:
                out[p.kind] += p.count
        return out


class Reader(Protocol):
    def __call__(self, lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]: ...


class BinaryInput(Exception):
    """The input is not text."""


def check_lengths(title: str, abstract: str, path: str, line: int, log: ReadLog) -> bool:
    """True when a record's title and abstract are plausible; otherwise logs why and says False."""
    if not title.strip():
        log.skip(path, line, "no title", "record has no title, skipped")
        return False
    if len(title) > MAX_TITLE:
        log.skip(
            path,
            line,
            "title too long",
            f"title is {len(title):,} characters (limit {MAX_TITLE:,}), record skipped",
        )
        return False
    if len(abstract) > MAX_ABSTRACT:
        log.skip(
            path,
            line,
            "abstract too long",
            f"abstract is {len(abstract):,} characters (limit {MAX_ABSTRACT:,}), record skipped",
        )
        return False
    return True


def short(text: str, width: int = 60) -> str:
    """A title shortened for a message."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def open_binary(raw: BinaryIO) -> BinaryIO:
    """Wrap ``raw`` so gzip input (by magic number, whatever its name) reads decompressed."""
    buffered: io.BufferedReader[Any] = (
        raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
    )
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def decoded_lines(stream: BinaryIO, path: str, log: ReadLog) -> Iterator[str]:
    """Yield the text lines of a binary stream.

    UTF-8 (with or without BOM) and UTF-16 with BOM are read as such. A line that is not valid
    UTF-8 is reported (file and line) and decoded as Windows-1252, or Latin-1 where that fails,
    so no text is lost. NUL bytes at the start mean a binary file: :class:`BinaryInput`.
    Damaged gzip data ends the stream with a reported problem.
    """
    try:
        head = stream.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        log.skip(path, None, "unreadable file", f"cannot read: {exc}")
        return
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        rest = head + stream.read()
        yield from io.StringIO(rest.decode("utf-16", errors="replace"), newline=None)
        return
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise BinaryInput(f"binary file (NUL byte at offset {offset}), skipped")
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    chained = io.BufferedReader(_Prefixed(head, stream))
    bad_lines = 0
    lineno = 0
    while True:
        try:
            raw = chained.readline()
        except (OSError, EOFError, zlib.error) as exc:
            log.skip(
                path,
                lineno + 1,
                "truncated file",
                f"data ends early ({exc}); read what came before",
            )
            return
        if not raw:
            break
        lineno += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_lines += 1
            if bad_lines <= 3:
                byte = raw[exc.start]
                log.warn(
                    path,
                    lineno,
                    "not UTF-8",
                    f"not valid UTF-8 (byte 0x{byte:02X} at column {exc.start + 1}); "
                    "read as Windows-1252",
                )
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
        if text.endswith("\r\n"):
            text = text[:-2] + "\n"
        yield text
    if bad_lines > 3:
        log.warn(
            path,
            None,
            "not UTF-8",
            f"{bad_lines} lines in all were not UTF-8; read as Windows-1252",
        )


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``prefix`` and then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n
