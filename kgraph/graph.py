"""The knowledge graph: a networkx ``MultiDiGraph`` of papers, entities and results.

Built from the papers and their resolved entities (:class:`kgraph.resolve.Resolution`); every
attribute is a plain JSON value (string, number, boolean, list or object of those, never
``None``: an unknown attribute is left out) so exporters can follow. The node and edge kinds
and every attribute are described in ``schemas/graph.schema.json``.

Nodes (ids)
    ``paper:<paper id>``          kind ``paper``
    ``entity:<type>/<slug>``      kind ``entity`` (the canonical id of kgraph.resolve)
    ``result:<paper id>/<n>``     kind ``result`` (a number the abstract reports)

Edges (key = relation, except ``evaluated_on``, keyed ``evaluated_on:<paper id>``)
    paper -> entity   ``proposes`` (method), ``introduces`` (dataset, benchmark),
                      ``uses_method``, ``uses_dataset``, ``uses_benchmark``, ``uses_metric``,
                      ``addresses`` (task), ``code`` (repository); each with its evidence:
                      the first mention's ``sentence``, ``start``/``end`` offsets into the
                      paper's text (title, blank line, abstract), ``text``, ``component``
                      (the extractor component that found it) and ``confidence``, plus
                      ``mentions`` and every mention's ``spans``.
    paper -> result   ``reports``
    entity -> entity  ``evaluated_on``: a method the paper proposes -> each dataset and
                      benchmark the paper uses or introduces, with ``paper`` as provenance
                      (one edge per paper).
    entity -> entity  ``co_occurs``: both named by ``count`` >= 2 papers (listed in
                      ``papers``); one edge per pair, from the smaller node id; repositories
                      left out. (Named together by one paper only: joined by that paper.)

The relation of a paper to an entity follows the entity's *resolved* type: the paper's own
contribution (proposes/introduces in extraction) is ``proposes`` for a method and
``introduces`` for a dataset or benchmark; for a task or metric it is ``addresses`` /
``uses_metric`` like any other use. When several per-paper entities of one paper resolve to
one entity, the edges merge: the strongest relation (proposes, introduces, code, then the
uses), the highest confidence, all mentions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import networkx as nx
import numpy as np

from . import __version__
from .records import CODE, INTRODUCES, PROPOSES, Entity, Mention, Paper
from .results import Result, find_results

if TYPE_CHECKING:
    from .extractions import Extraction
    from .graph_delta import PaperPart
    from .resolve import Resolution

__all__ = [
    "PAPER_RELATIONS",
    "SCHEMA_VERSION",
    "build_graph",
    "entity_node",
    "paper_node",
    "paper_relation",
]

SCHEMA_VERSION: Final = 1
ADDRESSES: Final = "addresses"
REPORTS: Final = "reports"
EVALUATED_ON: Final = "evaluated_on"
CO_OCCURS: Final = "co_occurs"
#: a co_occurs edge needs at least this many papers naming both entities
CO_OCCURS_MIN_PAPERS: Final = 2
#: paper -> entity relations, strongest first
PAPER_RELATIONS: Final = (
    PROPOSES,
    INTRODUCES,
    CODE,
    "uses_method",
    "uses_dataset",
    "uses_benchmark",
    "uses_metric",
    ADDRESSES,
)
_RANK: Final = {r: i for i, r in enumerate(PAPER_RELATIONS)}
_DATA_RELATIONS: Final = frozenset({INTRODUCES, "uses_dataset", "uses_benchmark"})
#: an edge as networkx takes it: (source, target, key, attributes)
_Edge = tuple[str, str, str, dict[str, Any]]


def paper_node(paper_id: str) -> str:
    return f"paper:{paper_id}"


def entity_node(canonical_id: str) -> str:
    return f"entity:{canonical_id}"


def paper_relation(relation: str, entity_type: str) -> str:
    """The edge relation for a per-paper ``relation`` to an entity of (resolved) type."""
    if entity_type == "repository":
        return CODE
    own = relation in (PROPOSES, INTRODUCES)
    if own and entity_type == "method":
        return PROPOSES
    if own and entity_type in ("dataset", "benchmark"):
        return INTRODUCES
    if entity_type == "task":
        return ADDRESSES
    return f"uses_{entity_type}"


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unknown (None) attributes."""
    return {k: v for k, v in d.items() if v is not None}


