"""Which nodes and edges the explorer draws, and a record of what it leaves out.

:func:`select` narrows a bundle's graph in four steps, each optional:

1. ``focus`` + ``depth``: the ego view, every node within ``depth`` steps of one node (found by
   id, name, alias or paper title: :func:`find_node`) over the undirected graph of the drawn
   relations (``co_occurs`` is not a step: the shared paper already links the pair);
2. ``types``: only these node types (``paper``, the entity types, ``result``);
3. ``min_papers``: only entities named by at least this many papers;
4. ``max_nodes``: above it, the most-connected entities (most papers first; nearest the focus
   first in an ego view) and the papers linked to them, until the budget is spent.

Papers left with no entity by steps 2-4 go too (unless no entity type is wanted), and so do
results whose paper went. Edges are every edge between two kept nodes, with the parallel
``evaluated_on`` edges of one pair merged, except ``co_occurs`` edges of pairs that share
fewer than :data:`CO_OCCURS_MIN` papers (the paper between them shows the link). The
:class:`Selection` says, in :attr:`Selection.notes`, what was left out and why.
"""

from __future__ import annotations

import difflib
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import networkx as nx

__all__ = [
    "CO_OCCURS_MIN",
    "ENTITY_TYPES",
    "NODE_TYPES",
    "DrawnEdge",
    "NoSuchNode",
    "Selection",
    "find_node",
    "node_type",
    "parse_types",
    "select",
]

ENTITY_TYPES: Final = ("method", "dataset", "benchmark", "metric", "task", "repository")
NODE_TYPES: Final = ("paper", *ENTITY_TYPES, "result")
#: a ``co_occurs`` edge is drawn when the pair shares at least this many papers
CO_OCCURS_MIN: Final = 2
CO_OCCURS: Final = "co_occurs"


class NoSuchNode(ValueError):
    """``--focus`` names nothing in the graph; the message lists close matches."""


def node_type(graph: nx.MultiDiGraph, node: str) -> str:
    """``paper``, ``result`` or the entity's type."""
    return _type_of(graph.nodes[node])


def _type_of(data: Mapping[str, Any]) -> str:
    kind = data.get("kind")
    if kind == "entity":
        return str(data.get("type", "method"))
    return str(kind or "paper")


def parse_types(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """``["method,dataset", "task"]`` -> ``("method", "dataset", "task")``; ``ValueError``
    naming the valid types for an unknown one; ``None`` (all types) for no values."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in NODE_TYPES:
                raise ValueError(f"unknown type {name!r} (valid: {', '.join(NODE_TYPES)})")
            if name not in out:
                out.append(name)
    return tuple(out) if out else None


def _names(graph: nx.MultiDiGraph, node: str) -> list[str]:
    """Every name a user might type for ``node``: name, aliases, short forms, title, ids."""
    data = graph.nodes[node]
    names = [node]
    for key in ("entity_id", "paper_id", "arxiv_id", "name", "title"):
        value = data.get(key)
        if isinstance(value, str):
            names.append(value)
    aliases = data.get("aliases")
    if isinstance(aliases, Mapping):
        names.extend(str(a) for a in aliases)
    short = data.get("short_forms")
    if isinstance(short, list):
        names.extend(str(s) for s in short)
    return names


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def find_node(graph: nx.MultiDiGraph, name: str) -> str:
    """The node ``name`` means: a node id (``entity:method/x``, ``method/x``, ``paper:ID``,
    a paper id), else an entity's name, alias or short form or a paper's title (case and
    spacing ignored; several matches: the entity in the most papers). :class:`NoSuchNode`
    with up to five close matches otherwise."""
    for candidate in (name, f"entity:{name}", f"paper:{name}"):
        if candidate in graph:
            return candidate
    wanted = _fold(name)
    index: dict[str, list[str]] = {}
    for node in graph.nodes:
        for n in _names(graph, node):
            index.setdefault(_fold(n), []).append(node)
    found = index.get(wanted)
    if found:

        def rank(node: str) -> tuple[int, int, str]:
            data = graph.nodes[node]
            return (data.get("kind") != "entity", -int(data.get("papers", 0)), node)

        return min(set(found), key=rank)
    close = difflib.get_close_matches(wanted, list(index), n=5, cutoff=0.6)
    shown = []
    for key in close:
        node = index[key][0]
        label = str(graph.nodes[node].get("name") or graph.nodes[node].get("title") or node)
        if label not in shown:
            shown.append(label)
    hint = f"; close matches: {', '.join(shown)}" if shown else "; no close match"
    raise NoSuchNode(f"no node named {name!r} in the graph{hint}")


@dataclass(frozen=True)
class DrawnEdge:
    """One drawn edge: ``relation`` from ``source`` to ``target``; ``data`` holds the
    attributes of every graph edge it stands for (several for merged ``evaluated_on``)."""

    source: str
    target: str
    relation: str
    data: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Selection:
    """What to draw, and what was left out."""

    nodes: tuple[str, ...]  #: kept node ids, in graph order
    edges: tuple[DrawnEdge, ...]
    focus: str | None = None  #: the ego view's centre
    depth: int = 1
    graph_nodes: int = 0  #: nodes in the whole graph
    graph_edges: int = 0  #: edges in the whole graph
    left_out: Mapping[str, int] = field(default_factory=dict)  #: type -> nodes left out
    edges_left_out: int = 0  #: graph edges not drawn (an end left out, or weak co_occurs)
    notes: tuple[str, ...] = ()  #: what was left out and why, one sentence each


class _Adjacency(Mapping[str, set[str]]):
    """Each node's neighbours over the drawn relations, either way (``co_occurs`` is not a
    step), found when first asked for. A page of the whole graph ranks a few hundred entities
    and their papers: it no longer pays for every node's neighbours (8.0 of the 17.7 s
    its selection took at 160k papers, profiled)."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        # networkx's own dicts (node -> neighbour -> key -> attributes): its read-only views
        # over them cost more than the lookups themselves here
        self._sides = (graph._succ, graph._pred)
        self._nodes = graph.nodes
        self._found: dict[str, set[str]] = {}

    def __getitem__(self, node: str) -> set[str]:
        found = self._found.get(node)
        if found is None:
            found = set()
            for side in self._sides:
                for other, keyed in side[node].items():
                    if other != node and any(
                        d.get("relation") != CO_OCCURS for d in keyed.values()
                    ):
                        found.add(other)
            self._found[node] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)


