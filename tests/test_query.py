"""Canned SPARQL questions and `kgraph query`: the expected rows on the fixture graph, the same
through pyoxigraph and rdflib, parameters that cannot change a query, the output formats,
one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from fixtures.rdf.helpers import ROOT, fixture_bundle, fixture_graph

from kgraph.rdf.convert import to_rdflib
from kgraph.rdf.queries import (
    QueryError,
    UnknownQuery,
    canned_queries,
    format_result,
    get_canned,
    is_update,
    parse_canned,
    result_rows,
    run_query,
    run_rdflib,
    sparql_string,
)
from kgraph.rdf.store import open_store

B = "https://w3id.org/kgraph/id/"
E = B + "entity/"
XSD = "http://www.w3.org/2001/XMLSchema#"


def lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def integer(n: int) -> str:
    return f'"{n}"^^<{XSD}integer>'


def dec(text: str) -> str:
    return f'"{text}"^^<{XSD}decimal>'


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture_bundle(tmp_path_factory.mktemp("query") / "bundle")


@pytest.fixture(scope="module")
def store(bundle: Path) -> Any:
    return open_store(bundle)


@pytest.fixture(scope="module")
def rdflib_dataset() -> Any:
    return to_rdflib(fixture_graph())


# name -> (parameters, expected rows: each variable in N-Triples syntax)
EXPECTED: dict[str, tuple[dict[str, str], list[dict[str, str | None]]]] = {
    "top-datasets": (
        {},
        [
            {
                "entity": f"<{E}dataset/imagenet>",
                "name": lit("ImageNet"),
                "type": lit("dataset"),
                "papers": integer(3),
            },
            {
                "entity": f"<{E}benchmark/betaset>",
                "name": lit("Beta}Set"),
                "type": lit("benchmark"),
                "papers": integer(1),
            },
            {
                "entity": f"<{E}dataset/alphacorpus>",
                "name": lit("AlphaCorpus"),
                "type": lit("dataset"),
                "papers": integer(1),
            },
        ],
    ),
    "methods-on-dataset": (
        {"dataset": "IMAGENET"},
        [
            {
                "method": f"<{E}method/alphanet>",
                "name": lit("AlphaNet"),
                "dataset": f"<{E}dataset/imagenet>",
                "papers": integer(1),
            },
            {
                "method": f"<{E}method/beta-model>",
                "name": lit('Beta "Model"'),
                "dataset": f"<{E}dataset/imagenet>",
                "papers": integer(1),
            },
            {
                "method": f"<{E}method/gamma-net>",
                "name": lit("Γ-Net"),
                "dataset": f"<{E}dataset/imagenet>",
                "papers": integer(1),
            },
        ],
    ),
    "papers-with-code": (
        {"task": "Image  Classification"},
        [
            {
                "paper": f"<{B}paper/2401.00001>",
                "title": lit('AlphaNet: "Quoted" nets'),
                "code": "<https://github.com/ex/alphanet>",
            },
            {
                "paper": f"<{B}paper/t-0123456789ab>",
                "title": lit("Γ-Net for image classification"),
                "code": "<https://example.org/a%20b>",
            },
        ],
    ),
    "paper-contributions": (
        {"paper": "cs/0112017"},
        [
            {
                "relation": "<https://w3id.org/kgraph/ontology#proposes>",
                "entity": f"<{E}method/beta-model>",
                "name": lit('Beta "Model"'),
                "confidence": dec("0.7"),
                "extractor": lit("name"),
                "text": lit('Beta "Model"'),
            },
            {
                "relation": "<https://w3id.org/kgraph/ontology#introduces>",
                "entity": f"<{E}benchmark/betaset>",
                "name": lit("Beta}Set"),
                "confidence": dec("0.85"),
                "extractor": lit("title"),
                "text": lit("Beta}Set"),
            },
            {
                "relation": "<https://w3id.org/kgraph/ontology#usesMethod>",
                "entity": f"<{E}method/alphanet>",
                "name": lit("AlphaNet"),
                "confidence": dec("0.6"),
                "extractor": lit("gazetteer"),
                "text": lit("AlphaNet"),
            },
            {
                "relation": "<https://w3id.org/kgraph/ontology#usesDataset>",
                "entity": f"<{E}dataset/imagenet>",
                "name": lit("ImageNet"),
                "confidence": dec("0.9"),
                "extractor": lit("gazetteer"),
                "text": lit("ImageNet"),
            },
            {
                "relation": "<https://w3id.org/kgraph/ontology#usesMetric>",
                "entity": f"<{E}metric/accuracy>",
                "name": lit("accuracy"),
                "confidence": dec("0.9"),
                "extractor": lit("gazetteer"),
                "text": lit("accuracy"),
            },
            {
                "relation": "<https://w3id.org/kgraph/ontology#addresses>",
                "entity": f"<{E}task/image-classification>",
                "name": lit("image classification"),
                "confidence": dec("0.75"),
                "extractor": lit("gazetteer"),
                "text": lit("image classification"),
            },
        ],
    ),
    # pairs named together by one paper only are left out, as for kg:coOccursWith
    "co-occurring": (
        {"entity": "dataset/ImageNet"},
        [
            {
                "other": f"<{E}task/image-classification>",
                "name": lit("image classification"),
                "type": lit("task"),
                "papers": integer(3),
            },
            {
                "other": f"<{E}method/alphanet>",
                "name": lit("AlphaNet"),
                "type": lit("method"),
                "papers": integer(2),
            },
            {
                "other": f"<{E}metric/accuracy>",
                "name": lit("accuracy"),
                "type": lit("metric"),
                "papers": integer(2),
            },
        ],
    ),
    "newest-datasets": (
        {},
        [
            {
                "paper": f"<{B}paper/2401.00001>",
                "issued": f'"2024-01-02"^^<{XSD}date>',
                "title": lit('AlphaNet: "Quoted" nets'),
                "dataset": f"<{E}dataset/alphacorpus>",
                "name": lit("AlphaCorpus"),
            },
            {
                "paper": f"<{B}paper/cs%2F0112017>",
                "issued": None,
                "title": lit('Beta}Set: a {tricky} benchmark \\ for Beta "Model"'),
                "dataset": f"<{E}benchmark/betaset>",
                "name": lit("Beta}Set"),
            },
        ],
    ),
    "results": (
        {"metric": "Accuracy"},
        [
            {
                "paper": f"<{B}paper/2401.00001>",
                "method": lit("AlphaNet"),
                "dataset": lit("ImageNet"),
                "value": dec("85.3"),
                "unit": lit("%"),
                "type": lit("absolute"),
                "text": lit("85.3%"),
            },
            {
                "paper": f"<{B}paper/cs%2F0112017>",
                "method": lit("our model"),
                "dataset": lit("Beta}Set"),
                "value": dec("2"),
                "unit": lit("points"),
                "type": lit("gain"),
                "text": lit("2"),
            },
        ],
    ),
}


def test_every_canned_query_is_tested_and_described() -> None:
    found = canned_queries()
    assert set(found) == set(EXPECTED)
    for q in found.values():
        assert q.description and all(p.description for p in q.params)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_canned_query_rows(name: str, store: Any, rdflib_dataset: Any) -> None:
    params, expected = EXPECTED[name]
    text = get_canned(name).render(params)
    assert result_rows(run_query(store, text)) == expected
    assert result_rows(run_rdflib(rdflib_dataset, text)) == expected


def test_results_for_a_metric_on_a_dataset(store: Any, rdflib_dataset: Any) -> None:
    text = get_canned("results").render({"metric": "accuracy", "dataset": "imagenet"})
    rows = result_rows(run_query(store, text))
    assert rows == EXPECTED["results"][1][:1]
    assert result_rows(run_rdflib(rdflib_dataset, text)) == rows


def test_limit_parameter(store: Any) -> None:
    text = get_canned("co-occurring").render({"entity": "ImageNet", "limit": "2"})
    rows = result_rows(run_query(store, text))
    assert rows == EXPECTED["co-occurring"][1][:2]


@pytest.mark.parametrize(
    "value",
    [
        'x" } UNION { ?s ?p ?o } #',
        "x' } ?s ?p ?o {",
        'ImageNet"\n} LIMIT 1000 #',
        "\\",
        '\\" } #',
        "$limit",
        "\\u0022 } #",
        "Γ\x00\x1f",
    ],
)
def test_parameters_cannot_change_the_query(value: str, store: Any, rdflib_dataset: Any) -> None:
    template = get_canned("methods-on-dataset")
    text = template.render({"dataset": value})
    default = template.render({"dataset": "no such dataset"})
    # only the one literal differs; the query parses and finds nothing
    assert text.count("\n") == default.count("\n")
    assert result_rows(run_query(store, text)) == []
    assert result_rows(run_rdflib(rdflib_dataset, text)) == []
    assert sparql_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_int_parameters_are_checked() -> None:
    with pytest.raises(QueryError, match="must be a whole number"):
        get_canned("top-datasets").render({"limit": "3 } DROP ALL"})


def test_int_parameters_have_their_maximum() -> None:
    assert "LIMIT 100" in get_canned("results").render({"limit": "100"})
    with pytest.raises(QueryError, match="'limit' is at most 100 \\(not 101\\)"):
        get_canned("results").render({"limit": "101"})
    with pytest.raises(QueryError, match="at most 100"):
        get_canned("co-occurring").render({"limit": "5000"})
    assert "?rank <= 1000" in get_canned("top-datasets").render({"limit": "1000"})
    with pytest.raises(QueryError, match="at most 1000"):
        get_canned("newest-datasets").render({"limit": "1001"})
    with pytest.raises(ValueError, match="only an int parameter has a maximum"):
        parse_canned("# name: x\n# description: X.\n# param: a: name<=3 -- a\nASK {}")


def test_missing_and_unknown_parameters_and_names() -> None:
    with pytest.raises(QueryError, match="needs the parameter 'paper'"):
        get_canned("paper-contributions").render({})
    with pytest.raises(QueryError, match="has no parameter 'colour'"):
        get_canned("results").render({"colour": "red"})
    with pytest.raises(UnknownQuery, match="valid names: co-occurring, methods-on-dataset"):
        get_canned("nope")


def test_header_parsing() -> None:
    q = parse_canned(
        '# name: x\n# description: Says x.\n# param: a: name = "" -- the a\n'
        "# param: n: int -- how many\nSELECT * WHERE { ?s ?p $a } LIMIT $n\n"
    )
    assert [(p.name, p.kind, p.default) for p in q.params] == [
        ("a", "name", ""),
        ("n", "int", None),
    ]
    assert q.render({"n": "5"}).endswith('SELECT * WHERE { ?s ?p "" } LIMIT 5\n')
    with pytest.raises(ValueError, match="needs '# name:'"):
        parse_canned("SELECT * WHERE {}")


def test_updates_are_refused(store: Any) -> None:
    assert is_update("PREFIX a: <urn:a>\n# c\n insert data { <urn:a> <urn:b> <urn:c> }")
    assert not is_update("SELECT ?insert WHERE { ?insert ?p ?o }")
    with pytest.raises(QueryError, match="updates are refused"):
        run_query(store, "DELETE WHERE { ?s ?p ?o }")


def test_output_formats(store: Any) -> None:
    text = get_canned("top-datasets").render({})
    table = format_result(run_query(store, text), "table").decode()
    lines = table.splitlines()
    assert lines[0].split() == ["entity", "name", "type", "papers"]
    assert lines[2].split() == ["dataset:imagenet", "ImageNet", "dataset", "3"]
    assert lines[-1] == "(3 rows)"
    rows = list(csv.reader(io.StringIO(format_result(run_query(store, text), "csv").decode())))
    assert rows[0] == ["entity", "name", "type", "papers"]
    assert rows[1] == [E + "dataset/imagenet", "ImageNet", "dataset", "3"]
    tsv = format_result(run_query(store, text), "tsv").decode().splitlines()
    assert tsv[0] == "?entity\t?name\t?type\t?papers"
    doc = json.loads(format_result(run_query(store, text), "json"))
    assert doc["head"]["vars"] == ["entity", "name", "type", "papers"]
    assert doc["results"]["bindings"][0]["papers"]["value"] == "3"
    root = ET.fromstring(format_result(run_query(store, text), "xml"))
    ns = "{http://www.w3.org/2005/sparql-results#}"
    assert len(root.findall(f"{ns}results/{ns}result")) == 3
    ask = run_query(store, "ASK { ?p kg:proposes method:gamma-net }")
    assert format_result(ask, "table") == b"true\n"
    ask = run_query(store, "ASK { ?p kg:proposes method:gamma-net }")
    assert json.loads(format_result(ask, "json"))["boolean"] is True
    construct = run_query(store, "CONSTRUCT { ?p kg:proposes ?m } WHERE { ?p kg:proposes ?m }")
    ttl = format_result(construct, "table")
    assert ttl.startswith(b"@prefix kg: <https://w3id.org/kgraph/ontology#> .")
    assert len(list(ox.parse(ttl, ox.RdfFormat.TURTLE))) == 3


def kgraph(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgraph", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        input=stdin,
    )


def test_cli_query(bundle: Path, tmp_path: Path) -> None:
    proc = kgraph("query", str(bundle), "--list")
    assert proc.returncode == 0
    assert "results\n    Results reported for a metric" in proc.stdout
    assert "--param paper=...  the paper's id" in proc.stdout and "required" in proc.stdout

    proc = kgraph(
        "query", str(bundle), "--name", "results", "--param", "dataset=ImageNet", "--format", "csv"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "paper,method,dataset,value,unit,type,text",
        f"{B}paper/2401.00001,AlphaNet,ImageNet,85.3,%,absolute,85.3%",
    ]
    rq = tmp_path / "q.rq"
    rq.write_text("SELECT ?t WHERE { paper:2401.00001 dcterms:title ?t }")
    proc = kgraph("query", str(bundle), f"@{rq}", "-f", "json")
    assert json.loads(proc.stdout)["results"]["bindings"][0]["t"]["value"] == (
        'AlphaNet: "Quoted" nets'
    )
    proc = kgraph("query", str(bundle), "@-", "-f", "tsv", stdin="ASK { ?s ?p ?o }")
    assert proc.returncode == 0
    proc = kgraph("query", str(bundle), "DESCRIBE method:gamma-net")
    assert "skos:prefLabel" in proc.stdout and "Γ-Net" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT ?x WHERE { ?x a kg:Method } LIMI 3"], "Error: SPARQL syntax error: error at 1:"),
        (["INSERT DATA { <urn:a> <urn:b> <urn:c> }"], "Error: updates are refused"),
        (["--name", "nope"], "Error: no canned query 'nope'; valid names: co-occurring,"),
        (
            ["--name", "paper-contributions"],
            "Error: query 'paper-contributions' needs the parameter 'paper'",
        ),
        (["--name", "results", "--param", "limit=ten"], "must be a whole number"),
        (["--name", "results", "--param", "nokey"], "expected NAME=VALUE"),
    ],
)
def test_cli_errors_are_one_line(bundle: Path, args: list[str], message: str) -> None:
    proc = kgraph("query", str(bundle), *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_usage_errors(bundle: Path, tmp_path: Path) -> None:
    proc = kgraph("query", str(bundle))
    assert proc.returncode == 2 and "give a QUERY" in proc.stderr
    proc = kgraph("query", str(tmp_path / "missing"), "ASK {}")
    assert proc.returncode == 1 and "no such bundle folder" in proc.stderr
    proc = kgraph("query", str(bundle), f"@{tmp_path / 'none.rq'}")
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = kgraph("query", str(bundle), "ASK {}", "--base", "not an iri")
    assert proc.returncode == 2 and "is not absolute" in proc.stderr


# --- the materialised ranks give the rows of the full aggregates ---------------------------------

# The canned queries read ranks and short ranked lists the build materialises (kg:usageRank,
# kg:recencyRank, kg:CoOccurrence, kg:topResult, kg:Leaderboard). These are the queries they
# replace, aggregating the paper graphs directly: on the seed graph (314 papers, real
# extractions) both must return the same rows for many parameters.
AGGREGATES: dict[str, str] = {
    "top-datasets": """
