"""One self-contained, offline HTML page of a graph selection, drawn by vis-network.

The page is ``template.html`` (in this package) with three things inlined: the
``vis-network.min.js`` that pyvis ships (no CDN, no network request of any kind), the data as
JSON in a ``<script type="application/json">`` element, and the page title. The data is JSON
with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, so no string in it (a paper title with
``</script>``) can end the element; the page builds every tooltip and panel with
``textContent`` and ``href`` properties, never by parsing strings as HTML, and links only
``http(s)`` URLs. Positions come from :mod:`kgraph.view.layout`; vis-network's physics is on
only for small graphs (:data:`PHYSICS_MAX_NODES`).

To keep the file small (it is part of every bundle) a paper carries its title, date and the
first :data:`EXCERPT_CHARS` characters of its abstract, and an edge the evidence sentence
(shared sentences stored once), cut to :data:`SENTENCE_CHARS` around the mention.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import networkx as nx

from .. import __version__
from .layout import layout
from .select import ENTITY_TYPES, NODE_TYPES, DrawnEdge, Selection, node_type, select

__all__ = [
    "EXCERPT_CHARS",
    "PHYSICS_MAX_NODES",
    "SENTENCE_CHARS",
    "graph_html_bytes",
    "page_data",
    "render_html",
    "render_selection",
    "vis_network_js",
    "write_html",
]

#: vis-network's physics runs (from the precomputed positions) up to this many nodes
PHYSICS_MAX_NODES: Final = 300
EXCERPT_CHARS: Final = 300
SENTENCE_CHARS: Final = 300
LABEL_CHARS: Final = 32
_ALIASES: Final = 8

#: node type -> (colour, vis shape)
NODE_STYLES: Final[Mapping[str, tuple[str, str]]] = {
    "paper": ("#4c78a8", "square"),
    "method": ("#f58518", "dot"),
    "dataset": ("#54a24b", "diamond"),
    "benchmark": ("#b279a2", "triangle"),
    "metric": ("#e45756", "star"),
    "task": ("#3fa39c", "hexagon"),
    "repository": ("#9d755d", "triangleDown"),
    "result": ("#a0a0a0", "dot"),
}

#: relation -> (colour, width, dashes, arrow)
EDGE_STYLES: Final[Mapping[str, tuple[str, float, bool, bool]]] = {
    "proposes": ("#d62728", 2.5, False, True),
    "introduces": ("#9467bd", 2.5, False, True),
    "code": ("#8c564b", 1.5, True, True),
    "uses_method": ("#f5b26b", 1.0, False, False),
    "uses_dataset": ("#8fce84", 1.0, False, False),
    "uses_benchmark": ("#cfa5c6", 1.0, False, False),
    "uses_metric": ("#f29b9a", 1.0, False, False),
    "addresses": ("#7fcac4", 1.0, True, False),
    "reports": ("#b0b0b0", 1.0, True, False),
    "evaluated_on": ("#e377c2", 2.0, False, True),
    "co_occurs": ("#c8c8c8", 1.0, True, False),
}
_DEFAULT_EDGE: Final = ("#b0b0b0", 1.0, False, False)
_SAFE_URL: Final = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
_VIS_DIR: Final = "vis-9.1.2"


@lru_cache(maxsize=1)
def vis_network_js() -> str:
    """The ``vis-network.min.js`` (standalone build, 9.1.2) that pyvis ships."""
    import pyvis

    path = Path(pyvis.__file__).resolve().parent / "lib" / _VIS_DIR / "vis-network.min.js"
    # the source map is not shipped: do not let developer tools look for it
    text = path.read_text(encoding="utf-8").replace(
        "//# sourceMappingURL=vis-network.min.js.map", ""
    )
    if "</script" in text.lower():  # would end the inline <script> early
        raise RuntimeError(f"{path} contains '</script': cannot inline it")
    return text


@lru_cache(maxsize=1)
def _template() -> str:
    return resources.files("kgraph.view").joinpath("template.html").read_text(encoding="utf-8")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _sentence(sentence: str, mention: str) -> str:
    """The evidence sentence, cut to :data:`SENTENCE_CHARS` around the mention if longer."""
    sentence = " ".join(sentence.split())
    if len(sentence) <= SENTENCE_CHARS:
        return sentence
    at = sentence.find(mention) if mention else -1
    if at < 0:
        return _clip(sentence, SENTENCE_CHARS)
    start = max(0, min(at - SENTENCE_CHARS // 3, len(sentence) - SENTENCE_CHARS + 2))
    body = sentence[start : start + SENTENCE_CHARS - 2]
    return ("…" if start else "") + body + ("…" if start + len(body) < len(sentence) else "")


def _safe_url(url: Any) -> str | None:
    return url if isinstance(url, str) and _SAFE_URL.match(url) else None


class _Strings:
    """A table of shared strings (evidence sentences, titles): each stored once."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found


