"""CSV and TSV tables with a header row: one paper per row.

The delimiter is taken from the header line: a tab if it has one, else whichever of ``,`` and
``;`` it has more of (outside quotes). Quoting is the usual CSV one (``"`` around fields, ``""``
inside), so fields may hold delimiters and line breaks; a record's line is the line its row
starts on.

Columns (names are case-insensitive; spaces and hyphens count as ``_``; unknown columns are
ignored; where several columns mean the same, the first one in this list wins)
    * title: ``title``, ``paper_title`` (required);
    * abstract: ``abstract``, ``summary`` (a table without one is read with empty abstracts and
      one warning at the header; a row with an empty abstract cell is read, with a warning);
    * arXiv id: ``arxiv_id``, ``arxiv``, ``arxivid``, ``id`` (an ``id`` that is not an arXiv id
      is ignored), or an arXiv link in a ``url``/``urls`` cell;
    * authors: ``authors``, ``author`` - names split on ``;`` or `` and `` (see
      :func:`~kgraph.readers.fields.split_names`);
    * published: ``published``, ``date``, ``published_at``, ``publishedat``,
      ``publication_date`` (``YYYY-MM-DD``, an ISO timestamp, or ``--MM-DD``);
    * urls: ``urls``, ``url``, ``code``, ``code_url``, ``github``, ``project_page`` - several
      links in a cell are separated by whitespace, ``;`` or ``|``; arXiv links give the id and
      are not kept;
    * ``upvotes``, ``authors_count``, ``organization`` (or ``organisation``).

Errors: a header with no title column is reported once, naming the columns it has, and nothing
is read. A row with more or fewer fields than the header, or with an empty title, is skipped
with its line. Rows whose fields are all empty (spreadsheet padding) are passed over silently.
Titles are made one line; other cells are trimmed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from itertools import chain

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

COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "paper_title"),
    "abstract": ("abstract", "summary"),
    "arxiv_id": ("arxiv_id", "arxiv", "arxivid", "id"),
    "authors": ("authors", "author"),
    "published": ("published", "date", "published_at", "publishedat", "publication_date"),
    "urls": ("urls", "url", "code", "code_url", "github", "project_page"),
    "upvotes": ("upvotes",),
    "authors_count": ("authors_count",),
    "organization": ("organization", "organisation"),
}
_URL_SPLIT = re.compile(r"[\s;|]+")


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: tab, else the more frequent of ``,`` and ``;``."""
    outside = re.sub(r'"[^"]*"', "", header)
    if "\t" in outside:
        return "\t"
    return ";" if outside.count(";") > outside.count(",") else ","


def _column_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").lower())


def read_csv(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
    """Yield the papers of one CSV or TSV table, in row order."""
    it = iter(lines)
    skipped = 0
    header_text = None
    for line in it:
        if line.strip():
            header_text = line
            break
        skipped += 1
    if header_text is None:
        return
    delimiter = sniff_delimiter(header_text)
    reader = csv.reader(chain([header_text], it), delimiter=delimiter)
    header_line = skipped + 1
    try:
        header = [_column_name(c) for c in next(reader)]
    except csv.Error as exc:
        log.skip(
            path, header_line, "bad header", f"cannot read the header row ({exc}); nothing read"
        )
        return
    columns: dict[str, int] = {}
    id_column = ""
    for field, names in COLUMNS.items():
        for name in names:
            if name in header:
                columns[field] = header.index(name)
                if field == "arxiv_id":
                    id_column = name
                break
    found = ", ".join(repr(c) for c in header)
    if "title" not in columns:
        log.skip(
            path, header_line, "no title column",
            f"header has no title column (columns: {found}); nothing read",
        )
        return
    if "abstract" not in columns:
        log.warn(
            path, header_line, "no abstract",
            f"header has no abstract or summary column (columns: {found}); "
            "papers read with titles only",
        )
    done = reader.line_num
    while True:
        start = skipped + done + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            log.skip(path, start, "bad row", f"cannot read the row ({exc}), skipped")
            done = reader.line_num
            continue
        end = skipped + reader.line_num
        done = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            spans = f" (it spans lines {start}-{end}: an unclosed quote?)" if end > start else ""
            log.skip(
                path, start, "wrong field count",
                f"row has {len(row)} field{'' if len(row) == 1 else 's'}, the header has "
                f"{len(header)}{spans}; skipped",
            )
            continue
        paper = _paper(row, columns, id_column, path, start, log)
        if paper is not None:
            yield paper


def _paper(
    row: list[str], columns: dict[str, int], id_column: str, path: str, line: int, log: ReadLog
) -> Paper | None:
    def cell(field: str) -> str:
        index = columns.get(field)
        return row[index].strip() if index is not None else ""

    def bad(field: str, value: str, expected: str) -> None:
        message = f"{field} {short(value, 40)!r} is not {expected}; ignored"
        log.warn(path, line, "bad field", message)

    title = one_line(cell("title"))
    abstract = cell("abstract")
    if not title:
        log.skip(path, line, "no title", "row has an empty title, skipped")
        return None
    if not abstract and "abstract" in columns:
        log.warn(
            path, line, "no abstract",
            f"paper {short(title)!r} has no abstract; read with its title only",
        )
    if not check_lengths(title, abstract, path, line, log):
        return None
    urls: list[str] = []
    arxiv_id = None
    raw_id = cell("arxiv_id")
    if raw_id:
        arxiv_id = normalize_arxiv_id(raw_id)
        if arxiv_id is None and id_column != "id":
            bad(id_column, raw_id, "an arXiv id")
    for url in _URL_SPLIT.split(cell("urls")):
        if not url:
            continue
        if is_paper_link(url):
            arxiv_id = arxiv_id or arxiv_from_link(url)
        elif url not in urls:
            urls.append(url)
    published = None
    raw_date = cell("published")
    if raw_date:
        published = iso_date(raw_date)
        if published is None and not is_year(raw_date):
            bad("published", raw_date, "a date (YYYY-MM-DD)")
    counts: dict[str, int | None] = {}
    for field in ("upvotes", "authors_count"):
        raw = cell(field)
        counts[field] = as_count(raw) if raw else None
        if raw and counts[field] is None:
            bad(field, raw, "a whole number")
    return Paper.make(
        title,
        abstract,
        arxiv_id=arxiv_id,
        authors=split_names(cell("authors")),
        authors_count=counts["authors_count"],
        organization=one_line(cell("organization")) or None,
        published=published,
        upvotes=counts["upvotes"],
        urls=tuple(urls),
        sources=(f"{path}:{line}",),
    )
