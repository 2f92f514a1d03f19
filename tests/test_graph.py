"""The graph: node and edge kinds, evidence on every paper -> entity edge, derived edges, and
the seed graph against schemas/graph.schema.json."""

from __future__ import annotations

import json
import re
from itertools import combinations

import jsonschema
import networkx as nx
import pytest
from _seed import ROOT, seed_bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.extractions import Extraction
from kgraph.graph import (
    _co_occurs_edges,
    add_keyed_edges,
    build_graph,
    graph_from_data,
    paper_relation,
)
from kgraph.graphfile import graph_json
from kgraph.records import Entity, Mention, Paper
from kgraph.resolve import Gazetteer, GazetteerEntry, resolve

GAZ = Gazetteer(
    [
        GazetteerEntry("dataset/imagenet", "dataset", "ImageNet", ("ImageNet-1K",)),
        GazetteerEntry("metric/accuracy", "metric", "accuracy", ()),
    ]
)

# name -> (type, relation, gazetteer id)
KNOWN: dict[str, tuple[str, str, str | None]] = {
    "FooNet": ("method", "proposes", None),
    "BarNet": ("method", "proposes", None),
    "ResNet": ("method", "uses", None),
    "ImageNet": ("dataset", "uses", "dataset/imagenet"),
    "ImageNet-1K": ("dataset", "uses", "dataset/imagenet"),
    "accuracy": ("metric", "uses", "metric/accuracy"),
    "image classification": ("task", "uses", None),
    "https://github.com/x/foonet": ("repository", "code", None),
}


def paper_and_extraction(title: str, abstract: str, names: list[str]) -> tuple[Paper, Extraction]:
    """A paper and its entities: ``names`` from KNOWN, "name=relation" to change the relation."""
    paper = Paper.make(title, abstract)
    text = paper.text
    entities = []
    for item in names:
        name, _, relation = item.partition("=")
        typ, rel, kb = KNOWN[name]
        rel = relation or rel
        mentions = []
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            start, end = m.start(), m.end()
            if end <= len(title):
                sentence = title
            else:
                left = text.rfind(". ", 0, start)
                left = len(title) + 2 if left == -1 else left + 2
                right = text.find(". ", end)
                sentence = text[left : len(text) if right == -1 else right + 1].strip()
            mentions.append(Mention(start, end, name, "test", sentence))
        assert mentions, name
        entities.append(Entity(name, typ, rel, 0.8, (), tuple(mentions), kb))
    return paper, Extraction(paper.id, title, tuple(entities), ())


@pytest.fixture(scope="module")
def small() -> tuple[dict[str, Paper], nx.MultiDiGraph]:
    rows = [
        paper_and_extraction(
            "FooNet: fast nets",
            "We propose FooNet. FooNet achieves 85.3% accuracy on ImageNet, built on ResNet. "
            "Code: https://github.com/x/foonet",
            ["FooNet", "ImageNet", "accuracy", "ResNet", "https://github.com/x/foonet"],
        ),
        paper_and_extraction(
            "BarNet for image classification",
            "BarNet improves accuracy by 2.5% on ImageNet-1K over FooNet. ImageNet is hard.",
            [
                "BarNet",
                "image classification",
                "accuracy",
                "ImageNet-1K",
                "ImageNet",
                "FooNet=uses",
            ],
        ),
        paper_and_extraction(
            "A survey of benchmarks",
            "We review ImageNet and how accuracy is measured.",
            ["ImageNet", "accuracy"],
        ),
    ]
    papers = {p.id: p for p, _ in rows}
    resolution = resolve([x for _, x in rows], GAZ)
    return papers, build_graph(papers.values(), resolution)


def pid(papers: dict[str, Paper], title: str) -> str:
    return "paper:" + next(p.id for p in papers.values() if p.title == title)