def _label(graph: nx.MultiDiGraph, node: str) -> str:
    data = graph.nodes[node]
    kind = data.get("kind")
    if kind == "paper":
        return _clip(str(data.get("title", node)), LABEL_CHARS)
    if kind == "result":
        return _clip(str(data.get("text") or data.get("value", "")), LABEL_CHARS)
    return _clip(str(data.get("name", node)), LABEL_CHARS)


def _paper_links(graph: nx.MultiDiGraph, node: str) -> list[list[str]]:
    data = graph.nodes[node]
    links: list[list[str]] = []
    arxiv = data.get("arxiv_id")
    if isinstance(arxiv, str) and re.fullmatch(r"[\w./-]+", arxiv):
        links.append(["arXiv", f"https://arxiv.org/abs/{arxiv}"])
    urls = [u for u in data.get("urls", []) if _safe_url(u)]
    for _, target, rel in graph.out_edges(node, keys=False, data="relation"):
        if rel == "code":
            url = _safe_url(graph.nodes[target].get("name"))
            if url and url not in urls:
                urls.append(url)
    for url in urls:
        host = url.split("/")[2].lower()
        links.append(["GitHub" if host.endswith("github.com") else host, url])
    return links


def _node_item(
    graph: nx.MultiDiGraph, node: str, kind: str, pos: tuple[float, float]
) -> dict[str, Any]:
    data = graph.nodes[node]
    item: dict[str, Any] = {
        "k": node,
        "l": _label(graph, node),
        "t": NODE_TYPES.index(kind),
        "x": round(pos[0]),
        "y": round(pos[1]),
    }
    if kind == "paper":
        item["ti"] = " ".join(str(data.get("title", "")).split())
        for key, out in (("published", "d"), ("organization", "o"), ("upvotes", "u")):
            if data.get(key) not in (None, ""):
                item[out] = data[key]
        if data.get("abstract"):
            item["ex"] = _clip(str(data["abstract"]), EXCERPT_CHARS)
        links = _paper_links(graph, node)
        if links:
            item["a"] = links
    elif kind == "result":
        parts = [str(data.get("text") or data.get("value", ""))]
        for key, word in (("metric_name", ""), ("dataset_name", "on "), ("method_name", "by ")):
            if data.get(key):
                parts.append(f"{word}{data[key]}")
        item["ti"] = " ".join(parts)
        if data.get("sentence"):
            item["ex"] = _sentence(str(data["sentence"]), str(data.get("text", "")))
    else:
        item["p"] = int(data.get("papers", 0))
        name = str(data.get("name", ""))
        if len(name) > LABEL_CHARS:
            item["ti"] = name
        aliases = data.get("aliases") or {}
        names = [
            a
            for a, _ in sorted(aliases.items(), key=lambda kv: (-kv[1], kv[0]))
            if isinstance(a, str) and a != name
        ]
        names += [s for s in data.get("short_forms") or [] if s not in names and s != name]
        if names:
            item["al"] = names[:_ALIASES]
        if kind == "repository" and _safe_url(name):
            item["a"] = [["GitHub" if "github.com/" in name.lower() else "link", name]]
    return item


def _edge_item(
    graph: nx.MultiDiGraph, edge: DrawnEdge, index: Mapping[str, int], strings: _Strings
) -> list[Any]:
    relations = list(EDGE_STYLES)
    rel = relations.index(edge.relation) if edge.relation in EDGE_STYLES else -1
    item: list[Any] = [index[edge.source], index[edge.target], rel]
    first = edge.data[0]
    extra: dict[str, Any] = {}
    if "sentence" in first:
        mention = str(first.get("text", ""))
        extra["s"] = strings.add(_sentence(str(first["sentence"]), mention))
        if mention:
            extra["m"] = mention
        if "confidence" in first:
            extra["c"] = first["confidence"]
    papers: list[str] = []
    if edge.relation == "co_occurs":
        papers = [str(p) for p in first.get("papers", [])]
        extra["n"] = int(first.get("count", len(papers)))
    elif edge.relation == "evaluated_on":
        papers = [str(d["paper"]) for d in edge.data if d.get("paper")]
        extra["n"] = len(papers)
    if papers:
        titles = [
            " ".join(str(graph.nodes[p].get("title", p)).split()) for p in papers[:5] if p in graph
        ]
        extra["p"] = [strings.add(t) for t in titles]
    if extra:
        item.append(extra)
    return item


