"""HTML pages of the endpoint: the query form, result tables, Linked Data pages.

Every value shown goes through :func:`html.escape` (titles and abstracts come from the web and
may hold markup); only ``http(s)`` IRIs become links, IRIs under the data base link to the
server's own pages. No scripts: the pages work under ``Content-Security-Policy:
default-src 'none'``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from .results import XSD_STRING

if TYPE_CHECKING:
    from .engine import Description

__all__ = [
    "DATA_PREFIX",
    "PAGE_PREFIX",
    "boolean_page",
    "graph_page",
    "index_page",
    "query_form",
    "resource_page",
    "results_page",
]

#: local paths of the HTML page and the data documents of the resource ``{base}REST``
PAGE_PREFIX: Final = "/page/"
DATA_PREFIX: Final = "/data/"

EXAMPLE_QUERY: Final = """\
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?paper ?title WHERE {
  ?paper dcterms:title ?title .
}
ORDER BY ?title
LIMIT 20
"""

_STYLE: Final = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;padding:.3em .5em;
text-align:left;vertical-align:top} th{background:#f5f5f5} code,pre,textarea{font:13px monospace}
pre{background:#f7f7f7;padding:.8em;overflow:auto} textarea{width:100%;height:14em}
.iri{color:#666;font-size:.9em;word-break:break-all} .muted{color:#777} a{color:#0645ad}
.lit{white-space:pre-wrap} nav a{margin-right:1em} .ev{margin:.2em 0 .8em 1em}
"""


def e(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> bytes:
    """A complete HTML document (UTF-8 bytes); ``body`` must already be escaped HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>"
        '<nav><a href="/">explorer</a><a href="/sparql">SPARQL</a></nav>'
        f"{body}</body></html>\n"
    ).encode()


def query_form(query: str = EXAMPLE_QUERY) -> bytes:
    """The SPARQL query form (GET /sparql without a query)."""
    return page(
        "kgraph SPARQL endpoint",
        '<h1>SPARQL endpoint</h1><p class="muted">Read-only SPARQL 1.1 over the graph '
        "bundle (the union of its named graphs). Results as JSON, XML, CSV or TSV by "
        "<code>Accept</code> or <code>format=</code>; CONSTRUCT and DESCRIBE as Turtle or "
        'JSON-LD.</p><form method="get" action="/sparql">'
        f'<textarea name="query" aria-label="query">{e(query)}</textarea>'
        '<p><label>format <select name="format"><option>html</option><option>json</option>'
        "<option>xml</option><option>csv</option><option>tsv</option><option>turtle</option>"
        "<option>json-ld</option></select></label> <button>Run</button></p></form>",
    )


def index_page(stats: Mapping[str, Any]) -> bytes:
    """The front page when the bundle has no HTML explorer."""
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in stats.items())
    return page(
        "kgraph",
        f'<h1>kgraph</h1><table>{rows}</table><p><a href="/sparql">SPARQL query form</a></p>',
    )


def _short(iri: str, prefixes: Mapping[str, str]) -> str:
    for prefix, ns in prefixes.items():
        if iri.startswith(ns) and len(iri) > len(ns):
            return f"{prefix}:{iri[len(ns) :]}"
    return iri


def local_path(iri: str, base: str) -> str | None:
    """The server's page of an IRI under the data base, else None."""
    if iri.startswith(base) and len(iri) > len(base):
        return PAGE_PREFIX + iri[len(base) :]
    return None


def _link(iri: str, base: str, text: str) -> str:
    local = local_path(iri, base)
    if local is not None:
        return f'<a href="{e(quote(local, safe="/%:@!$&()*+,;=-._~"))}">{e(text)}</a>'
    if iri.startswith(("http://", "https://")):
        return f'<a href="{e(iri)}" rel="nofollow noopener noreferrer">{e(text)}</a>'
    return e(text)


def _term(term: Any, base: str, labels: Mapping[str, str], prefixes: Mapping[str, str]) -> str:
    kind = type(term).__name__
    if kind == "NamedNode":
        label = labels.get(term.value)
        text = label if label is not None else _short(term.value, prefixes)
        return _link(term.value, base, text)
    if kind == "BlankNode":
        return f'<span class="muted">_:{e(term.value)}</span>'
    if kind == "Literal":
        suffix = ""
        if term.language:
            suffix = f' <span class="muted">@{e(term.language)}</span>'
        elif term.datatype.value != XSD_STRING:
            suffix = f' <span class="muted">{e(_short(term.datatype.value, prefixes))}</span>'
        return f'<span class="lit">{e(term.value)}</span>{suffix}'
    return e(str(term))


def _plain(term: Any) -> str:
    kind = type(term).__name__
    if kind == "NamedNode":
        return str(term.value)
    if kind == "BlankNode":
        return f"_:{term.value}"
    if kind == "Literal":
        return str(term.value)
    return str(term)


def results_page(variables: Sequence[str], rows: Sequence[Sequence[Any]], query: str) -> bytes:
    """SELECT results as an HTML table (for a browser)."""
    head = "".join(f"<th>{e(v)}</th>" for v in variables)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if t is None else _cell(t)}</td>" for t in row) + "</tr>"
        for row in rows
    )
    return page(
        "SPARQL results",
        f"<h1>{len(rows):,} results</h1><table><tr>{head}</tr>{body}</table>"
        f"<h2>Query</h2><pre>{e(query)}</pre>",
    )


def _cell(term: Any) -> str:
    text = _plain(term)
    if type(term).__name__ == "NamedNode" and text.startswith(("http://", "https://")):
        return f'<a href="{e(text)}" rel="nofollow noopener noreferrer">{e(text)}</a>'
    return f'<span class="lit">{e(text)}</span>'


