"""arXiv API responses: Atom XML feeds of ``<entry>`` elements.

Each ``<entry>`` (Atom namespace ``http://www.w3.org/2005/Atom``, or no namespace) is one paper:

* ``<id>http://arxiv.org/abs/2310.01234v1</id>`` gives the arXiv id (version dropped); failing
  that, an arXiv ``<link rel="alternate">``;
* ``<title>`` and ``<summary>`` (or ``<content>``) give title and abstract. arXiv wraps them at
  about 80 columns, so every run of whitespace in both becomes one space;
* ``<published>`` (or, failing that, ``<updated>``) gives the date: the date part as written,
  with no time-zone shift;
* ``<author><name>`` gives the authors, in order;
* links written in ``<arxiv:comment>`` ("Code: https://github.com/...", "Project page: ...")
  go to ``urls``. The entry's own ``<link>`` elements (abs page, pdf, doi) are the paper, not its
  code, and are not kept.

The feed's own ``<title>``, ``<id>`` and OpenSearch counts are not papers and are ignored. An
entry with no title is skipped with a message; one with no summary is read with an empty
abstract and a warning. The error entry the arXiv API sends for a bad query
(``<id>http://arxiv.org/api/errors#...``) is reported with its text.

Safety and errors: the XML is parsed with the standard library's expat as a stream, so each
entry keeps the line its ``<entry>`` tag starts on. A document type declaration is refused
(nothing is read): the arXiv API never sends one, and it is what entity-expansion attacks
("billion laughs") and external entities need. Malformed XML gives one message naming the line
and column expat stopped at; the entries completed before it are kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from xml.parsers import expat

from ..records import Paper
from .base import ReadLog, check_lengths, short
from .fields import arxiv_from_link, iso_date, one_line, unique, urls_in_text

ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
_API_ERROR = ("http://arxiv.org/api/errors", "https://arxiv.org/api/errors")


class _Refused(Exception):
    """The document declares a DOCTYPE or entities."""


def _tag(name: str) -> str:
    """expat's ``"ns}local"`` -> ``local`` (Atom, no namespace), ``arxiv:local``, ``{ns}local``."""
    ns, sep, local = name.rpartition("}")
    if not sep or ns == ATOM_NS:
        return local
    if ns == ARXIV_NS:
        return f"arxiv:{local}"
    return "{" + name


class _Entries:
    """expat handlers that build one ElementTree element per ``<entry>``."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.done: list[tuple[int, ET.Element]] = []
        self.root: str | None = None
        self.count = 0
        self._builder: ET.TreeBuilder | None = None
        self._depth = 0  # element depth inside the current entry
        self._line = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _tag(name)
        if self.root is None:
            self.root = tag
        if self._builder is None:
            if tag != "entry":
                return
            self._builder = ET.TreeBuilder()
            self._line = self.parser.CurrentLineNumber
        self._depth += 1
        self._builder.start(tag, {_tag(k): v for k, v in attrs.items()})

    def end(self, name: str) -> None:
        if self._builder is None:
            return
        self._builder.end(_tag(name))
        self._depth -= 1
        if self._depth == 0:
            self.done.append((self._line, self._builder.close()))
            self.count += 1
            self._builder = None

    def data(self, text: str) -> None:
        if self._builder is not None:
            self._builder.data(text)


def _refuse(*_: object) -> None:
    raise _Refused


def read_atom(lines: Iterable[str], path: str, log: ReadLog) -> Iterator[Paper]:
    """Yield the papers of one Atom feed, in feed order."""
    parser = expat.ParserCreate(namespace_separator="}")
    entries = _Entries(parser)
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.StartElementHandler = entries.start
    parser.EndElementHandler = entries.end
    parser.CharacterDataHandler = entries.data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    seen_text = False
    fed = 0
    try:
        for line in lines:
            fed += 1
            seen_text = seen_text or bool(line.strip())
            parser.Parse(line, False)
            yield from _papers(entries, path, log)
        if not seen_text:
            return
        parser.Parse("", True)
        yield from _papers(entries, path, log)
    except _Refused:
        yield from _papers(entries, path, log)
        log.skip(
            path, parser.CurrentLineNumber, "unsafe XML",
            "XML with a document type declaration (DOCTYPE) is refused: it can expand "
            "entities without bound; file skipped",
        )
        return
    except expat.ExpatError as exc:
        yield from _papers(entries, path, log)
        where = f"column {exc.offset + 1}"
        line_no = exc.lineno
        if line_no > fed:  # past the last newline: the text ended too early
            where, line_no = "the end of the file", fed
        log.skip(
            path, line_no, "malformed XML",
            f"malformed XML ({expat.ErrorString(exc.code)} at {where}); "
            f"kept the entries before it ({entries.count}), skipped the rest",
        )
        return
    if entries.count == 0 and entries.root not in ("feed", "entry"):
        log.skip(
            path, None, "not Atom",
            f"root element <{entries.root}> is not an Atom <feed> and holds no <entry>; "
            "nothing read",
        )


def _papers(entries: _Entries, path: str, log: ReadLog) -> Iterator[Paper]:
    done, entries.done = entries.done, []
    for line, element in done:
        paper = _paper(element, path, line, log)
        if paper is not None:
            yield paper


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    return None if child is None else one_line("".join(child.itertext()))


def _paper(entry: ET.Element, path: str, line: int, log: ReadLog) -> Paper | None:
    ident = _text(entry, "id") or ""
    title = _text(entry, "title") or ""
    summary = _text(entry, "summary")
    if summary is None:
        summary = _text(entry, "content")
    if ident.startswith(_API_ERROR):
        log.skip(path, line, "arXiv API error", f"arXiv API error: {summary or ident}")
        return None
    if not title:
        log.skip(path, line, "no title", "entry has no <title>, skipped")
        return None
    if not summary:
        summary = ""
        log.warn(
            path, line, "no abstract",
            f"paper {short(title)!r} has no <summary>; read with its title only",
        )
    if not check_lengths(title, summary, path, line, log):
        return None
    arxiv_id = arxiv_from_link(ident)
    if arxiv_id is None:
        for link in entry.findall("link"):
            if link.get("rel", "alternate") == "alternate":
                arxiv_id = arxiv_from_link(link.get("href", ""))
                if arxiv_id:
                    break
    published = None
    for tag in ("published", "updated"):
        value = _text(entry, tag)
        if value:
            published = iso_date(value)
            if published is None:
                log.warn(
                    path, line, "bad field", f"<{tag}> {short(value, 40)!r} is not a date; ignored"
                )
            break
    authors = [n for n in (_text(a, "name") for a in entry.findall("author")) if n]
    comments = [one_line("".join(c.itertext())) for c in entry.findall("arxiv:comment")]
    urls = unique(url for c in comments for url in urls_in_text(c))
    return Paper.make(
        title,
        summary,
        arxiv_id=arxiv_id,
        authors=authors,
        published=published,
        urls=urls,
        sources=(f"{path}:{line}",),
    )