def test_nodes(small: tuple[dict[str, Paper], nx.MultiDiGraph]) -> None:
    _, g = small
    kinds = {n: a["kind"] for n, a in g.nodes(data=True)}
    assert sum(k == "paper" for k in kinds.values()) == 3
    entities = sorted(n for n, k in kinds.items() if k == "entity")
    assert entities == [
        "entity:dataset/imagenet",
        "entity:method/barnet",
        "entity:method/foonet",
        "entity:method/resnet",
        "entity:metric/accuracy",
        "entity:repository/https-github-com-x-foonet",
        "entity:task/image-classification",
    ]
    imagenet = g.nodes["entity:dataset/imagenet"]
    assert imagenet["papers"] == 3 and imagenet["aliases"] == {"ImageNet": 3, "ImageNet-1K": 1}
    assert list(g.nodes) == sorted(
        g.nodes, key=lambda n: ("pe".index(n[0]) if n[0] in "pe" else 2, n)
    )


def test_paper_entity_edges_and_their_evidence(
    small: tuple[dict[str, Paper], nx.MultiDiGraph],
) -> None:
    papers, g = small
    foo = pid(papers, "FooNet: fast nets")
    bar = pid(papers, "BarNet for image classification")
    rel = {
        (u, v): k
        for u, v, k in g.edges(keys=True)
        if u.startswith("paper:") and v.startswith("entity:")
    }
    assert rel[(foo, "entity:method/foonet")] == "proposes"
    assert rel[(foo, "entity:dataset/imagenet")] == "uses_dataset"
    assert rel[(foo, "entity:metric/accuracy")] == "uses_metric"
    assert rel[(foo, "entity:method/resnet")] == "uses_method"
    assert rel[(foo, "entity:repository/https-github-com-x-foonet")] == "code"
    assert rel[(bar, "entity:task/image-classification")] == "addresses"
    assert rel[(bar, "entity:method/foonet")] == "uses_method"
    for u, v, attrs in g.edges(data=True):
        if not (u.startswith("paper:") and v.startswith("entity:")):
            continue
        text = papers[u.removeprefix("paper:")].text
        assert text[attrs["start"] : attrs["end"]] == attrs["text"]
        assert attrs["text"] in attrs["sentence"] and attrs["sentence"] in text
        assert attrs["component"] == "test" and 0 < attrs["confidence"] <= 1
        assert attrs["mentions"] == len(attrs["spans"]) >= 1
        assert all(text[a:b] for a, b in attrs["spans"])
    # two per-paper entities (ImageNet-1K, ImageNet) -> one edge holding both mentions
    both = g.get_edge_data(bar, "entity:dataset/imagenet")
    assert list(both) == ["uses_dataset"] and both["uses_dataset"]["mentions"] == 2
    assert both["uses_dataset"]["text"] == "ImageNet-1K"  # the first mention is the evidence


def test_evaluated_on_is_derived_per_paper(small: tuple[dict[str, Paper], nx.MultiDiGraph]) -> None:
    papers, g = small
    ev = [(u, v, a) for u, v, a in g.edges(data=True) if a["relation"] == "evaluated_on"]
    assert sorted((u, v, a["paper"]) for u, v, a in ev) == [
        (
            "entity:method/barnet",
            "entity:dataset/imagenet",
            pid(papers, "BarNet for image classification"),
        ),
        ("entity:method/foonet", "entity:dataset/imagenet", pid(papers, "FooNet: fast nets")),
    ]  # FooNet is only used by the BarNet paper: no edge from that paper
    assert all(a["results"] == 1 for _, _, a in ev)


