"""graph.json read item by item (kgraph/graphfile.py), `kgraph stats` from it without the graph,
and `kgraph export` copying the bundle's own graph.ttl / graph.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from _seed import seed_bundle
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import kgraph.bundle as bundle_module
import kgraph.graphfile as graphfile_module
from kgraph.bundle import BundleError, bundle_stats, load_graph
from kgraph.exporters import export_bundle
from kgraph.graph import graph_from_data
from kgraph.graphfile import GraphFile, GraphFileError, graph_json
from kgraph.rdf import convert
from kgraph.rdf.convert import serialize
from kgraph.stats import Tally


def _same(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> None:
    """Same graph attributes, nodes and edges, with their data, in the same order."""
    assert a.graph == b.graph
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(keys=True, data=True)) == list(b.edges(keys=True, data=True))


def _whole(path: Path) -> nx.MultiDiGraph:
    """The document parsed whole (what kgraph did before)."""
    return graph_from_data(orjson.loads(path.read_bytes()))


def test_seed_graph_is_read_line_by_line_as_parsed_whole() -> None:
    path = seed_bundle() / "graph.json"
    manifest = json.loads((seed_bundle() / "manifest.json").read_text(encoding="utf-8"))
    source = GraphFile(path, manifest["files"]["graph.json"]["sha256"])
    assert source.streamed
    whole = _whole(path)
    assert (source.number_of_nodes, source.number_of_edges) == (
        whole.number_of_nodes(),
        whole.number_of_edges(),
    )
    graph = source.graph()
    _same(graph, whole)
    assert graph_json(graph) == path.read_bytes()


_text = st.text(st.characters(codec="utf-8"), max_size=12)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_attrs = st.dictionaries(
    _text.filter(lambda k: k not in ("id", "source", "target", "key")), _json_value, max_size=4
)


@st.composite
def graphs(draw: Callable[..., Any]) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(**draw(_attrs))
    ids = draw(st.lists(_text, unique=True, max_size=8))
    for node in ids:
        g.add_node(node, **draw(_attrs))
    if ids:
        pairs = draw(
            st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids), _text), max_size=12)
        )
        for u, v, key in pairs:
            g.add_edge(u, v, key, **draw(_attrs))
    return g


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(graph=graphs(), chunk=st.integers(1, 300))
@example(graph=nx.MultiDiGraph(), chunk=1)
@example(  # text that looks like the file's own structure, and line separators
    graph=nx.MultiDiGraph(
        [("]", '"nodes":[', "\n]", {"x": '],"nodes":[\n', "y": "\u2028\u0085{"})],
        name='"edges":[',
    ),
    chunk=1,
)
def test_any_graph_reads_back_as_parsed_whole(
    tmp_path: Path, graph: nx.MultiDiGraph, chunk: int
) -> None:
    """Whatever the graph holds (strings that look like the file's structure, line
    separators, nesting, no node at all), reading graph.json line by line gives what parsing
    it whole gives: nodes first in file order, then the edges with their keys. The writer's
    pieces (of ``chunk`` bytes or more) do not change a byte."""
    path = tmp_path / "graph.json"
    data = graph_json(graph)
    default, graphfile_module._CHUNK = graphfile_module._CHUNK, chunk
    try:
        assert graph_json(graph) == data
    finally:
        graphfile_module._CHUNK = default
    path.write_bytes(data)
    source = GraphFile(path)
    assert source.streamed
    back = source.graph()
    _same(back, _whole(path))
    assert graph_json(back) == data


@pytest.mark.parametrize(
    "write",
    [
        lambda d: json.dumps(d, indent=1),  # pretty-printed: items over several lines
        lambda d: json.dumps(d),  # one line
        lambda d: json.dumps({k: d[k] for k in ("nodes", "graph", "edges", "directed")}),
    ],
    ids=["indented", "one-line", "other-order"],
)
def test_other_layouts_are_read_whole(tmp_path: Path, write: Callable[[Any], str]) -> None:
    """Node-link JSON in another layout than kgraph's is still read (whole)."""
    seed = seed_bundle() / "graph.json"
    whole = _whole(seed)
    path = tmp_path / "graph.json"
    path.write_text(write(json.loads(seed.read_bytes())), encoding="utf-8")
    source = GraphFile(path)
    assert not source.streamed
    _same(source.graph(), whole)


