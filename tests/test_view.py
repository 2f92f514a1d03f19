"""kgraph.view without a browser: selection, layout, the page's data and escaping, the CLI."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.bundle import load_graph
from kgraph.cli import cli
from kgraph.graph import graph_from_data
from kgraph.view import (
    NoSuchNode,
    find_node,
    graph_html_bytes,
    parse_types,
    render_html,
    select,
    write_html,
)
from kgraph.view.layout import _fr_networkx, layout
from kgraph.view.render import _script_json
from kgraph.view.select import CO_OCCURS_MIN, ENTITY_TYPES, _Adjacency, _ranked, node_type

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "graphs" / "seeds"
SMALL = ROOT / "tests" / "fixtures" / "view" / "small_graph.json"
XSS = '<script>alert(1)</script><img src=x onerror="window.__xss=1">'
DPO = "entity:method/direct-preference-optimization"


@lru_cache(maxsize=1)
def _seed() -> nx.MultiDiGraph:
    return load_graph(SEEDS)[1]


def seed() -> nx.MultiDiGraph:
    return _seed().copy()


def small() -> nx.MultiDiGraph:
    return graph_from_data(json.loads(SMALL.read_text(encoding="utf-8")))


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="kgraph-data">(.*?)</script>', html, re.S)
    assert m, "no data element"
    return json.loads(m.group(1))


# --- selection -------------------------------------------------------------------------------


def test_whole_graph_is_drawn_when_it_fits() -> None:
    g = seed()
    sel = select(g, max_nodes=10_000)
    assert len(sel.nodes) == g.number_of_nodes() > 2000
    assert sel.left_out == {}
    # every edge but the weak co_occurs is drawn; evaluated_on edges of one pair merge into one
    strong = [
        (u, v, d["relation"])
        for u, v, d in g.edges(data=True)
        if d["relation"] != "co_occurs" or d["count"] >= CO_OCCURS_MIN
    ]
    assert len(sel.edges) == len(set(strong))
    assert sum(len(e.data) for e in sel.edges) == len(strong)
    assert sel.edges_left_out == g.number_of_edges() - len(strong)


def test_max_nodes_keeps_the_most_connected_entities_and_their_papers() -> None:
    g = seed()
    sel = select(g, max_nodes=400)
    kept = set(sel.nodes)
    assert len(kept) == 400
    kinds = {n: node_type(g, n) for n in kept}
    top = sorted(
        (n for n, d in g.nodes(data=True) if d["kind"] == "entity"),
        key=lambda n: (-g.nodes[n]["papers"], n),
    )[:15]
    assert set(top) <= kept
    # every kept paper is there for a kept entity
    for n in kept:
        if kinds[n] == "paper":
            assert any(m in kept and node_type(g, m) in ENTITY_TYPES for m in g.successors(n))
    assert sum(sel.left_out.values()) == g.number_of_nodes() - 400
    assert any("--max-nodes 400" in note and "left out" in note for note in sel.notes)


def test_neighbours_found_on_demand_are_those_of_the_drawn_relations() -> None:
    g = seed()
    expected: dict[str, set[str]] = {n: set() for n in g.nodes}
    for u, v, d in g.edges(data=True):
        if d["relation"] != "co_occurs" and u != v:
            expected[u].add(v)
            expected[v].add(u)
    adj = _Adjacency(g)
    assert len(adj) == g.number_of_nodes() and list(adj) == list(g.nodes)
    assert {n: adj[n] for n in g.nodes} == expected
    # a pair joined by co_occurs only is not a step; with another relation too, it is
    entities = [n for n, d in g.nodes(data=True) if d["kind"] == "entity"]
    a = entities[0]
    b = next(n for n in entities[1:] if n not in expected[a])
    g.add_edge(a, b, key="co_occurs", relation="co_occurs", count=5, papers=[])
    assert b not in _Adjacency(g)[a]
    g.add_edge(b, a, key="evaluated_on:x", relation="evaluated_on", paper="paper:x")
    assert b in _Adjacency(g)[a] and a in _Adjacency(g)[b]
    g.add_edge(a, a, key="evaluated_on:y", relation="evaluated_on", paper="paper:y")
    assert a not in _Adjacency(g)[a]  # a loop is no step


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 3)), min_size=0, max_size=30
    ),
    st.integers(0, 31),
)
def test_ranked_orders_fully_and_ranks_finely_only_what_is_reached(
    keys: list[tuple[int, int, int]], take: int
) -> None:
    items = [f"n{i:02d}" for i in range(len(keys))]
    key = dict(zip(items, keys, strict=True))
    asked: list[str] = []

    def coarse(n: str) -> tuple[int, int]:
        return key[n][0], key[n][1]

    def fine(n: str) -> tuple[int, str]:
        asked.append(n)
        return -key[n][2], n

    full = sorted(items, key=lambda n: (key[n][0], key[n][1], -key[n][2], n))
    got = list(itertools.islice(_ranked(reversed(items), coarse, fine), take))
    assert got == full[:take]
    # fine keys were asked only for the runs of equal coarse keys that were reached
    assert {coarse(n) for n in asked} <= {coarse(n) for n in got}


def test_focus_by_alias_with_depth() -> None:
    g = seed()
    assert find_node(g, "DPO") == DPO
    assert find_node(g, "dpo") == DPO
    assert find_node(g, "method/direct-preference-optimization") == DPO
    one = select(g, focus="DPO", depth=1)
    neighbours = {
        m for u, v, d in g.edges(DPO, data=True) for m in (u, v) if d["relation"] != "co_occurs"
    } | {u for u, _, d in g.in_edges(DPO, data=True) if d["relation"] != "co_occurs"}
    assert set(one.nodes) == neighbours | {DPO}
    assert one.focus == DPO
    assert select(g, focus="DPO", depth=0).nodes == (DPO,)
    two = select(g, focus="DPO", depth=2)
    assert set(one.nodes) < set(two.nodes)
    assert two.notes[0].startswith("Ego view:")


def test_focus_by_paper_title_and_id() -> None:
    g = seed()
    paper, data = next((n, d) for n, d in g.nodes(data=True) if d["kind"] == "paper")
    assert find_node(g, data["title"].upper()) == paper
    assert find_node(g, data["paper_id"]) == paper


def test_unknown_focus_lists_close_matches() -> None:
    with pytest.raises(NoSuchNode) as err:
        find_node(seed(), "DPOO")
    message = str(err.value)
    assert "\n" not in message
    assert "no node named 'DPOO'" in message and "direct preference optimization" in message
    with pytest.raises(NoSuchNode, match="no close match"):
        find_node(seed(), "zzzzqqqqxxxx")


def test_types_and_min_papers() -> None:
    g = seed()
    sel = select(g, types=["paper", "dataset"], max_nodes=10_000)
    kinds = Counter(node_type(g, n) for n in sel.nodes)
    assert set(kinds) == {"paper", "dataset"}
    assert kinds["dataset"] == sum(1 for n in g if node_type(g, n) == "dataset") > 50
    # papers with no dataset are left out and said so
    assert 0 < kinds["paper"] < sum(1 for n in g if node_type(g, n) == "paper")
    assert any("with no entity shown" in note for note in sel.notes)
    assert {e.relation for e in sel.edges} <= {"introduces", "uses_dataset", "co_occurs"}

    sel = select(g, min_papers=2, max_nodes=10_000)
    entities = [n for n in sel.nodes if node_type(g, n) in ENTITY_TYPES]
    assert entities and all(g.nodes[n]["papers"] >= 2 for n in entities)
    assert len(entities) == sum(
        1 for _, d in g.nodes(data=True) if d["kind"] == "entity" and d["papers"] >= 2
    )


def test_parse_types() -> None:
    assert parse_types(["method,dataset", " task", "method"]) == ("method", "dataset", "task")
    assert parse_types(None) is None
    with pytest.raises(ValueError, match="unknown type 'methods'"):
        parse_types(["methods"])


# --- layout ----------------------------------------------------------------------------------


def test_layout_is_seeded_and_separates_components() -> None:
    g = seed()
    sel = select(g, max_nodes=10_000)
    pairs = [(e.source, e.target) for e in sel.edges]
    a = layout(sel.nodes, pairs, seed=7)
    assert a == layout(sel.nodes, pairs, seed=7)
    assert a != layout(sel.nodes, pairs, seed=8)
    assert set(a) == set(sel.nodes)
    # connected components occupy disjoint boxes
    simple = nx.Graph(pairs)
    simple.add_nodes_from(sel.nodes)
    boxes = []
    for comp in nx.connected_components(simple):
        xs = [a[n][0] for n in comp]
        ys = [a[n][1] for n in comp]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    assert len(boxes) > 5  # the seed graph has a big component and small islands
    for i, p in enumerate(boxes):
        for q in boxes[i + 1 :]:
            apart = p[2] < q[0] or q[2] < p[0] or p[3] < q[1] or q[3] < p[1]
            assert apart, (p, q)
    # linked nodes are nearer than unlinked ones on average
    dist = [((a[u][0] - a[v][0]) ** 2 + (a[u][1] - a[v][1]) ** 2) ** 0.5 for u, v in pairs]
    nodes = list(sel.nodes)
    far = [
        ((a[u][0] - a[v][0]) ** 2 + (a[u][1] - a[v][1]) ** 2) ** 0.5
        for u, v in zip(nodes[::7], nodes[3::7], strict=False)
    ]
    assert sum(dist) / len(dist) < 0.5 * sum(far) / len(far)


def test_networkx_fallback_layout() -> None:
    pts = _fr_networkx(4, [(0, 1), (1, 2), (2, 3)], seed=1)
    assert len(pts) == 4 and pts == _fr_networkx(4, [(0, 1), (1, 2), (2, 3)], seed=1)


# --- the page --------------------------------------------------------------------------------


def test_page_data_describes_every_node_and_edge() -> None:
    g = small()
    html = render_html(g)
    data = embedded(html)
    assert [n["k"] for n in data["nodes"]] == list(g.nodes)
    paper = next(n for n in data["nodes"] if n["k"] == "paper:2405.00001")
    assert paper["ti"].startswith(XSS)
    assert paper["d"] == "2024-05-01"
    assert paper["a"] == [
        ["arXiv", "https://arxiv.org/abs/2405.00001"],
        ["GitHub", "https://github.com/example/xss-repo"],
    ]  # the javascript: URL is dropped
    dpo = next(n for n in data["nodes"] if n["k"] == DPO)
    assert dpo["p"] == 2 and "DPO" in dpo["al"]
    # the two evaluated_on edges of one pair are one drawn edge naming both papers
    relations = [data["relations"][e[2]]["name"] for e in data["edges"]]
    assert relations.count("evaluated_on") == 1
    ev = data["edges"][relations.index("evaluated_on")][3]
    assert ev["n"] == 2 and len(ev["p"]) == 2
    # the weak co_occurs (one shared paper) is not drawn, the strong one is
    assert relations.count("co_occurs") == 1
    proposes = data["edges"][relations.index("proposes")][3]
    assert data["strings"][proposes["s"]].startswith("We propose DPO </script>")
    assert proposes["m"] == "DPO"
    assert data["summary"]["nodes"] == 11 and data["summary"]["edges"] == 12


def test_untrusted_text_cannot_leave_the_data_element() -> None:
    g = small()
    html = render_html(g, title="<b>my</b> graph")
    assert "<title>&lt;b&gt;my&lt;/b&gt; graph</title>" in html
    # the only script elements are the data, vis-network and the page's own code
    assert len(re.findall(r"^<script\b", html, re.M)) == 3
    assert "<img" not in html
    assert "alert(1)</script>" not in html and "\u2028" not in html
    data = embedded(html)
    assert data["title"] == "<b>my</b> graph"
    paper = next(n for n in data["nodes"] if n["k"] == "paper:2405.00001")
    assert "&" in paper["ex"] and "</script>" in paper["ex"]
    raw = "a</script><!--\u2028\u2029&b"
    text = _script_json({"x": raw})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"x": raw}


def test_page_is_offline_and_its_scripts_are_pinned() -> None:
    html = render_html(small())
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, re.I)
    for tag in tags:
        for url in re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', tag, re.I):
            assert not re.match(r"(?i)https?:|//", url), tag
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 2
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.group(1)
    assert "vis-network" in scripts[0][:200]


def test_default_export_is_deterministic_and_small() -> None:
    g = seed()
    first = graph_html_bytes(g)
    assert first == graph_html_bytes(seed())
    assert len(first) < 2_000_000
    data = embedded(first.decode())
    assert g.number_of_nodes() > 2000
    assert data["summary"]["nodes"] == 2000  # the default --max-nodes
    assert any("--max-nodes 2,000" in note for note in data["notes"])


def test_write_html_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "v.html"
    sel = write_html(small(), out, focus="ImageNet", depth=1)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["v.html"]
    assert sel.focus == "entity:dataset/imagenet"
    assert embedded(out.read_text(encoding="utf-8"))["focus"] == list(sel.nodes).index(sel.focus)


# --- CLI -------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_view_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "dpo.html"
    code, _, err = run("view", str(SEEDS), "-o", str(out), "--focus", "DPO", "--depth", "1")
    assert code == 0, err
    data = embedded(out.read_text(encoding="utf-8"))
    assert data["nodes"][data["focus"]]["k"] == DPO
    n = len(data["nodes"])
    assert f"drew {n:,} nodes" in err and str(out) in err


def test_cli_view_to_stdout_with_filters() -> None:
    code, html, err = run(
        "view", str(SEEDS), "-o", "-", "--types", "paper,dataset", "--types", "benchmark",
        "--min-papers", "2",
    )  # fmt: skip
    assert code == 0, err
    kinds = {n["t"] for n in embedded(html)["nodes"]}
    data = embedded(html)
    assert {data["types"][k]["name"] for k in kinds} == {"paper", "dataset", "benchmark"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--focus", "DPOO"], 2, "close matches: direct preference optimization"),
        (["--types", "methd"], 2, "unknown type 'methd'"),
        (["--depth", "2"], 2, "--depth needs --focus"),
    ],
)
def test_cli_view_bad_options(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    out = tmp_path / "x.html"
    got, _, err = run("view", str(SEEDS), "-o", str(out), *args)
    assert got == code
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_view_not_a_bundle(tmp_path: Path) -> None:
    code, _, err = run("view", str(tmp_path / "nope"), "-o", str(tmp_path / "x.html"))
    assert code == 1 and "no such bundle" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def test_types_given_as_one_string() -> None:
    assert parse_types("method,task") == ("method", "task")
    g = small()
    kinds = {node_type(g, n) for n in select(g, types="method").nodes}
    assert kinds == {"method"}
