"""The mapping of a kgraph graph to RDF (kgraph.rdf.convert): IRIs, named graphs, evidence,
typed literals, escaping, the union without repeats."""

from __future__ import annotations

from decimal import Decimal

import pyoxigraph as ox
import pytest
from fixtures.rdf.helpers import fixture_graph
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.exporters import DEFAULT_BASE
from kgraph.rdf.convert import iter_statements, name_key, nquads_chunks, turtle_bytes
from kgraph.rdf.namespaces import (
    KG,
    InvalidBase,
    entity_iri,
    mention_iri,
    normalise_base,
    paper_graph_iri,
    paper_iri,
)

B = DEFAULT_BASE
XSD = "http://www.w3.org/2001/XMLSchema#"
PROV = "http://www.w3.org/ns/prov#"
DCT = "http://purl.org/dc/terms/"


def quads(base: str = B) -> list[ox.Quad]:
    data = b"".join(nquads_chunks(fixture_graph(), base))
    return list(ox.parse(data, ox.RdfFormat.N_QUADS))


def objects(qs: list[ox.Quad], s: str, p: str) -> list[ox.NamedNode | ox.Literal]:
    return [q.object for q in qs if q.subject == ox.NamedNode(s) and q.predicate.value == p]


def test_iris_are_percent_encoded_and_stable() -> None:
    assert paper_iri(B, "cs/0112017") == B + "paper/cs%2F0112017"
    assert paper_iri(B, "2401.00001") == B + "paper/2401.00001"
    assert entity_iri(B, "method/gamma-net") == B + "entity/method/gamma-net"
    assert entity_iri(B, "dataset/Γ net") == B + "entity/dataset/%CE%93%20net"
    assert mention_iri(B, "cs/0112017", "dataset/imagenet") == (
        B + "mention/cs%2F0112017/dataset/imagenet"
    )
    assert paper_graph_iri(B, "cs/0112017") == B + "graph/paper/cs%2F0112017"
    # the same graph gives the same statements
    assert list(iter_statements(fixture_graph())) == list(iter_statements(fixture_graph()))


def test_base_is_checked_and_completed() -> None:
    assert normalise_base("https://example.org/kg") == "https://example.org/kg/"
    assert normalise_base("https://example.org/kg#") == "https://example.org/kg#"
    for bad in ("example.org/kg/", "https://exa mple.org/", "https://e.org/<x>/", "kg/"):
        with pytest.raises(InvalidBase):
            normalise_base(bad)
    qs = quads("https://example.org/kg/")
    assert all(q.subject.value.startswith("https://example.org/kg/") for q in qs)
    assert all(q.graph_name.value.startswith("https://example.org/kg/graph/") for q in qs)


def test_named_graphs_one_per_paper_and_one_for_entities() -> None:
    qs = quads()
    graphs = {q.graph_name.value for q in qs}
    assert graphs == {
        B + "graph/paper/2401.00001",
        B + "graph/paper/cs%2F0112017",
        B + "graph/paper/t-0123456789ab",
        B + "graph/entities",
    }
    entities = B + "graph/entities"
    paper_g = B + "graph/paper/cs%2F0112017"
    in_graph = {(q.subject.value, q.predicate.value) for q in qs if q.graph_name.value == paper_g}
    # the paper, its edges, its mentions, its results and its evaluated_on edges
    assert (B + "paper/cs%2F0112017", KG + "introduces") in in_graph
    assert (B + "mention/cs%2F0112017/benchmark/betaset", KG + "confidence") in in_graph
    assert (B + "result/cs%2F0112017/1", KG + "value") in in_graph
    assert (B + "entity/method/beta-model", KG + "evaluatedOn") in in_graph
    # nothing about another paper, no entity description
    assert not any("2401.00001" in s or "t-0123" in s for s, _ in in_graph)
    described = {
        q.subject.value
        for q in qs
        if q.predicate.value == "http://www.w3.org/2004/02/skos/core#prefLabel"
    }
    assert all(
        q.graph_name.value == entities
        for q in qs
        if q.subject.value in described and q.predicate.value != KG + "evaluatedOn"
    )
    assert len(described) == 10