def test_a_damaged_line_is_named(tmp_path: Path) -> None:
    lines = (seed_bundle() / "graph.json").read_bytes().split(b"\n")
    lines[1] = lines[1][: len(lines[1]) // 2]  # the first edge, cut in half
    path = tmp_path / "graph.json"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(GraphFileError, match=r"graph\.json:2: damaged edge"):
        list(GraphFile(path).edges())
    nodeless = b"\n".join(lines).replace(b'"id":', b'"ix":', 1)
    path.write_bytes(nodeless)
    with pytest.raises(GraphFileError, match=r"graph\.json:\d+: a node without an 'id'"):
        list(GraphFile(path).nodes())
    path.write_bytes(b"not json at all\n")
    with pytest.raises(GraphFileError, match=r"graph\.json: not JSON"):
        GraphFile(path)


def test_a_bundle_whose_graph_changed_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder, ignore=shutil.ignore_patterns("store"))
    with (folder / "graph.json").open("ab") as fh:
        fh.write(b" ")
    with pytest.raises(BundleError, match=r"does not match manifest\.json"):
        load_graph(folder)
    with pytest.raises(BundleError, match=r"does not match manifest\.json"):
        bundle_stats(folder)
    (folder / "graph.json").unlink()
    with pytest.raises(BundleError, match=r"graph\.json: missing or unreadable"):
        bundle_stats(folder)


# --- stats -------------------------------------------------------------------------------------


def _stats_from_graph(graph: nx.MultiDiGraph, top: int) -> dict[str, Any]:
    """What `kgraph stats` computed from the whole graph before (networkx's components)."""
    g = nx.Graph()
    g.add_nodes_from(n for n, a in graph.nodes(data=True) if a.get("kind") in ("paper", "entity"))
    for u, v, a in graph.edges(data=True):
        if a.get("relation") != "co_occurs" and u in g and v in g:
            g.add_edge(u, v)
    comps = sorted(nx.connected_components(g), key=len, reverse=True)
    largest = comps[0] if comps else set()
    papers = sum(1 for n in g if n.startswith("paper:"))
    in_largest = sum(1 for n in largest if n.startswith("paper:"))
    entities = sorted(
        (
            (a.get("papers", 0), n, a)
            for n, a in graph.nodes(data=True)
            if a.get("kind") == "entity"
        ),
        key=lambda t: (-t[0], t[1]),
    )
    return {
        "components": {
            "count": len(comps),
            "largest_nodes": len(largest),
            "largest_papers": in_largest,
            "largest_share_of_papers": round(in_largest / papers, 4) if papers else 0.0,
            "isolated_papers": sum(
                1 for c in comps if len(c) == 1 and next(iter(c)).startswith("paper:")
            ),
        },
        "top_entities": [
            {"id": a.get("entity_id", n), "name": a.get("name"), "type": a.get("type"), "papers": p}
            for p, n, a in entities[:top]
        ],
    }


def test_stats_without_the_graph_match_the_graph() -> None:
    figures = bundle_stats(seed_bundle(), top=30)
    _, graph = load_graph(seed_bundle())
    expected = _stats_from_graph(graph, 30)
    assert figures["components"] == expected["components"]
    assert figures["top_entities"] == expected["top_entities"]
    manifest = json.loads((seed_bundle() / "manifest.json").read_text(encoding="utf-8"))
    for key in ("papers", "entities", "results", "edges", "edges_by_relation"):
        assert figures[key] == manifest["counts"][key], key


@settings(max_examples=150, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(["paper", "entity", "result"]), min_size=0, max_size=14),
    edges=st.lists(
        st.tuples(st.integers(0, 13), st.integers(0, 13), st.sampled_from(["uses", "co_occurs"])),
        max_size=20,
    ),
    papers=st.lists(st.integers(0, 3), min_size=14, max_size=14),
    top=st.integers(0, 5),
)
def test_tally_components_and_top_match_networkx(
    kinds: list[str], edges: list[tuple[int, int, str]], papers: list[int], top: int
) -> None:
    """Components (ties between equal largest components included) and the top entities
    (ties between equal paper counts included) as networkx and a sort give them."""
    graph = nx.MultiDiGraph()
    for i, kind in enumerate(kinds):
        attrs: dict[str, Any] = {"kind": kind}
        if kind == "entity":
            attrs.update(papers=papers[i], name=f"e{i}", type="method", entity_id=f"method/e{i}")
        graph.add_node(f"{kind}:{i:02d}", **attrs)
    names = list(graph.nodes)
    for a, b, relation in edges:
        if a < len(names) and b < len(names):
            graph.add_edge(names[a], names[b], relation, relation=relation)
    tally = Tally(components=True, top=top)
    for node, attrs in graph.nodes(data=True):
        tally.node(node, attrs)
    for u, v, key, attrs in graph.edges(keys=True, data=True):
        tally.edge(u, v, key, attrs)
    expected = _stats_from_graph(graph, top)
    assert tally.components() == expected["components"]
    assert tally.top_entities() == expected["top_entities"]


