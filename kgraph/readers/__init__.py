"""Read papers from files, folders, globs or stdin, in any supported format.

The format of an input is chosen by its extension (``.gz`` looked through) or, failing that,
sniffed from its first bytes. ``read_papers`` returns the distinct papers (duplicates merged)
with a log of every problem met on the way.
"""

from __future__ import annotations

import glob
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from ..dedupe import merge_papers
from ..records import Paper
from .base import BinaryInput, Problem, Reader, ReadLog, decoded_lines, open_binary
from .hfpage import read_hf_page

__all__ = [
    "FORMATS",
    "Problem",
    "ReadLog",
    "ReadResult",
    "iter_papers",
    "read_papers",
    "reader_for",
]


def _lazy(module: str, name: str) -> Reader:
    def call(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
        from importlib import import_module

        fn: Reader = getattr(import_module(f"kgraph.readers.{module}"), name)
        return fn(lines, path, log)

    return call


#: format name -> reader; the names are what ``--input-format`` accepts
FORMATS: dict[str, Reader] = {
    "hf": read_hf_page,
    "json": _lazy("jsonrecords", "read_json"),
    "atom": _lazy("atom", "read_atom"),
    "bibtex": _lazy("bibtex", "read_bibtex"),
    "csv": _lazy("csvfile", "read_csv"),
}

EXTENSIONS: dict[str, str] = {
    ".txt": "hf",
    ".text": "hf",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".xml": "atom",
    ".atom": "atom",
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".csv": "csv",
    ".tsv": "csv",
}


def _extension_format(path: str) -> str | None:
    p = Path(path.lower())
    suffixes = p.suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def sniff(head: str) -> str:
    """Guess a format from the first characters of an input."""
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        return "json"
    if text.startswith("<"):
        return "atom"
    if text.startswith(("@", "%")) or re.search(r"^@[A-Za-z]+\s*[{(]", text, re.M):
        return "bibtex"
    first = text.split("\n", 1)[0].lower()
    if "title" in first and any(d in first for d in ",\t;") and len(first) < 500:
        return "csv"
    return "hf"


def reader_for(name: str) -> Reader:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown input format {name!r}; valid: {', '.join(FORMATS)}") from None


@dataclass
class ReadResult:
    papers: list[Paper]  #: distinct papers, in first-seen order
    entries: int  #: records read before de-duplication
    files: int  #: inputs that gave at least one record
    log: ReadLog = field(default_factory=ReadLog)

    @property
    def duplicates(self) -> int:
        return self.entries - len(self.papers)

    @property
    def problems(self) -> list[Problem]:
        return self.log.problems


def expand_inputs(inputs: Sequence[str], log: ReadLog) -> list[str]:
    """Files named by ``inputs``: folders are walked, unexpanded globs expanded, ``-`` is stdin."""
    out: list[str] = []
    for item in inputs:
        if item == "-":
            out.append(item)
            continue
        if any(c in item for c in "*?[") and not os.path.exists(item):
            hits = sorted(glob.glob(item, recursive=True))
            if not hits:
                log.skip(item, None, "no match", "no file matches this pattern")
            out.extend(h for h in hits if os.path.isfile(h))
            continue
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and _extension_format(f.name) is not None
            )
            if not found:
                log.skip(
                    item,
                    None,
                    "empty folder",
                    "folder holds no readable paper files "
                    f"(looked for {', '.join(sorted(set(EXTENSIONS)))}, optionally .gz)",
                )
            out.extend(found)
        elif p.exists():
            out.append(item)
        else:
            log.skip(item, None, "missing file", "no such file or folder")
    return out


def _read_one(path: str, stream: BinaryIO, fmt: str | None, log: ReadLog) -> Iterator[Paper]:
    binary = open_binary(stream)
    try:
        lines = decoded_lines(binary, path, log)
        name = fmt or (None if path == "-" else _extension_format(path))
        if name is None:
            head: list[str] = []
            for line in lines:
                head.append(line)
                if sum(map(len, head)) > 2048 or len(head) > 20:
                    break
            name = sniff("".join(head))
            lines = chain(head, lines)
        yield from reader_for(name)(lines, "<stdin>" if path == "-" else path, log)
    except BinaryInput as exc:
        log.skip("<stdin>" if path == "-" else path, None, "binary file", str(exc))


def iter_papers(
    inputs: Sequence[str], fmt: str | None = None, log: ReadLog | None = None
) -> Iterator[Paper]:
    """Every paper record in ``inputs``, in order, duplicates included."""
    log = log if log is not None else ReadLog()
    for path in expand_inputs(inputs, log):
        if path == "-":
            yield from _read_one(path, sys.stdin.buffer, fmt, log)
            continue
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below, after the generator is drained
        except OSError as exc:
            log.skip(path, None, "unreadable file", f"cannot open: {exc.strerror or exc}")
            continue
        with fh:
            try:
                yield from _read_one(path, fh, fmt, log)
            except OSError as exc:
                log.skip(path, None, "unreadable file", f"cannot read: {exc}")


def read_papers(
    inputs: Sequence[str], fmt: str | None = None, log: ReadLog | None = None
) -> ReadResult:
    """Read ``inputs`` and merge duplicates (same arXiv id or same normalised title)."""
    log = log if log is not None else ReadLog()
    entries = 0
    files: set[str] = set()

    def counted() -> Iterator[Paper]:
        nonlocal entries
        for paper in iter_papers(inputs, fmt, log):
            entries += 1
            if paper.sources:
                files.add(paper.sources[0].rsplit(":", 1)[0])
            yield paper

    papers = merge_papers(counted())
    return ReadResult(papers=papers, entries=entries, files=len(files), log=log)


def read_text(text: str, path: str = "<text>", fmt: str | None = None) -> ReadResult:
    """Read papers from a string (tests and the library API)."""
    log = ReadLog()
    papers = list(_read_one(path, io.BytesIO(text.encode("utf-8")), fmt, log))
    return ReadResult(papers=merge_papers(papers), entries=len(papers), files=1, log=log)
