"""Graph-database and graph-tool exports: GraphML, GEXF, node-link JSON, Neo4j CSVs, Cypher.

Registers five formats in :mod:`kgraph.exporters`:

``graphml`` (.graphml)
    GraphML for yEd, Gephi, igraph, networkx, Cytoscape. Typed keys (string, int, double,
    boolean); every list or object attribute (authors, aliases, spans, ...) is a JSON string
    under its own name, and the lists people filter on also come "|"-joined as
    ``<name>_joined`` (authors, urls, short_forms, aliases: surfaces by count). Every node has
    a ``label`` (paper title, entity name, result "47.6% accuracy on MGSM") and a ``type``
    (the entity type; ``paper`` / ``result`` for the other kinds) to colour by; every edge a
    unique id (``e0``, ``e1``, ...; the graph is a multigraph), ``label`` (its relation) and
    ``weight`` (``count`` of a ``co_occurs`` edge, else 1).
``gexf`` (.gexf)
    GEXF 1.3 for Gephi, with the same attributes (label, weight native; the edge ``kind`` is
    the relation, so Gephi keeps a ``co_occurs`` and an ``evaluated_on`` edge of one pair apart).
``json`` (.json)
    networkx node-link JSON, byte for byte the bundle's ``graph.json``.
``neo4j`` (a folder) and ``cypher`` (.cypher)
    see :mod:`kgraph.exporters.neo4j`.

Files are streamed (no XML tree in memory) and written atomically. Text that XML 1.0 cannot
hold (control characters) becomes U+FFFD; carriage returns, tabs and newlines survive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

import networkx as nx

from .. import __version__
from . import Exporter, ExportOptions, register
from ._files import atomic_bytes, atomic_text
from .neo4j import write_cypher, write_neo4j

__all__ = ["node_label", "write_gexf", "write_graphml", "write_json", "xml_attr", "xml_text"]

#: list/object attributes that also get a "|"-joined ``<name>_joined`` companion
JOINED: Final = frozenset({"authors", "urls", "short_forms", "aliases"})
JOIN: Final = "|"
_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_CONTAINERS: Final = (list, tuple, dict)

# --- derived attributes --------------------------------------------------------------------------


def node_label(node: str, data: Mapping[str, Any]) -> str:
    """What a viewer shows: a paper's title, an entity's name, "47.6% accuracy on MGSM"."""
    kind = data.get("kind")
    label = ""
    if kind == "paper":
        label = str(data.get("title", ""))
    elif kind == "entity":
        label = str(data.get("name", ""))
    elif kind == "result":
        label = str(data.get("text", ""))
        if "metric_name" in data:
            label += f" {data['metric_name']}"
        if "dataset_name" in data:
            label += f" on {data['dataset_name']}"
    return label or node


def _node_derived(node: str, data: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    kind = data.get("type", data.get("kind", ""))
    return (("label", node_label(node, data)), ("type", kind))


def _edge_derived(data: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    relation = data.get("relation", "")
    weight = data["count"] if relation == "co_occurs" and "count" in data else 1.0
    return (("label", relation), ("weight", weight))


_DERIVED_NODE: Final = {"label": "string", "type": "string"}
_DERIVED_EDGE: Final = {"label": "string", "weight": "double"}


def _joined(value: Any) -> str:
    if isinstance(value, dict):  # aliases {surface: count}: the surfaces, most used first
        items = sorted(value.items(), key=lambda kv: (-kv[1], kv[0]))
        return JOIN.join(str(k) for k, _ in items)
    return JOIN.join(v if isinstance(v, str) else str(v) for v in value)


def _plain(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, _CONTAINERS):
        return _JSON.encode(value)
    return str(value)


# --- attribute typing ----------------------------------------------------------------------------


def _class_type(cls: type) -> str:
    if cls is bool:
        return "boolean"
    if issubclass(cls, int):
        return "int"
    if issubclass(cls, float):
        return "double"
    return "string"


def _merge_type(old: str | None, new: str) -> str:
    if old is None or old == new:
        return new
    if {old, new} == {"int", "double"}:
        return "double"
    return "string"


def _attribute_types(
    datas: Iterable[Mapping[str, Any]], derived: Mapping[str, str]
) -> dict[str, str]:
    """Attribute name -> GraphML type: the derived ones first, then kind/type/relation, A-Z.

    Lists and objects are strings (JSON), plus ``<name>_joined`` for :data:`JOINED`; numbers
    mixing ints and floats are doubles; any other mix is a string.
    """
    seen: set[tuple[str, type]] = set()
    for data in datas:
        seen.update(zip(data, map(type, data.values()), strict=True))
    found: dict[str, str] = {}
    for name, cls in sorted(seen, key=lambda nc: (nc[0], nc[1].__name__)):
        if name in derived:
            continue
        if issubclass(cls, _CONTAINERS):
            found[name] = "string"
            if name in JOINED:
                found[f"{name}_joined"] = "string"
        else:
            found[name] = _merge_type(found.get(name), _class_type(cls))
    types = dict(derived)
    first = [n for n in ("kind", "type", "relation") if n in found]
    for name in first + sorted(n for n in found if n not in first):
        types.setdefault(name, found[name])
    return types


# --- XML text -----------------------------------------------------------------------------------

_XML_INVALID: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text) if _XML_INVALID.search(text) else text


def xml_text(text: str) -> str:
    """``text`` as XML character data (escaped; characters XML cannot hold become U+FFFD)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if not (text.isascii() and text.isprintable()):
        text = _clean(text)
        if "\r" in text:  # a parser would read a raw CR as a newline
            text = text.replace("\r", "&#13;")
    return text


