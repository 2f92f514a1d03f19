"""SPARQL 1.1 query results, written in the four standard formats (and an HTML table).

The endpoint serialises the rows itself instead of calling pyoxigraph's ``serialize`` so that it
can stop at ``--max-rows``: rows are first collected (at most the bound plus one), then written.
Terms are pyoxigraph terms (``NamedNode``, ``BlankNode``, ``Literal``, ``Triple``).

* JSON: https://www.w3.org/TR/sparql11-results-json/
* XML: https://www.w3.org/TR/rdf-sparql-XMLres/
* CSV and TSV: https://www.w3.org/TR/sparql11-results-csv-tsv/
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from html import escape as _html_escape
from typing import Any

__all__ = ["XSD_STRING", "boolean_bytes", "rows_bytes", "term_json", "term_text"]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

Row = Sequence[Any]  #: one solution: a term or None per variable


def escape(text: str) -> str:
    """``text`` escaped for XML character data and attribute values."""
    return _html_escape(text, quote=True)


def quoteattr(text: str) -> str:
    return f'"{escape(text)}"'


def _kind(term: Any) -> str:
    return type(term).__name__  # NamedNode, BlankNode, Literal, Triple


def term_json(term: Any) -> dict[str, Any]:
    """One RDF term as a SPARQL JSON results binding."""
    kind = _kind(term)
    if kind == "NamedNode":
        return {"type": "uri", "value": term.value}
    if kind == "BlankNode":
        return {"type": "bnode", "value": term.value}
    if kind == "Triple":
        return {
            "type": "triple",
            "value": {
                "subject": term_json(term.subject),
                "predicate": term_json(term.predicate),
                "object": term_json(term.object),
            },
        }
    out: dict[str, Any] = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype.value != XSD_STRING:
        out["datatype"] = term.datatype.value
    return out


def term_text(term: Any) -> str:
    """The plain text of a term: an IRI, ``_:label`` of a blank node, a literal's lexical form."""
    kind = _kind(term)
    if kind == "BlankNode":
        return f"_:{term.value}"
    if kind == "Triple":
        return str(term)
    return str(term.value)


def _xml_term(term: Any) -> str:
    kind = _kind(term)
    if kind == "NamedNode":
        return f"<uri>{escape(term.value)}</uri>"
    if kind == "BlankNode":
        return f"<bnode>{escape(term.value)}</bnode>"
    if kind == "Triple":
        return (
            f"<triple><subject>{_xml_term(term.subject)}</subject>"
            f"<predicate>{_xml_term(term.predicate)}</predicate>"
            f"<object>{_xml_term(term.object)}</object></triple>"
        )
    if term.language:
        return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
    if term.datatype.value != XSD_STRING:
        return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
    return f"<literal>{escape(term.value)}</literal>"


def _tsv_term(term: Any) -> str:
    # N-Triples syntax; a tab or line break inside a literal must not split the row
    text = str(term)
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def rows_bytes(variables: Sequence[str], rows: Sequence[Row], fmt: str) -> bytes:
    """SELECT results ``rows`` (one term or None per variable) in ``fmt`` (json|xml|csv|tsv)."""
    if fmt == "json":
        bindings = [
            {v: term_json(t) for v, t in zip(variables, row, strict=True) if t is not None}
            for row in rows
        ]
        doc = {"head": {"vars": list(variables)}, "results": {"bindings": bindings}}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if fmt == "xml":
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>'
        ]
        parts += [f"<variable name={quoteattr(v)}/>" for v in variables]
        parts.append("</head><results>")
        for row in rows:
            parts.append("<result>")
            for v, t in zip(variables, row, strict=True):
                if t is not None:
                    parts.append(f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>")
            parts.append("</result>\n")
        parts.append("</results></sparql>\n")
        return "".join(parts).encode()
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(variables)
        for row in rows:
            writer.writerow(["" if t is None else term_text(t) for t in row])
        return buf.getvalue().encode()
    if fmt == "tsv":
        lines = ["\t".join(f"?{v}" for v in variables)]
        lines += ["\t".join("" if t is None else _tsv_term(t) for t in row) for row in rows]
        return ("\n".join(lines) + "\n").encode()
    raise ValueError(f"unknown results format {fmt!r}")


def boolean_bytes(value: bool, fmt: str) -> bytes:
    """ASK results in ``fmt`` (json|xml|csv|tsv)."""
    word = "true" if value else "false"
    if fmt == "json":
        return json.dumps({"head": {}, "boolean": value}).encode()
    if fmt == "xml":
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head/>'
            f"<boolean>{word}</boolean></sparql>\n"
        ).encode()
    if fmt in ("csv", "tsv"):
        return f"{word}\n".encode() if fmt == "tsv" else f"{word}\r\n".encode()
    raise ValueError(f"unknown results format {fmt!r}")
