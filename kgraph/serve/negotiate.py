"""Content negotiation for the endpoint: ``Accept`` headers and the ``format=`` parameter.

Two families of answers exist: *results* (SELECT and ASK: the SPARQL 1.1 results formats, or an
HTML table for a browser) and *graph* (CONSTRUCT, DESCRIBE and Linked Data documents: RDF
syntaxes, or an HTML page). :func:`choose` picks the format of one family from what the client
asked for; the ``format`` parameter (``json``, ``xml``, ``csv``, ``tsv``, ``turtle``,
``json-ld``, ... or a media type, the convention of Virtuoso and SPARQLWrapper) wins over
``Accept``. Nothing acceptable falls back to the family's default rather than a 406: a client
that asks for something odd still gets an answer it can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["GRAPH", "RESULTS", "Format", "choose", "parse_accept"]

Family = Literal["results", "graph"]


@dataclass(frozen=True)
class Format:
    """One answer format: a short name, the media type sent, the media types it answers to."""

    name: str  #: json, xml, csv, tsv, html (results); turtle, jsonld, nt, rdfxml, html (graph)
    media_type: str  #: the Content-Type sent (charset added for text types)
    accepts: tuple[str, ...]  #: media types (in Accept) that select it
    aliases: tuple[str, ...] = ()  #: values of the format= parameter that select it
    extension: str = ""  #: file extension of a Linked Data document in this format


RESULTS: Final[tuple[Format, ...]] = (
    Format(
        "json",
        "application/sparql-results+json",
        ("application/sparql-results+json", "application/json"),
        ("json", "srj"),
    ),
    Format(
        "xml",
        "application/sparql-results+xml",
        ("application/sparql-results+xml", "application/xml", "text/xml"),
        ("xml", "srx"),
    ),
    Format("csv", "text/csv", ("text/csv",), ("csv",)),
    Format("tsv", "text/tab-separated-values", ("text/tab-separated-values",), ("tsv",)),
    Format("html", "text/html", ("text/html", "application/xhtml+xml"), ("html",)),
)

GRAPH: Final[tuple[Format, ...]] = (
    Format(
        "turtle",
        "text/turtle",
        ("text/turtle", "application/turtle", "application/x-turtle", "text/n3", "text/rdf+n3"),
        ("turtle", "ttl", "n3"),
        ".ttl",
    ),
    Format(
        "jsonld",
        "application/ld+json",
        ("application/ld+json", "application/x-json+ld", "application/json"),
        ("json-ld", "jsonld", "json"),
        ".jsonld",
    ),
    Format(
        "nt",
        "application/n-triples",
        ("application/n-triples", "text/plain"),
        ("nt", "ntriples", "n-triples"),
        ".nt",
    ),
    Format(
        "rdfxml",
        "application/rdf+xml",
        ("application/rdf+xml", "application/xml", "text/xml"),
        ("rdf", "rdfxml", "rdf+xml", "xml"),
        ".rdf",
    ),
    Format("html", "text/html", ("text/html", "application/xhtml+xml"), ("html",), ".html"),
)

_FAMILIES: Final[dict[str, tuple[Format, ...]]] = {"results": RESULTS, "graph": GRAPH}


def parse_accept(header: str | None) -> list[tuple[str, float, int]]:
    """``(media range, q, position)`` for every range of an Accept header (q > 0 only)."""
    ranges = []
    for position, part in enumerate((header or "").split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if "/" not in media:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        if q > 0:
            ranges.append((media, q, position))
    return ranges


def _match(media: str, offered: str) -> int:
    """How specifically the Accept range ``media`` matches ``offered``: 2, 1, 0 or -1 (no)."""
    if media == offered:
        return 2
    kind, _, sub = media.partition("/")
    if sub == "*" and (kind == "*" or offered.startswith(kind + "/")):
        return 1 if kind != "*" else 0
    return -1


def choose(
    family: Family,
    accept: str | None,
    format_params: Iterable[str] = (),
    *,
    allow_html: bool = True,
) -> Format:
    """The format to answer with, for a result of ``family``.

    The first ``format`` parameter value this family understands wins; else the offer the
    Accept header ranks best (q, then exact match over wildcard, then the client's order);
    else the family's default (JSON results, Turtle graphs).
    """
    offers: Sequence[Format] = [f for f in _FAMILIES[family] if allow_html or f.name != "html"]
    for value in format_params:
        wanted = value.strip().lower()
        for fmt in offers:
            if wanted in fmt.aliases or wanted == fmt.media_type or wanted in fmt.accepts:
                return fmt
    ranges = parse_accept(accept)
    best: tuple[float, int, int, int] | None = None
    chosen = offers[0]
    for rank, fmt in enumerate(offers):
        for offered in fmt.accepts:
            for media, q, position in ranges:
                specificity = _match(media, offered)
                if specificity < 0:
                    continue
                if fmt.name == "html" and specificity < 2:
                    continue  # a wildcard never selects HTML: clients get data unless they ask
                score = (q, specificity, -position, -rank)
                if best is None or score > best:
                    best, chosen = score, fmt
    return chosen
