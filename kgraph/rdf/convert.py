"""The bundle's graph as RDF: a stream of N-Quads statements, and every serialisation of it.

:func:`iter_statements` walks a kgraph ``MultiDiGraph`` once and yields ``(graph, "s p o")``
pairs already written in N-Triples syntax, so nothing holds millions of term objects: the big
paths (the Oxigraph store, Turtle, N-Triples, N-Quads, TriG, RDF/XML) hand the text to
pyoxigraph's Rust parsers and serialisers; rdflib (:func:`to_rdflib`) is used for JSON-LD, the
ontology, SHACL and tests.

What one paper gives, all in the named graph ``{base}graph/paper/{id}`` (see
``schemas/kgraph.ttl`` for every term)::

    paper:P   a schema:ScholarlyArticle ; dcterms:identifier "P" ; dcterms:title "..." ;
              dcterms:abstract "..." ; dcterms:issued "2025-10-09"^^xsd:date ;
              fabio:hasArXivId "..." ; schema:author <paper/P/author/1> ; ... ;
              kg:usesDataset dataset:imagenet ;            # the direct triple, for simple queries
              kg:namesEntity dataset:imagenet ;            # its super-property (not for code)
              kg:reports result:P/1 .
    mention:P/dataset/imagenet  a kg:Mention ;            # its evidence
              prov:wasDerivedFrom paper:P ; kg:refersTo dataset:imagenet ;
              kg:relation kg:usesDataset ; kg:confidence 0.9 ; kg:extractor "gazetteer" ;
              kg:sentence "..." ; kg:anchorText "ImageNet" ; kg:startOffset 12 ;
              kg:endOffset 20 ; kg:spans "12-20 301-309" .
    result:P/1 a kg:Result ; prov:wasDerivedFrom paper:P ; kg:value 85.3 ;  # xsd:decimal
              kg:unit "%" ; kg:ofMetric metric:accuracy ; kg:onDataset dataset:imagenet ; ...
    method:m  kg:evaluatedOn dataset:imagenet .            # derived, provenance = the graph

and in ``{base}graph/entities``: every entity (``a kg:Entity, kg:Method`` /
``schema:Dataset`` / ``kg:Benchmark`` / ``kg:Metric`` / ``kg:Task`` /
``schema:SoftwareSourceCode``, ``skos:prefLabel``, ``skos:altLabel`` per alias and short
form, ``kg:nameKey`` per distinct case-folded name/alias/id (for lookups), ``kg:paperCount``,
``kg:mentionCount``, ``schema:codeRepository`` for repositories),
``kg:coOccursWith`` between entities, and the organisations papers list.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any, Final, NamedTuple, cast

import networkx as nx

from ..exporters import DEFAULT_BASE
from .namespaces import (
    DCTERMS,
    FABIO,
    KG,
    PROV,
    RDF,
    RDFS,
    SCHEMA,
    SKOS,
    XSD,
    entities_graph_iri,
    entity_path,
    entity_prefix,
    mention_iri,
    mention_prefix,
    normalise_base,
    paper_graph_iri,
    paper_iri,
    pct,
    prefixes,
    result_iri,
)
from .turtle import write_turtle

if TYPE_CHECKING:
    import rdflib

    from .paper_units import PartnerBlocks

__all__ = [
    "FORMATS",
    "RDF_VERSION",
    "RELATION_PROPERTIES",
    "TYPE_CLASSES",
    "iter_statements",
    "name_key",
    "nquads_chunks",
    "ntriples_chunks",
    "serialize",
    "statement_count",
    "text_reader",
    "to_rdflib",
    "turtle_bytes",
]

#: bump when the mapping changes: stores built by an older mapping are rebuilt
RDF_VERSION: Final = 6

#: how many co-occurring entities per entity, and results per metric or leaderboard, the
#: entities graph lists (kg:coOccurrenceOf, kg:topResult, kg:entry): the canned questions read
#: these short lists instead of aggregating millions of triples
TOP_K: Final = 100

#: how many entities of each kind get a ``kg:usageRank``, and how many introductions a
#: ``kg:recencyRank`` (the first, in the order of the canned questions that read them): ranks
#: of the whole corpus would shift on every add (one paper more for an entity moves it past
#: every entity with its new count), so that an add could not update the store in place
RANKED: Final = 1000

#: graph.json relation -> kg property of the direct paper -> entity triple
RELATION_PROPERTIES: Final[dict[str, str]] = {
    "proposes": KG + "proposes",
    "introduces": KG + "introduces",
    "code": KG + "hasCode",
    "uses_method": KG + "usesMethod",
    "uses_dataset": KG + "usesDataset",
    "uses_benchmark": KG + "usesBenchmark",
    "uses_metric": KG + "usesMetric",
    "addresses": KG + "addresses",
}

#: entity type -> its class
TYPE_CLASSES: Final[dict[str, str]] = {
    "method": KG + "Method",
    "dataset": SCHEMA + "Dataset",
    "benchmark": KG + "Benchmark",
    "metric": KG + "Metric",
    "task": KG + "Task",
    "repository": SCHEMA + "SoftwareSourceCode",
}

#: format name -> (description, pyoxigraph RdfFormat name or "" for rdflib, keeps named graphs)
FORMATS: Final[dict[str, tuple[str, str, bool]]] = {
    "ttl": ("Turtle (all triples, prefixed)", "TURTLE", False),
    "nt": ("N-Triples (all triples, one per line)", "N_TRIPLES", False),
    "nq": ("N-Quads (one named graph per paper, one for the entities)", "N_QUADS", True),
    "trig": ("TriG (one named graph per paper, one for the entities)", "TRIG", True),
    "jsonld": ("JSON-LD (all triples, compacted with schemas/context.jsonld)", "", False),
    "xml": ("RDF/XML (all triples)", "RDF_XML", False),
}


# --- terms in N-Triples syntax -------------------------------------------------------------------


def _i(iri: str) -> str:
    return f"<{iri}>"


_A: Final = _i(RDF + "type")
_KG: Final = {
    name: _i(KG + name)
    for name in (
        "Entity",
        "Mention",
        "Result",
        "refersTo",
        "relation",
        "confidence",
        "extractor",
        "sentence",
        "anchorText",
        "startOffset",
        "endOffset",
        "mentionCount",
        "paperCount",
        "spans",
        "reports",
        "value",
        "unit",
        "resultType",
        "ofMetric",
        "onDataset",
        "byMethod",
        "metricName",
        "datasetName",
        "methodName",
        "evaluatedOn",
        "coOccursWith",
        "gazetteerId",
        "authorCount",
        "upvotes",
        "sourceRecord",
        "namesEntity",
        "nameKey",
        "usageRank",
        "recencyRank",
        "CoOccurrence",
        "coOccurrenceOf",
        "partner",
        "sharedPapers",
        "topResult",
        "metricRank",
        "Leaderboard",
        "entry",
        "leaderboardRank",
    )
}
_REL: Final = {rel: _i(p) for rel, p in RELATION_PROPERTIES.items()}
_CLASS: Final = {t: _i(c) for t, c in TYPE_CLASSES.items()}
_ARTICLE: Final = _i(SCHEMA + "ScholarlyArticle")
_PERSON: Final = _i(SCHEMA + "Person")
_ORG: Final = _i(SCHEMA + "Organization")
_S_AUTHOR: Final = _i(SCHEMA + "author")
_S_NAME: Final = _i(SCHEMA + "name")
_S_POSITION: Final = _i(SCHEMA + "position")
_S_ORG: Final = _i(SCHEMA + "sourceOrganization")
_S_CODE: Final = _i(SCHEMA + "codeRepository")
_DC_ID: Final = _i(DCTERMS + "identifier")
_DC_TITLE: Final = _i(DCTERMS + "title")
_DC_ABSTRACT: Final = _i(DCTERMS + "abstract")
_DC_ISSUED: Final = _i(DCTERMS + "issued")
_ARXIV: Final = _i(FABIO + "hasArXivId")
_DERIVED: Final = _i(PROV + "wasDerivedFrom")
_PREF: Final = _i(SKOS + "prefLabel")
_ALT: Final = _i(SKOS + "altLabel")
_SEE_ALSO: Final = _i(RDFS + "seeAlso")
_INTEGER: Final = f"^^<{XSD}integer>"
_DECIMAL: Final = f"^^<{XSD}decimal>"
_DATE: Final = f"^^<{XSD}date>"
_MONTH_DAY: Final = f"^^<{XSD}gMonthDay>"
_ANY_URI: Final = f"^^<{XSD}anyURI>"

_NEEDS_ESCAPE: Final = re.compile(r'[\x00-\x1f"\\\x7f\ud800-\udfff]')
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ISO_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH_DAY_RE: Final = re.compile(r"^--[0-9]{2}-[0-9]{2}$")
_URL_BAD: Final = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')
_URL_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s]")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if "\ud800" <= ch <= "\udfff":  # a lone surrogate cannot be written in UTF-8
        return "\ufffd"
    return f"\\u{ord(ch):04X}"


def name_key(text: str) -> str:
    """The lookup key of a name (``kg:nameKey``): spaces collapsed, case folded. Canned
    queries find entities by the key of the name a user gives."""
    return " ".join(text.split()).casefold()


def _lit(text: str) -> str:
    """A plain (xsd:string) literal."""
    if _NEEDS_ESCAPE.search(text):
        text = _NEEDS_ESCAPE.sub(_escape_char, text)
    return f'"{text}"'


def _int(n: int) -> str:
    return f'"{int(n)}"{_INTEGER}'


def decimal_lexical(x: float | int | str) -> str | None:
    """``x`` as an xsd:decimal lexical form (always with a '.'), None if not a finite number."""
    if isinstance(x, bool):
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    try:
        d = Decimal(repr(x) if isinstance(x, float) else str(x))
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    text = format(d, "f")
    return text if "." in text else text + ".0"


def _dec(x: float | int) -> str | None:
    # confidences and values repeat: cached, except zero (0.0 and -0.0 are one key to a
    # cache but are written "0.0" and "-0.0")
    return _dec_cached(x) if x else _dec_lexical(x)


def _dec_lexical(x: float | int) -> str | None:
    lex = decimal_lexical(x)
    return None if lex is None else f'"{lex}"{_DECIMAL}'


#: typed: True and 1 are one key to an untyped cache, but True is no decimal
_dec_cached: Final = lru_cache(maxsize=1 << 16, typed=True)(_dec_lexical)


@lru_cache(maxsize=65536)
def url_term(url: str) -> str:
    """A URL as an IRI term when it can be one (characters IRIs forbid percent-encoded),
    else as an ``xsd:anyURI`` literal."""
    if _URL_SCHEME.match(url):
        fixed = _URL_BAD.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
        if _valid_iri(fixed):
            return _i(fixed)
    return f"{_lit(url)}{_ANY_URI}"


def _valid_iri(iri: str) -> bool:
    import pyoxigraph

    try:
        pyoxigraph.NamedNode(iri)
    except ValueError:
        return False
    return True


# --- the walk --------------------------------------------------------------------------------


class Run(NamedTuple):
    """Statements of one graph, as :func:`statement_runs` gives them."""

    graph: str  #: the graph's term
    statements: list[str]
    repeats: frozenset[int]  #: the indexes of the statements that repeat another graph's
    #: the graph node whose *block* the run is (a paper's named graph, an entity's
    #: statements in the entities graph: see :func:`statement_runs`); None for the rest
    block: str | None = None


class _Index:
    """The graph's edges bucketed once: by paper, by evaluating paper, by co-occurring source.
    Of a paper in ``skip`` (whose statements are not made) only the ``introduces`` edges,
    which the entities graph ranks: an add of 1,000 papers to 173k kept 1.3M edges here
    for 1,241 papers, 143 MB."""

    def __init__(self, graph: nx.MultiDiGraph, skip: Container[str] = ()) -> None:
        self.paper_edges: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self.evaluated: dict[str, list[tuple[str, str]]] = defaultdict(list)
        #: entity -> (other entity, papers naming both), one entry per pair (from its source)
        self.co_occurs: dict[str, list[tuple[str, int]]] = defaultdict(list)
        co_occurs, evaluated, paper_edges = self.co_occurs, self.evaluated, self.paper_edges
        # (graph.edges' order, walked without its view: 1.4M edges at 177k, 0.8-0.9 s
        # against 1.0 s)
        for u, nbrs in graph._succ.items():
            skipped = u in skip
            if skipped and u.startswith("paper:"):
                # (a paper's edges are keyed by their relation, one a target: of a kept
                # paper the introductions only, found by key, not by every edge's relation)
                for v, keyed in nbrs.items():
                    data = keyed.get("introduces")
                    if data is not None:
                        paper_edges[u].append((v, data))
                continue
            for v, keyed in nbrs.items():
                for data in keyed.values():
                    rel = data.get("relation")
                    if rel == "co_occurs":
                        co_occurs[u].append((v, int(data.get("count") or 0)))
                    elif rel == "evaluated_on":
                        evaluated[str(data.get("paper", ""))].append((u, v))
                    elif rel == "introduces" or not skipped:
                        paper_edges[u].append((v, data))


def iter_statements(
    graph: nx.MultiDiGraph,
    base: str = DEFAULT_BASE,
    *,
    union: bool = False,
    stats: dict[str, int] | None = None,
) -> Iterator[tuple[str, str]]:
    """Every statement of ``graph`` as ``(graph term, "s p o")``, in N-Triples syntax.

    Statements come paper by paper (sorted by id; each paper's named graph in one run), then
    the entities graph. ``union=True`` drops the statements that repeat one already given in
    another graph (the same ``kg:evaluatedOn`` pair from several papers), so the triples of
    all graphs form a set; ``stats["repeated"]`` counts those statements (dropped or not).
    :class:`~kgraph.rdf.namespaces.InvalidBase` for a bad ``base``.
    """
    for g, spo, repeat in marked_statements(graph, base, stats=stats):
        if not (union and repeat):
            yield g, spo


def marked_statements(
    graph: nx.MultiDiGraph,
    base: str = DEFAULT_BASE,
    *,
    stats: dict[str, int] | None = None,
) -> Iterator[tuple[str, str, bool]]:
    """:func:`iter_statements` as ``(graph term, "s p o", repeat)``: ``repeat`` is true for a
    statement whose triple was already given in another graph. One pass gives both the quads
    (all) and the union's triples (those not repeated)."""
    for g, spos, repeats, *_ in statement_runs(graph, base, stats=stats):
        if not repeats:
            for spo in spos:
                yield g, spo, False
        else:
            for i, spo in enumerate(spos):
                yield g, spo, i in repeats


def statement_runs(
    graph: nx.MultiDiGraph,
    base: str = DEFAULT_BASE,
    *,
    stats: dict[str, int] | None = None,
    skip: Container[str] = (),
    facts: EntityFacts | None = None,
    lists: PartnerBlocks | None = None,
    inside: Container[str] = (),
) -> Iterator[Run]:
    """:func:`marked_statements` in :class:`Run` s of one graph. The runs that are *blocks*
    come first: each paper's named graph, one run a paper (sorted by id), then each entity's
    statements in the entities graph, one run an entity (in the graph's order): its own
    statements and ranks (``s``) and its ``kg:coOccursWith`` pairs (``c``), which depend on
    the entity's node, its ``co_occurs`` edges and its ranks only (:func:`entity_extras`),
    each followed by the nodes of its short list of co-occurring entities, a block each
    (an ``s`` unit each, the block named by the node's IRI:
    :class:`~kgraph.rdf.paper_units.PartnerBlocks`). The rest of the entities graph
    (organisations, the ranks of mentions and results, leaderboards) follows in runs of a
    few thousand statements.

    The blocks of ``skip`` (graph nodes: papers and entities) come as empty runs, an
    entity's without its list: their statements are not made (an add whose store and
    Turtle keep them from before); what other runs take from them (organisations, the
    repeats of ``kg:evaluatedOn`` pairs, ranks) is taken all the same. Those of them also in
    ``inside`` come as no run at all (copied with the block before them:
    :class:`~kgraph.rdf.paper_units.Reuse`). ``lists`` is asked
    of each node of the lists made whether it is kept (then an empty run too), and told its
    count. ``facts``: the graph's :func:`entity_facts`, when made before (for the blocks'
    digests)."""
    base = normalise_base(base)
    index = _Index(graph, skip)
    nodes = graph.nodes
    entity_start = entity_prefix(base)
    ent_path: dict[str, str] = {}
    ent_iri: dict[str, str] = {}

    def path(node: str) -> str:
        """:func:`~kgraph.rdf.namespaces.entity_path` of an entity node (cached)."""
        p = ent_path.get(node)
        if p is None:
            p = ent_path[node] = entity_path(node.removeprefix("entity:"))
        return p

    def entity(node: str) -> str:
        term = ent_iri.get(node)
        if term is None:
            term = ent_iri[node] = f"<{entity_start}{path(node)}>"
        return term

    organisations: set[str] = set()
    seen_evaluated: set[tuple[str, str]] = set()
    repeated = 0
    papers = sorted(n for n, a in nodes(data="kind") if a == "paper")
    no_repeats: frozenset[int] = frozenset()
    evaluated_on = _KG["evaluatedOn"]
    node_attrs = graph._node  # (not through the view: one lookup a paper, kept or not)
    for pnode in papers:
        attrs = node_attrs[pnode]
        org = attrs.get("organization")
        if org:
            organisations.add(str(org))
        if pnode in skip:
            for pair in index.evaluated.get(pnode, ()):
                if pair in seen_evaluated:
                    repeated += 1
                else:
                    seen_evaluated.add(pair)
            if pnode not in inside:
                yield Run(_i(paper_graph_iri(base, _paper_id(pnode, attrs))), [], no_repeats, pnode)
            continue
        pid = _paper_id(pnode, attrs)
        g = _i(paper_graph_iri(base, pid))
        spos = _paper(base, pid, attrs, index.paper_edges.get(pnode, ()), nodes, entity, path)
        repeats: set[int] = set()
        for src, dst in index.evaluated.get(pnode, ()):
            if (src, dst) in seen_evaluated:
                repeated += 1
                repeats.add(len(spos))
            else:
                seen_evaluated.add((src, dst))
            spos.append(f"{entity(src)} {evaluated_on} {entity(dst)}")
        yield Run(g, spos, frozenset(repeats) if repeats else no_repeats, pnode)

    g = _i(entities_graph_iri(base))
    if facts is None or facts.base != base:
        facts = EntityFacts(graph, base, entity)
    facts.pair(index, entity)
    co_occurs_with, usage_rank, top_result = (
        _KG["coOccursWith"],
        _KG["usageRank"],
        _KG["topResult"],
    )
    co_class, co_of, partner, shared = (
        _KG["CoOccurrence"],
        _KG["coOccurrenceOf"],
        _KG["partner"],
        _KG["sharedPapers"],
    )
    entities = f"{base}entity/"
    for node, attrs in nodes(data=True):
        if attrs.get("kind") != "entity":
            continue
        if node in skip:
            if node not in inside:
                yield Run(g, [], no_repeats, node)
            continue
        me = entity(node)
        spos = list(_entity(node, attrs, entity))
        rank = facts.usage.get(node)
        if rank is not None:
            spos.append(f"{me} {usage_rank} {_int(rank)}")
        for r in facts.top_results.get(node, ()):
            spos.append(f"{me} {top_result} <{r}>")
        for other, _ in index.co_occurs.get(node, ()):
            spos.append(f"{me} {co_occurs_with} {entity(other)}")
        yield Run(g, spos, no_repeats, node)
        for count, other in facts.partners(node):
            # named by the partner, not by the rank: a count that changes moves the ranks
            # below it, and an add then changed every node of the list (85,000 store units
            # for 1,000 papers at 160k) where now it changes the pairs the add named
            iri = f"{me[1:-1]}/co-occurrence/{other[1:-1].removeprefix(entities)}"
            if lists is not None and lists.kept(node, iri, count):
                yield Run(g, [], no_repeats, iri)
                continue
            c = f"<{iri}>"
            spos = [
                f"{c} {_A} {co_class}",
                f"{c} {co_of} {me}",
                f"{c} {partner} {other}",
                f"{c} {shared} {_int(count)}",
            ]
            yield Run(g, spos, no_repeats, iri)
    spos = []
    for org in sorted(organisations):
        o = _i(f"{base}organization/{pct(org)}")
        spos.append(f"{o} {_A} {_ORG}")
        spos.append(f"{o} {_S_NAME} {_lit(org)}")
    for spo in _derived(graph, index, base, papers, facts, entity):  # thousands: in runs
        spos.append(spo)
        if len(spos) >= _CHUNK:
            yield Run(g, spos, no_repeats)
            spos = []
    facts.pair(None, entity)  # (the index goes with this pass; the facts may be kept)
    yield Run(g, spos, no_repeats)
    if stats is not None:
        stats["repeated"] = repeated


def _paper_id(pnode: str, attrs: Mapping[str, Any]) -> str:
    """The id of the paper of graph node ``pnode`` (as in its IRIs)."""
    return str(attrs.get("paper_id") or pnode.removeprefix("paper:"))


# --- corpus-wide derived facts (ranks and short ranked lists), in the entities graph ---------

_USAGE_GROUP: Final = {"benchmark": "dataset"}  #: datasets and benchmarks are ranked together


class EntityFacts:
    """What an entity's statements take from the whole corpus (see :func:`_derived` for
    what they mean), each entity's in its own block (:func:`statement_runs`):

    - ``usage``: the ``kg:usageRank`` of the first :data:`RANKED` entities of each kind
      (datasets and benchmarks together) by number of papers, then IRI;
    - ``top_results``: per metric, its :data:`TOP_K` best results' IRIs (``kg:topResult``):
      highest value first, then paper, then result IRI;
    - :meth:`partners`: an entity's :data:`TOP_K` most co-occurring entities (once
      :meth:`pair` gave the pairs).

    Only the entities that need one have their IRI made (``entity``): an add that keeps
    most entities' statements makes few."""

    def __init__(self, graph: nx.MultiDiGraph, base: str, entity: Callable[[str], str]) -> None:
        nodes = graph.nodes
        self.base = base
        self._entity = entity
        groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
        results: list[tuple[str, dict[str, Any]]] = []
        for n, attrs in nodes(data=True):
            kind = attrs.get("kind")
            if kind == "result":
                results.append((n, attrs))
            if kind != "entity":
                continue
            count = attrs.get("papers")
            if isinstance(count, int):
                typ = str(attrs.get("type", ""))
                groups[_USAGE_GROUP.get(typ, typ)].append((-count, n))
        self.usage: dict[str, int] = {}
        for group in groups.values():
            # the ranked, and those tied with the last of them, ordered by count then IRI
            if len(group) > RANKED:
                last = sorted(neg for neg, _ in group)[RANKED - 1]
                group = [(neg, n) for neg, n in group if neg <= last]
            ranked = sorted((neg, entity(n)[1:-1], n) for neg, n in group)
            for rank, (_, _iri, n) in enumerate(ranked[:RANKED], 1):
                self.usage[n] = rank

        #: metric -> its results (-value, paper IRI, result IRI), all of them, sorted
        self.by_metric: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        #: (metric, dataset) -> the same
        self.boards: dict[tuple[str, str], list[tuple[float, str, str]]] = defaultdict(list)
        for rnode, attrs in results:
            if not attrs.get("metric"):
                continue
            value = attrs.get("value")
            if not isinstance(value, (int, float)) or _dec(value) is None:
                continue
            pnode = str(attrs.get("paper", ""))
            pid = _paper_id(pnode, nodes[pnode])
            row = (-float(value), paper_iri(base, pid), _result_term(base, pid, rnode)[1:-1])
            self.by_metric[str(attrs["metric"])].append(row)
            if attrs.get("dataset"):
                self.boards[(str(attrs["metric"]), str(attrs["dataset"]))].append(row)
        for rows in self.by_metric.values():
            rows.sort()
        self.top_results: dict[str, list[str]] = {
            m: [r for _, _, r in rows[:TOP_K]] for m, rows in self.by_metric.items()
        }

        #: entity -> (other entity, papers naming both), for the pairs it is the target of
        self._co_in: dict[str, list[tuple[str, int]]] = {}
        self._co_out: Mapping[str, list[tuple[str, int]]] = {}

    def pair(self, index: _Index | None, entity: Callable[[str], str]) -> None:
        """Take the ``co_occurs`` pairs of ``index`` (none: let them go) for :meth:`partners`,
        which makes the partners' IRIs with ``entity``."""
        self._entity = entity
        self._co_out = index.co_occurs if index is not None else {}
        co_in: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for u, others in self._co_out.items():
            for v, count in others:
                co_in[v].append((u, count))
        self._co_in = co_in

    def partners(self, node: str) -> list[tuple[int, str]]:
        """The entity's :data:`TOP_K` most co-occurring entities as (papers naming both,
        partner's term): most papers first, then partner's IRI."""
        entity = self._entity
        pairs = [*self._co_out.get(node, ()), *self._co_in.get(node, ())]
        if len(pairs) > TOP_K:
            # only the partners sharing at least as many papers as the TOP_K-th most can be
            # listed: the IRIs of the others (thousands for the most named entities) are
            # not made (the lists of 11.6k entities of the 162k graph, the 3,000 most named
            # among them, 45% sooner)
            floor = sorted([count for _, count in pairs], reverse=True)[TOP_K - 1]
            pairs = [pair for pair in pairs if pair[1] >= floor]
        listed = [(-count, entity(other)[1:-1]) for other, count in pairs]
        listed.sort()
        return [(-neg, f"<{iri}>") for neg, iri in listed[:TOP_K]]


def entity_facts(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> EntityFacts:
    """What the entities' statements in ``graph`` take from the whole corpus (ranks, best
    results): made once for the blocks' digests (:func:`entity_extras`) and the statements
    (:func:`statement_runs`), where each took 0.5-0.7 s at 177k papers."""
    base = normalise_base(base)
    start = entity_prefix(base)

    def entity(node: str) -> str:
        return f"<{start}{entity_path(node.removeprefix('entity:'))}>"

    return EntityFacts(graph, base, entity)


def entity_extras(
    graph: nx.MultiDiGraph, base: str = DEFAULT_BASE, facts: EntityFacts | None = None
) -> dict[str, bytes]:
    """Per entity node that has any, what its block's statements take from the corpus'
    ranks (its ``kg:usageRank``, a metric's ``kg:topResult`` list), as bytes that change
    whenever they do: with the entity's node and its ``co_occurs`` edges (its lines in
    ``graph.json``), all its block is made from (:mod:`kgraph.rdf.paper_units`).
    ``facts``: the graph's :func:`entity_facts`, when made before."""
    import orjson

    if facts is None or facts.base != normalise_base(base):
        facts = entity_facts(graph, base)
    out: dict[str, bytes] = {}
    for node in {*facts.usage, *facts.top_results}:
        out[node] = orjson.dumps([facts.usage.get(node), facts.top_results.get(node, [])])
    return out


def _derived(
    graph: nx.MultiDiGraph,
    index: _Index,
    base: str,
    papers: list[str],
    facts: EntityFacts,
    entity: Callable[[str], str],
) -> Iterator[str]:
    """Facts that depend on the whole corpus, materialised so the canned questions read a few
    triples instead of grouping and sorting millions (Oxigraph sorts by looking every term up).
    In each entity's block (:func:`statement_runs`, from :class:`EntityFacts`):

    - ``kg:usageRank`` of the first :data:`RANKED` entities of each kind (datasets and
      benchmarks together) by number of papers, then IRI;
    - per entity, its :data:`TOP_K` most co-occurring entities as ``kg:CoOccurrence`` nodes
      (``kg:coOccurrenceOf``, ``kg:partner``, ``kg:sharedPapers``), each named
      ``<entity>/co-occurrence/<partner's type>/<partner's slug>``;
    - per metric, its :data:`TOP_K` best results (``kg:topResult``);

    and here, after the blocks:

    - ``kg:recencyRank`` of the first :data:`RANKED` ``introduces`` mentions: newest paper
      first (full dates first), then paper IRI, then entity IRI;
    - the rank of each of a metric's best results (``kg:metricRank``: highest value first,
      then paper, then result IRI), and per metric and dataset a ``kg:Leaderboard`` with its
      :data:`TOP_K` best results (``kg:entry``, ``kg:leaderboardRank``).

    Ranks follow the order of the canned queries, so a query that filters on a rank returns the
    rows the full aggregate would. Every rank is 1-based."""
    nodes = graph.nodes

    def key(node: str) -> str:
        return entity(node)[1:-1]

    introductions: list[tuple[str, str, str, str]] = []  # issued, paper, entity, mention
    for pnode in papers:
        attrs = nodes[pnode]
        pid = _paper_id(pnode, attrs)
        issued = str(attrs.get("published") or "")
        issued = issued if _ISO_DATE.match(issued) else ""
        for target, data in index.paper_edges.get(pnode, ()):
            if data.get("relation") == "introduces":
                m = mention_iri(base, pid, target.removeprefix("entity:"))
                introductions.append((issued, paper_iri(base, pid), key(target), m))
    introductions.sort(key=lambda t: (t[1], t[2]))  # paper, then entity
    introductions.sort(key=lambda t: t[0], reverse=True)  # newest first; no date last (stable)
    for rank, (*_, m) in enumerate(introductions[:RANKED], 1):
        yield f"<{m}> {_KG['recencyRank']} {_int(rank)}"

    for metric in sorted(facts.top_results, key=key):
        for rank, r in enumerate(facts.top_results[metric], 1):
            yield f"<{r}> {_KG['metricRank']} {_int(rank)}"
    boards = facts.boards
    for metric, dataset in sorted(boards, key=lambda md: (key(md[0]), key(md[1]))):
        m_local = key(metric).removeprefix(f"{base}entity/")
        d_local = key(dataset).removeprefix(f"{base}entity/")
        lb = f"<{base}leaderboard/{m_local}/on/{d_local}>"
        yield f"{lb} {_A} {_KG['Leaderboard']}"
        yield f"{lb} {_KG['ofMetric']} <{key(metric)}>"
        yield f"{lb} {_KG['onDataset']} <{key(dataset)}>"
        for rank, (_, _, r) in enumerate(sorted(boards[(metric, dataset)])[:TOP_K], 1):
            yield f"{lb} {_KG['entry']} <{r}>"
            yield f"<{r}> {_KG['leaderboardRank']} {_int(rank)}"


def _paper(
    base: str,
    pid: str,
    attrs: Mapping[str, Any],
    edges: Iterable[tuple[str, dict[str, Any]]],
    nodes: Any,
    entity: Callable[[str], str],
    path: Callable[[str], str],
) -> list[str]:
    """The statements of a paper's named graph (without its ``kg:evaluatedOn`` pairs);
    ``entity`` and ``path`` give an entity node's term and its ``entity_path``."""
    out: list[str] = []
    add = out.append
    p_iri = paper_iri(base, pid)
    p = f"<{p_iri}>"
    add(f"{p} {_A} {_ARTICLE}")
    add(f"{p} {_DC_ID} {_lit(pid)}")
    add(f"{p} {_DC_TITLE} {_lit(str(attrs.get('title', '')))}")
    if attrs.get("abstract"):
        add(f"{p} {_DC_ABSTRACT} {_lit(str(attrs['abstract']))}")
    published = str(attrs.get("published") or "")
    if _ISO_DATE.match(published):
        add(f'{p} {_DC_ISSUED} "{published}"{_DATE}')
    elif _MONTH_DAY_RE.match(published):
        add(f'{p} {_DC_ISSUED} "{published}"{_MONTH_DAY}')
    if attrs.get("arxiv_id"):
        add(f"{p} {_ARXIV} {_lit(str(attrs['arxiv_id']))}")
    if isinstance(attrs.get("authors_count"), int):
        add(f"{p} {_KG['authorCount']} {_int(attrs['authors_count'])}")
    if isinstance(attrs.get("upvotes"), int):
        add(f"{p} {_KG['upvotes']} {_int(attrs['upvotes'])}")
    if attrs.get("organization"):
        org = _i(f"{base}organization/{pct(str(attrs['organization']))}")
        add(f"{p} {_S_ORG} {org}")
    authors = [str(a) for a in attrs.get("authors") or () if a]
    author_iris = [f"<{p_iri}/author/{n}>" for n in range(1, len(authors) + 1)]
    for a in author_iris:
        add(f"{p} {_S_AUTHOR} {a}")
    for url in attrs.get("urls") or ():
        add(f"{p} {_SEE_ALSO} {url_term(str(url))}")
    for src in attrs.get("sources") or ():
        add(f"{p} {_KG['sourceRecord']} {_lit(str(src))}")

    mentions: list[tuple[str, str, dict[str, Any]]] = []
    results: list[str] = []
    names_entity = _KG["namesEntity"]
    for target, data in edges:
        rel = data.get("relation")
        if rel == "reports":
            add(f"{p} {_KG['reports']} {_result_term(base, pid, target)}")
            results.append(target)
        elif rel in _REL:
            e = entity(target)
            add(f"{p} {_REL[rel]} {e}")
            if rel != "code":
                add(f"{p} {names_entity} {e}")
            mentions.append((target, rel, data))

    for n, (a, name) in enumerate(zip(author_iris, authors, strict=True), 1):
        add(f"{a} {_A} {_PERSON}")
        add(f"{a} {_S_NAME} {_lit(name)}")
        add(f"{a} {_S_POSITION} {_int(n)}")
    mention_of = mention_prefix(base, pid)  # mention_iri, its paper's part once
    mention_class, refers_to, relation = _KG["Mention"], _KG["refersTo"], _KG["relation"]
    for target, rel, data in mentions:
        e = entity(target)
        m = f"<{mention_of}{path(target)}>"
        add(f"{m} {_A} {mention_class}")
        add(f"{m} {_DERIVED} {p}")
        add(f"{m} {refers_to} {e}")
        add(f"{m} {relation} {_REL[rel]}")
        _evidence(out, m, data)
    for rnode in results:
        _result(out, base, pid, rnode, nodes[rnode], p, entity)
    return out


def _evidence(out: list[str], m: str, data: Mapping[str, Any]) -> None:
    """The evidence statements of mention or result ``m``, added to ``out``."""
    add = out.append
    conf = data.get("confidence")
    if isinstance(conf, (int, float)) and (term := _dec(conf)) is not None:
        add(f"{m} {_KG['confidence']} {term}")
    if data.get("component"):
        add(f"{m} {_KG['extractor']} {_lit(str(data['component']))}")
    if data.get("sentence") is not None:
        add(f"{m} {_KG['sentence']} {_lit(str(data['sentence']))}")
    if data.get("text") is not None:
        add(f"{m} {_KG['anchorText']} {_lit(str(data['text']))}")
    if isinstance(data.get("start"), int):
        add(f"{m} {_KG['startOffset']} {_int(data['start'])}")
    if isinstance(data.get("end"), int):
        add(f"{m} {_KG['endOffset']} {_int(data['end'])}")
    spans = data.get("spans")
    if spans:
        text = " ".join(f"{int(s)}-{int(e)}" for s, e in spans)
        add(f"{m} {_KG['spans']} {_lit(text)}")


def _result_term(base: str, pid: str, rnode: str) -> str:
    return _i(result_iri(base, pid, rnode.rpartition("/")[2]))


def _result(
    out: list[str],
    base: str,
    pid: str,
    rnode: str,
    attrs: Mapping[str, Any],
    paper: str,
    entity: Callable[[str], str],
) -> None:
    """The statements of result node ``rnode``, added to ``out``."""
    add = out.append
    r = _result_term(base, pid, rnode)
    add(f"{r} {_A} {_KG['Result']}")
    add(f"{r} {_DERIVED} {paper}")
    value = attrs.get("value")
    if isinstance(value, (int, float)) and (term := _dec(value)) is not None:
        add(f"{r} {_KG['value']} {term}")
    if attrs.get("unit"):
        add(f"{r} {_KG['unit']} {_lit(str(attrs['unit']))}")
    if attrs.get("result_type"):
        add(f"{r} {_KG['resultType']} {_lit(str(attrs['result_type']))}")
    for key, prop, name_prop in (
        ("metric", "ofMetric", "metricName"),
        ("dataset", "onDataset", "datasetName"),
        ("method", "byMethod", "methodName"),
    ):
        if attrs.get(key):
            add(f"{r} {_KG[prop]} {entity(str(attrs[key]))}")
        if attrs.get(f"{key}_name"):
            add(f"{r} {_KG[name_prop]} {_lit(str(attrs[f'{key}_name']))}")
    _evidence(out, r, {k: attrs.get(k) for k in ("sentence", "text", "start", "end")})


def _entity(node: str, attrs: Mapping[str, Any], entity: Callable[[str], str]) -> Iterator[str]:
    e = entity(node)
    typ = str(attrs.get("type", ""))
    name = str(attrs.get("name", ""))
    yield f"{e} {_A} {_KG['Entity']}"
    if typ in _CLASS:
        yield f"{e} {_A} {_CLASS[typ]}"
    yield f"{e} {_DC_ID} {_lit(str(attrs.get('entity_id') or node.removeprefix('entity:')))}"
    yield f"{e} {_PREF} {_lit(name)}"
    alt = {str(a) for a in attrs.get("aliases") or ()} | {
        str(s) for s in attrs.get("short_forms") or ()
    }
    alt.discard(name)
    for label in sorted(alt):
        yield f"{e} {_ALT} {_lit(label)}"
    ident = str(attrs.get("entity_id") or node.removeprefix("entity:"))
    for key in sorted({name_key(x) for x in (name, ident, *alt)} - {""}):
        yield f"{e} {_KG['nameKey']} {_lit(key)}"
    if isinstance(attrs.get("papers"), int):
        yield f"{e} {_KG['paperCount']} {_int(attrs['papers'])}"
    if isinstance(attrs.get("mentions"), int):
        yield f"{e} {_KG['mentionCount']} {_int(attrs['mentions'])}"
    if attrs.get("kb_id"):
        yield f"{e} {_KG['gazetteerId']} {_lit(str(attrs['kb_id']))}"
    if typ == "repository" and name:
        yield f"{e} {_S_CODE} {url_term(name)}"


# --- serialisations --------------------------------------------------------------------------

_CHUNK: Final = 4096  # statements per chunk of text


def nquads_chunks(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> Iterator[bytes]:
    """The N-Quads of ``graph`` (named graphs kept) as UTF-8 chunks of whole lines."""
    buf: list[str] = []
    for g, spo in iter_statements(graph, base):
        buf.append(f"{spo} {g} .\n")
        if len(buf) >= _CHUNK:
            yield "".join(buf).encode("utf-8")
            buf.clear()
    if buf:
        yield "".join(buf).encode("utf-8")


def ntriples_chunks(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> Iterator[bytes]:
    """The N-Triples of ``graph`` (the union of its named graphs, no repeats), in chunks."""
    buf: list[str] = []
    for _, spo in iter_statements(graph, base, union=True):
        buf.append(f"{spo} .\n")
        if len(buf) >= _CHUNK:
            yield "".join(buf).encode("utf-8")
            buf.clear()
    if buf:
        yield "".join(buf).encode("utf-8")


class ChunkReader(io.RawIOBase):
    """A binary file over an iterator of byte chunks (to stream text into pyoxigraph)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._buf = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b)
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = chunk
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.bytes_read += n
        return n


def text_reader(chunks: Iterable[bytes]) -> io.BufferedReader:
    """A buffered binary file reading the concatenation of ``chunks``."""
    return io.BufferedReader(ChunkReader(chunks), buffer_size=1 << 20)


def statement_count(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> int:
    """The number of quads :func:`iter_statements` gives for ``graph``."""
    return sum(1 for _ in iter_statements(graph, base))


def _write_oxigraph(graph: nx.MultiDiGraph, base: str, fmt: str, out: IO[bytes]) -> None:
    import pyoxigraph as ox

    base = normalise_base(base)
    spaces = prefixes(base)
    rdf_format = getattr(ox.RdfFormat, FORMATS[fmt][1])
    sink: IO[bytes] | _PrefixOrder = _PrefixOrder(out, spaces) if fmt in ("ttl", "trig") else out
    if FORMATS[fmt][2]:  # keeps the named graphs
        quads = ox.parse(text_reader(nquads_chunks(graph, base)), ox.RdfFormat.N_QUADS)
        ox.serialize(quads, cast("IO[bytes]", sink), rdf_format, prefixes=spaces)
    else:
        quads = ox.parse(text_reader(ntriples_chunks(graph, base)), ox.RdfFormat.N_TRIPLES)
        ox.serialize(
            (q.triple for q in quads), cast("IO[bytes]", sink), rdf_format, prefixes=spaces
        )
    if isinstance(sink, _PrefixOrder):
        sink.finish()


class _PrefixOrder:
    """A writer passing everything to ``out``, except that the first 8 KiB (where the
    ``@prefix`` lines are) go through :func:`ordered_prefixes` first: streamed, so a large
    graph's Turtle is never held in memory."""

    HEAD = 8192

    def __init__(self, out: IO[bytes], spaces: Mapping[str, str]) -> None:
        self.out, self.spaces = out, spaces
        self.head: bytearray | None = bytearray()

    def write(self, data: bytes) -> int:
        if self.head is None:
            self.out.write(data)
        else:
            self.head += data
            if len(self.head) >= self.HEAD:
                self._flush_head()
        return len(data)

    def flush(self) -> None:
        pass

    def _flush_head(self) -> None:
        assert self.head is not None
        head = bytes(self.head)
        self.head = None
        self.out.write(ordered_prefixes(head[: self.HEAD], self.spaces))
        self.out.write(head[self.HEAD :])

    def finish(self) -> None:
        if self.head is not None:
            self._flush_head()


def ordered_prefixes(head: bytes, spaces: Mapping[str, str]) -> bytes:
    """``head`` (the start of a Turtle or TriG text) with its leading ``@prefix`` lines in the
    order of ``spaces`` (pyoxigraph writes them in hash order)."""
    lines = head.split(b"\n")
    n = 0
    while n < len(lines) - 1 and lines[n].startswith(b"@prefix "):
        n += 1
    order = {name.encode(): i for i, name in enumerate(spaces)}

    def rank(line: bytes) -> int:
        return order.get(line[len(b"@prefix ") :].split(b":", 1)[0], len(order))

    return b"\n".join([*sorted(lines[:n], key=rank), *lines[n:]])


def serialize(
    graph: nx.MultiDiGraph,
    fmt: str,
    out: IO[bytes],
    base: str = DEFAULT_BASE,
) -> None:
    """Write ``graph`` as ``fmt`` (a key of :data:`FORMATS`) to the binary stream ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown RDF format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "nt":
        for chunk in ntriples_chunks(graph, base):
            out.write(chunk)
    elif fmt == "nq":
        for chunk in nquads_chunks(graph, base):
            out.write(chunk)
    elif fmt == "ttl":
        write_turtle(
            (spo for _, spo in iter_statements(graph, base, union=True)),
            out,
            prefixes(normalise_base(base)),
        )
    elif fmt == "jsonld":
        out.write(jsonld_bytes(graph, base))
    else:
        _write_oxigraph(graph, base, fmt, out)


def turtle_bytes(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> bytes:
    """The Turtle of ``graph``: every triple (union of the named graphs), prefixes declared,
    each subject's triples grouped. The default ``graph.ttl`` export of a bundle."""
    out = io.BytesIO()
    serialize(graph, "ttl", out, base)
    return out.getvalue()


def to_rdflib(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> rdflib.Dataset:
    """``graph`` as an rdflib ``Dataset`` (named graphs kept, default graph = their union)."""
    import rdflib

    ds = rdflib.Dataset(default_union=True)
    data = b"".join(nquads_chunks(graph, base))
    ds.parse(data=data, format="nquads")
    for prefix, ns in prefixes(normalise_base(base)).items():
        ds.bind(prefix, ns, override=True)
    return ds


def jsonld_context(base: str = DEFAULT_BASE) -> dict[str, Any]:
    """The JSON-LD ``@context`` of exports: ``context.jsonld`` plus the data prefixes."""
    import json
    from importlib.resources import files

    ctx: dict[str, Any] = json.loads(
        files("kgraph.rdf").joinpath("context.jsonld").read_text(encoding="utf-8")
    )["@context"]
    base = normalise_base(base)
    from .namespaces import data_prefixes

    return {**ctx, **data_prefixes(base)}


def jsonld_bytes(graph: nx.MultiDiGraph, base: str = DEFAULT_BASE) -> bytes:
    """JSON-LD of every triple, compacted with ``schemas/context.jsonld`` (through rdflib: slow
    on big graphs, about 20k triples/s)."""
    import rdflib

    g = rdflib.Graph()
    g.parse(data=b"".join(ntriples_chunks(graph, base)), format="nt")
    text = g.serialize(format="json-ld", context=jsonld_context(base), auto_compact=True)
    return text.encode("utf-8")