SELECT ?entity ?name ?type ?papers WHERE {
  { SELECT ?entity (COUNT(DISTINCT ?paper) AS ?papers) WHERE {
      ?paper kg:usesDataset|kg:usesBenchmark|kg:introduces ?entity } GROUP BY ?entity }
  VALUES (?class ?type) { (schema:Dataset "dataset") (kg:Benchmark "benchmark") }
  ?entity a ?class ; skos:prefLabel ?name .
} ORDER BY DESC(?papers) ?entity LIMIT $limit""",
    "newest-datasets": """
SELECT ?paper ?issued ?title ?dataset ?name WHERE {
  ?paper kg:introduces ?dataset ; dcterms:title ?title .
  OPTIONAL { ?paper dcterms:issued ?issued . FILTER(DATATYPE(?issued) = xsd:date) }
  ?dataset skos:prefLabel ?name .
} ORDER BY DESC(BOUND(?issued)) DESC(?issued) ?paper ?dataset LIMIT $limit""",
    "co-occurring": """
SELECT ?other ?name ?type ?papers WHERE {
  { SELECT ?other (COUNT(DISTINCT ?paper) AS ?papers) WHERE {
      ?entity kg:nameKey $entity .
      ?paper kg:namesEntity ?entity , ?other .
      FILTER(?other != ?entity) } GROUP BY ?other HAVING(COUNT(DISTINCT ?paper) >= 2)
    ORDER BY DESC(?papers) ?other LIMIT $limit }
  ?other skos:prefLabel ?name ; dcterms:identifier ?id .
  BIND(STRBEFORE(?id, "/") AS ?type)
} ORDER BY DESC(?papers) ?other""",
    "results": """
