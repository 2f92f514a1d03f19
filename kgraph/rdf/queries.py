"""SPARQL over a bundle: canned questions (``queries/*.rq``), running queries, printing results.

A canned query is a ``.rq`` file of this package whose header comment names and describes it
and declares its parameters::

    # name: results
    # description: Results reported for a metric (on a dataset, when one is given).
    # param: metric: name = accuracy -- the metric: its name, an alias or its id
    # param: dataset: name = "" -- the dataset; empty: any
    # param: limit: int<=100 = 50 -- how many rows (at most 100)

In the body, ``$metric`` stands for the parameter's value. It is replaced, before the query is
parsed, by one SPARQL term: a ``string`` value becomes an escaped literal (quotes, backslashes,
line breaks and braces cannot end it early, so no value changes the query's structure), a
``name`` value the same after case folding (it is matched against the entities'
``kg:nameKey``: any case, name, alias or id), an ``int`` value is checked to be a number (and
at most its maximum, when the header gives one: ``limit: int<=100``). A parameter without a
default is required.

The questions that aggregate the whole corpus (top-datasets, newest-datasets, co-occurring,
results) read ranks and short ranked lists the build materialises in the entities graph
(``kg:usageRank``, ``kg:recencyRank``, ``kg:CoOccurrence``, ``kg:topResult``,
``kg:Leaderboard``; see :func:`kgraph.rdf.convert.iter_statements`), so they take
milliseconds on a 160k-paper store instead of seconds; the tests check that they return the
rows of the full aggregates.

Queries run over the union of the store's named graphs, with the usual prefixes (``kg:``,
``schema:``, ``dcterms:``, ``skos:``, ``prov:``, ``fabio:``, ``rdf:``, ``rdfs:``, ``xsd:``,
``owl:`` and the data prefixes ``paper:``, ``dataset:``, ...) predeclared::

    from kgraph.rdf.store import open_store
    from kgraph.rdf.queries import get_canned, run_query, format_result
    store = open_store("out/graph")
    text = get_canned("results").render({"metric": "BLEU"})
    print(format_result(run_query(store, text), "table").decode())
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Final

from ..exporters import DEFAULT_BASE
from .namespaces import normalise_base, prefixes

__all__ = [
    "CannedQuery",
    "Param",
    "QueryError",
    "UnknownQuery",
    "canned_queries",
    "format_result",
    "get_canned",
    "is_update",
    "result_rows",
    "run_query",
    "run_rdflib",
    "sparql_string",
]

#: output formats of ``kgraph query`` for SELECT and ASK
RESULT_FORMATS: Final = ("table", "csv", "tsv", "json", "xml")


class QueryError(Exception):
    """A query that cannot run: a syntax error, an update, a bad parameter (one line)."""


class UnknownQuery(QueryError):
    """A canned query nobody wrote; the message lists the valid names."""


@dataclass(frozen=True)
class Param:
    """A parameter of a canned query."""

    name: str
    kind: str  #: "string", "name" (matched as a kg:nameKey: case folded) or "int"
    default: str | None  #: None: required
    description: str = ""
    maximum: int | None = None  #: the largest value an "int" parameter takes (``int<=100``)


@dataclass(frozen=True)
class CannedQuery:
    """A canned question: a ``.rq`` file with a header of name, description, parameters."""

    name: str
    description: str
    params: tuple[Param, ...]
    template: str  #: the SPARQL text with ``$param`` placeholders (header comments included)

    def render(self, values: Mapping[str, str] | None = None) -> str:
        """The query with every ``$param`` replaced by its value (or default) as a SPARQL
        term. :class:`QueryError` for an unknown, missing or invalid parameter."""
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            valid = ", ".join(known) or "none"
            raise QueryError(
                f"query {self.name!r} has no parameter {unknown[0]!r} (parameters: {valid})"
            )
        terms: dict[str, str] = {}
        for p in self.params:
            value = values.get(p.name, p.default)
            if value is None:
                raise QueryError(
                    f"query {self.name!r} needs the parameter {p.name!r} ({p.description}): "
                    f"give --param {p.name}=VALUE"
                )
            terms[p.name] = _term(self.name, p, value)
        if not terms:
            return self.template
        pattern = re.compile(r"\$(" + "|".join(map(re.escape, terms)) + r")(?![A-Za-z0-9_])")
        body = "\n".join(
            line if line.lstrip().startswith("#") else pattern.sub(lambda m: terms[m[1]], line)
            for line in self.template.splitlines()
        )
        return body + "\n"


def sparql_string(value: str) -> str:
    """``value`` as a SPARQL string literal (``"..."``), every character that could end it or
    break the query escaped."""
    out = []
    for ch in value:
        if ch in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[ch])
        elif "\ud800" <= ch <= "\udfff":  # a lone surrogate: not a character
            out.append("\ufffd")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_STRING_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _term(query: str, param: Param, value: str) -> str:
    if param.kind == "int":
        if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
            raise QueryError(
                f"query {query!r}: parameter {param.name!r} must be a whole number, not {value!r}"
            )
        number = int(value)
        if param.maximum is not None and number > param.maximum:
            raise QueryError(
                f"query {query!r}: parameter {param.name!r} is at most {param.maximum} "
                f"(not {number}): {param.description}"
            )
        return str(number)
    if param.kind == "name":
        from .convert import name_key

        return sparql_string(name_key(value))
    return sparql_string(value)


# --- the canned queries ------------------------------------------------------------------------

_HEADER: Final = re.compile(r"^#\s*(name|description|param):\s*(.*?)\s*$")
_PARAM: Final = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<kind>string|name|int)(?:<=(?P<max>[0-9]+))?"
    r"(?:\s*=\s*(?P<default>.*?))?(?:\s+--\s+(?P<description>.*))?$"
)


def parse_canned(text: str, source: str = "<query>") -> CannedQuery:
    """A canned query from the text of a ``.rq`` file (ValueError naming ``source`` if its
    header is incomplete)."""
    name = description = ""
    params: list[Param] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        m = _HEADER.match(line)
        if not m:
            continue
        key, value = m.groups()
        if key == "name":
            name = value
        elif key == "description":
            description = value
        else:
            pm = _PARAM.match(value)
            if not pm:
                raise ValueError(f"{source}: bad parameter line {line!r}")
            default = pm["default"]
            if default is not None and default == '""':
                default = ""
            maximum = int(pm["max"]) if pm["max"] is not None else None
            if maximum is not None and pm["kind"] != "int":
                raise ValueError(f"{source}: only an int parameter has a maximum: {line!r}")
            params.append(
                Param(pm["name"], pm["kind"], default, pm["description"] or "", maximum)
            )
    if not name or not description:
        raise ValueError(f"{source}: the header needs '# name:' and '# description:' lines")
    return CannedQuery(name, description, tuple(params), text)


@lru_cache(maxsize=1)
def canned_queries() -> dict[str, CannedQuery]:
    """Every canned query of the package, by name (sorted)."""
    found: dict[str, CannedQuery] = {}
    folder = files("kgraph.rdf").joinpath("queries")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".rq"):
            q = parse_canned(entry.read_text(encoding="utf-8"), entry.name)
            found[q.name] = q
    return dict(sorted(found.items()))


def get_canned(name: str) -> CannedQuery:
    """The canned query ``name``; :class:`UnknownQuery` listing the valid names otherwise."""
    found = canned_queries().get(name)
    if found is None:
        raise UnknownQuery(f"no canned query {name!r}; valid names: {', '.join(canned_queries())}")
    return found


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict (:class:`QueryError` for an item without ``=``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"--param {pair!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out


# --- running -----------------------------------------------------------------------------------

_UPDATE: Final = re.compile(
    r"^\s*(?:(?:PREFIX\s+[^\s:]*:\s*<[^>]*>|BASE\s+<[^>]*>)\s*)*"
    r"(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH)\b",
    re.IGNORECASE,
)


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def is_update(text: str) -> bool:
    """Whether ``text`` is a SPARQL update (INSERT, DELETE, LOAD, CLEAR, DROP, ...)."""
    return bool(_UPDATE.match(_strip_comments(text)))


def run_query(store: Any, text: str, base: str | None = None) -> Any:
    """Run the SPARQL query ``text`` on ``store`` (a ``pyoxigraph.Store``) over the union of
    its graphs: ``QuerySolutions`` (SELECT), ``QueryBoolean`` (ASK) or ``QueryTriples``
    (CONSTRUCT, DESCRIBE). :class:`QueryError` for an update or a syntax error."""
    if is_update(text):
        raise QueryError("updates are refused: the store is read-only (a cache of graph.json)")
    try:
        return store.query(
            text,
            use_default_graph_as_union=True,
            prefixes=prefixes(normalise_base(base or DEFAULT_BASE)),
        )
    except SyntaxError as exc:
        raise QueryError(f"SPARQL syntax error: {_one_line(str(exc))}") from None
    except OSError as exc:
        raise QueryError(f"query failed: {_one_line(str(exc))}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_rdflib(dataset: Any, text: str, base: str | None = None) -> Any:
    """Run ``text`` with rdflib on ``dataset`` (an ``rdflib.Dataset`` whose default graph is
    the union, e.g. :func:`kgraph.rdf.convert.to_rdflib`); the rdflib ``Result``."""
    if is_update(text):
        raise QueryError("updates are refused: the store is read-only (a cache of graph.json)")
    init_ns = prefixes(normalise_base(base or DEFAULT_BASE))
    try:
        return dataset.query(text, initNs=init_ns)
    except Exception as exc:  # rdflib raises pyparsing errors and others
        raise QueryError(f"SPARQL error: {_one_line(str(exc))}") from None


# --- results -------------------------------------------------------------------------------------


def _nt(term: Any) -> str | None:
    """A pyoxigraph or rdflib term in N-Triples syntax (None when unbound), xsd:decimal values
    in canonical form (the store keeps ``2``, rdflib ``2.0``)."""
    import pyoxigraph as ox

    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        lex, lang = term.value, term.language
        datatype = None if lang else term.datatype.value
    else:  # rdflib
        from rdflib import BNode, Literal, URIRef

        if isinstance(term, URIRef):
            return f"<{term}>"
        if isinstance(term, BNode):
            return f"_:{term}"
        assert isinstance(term, Literal)
        lex, lang = str(term), term.language
        datatype = None if lang else str(term.datatype or _XSD + "string")
    if lang:
        return f"{_nt_string(lex)}@{lang}"
    if datatype == _XSD + "string":
        return _nt_string(lex)
    if datatype == _XSD + "decimal":
        lex = _canonical_decimal(lex)
    return f"{_nt_string(lex)}^^<{datatype}>"


_XSD: Final = "http://www.w3.org/2001/XMLSchema#"


def _canonical_decimal(lex: str) -> str:
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(lex)
    except InvalidOperation:
        return lex
    text = format(d.normalize(), "f") if d != 0 else "0"
    return text


def _nt_string(value: str) -> str:
    return (
        '"'
        + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        + '"'
    )


def result_rows(result: Any) -> list[dict[str, str | None]] | bool:
    """The rows of a SELECT result of pyoxigraph or rdflib, each variable -> its value in
    N-Triples syntax (unbound -> None), in order; a bool for ASK. For comparing engines."""
    import pyoxigraph as ox

    if isinstance(result, ox.QueryBoolean):
        return bool(result)
    if isinstance(result, ox.QuerySolutions):
        names = [v.value for v in result.variables]
        return [{n: _nt(sol[n]) for n in names} for sol in result]
    if getattr(result, "type", None) == "ASK":
        return bool(result.askAnswer)
    names = [str(v) for v in result.vars]
    return [{n: _nt(row[n]) for n in names} for row in result]


def _short(term: Any, spaces: Sequence[tuple[str, str]], width: int) -> str:
    import pyoxigraph as ox

    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        iri = term.value
        for prefix, ns in spaces:
            if iri.startswith(ns) and len(iri) > len(ns):
                iri = f"{prefix}:{iri[len(ns) :]}"
                break
        else:
            iri = f"<{iri}>"
        text = iri
    elif isinstance(term, ox.Literal):
        text = term.value
    elif isinstance(term, ox.BlankNode):
        text = f"_:{term.value}"
    else:
        text = str(term)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(result: Any, base: str = DEFAULT_BASE, width: int = 80) -> str:
    """A SELECT result as aligned columns (IRIs shortened with prefixes, values cut at
    ``width`` characters), with a count line."""
    spaces = sorted(prefixes(normalise_base(base)).items(), key=lambda kv: -len(kv[1]))
    names = [v.value for v in result.variables]
    rows = [[_short(sol[n], spaces, width) for n in names] for sol in result]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def format_result(result: Any, fmt: str = "table", base: str = DEFAULT_BASE) -> bytes:
    """A pyoxigraph query result as bytes: SELECT/ASK as ``table``, ``csv``, ``tsv``,
    ``json`` or ``xml`` (the SPARQL 1.1 results formats); CONSTRUCT/DESCRIBE as Turtle."""
    import pyoxigraph as ox

    if fmt not in RESULT_FORMATS:
        raise QueryError(f"unknown result format {fmt!r}; valid: {', '.join(RESULT_FORMATS)}")
    if isinstance(result, ox.QueryTriples):
        from .convert import ordered_prefixes

        spaces = prefixes(normalise_base(base))
        data = bytes(ox.serialize(list(result), format=ox.RdfFormat.TURTLE, prefixes=spaces) or b"")
        return ordered_prefixes(data[:8192], spaces) + data[8192:]
    if isinstance(result, ox.QueryBoolean):
        if fmt in ("json", "xml"):
            fmt_obj = ox.QueryResultsFormat.JSON if fmt == "json" else ox.QueryResultsFormat.XML
            return bytes(result.serialize(format=fmt_obj) or b"")
        return b"true\n" if bool(result) else b"false\n"
    if fmt == "table":
        return format_table(result, base).encode("utf-8")
    formats = {
        "csv": ox.QueryResultsFormat.CSV,
        "tsv": ox.QueryResultsFormat.TSV,
        "json": ox.QueryResultsFormat.JSON,
        "xml": ox.QueryResultsFormat.XML,
    }
    return bytes(result.serialize(format=formats[fmt]) or b"")
