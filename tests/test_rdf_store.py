"""The bundle's Oxigraph store: built on first use, reused while fresh, rebuilt when graph.json
or the base changes, replaced atomically; named graphs read back for push/serve."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyoxigraph as ox
import pytest
from fixtures.rdf.helpers import fixture_bundle, fixture_graph, seed_copy, write_bundle

from kgraph.graphfile import graph_json
from kgraph.rdf import convert, store
from kgraph.rdf.convert import RDF_VERSION, iter_statements
from kgraph.rdf.namespaces import entities_graph_iri, paper_graph_iri
from kgraph.rdf.store import (
    MARKER,
    StoreError,
    StoreLoader,
    ensure_store,
    graph_bytes,
    named_graphs,
    open_store,
    store_info,
    write_store,
)

BASE = "https://w3id.org/kgraph/id/"


def count(s: ox.Store) -> int:
    """Distinct triples of the union (Oxigraph's union default graph keeps repeats)."""
    (row,) = s.query(
        "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }",
        use_default_graph_as_union=True,
    )
    return int(row["n"].value)


def test_built_on_first_use_with_its_marker(tmp_path: Path) -> None:
    bundle = fixture_bundle(tmp_path / "b")
    path = ensure_store(bundle)
    assert path == bundle / "store"
    info = json.loads((path / MARKER).read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert info["graph_sha256"] == manifest["files"]["graph.json"]["sha256"]
    assert info["base"] == BASE and info["rdf_version"] == RDF_VERSION
    n_quads = sum(1 for _ in iter_statements(fixture_graph()))
    assert info["quads"] == n_quads and info["triples"] == n_quads - 1
    assert info["graphs"] == 4 and info["bytes"] > 0
    s = open_store(bundle)
    assert len(s) == n_quads and count(s) == n_quads - 1
    assert sorted(p.name for p in bundle.iterdir()) == ["graph.json", "manifest.json", "store"]


def test_fresh_store_is_reused_stale_one_rebuilt(tmp_path: Path) -> None:
    bundle = fixture_bundle(tmp_path / "b")
    ensure_store(bundle)
    marker = bundle / "store" / MARKER
    before = marker.stat().st_mtime_ns
    assert ensure_store(bundle) == bundle / "store"
    assert marker.stat().st_mtime_ns == before
    # graph.json changes (a paper less): the store follows
    g = fixture_graph()
    g.remove_node("paper:t-0123456789ab")
    write_bundle(bundle, graph_json(g))
    ensure_store(bundle)
    info = store_info(bundle)
    assert info is not None and info["graphs"] == 3
    assert paper_graph_iri(BASE, "t-0123456789ab") not in named_graphs(open_store(bundle))
    # another base: rebuilt under it, kept afterwards when no base is asked for
    ensure_store(bundle, base="https://example.org/kg")
    assert store_info(bundle)["base"] == "https://example.org/kg/"  # type: ignore[index]
    ensure_store(bundle)
    assert store_info(bundle)["base"] == "https://example.org/kg/"  # type: ignore[index]
    assert all(
        g.startswith("https://example.org/kg/graph/") for g in named_graphs(open_store(bundle))
    )
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")]


def test_a_failed_build_keeps_the_old_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = fixture_bundle(tmp_path / "b")
    ensure_store(bundle)
    old = store_info(bundle)

    def broken(*args: object, **kwargs: object) -> object:
        yield from list(convert.statement_runs(*args, **kwargs))[:10]  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "statement_runs", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_store(bundle, fixture_graph())
    assert store_info(bundle) == old
    assert len(open_store(bundle)) == old["quads"]  # type: ignore[index]
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")]


def test_loader_runs_beside_other_work_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = fixture_graph()
    reference = write_store(tmp_path / "ref", graph)

    # finish: the same store as write_store, swapped in whole
    loader = StoreLoader(tmp_path / "a", graph)
    info = loader.finish(reference["graph_sha256"])
    assert {k: info[k] for k in ("quads", "triples", "graphs", "graph_sha256")} == {
        k: reference[k] for k in ("quads", "triples", "graphs", "graph_sha256")
    }
    assert sorted(open_store_at(tmp_path / "a")) == sorted(open_store_at(tmp_path / "ref"))
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["store"]

    # abort: nothing left, not even the N-Quads file
    loader = StoreLoader(tmp_path / "b", graph)
    loader.abort()
    assert list((tmp_path / "b").iterdir()) == []

    # a load that fails in its thread fails in the caller (in finish()), and leaves nothing
    def fails(self: StoreLoader) -> None:
        self._error = OSError(28, "No space left on device")

    monkeypatch.setattr(StoreLoader, "_load", fails)
    with pytest.raises(StoreError, match=r"cannot write the store .*No space left"):
        StoreLoader(tmp_path / "c", graph).finish("x")
    assert list((tmp_path / "c").iterdir()) == []

    # a loader that stops half way (it closes the pipe): the writer's broken pipe becomes the
    # loader's error, and nothing is left
    def stops(self: StoreLoader) -> None:
        with open(self.quads, "rb") as fh:
            fh.read(100)
        self._error = ValueError("Parser error at line 1")

    monkeypatch.setattr(StoreLoader, "_load", stops)
    with pytest.raises(StoreError, match=r"cannot write the store .*Parser error"):
        StoreLoader(tmp_path / "d", graph).finish("x")
    assert list((tmp_path / "d").iterdir()) == []

    # without named pipes (Windows), the quads go through a file: same store
    monkeypatch.undo()
    monkeypatch.setattr(store, "_make_fifo", lambda path: False)
    loader = StoreLoader(tmp_path / "e", graph)
    assert loader.finish(reference["graph_sha256"])["quads"] == reference["quads"]
    assert sorted(open_store_at(tmp_path / "e")) == sorted(open_store_at(tmp_path / "ref"))


def test_loader_makes_the_quads_in_a_thread(tmp_path: Path) -> None:
    graph = fixture_graph()
    reference = write_store(tmp_path / "ref", graph)
    gate = threading.Event()
    seen: list[bytes] = []

    def union(chunk: bytes) -> None:
        assert gate.wait(10)
        seen.append(chunk)

    # the constructor returns while the quads are still being made (union is held back)
    loader = StoreLoader(tmp_path / "a", graph, union=union)
    assert not seen
    gate.set()
    loader.wait_quads()
    assert b"".join(seen).count(b"\n") == reference["triples"]  # the union: repeats dropped
    assert loader.finish(reference["graph_sha256"])["quads"] == reference["quads"]
    assert sorted(open_store_at(tmp_path / "a")) == sorted(open_store_at(tmp_path / "ref"))

    # abort while the quads are being made: the thread stops, nothing is left
    gate.clear()
    loader = StoreLoader(tmp_path / "b", graph, union=union)
    threading.Timer(0.2, gate.set).start()
    loader.abort()
    assert list((tmp_path / "b").iterdir()) == []

    # what goes wrong in the quad thread (here the union's file) is raised by wait_quads
    def broken(chunk: bytes) -> None:
        raise OSError(5, "Input/output error")

    loader = StoreLoader(tmp_path / "c", graph, union=broken)
    with pytest.raises(StoreError, match=r"cannot write the store .*Input/output error"):
        loader.finish("x")
    assert list((tmp_path / "c").iterdir()) == []


def open_store_at(folder: Path) -> list[str]:
    s = ox.Store.read_only(str(folder / "store"))
    return [str(q) for q in s]


def test_unwritable_bundle_gives_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = fixture_bundle(tmp_path / "b")

    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store.tempfile, "mkdtemp", denied)
    with pytest.raises(StoreError, match=r"cannot write the store .*Permission denied"):
        ensure_store(bundle)


def test_read_only_store_refuses_updates(tmp_path: Path) -> None:
    s = open_store(fixture_bundle(tmp_path / "b"))
    with pytest.raises((OSError, RuntimeError)):
        s.update("INSERT DATA { <urn:a> <urn:b> <urn:c> }")


def test_named_graph_bytes_for_push(tmp_path: Path) -> None:
    s = open_store(fixture_bundle(tmp_path / "b"))
    g = paper_graph_iri(BASE, "cs/0112017")
    nt = graph_bytes(s, g, "nt")
    triples = set(ox.parse(nt, ox.RdfFormat.N_TRIPLES))
    expected = {q.triple for q in s.quads_for_pattern(None, None, None, ox.NamedNode(g))}
    assert triples == {ox.Quad(t.subject, t.predicate, t.object) for t in expected}
    assert any(q.subject.value.endswith("paper/cs%2F0112017") for q in triples)
    ttl = graph_bytes(s, g, "ttl")
    assert b"@prefix kg: <https://w3id.org/kgraph/ontology#> ." in ttl
    assert set(ox.parse(ttl, ox.RdfFormat.TURTLE)) == triples
    entities = set(ox.parse(graph_bytes(s, entities_graph_iri(BASE)), ox.RdfFormat.N_TRIPLES))
    assert len(entities) > 50
    assert graph_bytes(s, BASE + "graph/nothing") == b""
    with pytest.raises(ValueError):
        graph_bytes(s, g, "xml")


def test_seed_store(tmp_path: Path) -> None:
    bundle = seed_copy(tmp_path / "seeds")
    s = open_store(bundle)
    graphs = named_graphs(s)
    assert len(graphs) == 315  # 314 papers + the entities
    info = store_info(bundle)
    assert info is not None and info["quads"] == len(s) > 50_000


def test_deferred_load_starts_when_finish_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``defer_load``: the quads go to a file and Oxigraph reads it only in finish(), after
    the caller has let the graph go (the build frees it first, so the loader's buffers reuse
    its memory)."""
    graph = fixture_graph()
    reference = write_store(tmp_path / "ref", graph)
    loads: list[int] = []
    real_load = StoreLoader._load

    def load(self: StoreLoader) -> None:
        loads.append(self.quads.stat().st_size)  # the whole N-Quads file is there first
        real_load(self)

    monkeypatch.setattr(StoreLoader, "_load", load)
    loader = StoreLoader(tmp_path / "a", graph, defer_load=True)
    loader.wait_quads()
    assert loads == []  # not loaded yet
    nquads = loader.quads.read_bytes()
    assert nquads.count(b"\n") == reference["quads"] and not loader.quads.is_fifo()
    del graph  # the loader needs nothing of it any more
    info = loader.finish(reference["graph_sha256"])
    assert loads == [len(nquads)]
    assert info["quads"] == reference["quads"] and info["triples"] == reference["triples"]
    assert sorted(open_store_at(tmp_path / "a")) == sorted(open_store_at(tmp_path / "ref"))
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["store"]  # the file is gone

    # abort between the quads and the load: nothing left, not even the N-Quads file
    loader = StoreLoader(tmp_path / "b", fixture_graph(), defer_load=True)
    loader.wait_quads()
    loader.abort()
    assert list((tmp_path / "b").iterdir()) == []
    assert len(loads) == 1

    # a deferred load that fails leaves nothing either
    def fails(self: StoreLoader) -> None:
        self._error = OSError(28, "No space left on device")

    monkeypatch.setattr(StoreLoader, "_load", fails)
    with pytest.raises(StoreError, match=r"cannot write the store .*No space left"):
        StoreLoader(tmp_path / "c", fixture_graph(), defer_load=True).finish("x")
    assert list((tmp_path / "c").iterdir()) == []


def test_a_bundles_store_is_made_from_a_copy_that_holds_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ensure_store loads the graph and makes the quads in a forked copy of the process, so
    that Oxigraph's loader runs in one that never held the graph; where there is no fork,
    in this process. The store is the same either way (as write_store makes it)."""
    import os

    import kgraph.bundle as bundle_module
    import kgraph.forked as forked

    loaded_in = tmp_path / "pids"
    real = bundle_module.load_graph

    def load_graph(folder: object) -> object:
        with loaded_in.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(folder)  # type: ignore[arg-type]

    monkeypatch.setattr(bundle_module, "load_graph", load_graph)
    forked_bundle = fixture_bundle(tmp_path / "forked")
    ensure_store(forked_bundle)
    assert loaded_in.read_text().split() != [str(os.getpid())]
    assert len(loaded_in.read_text().split()) == 1

    def no_fork(*args: object, **kwargs: object) -> object:
        raise forked.ForkUnavailable("no fork here")

    monkeypatch.setattr(forked, "run_forked", no_fork)
    here = fixture_bundle(tmp_path / "here")
    ensure_store(here)
    assert loaded_in.read_text().split()[-1] == str(os.getpid())

    reference = tmp_path / "reference"
    write_store(reference, fixture_graph())
    quads = [sorted(str(q) for q in open_store(b)) for b in (forked_bundle, here)]
    expected = sorted(str(q) for q in ox.Store.read_only(str(reference / "store")))
    assert quads == [expected, expected]
    for b in (forked_bundle, here):
        assert not [p.name for p in b.iterdir() if p.name.startswith(".")]  # nothing left over
