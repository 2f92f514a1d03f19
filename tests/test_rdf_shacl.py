"""The ontology and the SHACL shapes: the seed graph conforms, a broken graph fails with the
expected messages, every term the data uses is defined, the package copies match schemas/."""

from __future__ import annotations

import json

import pytest
import rdflib
from fixtures.rdf.helpers import ROOT, fixture_graph, seed_graph
from rdflib import RDF, RDFS, XSD, Literal, Namespace, URIRef

from kgraph.rdf.convert import ntriples_chunks, to_rdflib
from kgraph.rdf.namespaces import KG as KG_NS
from kgraph.rdf.validate import validate

KG = Namespace(KG_NS)
OWL = Namespace("http://www.w3.org/2002/07/owl#")
SH = Namespace("http://www.w3.org/ns/shacl#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
DCT = Namespace("http://purl.org/dc/terms/")
PROV = Namespace("http://www.w3.org/ns/prov#")
BASE = "https://w3id.org/kgraph/id/"


@pytest.mark.parametrize("name", ["kgraph.ttl", "shapes.ttl", "context.jsonld"])
def test_package_copies_match_schemas(name: str) -> None:
    shipped = ROOT / "kgraph" / "rdf" / name
    assert shipped.read_bytes() == (ROOT / "schemas" / name).read_bytes()


def union(graph: object) -> rdflib.Graph:
    g = rdflib.Graph()
    g.parse(data=b"".join(ntriples_chunks(graph)), format="nt")  # type: ignore[arg-type]
    return g


def test_seed_graph_conforms() -> None:
    report = validate(union(seed_graph()))
    assert report.conforms, report.messages[:10]
    assert report.messages == ()


def test_fixture_dataset_conforms() -> None:
    report = validate(to_rdflib(fixture_graph()))
    assert report.conforms, report.messages


def test_broken_graph_fails_with_the_expected_messages() -> None:
    g = union(fixture_graph())
    paper = URIRef(BASE + "paper/2401.00001")
    mention = URIRef(BASE + "mention/2401.00001/dataset/imagenet")
    imagenet = URIRef(BASE + "entity/dataset/imagenet")
    alphanet = URIRef(BASE + "entity/method/alphanet")
    result = URIRef(BASE + "result/2401.00001/1")
    g.remove((paper, KG.usesDataset, imagenet))  # evidence without its direct triple
    g.remove((paper, DCT.title, None))  # a paper without a title
    g.set((mention, KG.confidence, Literal("1.5", datatype=XSD.decimal)))
    g.set((result, KG.value, Literal("85.3")))  # a string, not a decimal
    g.add((imagenet, SKOS.prefLabel, Literal("Image Net")))  # two names
    g.add((paper, KG.usesDataset, alphanet))  # a method used as a dataset
    g.add((alphanet, RDF.type, KG.Task))  # two entity classes
    report = validate(g)
    assert not report.conforms
    expected = {
        f"{mention}: the direct triple of the mention (paper kg:relation entity) is missing",
        f"{paper}: a paper has exactly one non-empty dcterms:title",
        f"{mention}: a mention has exactly one kg:confidence, an xsd:decimal from 0 to 1",
        f"{result}: a result has exactly one kg:value, an xsd:decimal",
        f"{imagenet}: an entity has exactly one non-empty skos:prefLabel",
        f"{paper}: kg:usesDataset links a paper to a schema:Dataset",
        f"{alphanet}: an entity has exactly one of the classes kg:Method, schema:Dataset, "
        "kg:Benchmark, kg:Metric, kg:Task, schema:SoftwareSourceCode",
    }
    assert expected <= set(report.messages), sorted(set(report.messages) - expected)


def test_every_term_the_data_uses_is_defined_with_label_and_comment() -> None:
    ontology = rdflib.Graph().parse(ROOT / "schemas" / "kgraph.ttl")
    data = union(fixture_graph())
    used = {p for p in data.predicates() if str(p).startswith(KG_NS)}
    used |= {o for o in data.objects(None, RDF.type) if str(o).startswith(KG_NS)}
    assert len(used) > 30
    for term in used:
        kinds = set(ontology.objects(term, RDF.type))
        assert kinds & {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty}, term
        assert ontology.value(term, RDFS.label) is not None, term
        assert ontology.value(term, RDFS.comment) is not None, term
    defined = {s for s in ontology.subjects(RDF.type, None) if str(s).startswith(KG_NS)}
    assert {KG.Method, KG.Task, KG.Metric, KG.Benchmark, KG.Result, KG.Mention} <= defined


def test_every_class_has_a_shape() -> None:
    shapes = rdflib.Graph().parse(ROOT / "schemas" / "shapes.ttl")
    targets = set(shapes.objects(None, SH.targetClass))
    data = union(fixture_graph())
    assert set(data.objects(None, RDF.type)) <= targets
    ontology = rdflib.Graph().parse(ROOT / "schemas" / "kgraph.ttl")
    classes = {c for c in ontology.subjects(RDF.type, OWL.Class) if isinstance(c, URIRef)}
    assert classes <= targets


def test_context_is_valid_json_ld_for_the_vocabulary() -> None:
    context = json.loads((ROOT / "schemas" / "context.jsonld").read_text())["@context"]
    assert context["kg"] == KG_NS
    assert context["schema"] == "https://schema.org/"
    assert context["usesDataset"] == {"@id": "kg:usesDataset", "@type": "@id"}
    doc = {"@context": context, "@id": BASE + "paper/x", "title": "T", "usesDataset": BASE + "d"}
    g = rdflib.Graph().parse(data=json.dumps(doc), format="json-ld")
    assert (URIRef(BASE + "paper/x"), DCT.title, Literal("T")) in g
    assert (URIRef(BASE + "paper/x"), KG.usesDataset, URIRef(BASE + "d")) in g