def test_direct_triple_and_its_evidence() -> None:
    qs = quads()
    paper = B + "paper/2401.00001"
    imagenet = ox.NamedNode(B + "entity/dataset/imagenet")
    assert imagenet in objects(qs, paper, KG + "usesDataset")
    assert imagenet in objects(qs, paper, KG + "namesEntity")
    m = B + "mention/2401.00001/dataset/imagenet"
    assert objects(qs, m, PROV + "wasDerivedFrom") == [ox.NamedNode(paper)]
    assert objects(qs, m, KG + "refersTo") == [imagenet]
    assert objects(qs, m, KG + "relation") == [ox.NamedNode(KG + "usesDataset")]
    assert objects(qs, m, KG + "confidence") == [
        ox.Literal("0.9", datatype=ox.NamedNode(XSD + "decimal"))
    ]
    assert objects(qs, m, KG + "extractor") == [ox.Literal("gazetteer")]
    start = objects(qs, m, KG + "startOffset")[0]
    end = objects(qs, m, KG + "endOffset")[0]
    assert start.datatype.value == XSD + "integer"
    g = fixture_graph()
    text = g.nodes["paper:2401.00001"]["title"] + "\n\n" + g.nodes["paper:2401.00001"]["abstract"]
    assert text[int(start.value) : int(end.value)] == "ImageNet"
    assert objects(qs, m, KG + "anchorText") == [ox.Literal("ImageNet")]
    assert objects(qs, m, KG + "spans") == [ox.Literal(f"{start.value}-{end.value}")]
    sentence = objects(qs, m, KG + "sentence")[0].value
    assert sentence.startswith("It reaches 85.3% accuracy")
    # a code link is a direct triple with evidence but names no entity
    repo = ox.NamedNode(B + "entity/repository/https-github-com-ex-alphanet")
    assert objects(qs, paper, KG + "hasCode") == [repo]
    assert repo not in objects(qs, paper, KG + "namesEntity")


def test_results_are_typed_decimals_linked_to_their_paper() -> None:
    qs = quads()
    r1 = B + "result/2401.00001/1"
    r2 = B + "result/cs%2F0112017/1"
    (v1,) = objects(qs, r1, KG + "value")
    (v2,) = objects(qs, r2, KG + "value")
    assert v1.datatype.value == XSD + "decimal" and Decimal(v1.value) == Decimal("85.3")
    assert v2.datatype.value == XSD + "decimal" and v2.value == "2.0"
    assert objects(qs, r2, KG + "unit") == [ox.Literal("points")]
    assert objects(qs, r2, KG + "resultType") == [ox.Literal("gain")]
    assert objects(qs, r1, KG + "ofMetric") == [ox.NamedNode(B + "entity/metric/accuracy")]
    assert objects(qs, r1, KG + "byMethod") == [ox.NamedNode(B + "entity/method/alphanet")]
    assert objects(qs, r2, KG + "methodName") == [ox.Literal("our model")]
    assert objects(qs, r2, KG + "byMethod") == []
    assert ox.NamedNode(r1) in objects(qs, B + "paper/2401.00001", KG + "reports")
    assert objects(qs, r1, PROV + "wasDerivedFrom") == [ox.NamedNode(B + "paper/2401.00001")]


