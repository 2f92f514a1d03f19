"""A bundle's graph read for the explorer in two passes: what the selection needs, then the
rest of what it keeps.

:func:`~kgraph.view.select.select` looks at every node's names and counts and every edge's
relation, but the page shows the abstracts and the evidence (sentences, spans, mention
texts) of the few thousand nodes and edges it keeps only. :func:`read_for_view` makes the
graph without the papers' abstracts and with each edge's ``relation`` (and a ``co_occurs``
edge's ``count``) only, each with where it is in ``graph.json``; :func:`fill` then reads the
kept nodes and the edges between them again from there and gives them all their attributes,
in place (the selection's edges point at those attribute dicts). At 160k papers the graph
the selection reads is 1.7 GiB instead of 2.8. The page is byte for byte the one made from
the whole graph (a test compares them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import networkx as nx

from .._gc import collector_paused
from ..graphfile import GraphFile
from .select import Selection

__all__ = ["fill", "read_for_view"]

#: node attributes the selection never reads (filled in for the kept nodes)
_HEAVY_NODE: Final = ("abstract",)
#: edge attributes the selection reads
_EDGE_KEPT: Final = ("relation", "count")
#: where an item is in graph.json (GraphFile's place), in the lean attribute dicts; no JSON
#: key of a kgraph graph starts with NUL
_PLACE: Final = "\x00place"


def read_for_view(source: GraphFile) -> nx.MultiDiGraph:
    """The graph of ``source`` without what only the page needs (see the module); each
    attribute dict also holds where its item is in the file, for :func:`fill`."""

    def nodes() -> Iterator[tuple[Any, dict[str, Any]]]:
        for place, node, attrs in source.placed_nodes():
            for key in _HEAVY_NODE:
                attrs.pop(key, None)
            attrs[_PLACE] = place
            yield node, attrs

    def edges() -> Iterator[tuple[Any, Any, Any, dict[str, Any]]]:
        for place, u, v, key, attrs in source.placed_edges():
            lean: dict[str, Any] = {k: attrs[k] for k in _EDGE_KEPT if k in attrs}
            lean[_PLACE] = place
            yield u, v, key, lean

    graph = nx.MultiDiGraph()
    graph.graph.update(source.attrs)
    with collector_paused():
        graph.add_nodes_from(nodes())
        graph.add_edges_from(edges())
    return graph


def fill(graph: nx.MultiDiGraph, source: GraphFile, selection: Selection) -> None:
    """Give the nodes ``selection`` keeps, and the edges between them, all their attributes,
    read again from where each is in ``source`` (each attribute dict is refilled in place,
    in the file's key order, without the place)."""
    keep = set(selection.nodes)
    for node in selection.nodes:
        attrs = graph.nodes[node]
        if _PLACE in attrs:
            _refill(attrs, source.node_at(attrs[_PLACE])[1])
        for target, keyed in graph.succ[node].items():
            if target not in keep:
                continue
            for edge in keyed.values():
                if _PLACE in edge:
                    _refill(edge, source.edge_at(edge[_PLACE])[3])


def _refill(target: dict[str, Any], attrs: dict[str, Any]) -> None:
    target.clear()
    target.update(attrs)