def boolean_page(value: bool, query: str) -> bytes:
    """ASK results for a browser."""
    return page(
        "SPARQL result",
        f"<h1>{'true' if value else 'false'}</h1><h2>Query</h2><pre>{e(query)}</pre>",
    )


def graph_page(turtle: str, query: str) -> bytes:
    """CONSTRUCT/DESCRIBE results for a browser: the Turtle, escaped."""
    return page("SPARQL result", f"<pre>{e(turtle)}</pre><h2>Query</h2><pre>{e(query)}</pre>")


_KG: Final = "https://w3id.org/kgraph/ontology#"
_PROV_DERIVED: Final = "http://www.w3.org/ns/prov#wasDerivedFrom"
_RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
#: predicates shown first on a page, in this order
_FIRST: Final = (
    _RDF_TYPE,
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://purl.org/dc/terms/title",
    "http://www.w3.org/2004/02/skos/core#altLabel",
)


def _predicate_order(iri: str) -> tuple[int, str]:
    return (_FIRST.index(iri) if iri in _FIRST else len(_FIRST), iri)


def _values(triples: Sequence[Any], predicate: str, *, of: str = "object") -> list[Any]:
    return [getattr(t, of) for t in triples if t.predicate.value == predicate]


def _highlight(sentence: str, anchor: str | None) -> str:
    """The sentence escaped, the anchor text (first occurrence) marked."""
    at = sentence.find(anchor) if anchor else -1
    if at < 0 or not anchor:
        return e(sentence)
    end = at + len(anchor)
    return f"{e(sentence[:at])}<mark>{e(sentence[at:end])}</mark>{e(sentence[end:])}"


def resource_page(
    found: Description, base: str, links: Mapping[str, str], prefixes: Mapping[str, str]
) -> bytes:
    """The Linked Data page of one resource: its properties (one row per predicate), the
    evidence of its paper-entity links (the sentence, the anchor text marked), its other
    owned nodes (results), and what points to it."""
    labels = found.labels
    title = labels.get(found.iri) or _short(found.iri, prefixes)

    def term(t: Any) -> str:
        return _term(t, base, labels, prefixes)

    def sort_key(t: Any) -> str:
        return (labels.get(getattr(t, "value", "")) or _plain(t)).lower()

    def grouped(triples: Sequence[Any], incoming: bool = False) -> str:
        by_predicate: dict[str, list[Any]] = {}
        predicates: dict[str, Any] = {}
        for t in triples:
            predicates[t.predicate.value] = t.predicate
            by_predicate.setdefault(t.predicate.value, []).append(
                t.subject if incoming else t.object
            )
        rows = []
        for predicate in sorted(by_predicate, key=_predicate_order):
            values = sorted(by_predicate[predicate], key=sort_key)
            literal = any(type(v).__name__ == "Literal" for v in values)
            joined = "<br>".join(map(term, values)) if literal else ", ".join(map(term, values))
            count = f' <span class="muted">({len(values):,})</span>' if len(values) > 3 else ""
            name = term(predicates[predicate])
            rows.append(f"<tr><th>{name}{count}</th><td>{joined}</td></tr>")
        return f"<table>{''.join(rows)}</table>"

    mentions: list[tuple[str, str]] = []
    others: list[tuple[str, list[Any]]] = []
    shown: set[str] = set()
    for iri, triples in found.owned.items():
        sentence = _values(triples, _KG + "sentence")
        refers = _values(triples, _KG + "refersTo")
        if not sentence or not refers:
            others.append((iri, triples))
            continue
        target = refers[0]
        if target.value == found.iri:  # an entity's page: the other end is the paper
            target = (_values(triples, _PROV_DERIVED) or [target])[0]
        relation = _values(triples, _KG + "relation")
        confidence = _values(triples, _KG + "confidence")
        anchor = _values(triples, _KG + "anchorText")
        row = (
            f"<tr><td>{term(target)}</td>"
            f"<td>{term(relation[0]) if relation else ''}</td>"
            f"<td>{e(confidence[0].value) if confidence else ''}</td>"
            f"<td>{_highlight(sentence[0].value, anchor[0].value if anchor else None)}</td></tr>"
        )
        mentions.append((sort_key(target), row))
        shown.add(iri)

    alternates = " ".join(
        f'<a href="{e(url)}" type="{e(mt)}">{e(name)}</a>'
        for name, (url, mt) in _alternates(links).items()
    )
    parts = [
        f'<h1>{e(title)}</h1><p class="iri">{e(found.iri)}</p>',
        f'<p class="muted">this resource as data: {alternates}</p>' if alternates else "",
        grouped(found.outgoing),
    ]
    if mentions:
        parts.append(
            f"<h2>Evidence ({len(mentions):,})</h2><table><tr><th>linked to</th>"
            "<th>relation</th><th>confidence</th><th>sentence</th></tr>"
            + "".join(row for _, row in sorted(mentions))
            + "</table>"
        )
    for iri, triples in sorted(others):
        name = labels.get(iri) or _short(iri, prefixes)
        parts.append(f'<h2 class="iri">{_link(iri, base, name)}</h2>{grouped(triples)}')
    incoming = [t for t in found.incoming if getattr(t.subject, "value", None) not in shown]
    if incoming:
        more = f" (the first {len(found.incoming):,})" if found.incoming_truncated else ""
        parts.append(f"<h2>Referenced by{e(more)}</h2>")
        parts.append(grouped(incoming, incoming=True))
    return page(title, "".join(parts))


def _alternates(links: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    media = {
        "turtle": "text/turtle",
        "jsonld": "application/ld+json",
        "nt": "application/n-triples",
    }
    names = {"turtle": "Turtle", "jsonld": "JSON-LD", "nt": "N-Triples"}
    return {names[k]: (links[k], media[k]) for k in names if k in links}
