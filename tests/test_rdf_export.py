"""RDF exports: every format parses back into the same triples (rdflib on the fixture graph,
pyoxigraph on the seed graph), Turtle and N-Triples pass rapper and serdi, the CLI writes
files atomically."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from fixtures.rdf.helpers import ROOT, fixture_bundle, fixture_graph, seed_graph

from kgraph.exporters import ExportOptions, exporters, get
from kgraph.rdf.convert import FORMATS, ntriples_chunks, serialize

RDFLIB_FORMATS = {
    "ttl": "turtle",
    "nt": "nt",
    "nq": "nquads",
    "trig": "trig",
    "jsonld": "json-ld",
    "xml": "xml",
}
OX_FORMATS = {
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "nq": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "jsonld": ox.RdfFormat.JSON_LD,
    "xml": ox.RdfFormat.RDF_XML,
}


def exported(graph: object, fmt: str, base: str = "https://w3id.org/kgraph/id/") -> bytes:
    out = io.BytesIO()
    serialize(graph, fmt, out, base)  # type: ignore[arg-type]
    return out.getvalue()


def rdflib_triples(data: bytes, fmt: str) -> set[tuple[object, object, object]]:
    if fmt in ("nq", "trig"):
        ds = rdflib.Dataset()
        ds.parse(data=data, format=RDFLIB_FORMATS[fmt])
        return {(s, p, o) for s, p, o, _ in ds.quads((None, None, None, None))}
    return set(rdflib.Graph().parse(data=data, format=RDFLIB_FORMATS[fmt]))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_through_rdflib(fmt: str) -> None:
    g = fixture_graph()
    reference = rdflib_triples(b"".join(ntriples_chunks(g)), "nt")
    assert len(reference) > 150
    assert rdflib_triples(exported(g, fmt), fmt) == reference


def test_named_graphs_survive_nquads_and_trig() -> None:
    g = fixture_graph()
    found = []
    for fmt in ("nq", "trig"):
        ds = rdflib.Dataset()
        ds.parse(data=exported(g, fmt), format=RDFLIB_FORMATS[fmt])
        found.append({(s, p, o, c) for s, p, o, c in ds.quads((None, None, None, None))})
    assert found[0] == found[1]
    graphs = {str(c) for *_, c in found[0]}
    assert "https://w3id.org/kgraph/id/graph/paper/cs%2F0112017" in graphs
    assert len(graphs) == 4


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_seed_graph_round_trip_through_pyoxigraph(fmt: str) -> None:
    g = seed_graph()
    reference = set(ox.parse(b"".join(ntriples_chunks(g)), ox.RdfFormat.N_TRIPLES))
    assert len(reference) > 50_000
    back = ox.parse(exported(g, fmt), OX_FORMATS[fmt])
    assert {ox.Quad(q.subject, q.predicate, q.object) for q in back} == reference


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("rdf-export")
    g = seed_graph()
    files = {}
    for fmt in ("ttl", "nt", "nq", "trig"):
        files[fmt] = folder / f"seeds.{fmt}"
        files[fmt].write_bytes(exported(g, fmt))
    return files


@pytest.mark.skipif(shutil.which("rapper") is None, reason="rapper (raptor2-utils) missing")
@pytest.mark.parametrize(("fmt", "syntax"), [("ttl", "turtle"), ("nt", "ntriples")])
def test_rapper_parses_strictly(seed_files: dict[str, Path], fmt: str, syntax: str) -> None:
    proc = subprocess.run(
        ["rapper", "-q", "-i", syntax, "-c", str(seed_files[fmt])],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Error" not in proc.stderr and "Warning" not in proc.stderr
    n = len(set(ox.parse(seed_files["nt"].read_bytes(), ox.RdfFormat.N_TRIPLES)))
    proc = subprocess.run(
        ["rapper", "-i", syntax, "-c", str(seed_files[fmt])], capture_output=True, text=True
    )
    assert f"returned {n} triples" in proc.stderr


@pytest.mark.skipif(shutil.which("serdi") is None, reason="serdi missing")
@pytest.mark.parametrize(
    ("fmt", "syntax"), [("ttl", "turtle"), ("nt", "ntriples"), ("nq", "nquads"), ("trig", "trig")]
)
def test_serdi_parses_strictly(seed_files: dict[str, Path], fmt: str, syntax: str) -> None:
    proc = subprocess.run(
        [
            "serdi",
            "-i",
            syntax,
            "-o",
            "ntriples" if fmt in ("ttl", "nt") else "nquads",
            str(seed_files[fmt]),
        ],
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    n = len(set(ox.parse(seed_files["nt"].read_bytes(), ox.RdfFormat.N_TRIPLES)))
    assert len(set(lines)) >= n


def test_registered_exporters() -> None:
    found = exporters()
    expected = {
        "ttl": (".ttl", "text/turtle"),
        "nt": (".nt", "application/n-triples"),
        "nq": (".nq", "application/n-quads"),
        "trig": (".trig", "application/trig"),
        "jsonld": (".jsonld", "application/ld+json"),
        "xml": (".rdf", "application/rdf+xml"),
    }
    for fmt, (ext, media) in expected.items():
        assert (found[fmt].extension, found[fmt].media_type) == (ext, media)
        assert not found[fmt].is_folder


def test_exporter_honours_base_and_writes_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out" / "g.nt"
    written = get("nt").write(
        fixture_graph(), target, ExportOptions(base="https://example.org/kg/")
    )
    assert written == [target]
    text = target.read_text(encoding="utf-8")
    assert "<https://example.org/kg/paper/cs%2F0112017>" in text
    assert "w3id.org/kgraph/id/" not in text
    assert sorted(p.name for p in target.parent.iterdir()) == ["g.nt"]


def test_jsonld_uses_the_context() -> None:
    import json

    doc = json.loads(exported(fixture_graph(), "jsonld"))
    context = doc["@context"]
    assert context["title"] == "dcterms:title"
    assert context["value"] == {"@id": "kg:value", "@type": "xsd:decimal"}
    assert context["paper"] == "https://w3id.org/kgraph/id/paper/"
    text = json.dumps(doc)
    assert '"prefLabel"' in text and '"usesDataset"' in text


def kgraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgraph", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_export_every_format(tmp_path: Path) -> None:
    bundle = fixture_bundle(tmp_path / "b")
    reference = rdflib_triples(b"".join(ntriples_chunks(fixture_graph())), "nt")
    for fmt, ext in (("ttl", ".ttl"), ("jsonld", ".jsonld"), ("xml", ".rdf"), ("trig", ".trig")):
        out = tmp_path / f"g{ext}"
        proc = kgraph("export", str(bundle), "-o", str(out))  # format from the extension
        assert proc.returncode == 0, proc.stderr
        assert rdflib_triples(out.read_bytes(), fmt) == reference
    proc = kgraph("export", str(bundle), "--format", "nt", "--base", "https://ex.org/kg")
    assert proc.returncode == 0
    assert "<https://ex.org/kg/paper/2401.00001>" in proc.stdout
