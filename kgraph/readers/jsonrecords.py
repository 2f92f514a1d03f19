"""Paper records in JSON: JSON Lines, one JSON document, or JSON documents one after another.

Layout
    * JSON Lines: one record per line; blank lines are fine. A line that is not valid JSON, or
      not an object, is reported with its line and skipped; the next line is read.
    * One document: used when the first non-blank character is ``[``, or when the first line is
      not JSON by itself but the whole text is (an object spread over several lines, pretty
      printed records one after another as ``jq`` writes them). A top-level array holds one
      record per element; an object holding no title but a list of records under ``papers``,
      ``data``, ``results``, ``items``, ``records`` or ``entries`` is unwrapped. An error inside
      a document ends it: the records before the error are kept and one message names the line.
      More than :data:`MAX_LINE_MESSAGES` bad lines in JSON Lines are summed up in one message.

Record shapes (unknown fields are ignored)
    * our own, as :meth:`Paper.to_dict` writes it (``schemas/paper.schema.json``);
    * Hugging Face papers API: ``/api/daily_papers`` items ``{"paper": {...}, "title", ...}``
      (fields of the inner ``paper`` win over the outer ones) and ``/api/papers/ID`` objects:
      ``id`` (the arXiv id), ``summary``, ``authors: [{"name"}]``, ``publishedAt``, ``upvotes``,
      ``githubRepo``, ``projectPage``, ``organization: {"name", "fullname"}`` (fullname used);
    * the benchmark corpus: ``{"id": "arxiv:2503.11731", "abs_url", "date_file", ...}`` and
      ``{"id": "3dv2025:05T81ScPFb", "venue", "year", "site", ...}``.

Fields
    title (required), ``abstract`` or ``summary`` (a missing abstract reads as ``""`` with a
    warning), authors (list of names, list of ``{"name"}``, or one string, see
    :func:`~kgraph.readers.fields.split_names`), ``authors_count``, ``organization``,
    ``upvotes``, published from the first of ``published``, ``publishedAt``, ``published_at``,
    ``date``, ``publication_date``, ``publicationDate``, ``date_file``.

Decisions
    * The arXiv id comes from ``arxiv_id``/``arxivId``/``arxiv``, else from ``id`` when it is an
      arXiv id (``"2310.01234"``, ``"arxiv:2310.01234"``; ``"3dv2025:05T81ScPFb"`` is not), else
      from an arXiv link in ``abs_url``, ``url``, ``pdf_url``, ``arxiv_url`` or ``link``.
      The input ``id`` is never copied: ids are derived again by :meth:`Paper.make`.
    * ``urls`` collects ``urls``, ``url``, ``githubRepo``, ``projectPage``, ``project_page``,
      ``github``, ``code``, ``code_url``; arXiv and Hugging Face paper links are left out (they
      are the paper, not its code). Landing pages of the corpus (``abs_url``, ``site``) are not
      links of the paper's code or data and are not kept.
    * A bare ``year`` (the corpus' ``"year": 2025``) is not a date: ``published`` stays empty.
      A date field holding a year alone is left empty without a warning; any other value that
      is not a date is left empty with a warning.
    * ``sources`` in the input are not carried over: a record's source is the file and line
      where this reader found it (so a re-read graph export points at the export).
    * Titles are made one line (whitespace runs -> one space); abstracts are kept as written
      apart from leading and trailing whitespace.
    * A ``\\uD800``-``\\uDFFF`` escape without its pair (half of an emoji, cut by whatever
      wrote the file) is no character: no file can hold it as UTF-8. It is read as U+FFFD
      (the replacement character) with a warning naming the line; the record is kept.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Generator, Iterable, Iterator
from itertools import accumulate, chain, islice
from typing import Any, Final

from ..records import Paper, normalize_arxiv_id
from .base import ReadLog, check_lengths, short
from .fields import (
    arxiv_from_link,
    as_count,
    is_paper_link,
    is_year,
    iso_date,
    one_line,
    split_names,
)

MAX_LINE_MESSAGES = 20  #: bad JSON Lines reported one by one; the rest are counted
#: a UTF-16 surrogate on its own (JSON lets "\ud800" through; UTF-8 cannot hold it)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"
_WRAPPER_KEYS = ("papers", "data", "results", "items", "records", "entries")
_DATE_KEYS = (
    "published", "publishedAt", "published_at", "date", "publication_date", "publicationDate",
    "date_file",
)
_ARXIV_KEYS = ("arxiv_id", "arxivId", "arxiv")
_LINK_KEYS = ("abs_url", "url", "pdf_url", "arxiv_url", "link")
_URL_KEYS = (
    "urls", "url", "githubRepo", "projectPage", "project_page", "github", "code", "code_url",
)


def read_json(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
    """Yield the paper records of one JSON or JSON Lines input, in order."""
    it = iter(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        if line.strip():
            break
    else:
        return
    first = head[-1]
    if path.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        # named as JSON Lines: read line by line, whatever the first line holds
        yield from _read_lines(enumerate(chain(head, it), 1), path, log)
        return
    if first.lstrip(_WS).startswith("["):
        yield from _read_document(head + list(it), path, log)
        return
    try:
        json.loads(first)
    except ValueError:
        every = head + list(it)
        if _mostly_one_per_line(every, len(head)):
            yield from _read_lines(enumerate(every, 1), path, log)
        else:
            yield from _read_document(every, path, log)
        return
    yield from _read_lines(enumerate(chain(head, it), 1), path, log)


def _mostly_one_per_line(lines: list[str], after: int) -> bool:
    """True for JSON Lines whose first line is bad: the whole text is no document, and most
    later lines are a JSON object each. A pretty-printed document, whole or broken, is not."""
    text = "".join(lines)
    try:
        for _ in _top_level(text):
            pass
    except _Broken:
        pass
    else:
        return False
    later = [ln for ln in islice(lines, after, None) if ln.strip()][:100]
    objects = 0
    for line in later:
        try:
            objects += isinstance(json.loads(line), dict)
        except ValueError:
            continue
    return objects * 2 > len(later)


# --- JSON Lines --------------------------------------------------------------------------------


def _read_lines(numbered: Iterable[tuple[int, str]], path: str, log: ReadLog) -> Iterator[Paper]:
    bad = 0
    first_unreported: int | None = None
    for n, line in numbered:
        if not line.strip():
            continue
        try:
            value = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            bad += 1
            if bad <= MAX_LINE_MESSAGES:
                log.skip(
                    path, n, "invalid JSON",
                    f"invalid JSON ({_reason(exc)} at column {exc.colno}), record skipped",
                )
            elif first_unreported is None:
                first_unreported = n
            continue
        paper = _paper(value, path, n, log)
        if paper is not None:
            yield paper
    if first_unreported is not None:
        more = bad - MAX_LINE_MESSAGES
        log.skip(
            path, first_unreported, "invalid JSON",
            f"{more:,} more lines of invalid JSON from here on, skipped",
            count=more,
        )


# --- whole documents ---------------------------------------------------------------------------


def _read_document(lines: list[str], path: str, log: ReadLog) -> Iterator[Paper]:
    text = "".join(lines)
    starts = [0, *accumulate(len(ln) for ln in lines)]

    def line_of(offset: int) -> int:
        return bisect_right(starts, offset)

    try:
        for offset, value in _top_level(text):
            paper = _paper(value, path, line_of(offset), log)
            if paper is not None:
                yield paper
    except _Broken as exc:
        err = exc.error
        log.skip(
            path, err.lineno, "invalid JSON",
            f"invalid JSON ({_reason(err)} at column {err.colno}); the record starting at line "
            f"{line_of(exc.record_start)} and all after it skipped",
        )


def _reason(error: json.JSONDecodeError) -> str:
    """The decoder's message without a dangling "at" ("Invalid control character at")."""
    return error.msg.removesuffix(" at")