def page_data(
    graph: nx.MultiDiGraph, selection: Selection, *, title: str = "kgraph", seed: int = 7
) -> dict[str, Any]:
    """The JSON the page draws: nodes with positions, edges, styles, notes."""
    kinds = {n: node_type(graph, n) for n in selection.nodes}
    pos = layout(selection.nodes, ((e.source, e.target) for e in selection.edges), seed=seed)
    index = {n: i for i, n in enumerate(selection.nodes)}
    strings = _Strings()
    nodes = [_node_item(graph, n, kinds[n], pos[n]) for n in selection.nodes]
    edges = [_edge_item(graph, e, index, strings) for e in selection.edges]
    type_counts = Counter(kinds.values())
    rel_counts = Counter(e.relation for e in selection.edges)
    return {
        "title": title,
        "version": __version__,
        "physics": len(nodes) <= PHYSICS_MAX_NODES,
        "focus": None if selection.focus is None else index.get(selection.focus),
        "summary": {
            "nodes": len(nodes),
            "edges": len(edges),
            "graph_nodes": selection.graph_nodes,
            "graph_edges": selection.graph_edges,
            "left_out": sum(selection.left_out.values()),
            "edges_left_out": selection.edges_left_out,
        },
        "notes": list(selection.notes),
        "types": [
            {
                "name": t,
                "color": NODE_STYLES[t][0],
                "shape": NODE_STYLES[t][1],
                "count": type_counts.get(t, 0),
                "entity": t in ENTITY_TYPES,
            }
            for t in NODE_TYPES
        ],
        "relations": [
            {
                "name": r,
                "color": c,
                "width": w,
                "dashes": d,
                "arrow": a,
                "count": rel_counts.get(r, 0),
            }
            for r, (c, w, d, a) in EDGE_STYLES.items()
        ],
        "strings": strings.items,
        "nodes": nodes,
        "edges": edges,
    }


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>``, ``&``, U+2028, U+2029."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


_VIS_MARKER: Final = "/*{{VIS_NETWORK}}*/"
_MARKERS: Final = re.compile(r"\{\{(?:TITLE|DATA|CSP)\}\}|/\*\{\{VIS_NETWORK\}\}\*/")


@lru_cache(maxsize=1)
def _content_security_policy() -> str:
    """Only the page's own inline scripts (by SHA-256) run; no request of any kind is
    allowed, so even injected markup could neither run nor fetch anything."""
    hashes = []
    for body in re.findall(r"<script>([\s\S]*?)</script>", _template()):
        code = vis_network_js() if body == _VIS_MARKER else body
        digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    return (
        f"default-src 'none'; script-src {' '.join(hashes)}; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_selection(graph: nx.MultiDiGraph, selection: Selection, *, title: str = "kgraph") -> str:
    """The page of an already made :class:`Selection`."""
    values = {
        "{{TITLE}}": html.escape(title),
        "{{CSP}}": _content_security_policy(),
        _VIS_MARKER: vis_network_js(),
        "{{DATA}}": _script_json(page_data(graph, selection, title=title)),
    }
    # one pass: nothing substituted is scanned again for markers
    return _MARKERS.sub(lambda m: values[m.group(0)], _template())


def render_html(
    graph: nx.MultiDiGraph,
    *,
    focus: str | None = None,
    depth: int = 1,
    types: Collection[str] | None = None,
    min_papers: int = 1,
    max_nodes: int = 2000,
    title: str = "kgraph",
    prepare: Callable[[Selection], object] | None = None,
) -> str:
    """The explorer page of ``graph`` (see :func:`kgraph.view.select.select` for the options;
    :class:`~kgraph.view.select.NoSuchNode` if ``focus`` names nothing). ``prepare`` is given
    the selection before the page is made from it (an add fills the evidence of the edges it
    draws: :class:`kgraph.graph_delta.LightEdges`)."""
    selection = select(
        graph, focus=focus, depth=depth, types=types, min_papers=min_papers, max_nodes=max_nodes
    )
    if prepare is not None:
        prepare(selection)
    return render_selection(graph, selection, title=title)


def graph_html_bytes(
    graph: nx.MultiDiGraph, prepare: Callable[[Selection], object] | None = None
) -> bytes:
    """``graph.html``, the bundle's default export: the whole graph with the default options
    (``prepare``: :func:`render_html`'s)."""
    return render_html(graph, prepare=prepare).encode("utf-8")


def write_html(
    graph: nx.MultiDiGraph,
    path: str | os.PathLike[str],
    *,
    focus: str | None = None,
    depth: int = 1,
    types: Collection[str] | None = None,
    min_papers: int = 1,
    max_nodes: int = 2000,
    title: str = "kgraph",
) -> Selection:
    """Write the page to ``path`` atomically; returns the selection drawn (for a summary)."""
    from ..io import atomic_write_bytes

    selection = select(
        graph, focus=focus, depth=depth, types=types, min_papers=min_papers, max_nodes=max_nodes
    )
    atomic_write_bytes(path, render_selection(graph, selection, title=title).encode("utf-8"))
    return selection