def test_co_occurs_counts_papers(small: tuple[dict[str, Paper], nx.MultiDiGraph]) -> None:
    _, g = small
    co = {(u, v): a for u, v, k, a in g.edges(keys=True, data=True) if k == "co_occurs"}
    assert co[("entity:dataset/imagenet", "entity:metric/accuracy")]["count"] == 3
    assert co[("entity:dataset/imagenet", "entity:method/foonet")]["count"] == 2
    # named together by one paper only: joined through that paper, no co_occurs edge
    assert ("entity:dataset/imagenet", "entity:method/resnet") not in co
    assert all(a["count"] >= 2 and len(a["papers"]) == a["count"] for a in co.values())
    assert ("entity:metric/accuracy", "entity:dataset/imagenet") not in co  # one edge per pair
    assert all(u < v for u, v in co)
    assert not any("repository" in u or "repository" in v for u, v in co)
    assert co[("entity:dataset/imagenet", "entity:metric/accuracy")]["papers"] == sorted(
        n for n, a in g.nodes(data=True) if a["kind"] == "paper"
    )


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.integers(0, 40).map(lambda n: f"paper:p{n:02d}"),
        st.lists(st.sampled_from([f"method/m{i}" for i in range(12)] + ["code/r"]), max_size=9),
        max_size=25,
    )
)
def test_co_occurs_edges_are_the_pairs_named_by_two_papers(
    named: dict[str, list[str]],
) -> None:
    """The pair counting (numpy, by paper size) against its definition: every pair of
    entities (but repositories, not counted) two or more papers name together, with those
    papers in order; a paper may name an entity more than once."""
    counted = {f"method/m{i}": f"entity:method/m{i}" for i in range(12)}
    papers_of: dict[tuple[str, str], list[str]] = {}
    for p in sorted(named):
        nodes = sorted({counted[c] for c in named[p] if c in counted})
        for a, b in combinations(nodes, 2):
            papers_of.setdefault((a, b), []).append(p)
    expected = {
        (a, b, "co_occurs"): {"relation": "co_occurs", "count": len(ps), "papers": ps}
        for (a, b), ps in papers_of.items()
        if len(ps) >= 2
    }
    pnodes = sorted(named)
    got = _co_occurs_edges(pnodes, [named[p] for p in pnodes], counted)
    assert {(u, v, k): attrs for u, v, k, attrs in got} == expected
    assert len(got) == len(expected)


def test_results_hang_off_their_paper(small: tuple[dict[str, Paper], nx.MultiDiGraph]) -> None:
    papers, g = small
    res = {n: a for n, a in g.nodes(data=True) if a["kind"] == "result"}
    by_value = {a["value"]: a for a in res.values()}
    assert set(by_value) == {85.3, 2.5}
    foo = by_value[85.3]
    assert (foo["result_type"], foo["unit"]) == ("absolute", "%")
    assert (foo["method"], foo["dataset"], foo["metric"]) == (
        "entity:method/foonet",
        "entity:dataset/imagenet",
        "entity:metric/accuracy",
    )
    bar = by_value[2.5]
    assert bar["result_type"] == "gain" and bar["method"] == "entity:method/barnet"
    for n, a in res.items():
        assert g.has_edge(a["paper"], n, key="reports")
        text = papers[a["paper"].removeprefix("paper:")].text
        assert text[a["start"] : a["end"]] == a["text"]


@pytest.mark.parametrize(
    ("relation", "typ", "expected"),
    [
        ("proposes", "method", "proposes"),
        ("introduces", "method", "proposes"),  # resolved to a method by the other papers
        ("proposes", "dataset", "introduces"),
        ("introduces", "benchmark", "introduces"),
        ("uses", "task", "addresses"),
        ("introduces", "task", "addresses"),
        ("uses", "metric", "uses_metric"),
        ("uses", "repository", "code"),
        ("code", "repository", "code"),
    ],
)
def test_paper_relation(relation: str, typ: str, expected: str) -> None:
    assert paper_relation(relation, typ) == expected


def test_node_link_round_trip(small: tuple[dict[str, Paper], nx.MultiDiGraph]) -> None:
    _, g = small
    data = graph_json(g)
    back = graph_from_data(json.loads(data))
    assert isinstance(back, nx.MultiDiGraph)
    assert graph_json(back) == data
    assert nx.utils.graphs_equal(g, back)


def test_seed_graph_matches_the_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "graph.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads((seed_bundle() / "graph.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{list(e.absolute_path)[:3]}: {e.message[:200]}" for e in validator.iter_errors(data)
    ]
    assert errors == []
    relations = {e["relation"] for e in data["edges"]}
    assert {
        "proposes",
        "introduces",
        "uses_method",
        "uses_dataset",
        "addresses",
        "code",
    } <= relations
    assert {"evaluated_on", "co_occurs", "reports"} <= relations