class _Broken(Exception):
    def __init__(self, error: json.JSONDecodeError, record_start: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.record_start = record_start


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _decode(text: str, pos: int, record_start: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise _Broken(exc, record_start) from None


def _top_level(text: str) -> Iterator[tuple[int, Any]]:
    """(offset, value) of every record: top-level values, array elements, wrapped lists."""
    pos = _skip_ws(text, 0)
    while pos < len(text):
        if text[pos] == "[":
            pos = yield from _array(text, pos)
        else:
            value, end = _decode(text, pos, pos)
            wrapped = _wrapped_key(value)
            if wrapped is None:
                yield pos, value
            else:
                yield from _array(text, _member_offset(text, pos, wrapped))
            pos = end
        pos = _skip_ws(text, pos)


def _array(text: str, pos: int) -> Generator[tuple[int, Any], None, int]:
    """The elements of the array at ``text[pos]``, with offsets; returns the offset after it."""
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    while True:
        value, end = _decode(text, pos, pos)
        yield pos, value
        after = _skip_ws(text, end)
        if text.startswith(",", after):
            pos = _skip_ws(text, after + 1)
        elif text.startswith("]", after):
            return after + 1
        else:
            raise _Broken(json.JSONDecodeError("Expecting ',' delimiter", text, after), after)


def _wrapped_key(value: Any) -> str | None:
    if not isinstance(value, dict) or "title" in value or "paper" in value:
        return None
    for key in _WRAPPER_KEYS:
        items = value.get(key)
        if isinstance(items, list) and items and all(isinstance(x, dict) for x in items):
            return key
    return None


def _member_offset(text: str, pos: int, wanted: str) -> int:
    """Offset of the value of member ``wanted`` in the (valid) object at ``text[pos]``."""
    pos = _skip_ws(text, pos + 1)
    while True:
        key, end = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, end) + 1)  # past ':'
        if key == wanted and text.startswith("[", pos):
            return pos
        _, end = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, end) + 1)  # past ','


# --- one record --------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool) or value is None:
        return f"JSON {json.dumps(value)}"
    return "a JSON number"


