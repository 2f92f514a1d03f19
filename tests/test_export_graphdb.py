"""Graph-database exports (kgraph.exporters.graphdb / .neo4j) read back by real tools.

GraphML and GEXF are read back with networkx (GraphML also with igraph); the Neo4j bulk-import
CSVs are loaded into a real embedded Cypher database (kuzu) through a small translator from the
neo4j-admin header conventions, and queried. Two graphs: the example bundle ``graphs/seeds``
and ``fixtures/graphdb/tricky.graph.json`` (commas, quotes, line breaks, CR, tab, a form feed,
a backslash before a quote, unicode beyond the BMP, ``;`` inside list values, parallel edges).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import CliRunner

from kgraph.bundle import load_graph
from kgraph.cli import cli
from kgraph.exporters import ExportOptions, exporters, get
from kgraph.exporters import graphdb as graphdb_module
from kgraph.exporters._files import ExportTargetError
from kgraph.exporters.neo4j import NODE_TABLES, REL_TABLES, array_delimiter
from kgraph.graph import graph_from_data
from kgraph.graphfile import graph_json

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "graphs" / "seeds"
TRICKY = ROOT / "tests" / "fixtures" / "graphdb" / "tricky.graph.json"
GRAPHS = ("seeds", "tricky")


def _tricky() -> nx.MultiDiGraph:
    return graph_from_data(json.loads(TRICKY.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def seed_graph() -> nx.MultiDiGraph:
    return load_graph(SEEDS)[1]


@pytest.fixture(scope="module")
def graphs(seed_graph: nx.MultiDiGraph) -> dict[str, nx.MultiDiGraph]:
    return {"seeds": seed_graph, "tricky": _tricky()}


def export(graph: nx.MultiDiGraph, fmt: str, target: Path, **extra: Any) -> list[Path]:
    return get(fmt).write(graph, target, ExportOptions(extra=extra))


def xml_safe(text: str) -> str:
    """What XML can carry of ``text``: characters XML 1.0 forbids become U+FFFD."""
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "\ufffd", text)


def same_value(got: Any, want: Any) -> bool:
    """A GraphML/GEXF attribute read back against the graph's: lists and objects as JSON."""
    if isinstance(want, list | dict):
        return isinstance(got, str) and json.loads(got) == want
    if isinstance(want, bool):
        return got is want
    if isinstance(want, float) or isinstance(got, float):
        return isinstance(got, float) and got == float(want)
    if isinstance(want, str):
        return got == xml_safe(want)
    return bool(got == want)


def relation_counts(graph: nx.MultiDiGraph) -> Counter[str]:
    return Counter(d["relation"] for _, _, d in graph.edges(data=True))


def node_kinds(graph: nx.MultiDiGraph) -> Counter[str]:
    return Counter(d["kind"] for _, d in graph.nodes(data=True))


def test_fixture_is_a_valid_graph() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "graph.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(TRICKY.read_text(encoding="utf-8")), schema)


def test_registered_formats() -> None:
    found = exporters()
    for fmt, ext in [("graphml", ".graphml"), ("gexf", ".gexf"), ("json", ".json")]:
        assert found[fmt].extension == ext and not found[fmt].is_folder
    assert found["neo4j"].is_folder and found["cypher"].extension == ".cypher"


# --- GraphML ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GRAPHS)
def test_graphml_networkx_reads_every_node_edge_and_attribute(
    graphs: dict[str, nx.MultiDiGraph], name: str, tmp_path: Path
) -> None:
    graph = graphs[name]
    (path,) = export(graph, "graphml", tmp_path / "g.graphml")
    back = nx.read_graphml(path, force_multigraph=True)
    assert isinstance(back, nx.MultiDiGraph)
    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    for node, data in graph.nodes(data=True):
        got = back.nodes[node]
        for attr, value in data.items():
            assert same_value(got[attr], value), (node, attr, got[attr], value)
        label = {"paper": "title", "entity": "name"}.get(data["kind"])
        if label:
            assert got["label"] == xml_safe(data[label])
        assert got["type"] == data.get("type", data["kind"])
        if "aliases" in data:
            by_use = sorted(data["aliases"], key=lambda a: (-data["aliases"][a], a))
            assert got["aliases_joined"] == xml_safe("|".join(by_use))
    edges = list(graph.edges(data=True))
    seen = set()
    for source, target, key, got in back.edges(keys=True, data=True):
        i = int(key.removeprefix("e"))
        seen.add(i)
        want_source, want_target, want = edges[i]
        assert (source, target) == (want_source, want_target)
        for attr, value in want.items():
            assert same_value(got[attr], value), (i, attr)
        assert got["label"] == want["relation"]
        assert got["weight"] == float(want.get("count", 1))
    assert seen == set(range(len(edges)))


