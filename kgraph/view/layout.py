"""Node positions for the explorer, computed in Python so the browser draws without physics.

Each connected component is laid out by a force-directed (Fruchterman-Reingold) layout:
igraph's (C, grid-accelerated: a 5,000-node graph in about half a second), else networkx's
``spring_layout`` (numpy below 500 nodes; above, it needs scipy and is far slower: 18 s for
2,000 nodes and 77 s for 5,000 here, against 0.3 s and 0.6 s for igraph). The components
are then packed in rows, the largest first, so small islands and lone papers do not drift
off or pile up. Positions are in pixels (an edge is about :data:`EDGE_PX` long, dense
components are spread to :data:`CELL_PX` squared per node) and depend only on the nodes, the
edges and ``seed``.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable, Sequence
from typing import Final

import networkx as nx

__all__ = ["EDGE_PX", "layout"]

#: typical edge length in pixels (at least)
EDGE_PX: Final = 90.0
#: a component gets at least this square per node (dense cores are spread out to it)
CELL_PX: Final = 70.0
#: space around each packed component, in pixels
MARGIN_PX: Final = 60.0
_LOCK = threading.Lock()  # igraph's random generator is global


def _fr_igraph(n: int, edges: Sequence[tuple[int, int]], seed: int) -> list[tuple[float, float]]:
    import igraph as ig

    graph = ig.Graph(n=n, edges=list(edges))
    with _LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            coords = graph.layout_fruchterman_reingold(grid="auto").coords
        finally:
            ig.set_random_number_generator(random)
    return [(float(x), float(y)) for x, y in coords]


def _fr_networkx(n: int, edges: Sequence[tuple[int, int]], seed: int) -> list[tuple[float, float]]:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    # networkx scales the layout to [-1, 1]: stretch it to about one unit per edge
    pos = nx.spring_layout(graph, seed=seed, scale=max(1.0, math.sqrt(n) / 2))
    return [(float(pos[i][0]), float(pos[i][1])) for i in range(n)]


def _component_layout(
    n: int, edges: Sequence[tuple[int, int]], seed: int
) -> list[tuple[float, float]]:
    """Positions of one connected component (local indices), about one unit per edge."""
    if n == 1:
        return [(0.0, 0.0)]
    try:
        return _fr_igraph(n, edges, seed)
    except ImportError:
        pass
    try:
        return _fr_networkx(n, edges, seed)
    except ImportError as exc:  # networkx needs scipy from 500 nodes on
        raise RuntimeError(
            f"laying out a component of {n:,} nodes needs igraph (pip install igraph)"
        ) from exc


def _components(n: int, edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    # largest first; ties by first node (graph order): deterministic
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def layout(
    nodes: Sequence[str], edges: Iterable[tuple[str, str]], *, seed: int = 7
) -> dict[str, tuple[float, float]]:
    """Pixel positions of ``nodes`` (edges between unknown nodes or loops are ignored)."""
    index = {node: i for i, node in enumerate(nodes)}
    pairs = sorted(
        {
            (min(index[u], index[v]), max(index[u], index[v]))
            for u, v in edges
            if u in index and v in index and u != v
        }
    )
    comps = _components(len(nodes), pairs)
    local = {}
    for c, members in enumerate(comps):
        for j, i in enumerate(members):
            local[i] = (c, j)
    comp_edges: list[list[tuple[int, int]]] = [[] for _ in comps]
    for a, b in pairs:
        c, ja = local[a]
        comp_edges[c].append((ja, local[b][1]))

    # lay out each component, scaled to pixels, its box starting at (0, 0)
    boxes: list[tuple[list[tuple[float, float]], float, float]] = []
    for c, members in enumerate(comps):
        pts = _component_layout(len(members), comp_edges[c], seed)
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        x0, y0 = min(xs), min(ys)
        w, h = max(xs) - x0, max(ys) - y0
        scale = EDGE_PX
        if len(members) >= 20:  # a big component: give each node room
            scale = max(scale, CELL_PX * math.sqrt(len(members) / (max(w, 1.0) * max(h, 1.0))))
        scaled = [((x - x0) * scale, (y - y0) * scale) for x, y in pts]
        boxes.append((scaled, w * scale, h * scale))

    # shelf packing: rows no wider than the largest component or the square of the total area
    area = sum((w + MARGIN_PX) * (h + MARGIN_PX) for _, w, h in boxes)
    width = max([boxes[0][1] + MARGIN_PX, math.sqrt(area)] if boxes else [0.0])
    out: dict[str, tuple[float, float]] = {}
    x = y = row_h = 0.0
    placed: list[tuple[int, float, float]] = []
    for c, (_, w, h) in enumerate(boxes):
        if x > 0 and x + w > width:
            x, y, row_h = 0.0, y + row_h, 0.0
        placed.append((c, x, y))
        x += w + MARGIN_PX
        row_h = max(row_h, h + MARGIN_PX)
    total_w = max((px + boxes[c][1] for c, px, _ in placed), default=0.0)
    total_h = max((py + boxes[c][2] for c, _, py in placed), default=0.0)
    for c, px, py in placed:
        for j, (lx, ly) in enumerate(boxes[c][0]):
            node = nodes[comps[c][j]]
            out[node] = (round(px + lx - total_w / 2, 1), round(py + ly - total_h / 2, 1))
    return out