def _paper_attrs(paper: Paper) -> dict[str, Any]:
    return _plain(
        {
            "kind": "paper",
            "paper_id": paper.id,
            "title": paper.title,
            "abstract": paper.abstract,
            "published": paper.published,
            "authors": list(paper.authors),
            "authors_count": paper.authors_count,
            "organization": paper.organization,
            "upvotes": paper.upvotes,
            "arxiv_id": paper.arxiv_id,
            "urls": list(paper.urls),
            "sources": list(paper.sources),
        }
    )


def _edge_attrs(relation: str, entities: list[Entity]) -> dict[str, Any]:
    """One paper -> entity edge from the per-paper entities that resolved to that entity."""
    mentions: list[Mention] = sorted(
        {(m.start, m.end, m.text): m for e in entities for m in e.mentions}.values(),
        key=lambda m: (m.start, m.end),
    )
    attrs: dict[str, Any] = {
        "relation": relation,
        "confidence": round(max([e.confidence for e in entities]), 3),
    }
    if mentions:
        first = mentions[0]
        attrs["sentence"] = first.sentence
        attrs["start"] = first.start
        attrs["end"] = first.end
        attrs["text"] = first.text
        attrs["component"] = first.source
    attrs["mentions"] = len(mentions)
    attrs["spans"] = [[m.start, m.end] for m in mentions]
    return attrs