# --- export ------------------------------------------------------------------------------------


def test_export_copies_the_bundles_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ttl and json at the default base are the bundle's graph.ttl and graph.json, copied
    without making the graph; a file that does not match its manifest is made again from the
    graph; another base is made from the graph."""
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder, ignore=shutil.ignore_patterns("store"))
    _, graph = load_graph(folder)
    made = tmp_path / "made.ttl"
    with made.open("wb") as fh:
        serialize(graph, "ttl", fh)

    def no_graph(_: object) -> None:
        raise AssertionError("the graph was made")

    with monkeypatch.context() as m:
        m.setattr(bundle_module, "load_graph", no_graph)
        assert export_bundle(folder, "ttl", tmp_path / "a.ttl") == [tmp_path / "a.ttl"]
        export_bundle(folder, "json", tmp_path / "a.json")
    assert (tmp_path / "a.ttl").read_bytes() == made.read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (folder / "graph.json").read_bytes()

    with (folder / "graph.ttl").open("ab") as fh:  # changed by hand
        fh.write(b"# not from kgraph\n")
    export_bundle(folder, "ttl", tmp_path / "b.ttl")
    assert (tmp_path / "b.ttl").read_bytes() == made.read_bytes()
    assert not list(tmp_path.glob(".b.ttl.*"))  # the abandoned copy is gone

    export_bundle(folder, "ttl", tmp_path / "c.ttl", base="https://example.org/kg/")
    other = (tmp_path / "c.ttl").read_text(encoding="utf-8")
    assert "https://example.org/kg/" in other and "w3id.org/kgraph/id/" not in other

    # graph.ttl of another RDF mapping (here: a bundle that does not say which) is made
    # again; graph.json is the graph itself, whatever the mapping
    shutil.copyfile(made, folder / "graph.ttl")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.pop("rdf_version") == convert.RDF_VERSION
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(bundle_module, "load_graph", no_graph)
        export_bundle(folder, "json", tmp_path / "d.json")
        with pytest.raises(AssertionError, match="the graph was made"):
            export_bundle(folder, "ttl", tmp_path / "d.ttl")
        # the default base however it is written
        manifest["rdf_version"] = convert.RDF_VERSION
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        export_bundle(folder, "ttl", tmp_path / "e.ttl", base="https://w3id.org/kgraph/id")
    assert (tmp_path / "e.ttl").read_bytes() == made.read_bytes()


# --- view --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"focus": "DPO", "depth": 2}, {"max_nodes": 60}, {"types": ["paper", "dataset"]}],
    ids=["default", "focus", "max-nodes", "types"],
)
def test_view_reads_what_the_selection_needs_then_the_rest(options: dict[str, Any]) -> None:
    """The explorer's graph without abstracts and evidence, filled in for what is kept after
    the selection: the page is byte for byte the one made from the whole graph."""
    from kgraph.view import render_selection, select
    from kgraph.view.source import fill, read_for_view

    _, whole = load_graph(seed_bundle())
    expected = render_selection(whole, select(whole, **options))
    source = GraphFile(seed_bundle() / "graph.json")
    lean = read_for_view(source)
    assert all("abstract" not in a for _, a in lean.nodes(data=True))
    assert all(
        set(a) <= {"relation", "count", "\x00place"} for *_, a in lean.edges(keys=True, data=True)
    )
    selection = select(lean, **options)
    fill(lean, source, selection)
    assert render_selection(lean, selection) == expected


@pytest.mark.parametrize("indent", [None, 1], ids=["line-by-line", "read-whole"])
def test_each_item_is_read_again_from_its_place(tmp_path: Path, indent: int | None) -> None:
    """Places (a byte offset; an index when the file is read whole) give each item back, as
    often as asked; the explorer reads what it keeps again from them, in either layout."""
    from kgraph.view import render_selection, select
    from kgraph.view.source import fill, read_for_view

    path = tmp_path / "graph.json"
    seed = seed_bundle() / "graph.json"
    if indent is None:
        shutil.copyfile(seed, path)
    else:
        path.write_text(json.dumps(json.loads(seed.read_bytes()), indent=indent), "utf-8")
    source = GraphFile(path)
    assert source.streamed == (indent is None)
    for _ in range(2):
        for place, node, attrs in source.placed_nodes():
            assert source.node_at(place) == (node, attrs)
        for place, *edge in source.placed_edges():
            assert list(source.edge_at(place)) == edge
    _, whole = load_graph(seed_bundle())
    lean = read_for_view(source)
    selection = select(lean, max_nodes=300)
    fill(lean, source, selection)
    expected = render_selection(whole, select(whole, max_nodes=300))
    assert render_selection(lean, selection) == expected
