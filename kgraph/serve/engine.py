"""What the endpoint does with the store: run a query, describe a resource (worker side).

Everything here runs inside a worker process (:mod:`kgraph.serve.worker`) that opened the
bundle's Oxigraph store read-only, so a runaway query can be stopped by killing the process.
Functions return a :class:`Reply` (status, content type, body) ready to send, never raise for
bad input: a syntax error, an update, a result over the bound are 400 replies with a one-line
message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final

import pyoxigraph as ox

from . import pages
from .negotiate import GRAPH, Format, choose
from .results import boolean_bytes, rows_bytes

__all__ = [
    "Description",
    "Reply",
    "describe",
    "error",
    "is_update",
    "run_query",
]


def prefixes_for(base: str) -> dict[str, str]:
    """Prefixes declared in Turtle answers and used to shorten IRIs on HTML pages: the
    vocabularies, then the data IRIs under ``base`` (``paper:``, ``method:``, ...)."""
    from ..rdf.namespaces import prefixes

    return {**prefixes(base), "foaf": "http://xmlns.com/foaf/0.1/"}


_RDF_FORMATS: Final = {
    "turtle": ox.RdfFormat.TURTLE,
    "jsonld": ox.RdfFormat.JSON_LD,
    "nt": ox.RdfFormat.N_TRIPLES,
    "rdfxml": ox.RdfFormat.RDF_XML,
}

#: how many triples pointing *to* a resource its Linked Data document lists at most
MAX_INCOMING: Final = 1000

READ_ONLY_MESSAGE: Final = "SPARQL Update is not allowed: this endpoint is read-only"


@dataclass
class Reply:
    """An HTTP answer: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def error(status: int, message: str) -> Reply:
    """A plain-text error answer (the SPARQL protocol's style): one line of text."""
    return Reply(status, "text/plain; charset=utf-8", (message.rstrip() + "\n").encode())


def content_type(fmt: Format) -> str:
    """The Content-Type header for ``fmt`` (every format here is UTF-8 text)."""
    return f"{fmt.media_type}; charset=utf-8"


_UPDATE_KEYWORD = re.compile(
    r"\b(INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b", re.IGNORECASE
)


def is_update(text: str) -> bool:
    """Whether ``text`` (which failed to parse as a query) is a SPARQL Update request."""
    try:
        from rdflib.plugins.sparql.parser import parseUpdate

        parseUpdate(text)
        return True
    except Exception:
        # not a well-formed update either: say "read-only" only if it starts like one
        stripped = re.sub(r"(?m)#.*$", "", text)
        stripped = re.sub(
            r"(?is)^\s*((BASE\s*<[^>]*>|PREFIX\s+[^:\s]*:\s*<[^>]*>)\s*)*", "", stripped
        )
        match = _UPDATE_KEYWORD.match(stripped.lstrip())
        return match is not None


