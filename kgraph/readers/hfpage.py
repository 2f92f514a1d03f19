"""Hugging Face Daily Papers pages saved as text.

A page is blank-line separated paragraphs::

    new / Get trending papers in your email inbox! / Subscribe / Daily Papers /
    byAK and the research community / Mar 11            <- page header (any of these)

    Title of the paper                                  <- one line; LaTeX kept as written
    Abstract ...                                        <- one paragraph
      • 9 authors                                       <- optional metadata paragraph:
    metaresearch Meta Research                             author count and/or organisation,
    ·                                                      a middle dot, then the date with
    Oct 9, 2025 11                                         or without year and the upvotes

A title with nothing after it (a truncated save) or with metadata but no abstract is reported
and skipped; everything else on the page is still read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..records import Paper
from .base import ReadLog, check_lengths, short

HEADER_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "daily papers",
        "byak and the research community",
        "papers",
        "trending papers",
    }
)
MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DATE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2})[a-z]*\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?(?:\s+(?P<up>\d+))?$"
)
_AUTHORS = re.compile(r"^[•·\-*]\s*(\d+)\s+authors?$", re.I)
_DOT = "·"


@dataclass
class _Para:
    line: int  #: 1-based line number of its first line
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_date(text: str) -> tuple[str, int | None] | None:
    """``"Oct 9, 2025 11"`` -> ``("2025-10-09", 11)``; ``"Feb 5"`` -> ``("--02-05", None)``."""
    m = _DATE.match(text.strip())
    if not m:
        return None
    month = MONTHS.get(m["mon"].lower())
    day = int(m["day"])
    if month is None or not 1 <= day <= 31:
        return None
    date = f"{m['year']}-{month:02d}-{day:02d}" if m["year"] else f"--{month:02d}-{day:02d}"
    return date, (int(m["up"]) if m["up"] else None)


def _paragraphs(lines: Iterable[str]) -> Iterator[_Para]:
    current: _Para | None = None
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if current is not None:
                yield current
                current = None
            continue
        if current is None:
            current = _Para(n, [])
        current.lines.append(line.rstrip())
    if current is not None:
        yield current


def _is_meta(p: _Para) -> bool:
    stripped = [ln.strip() for ln in p.lines]
    return _DOT in stripped or all(_AUTHORS.match(s) or parse_date(s) for s in stripped)


def _is_header(p: _Para) -> bool:
    return all(ln.strip().lower() in HEADER_LINES or parse_date(ln) for ln in p.lines)


def _looks_like_title(p: _Para) -> bool:
    words = p.text.split()
    return len(p.lines) == 1 and len(words) <= 30 and not p.text.rstrip().endswith(".")


@dataclass
class _Meta:
    authors_count: int | None = None
    organization: str | None = None
    published: str | None = None
    upvotes: int | None = None


def _parse_meta(p: _Para, path: str, log: ReadLog) -> _Meta:
    meta = _Meta()
    seen_dot = False
    for offset, raw in enumerate(p.lines):
        s = raw.strip()
        if s == _DOT:
            seen_dot = True
            continue
        m = _AUTHORS.match(s)
        if m and not seen_dot:
            meta.authors_count = int(m.group(1))
            continue
        date = parse_date(s)
        if date and meta.published is None:
            meta.published, meta.upvotes = date
            continue
        if not seen_dot and meta.organization is None:
            # organisation line: "<hub handle> <display name>", e.g. "metaresearch Meta Research"
            handle, _, name = s.partition(" ")
            meta.organization = name.strip() or handle
            continue
        log.warn(
            path, p.line + offset, "unknown metadata", f"unrecognised metadata line {short(s)!r}"
        )
    return meta


def read_hf_page(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
    """Yield the papers of one saved Daily Papers page, in page order.

    A file in which no paper is found at all is reported once, as not being such a page,
    rather than paragraph by paragraph.
    """
    own = ReadLog()
    papers = list(_read_page(list(_paragraphs(lines)), path, own))
    if not papers and own.problems:
        log.skip(
            path,
            None,
            "not a papers page",
            "no title/abstract pairs found: not a Daily Papers page "
            f"({len(own.problems)} problems; the first at line {own.problems[0].line})",
        )
        return
    for problem in own.problems:
        log.add(problem)
    yield from papers


def _read_page(paras: list[_Para], path: str, log: ReadLog) -> Iterator[Paper]:
    i = 0
    while i < len(paras) and _is_header(paras[i]):
        i += 1
    while i < len(paras):
        title_p = paras[i]
        if _is_meta(title_p):
            log.skip(
                path, title_p.line, "stray metadata", "metadata with no paper before it, skipped"
            )
            i += 1
            continue
        nxt = paras[i + 1] if i + 1 < len(paras) else None
        if nxt is None or _is_meta(nxt):
            log.skip(
                path,
                title_p.line,
                "no abstract",
                f"paper {short(title_p.text)!r} has no abstract (truncated page?), skipped",
            )
            i += 2 if nxt is not None else 1
            continue
        after = paras[i + 2] if i + 2 < len(paras) else None
        if (
            _looks_like_title(nxt)
            and after is not None
            and not _is_meta(after)
            and not _looks_like_title(after)
        ):
            # title, title, abstract: the first title lost its abstract
            log.skip(
                path,
                title_p.line,
                "no abstract",
                f"paper {short(title_p.text)!r} has no abstract, skipped",
            )
            i += 1
            continue
        meta = _Meta()
        consumed = 2
        if after is not None and _is_meta(after):
            meta = _parse_meta(after, path, log)
            consumed = 3
        i += consumed
        title = " ".join(ln.strip() for ln in title_p.lines)
        abstract = nxt.text.strip()
        if len(title_p.lines) > 1:
            log.warn(path, title_p.line, "multi-line title", "title spans several lines; joined")
        if not check_lengths(title, abstract, path, title_p.line, log):
            continue
        yield Paper.make(
            title,
            abstract,
            authors_count=meta.authors_count,
            organization=meta.organization,
            published=meta.published,
            upvotes=meta.upvotes,
            sources=(f"{path}:{title_p.line}",),
        )