def test_graphml_text_survives_exactly() -> None:
    graph = _tricky()
    data = graph.nodes["paper:2401.00001"]
    assert "\r\n" in data["abstract"] and "\t" in data["abstract"] and "\x0c" in data["abstract"]
    text = "".join(graphdb_module._graphml_lines(graph))
    back = nx.parse_graphml(text, force_multigraph=True)
    got = back.nodes["paper:2401.00001"]["abstract"]
    assert got == data["abstract"].replace("\x0c", "\ufffd")  # CR, CRLF, tab, 🚀 kept
    assert back.nodes["paper:t-0123456789ab"]["title"] == "  Leading and trailing spaces  "


def test_graphml_keys_are_typed_and_ids_unique(seed_graph: nx.MultiDiGraph) -> None:
    text = "".join(graphdb_module._graphml_lines(seed_graph))
    root = ET.fromstring(text)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    keys = {
        (k.get("for"), k.get("attr.name")): k.get("attr.type")
        for k in root.iter(f"{{{ns['g']}}}key")
    }
    assert len(keys) == len(list(root.iter(f"{{{ns['g']}}}key")))  # one key per name and scope
    assert keys[("node", "upvotes")] == "int"
    assert keys[("node", "papers")] == "int"
    assert keys[("node", "value")] == "double"
    assert keys[("node", "label")] == "string"
    assert keys[("node", "authors")] == "string"  # a JSON list
    assert keys[("edge", "confidence")] == "double"
    assert keys[("edge", "start")] == "int"
    assert keys[("edge", "weight")] == "double"
    assert set(keys.values()) <= {"string", "int", "double", "boolean"}
    ids = [e.get("id") for e in root.iter(f"{{{ns['g']}}}edge")]
    assert len(ids) == len(set(ids)) == seed_graph.number_of_edges()