def _graph_args(default_graphs: Sequence[str], named_graphs: Sequence[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if default_graphs:
        args["default_graph"] = [ox.NamedNode(g) for g in default_graphs]
    else:
        args["use_default_graph_as_union"] = True
    if named_graphs:
        args["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
    return args


def _too_large(max_rows: int, what: str) -> Reply:
    return error(
        400,
        f"result too large: more than {max_rows:,} {what} (the endpoint's limit, "
        "kgraph serve --max-rows); add a LIMIT or narrow the query",
    )


def run_query(
    store: ox.Store,
    text: str,
    *,
    accept: str | None = None,
    format_params: Sequence[str] = (),
    default_graphs: Sequence[str] = (),
    named_graphs: Sequence[str] = (),
    max_rows: int = 10_000,
    base: str,
) -> Reply:
    """Run the SPARQL query ``text`` over ``store`` and answer in the negotiated format."""
    try:
        args = _graph_args(default_graphs, named_graphs)
    except ValueError as exc:
        return error(400, f"bad graph IRI: {exc}")
    try:
        result = store.query(text, **args)
    except SyntaxError as exc:
        if is_update(text):
            return error(400, READ_ONLY_MESSAGE)
        return error(400, f"SPARQL syntax error: {exc}")
    try:
        return _answer(result, accept, format_params, max_rows, text, prefixes_for(base))
    except (OSError, RuntimeError, ValueError) as exc:  # evaluation errors surface lazily
        return error(500, f"query failed: {exc}")


def _answer(
    result: Any,
    accept: str | None,
    format_params: Sequence[str],
    max_rows: int,
    text: str,
    prefixes: dict[str, str],
) -> Reply:
    if isinstance(result, ox.QueryBoolean):
        fmt = choose("results", accept, format_params)
        if fmt.name == "html":
            body = pages.boolean_page(bool(result), text)
            return Reply(200, content_type(fmt), body)
        return Reply(200, content_type(fmt), boolean_bytes(bool(result), fmt.name))
    if isinstance(result, ox.QuerySolutions):
        fmt = choose("results", accept, format_params)
        variables = [v.value for v in result.variables]
        rows: list[list[Any]] = []
        for solution in result:
            if len(rows) >= max_rows:
                return _too_large(max_rows, "rows")
            rows.append([solution[i] for i in range(len(variables))])
        if fmt.name == "html":
            return Reply(200, content_type(fmt), pages.results_page(variables, rows, text))
        return Reply(200, content_type(fmt), rows_bytes(variables, rows, fmt.name))
    triples = list(islice(result, max_rows + 1))
    if len(triples) > max_rows:
        return _too_large(max_rows, "triples")
    fmt = choose("graph", accept, format_params)
    if fmt.name == "html":
        turtle = ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=prefixes)
        return Reply(200, content_type(fmt), pages.graph_page(bytes(turtle or b"").decode(), text))
    return Reply(200, content_type(fmt), serialize(triples, fmt, prefixes))


def serialize(triples: Iterable[Any], fmt: Format, prefixes: dict[str, str]) -> bytes:
    """Triples in the RDF syntax ``fmt`` (turtle, jsonld, nt, rdfxml)."""
    spaces = prefixes if fmt.name in ("turtle", "rdfxml") else None
    return bytes(ox.serialize(triples, format=_RDF_FORMATS[fmt.name], prefixes=spaces) or b"")


# --- Linked Data -------------------------------------------------------------------------------

#: predicates whose value names a resource on its HTML page, in order of preference
LABELS: Final = (
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://purl.org/dc/terms/title",
    "https://schema.org/name",
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://xmlns.com/foaf/0.1/name",
)


@dataclass
class Description:
    """What the store says about one resource (deduplicated over the named graphs)."""

    iri: str
    outgoing: list[Any]  #: triples with the resource as subject
    incoming: list[Any]  #: triples with the resource as object (at most MAX_INCOMING)
    incoming_truncated: bool
    owned: dict[str, list[Any]]  #: descriptions of the nodes it owns (mentions, results)
    labels: dict[str, str]  #: a label for every IRI shown

    def triples(self) -> list[Any]:
        seen: dict[Any, None] = {}
        for t in self.outgoing + [t for ts in self.owned.values() for t in ts] + self.incoming:
            seen.setdefault(t, None)
        return list(seen)


def _triples(quads: Iterable[Any], limit: int | None = None) -> list[Any]:
    seen: dict[Any, None] = {}
    for quad in quads:
        seen.setdefault(quad.triple, None)
        if limit is not None and len(seen) > limit:
            break
    return list(seen)


def _label(store: ox.Store, node: Any) -> str | None:
    for predicate in LABELS:
        for quad in store.quads_for_pattern(node, ox.NamedNode(predicate), None, None):
            return str(getattr(quad.object, "value", quad.object))
    return None


def lookup(store: ox.Store, iri: str, base: str) -> Description | None:
    """The description of ``iri``; None when the store knows nothing about it.

    Nodes the resource owns (its mention and result nodes, IRIs under ``{base}mention/`` and
    ``{base}result/``) are described with it: that is where the evidence sentences are.
    """
    try:
        node = ox.NamedNode(iri)
    except ValueError:  # not a valid IRI: nothing can be known about it
        return None
    outgoing = _triples(store.quads_for_pattern(node, None, None, None))
    incoming = _triples(store.quads_for_pattern(None, None, node, None), MAX_INCOMING)
    truncated = len(incoming) > MAX_INCOMING
    incoming = incoming[:MAX_INCOMING]
    if not outgoing and not incoming:
        return None
    owned_prefixes = (f"{base}mention/", f"{base}result/")
    owned: dict[str, list[Any]] = {}
    candidates = [t.object for t in outgoing] + [t.subject for t in incoming]
    for other in candidates:
        if not isinstance(other, ox.NamedNode | ox.BlankNode) or other.value in owned:
            continue
        if isinstance(other, ox.BlankNode) or other.value.startswith(owned_prefixes):
            owned[other.value] = _triples(store.quads_for_pattern(other, None, None, None))
    labels: dict[str, str] = {}
    shown = [node]
    for t in outgoing + incoming + [t for ts in owned.values() for t in ts]:
        shown += [t.subject, t.object]
    for term in shown:
        if isinstance(term, ox.NamedNode) and term.value not in labels:
            label = _label(store, term)
            if label is not None:
                labels[term.value] = label
    return Description(iri, outgoing, incoming, truncated, owned, labels)


def describe(store: ox.Store, iri: str, fmt_name: str, base: str, links: dict[str, str]) -> Reply:
    """The Linked Data document of ``iri`` in ``fmt_name``; 404 when nothing is known.

    ``links`` maps the other formats' names to their URLs (alternate links on the HTML page)
    and ``"prefix"``/``"local"`` say how IRIs under the base become local links.
    """
    found = lookup(store, iri, base)
    if found is None:
        return error(404, f"not found: nothing is known about <{iri}>")
    fmt = next(f for f in GRAPH if f.name == fmt_name)
    prefixes = prefixes_for(base)
    if fmt.name == "html":
        return Reply(200, content_type(fmt), pages.resource_page(found, base, links, prefixes))
    return Reply(200, content_type(fmt), serialize(found.triples(), fmt, prefixes))
