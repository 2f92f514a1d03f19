"""Per-paper extraction records: what the extractor found in one paper, as stored in a bundle.

An :class:`Extraction` is a paper's entities (exactly the :class:`~kgraph.records.Entity`
objects of ``kgraph.extract``) plus the abbreviation definitions the paper makes ("long form
(SHORT)"), which entity resolution needs to learn acronyms across papers. Its JSON form is the
line ``kgraph extract`` prints, with four additions: ``abbreviations`` (``[{"short", "long"}]``),
each entity's gazetteer id as ``kb_id`` (when known), each mention's ``sentence``, and the
paper's ``results`` in a bundle (rows of :meth:`kgraph.results.Result.to_row`). Extract's own
output (without them) reads back too: the abbreviations are then inferred from the aliases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import orjson

from .records import Entity, Mention, Paper
from .results import Result

if TYPE_CHECKING:
    from spacy.language import Language


@dataclass(frozen=True, slots=True)
class Extraction:
    """One paper's entities and abbreviation definitions."""

    paper_id: str
    title: str
    entities: tuple[Entity, ...]
    #: (short, long) per definition site; ``None`` when unknown (a line of ``kgraph extract``)
    abbreviations: tuple[tuple[str, str], ...] | None = None
    #: the results stated in the paper, found with its entities' own types
    #: (:func:`kgraph.results.find_results`); ``None`` when not found yet. A bundle keeps
    #: them, so that an add finds again only those of papers whose entities resolve to
    #: other types (:func:`kgraph.graph.build_graph`)
    results: tuple[Result, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.paper_id,
            "title": self.title,
            "entities": [entity_to_dict(e) for e in self.entities],
        }
        if self.abbreviations is not None:
            d["abbreviations"] = [{"short": s, "long": lf} for s, lf in self.abbreviations]
        if self.results is not None:
            d["results"] = [r.to_row() for r in self.results]
        return d

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Extraction:
        """Read a stored line (or a line of ``kgraph extract``); ``ValueError`` if malformed."""
        try:
            entities = tuple(entity_from_dict(e) for e in row["entities"])
            raw = row.get("abbreviations")
            abbreviations = (
                None if raw is None else tuple((str(a["short"]), str(a["long"])) for a in raw)
            )
            pid = str(row["id"])
            found = row.get("results")
            results = None if found is None else tuple(Result.from_row(pid, r) for r in found)
            return cls(pid, str(row.get("title", "")), entities, abbreviations, results)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an extraction record ({type(exc).__name__}: {exc})") from None


#: how each line of a bundle's extractions.jsonl begins (Extraction.to_dict: the id first)
_ID_PREFIX: Final = b'{"id":"'


class StoredExtractions(MutableMapping[str, Extraction]):
    """Extractions by paper id, those read from a bundle's ``extractions.jsonl`` kept as their
    lines (one buffer: the file) and made into :class:`Extraction` objects only when first
    asked for. An add asks for few of them: the papers whose entities it resolves again or
    whose part of the graph it makes again (:mod:`kgraph.graph_delta`); making all 160k took
    8 of the 13 s an add spent reading the bundle. A line never asked for is written back
    as it was read (:meth:`write_lines`). ``fail(message)`` makes the error for a damaged
    line (its message names the file and line)."""

    def __init__(
        self,
        data: bytes = b"",
        spans: Mapping[str, tuple[int, int]] | None = None,
        *,
        where: str = "",
        fail: Callable[[str], Exception] = ValueError,
    ) -> None:
        self._data = data
        self._items: dict[str, Extraction | tuple[int, int]] = dict(spans or {})
        self._where = where
        self._fail = fail

    @classmethod
    def from_lines(
        cls, data: bytes, *, where: str = "", fail: Callable[[str], Exception] = ValueError
    ) -> StoredExtractions:
        """The extractions of ``data``, the bytes of an ``extractions.jsonl``: of a line
        that begins with its paper id as :meth:`Extraction.to_dict` writes it, only the id is
        read (the file is checked as a whole against the manifest first); any other line is
        made at once (a later line of the same id replaces an earlier one)."""
        out = cls(data, where=where, fail=fail)
        items = out._items
        find, start, n = data.find, 0, 0
        size = len(data)
        while start < size:
            end = find(b"\n", start)
            end = size if end < 0 else end + 1
            n += 1
            if data[start] == 0x7B or data[start:end].strip():  # ("{": not blank)
                pid = _line_id(data, start, end)
                if pid is not None:
                    items[pid] = (start, end)
                else:
                    ext = out._parse(start, end, n)
                    items[ext.paper_id] = ext
            start = end
        return out

    def _parse(self, start: int, end: int, line: int | None = None) -> Extraction:
        try:
            return Extraction.from_dict(orjson.loads(memoryview(self._data)[start:end]))
        except ValueError as exc:  # orjson's errors are ValueErrors too
            if line is None:
                line = self._data.count(b"\n", 0, start) + 1
            raise self._fail(f"{self._where}:{line}: damaged record ({exc})") from None

    def _make(self, pid: str, span: tuple[int, int]) -> Extraction:
        ext = self._items[pid] = self._parse(*span)
        return ext

    def entity(self, pid: str, index: int) -> Entity:
        """The ``index``-th entity of ``pid``'s extraction; of a line not made, that entity
        alone is made (the line is parsed each time: an add asks for a few of a paper's
        entities, those of the parts it resolves again)."""
        item = self._items[pid]
        if not isinstance(item, tuple):
            return item.entities[index]
        start, end = item
        try:
            row = orjson.loads(memoryview(self._data)[start:end])
            return entity_from_dict(row["entities"][index])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            line = self._data.count(b"\n", 0, start) + 1
            raise self._fail(f"{self._where}:{line}: damaged record ({exc})") from None

    def __getitem__(self, pid: str) -> Extraction:
        item = self._items[pid]
        return self._make(pid, item) if isinstance(item, tuple) else item

    def __setitem__(self, pid: str, ext: Extraction) -> None:
        self._items[pid] = ext

    def __delitem__(self, pid: str) -> None:
        del self._items[pid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, pid: object) -> bool:
        return pid in self._items

    def clear(self) -> None:
        """Empty (nothing made: MutableMapping's clear would make each one it takes out)."""
        self._items.clear()
        self._data = b""

    def stored(self, pid: str) -> bool:
        """True while ``pid``'s extraction is the line read (not asked for, not replaced)."""
        return isinstance(self._items.get(pid), tuple)

    def select(self, pids: Iterable[str]) -> StoredExtractions:
        """Those of ``pids`` (in that order), sharing this one's lines; nothing is made."""
        items = self._items
        out = StoredExtractions(self._data, where=self._where, fail=self._fail)
        out._items = {pid: items[pid] for pid in pids}
        return out

    def copy(self) -> StoredExtractions:
        return self.select(self._items)

    def sort(self) -> StoredExtractions:
        """Put the papers in id order (in place; nothing is made); returns self."""
        self._items = dict(sorted(self._items.items(), key=_first))
        return self

    def write_lines(self, fh: BinaryIO) -> None:
        """Write JSON Lines (each :meth:`Extraction.to_dict`): a line read and not replaced
        as it was read, runs of them in one write."""
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        view = memoryview(self._data)
        run_start = run_end = -1
        for item in self._items.values():
            if isinstance(item, tuple):
                if item[0] == run_end:
                    run_end = item[1]
                    continue
                if run_end > run_start:
                    fh.write(view[run_start:run_end])
                run_start, run_end = item
                continue
            if run_end > run_start:
                fh.write(view[run_start:run_end])
                run_start = run_end = -1
            fh.write(dumps(item.to_dict(), option=newline))
        if run_end > run_start:
            fh.write(view[run_start:run_end])


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _line_id(data: bytes, start: int, end: int) -> str | None:
    """The paper id the line ``data[start:end]`` begins with, as Extraction.to_dict writes it
    (None when it does not, or the id holds an escape)."""
    if data.startswith(_ID_PREFIX, start):
        first = start + len(_ID_PREFIX)
        close = data.find(b'"', first, end)
        if close > 0 and data.find(b"\\", first, close) < 0:
            return data[first:close].decode("utf-8")
    return None