def test_graphml_igraph_reads_it(seed_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    igraph = pytest.importorskip("igraph")
    (path,) = export(seed_graph, "graphml", tmp_path / "g.graphml")
    g = igraph.Graph.Read_GraphML(str(path))
    assert g.is_directed()
    assert (g.vcount(), g.ecount()) == (seed_graph.number_of_nodes(), seed_graph.number_of_edges())
    assert Counter(g.vs["kind"]) == node_kinds(seed_graph)
    assert node_kinds(seed_graph)["paper"] == 314
    assert Counter(g.es["relation"]) == relation_counts(seed_graph)
    index = {name: i for i, name in enumerate(g.vs["id"])}
    for node, data in list(seed_graph.nodes(data=True))[:400]:
        v = g.vs[index[node]]
        assert v["label"] == data.get("title", data.get("name", v["label"]))
    weights = [w for w, r in zip(g.es["weight"], g.es["relation"], strict=True) if r == "co_occurs"]
    counts = [d["count"] for _, _, d in seed_graph.edges(data=True) if d["relation"] == "co_occurs"]
    assert sorted(weights) == sorted(float(c) for c in counts)


# --- GEXF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GRAPHS)
def test_gexf_networkx_reads_every_node_edge_and_attribute(
    graphs: dict[str, nx.MultiDiGraph], name: str, tmp_path: Path
) -> None:
    graph = graphs[name]
    (path,) = export(graph, "gexf", tmp_path / "g.gexf")
    back = nx.read_gexf(path)  # a MultiDiGraph when it finds parallel edges (tricky has some)
    assert isinstance(back, nx.MultiDiGraph) == (name == "tricky")
    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    for node, data in graph.nodes(data=True):
        got = back.nodes[node]
        for attr, value in data.items():
            assert same_value(got[attr], value), (node, attr)
        assert got["type"] == data.get("type", data["kind"])
        if data["kind"] == "paper":
            assert got["label"] == xml_safe(data["title"])
    edges = list(graph.edges(data=True))
    for source, target, got in back.edges(data=True):
        i = int(got["id"].removeprefix("e"))
        want_source, want_target, want = edges[i]
        assert (source, target) == (want_source, want_target)
        for attr, value in want.items():
            assert same_value(got[attr], value), (i, attr)
        assert got["label"] == want["relation"]
        assert got["weight"] == float(want.get("count", 1))
    root = ET.parse(path).getroot()
    assert root.get("version") == "1.3"
    kinds = Counter(e.get("kind") for e in root.iter("{http://gexf.net/1.3}edge"))
    assert kinds == relation_counts(graph)


# --- node-link JSON -----------------------------------------------------------------------------


def test_json_is_the_bundles_graph_json(seed_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    (path,) = export(seed_graph, "json", tmp_path / "g.json")
    assert path.read_bytes() == graph_json(seed_graph)  # what a build writes
    assert json.loads(path.read_bytes()) == json.loads((SEEDS / "graph.json").read_bytes())


# --- Neo4j CSVs into kuzu -----------------------------------------------------------------------

KUZU_TYPES = {
    "string": "STRING",
    "int": "INT64",
    "long": "INT64",
    "double": "DOUBLE",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "string[]": "STRING[]",
    "int[]": "INT64[]",
}
HEADER = re.compile(r"^(?P<name>[^:]*)(?::(?P<type>[A-Za-z_]+(?:\[\])?)(?:\((?P<space>\w+)\))?)?$")


def parse_header(header: str) -> tuple[str, str, str | None]:
    """``paperId:ID(Paper)`` -> (paperId, ID, Paper); ``title`` -> (title, string, None)."""
    m = HEADER.match(header)
    assert m, header
    return m["name"], m["type"] or "string", m["space"]


def kuzu_value(var: str, kind: str, delimiter: str) -> str:
    d = "'" + delimiter.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return {
        "string": var,
        "int": f"CAST({var} AS INT64)",
        "long": f"CAST({var} AS INT64)",
        "double": f"CAST({var} AS DOUBLE)",
        "float": f"CAST({var} AS DOUBLE)",
        "boolean": f"CAST({var} AS BOOLEAN)",
        "date": f"CAST({var} AS DATE)",
        "string[]": f"string_split({var}, {d})",
        "int[]": f"list_transform(string_split({var}, {d}), x -> CAST(x AS INT64))",
    }[kind]


def import_files(folder: Path) -> tuple[list[str], list[str], str]:
    """The node files, relationship files and array delimiter that import.sh hands neo4j-admin."""
    script = (folder / "import.sh").read_text(encoding="utf-8")
    nodes = re.findall(r"--nodes=(\S+)", script)
    rels = re.findall(r"--relationships=(\S+)", script)
    (option,) = re.findall(r"--array-delimiter=(\S+)", script)
    delimiter = option.strip("'") if not option.startswith("U+") else chr(int(option[2:], 16))
    return nodes, rels, delimiter


def load_into_kuzu(folder: Path, db_path: Path) -> Any:
    """A kuzu connection holding the CSVs of ``folder``, loaded as import.sh says.

    Every header is translated by the neo4j-admin conventions: the ``:ID(Space)`` column is
    the primary key of node table Space, ``:LABEL`` a STRING[] ``labels``, typed columns cast,
    arrays split on the array delimiter; a relationship file becomes one kuzu REL table per
    ``:TYPE`` value, from its ``:START_ID`` space to its ``:END_ID`` space. kuzu's own CSV
    reader parses the files (RFC 4180, quoted line breaks: parallel=false).
    """
    kuzu = pytest.importorskip("kuzu")
    conn = kuzu.Connection(kuzu.Database(str(db_path)))
    nodes, rels, delim = import_files(folder)

    def load(file: str, where: str = "") -> tuple[list[tuple[str, str, str | None]], str]:
        with (folder / file).open(encoding="utf-8", newline="") as fh:
            headers = next(csv.reader(fh))
        cols = [parse_header(h) for h in headers]
        columns = ", ".join(f"c{i} STRING" for i in range(len(cols)))
        path = str(folder / file).replace("'", "\\'")
        source = f"LOAD WITH HEADERS ({columns}) FROM '{path}' (header=true, parallel=false)"
        return cols, source + (f" WHERE {where}" if where else "")

    for file in nodes:
        cols, source = load(file)
        (id_name, id_kind, space), (_, label_kind, _) = cols[0], cols[1]
        assert id_kind == "ID" and label_kind == "LABEL" and space
        props = cols[2:]
        ddl = ", ".join(f"`{n}` {KUZU_TYPES[k]}" for n, k, _ in props)
        conn.execute(
            f"CREATE NODE TABLE {space}(`{id_name}` STRING PRIMARY KEY, labels STRING[], {ddl})"
        )
        values = [kuzu_value(f"c{i + 2}", k, delim) for i, (_, k, _) in enumerate(props)]
        returned = ", ".join(["c0", kuzu_value("c1", "string[]", delim), *values])
        conn.execute(f"COPY {space} FROM ({source} RETURN {returned})")
    for file in rels:
        with (folder / file).open(encoding="utf-8", newline="") as fh:
            types = sorted({row[":TYPE"] for row in csv.DictReader(fh)})
        cols, _ = load(file)
        (_, start_kind, start), (_, end_kind, end), (_, type_kind, _) = cols[:3]
        assert (start_kind, end_kind, type_kind) == ("START_ID", "END_ID", "TYPE")
        props = cols[3:]
        for rel_type in types or [Path(file).stem.upper()]:
            ddl = "".join(f", `{n}` {KUZU_TYPES[k]}" for n, k, _ in props)
            conn.execute(f"CREATE REL TABLE {rel_type}(FROM {start} TO {end}{ddl})")
            if not types:
                continue
            _, source = load(file, f"c2 = '{rel_type}'")
            values = [kuzu_value(f"c{i + 3}", k, delim) for i, (_, k, _) in enumerate(props)]
            conn.execute(
                f"COPY {rel_type} FROM ({source} RETURN {', '.join(['c0', 'c1', *values])})"
            )
    return conn


def rows(conn: Any, query: str, **params: Any) -> list[list[Any]]:
    result = conn.execute(query, params)
    out = []
    while result.has_next():
        out.append(result.get_next())
    return out


@pytest.fixture(scope="module")
def seed_kuzu(
    seed_graph: nx.MultiDiGraph, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("neo4j") / "import"
    export(seed_graph, "neo4j", folder)
    conn = load_into_kuzu(folder, folder.parent / "kuzu.db")
    yield conn
    conn.close()


def test_neo4j_counts_in_kuzu_equal_the_bundle(seed_kuzu: Any, seed_graph: nx.MultiDiGraph) -> None:
    kinds = node_kinds(seed_graph)
    for label, kind in [("Paper", "paper"), ("Entity", "entity"), ("Result", "result")]:
        assert rows(seed_kuzu, f"MATCH (n:{label}) RETURN count(*)") == [[kinds[kind]]]
    by_label = dict(
        (r[0], r[1])
        for r in rows(seed_kuzu, "MATCH (n:Entity) UNWIND n.labels AS l RETURN l, count(*)")
    )
    types = Counter(d["type"] for _, d in seed_graph.nodes(data=True) if d["kind"] == "entity")
    assert by_label == {"Entity": 1745, **{t.capitalize(): n for t, n in types.items()}}
    assert set(types) == {"method", "task", "metric", "dataset", "repository", "benchmark"}
    for relation, n in relation_counts(seed_graph).items():
        got = rows(seed_kuzu, f"MATCH ()-[r:{relation.upper()}]->() RETURN count(*)")
        assert got == [[n]], relation
    assert set(relation_counts(seed_graph)) >= {"proposes", "reports", "co_occurs", "evaluated_on"}
    results = [(n, d) for n, d in seed_graph.nodes(data=True) if d["kind"] == "result"]
    for rel_type, attr in [
        ("OF_METHOD", "method"),
        ("ON_DATASET", "dataset"),
        ("OF_METRIC", "metric"),
    ]:
        links = rows(
            seed_kuzu, f"MATCH (r:Result)-[:{rel_type}]->(e:Entity) RETURN r.resultId, e.entityId"
        )
        want = {
            (n.removeprefix("result:"), d[attr].removeprefix("entity:"))
            for n, d in results
            if attr in d
        }
        assert {tuple(x) for x in links} == want and want


def test_neo4j_queries_in_kuzu_answer_like_the_bundle(
    seed_kuzu: Any, seed_graph: nx.MultiDiGraph
) -> None:
    g = seed_graph
    # most-used datasets: papers naming them
    papers_of: Counter[str] = Counter()
    for source, target in g.edges():
        if g.nodes[source]["kind"] == "paper" and g.nodes[target].get("type") == "dataset":
            papers_of[target.removeprefix("entity:")] += 1
    want = sorted(papers_of.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    got = rows(
        seed_kuzu,
        "MATCH (p:Paper)-[:USES_DATASET|INTRODUCES]->(e:Entity) "
        "WHERE list_contains(e.labels, 'Dataset') "
        "RETURN e.entityId AS id, count(DISTINCT p) AS n ORDER BY n DESC, id LIMIT 5",
    )
    assert [tuple(r) for r in got] == want
    assert want[0][1] >= 5
    for entity_id, n in want:
        assert g.nodes[f"entity:{entity_id}"]["papers"] == n
    # the methods a seed paper proposes (the paper proposing the most)
    proposes = Counter(s for s, _, d in g.edges(data=True) if d["relation"] == "proposes")
    paper, _ = min(proposes.items(), key=lambda kv: (-kv[1], kv[0]))
    want_methods = sorted(
        g.nodes[t]["name"]
        for _, t, d in g.out_edges(paper, data=True)
        if d["relation"] == "proposes"
    )
    got_methods = rows(
        seed_kuzu,
        "MATCH (p:Paper {paperId: $id})-[r:PROPOSES]->(m:Entity) "
        "WHERE list_contains(m.labels, 'Method') "
        "RETURN m.name, r.confidence, r.spanStarts ORDER BY m.name",
        id=paper.removeprefix("paper:"),
    )
    assert [r[0] for r in got_methods] == want_methods and len(want_methods) >= 2
    for name, confidence, starts in got_methods:
        (edge,) = [
            d
            for _, t, d in g.out_edges(paper, data=True)
            if d["relation"] == "proposes" and g.nodes[t]["name"] == name
        ]
        assert confidence == edge["confidence"] and starts == [s for s, _ in edge["spans"]]
    # the co-occurring entities of the entity with the most co-occurrences
    co: dict[str, dict[str, int]] = {}
    for s, t, d in g.edges(data=True):
        if d["relation"] == "co_occurs":
            co.setdefault(s, {})[t] = d["count"]
            co.setdefault(t, {})[s] = d["count"]
    hub = min(co, key=lambda n: (-len(co[n]), n))
    got_co = rows(
        seed_kuzu,
        "MATCH (a:Entity {entityId: $id})-[r:CO_OCCURS]-(b:Entity) RETURN b.entityId, r.count",
        id=hub.removeprefix("entity:"),
    )
    assert {r[0]: r[1] for r in got_co} == {
        k.removeprefix("entity:"): v for k, v in co[hub].items()
    }
    assert len(got_co) >= 5


def expected_paper(d: dict[str, Any]) -> dict[str, Any]:
    published = d.get("published")
    iso = published and not published.startswith("--")
    return {
        "paperId": d["paper_id"],
        "labels": ["Paper"],
        "title": d["title"],
        "abstract": d["abstract"] or None,  # an empty field is a missing property
        "published": published,
        "publishedDate": dt.date.fromisoformat(published) if iso else None,
        "authors": d.get("authors") or None,
        "authorsCount": d.get("authors_count"),
        "organization": d.get("organization"),
        "upvotes": d.get("upvotes"),
        "arxivId": d.get("arxiv_id"),
        "urls": d.get("urls") or None,
        "sources": d.get("sources") or None,
    }


def expected_entity(d: dict[str, Any]) -> dict[str, Any]:
    aliases = sorted(d["aliases"].items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "entityId": d["entity_id"],
        "labels": ["Entity", d["type"].capitalize()],
        "name": d["name"],
        "type": d["type"],
        "kbId": d.get("kb_id"),
        "aliases": [a for a, _ in aliases],
        "aliasCounts": [n for _, n in aliases],
        "shortForms": d["short_forms"] or None,
        "typeVotes": d["type_votes"],
        "papers": d["papers"],
        "mentions": d["mentions"],
    }


def node_props(conn: Any, label: str) -> dict[str, dict[str, Any]]:
    out = {}
    for (node,) in rows(conn, f"MATCH (n:{label}) RETURN n"):
        props = {k: v for k, v in node.items() if not k.startswith("_")}
        out[
            next(v for k, v in props.items() if k.endswith("Id") and k.startswith(label.lower()))
        ] = props
    return out


@pytest.mark.parametrize("variant", ["semicolon-in-lists", "pipe-too"])
def test_neo4j_tricky_values_survive_exactly(tmp_path: Path, variant: str) -> None:
    graph = _tricky()
    if variant == "pipe-too":  # ; and | both in list values: the delimiter becomes U+001F
        graph.nodes["paper:2402.00002"]["authors"] = ["Ann | Lee"]
    folder = tmp_path / "import"
    export(graph, "neo4j", folder)
    _, _, delimiter = import_files(folder)
    assert delimiter == {"semicolon-in-lists": "|", "pipe-too": "\x1f"}[variant]
    assert delimiter == array_delimiter(graph)
    assert "--multiline-fields=true" in (folder / "import.sh").read_text(encoding="utf-8")
    conn = load_into_kuzu(folder, tmp_path / "kuzu.db")

    papers = node_props(conn, "Paper")
    for _, d in graph.nodes(data=True):
        if d["kind"] == "paper":
            assert papers[d["paper_id"]] == expected_paper(d)
    assert papers["2401.00001"]["authors"] == ["Smith; John", "Ünal, Ayşe", 'O"Brien']
    assert "\r\n" in papers["2401.00001"]["abstract"] and "🚀" in papers["2401.00001"]["abstract"]
    assert papers["2401.00001"]["abstract"].count('\\"') == 1

    entities = node_props(conn, "Entity")
    for _, d in graph.nodes(data=True):
        if d["kind"] == "entity":
            got = dict(entities[d["entity_id"]])
            got["typeVotes"] = json.loads(got["typeVotes"])
            assert got == expected_entity(d)
    assert entities["dataset/imagenet"]["aliases"] == ["ImageNet", "ImageNet; ILSVRC", "image\nnet"]

    results = node_props(conn, "Result")
    r1 = results["2401.00001/1"]
    assert (r1["value"], r1["unit"], r1["sentence"]) == (
        85.3,
        "%",
        "It reaches 85.3% accuracy,\non ImageNet.",
    )
    r2 = results["2401.00001/2"]
    assert (r2["value"], r2["unit"], r2["resultType"], r2["methodName"]) == (
        2.0,
        None,
        "gain",
        None,
    )

    evidence = rows(
        conn,
        "MATCH (p:Paper)-[r:USES_DATASET]->(e:Entity) "
        "RETURN p.paperId, e.entityId, r.confidence, r.sentence, r.start, r.`end`, r.text, "
        "r.component, r.mentions, r.spanStarts, r.spanEnds",
    )
    assert evidence == [
        [
            "2401.00001",
            "dataset/imagenet",
            0.9,
            'Second line with "quotes", and\nmore',
            10,
            18,
            "ImageNet",
            "gazetteer",
            2,
            [10, 40],
            [18, 48],
        ]
    ]
    evaluated = rows(
        conn,
        "MATCH (a)-[r:EVALUATED_ON]->(b) RETURN a.entityId, b.entityId, r.paper, r.confidence, "
        "r.results ORDER BY r.paper",
    )
    assert evaluated == [
        ["method/semi-colon", "dataset/imagenet", "2401.00001", 0.9, 2],
        ["method/semi-colon", "dataset/imagenet", "2402.00002", 0.8, 0],
    ]
    co = rows(
        conn,
        "MATCH (a)-[r:CO_OCCURS]->(b {entityId: 'task/image-classification'}) "
        "RETURN r.count, r.papers",
    )
    assert co == [[2, ["2401.00001", "2402.00002"]]]
    code = rows(
        conn, "MATCH (p:Paper)-[r:CODE]->(e:Entity) WHERE e.type = 'repository' RETURN r.sentence"
    )
    assert code == [["Code: https://github.com/a/b?x=1;y=2"]]
    conn.close()


def test_neo4j_csvs_are_rfc4180(tmp_path: Path) -> None:
    graph = _tricky()
    folder = tmp_path / "import"
    written = export(graph, "neo4j", folder)
    assert sorted(p.name for p in written) == sorted(p.name for p in folder.iterdir())
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    for table in (*NODE_TABLES, *REL_TABLES):
        raw = (folder / table.file).read_bytes()
        assert raw.endswith(b"\r\n") and raw.decode("utf-8")
        with (folder / table.file).open(encoding="utf-8", newline="") as fh:
            data = list(csv.reader(fh, strict=True))
        assert data[0] == table.headers
        assert all(len(row) == len(table.headers) for row in data)
        assert re.search(rf"{re.escape(table.file)}\s+{len(data) - 1:,} ", readme)
    with (folder / "papers.csv").open(encoding="utf-8", newline="") as fh:
        first = next(r for r in csv.DictReader(fh) if r["paperId:ID(Paper)"] == "2401.00001")
    assert first["abstract"] == graph.nodes["paper:2401.00001"]["abstract"]  # \r\n, \x0c kept
    assert first["authors:string[]"].split("|") == ["Smith; John", "Ünal, Ayşe", 'O"Brien']
    assert first[":LABEL"] == "Paper"


def test_load_cypher_reads_only_what_the_csvs_hold(
    seed_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    folder = tmp_path / "import"
    export(seed_graph, "neo4j", folder)
    script = (folder / "load.cypher").read_text(encoding="utf-8")
    (alone,) = export(seed_graph, "cypher", tmp_path / "load.cypher")
    assert alone.read_text(encoding="utf-8") == script
    assert (folder / "schema.cypher").read_text(encoding="utf-8") in script
    body = re.sub(r"(?m)^//[^\n]*", "", script)
    statements = [s.strip() for s in re.split(r";\s*\n", body) if s.strip()]
    loads = [s for s in statements if s.startswith("LOAD CSV")]
    csvs = sorted(p.name for p in folder.glob("*.csv"))
    loaded = []
    for statement in loads:
        (file,) = re.findall(r"FROM 'file:///([^']+)' AS row", statement)
        loaded.append(file)
        with (folder / file).open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        read = set(re.findall(r"row\.`([^`]+)`", statement))
        assert read <= set(header), (file, read - set(header))
        assert set(header) - read <= {":TYPE", ":LABEL"}, file  # every property is loaded
        assert "CALL {" in statement and statement.endswith("IN TRANSACTIONS OF 1000 ROWS")
        typed = {h: h.partition(":")[2] for h in read}
        for column, kind in typed.items():
            expr = {
                "int": "toInteger",
                "double": "toFloat",
                "date": "date",
                "string[]": "split",
            }.get(kind)
            if expr:
                assert f"{expr}(row.`{column}`" in statement, column
    assert sorted(loaded) == csvs
    assert loaded.index("papers.csv") < loaded.index("proposes.csv")  # nodes first
    for label, prop in [("Paper", "paperId"), ("Entity", "entityId"), ("Result", "resultId")]:
        assert re.search(
            rf"CREATE CONSTRAINT \w+ IF NOT EXISTS FOR \(n:{label}\) REQUIRE n\.{prop} IS UNIQUE",
            script,
        )
    assert "CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)" in script
    assert "MERGE (a)-[r:EVALUATED_ON {paper: row.`paper`}]->(b)" in script


def test_import_sh_runs_neo4j_admin_with_every_file(
    seed_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    folder = tmp_path / "import"
    export(seed_graph, "neo4j", folder)
    script = folder / "import.sh"
    assert os.access(script, os.X_OK)
    nodes, rels, delimiter = import_files(folder)
    assert nodes == [t.file for t in NODE_TABLES] and rels == [t.file for t in REL_TABLES]
    assert sorted(nodes + rels) == sorted(p.name for p in folder.glob("*.csv"))
    assert delimiter == ";"
    assert "--multiline-fields" not in script.read_text(encoding="utf-8")  # no line breaks here
    fake = tmp_path / "neo4j-admin"
    fake.write_text('#!/bin/sh\npwd\nfor a in "$@"; do echo "$a"; done\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {**os.environ, "NEO4J_ADMIN": str(fake)}
    out = subprocess.run(
        ["sh", str(script), "papers", "--overwrite-destination=true"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == str(folder)  # runs from the folder, so the relative paths resolve
    assert out[1:5] == ["database", "import", "full", "--nodes=papers.csv"]
    assert "--array-delimiter=;" in out
    assert out[-2:] == ["--overwrite-destination=true", "papers"]
    default = subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, check=True
    )
    assert default.stdout.splitlines()[-1] == "neo4j"


# --- writes: atomic, into existing folders -----------------------------------------------------


def test_neo4j_into_an_existing_folder_keeps_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "mine.csv").write_text("keep me\n", encoding="utf-8")
    (folder / "papers.csv").write_text("stale\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--format", "neo4j", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "mine.csv").read_text(encoding="utf-8") == "keep me\n"
    assert (folder / "papers.csv").read_text(encoding="utf-8").startswith("paperId:ID(Paper),")
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no staging left
    with pytest.raises(ExportTargetError, match="not a folder"):
        export(_tricky(), "neo4j", folder / "mine.csv")


def test_a_failed_export_leaves_the_old_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    graph = _tricky()
    target = tmp_path / "g.graphml"
    target.write_text("old", encoding="utf-8")
    folder = tmp_path / "import"
    export(graph, "neo4j", folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def boom(data: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(graphdb_module, "_edge_derived", boom)
    with pytest.raises(RuntimeError):
        export(graph, "graphml", target)
    assert target.read_text(encoding="utf-8") == "old"
    import kgraph.exporters.neo4j as neo4j_module

    monkeypatch.setattr(neo4j_module, "_local", boom)
    with pytest.raises(RuntimeError):
        export(graph, "neo4j", folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(RuntimeError):
        export(graph, "neo4j", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.graphml", "import"]


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_unknown_format_lists_the_valid_ones() -> None:
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--format", "graphm", "-o", "-"])
    assert result.exit_code == 2
    for name in ("graphml", "gexf", "json", "neo4j", "cypher"):
        assert name in result.output
    assert "Traceback" not in result.output


def test_cli_graphml_to_stdout(seed_graph: nx.MultiDiGraph) -> None:
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--format", "graphml", "-o", "-"])
    assert result.exit_code == 0
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<graphml')
    back = nx.parse_graphml(result.stdout)
    assert back.number_of_nodes() == seed_graph.number_of_nodes()
    assert back.number_of_edges() == seed_graph.number_of_edges()


def test_cli_format_from_extension_and_folder_formats(
    seed_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    out = tmp_path / "g.gexf"
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "-o", str(out)])
    assert result.exit_code == 0
    assert nx.read_gexf(out).number_of_nodes() == seed_graph.number_of_nodes()
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--format", "neo4j", "-o", "-"])
    assert result.exit_code == 2 and "writes a folder" in result.output
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--format", "cypher", "-o", "-"])
    assert (
        result.exit_code == 0 and "LOAD CSV WITH HEADERS FROM 'file:///papers.csv'" in result.stdout
    )
    result = CliRunner().invoke(cli, ["export", str(SEEDS), "--help"])
    for name in ("graphml", "gexf", "neo4j", "cypher"):
        assert name in result.output