def test_paper_and_entity_descriptions() -> None:
    qs = quads()
    p1, p2 = B + "paper/2401.00001", B + "paper/cs%2F0112017"
    assert objects(qs, p1, DCT + "issued") == [
        ox.Literal("2024-01-02", datatype=ox.NamedNode(XSD + "date"))
    ]
    assert objects(qs, p2, DCT + "issued") == [
        ox.Literal("--02-05", datatype=ox.NamedNode(XSD + "gMonthDay"))
    ]
    assert objects(qs, p2, DCT + "title") == [
        ox.Literal('Beta}Set: a {tricky} benchmark \\ for Beta "Model"')
    ]
    assert "\n" in objects(qs, p1, DCT + "abstract")[0].value
    assert objects(qs, p1, "http://purl.org/spar/fabio/hasArXivId") == [ox.Literal("2401.00001")]
    authors = objects(qs, p1, "https://schema.org/author")
    assert [a.value for a in authors] == [p1 + "/author/1", p1 + "/author/2"]
    assert objects(qs, p1 + "/author/2", "https://schema.org/name") == [ox.Literal("Alan Turing")]
    e = B + "entity/method/alphanet"
    types = {t.value for t in objects(qs, e, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type")}
    assert types == {KG + "Entity", KG + "Method"}
    skos = "http://www.w3.org/2004/02/skos/core#"
    assert objects(qs, e, skos + "prefLabel") == [ox.Literal("AlphaNet")]
    assert objects(qs, e, skos + "altLabel") == [ox.Literal("Alpha-Net")]
    assert {k.value for k in objects(qs, e, KG + "nameKey")} == {
        "alphanet",
        "alpha-net",
        "method/alphanet",
    }
    assert objects(qs, e, KG + "paperCount") == [
        ox.Literal("2", datatype=ox.NamedNode(XSD + "integer"))
    ]
    bench = B + "entity/benchmark/betaset"
    assert KG + "Benchmark" in {
        t.value for t in objects(qs, bench, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    }
    # a URL with a space becomes a valid IRI
    repo = B + "entity/repository/https-example-org-a-b"
    assert objects(qs, repo, "https://schema.org/codeRepository") == [
        ox.NamedNode("https://example.org/a%20b")
    ]
    co = objects(qs, B + "entity/dataset/imagenet", KG + "coOccursWith")
    assert ox.NamedNode(B + "entity/task/image-classification") in co


def test_union_drops_repeated_statements_only() -> None:
    g = fixture_graph()
    stats: dict[str, int] = {}
    all_quads = list(iter_statements(g, stats=stats))
    union = [spo for _, spo in iter_statements(g, union=True)]
    assert stats["repeated"] == 1  # alphanet evaluatedOn imagenet, stated by two papers
    assert len(union) == len(all_quads) - 1 == len(set(union))
    assert len({spo for _, spo in all_quads}) == len(union)


def test_name_key() -> None:
    assert name_key("  Image\tNet ") == "image net"
    assert name_key("STRASSE") == name_key("Straße")


def test_turtle_declares_prefixes_in_order() -> None:
    ttl = turtle_bytes(fixture_graph()).decode()
    head = [line for line in ttl.splitlines() if line.startswith("@prefix")]
    assert [h.split()[1] for h in head[:3]] == ["kg:", "schema:", "dcterms:"]
    assert "paper:2401.00001 a schema:ScholarlyArticle" in ttl
    assert turtle_bytes(fixture_graph()) == turtle_bytes(fixture_graph())


def test_fixture_is_a_valid_kgraph_graph() -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    from fixtures.rdf.helpers import FIXTURE_GRAPH, ROOT

    schema = json.loads((ROOT / "schemas" / "graph.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(FIXTURE_GRAPH.read_text(encoding="utf-8")), schema)


def test_cached_decimals_keep_the_sign_of_zero_and_refuse_booleans() -> None:
    """Decimal terms are cached; 0.0 and -0.0 (one key to a cache) and True and 1 still get
    their own terms, in either order."""
    from kgraph.rdf.convert import _dec

    dec = "^^<http://www.w3.org/2001/XMLSchema#decimal>"
    for _ in range(2):
        assert _dec(0.0) == f'"0.0"{dec}'
        assert _dec(-0.0) == f'"-0.0"{dec}'
        assert _dec(1) == f'"1.0"{dec}'
        assert _dec(True) is None
        assert _dec(0.25) == f'"0.25"{dec}'


def test_co_occurrence_nodes_are_named_by_partner_and_keep_their_names() -> None:
    """A kg:CoOccurrence node is <entity>/co-occurrence/<partner's type/slug>: when a pair's
    count changes, only that pair's statements change, whatever ranks move (an add then
    changes few units of the store)."""
    from pathlib import Path

    from kgraph.bundle import load_graph

    graph = load_graph(Path(__file__).resolve().parent.parent / "graphs" / "seeds")[1]

    def co_occurrences(g: object) -> set[tuple[str, str, str]]:
        qs = list(ox.parse(b"".join(nquads_chunks(g, B)), ox.RdfFormat.N_QUADS))
        return {
            (q.subject.value, q.predicate.value, q.object.value)
            for q in qs
            if "/co-occurrence/" in q.subject.value
        }

    before = co_occurrences(graph)
    nodes = {s for s, _, _ in before}
    assert len(nodes) > 100
    of = {s: o for s, p, o in before if p == KG + "coOccurrenceOf"}
    partner = {s: o for s, p, o in before if p == KG + "partner"}
    for node in nodes:
        assert node == f"{of[node]}/co-occurrence/{partner[node].removeprefix(B + 'entity/')}"
    # the weakest pair of the entity with the most partners becomes its strongest
    lists: dict[str, list[str]] = {}
    for node in nodes:
        lists.setdefault(of[node], []).append(node)
    me = max(lists, key=lambda e: (len(lists[e]), e))
    shared = {s: int(o) for s, p, o in before if p == KG + "sharedPapers"}
    weakest = min(lists[me], key=lambda n: (shared[n], n))
    top = max(shared[n] for n in lists[me])
    a, b = ("entity:" + iri.removeprefix(B + "entity/") for iri in (me, partner[weakest]))
    u, v = (a, b) if graph.has_edge(a, b, "co_occurs") else (b, a)
    graph.edges[u, v, "co_occurs"]["count"] = top + 5
    after = co_occurrences(graph)
    back = f"{partner[weakest]}/co-occurrence/{me.removeprefix(B + 'entity/')}"
    changed = {(s, p) for s, p, _ in before ^ after}
    assert changed == {(weakest, KG + "sharedPapers"), (back, KG + "sharedPapers")}


def test_statements_made_with_the_facts_made_before_are_the_same() -> None:
    """A build makes the entities' corpus-wide facts once, for the blocks' digests and the
    statements: the statements are those made with facts of their own (all of them, and an
    add's few), and the facts let the pass's pairs go when it ends."""
    from _seed import seed_bundle

    from kgraph.bundle import load_graph
    from kgraph.rdf.convert import entity_extras, entity_facts, statement_runs

    graph = load_graph(seed_bundle())[1]
    papers = sorted(n for n, k in graph.nodes(data="kind") if k == "paper")
    entities = sorted(n for n, k in graph.nodes(data="kind") if k == "entity")
    for skip in (set(), {*papers[10:], *entities[40:]}):
        facts = entity_facts(graph)
        given = [tuple(r) for r in statement_runs(graph, skip=skip, facts=facts)]
        assert given == [tuple(r) for r in statement_runs(graph, skip=skip)]
        assert any(r[1] for r in given)
        assert facts._co_out == {} and facts._co_in == {}
        assert entity_extras(graph, facts=facts) == entity_extras(graph)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=2, max_value=6), min_size=90, max_size=260),
    st.integers(min_value=0, max_value=259),
)
def test_an_entitys_short_list_is_its_top_k_partners_by_papers_then_iri(
    counts: list[int], split: int
) -> None:
    """:meth:`EntityFacts.partners`: the :data:`TOP_K` partners sharing the most papers, ties
    by IRI, whether the entity is a pair's source or target (many ties at the cut: counts
    from a few values, over more partners than the list holds)."""
    import networkx as nx

    from kgraph.rdf.convert import TOP_K, EntityFacts

    def entity(node: str) -> str:
        return f"<https://x/entity/{node.removeprefix('entity:')}>"

    facts = EntityFacts(nx.MultiDiGraph(), DEFAULT_BASE, entity)
    others = [f"entity:p{i:03d}" for i in range(len(counts))]
    pairs = list(zip(others, counts, strict=True))
    out = {"entity:e": pairs[:split]}  # (the rest name entity:e as their pair's target)
    for other, count in pairs[split:]:
        out.setdefault(other, []).append(("entity:e", count))

    class Index:
        co_occurs = out

    facts.pair(Index(), entity)  # type: ignore[arg-type]
    expected = sorted((-count, entity(other)) for other, count in pairs)[:TOP_K]
    assert facts.partners("entity:e") == [(-neg, iri) for neg, iri in expected]