class _Record:
    """Field access for one record, warning about values of the wrong kind."""

    def __init__(self, fields: dict[str, Any], path: str, line: int, log: ReadLog) -> None:
        self.fields = fields
        self.path = path
        self.line = line
        self.log = log

    def bad(self, name: str, value: Any, expected: str) -> None:
        self.log.warn(
            self.path, self.line, "bad field",
            f"{name} {short(json.dumps(value, ensure_ascii=False), 40)} is not {expected}; ignored",
        )

    def text(self, *names: str) -> str | None:
        for name in names:
            value = self.fields.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                return value
            self.bad(name, value, "text")
        return None

    def authors(self) -> list[str]:
        for name in ("authors", "author"):
            value = self.fields.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                return split_names(value)
            if isinstance(value, list):
                names: list[str] = []
                for item in value:
                    if isinstance(item, dict):
                        item = item.get("name")
                    if isinstance(item, str) and item.strip():
                        names.append(one_line(item))
                    elif item is not None:
                        self.bad(f"{name} item", item, "a name")
                return names
            self.bad(name, value, "a list of names")
        return []

    def count(self, name: str) -> int | None:
        value = self.fields.get(name)
        if value is None:
            return None
        number = as_count(value)
        if number is None:
            self.bad(name, value, "a whole number")
        return number

    def organization(self) -> str | None:
        for name in ("organization", "organisation"):
            value = self.fields.get(name)
            if isinstance(value, dict):
                value = value.get("fullname") or value.get("name")
            if isinstance(value, str) and value.strip():
                return one_line(value)
            if value is not None:
                self.bad(name, value, "a name")
        return None

    def published(self) -> str | None:
        for name in _DATE_KEYS:
            value = self.fields.get(name)
            if value is None or value == "":
                continue
            found = iso_date(value) if isinstance(value, str) else None
            if found:
                return found
            if not is_year(value):
                self.bad(name, value, "a date (YYYY-MM-DD)")
            return None
        return None

    def arxiv_id(self) -> str | None:
        for name in _ARXIV_KEYS:
            value = self.fields.get(name)
            if value is None or value == "":
                continue
            found = normalize_arxiv_id(value) if isinstance(value, str) else None
            if found:
                return found
            self.bad(name, value, "an arXiv id")
        ident = self.fields.get("id")
        if isinstance(ident, str) and (found := normalize_arxiv_id(ident)):
            return found
        for name in _LINK_KEYS:
            value = self.fields.get(name)
            if isinstance(value, str) and (found := arxiv_from_link(value.strip())):
                return found
        return None

    def urls(self) -> list[str]:
        out: list[str] = []
        for name in _URL_KEYS:
            value = self.fields.get(name)
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str):
                    url = item.strip()
                    if url and not is_paper_link(url) and url not in out:
                        out.append(url)
                elif item is not None:
                    self.bad(name, item, "a link")
        return out


def _mended(value: Any) -> tuple[Any, int]:
    """``value`` with each lone surrogate in its strings replaced by U+FFFD, and how many."""
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        n = 0
        for k, v in value.items():
            (k, a), (v, b) = _mended(k), _mended(v)
            out[k] = v
            n += a + b
        return out, n
    if isinstance(value, list):
        items = [_mended(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def _paper(value: Any, path: str, line: int, log: ReadLog) -> Paper | None:
    value, lone = _mended(value)
    if lone:
        log.warn(
            path, line, "lone surrogate",
            f"{lone} \\uD800-\\uDFFF "
            + ("escapes without their pair" if lone > 1 else "escape without its pair")
            + " (no character) read as U+FFFD",
        )
    if not isinstance(value, dict):
        log.skip(
            path, line, "not an object",
            f"{_kind(value)} is not a paper record (expected an object), skipped",
        )
        return None
    fields = value
    inner = value.get("paper")
    if isinstance(inner, dict):
        fields = {**value, **inner}
    rec = _Record(fields, path, line, log)
    raw_title = fields.get("title")
    if raw_title is None:
        keys = ", ".join(list(fields)[:12]) or "none"
        log.skip(path, line, "no title", f"record has no title (fields: {keys}), skipped")
        return None
    if isinstance(raw_title, str) and not raw_title.strip():
        log.skip(path, line, "no title", "record has an empty title, skipped")
        return None
    if not isinstance(raw_title, str):
        log.skip(path, line, "no title", f"title is {_kind(raw_title)}, not text; record skipped")
        return None
    title = one_line(raw_title)
    abstract = rec.text("abstract", "summary")
    if abstract is None or not abstract.strip():
        abstract = ""
        log.warn(
            path, line, "no abstract",
            f"paper {short(title)!r} has no abstract; read with its title only",
        )
    abstract = abstract.strip()
    if not check_lengths(title, abstract, path, line, log):
        return None
    return Paper.make(
        title,
        abstract,
        arxiv_id=rec.arxiv_id(),
        authors=rec.authors(),
        authors_count=rec.count("authors_count"),
        organization=rec.organization(),
        published=rec.published(),
        upvotes=rec.count("upvotes"),
        urls=tuple(rec.urls()),
        sources=(f"{path}:{line}",),
    )