SELECT ?paper ?method ?dataset ?value ?unit ?type ?text WHERE {
  { SELECT ?result ?paper ?value WHERE {
      ?metric kg:nameKey $metric .
      ?result kg:ofMetric ?metric ; kg:value ?value ; prov:wasDerivedFrom ?paper .
      FILTER($dataset = "" || EXISTS { ?result kg:onDataset/kg:nameKey $dataset }) }
    ORDER BY DESC(?value) ?paper ?result LIMIT $limit }
  ?result kg:resultType ?type ; kg:anchorText ?text .
  OPTIONAL { ?result kg:unit ?unit }
  OPTIONAL { ?result kg:onDataset ?datasetEntity . ?datasetEntity skos:prefLabel ?dataset }
  OPTIONAL { ?result kg:byMethod ?methodEntity . ?methodEntity skos:prefLabel ?methodLabel }
  OPTIONAL { ?result kg:methodName ?methodName }
  BIND(COALESCE(?methodLabel, ?methodName) AS ?method)
} ORDER BY DESC(?value) ?paper ?result""",
}


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kgraph.bundle import load_graph
    from kgraph.rdf.store import write_store

    folder = tmp_path_factory.mktemp("seed-store")
    _, graph = load_graph(ROOT / "graphs" / "seeds")
    write_store(folder, graph)
    return ox.Store.read_only(str(folder / "store"))


def _aggregate(name: str, params: dict[str, str]) -> str:
    canned = get_canned(name)
    header = "\n".join(line for line in canned.template.splitlines() if line.startswith("#"))
    prefixes = "\n".join(
        line for line in canned.template.splitlines() if line.startswith("PREFIX")
    )
    ref = parse_canned(f"{header}\n{prefixes}\nPREFIX dcterms: <http://purl.org/dc/terms/>"
                       f"\nPREFIX schema: <https://schema.org/>\n{AGGREGATES[name]}\n")
    return ref.render(params)


def _cases(seed_store: Any) -> list[tuple[str, dict[str, str]]]:
    def ids(query: str) -> list[str]:
        return [str(r["id"]).split('"')[1] for r in result_rows(run_query(seed_store, query))]

    top = ids("SELECT ?id WHERE { ?e kg:usageRank ?r ; dcterms:identifier ?id } ORDER BY ?r ?id")
    metrics = ids(
        "SELECT DISTINCT ?id WHERE { ?r kg:ofMetric/dcterms:identifier ?id } ORDER BY ?id"
    )
    boards = result_rows(
        run_query(
            seed_store,
            """SELECT ?m ?d WHERE { ?b kg:ofMetric ?me ; kg:onDataset ?de .
            ?me dcterms:identifier ?m . ?de dcterms:identifier ?d } ORDER BY ?m ?d""",
        )
    )
    cases: list[tuple[str, dict[str, str]]] = []
    for limit in ("1", "5", "20", "1000"):
        cases += [("top-datasets", {"limit": limit}), ("newest-datasets", {"limit": limit})]
    for entity in top[:40]:
        for limit in ("3", "100"):
            cases.append(("co-occurring", {"entity": entity, "limit": limit}))
    for metric in metrics:
        for limit in ("2", "100"):
            cases.append(("results", {"metric": metric, "limit": limit}))
    for row in boards:
        metric, dataset = (str(row[k]).split('"')[1] for k in ("m", "d"))
        cases.append(("results", {"metric": metric, "dataset": dataset, "limit": "3"}))
    return cases


def test_materialised_ranks_give_the_aggregates_rows(seed_store: Any) -> None:
    cases = _cases(seed_store)
    seen = {name for name, _ in cases}
    assert seen == set(AGGREGATES) and len(cases) > 150
    nonempty = 0
    for name, params in cases:
        fast = result_rows(run_query(seed_store, get_canned(name).render(params)))
        full = result_rows(run_query(seed_store, _aggregate(name, params)))
        assert fast == full, (name, params)
        nonempty += bool(full)
    assert nonempty > 0.8 * len(cases)


def test_only_the_first_ranks_are_materialised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranks stop at RANKED (here 3), so that an add does not shift ranks all over the
    corpus; up to that limit the canned questions still give the aggregates' rows."""
    from kgraph.bundle import load_graph
    from kgraph.rdf import convert
    from kgraph.rdf.store import write_store

    monkeypatch.setattr(convert, "RANKED", 3)
    _, graph = load_graph(ROOT / "graphs" / "seeds")
    write_store(tmp_path, graph)
    store = ox.Store.read_only(str(tmp_path / "store"))
    ranked = result_rows(run_query(store, """SELECT ?class (COUNT(*) AS ?n) (MAX(?r) AS ?max)
        WHERE { ?e kg:usageRank ?r ; a ?class . FILTER(?class != kg:Entity) } GROUP BY ?class"""))
    per_class = {str(r["class"]): int(str(r["n"]).split('"')[1]) for r in ranked}
    # methods, metrics, tasks (and datasets with benchmarks together) have 3 each at most
    assert per_class and all(n <= 3 for n in per_class.values())
    assert sum(per_class.values()) >= 10
    recency = result_rows(run_query(store, "SELECT ?r WHERE { ?m kg:recencyRank ?r } ORDER BY ?r"))
    assert [str(r["r"]).split('"')[1] for r in recency] == ["1", "2", "3"]
    for name in ("top-datasets", "newest-datasets"):
        for limit in ("1", "3"):
            fast = result_rows(run_query(store, get_canned(name).render({"limit": limit})))
            full = result_rows(run_query(store, _aggregate(name, {"limit": limit})))
            assert fast == full and len(fast) == int(limit), (name, limit)