def test_schema_rejects_an_edge_without_evidence() -> None:
    schema = json.loads((ROOT / "schemas" / "graph.schema.json").read_text(encoding="utf-8"))
    data = json.loads((seed_bundle() / "graph.json").read_text(encoding="utf-8"))
    edge = next(e for e in data["edges"] if e["relation"] == "proposes")
    bad = {**data, "nodes": [], "edges": [{k: v for k, v in edge.items() if k != "spans"}]}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_seed_evidence_points_into_the_paper_text() -> None:
    data = json.loads((seed_bundle() / "graph.json").read_text(encoding="utf-8"))
    nodes = {n["id"]: n for n in data["nodes"]}
    checked = 0
    for e in data["edges"]:
        paper = nodes[e["source"]]
        if paper["kind"] != "paper" or "start" not in e:
            continue
        text = f"{paper['title']}\n\n{paper['abstract']}" if paper["abstract"] else paper["title"]
        assert text[e["start"] : e["end"]] == e["text"], e
        assert e["text"] in e["sentence"]
        checked += 1
    assert checked > 2000


def test_graph_json_is_written_sorted() -> None:
    data = json.loads((seed_bundle() / "graph.json").read_text(encoding="utf-8"))
    ids = [n["id"] for n in data["nodes"]]
    order = {"paper": 0, "entity": 1, "result": 2}
    assert [order[n["kind"]] for n in data["nodes"]] == sorted(
        order[n["kind"]] for n in data["nodes"]
    )
    assert [i for i in ids if i.startswith("entity:")] == sorted(
        i for i in ids if i.startswith("entity:")
    )
    # edges come by source, in node order; from one source sorted by target and key
    position = {n: i for i, n in enumerate(ids)}
    keys = [(position[e["source"]], e["target"], e["key"]) for e in data["edges"]]
    assert keys == sorted(keys)


def _same_graph(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> None:
    """The same nodes, edges and attributes, each adjacency in the same order."""
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(keys=True, data=True)) == list(b.edges(keys=True, data=True))
    for n in a:
        assert list(a._succ[n].items()) == list(b._succ[n].items())
        assert list(a._pred[n].items()) == list(b._pred[n].items())


def test_keyed_edges_make_the_graph_networkx_makes() -> None:
    """The seed graph's edges, added without copying their attributes, give the graph
    ``add_edges_from`` gives."""
    data = json.loads((seed_bundle() / "graph.json").read_text(encoding="utf-8"))
    nodes = [(n.pop("id"), n) for n in data["nodes"]]
    edges = [(e.pop("source"), e.pop("target"), e.pop("key"), e) for e in data["edges"]]
    want, got = nx.MultiDiGraph(), nx.MultiDiGraph()
    for g in (want, got):
        g.add_nodes_from(nodes)
    want.add_edges_from([(u, v, k, dict(a)) for u, v, k, a in edges])
    add_keyed_edges(got, [(u, v, k, dict(a)) for u, v, k, a in edges])
    assert got.number_of_edges() == len(edges) > 1000
    _same_graph(want, got)


_names = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(_names, unique=True),
    edges=st.lists(
        st.tuples(
            _names,
            _names,
            st.one_of(st.none(), st.sampled_from(["k", "j"])),
            st.dictionaries(st.sampled_from(["w", "x"]), st.integers(0, 9), max_size=2),
        ),
        max_size=12,
    ),
)
def test_keyed_edges_whatever_the_edges(
    known: list[str], edges: list[tuple[str, str, str | None, dict[str, int]]]
) -> None:
    """Repeated keys (attributes merged), edges without a key, loops and nodes not yet in
    the graph: what networkx gives."""
    want, got = nx.MultiDiGraph(), nx.MultiDiGraph()
    for g in (want, got):
        g.add_nodes_from(known)
    want.add_edges_from([(u, v, k, dict(a)) for u, v, k, a in edges])
    add_keyed_edges(got, [(u, v, k, dict(a)) for u, v, k, a in edges])
    _same_graph(want, got)


def _added_in_sorted_order(g: nx.MultiDiGraph) -> None:
    """Each node's successors, predecessors and keys in sorted order: the edges were added
    sorted by (source, target, key)."""
    for n in g:
        assert list(g._succ[n]) == sorted(g._succ[n]), n
        assert list(g._pred[n]) == sorted(g._pred[n]), n
        for keys in g._succ[n].values():
            assert list(keys) == sorted(keys), n