def build_graph(
    papers: Iterable[Paper],
    resolution: Resolution,
    *,
    results: bool = True,
    consume: bool = False,
    kept: Mapping[str, PaperPart] | None = None,
) -> nx.MultiDiGraph:
    """The graph of ``papers`` (each needs an extraction in ``resolution``; papers without one
    become nodes without edges). Nodes and edges are added in sorted order.

    ``consume``: each paper's extraction is taken out of ``resolution.extractions`` once its
    paper is in the graph (which leaves them empty). A build holding no other reference to
    them frees them so, and the graph reuses their memory as it grows.

    ``kept``: the parts of papers taken as they are from the graph this one replaces (an add:
    :mod:`kgraph.graph_delta`, which says when a paper's part is unchanged); their
    extractions are not looked at (nor taken out: an add's are lines never made)."""
    by_id = {p.id: p for p in papers}
    parts: Mapping[str, PaperPart] = kept or {}
    g = nx.MultiDiGraph(name="kgraph", schema_version=SCHEMA_VERSION, kgraph_version=__version__)
    for pid in sorted(by_id):
        _add_node(g, paper_node(pid), _paper_attrs(by_id[pid]))
    used = {cid for pid, ids in resolution.assignments.items() if pid in by_id for cid in ids}
    # when every resolved paper is in the graph (a build), an entity's papers are all in it
    every = all(pid in by_id for pid in resolution.assignments)
    #: the nodes of the entities that co-occur (not repositories), by canonical id, made once
    #: (made for each paper and id, with the entity's type looked up, the papers of the 177k
    #: state took 1.4-1.6 s; so, 0.9-1.1 s)
    counted = {
        cid: entity_node(cid) for cid in used if resolution.entities[cid].type != "repository"
    }
    entities = resolution.entities
    for cid in sorted(used):
        ent = entities[cid]
        # (the attributes in this order, kb_id left out when None, as _plain would: made
        # so, the 348k entities of a 162k graph took 0.3-0.4 s less)
        node: dict[str, Any] = {"kind": "entity", "entity_id": cid, "name": ent.name}
        node["type"] = ent.type
        if ent.kb_id is not None:
            node["kb_id"] = ent.kb_id
        node["aliases"] = dict(ent.aliases)
        node["short_forms"] = list(ent.short_forms)
        node["type_votes"] = dict(ent.type_votes)
        node["papers"] = len(ent.papers) if every else sum(1 for p in ent.papers if p in by_id)
        node["mentions"] = ent.mentions
        _add_node(g, entity_node(cid), node)

    # The edges in the order they are added: by (source, target, key). A paper's edges are
    # made in that order (papers by id, then its entities by id, then its results by node id)
    # and come after every edge between entities ("entity:" < "paper:"), which are sorted
    # apart: sorting 1.5M edges (the 172k graph's) took 1.3 s, even when already in order
    #: each paper's edges (paper -> entity or result), in order: a kept part's adjacency, or
    #: the edges made
    owned: list[tuple[str, dict[str, dict[str, dict[str, Any]]] | list[_Edge]]] = []
    between: list[_Edge] = []  #: entity -> entity
    #: the papers (nodes, in order) whose entities co-occur, and the ids each names
    named_by: list[str] = []
    named: list[Sequence[str]] = []
    exts = resolution.extractions
    take = exts.pop if consume else exts.get
    for pid in sorted(by_id):
        part = parts.get(pid)
        if part is not None and pid in resolution.assignments:
            for rnode, attrs in part.results:
                _add_node(g, rnode, attrs)
            owned.append((paper_node(pid), part.adjacency))
            between += part.evaluated_on
            named_by.append(paper_node(pid))
            named.append(resolution.assignments[pid])
            continue
        ext = take(pid, None)
        if ext is None:
            continue
        pnode = paper_node(pid)
        ids = resolution.assignments[pid]
        # per-paper entities grouped by canonical entity
        grouped: dict[str, list[int]] = defaultdict(list)
        for i, cid in enumerate(ids):
            grouped[cid].append(i)
        relation_of: dict[str, str] = {}
        confidence_of: dict[str, float] = {}
        edges: list[_Edge] = []
        for cid, idxs in sorted(grouped.items()):
            typ = resolution.entities[cid].type
            rel = min(
                (paper_relation(ext.entities[i].relation, typ) for i in idxs),
                key=lambda r: _RANK[r],
            )
            attrs = _edge_attrs(rel, [ext.entities[i] for i in idxs])
            relation_of[cid] = rel
            confidence_of[cid] = attrs["confidence"]
            edges.append((pnode, entity_node(cid), rel, attrs))

        found: Sequence[Result] = ()
        if results:
            types = [resolution.entities[cid].type for cid in ids]
            found = _results(by_id[pid], ext, types)
        pairs: Counter[tuple[str, str]] = Counter()
        reported = []
        for n, res in enumerate(found, 1):
            rnode = f"result:{pid}/{n}"
            attrs = _result_attrs(res, ids, ext, pnode)
            g.add_node(rnode, **attrs)
            reported.append((pnode, rnode, REPORTS, {"relation": REPORTS}))
            if "method" in attrs and "dataset" in attrs:
                pairs[(attrs["method"], attrs["dataset"])] += 1
        reported.sort(key=_EDGE_ORDER)  # node ids sort as strings: result:X/10 before X/2
        edges += reported
        owned.append((pnode, edges))

        methods = sorted(c for c, r in relation_of.items() if r == PROPOSES)
        datasets = sorted(c for c, r in relation_of.items() if r in _DATA_RELATIONS)
        for m in methods:
            for d in datasets:
                if m == d:
                    continue
                src, dst = entity_node(m), entity_node(d)
                between.append(
                    (
                        src,
                        dst,
                        f"{EVALUATED_ON}:{pid}",
                        {
                            "relation": EVALUATED_ON,
                            "paper": pnode,
                            "confidence": round(min(confidence_of[m], confidence_of[d]), 3),
                            "results": pairs[(src, dst)],
                        },
                    )
                )
        named_by.append(pnode)
        named.append(ids)

    between += _co_occurs_edges(named_by, named, counted)
    between.sort(key=_EDGE_ORDER)
    # the lists consumed from their ends as they go (reversed first): the graph takes each
    # attribute dict as it is
    between.reverse()
    add_keyed_edges(g, _consumed(between))
    # then each paper's, in the papers' order (a kept part's whole: the 1.3M edges of a 160k
    # graph's kept parts one by one took 2.7 s of an add's 14 s graph phase)
    # (taken from the list as they go, so that a paper's edge tuples are freed once added)
    owned.reverse()
    while owned:
        pnode, own = owned.pop()
        if isinstance(own, list):
            _add_keyed(g, own)
        else:
            _adjoin_whole(g, pnode, own)
    _clear_cache(g)
    return g


