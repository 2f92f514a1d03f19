"""Turtle written straight from kgraph's statements.

:func:`kgraph.rdf.convert.iter_statements` gives every statement as N-Triples text; this
module turns that text into Turtle as it streams by: the prefixes declared once at the top,
IRIs under them written as prefixed names, ``rdf:type`` as ``a``, numbers bare, and each run
of statements about one subject grouped (``;`` between its predicates, ``,`` between the
objects of one predicate). Nothing is parsed into term objects and nothing is held in memory
but the current subject, so the build can write ``graph.ttl`` in the same pass that writes the
store's N-Quads (see :class:`kgraph.rdf.store.StoreLoader`) instead of converting the graph a
second time and round-tripping every triple through pyoxigraph's Python objects.

A prefixed name is used only when the local part is a valid Turtle ``PN_LOCAL`` made of ASCII
letters, digits, ``_ - . :``, ``%XX`` and ``/`` (escaped as ``\\/``); any other IRI is
written in full, which is always valid. Literals keep their N-Triples escapes (valid Turtle).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import IO, Final

__all__ = ["TurtleWriter", "write_turtle"]

_RDF_TYPE: Final = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_XSD: Final = "http://www.w3.org/2001/XMLSchema#"
_BARE: Final[dict[str, re.Pattern[str]]] = {
    # lexical forms Turtle reads back as the same datatype when written bare
    _XSD + "integer": re.compile(r"[+-]?[0-9]+"),
    _XSD + "decimal": re.compile(r"[+-]?[0-9]*\.[0-9]+"),
    _XSD + "boolean": re.compile(r"true|false"),
}
_LOCAL_CHAR: Final = r"(?:[A-Za-z0-9_:]|%[0-9A-Fa-f]{2}|/)"
_LOCAL: Final = re.compile(rf"(?:{_LOCAL_CHAR}(?:(?:{_LOCAL_CHAR}|[.\-])*(?:{_LOCAL_CHAR}|-))?)?")
_CACHE_MAX: Final = 200_000  #: IRIs remembered with their written form (then forgotten)
_FLUSH: Final = 1 << 16  #: characters buffered between writes


class TurtleWriter:
    """Streams statements (``"s p o"`` in N-Triples syntax, as
    :func:`~kgraph.rdf.convert.iter_statements` gives them) to ``out`` as Turtle::

        writer = TurtleWriter(fh, prefixes(base))
        for _, spo in iter_statements(graph, base, union=True):
            writer.add(spo)
        writer.close()
    """

    def __init__(self, out: IO[bytes], spaces: Mapping[str, str]) -> None:
        self.out = out
        self.count = 0  #: statements written
        # longest namespace first, so that a name is made under the most specific prefix
        self._spaces = sorted(((ns, p) for p, ns in spaces.items()), key=lambda t: -len(t[0]))
        self._by_ns = {ns: p for ns, p in self._spaces}
        self._cache: dict[str, str] = {}
        self._subject = ""
        self._predicate = ""
        self._buf: list[str] = [f"@prefix {p}: <{ns}> .\n" for p, ns in spaces.items()]
        self._size = 0

    def add(self, spo: str) -> None:
        """One statement, ``"<s> <p> o"`` (no trailing `` .``)."""
        s, p, o = spo.split(" ", 2)
        buf = self._buf
        if s == self._subject:
            if p == self._predicate:
                buf.append(" , ")
            else:
                buf.append(" ;\n\t")
                buf.append(self._name(p))
                buf.append(" ")
                self._predicate = p
        else:
            if self._subject:
                buf.append(" .\n")
            buf.append(self._name(s))
            buf.append(" ")
            buf.append(self._name(p))
            buf.append(" ")
            self._subject, self._predicate = s, p
        buf.append(self._object(o))
        self.count += 1
        self._size += len(o) + 16
        if self._size >= _FLUSH:
            self._flush()

    def close(self) -> None:
        """End the last statement and write what is buffered (``out`` stays open)."""
        if self._subject:
            self._buf.append(" .\n")
            self._subject = self._predicate = ""
        self._flush()

    def _flush(self) -> None:
        self.out.write("".join(self._buf).encode("utf-8"))
        self._buf.clear()
        self._size = 0

    def _name(self, term: str) -> str:
        """A subject or predicate: an IRI (``<...>``) or a blank node."""
        if term == _RDF_TYPE:
            return "a"
        return self._iri(term[1:-1]) if term[:1] == "<" else term

    def _object(self, term: str) -> str:
        first = term[:1]
        if first == "<":
            return self._iri(term[1:-1])
        if first == '"' and term[-1] == ">":  # a typed literal: "lexical"^^<datatype>
            lexical, _, datatype = term.rpartition('"^^<')
            datatype = datatype[:-1]
            bare = _BARE.get(datatype)
            if bare is not None and bare.fullmatch(lexical, 1):
                return lexical[1:]
            return f'{lexical}"^^{self._iri(datatype)}'
        return term  # a plain or language-tagged literal, or a blank node

    def _iri(self, iri: str) -> str:
        written = self._cache.get(iri)
        if written is None:
            written = self._compact(iri)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[iri] = written
        return written

    def _compact(self, iri: str) -> str:
        ns = iri[: max(iri.rfind("/"), iri.rfind("#")) + 1]
        prefix = self._by_ns.get(ns)
        if prefix is None:  # a local part with "/" in it: the longest namespace it starts with
            found = next(((n, p) for n, p in self._spaces if iri.startswith(n)), None)
            if found is None:
                return f"<{iri}>"
            ns, prefix = found
        local = iri[len(ns) :]
        if _LOCAL.fullmatch(local):
            return f"{prefix}:{local.replace('/', chr(92) + '/')}"
        return f"<{iri}>"


def write_turtle(statements: Iterable[str], out: IO[bytes], spaces: Mapping[str, str]) -> int:
    """Write ``statements`` (N-Triples ``"s p o"``) to ``out`` as Turtle; how many."""
    writer = TurtleWriter(out, spaces)
    for spo in statements:
        writer.add(spo)
    writer.close()
    return writer.count
