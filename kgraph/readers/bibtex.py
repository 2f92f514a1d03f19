"""BibTeX files: ``@article{key, title = {...}, abstract = {...}, ...}`` entries.

Syntax read (a small hand-written scanner, so every message can name its line)
    * entries ``@type{key, name = value, ...}`` or ``@type(key, ...)``, any entry type;
    * values in braces (nested), in double quotes (braces inside balanced, a ``"`` inside braces
      does not end it), bare numbers, and macro names, joined with ``#``;
    * ``@string{name = value}`` macros, and the month macros ``jan`` ... ``dec``;
    * ``@comment`` and ``@preamble`` are skipped; text between entries is a comment, and so is
      a ``%`` line between the fields of an entry (inside a value ``%`` is text);
    * ``\\{`` and ``\\}`` are escaped braces and do not count for balance.

Fields
    * ``title`` (required: an entry without one is skipped) and ``abstract`` (an entry without
      one is read with an empty abstract and a warning, kind "no abstract");
    * ``author``: split on `` and `` outside braces; ``Last, First`` -> ``First Last``,
      ``Last, Jr, First`` -> ``First Last Jr``; ``others`` (et al.) is dropped;
    * arXiv id: ``eprint`` (when ``archivePrefix``/``eprinttype`` is arXiv or absent), else an
      arXiv DOI (``10.48550/arXiv.2310.01234``), an arXiv ``url``, or "arXiv:2310.01234" in
      ``journal``, ``note`` or ``howpublished``;
    * ``published``: ``date = {2023-10-02}``, or ``year`` + ``month`` + ``day`` together. A year,
      or a year and a month, is not a date and leaves ``published`` empty;
    * ``url`` goes to ``urls`` unless it is an arXiv link.

Text
    Whitespace runs (line breaks included) become one space, as TeX reads them. Braces that only
    protect case are removed: ``{{BERT}: Pre-training}`` -> ``BERT: Pre-training``,
    ``{$\\text{G}^2$RPO}`` -> ``$\\text{G}^2$RPO``. Everything else is kept as written: math
    (``$...$``) untouched, command arguments (``\\textbf{x}``, ``\\"{o}``) untouched, no LaTeX is
    turned into Unicode. A group around a special character is protective too:
    ``M{\\"u}ller`` -> ``M\\"uller``.

Errors
    A value whose braces never close is noticed at the next line that starts an entry
    (``@type{``) or at the end of the file: that entry is skipped with a message naming its line
    and the field, and reading goes on at that next entry. Other syntax errors skip their entry
    the same way. Text after an entry that looks like more fields (an extra ``}`` closed the
    entry early) is reported.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..records import Paper, normalize_arxiv_id
from .base import ReadLog, check_lengths, short
from .fields import arxiv_from_link, is_paper_link, iso_date, one_line

MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
_MONTH_MACROS = {
    short_name: full.capitalize()
    for short_name, full in (
        ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
        ("may", "may"), ("jun", "june"), ("jul", "july"), ("aug", "august"),
        ("sep", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
    )
}

_ENTRY_HEAD = re.compile(r"@[ \t]*([A-Za-z][\w\-:.]*)\s*([{(])")
_ENTRY_LINE = re.compile(r"^[ \t]*@[ \t]*[A-Za-z][\w\-:.]*\s*[{(]", re.M)
_KEY = re.compile(r"[^\s,{}()=\"#%]+")
_NAME = re.compile(r"[A-Za-z_][\w\-:.+]*")
_NUMBER = re.compile(r"\d+")
_FIELDS_AFTER = re.compile(r"^\s*,?\s*[A-Za-z][\w\-]*\s*=\s*[{\"\d]", re.M)
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(\S+)", re.I)
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)", re.S)
_BRACES = re.compile(r"\\[{}]|[{}\n]")


class _Syntax(Exception):
    """A syntax error at ``pos``; reading goes on at ``resume`` or the next entry line."""

    def __init__(
        self, pos: int, message: str, resume: int | None = None, kind: str = "BibTeX syntax"
    ) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.resume = resume
        self.kind = kind


@dataclass
class _Entry:
    kind: str
    key: str
    line: int
    fields: dict[str, str]


class _Scanner:
    def __init__(self, text: str, path: str, log: ReadLog) -> None:
        self.text = text
        self.path = path
        self.log = log
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.macros: dict[str, str] = dict(_MONTH_MACROS)

    def line(self, pos: int) -> int:
        return bisect_right(self.newlines, pos - 1) + 1

    def skip_space(self, pos: int) -> int:
        """Past whitespace and ``%`` comments (between the parts of an entry)."""
        text = self.text
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
            elif text[pos] == "%":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end + 1
            else:
                break
        return pos

    def next_entry_line(self, pos: int) -> int:
        m = _ENTRY_LINE.search(self.text, pos)
        return m.start() if m else len(self.text)

    # --- values ------------------------------------------------------------------------------

    def braced(self, pos: int, field: str) -> tuple[str, int]:
        """The text inside the braces opening at ``pos``, and the position after them."""
        text = self.text
        depth = 0
        for m in _BRACES.finditer(text, pos):
            c = m.group(0)
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[pos + 1 : m.start()], m.end()
            elif c == "\n" and _ENTRY_LINE.match(text, m.end()):
                raise _Syntax(
                    pos,
                    f"unbalanced braces: {field} opened at line {self.line(pos)} is not closed "
                    f"before the next entry at line {self.line(m.end())}",
                    resume=m.end(),
                    kind="unbalanced braces",
                )
        raise _Syntax(
            pos,
            f"unbalanced braces: {field} opened at line {self.line(pos)} is never closed",
            kind="unbalanced braces",
        )

    def quoted(self, pos: int, field: str) -> tuple[str, int]:
        text = self.text
        depth = 0
        i = pos + 1
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:
                    raise _Syntax(
                        i, f"unbalanced braces in {field} (a '}}' with no '{{')",
                        kind="unbalanced braces",
                    )
            elif c == '"' and depth == 0:
                return text[pos + 1 : i], i + 1
            elif c == "\n" and _ENTRY_LINE.match(text, i + 1):
                raise _Syntax(
                    pos,
                    f"{field}: quote opened at line {self.line(pos)} is not closed before the "
                    f"next entry at line {self.line(i + 1)}",
                    resume=i + 1,
                )
            i += 1
        raise _Syntax(pos, f"{field}: quote opened at line {self.line(pos)} is never closed")

    def value(self, pos: int, field: str, entry_key: str) -> tuple[str, int]:
        """A value, ``#``-joined parts included; macros expanded."""
        parts: list[str] = []
        while True:
            pos = self.skip_space(pos)
            c = self.text[pos : pos + 1]
            if c == "{":
                part, pos = self.braced(pos, f"field '{field}'")
            elif c == '"':
                part, pos = self.quoted(pos, f"field '{field}'")
            elif (m := _NUMBER.match(self.text, pos)) is not None:
                part, pos = m.group(0), m.end()
            elif (m := _NAME.match(self.text, pos)) is not None:
                name = m.group(0).lower()
                pos = m.end()
                if name in self.macros:
                    part = self.macros[name]
                else:
                    part = ""
                    self.log.warn(
                        self.path, self.line(m.start()), "undefined macro",
                        f"undefined macro '{m.group(0)}' in field '{field}' of entry "
                        f"'{entry_key}'; read as empty",
                    )
            else:
                found = repr(c) if c else "the end of the file"
                raise _Syntax(pos, f"expected a value for field '{field}', found {found}")
            parts.append(part)
            after = self.skip_space(pos)
            if self.text.startswith("#", after):
                pos = after + 1
                continue
            return "".join(parts), pos

    # --- entries -----------------------------------------------------------------------------

    def entries(self) -> Iterator[_Entry]:
        text = self.text
        pos = 0
        while True:
            at = text.find("@", pos)
            if at < 0:
                return
            head = _ENTRY_HEAD.match(text, at)
            if head is None:
                pos = at + 1
                continue
            kind = head.group(1).lower()
            closer = "}" if head.group(2) == "{" else ")"
            line = self.line(at)
            try:
                if kind in ("comment", "preamble"):
                    pos = self.skip_group(at, head.end() - 1, kind)
                    continue
                entry, pos = self.entry(head.end(), kind, closer, line)
            except _Syntax as exc:
                special = kind in ("string", "preamble", "comment")
                key = "" if special else self.key_at(head.end())
                named = f"entry '{key}'" if key else f"@{kind} entry"
                self.log.skip(self.path, line, exc.kind, f"{named}: {exc.message}; skipped")
                if exc.resume is not None:
                    pos = exc.resume
                else:
                    line_start = text.rfind("\n", 0, exc.pos) + 1
                    pos = self.next_entry_line(max(line_start, at + 1))
                continue
            self.check_after(pos, entry)
            if kind == "string":
                for name, value in entry.fields.items():
                    self.macros[name] = value
                continue
            yield entry

    def key_at(self, pos: int) -> str:
        m = _KEY.match(self.text, self.skip_space(pos))
        return m.group(0) if m else ""

    def skip_group(self, at: int, opener: int, kind: str) -> int:
        if self.text[opener] == "(":
            end = self.text.find(")", opener)
            if end < 0:
                raise _Syntax(at, f"'(' of @{kind} is never closed")
            return end + 1
        _, end = self.braced(opener, f"@{kind}")
        return end

    def entry(self, pos: int, kind: str, closer: str, line: int) -> tuple[_Entry, int]:
        text = self.text
        key = ""
        pos = self.skip_space(pos)
        m = _KEY.match(text, pos)
        if kind != "string" and m is not None:
            after = self.skip_space(m.end())
            if not text.startswith("=", after):  # "@misc{title = ..." has no key
                key = m.group(0)
                pos = after
                if text.startswith(",", pos):
                    pos += 1
                elif not text.startswith(closer, pos):
                    raise self.unexpected(pos, "',' after the key", closer)
        entry = _Entry(kind, key, line, {})
        while True:
            pos = self.skip_space(pos)
            if pos >= len(text):
                raise self.unexpected(pos, f"'{closer}'", closer)
            if text.startswith(closer, pos):
                return entry, pos + 1
            name_m = _NAME.match(text, pos)
            if name_m is None:
                raise self.unexpected(pos, "a field name", closer)
            name = name_m.group(0).lower()
            pos = self.skip_space(name_m.end())
            if not text.startswith("=", pos):
                raise self.unexpected(pos, f"'=' after field '{name}'", closer)
            value, pos = self.value(pos + 1, name, key)
            if name in entry.fields:
                self.log.warn(
                    self.path, line, "duplicate field",
                    f"entry '{key}' has field '{name}' twice; the first is kept",
                )
            else:
                entry.fields[name] = value
            pos = self.skip_space(pos)
            if text.startswith(",", pos):
                pos += 1
            elif not text.startswith(closer, pos):
                raise self.unexpected(pos, f"',' or '{closer}' after field '{name}'", closer)

    def unexpected(self, pos: int, expected: str, closer: str) -> _Syntax:
        """The error for finding something else than ``expected`` at ``pos``."""
        text = self.text
        if pos >= len(text):
            return _Syntax(
                pos, f"the entry is not closed with '{closer}' before the end of the file"
            )
        line_start = text.rfind("\n", 0, pos) + 1
        if _ENTRY_LINE.match(text, line_start) and not text[line_start:pos].strip():
            return _Syntax(
                pos,
                f"the entry is not closed with '{closer}' before the next entry at line "
                f"{self.line(pos)}",
                resume=line_start,
            )
        return _Syntax(pos, f"expected {expected} at line {self.line(pos)}, found {text[pos]!r}")

    def check_after(self, pos: int, entry: _Entry) -> None:
        """Warn when the text up to the next entry looks like fields cut off by an extra '}'."""
        end = self.text.find("@", pos)
        between = self.text[pos : end if end >= 0 else len(self.text)]
        m = _FIELDS_AFTER.search(between)
        if m is not None:
            where = self.line(pos + m.start() + len(m.group(0)) - len(m.group(0).lstrip()))
            self.log.warn(
                self.path, where, "text after entry",
                f"text after the end of entry '{entry.key}' looks like more fields "
                "(an extra '}' closed the entry early?); ignored",
            )