def _adjoin_whole(
    g: nx.MultiDiGraph, u: str, adjacency: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """Give the node ``u`` of ``g``, which has no edges yet, the edges ``adjacency`` holds
    (target -> key -> attributes, as networkx holds them): the graph takes the dicts as they
    are, as :func:`add_keyed_edges` would make them for these edges in this order. Edges to a
    node not in ``g`` go through networkx."""
    succ, pred = g._succ, g._pred
    if succ.get(u) == {}:
        # (each target looked up once: checking them all first took 0.9 s of the 2.4 s the
        # 1.27M kept edges of an add at 160k took)
        try:
            for v, keyed in adjacency.items():
                pred[v][u] = keyed
        except KeyError:
            # a target not in g (never expected): every edge goes through _add_keyed below,
            # which sets again each entry set here (u has no successor yet)
            pass
        else:
            succ[u] = adjacency
            return
    _add_keyed(g, ((u, v, k, a) for v, keyed in adjacency.items() for k, a in keyed.items()))


_EDGE_ORDER: Final = itemgetter(0, 1, 2)


def _add_node(g: nx.MultiDiGraph, node: str, attrs: dict[str, Any]) -> None:
    """``g.add_node(node, **attrs)`` for a node not in ``g``, the graph taking ``attrs`` as it
    is (a kept part's dict, read for this graph) where networkx copies it."""
    if node in g._succ:
        g.add_node(node, **attrs)
        return
    g._succ[node] = g.adjlist_inner_dict_factory()
    g._pred[node] = g.adjlist_inner_dict_factory()
    g._node[node] = attrs


def _results(paper: Paper, ext: Extraction, types: list[str]) -> Sequence[Result]:
    """The results of ``paper`` with its entities of resolved ``types``: those its
    extraction keeps (found with the entities' own types) when the types are the same,
    else found again (finding them all took 7.1 of the graph's 33.9 s in an add at 160k
    papers, sampled by py-spy)."""
    kept = ext.results
    if kept is None or any(e.type != t for e, t in zip(ext.entities, types, strict=True)):
        return find_results(paper, ext.entities, types)
    if any(r.paper_id != paper.id for r in kept):  # a paper that took another id
        return [replace(r, paper_id=paper.id) for r in kept]
    return kept


def add_keyed_edges(
    g: nx.MultiDiGraph, edges: Iterable[tuple[Any, Any, Any, dict[str, Any]]]
) -> None:
    """``g.add_edges_from(edges)`` for ``(u, v, key, attributes)`` edges, the graph taking
    each attributes dict as it is where networkx copies it (and adds each edge through
    ``add_edge``'s checks): the 1.4M edges of the 160k graph in 3.0-3.3 s against 6.4-8.5 s.
    The same graph, each adjacency in the same order; an edge without a key, or to a node
    not yet in ``g``, goes through networkx."""
    _add_keyed(g, edges)
    _clear_cache(g)


def _clear_cache(g: nx.MultiDiGraph) -> None:
    """Drop the views networkx (3.3 on) caches in a graph whose dicts were changed here."""
    clear = getattr(nx, "_clear_cache", None)
    if clear is not None:
        clear(g)


def _add_keyed(g: nx.MultiDiGraph, edges: Iterable[_Edge]) -> None:
    """:func:`add_keyed_edges` but the cache: call :func:`_clear_cache` after."""
    succ, pred = g._succ, g._pred
    for u, v, key, attrs in edges:
        if key is None or u not in succ or v not in succ:
            g.add_edge(u, v, key, **attrs)
            continue
        keydict = succ[u].get(v)
        if keydict is None:
            succ[u][v] = pred[v][u] = {key: attrs}
        elif key in keydict:
            keydict[key].update(attrs)
        else:
            keydict[key] = attrs


def _consumed(
    edges: list[tuple[str, str, str, dict[str, Any]]],
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """The items of ``edges`` from its end, each taken out of the list as it is given."""
    while edges:
        yield edges.pop()


def _co_occurs_edges(
    pnodes: Sequence[str], named: Sequence[Sequence[str]], counted: Mapping[str, str]
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``co_occurs`` edges for the pairs of entities named together by at least
    :data:`CO_OCCURS_MIN_PAPERS` papers (``pnodes``, in order; ``named``: the canonical ids
    each names, repeats allowed; ``counted``: the node of each entity that co-occurs, not a
    repository, by canonical id). A pair named by one paper only is already joined through
    that paper; most pairs are (three in four on the seed pages, nine in ten on large
    corpora), and keeping them made the graph four times larger.

    Counted in numpy: every id named becomes its node's rank (one dict lookup each, the
    only step per id); each paper's distinct ranks, sorted, give its pairs, papers naming
    as many entities at once together; the pairs are sorted by pair and paper and cut into
    runs of one pair. Memory stays small on large corpora (int64 arrays of all pairs,
    millions at 160k papers); the 162k graph's 197k edges in 1.4-1.8 s, where a set and a
    sort for each paper and the pairs of each paper made in Python took 3.0 s."""
    if not pnodes:
        return []
    by_node = sorted(counted.items(), key=itemgetter(1))
    nodes = [node for _, node in by_node]
    size = len(nodes) + 1
    code = {cid: i for i, (cid, _) in enumerate(by_node)}
    del by_node
    lengths = np.fromiter(map(len, named), dtype=np.int64, count=len(named))
    total = int(lengths.sum())
    # (-1: not counted; dict.get through map, no defaultdict filled with the repositories:
    # the pairs of the 162k graph's 999k ids in 1.4-1.6 s, not 1.7)
    ranks = np.fromiter(map(code.get, chain.from_iterable(named), repeat(-1)), np.int64, total)
    paper = np.repeat(np.arange(len(named), dtype=np.int64), lengths)
    counted_at = ranks >= 0
    # each paper's distinct entities, sorted (by paper, then node)
    key = np.sort(paper[counted_at] * size + ranks[counted_at])
    key = key[np.concatenate(([True], key[1:] != key[:-1]))] if len(key) else key
    paper, ranks = key // size, key % size
    counts = np.bincount(paper, minlength=len(named))
    first_at = np.concatenate(([0], np.cumsum(counts)[:-1]))
    code_parts, paper_parts = [], []
    for k in np.unique(counts[counts >= 2]).tolist():
        papers_k = np.flatnonzero(counts == k)
        ids = ranks[first_at[papers_k][:, None] + np.arange(k)]  # (one row a paper)
        first, second = np.triu_indices(k, 1)  # (the lesser node first)
        code_parts.append((ids[:, first] * size + ids[:, second]).ravel())
        paper_parts.append(np.repeat(papers_k, len(first)))
    if not code_parts:
        return []
    codes, papers = np.concatenate(code_parts), np.concatenate(paper_parts)
    del code_parts, paper_parts
    order = np.lexsort((papers, codes))  # by pair, then by paper
    codes, papers = codes[order], papers[order]
    del order
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    ends = np.append(starts[1:], len(codes))
    kept = np.flatnonzero(ends - starts >= CO_OCCURS_MIN_PAPERS)
    runs = (ends - starts)[kept]
    # the papers of the pairs kept, as nodes, in one list (each pair takes a slice)
    offsets = np.repeat(np.cumsum(runs) - runs, runs)
    at = np.repeat(starts[kept], runs) + (np.arange(len(offsets)) - offsets)
    by = [pnodes[p] for p in papers[at].tolist()]
    out = []
    i = 0
    for n, pair in zip(runs.tolist(), codes[starts[kept]].tolist(), strict=True):
        a, b = divmod(pair, size)
        attrs = {"relation": CO_OCCURS, "count": n, "papers": by[i : i + n]}
        out.append((nodes[a], nodes[b], CO_OCCURS, attrs))
        i += n
    return out


def _result_attrs(res: Result, ids: tuple[str, ...], ext: Extraction, pnode: str) -> dict[str, Any]:
    def ref(i: int | None) -> tuple[str | None, str | None]:
        if i is None:
            return None, None
        return entity_node(ids[i]), ext.entities[i].name

    method, method_name = ref(res.method)
    dataset, dataset_name = ref(res.dataset)
    metric, metric_name = ref(res.metric)
    return _plain(
        {
            "kind": "result",
            "paper": pnode,
            "method": method,
            "method_name": method_name,
            "dataset": dataset,
            "dataset_name": dataset_name,
            "metric": metric,
            "metric_name": metric_name,
            "value": res.value,
            "unit": res.unit,
            "result_type": res.kind,
            "sentence": res.sentence,
            "start": res.start,
            "end": res.end,
            "text": res.text,
        }
    )


def graph_to_data(g: nx.MultiDiGraph) -> dict[str, Any]:
    """networkx node-link data (``"nodes"``, ``"edges"``, each edge with its ``key``)."""
    data: dict[str, Any] = nx.node_link_data(g, edges="edges")
    return data


def graph_from_data(data: Mapping[str, Any]) -> nx.MultiDiGraph:
    g = nx.node_link_graph(data, directed=True, multigraph=True, edges="edges")
    if not isinstance(g, nx.MultiDiGraph):
        g = nx.MultiDiGraph(g)
    return g
