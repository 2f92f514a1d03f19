"""Field helpers shared by the structured readers (JSON, Atom, BibTeX, CSV).

Every reader turns its own notion of a date, an author list or a link into the shapes a
:class:`~kgraph.records.Paper` holds; the rules live here so the formats agree:

* titles are one line: runs of whitespace (line breaks included) become one space;
* dates are ``YYYY-MM-DD`` (the date part of an ISO timestamp, as written, with no time-zone
  shift) or ``--MM-DD``; a year alone, or a year and month, is not a date and gives ``None``;
* author strings are split on ``;``, or BibTeX-style on `` and ``, and ``Last, First`` becomes
  ``First Last``;
* links to arXiv (abs, pdf, html pages) are the paper itself, not its code or data: they give
  the arXiv id and are never kept in ``urls``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from ..records import normalize_arxiv_id

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ]\d)")
_MONTH_DAY = re.compile(r"^--(\d{2})-(\d{2})$")
_AND = re.compile(r"\s+and\s+", re.I)
_ARXIV_LINK = re.compile(r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/", re.I)
_HF_PAPER_LINK = re.compile(r"^(?:https?://)?huggingface\.co/papers/", re.I)
_URL_IN_TEXT = re.compile(
    r"(?:https?://|www\.|(?<![\w.@/])(?:github\.com|gitlab\.com|huggingface\.co)/)"
    r"[^\s<>\"'{}|\\^`]+",
    re.I,
)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) made one space, trimmed."""
    return " ".join(text.split())


def iso_date(value: str) -> str | None:
    """``"2023-10-02"``, ``"2023-10-02T17:59:59Z"`` -> ``"2023-10-02"``; ``"--02-05"`` kept.

    Anything else (a year, a month name, an impossible day) gives ``None``.
    """
    text = value.strip()
    m = _ISO_DATE.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    m = _MONTH_DAY.match(text)
    if m:
        try:
            date(2000, int(m[1]), int(m[2]))  # a leap year, so --02-29 is allowed
        except ValueError:
            return None
        return text
    return None


def is_year(value: object) -> bool:
    """True for a bare year (``2025`` or ``"2025"``): known, but not a date."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1000 <= value <= 9999
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d{4}\s*", value))


def as_count(value: object) -> int | None:
    """A non-negative whole number from an int or a string of digits, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def flip_name(name: str) -> str:
    """``"Vaswani, Ashish"`` -> ``"Ashish Vaswani"``; ``"King, Jr, M"`` -> ``"M King Jr"``.

    A name with no comma, or more than two, is only made one line.
    """
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and all(parts):
        return one_line(f"{parts[1]} {parts[0]}")
    if len(parts) == 3 and all(parts):
        return one_line(f"{parts[2]} {parts[0]} {parts[1]}")
    return one_line(name)


def split_names(text: str) -> list[str]:
    """Author names from one free-text string.

    ``"A; B"`` and ``"A and B"`` split as written; ``"Last, First and Last, First"`` is
    BibTeX-shaped and each name is turned round; ``"A, B, and C"`` is an English list;
    a lone ``"Last, First"`` is one person.
    """
    text = one_line(text)
    if not text:
        return []
    if ";" in text:
        return [flip_name(p) for p in text.split(";") if p.strip()]
    parts = [p for p in _AND.split(text) if p.strip()]
    if len(parts) > 1 and all(p.count(",") == 1 for p in parts):
        return [flip_name(p) for p in parts]
    if len(parts) == 1 and text.count(",") == 1:
        last, first = (p.strip() for p in text.split(","))
        if last and first and " " not in last and len(first.split()) <= 2:
            return [flip_name(text)]
    names: list[str] = []
    for part in parts:
        names.extend(p.strip() for p in part.split(",") if p.strip())
    # "A, B, and C": the last piece arrives as "and C"
    return [re.sub(r"^and\s+", "", n, flags=re.I) for n in names]


def is_paper_link(url: str) -> bool:
    """True for a link to the paper itself on arXiv or its Hugging Face paper page."""
    return bool(_ARXIV_LINK.match(url) or _HF_PAPER_LINK.match(url))


def arxiv_from_link(url: str) -> str | None:
    """The arXiv id a paper link names, if it is one."""
    return normalize_arxiv_id(url) if is_paper_link(url) else None


def urls_in_text(text: str) -> list[str]:
    """Links written in free text (a comment, a note), paper links left out, in order."""
    found: list[str] = []
    for m in _URL_IN_TEXT.finditer(text):
        url = m.group(0).rstrip(".,;:!?'\"")
        while url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1]
        while url.endswith("]") and url.count("]") > url.count("["):
            url = url[:-1]
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        if url not in found and not is_paper_link(url):
            found.append(url)
    return found


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """``items`` without blanks and repeats, in first-seen order."""
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return tuple(out)