def xml_attr(text: str) -> str:
    """``text`` as a double-quoted XML attribute value (newlines and tabs kept as references)."""
    text = xml_text(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if not text.isprintable():
        text = text.replace("\n", "&#10;").replace("\t", "&#9;")
    return text


Render = Callable[[Any], str]


def _renderer(kind: str, escape: Render) -> Render:
    if kind == "int":
        return str
    if kind == "double":
        return lambda v: repr(float(v))
    if kind == "boolean":
        return lambda v: "true" if v else "false"
    return lambda v: escape(v if type(v) is str else _plain(v))


class _Columns:
    """The attributes of one scope (nodes or edges): key id, type and renderer of each."""

    def __init__(
        self,
        types: Mapping[str, str],
        ids: Iterable[str],
        escape: Render,
        derived: Iterable[str] = (),
    ) -> None:
        self.types = dict(types)
        self.ids = dict(zip(types, ids, strict=False))
        self.columns = {n: (self.ids[n], _renderer(kind, escape)) for n, kind in types.items()}
        self.derived = frozenset(derived)  # computed, not read from the attributes
        self.joined = {n: self.columns[f"{n}_joined"] for n in JOINED if f"{n}_joined" in types}

    def cells(
        self, derived: tuple[tuple[str, Any], ...], data: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """(key id, rendered value) of every attribute of one node or edge that has a column."""
        columns, skip, joined = self.columns, self.derived, self.joined
        out = [(columns[n][0], columns[n][1](v)) for n, v in derived if n in columns]
        for name, value in data.items():
            column = columns.get(name)
            if column is None or name in skip:
                continue
            out.append((column[0], column[1](value)))
            if name in joined and isinstance(value, _CONTAINERS):
                key, render = joined[name]
                out.append((key, render(_joined(value))))
        return out


# --- GraphML -------------------------------------------------------------------------------------

_GRAPHML_HEAD: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns'
    ' http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def _graphml_lines(graph: nx.MultiDiGraph) -> Iterator[str]:
    node_types = _attribute_types((d for _, d in graph.nodes(data=True)), _DERIVED_NODE)
    edge_types = _attribute_types((d for _, _, d in graph.edges(data=True)), _DERIVED_EDGE)
    graph_types = {
        k: _class_type(type(v)) for k, v in graph.graph.items() if not isinstance(v, _CONTAINERS)
    }
    # key ids d0, d1, ... across the three scopes
    ids = iter([f"d{i}" for i in range(len(graph_types) + len(node_types) + len(edge_types))])
    columns = {
        "graph": _Columns(graph_types, ids, xml_text),
        "node": _Columns(node_types, ids, xml_text, _DERIVED_NODE),
        "edge": _Columns(edge_types, ids, xml_text, _DERIVED_EDGE),
    }
    yield _GRAPHML_HEAD
    for scope, cols in columns.items():
        for name, kind in cols.types.items():
            yield (
                f'<key id="{cols.ids[name]}" for="{scope}" attr.name="{xml_attr(name)}"'
                f' attr.type="{kind}"/>\n'
            )
    yield '<graph id="kgraph" edgedefault="directed">\n'
    for key, text in columns["graph"].cells((), graph.graph):
        yield f'<data key="{key}">{text}</data>\n'
    nodes, edges = columns["node"], columns["edge"]
    for node, data in graph.nodes(data=True):
        cells = "".join(
            [f'<data key="{k}">{t}</data>' for k, t in nodes.cells(_node_derived(node, data), data)]
        )
        yield f'<node id="{xml_attr(str(node))}">{cells}</node>\n'
    for i, (source, target, data) in enumerate(graph.edges(data=True)):
        cells = "".join(
            [f'<data key="{k}">{t}</data>' for k, t in edges.cells(_edge_derived(data), data)]
        )
        yield (
            f'<edge id="e{i}" source="{xml_attr(str(source))}" target="{xml_attr(str(target))}">'
            f"{cells}</edge>\n"
        )
    yield "</graph>\n</graphml>\n"


def _write_lines(lines: Iterable[str], fh: TextIO) -> None:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 4096:
            fh.write("".join(batch))
            batch.clear()
    fh.write("".join(batch))


def write_graphml(graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write ``graph`` as GraphML to ``target`` (atomically); ``[target]``."""
    with atomic_text(target, newline="\n") as fh:
        _write_lines(_graphml_lines(graph), fh)
    return [target]


# --- GEXF ---------------------------------------------------------------------------------------

_GEXF_TYPES: Final = {
    "string": "string",
    "int": "integer",
    "double": "double",
    "boolean": "boolean",
}
_GEXF_HEAD: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gexf xmlns="http://gexf.net/1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n'
)
_GEXF_NATIVE: Final = ("label", "weight")  # GEXF attributes of their own, not attvalues


def _attvalues(cells: list[tuple[str, str]]) -> str:
    if not cells:
        return ""
    values = "".join([f'<attvalue for="{k}" value="{t}"/>' for k, t in cells])
    return f"<attvalues>{values}</attvalues>"


def _gexf_lines(graph: nx.MultiDiGraph) -> Iterator[str]:
    node_types = _attribute_types((d for _, d in graph.nodes(data=True)), _DERIVED_NODE)
    edge_types = _attribute_types((d for _, _, d in graph.edges(data=True)), _DERIVED_EDGE)
    node_types = {n: t for n, t in node_types.items() if n not in _GEXF_NATIVE}
    edge_types = {n: t for n, t in edge_types.items() if n not in _GEXF_NATIVE}
    nodes = _Columns(node_types, map(str, range(len(node_types))), xml_attr, _DERIVED_NODE)
    edges = _Columns(edge_types, map(str, range(len(edge_types))), xml_attr, _DERIVED_EDGE)
    yield _GEXF_HEAD
    version = graph.graph.get("kgraph_version", __version__)
    yield (
        f"<meta><creator>kgraph {xml_text(str(version))}</creator>"
        "<description>knowledge graph of ML papers: papers, entities (methods, datasets,"
        " benchmarks, metrics, tasks, repositories), results</description></meta>\n"
    )
    yield '<graph mode="static" defaultedgetype="directed">\n'
    for scope, cols in (("node", nodes), ("edge", edges)):
        yield f'<attributes class="{scope}">\n'
        for name, kind in cols.types.items():
            yield (
                f'<attribute id="{cols.ids[name]}" title="{xml_attr(name)}"'
                f' type="{_GEXF_TYPES[kind]}"/>\n'
            )
        yield "</attributes>\n"
    yield "<nodes>\n"
    for node, data in graph.nodes(data=True):
        derived = _node_derived(node, data)
        yield (
            f'<node id="{xml_attr(str(node))}" label="{xml_attr(str(derived[0][1]))}">'
            f"{_attvalues(nodes.cells(derived, data))}</node>\n"
        )
    yield "</nodes>\n<edges>\n"
    for i, (source, target, data) in enumerate(graph.edges(data=True)):
        derived = _edge_derived(data)
        label = xml_attr(str(derived[0][1]))
        yield (
            f'<edge id="e{i}" source="{xml_attr(str(source))}" target="{xml_attr(str(target))}"'
            f' label="{label}" kind="{label}" weight="{float(derived[1][1])!r}">'
            f"{_attvalues(edges.cells(derived, data))}</edge>\n"
        )
    yield "</edges>\n</graph>\n</gexf>\n"


def write_gexf(graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write ``graph`` as GEXF 1.3 to ``target`` (atomically); ``[target]``."""
    with atomic_text(target, newline="\n") as fh:
        _write_lines(_gexf_lines(graph), fh)
    return [target]


# --- node-link JSON -------------------------------------------------------------------------------


def write_json(graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write ``graph`` as node-link JSON, the same bytes as a bundle's ``graph.json``."""
    from ..graphfile import write_graph_json

    with atomic_bytes(target) as fh:
        write_graph_json(graph, fh)
    return [target]


register(
    Exporter(
        "graphml",
        "GraphML (yEd, Gephi, igraph, networkx, Cytoscape); lists as JSON strings",
        ".graphml",
        write_graphml,
        "application/graphml+xml",
    )
)
register(Exporter("gexf", "GEXF 1.3 (Gephi)", ".gexf", write_gexf, "application/gexf+xml"))
register(
    Exporter(
        "json",
        "networkx node-link JSON (the bundle's graph.json)",
        ".json",
        write_json,
        "application/json",
    )
)
register(
    Exporter(
        "neo4j",
        "Neo4j: a folder of bulk-import CSVs, import.sh (neo4j-admin) and load.cypher",
        "",
        write_neo4j,
        "text/csv",
        is_folder=True,
    )
)
register(
    Exporter(
        "cypher",
        "Cypher script loading the neo4j CSVs with LOAD CSV (constraints, indexes, batches)",
        ".cypher",
        write_cypher,
        "application/x-cypher-query",
    )
)
