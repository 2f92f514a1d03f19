"""Namespaces and IRIs of kgraph's RDF: the vocabularies it reuses, its own ontology, data IRIs.

kgraph reuses the vocabularies scholarly graphs use and defines only what they lack
(``schemas/kgraph.ttl``, a copy in this package):

=======  =======================================  =============================================
prefix   namespace                                used for
=======  =======================================  =============================================
schema   ``https://schema.org/``                  ScholarlyArticle, Dataset, SoftwareSourceCode,
                                                  codeRepository, author, name
dcterms  ``http://purl.org/dc/terms/``            title, abstract, issued, identifier
fabio    ``http://purl.org/spar/fabio/``          hasArXivId
prov     ``http://www.w3.org/ns/prov#``           wasDerivedFrom (evidence, results)
skos     ``http://www.w3.org/2004/02/skos/core#`` prefLabel (names), altLabel (aliases)
kg       ``https://w3id.org/kgraph/ontology#``    Method, Task, Metric, Benchmark, Result,
                                                  Mention; proposes, usesDataset, ...
=======  =======================================  =============================================

Data IRIs live under a base (:data:`kgraph.exporters.DEFAULT_BASE` unless the user sets one),
every id percent-encoded so that any paper id or slug gives a valid, stable IRI::

    {base}paper/{paper id}                     a paper (``cs/0112017`` -> ``cs%2F0112017``)
    {base}paper/{paper id}/author/{n}          its n-th author (from 1)
    {base}entity/{type}/{slug}                 an entity (node ``entity:<type>/<slug>``)
    {base}result/{paper id}/{n}                a result an abstract reports
    {base}mention/{paper id}/{type}/{slug}     the evidence of a paper -> entity edge
    {base}organization/{name}                  an organisation a paper lists
    {base}graph/paper/{paper id}               the named graph of everything about one paper
    {base}graph/entities                       the named graph of entity descriptions, co-occurrence
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

__all__ = [
    "DCTERMS",
    "FABIO",
    "KG",
    "KG_ONTOLOGY",
    "OWL",
    "PROV",
    "RDF",
    "RDFS",
    "SCHEMA",
    "SKOS",
    "VOCAB_PREFIXES",
    "XSD",
    "InvalidBase",
    "data_prefixes",
    "entities_graph_iri",
    "entity_iri",
    "entity_path",
    "entity_prefix",
    "mention_iri",
    "mention_prefix",
    "normalise_base",
    "paper_graph_iri",
    "paper_iri",
    "pct",
    "prefixes",
    "result_iri",
]

KG: Final = "https://w3id.org/kgraph/ontology#"
KG_ONTOLOGY: Final = "https://w3id.org/kgraph/ontology"
SCHEMA: Final = "https://schema.org/"
DCTERMS: Final = "http://purl.org/dc/terms/"
FABIO: Final = "http://purl.org/spar/fabio/"
PROV: Final = "http://www.w3.org/ns/prov#"
SKOS: Final = "http://www.w3.org/2004/02/skos/core#"
RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS: Final = "http://www.w3.org/2000/01/rdf-schema#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
OWL: Final = "http://www.w3.org/2002/07/owl#"

#: prefix -> namespace of every vocabulary the data uses (same order in every serialisation)
VOCAB_PREFIXES: Final[dict[str, str]] = {
    "kg": KG,
    "schema": SCHEMA,
    "dcterms": DCTERMS,
    "fabio": FABIO,
    "prov": PROV,
    "skos": SKOS,
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
    "owl": OWL,
}

#: entity types and the slot of their IRIs (``{base}entity/{type}/``)
ENTITY_TYPES: Final = ("method", "dataset", "benchmark", "metric", "task", "repository")

# an IRI may not contain these (RFC 3987 plus what Turtle/N-Triples forbid inside <...>)
_BAD_IRI_CHARS: Final = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class InvalidBase(ValueError):
    """A ``--base`` that cannot be the base of data IRIs (one-line message)."""


def normalise_base(base: str) -> str:
    """``base`` checked and ended with ``/`` (or ``#``): an absolute IRI data IRIs can extend."""
    if not _SCHEME.match(base) or ("://" not in base and not base.startswith("urn:")):
        raise InvalidBase(f"base IRI {base!r} is not absolute (e.g. https://example.org/kg/)")
    if _BAD_IRI_CHARS.search(base):
        raise InvalidBase(f"base IRI {base!r} contains a character not allowed in an IRI")
    if "#" in base[:-1]:
        raise InvalidBase(f"base IRI {base!r} has a fragment: only a trailing '#' is allowed")
    return base if base.endswith(("/", "#")) else base + "/"


def pct(text: str) -> str:
    """``text`` percent-encoded (UTF-8) as one IRI path segment: only unreserved characters
    (letters, digits, ``-._~``) stay as they are, so ``/`` becomes ``%2F``."""
    return quote(text, safe="-._~")


def paper_iri(base: str, paper_id: str) -> str:
    return f"{base}paper/{pct(paper_id)}"


def paper_graph_iri(base: str, paper_id: str) -> str:
    return f"{base}graph/paper/{pct(paper_id)}"


def entities_graph_iri(base: str) -> str:
    return f"{base}graph/entities"


def entity_path(canonical_id: str) -> str:
    """``<type>/<slug>`` percent-encoded: how the IRIs of an entity and of its mentions end."""
    typ, _, slug = canonical_id.partition("/")
    return f"{pct(typ)}/{pct(slug)}"


def entity_iri(base: str, canonical_id: str) -> str:
    """The IRI of entity ``<type>/<slug>`` (the canonical id, without ``entity:``)."""
    return entity_prefix(base) + entity_path(canonical_id)


def entity_prefix(base: str) -> str:
    """Where entity IRIs begin: they end with :func:`entity_path`."""
    return f"{base}entity/"


def mention_prefix(base: str, paper_id: str) -> str:
    """Where the IRIs of paper ``paper_id``'s mentions begin: they end with
    :func:`entity_path`."""
    return f"{base}mention/{pct(paper_id)}/"


def result_iri(base: str, paper_id: str, n: int | str) -> str:
    return f"{base}result/{pct(paper_id)}/{n}"


def mention_iri(base: str, paper_id: str, canonical_id: str) -> str:
    """The evidence node of the edge from paper ``paper_id`` to entity ``canonical_id``."""
    return mention_prefix(base, paper_id) + entity_path(canonical_id)


def data_prefixes(base: str) -> dict[str, str]:
    """Prefixes of the data IRIs under ``base``: ``paper:``, ``method:``, ``dataset:``, ...,
    ``result:``, ``mention:``, ``graph:``."""
    out = {"paper": f"{base}paper/"}
    out.update({t: f"{base}entity/{t}/" for t in ENTITY_TYPES})
    out.update(
        {
            "result": f"{base}result/",
            "mention": f"{base}mention/",
            "org": f"{base}organization/",
            "graph": f"{base}graph/",
        }
    )
    return out


def prefixes(base: str) -> dict[str, str]:
    """Every prefix a serialisation of data under ``base`` declares (vocabularies, then data)."""
    return {**VOCAB_PREFIXES, **data_prefixes(base)}