def test_edges_are_added_in_sorted_order() -> None:
    """The seed graph, made from its papers and their resolution: every adjacency sorted
    (the paper edges are made in order, the edges between entities sorted apart)."""
    from _seed import seed_resolution

    from kgraph.bundle import Bundle

    papers = Bundle.open(seed_bundle()).papers
    g = build_graph(papers.values(), seed_resolution())
    assert g.number_of_edges() > 1000
    _added_in_sorted_order(g)
    between = [(u, v) for u, v in g.edges() if u.startswith("entity:")]
    assert len(between) > 50  # evaluated_on and co_occurs both there
    assert {k.split(":")[0] for u, _, k in g.edges(keys=True) if u.startswith("entity:")} == {
        "evaluated_on",
        "co_occurs",
    }


def test_ten_results_or_more_come_in_node_id_order() -> None:
    """result:X/10 sorts before result:X/2: a paper's twelve results are added so."""
    from kgraph.results import Result

    paper, ext = paper_and_extraction(
        "FooNet: fast nets", "We propose FooNet. It works on ImageNet.", ["FooNet", "ImageNet"]
    )
    found = tuple(
        Result(paper.id, float(n), "%", "absolute", None, None, None, 0, 1, "1", "s")
        for n in range(12)
    )
    ext = Extraction(ext.paper_id, ext.title, ext.entities, ext.abbreviations, found)
    g = build_graph([paper], resolve([ext], GAZ))
    pnode = f"paper:{paper.id}"
    results = [v for v in g._succ[pnode] if v.startswith("result:")]
    assert results == sorted(f"result:{paper.id}/{n}" for n in range(1, 13))
    assert results[1] == f"result:{paper.id}/10"
    _added_in_sorted_order(g)


def test_a_consuming_graph_is_the_same_graph() -> None:
    """``consume``: the same graph, the resolution's extractions taken out."""
    from dataclasses import replace

    from _seed import seed_resolution

    from kgraph.bundle import Bundle

    papers = Bundle.open(seed_bundle()).papers
    resolution = seed_resolution()
    g = build_graph(papers.values(), resolution)
    own = replace(resolution, extractions=dict(resolution.extractions))
    _same_graph(g, build_graph(papers.values(), own, consume=True))
    assert own.extractions == {} and len(resolution.extractions) == len(papers)


def test_a_kept_adjacency_goes_into_the_graph_whole_or_through_networkx() -> None:
    """A kept paper's edges (target -> key -> attributes) become its node's adjacency as they
    are; where a target is not in the graph (never expected), nothing is left half done: the
    edges go through networkx, as adding them one by one would."""
    from kgraph.graph import _adjoin_whole

    def graph() -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        g.add_nodes_from(["entity:x", "entity:y", "paper:a", "paper:b"])
        return g

    kept = {"entity:x": {"uses": {"relation": "uses"}}, "entity:y": {"k": {"relation": "r"}}}
    g = graph()
    _adjoin_whole(g, "paper:a", kept)
    assert g._succ["paper:a"] is kept
    assert g._pred["entity:y"]["paper:a"] is kept["entity:y"]

    odd = {
        "entity:x": {"uses": {"relation": "uses"}},
        "entity:new": {"k": {"relation": "r"}},
        "entity:y": {"k": {"relation": "r"}},
    }
    g = graph()
    _adjoin_whole(g, "paper:b", odd)
    one_by_one = graph()
    for v, keyed in odd.items():
        for k, attrs in keyed.items():
            one_by_one.add_edge("paper:b", v, key=k, **attrs)
    assert list(g.edges(keys=True, data=True)) == list(one_by_one.edges(keys=True, data=True))
    for n in one_by_one:
        assert list(g._pred[n]) == list(one_by_one._pred[n]), n
        assert list(g._succ[n]) == list(one_by_one._succ[n]), n
        for v, keyed in g._succ[n].items():  # (one dict for both directions, as networkx)
            assert g._pred[v][n] is keyed
