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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