def _bfs(adj: Mapping[str, set[str]], start: str, depth: int) -> dict[str, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if dist[node] >= depth:
            continue
        for nb in sorted(adj[node]):
            if nb not in dist:
                dist[nb] = dist[node] + 1
                queue.append(nb)
    return dist


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _type_plural(n: int, node_type: str) -> str:
    if n == 1:
        return f"1 {node_type}"
    return f"{n:,} {'repositories' if node_type == 'repository' else node_type + 's'}"


def _by_type(counter: Counter[str]) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(_type_plural(n, t) for t, n in items if n)


def select(
    graph: nx.MultiDiGraph,
    *,
    focus: str | None = None,
    depth: int = 1,
    types: Collection[str] | None = None,
    min_papers: int = 1,
    max_nodes: int = 2000,
) -> Selection:
    """The nodes and edges to draw (see the module docstring for the steps)."""
    if depth < 0:
        raise ValueError("depth must be 0 or more")
    if max_nodes < 1:
        raise ValueError("max_nodes must be 1 or more")
    wanted = set(NODE_TYPES if types is None else parse_types(types) or NODE_TYPES)
    kinds = {n: _type_of(data) for n, data in graph.nodes(data=True)}
    adj = _Adjacency(graph)
    notes: list[str] = []
    gone: Counter[str] = Counter()

    focus_id = find_node(graph, focus) if focus is not None else None
    dist: dict[str, int] = {}
    if focus_id is not None:
        dist = _bfs(adj, focus_id, depth)
        kept = [n for n in graph.nodes if n in dist]
        label = graph.nodes[focus_id].get("name") or graph.nodes[focus_id].get("title")
        notes.append(
            f"Ego view: {_plural(len(kept), 'node')} within {_plural(depth, 'step')} of "
            f"{label or focus_id} (of {graph.number_of_nodes():,} in the graph)."
        )
    else:
        kept = list(graph.nodes)

    # 2-3: types and min_papers (the focus always stays)
    by_type: Counter[str] = Counter()
    by_papers: Counter[str] = Counter()
    step: list[str] = []
    for n in kept:
        t = kinds[n]
        if n != focus_id and t not in wanted:
            by_type[t] += 1
        elif n != focus_id and t in ENTITY_TYPES and graph.nodes[n].get("papers", 0) < min_papers:
            by_papers[t] += 1
        else:
            step.append(n)
    if by_type:
        notes.append(f"Types not shown: {_by_type(by_type)}.")
    if by_papers:
        notes.append(
            f"Entities in fewer than {min_papers:,} papers not shown: {_by_type(by_papers)}."
        )
    gone += by_type + by_papers
    kept = step

    entity_wanted = bool(wanted & set(ENTITY_TYPES))
    if by_papers or (by_type.keys() & set(ENTITY_TYPES)):
        kept, orphans = _drop_orphans(kept, kinds, adj, focus_id, entity_wanted)
        if orphans:
            notes.append(f"Left out {_by_type(orphans)} with no entity shown.")
            gone += orphans

    # 4: max_nodes
    if len(kept) > max_nodes:
        before = Counter(kinds[n] for n in kept)
        kept = _most_connected(graph, kept, kinds, adj, dist, focus_id, max_nodes)
        trimmed = before - Counter(kinds[n] for n in kept)
        notes.append(
            f"Too many nodes for one page: kept {len(kept):,} of {sum(before.values()):,} "
            f"(--max-nodes {max_nodes:,}), the most-connected entities and their papers; "
            f"left out {_by_type(trimmed)}."
        )
        gone += trimmed

    keep = set(kept)
    edges, dropped, weak, n_edges = _edges(graph, keep)
    if weak:
        notes.append(
            f"{_plural(weak, 'co-occurrence edge')} of entity pairs that share only one "
            "paper are not drawn (that paper links them)."
        )
    return Selection(
        nodes=tuple(n for n in graph.nodes if n in keep),
        edges=tuple(edges),
        focus=focus_id,
        depth=depth,
        graph_nodes=graph.number_of_nodes(),
        graph_edges=n_edges,
        left_out=dict(sorted(gone.items())),
        edges_left_out=dropped,
        notes=tuple(notes),
    )


def _drop_orphans(
    kept: list[str],
    kinds: Mapping[str, str],
    adj: Mapping[str, set[str]],
    focus_id: str | None,
    entity_wanted: bool,
) -> tuple[list[str], Counter[str]]:
    """Papers with no kept entity (when some entity type is wanted), then results whose paper
    went."""
    keep = set(kept)
    orphans: Counter[str] = Counter()
    if entity_wanted:
        for n in kept:
            linked = any(kinds[m] in ENTITY_TYPES for m in adj[n] if m in keep)
            if kinds[n] == "paper" and n != focus_id and not linked:
                keep.discard(n)
                orphans["paper"] += 1
    for n in kept:
        if kinds[n] == "result" and n != focus_id and n in keep:
            papers = [m for m in adj[n] if kinds[m] == "paper"]
            if papers and not any(m in keep for m in papers):
                keep.discard(n)
                orphans["result"] += 1
    return [n for n in kept if n in keep], orphans


def _most_connected(
    graph: nx.MultiDiGraph,
    kept: list[str],
    kinds: Mapping[str, str],
    adj: Mapping[str, set[str]],
    dist: Mapping[str, int],
    focus_id: str | None,
    max_nodes: int,
) -> list[str]:
    """Up to ``max_nodes`` of ``kept``: the focus, then entities by (distance to the focus,
    papers, degree), each with its papers while they fit, then results of kept papers."""
    pool = set(kept)
    anchors = [n for n in kept if kinds[n] in ENTITY_TYPES]
    if not anchors:
        anchors = [n for n in kept if kinds[n] == "paper"]

    attrs = graph._node  # networkx's own dict (its view costs more than the lookup)

    def near(n: str) -> tuple[int, int]:
        return (dist.get(n, 0), -int(attrs[n].get("papers", 0)))

    def fine(n: str) -> tuple[int, str]:
        return (-len(adj[n] & pool), n)

    final: dict[str, None] = {}
    if focus_id is not None:
        final[focus_id] = None
    # anchors by (distance, papers, degree, id): the degree, which needs the neighbours, is
    # found only for the anchors reached
    for anchor in _ranked(anchors, near, fine):
        if len(final) >= max_nodes:
            break
        final[anchor] = None
        if kinds[anchor] == "paper":
            continue
        papers = sorted(
            (m for m in adj[anchor] if m in pool and kinds[m] == "paper" and m not in final),
            key=lambda m: (dist.get(m, 0), -len(adj[m] & pool), m),
        )
        for paper in papers:
            if len(final) >= max_nodes:
                break
            final[paper] = None
    for n in kept:
        if len(final) >= max_nodes:
            break
        if kinds[n] == "result" and any(m in final for m in adj[n]):
            final[n] = None
    return [n for n in kept if n in final]


def _ranked(
    items: Iterable[str],
    coarse: Callable[[str], tuple[int, int]],
    fine: Callable[[str], tuple[int, str]],
) -> Iterator[str]:
    """``items`` in the order of ``(coarse(x), fine(x))``, with ``fine`` called only for the
    runs of equal ``coarse`` that the caller reaches."""
    ordered = sorted(items, key=coarse)
    start = 0
    while start < len(ordered):
        key, end = coarse(ordered[start]), start + 1
        while end < len(ordered) and coarse(ordered[end]) == key:
            end += 1
        yield from sorted(ordered[start:end], key=fine)
        start = end


def _edges(graph: nx.MultiDiGraph, keep: set[str]) -> tuple[list[DrawnEdge], int, int, int]:
    """Drawn edges between kept nodes (parallel edges of one relation merged), the number of
    graph edges not drawn, how many of those were weak ``co_occurs``, and all edges. Only
    the kept nodes' edges are read, in the order of ``graph.edges``."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    drawn = weak = 0
    succ = graph._succ  # networkx's own dict: its views cost more than the lookups here
    for u in graph.nodes:
        if u not in keep:
            continue
        for v, keyed in succ[u].items():
            if v not in keep:
                continue
            for data in keyed.values():
                relation = str(data.get("relation", ""))
                if relation == CO_OCCURS and int(data.get("count", 1)) < CO_OCCURS_MIN:
                    weak += 1
                    continue
                drawn += 1
                groups.setdefault((u, v, relation), []).append(data)
    # (networkx counts a multigraph's edges node by node, through its degree views: slow)
    seen = sum(len(keyed) for nbrs in succ.values() for keyed in nbrs.values())
    edges = [DrawnEdge(u, v, r, tuple(ds)) for (u, v, r), ds in groups.items()]
    return edges, seen - drawn, weak, seen