def by_paper_id(extractions: Mapping[str, Extraction]) -> Mapping[str, Extraction]:
    """``extractions`` in paper id order: stored ones sorted in place (nothing made), others
    copied into a sorted dict."""
    if isinstance(extractions, StoredExtractions):
        return extractions.sort()
    return dict(sorted(extractions.items()))


def entity_at(extractions: Mapping[str, Extraction], pid: str, index: int) -> Entity:
    """``extractions[pid].entities[index]``, made alone from a stored line."""
    if isinstance(extractions, StoredExtractions):
        return extractions.entity(pid, index)
    return extractions[pid].entities[index]


def copied(extractions: Mapping[str, Extraction]) -> MutableMapping[str, Extraction]:
    """A shallow copy (stored extractions stay lines)."""
    if isinstance(extractions, StoredExtractions):
        return extractions.copy()
    return dict(extractions)


def entity_to_dict(entity: Entity) -> dict[str, Any]:
    """``Entity.to_dict()`` plus ``kb_id`` and each mention's sentence."""
    d = entity.to_dict()
    if entity.id:
        d["kb_id"] = entity.id
    d["mentions"] = [{**m.to_dict(), "sentence": m.sentence} for m in entity.mentions]
    return d


def entity_from_dict(d: Mapping[str, Any]) -> Entity:
    # interned: the same sentence (and source name) recurs in many mentions of a paper, the
    # same name, mention text, type, relation and gazetteer id across papers, and a large
    # bundle holds millions of both in memory (a JSON parser makes a new string for every
    # value)
    intern = sys.intern
    mentions = tuple(
        [
            Mention(
                int(m["start"]),
                int(m["end"]),
                intern(str(m["text"])),
                intern(str(m.get("source", ""))),
                intern(str(m.get("sentence", ""))),
            )
            for m in d.get("mentions") or ()
        ]
    )
    return Entity(
        name=intern(str(d["name"])),
        type=intern(str(d["type"])),
        relation=intern(str(d["relation"])),
        confidence=float(d.get("confidence", 0.0)),
        aliases=tuple(str(a) for a in d.get("aliases") or ()),
        mentions=mentions,
        id=intern(str(d["kb_id"])) if d.get("kb_id") else None,
    )


def extract(
    papers: Iterable[Paper], nlp: Language | None = None, batch_size: int = 64
) -> Iterator[tuple[Paper, Extraction]]:
    """Run the extraction pipeline over ``papers`` (input order, streaming), keeping the
    abbreviation definitions that ``kgraph.extract.pipeline.extract_papers`` drops."""
    from .extract.pipeline import default_pipeline

    nlp = nlp or default_pipeline()
    pairs = ((p.text, p) for p in papers)
    for doc, paper in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        abbreviations = tuple(
            (" ".join(a.short.text.split()), " ".join(a.long.text.split()))
            for a in doc._.abbreviations or ()
        )
        entities = tuple(doc._.kg_entities or ())
        yield paper, Extraction(paper.id, paper.title, entities, abbreviations)