# --- text --------------------------------------------------------------------------------------


def _group_end(text: str, pos: int) -> int:
    """Position after the brace group opening at ``text[pos]`` (or the end of the text)."""
    depth = 0
    for m in _BRACES.finditer(text, pos):
        if m.group(0) == "{":
            depth += 1
        elif m.group(0) == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return len(text)


def unbrace(text: str) -> str:
    """Remove case-protecting braces; keep math, command arguments and everything else."""
    out: list[str] = []
    i = 0
    math = False
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            m = _COMMAND.match(text, i)
            end = m.end() if m else i + 1
            if not math and text.startswith("{", end):
                end = _group_end(text, end)
            out.append(text[i:end])
            i = end
        elif c == "$":
            math = not math
            out.append(c)
            i += 1
        elif not math and c in "^_" and text.startswith("{", i + 1):
            end = _group_end(text, i + 1)
            out.append(text[i:end])
            i = end
        elif not math and c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def clean(value: str) -> str:
    """A field value as text: protective braces out, whitespace runs made one space."""
    return one_line(unbrace(value))


def _split_top(text: str, pattern: re.Pattern[str]) -> list[str]:
    """``text`` split where ``pattern`` matches outside braces."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] in ("{", "}"):
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            m = pattern.match(text, i)
            if m is not None and m.end() > i:
                parts.append(text[start:i])
                start = i = m.end()
                continue
        i += 1
    parts.append(text[start:])
    return parts


_AND_SEP = re.compile(r"\s+and\s+", re.I)
_COMMA = re.compile(r",")


def authors(value: str) -> list[str]:
    """``"Vaswani, Ashish and Noam Shazeer and others"`` -> ``Ashish Vaswani, Noam Shazeer``."""
    names: list[str] = []
    for raw in _split_top(one_line(value), _AND_SEP):
        if not raw.strip() or raw.strip().lower() == "others":
            continue
        parts = [clean(p) for p in _split_top(raw, _COMMA)]
        if len(parts) == 2 and all(parts):
            name = f"{parts[1]} {parts[0]}"
        elif len(parts) == 3 and all(parts):
            name = f"{parts[2]} {parts[0]} {parts[1]}"
        else:
            name = " ".join(p for p in parts if p)
        if name.strip():
            names.append(one_line(name))
    return names


def _published(fields: dict[str, str]) -> str | None:
    if "date" in fields:
        found = iso_date(clean(fields["date"]))
        if found:
            return found
    year = clean(fields.get("year", ""))
    month_text = clean(fields.get("month", "")).lower().rstrip(".")
    day = clean(fields.get("day", ""))
    if not (re.fullmatch(r"\d{4}", year) and month_text and day.isdigit()):
        return None
    month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text)
    if month is None:
        return None
    return iso_date(f"{year}-{month:02d}-{int(day):02d}")


def _arxiv_id(fields: dict[str, str]) -> str | None:
    prefix = clean(fields.get("archiveprefix", fields.get("eprinttype", ""))).lower()
    eprint = clean(fields.get("eprint", ""))
    if eprint and prefix in ("", "arxiv"):
        found = normalize_arxiv_id(eprint)
        if found:
            return found
    doi = _ARXIV_DOI.search(clean(fields.get("doi", "")))
    if doi:
        found = normalize_arxiv_id(doi.group(1))
        if found:
            return found
    found = arxiv_from_link(clean(fields.get("url", "")))
    if found:
        return found
    for name in ("journal", "note", "howpublished"):
        value = clean(fields.get(name, ""))
        if "arxiv" in value.lower():
            found = normalize_arxiv_id(value)
            if found:
                return found
    return None


def _paper(entry: _Entry, path: str, log: ReadLog) -> Paper | None:
    fields = entry.fields
    line = entry.line
    title = clean(fields.get("title", ""))
    if not title:
        log.skip(path, line, "no title", f"entry '{entry.key}' has no title, skipped")
        return None
    abstract = clean(fields.get("abstract", ""))
    if not abstract:
        log.warn(
            path, line, "no abstract",
            f"entry '{entry.key}' ({short(title)!r}) has no abstract; read with its title only",
        )
    if not check_lengths(title, abstract, path, line, log):
        return None
    url = clean(fields.get("url", ""))
    return Paper.make(
        title,
        abstract,
        arxiv_id=_arxiv_id(fields),
        authors=authors(fields.get("author", "")),
        published=_published(fields),
        urls=(url,) if url and not is_paper_link(url) else (),
        sources=(f"{path}:{line}",),
    )


def read_bibtex(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
    """Yield the papers of one BibTeX file, in file order."""
    scanner = _Scanner("".join(lines), path, log)
    for entry in scanner.entries():
        paper = _paper(entry, path, log)
        if paper is not None:
            yield paper
