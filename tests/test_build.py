"""`kgraph build` and `kgraph stats` end to end: the bundle folder, its counts, idempotent and
incremental builds, interrupted writes, and one clear line for a bad bundle folder."""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from _seed import PAGES, ROOT, figures, seed_bundle
from click.testing import CliRunner

import kgraph.bundle as bundle_module
from kgraph import resolve_delta
from kgraph.bundle import Export, build, bundle_stats, register_export
from kgraph.cli import cli
from kgraph.engines import EngineOptions
from kgraph.readers import read_papers

FILES = (
    "manifest.json",
    "papers.jsonl",
    "extractions.jsonl",
    "resolution.jsonl.gz",
    "graph.units.npz",
    "graph.index.npz",
    "graph.json",
    "graph.html",
    "graph.ttl",
    "store",
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def kgraph(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kgraph", *args], capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (the store's too, so a half-swapped store would show)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cli_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "graph"
    code, _, err = invoke("build", *PAGES, "-o", str(out))
    assert code == 0, err
    assert "read 337 entries from 4 new inputs: 314 distinct papers (23 duplicates merged)" in err
    assert "added 314 papers (0 already in the bundle)" in err
    return out


def test_bundle_folder_holds_what_the_manifest_says(cli_bundle: Path) -> None:
    assert sorted(p.name for p in cli_bundle.iterdir()) == sorted(FILES)
    manifest = json.loads((cli_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "kgraph-bundle"
    assert manifest["kgraph_version"] and manifest["spacy_version"].startswith("3.8")
    assert manifest["created"] == manifest["updated"]
    assert [i["entries"] for i in manifest["inputs"]] == [78, 95, 126, 38]
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["exports"] == {"html": "graph.html", "json": "graph.json", "ttl": "graph.ttl"}
    # the SPARQL store: built from this very graph.json, its triples counted
    store = manifest["store"]
    assert store["folder"] == "store" and store["triples"] > 50_000
    assert store["graph_sha256"] == manifest["files"]["graph.json"]["sha256"]
    marker = json.loads((cli_bundle / "store" / "kgraph-store.json").read_text(encoding="utf-8"))
    assert marker["triples"] == store["triples"] and marker["graphs"] == 315  # 314 papers + 1
    counts = manifest["counts"]
    assert counts["papers"] == 314
    assert counts["paper_records_read"] == 337 and counts["paper_records_merged"] == 23
    assert counts["entity_mentions_before_resolution"] > counts["entities"] > 1000
    assert sum(counts["edges_by_relation"].values()) == counts["edges"]
    assert sum(counts["entities_by_type"].values()) == counts["entities"]
    for name in ("papers.jsonl", "extractions.jsonl", "graph.json", "graph.html", "graph.ttl"):
        data = (cli_bundle / name).read_bytes()
        assert manifest["files"][name]["bytes"] == len(data)
    papers = (cli_bundle / "papers.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["id"] for line in papers]
    assert len(ids) == 314 and ids == sorted(ids)
    row = json.loads((cli_bundle / "extractions.jsonl").read_text(encoding="utf-8").split("\n")[0])
    assert {"id", "title", "entities", "abbreviations"} <= set(row)


def test_cli_and_library_builds_are_byte_identical(cli_bundle: Path) -> None:
    for name in ("papers.jsonl", "extractions.jsonl", "graph.json"):
        assert (cli_bundle / name).read_bytes() == (seed_bundle() / name).read_bytes(), name


def test_graph_counts_are_the_tally_of_each_node_and_edge() -> None:
    """A build counts its graph in bulk: the same figures as a tally fed item by item, on the
    seed graph and on a graph with what a tally falls back on (no kind, no type, no
    relation: the edge's key)."""
    import networkx as nx

    from kgraph.bundle import load_graph
    from kgraph.stats import Tally, graph_counts

    odd = nx.MultiDiGraph()
    odd.add_node("a")
    odd.add_node("entity:b", kind="entity", papers=2)
    odd.add_node("entity:c", kind="entity", type="task", papers=1)
    odd.add_edge("a", "entity:b", key="mystery")
    odd.add_edge("entity:b", "entity:c", key="x", relation="co_occurs", count=1)
    odd.add_edge("entity:b", "entity:c", key="y", relation="co_occurs", count=1)
    for graph in (load_graph(seed_bundle())[1], odd):
        tally = Tally()
        for node, attrs in graph.nodes(data=True):
            tally.node(node, attrs)
        for u, v, key, attrs in graph.edges(keys=True, data=True):
            tally.edge(u, v, key, attrs)
        assert graph_counts(graph) == tally.counts()
    assert graph_counts(odd)["edges_by_relation"] == {"co_occurs": 2, "mystery": 1}
    assert graph_counts(odd)["entities_by_type"] == {"?": 1, "task": 1}


def test_stats(cli_bundle: Path) -> None:
    code, out, _ = invoke("stats", str(cli_bundle), "--json", "--top", "5")
    assert code == 0
    stats = json.loads(out)
    graph = json.loads((cli_bundle / "graph.json").read_text(encoding="utf-8"))
    entity_nodes = [n for n in graph["nodes"] if n["kind"] == "entity"]
    assert stats["papers"] == 314
    assert stats["entities"] == len(entity_nodes)
    assert stats["edges"] == len(graph["edges"])
    assert stats["entities_in_2_or_more_papers"] == sum(n["papers"] >= 2 for n in entity_nodes)
    assert 0.05 < stats["share_in_2_or_more_papers"] < 0.5
    assert stats["paper_records_merged"] == 23
    assert stats["entities_merged"] == (
        stats["entity_mentions_before_resolution"] - stats["entities"]
    )
    top = stats["top_entities"]
    assert len(top) == 5
    assert top[0]["id"] == "method/large-language-model" and top[0]["papers"] >= 50
    assert [t["papers"] for t in top] == sorted((t["papers"] for t in top), reverse=True)
    comp = stats["components"]
    assert comp["count"] >= 1 and comp["largest_papers"] > 250
    assert stats["pipeline"] == "rules+model"
    code, out, _ = invoke("stats", str(cli_bundle))
    assert code == 0
    assert re.search(r"^bundle .*\(kgraph .*, 4 inputs, rules\+model, updated ", out, re.M)
    assert "papers      314" in out
    assert f"entities    {stats['entities']:,}:" in out
    assert "top 20 entities by papers:" in out
    assert "method/large-language-model" in out and "co_occurs" in out


def test_same_pages_again_change_nothing(cli_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "again"
    shutil.copytree(cli_bundle, folder)
    before = snapshot(folder)
    code, _, err = invoke("build", *PAGES, "-o", str(folder))
    assert code == 0
    assert "skipped 4 inputs already in the bundle" in err
    assert "nothing new" in err
    assert snapshot(folder) == before


def test_adding_a_page_adds_only_its_new_papers(tmp_path: Path) -> None:
    folder = tmp_path / "grow"
    first, last = PAGES[:3], PAGES[3]
    code, _, err = invoke("build", *first, "-o", str(folder))
    assert code == 0, err
    known = {p.id for p in read_papers(first).papers}
    page = read_papers([last]).papers
    new = [p for p in page if p.id not in known]
    assert 0 < len(new) < len(page)  # the last page shares papers with the others
    code, _, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert code == 0, err
    assert "skipped 3 inputs already in the bundle" in err
    # only the entities the new papers can change were resolved again
    resolved, total = figures(
        r"resolution: grown from the bundle's state, ([\d,]+) of ([\d,]+) ", err
    )
    assert 0 < resolved < total
    # and some of the new papers' entities joined entities named before, resolving nothing
    (joined,) = figures(r"([\d,]+) of the new papers' joined known entities", err)
    assert 0 < joined < total - resolved
    assert f"added {len(new)} papers ({len(page) - len(new)} already in the bundle)" in err
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"][-1]["new_papers"] == len(new)
    # the grown bundle is the one built in one go
    seed_manifest = json.loads((seed_bundle() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == seed_manifest["counts"]
    for name in ("papers.jsonl", "extractions.jsonl", "resolution.jsonl.gz", "graph.json"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name


def test_interrupted_write_leaves_the_old_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "safe"
    shutil.copytree(seed_bundle(), folder)
    before = snapshot(folder)
    new_input = str(ROOT / "tests" / "fixtures" / "papers.jsonl")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle_module.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        build(folder, [new_input])
    monkeypatch.undo()
    assert snapshot(folder) == before  # nothing renamed, no temporary file left
    assert bundle_stats(folder)["papers"] == 314

    def broken(ctx: object) -> bytes:
        raise RuntimeError("exporter failed")

    monkeypatch.setitem(bundle_module.EXPORTS, "broken", Export("broken", "broken.bin", broken))
    with pytest.raises(RuntimeError, match="exporter failed"):
        build(folder, [new_input])
    assert snapshot(folder) == before
    monkeypatch.undo()
    assert gc.isenabled() and gc.get_freeze_count() == 0  # a failed build restores the collector
    report = build(folder, [new_input])  # and it still works afterwards
    assert report.written and report.added
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert bundle_stats(folder)["papers"] == 314 + len(report.added)
    assert len(report.added) == 1 and len(report.updated) >= 2  # 2 papers gain their arXiv id


def test_papers_and_extractions_written_by_a_forked_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [b"%d\n" % i for i in range(50_000)]

    def content(fh: object) -> None:
        for row in rows:
            fh.write(row)  # type: ignore[attr-defined]

    expected = bundle_module.write_content(tmp_path / "expected", content)

    # the copy writes while the caller goes on; wait() records what it wrote
    with bundle_module.Staging(tmp_path / "a") as staging:
        job = bundle_module.ForkedWrite(staging, {"rows.txt": content, "b.txt": b"bytes"})
        assert job.pid is not None
        job.wait()
        assert staging.info["rows.txt"] == expected
        assert staging.info["b.txt"]["bytes"] == 5
        staging.commit()
    assert (tmp_path / "a" / "rows.txt").read_bytes() == b"".join(rows)

    # the copy yields the cores to the process that started it (and to its other copies):
    # it writes at nice 15 more than the caller; written here, the caller's stays
    def niceness(fh: object) -> None:
        fh.write(b"%d" % os.nice(0))  # type: ignore[attr-defined]

    with bundle_module.Staging(tmp_path / "n") as staging:
        job = bundle_module.ForkedWrite(staging, {"nice.txt": niceness})
        job.wait()
        staging.commit()
    assert int((tmp_path / "n" / "nice.txt").read_bytes()) == min(19, os.nice(0) + 15)

    # once the copy is started, what the files are made from is its alone: the caller may
    # let it go (the build frees the extractions while the copy writes them)
    def own(fh: object) -> None:
        fh.write(b"x")  # type: ignore[attr-defined]

    made_from = weakref.ref(own)
    with bundle_module.Staging(tmp_path / "f") as staging:
        job = bundle_module.ForkedWrite(staging, {"own.txt": own})
        del own
        gc.collect()
        assert made_from() is None
        job.wait()
        assert staging.info["own.txt"]["bytes"] == 1

    # a copy that fails: one line naming the files and the cause, nothing left
    def fails(fh: object) -> None:
        raise ValueError("record 7 cannot be written")

    with bundle_module.Staging(tmp_path / "b") as staging:
        job = bundle_module.ForkedWrite(staging, {"rows.txt": fails})
        with pytest.raises(bundle_module.BundleError, match=r"rows.txt \(record 7 cannot"):
            job.wait()
    assert list((tmp_path / "b").iterdir()) == []

    # abort stops a copy that is still writing
    def slow(fh: object) -> None:
        time.sleep(30)

    with bundle_module.Staging(tmp_path / "c") as staging:
        job = bundle_module.ForkedWrite(staging, {"rows.txt": slow})
        started = time.perf_counter()
        job.abort()
        assert time.perf_counter() - started < 10 and job.pid is None
    assert list((tmp_path / "c").iterdir()) == []

    # a fork that fails (no memory for another process): wait() writes them, the same bytes
    def no_memory() -> int:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(bundle_module.os, "fork", no_memory)
    with bundle_module.Staging(tmp_path / "e") as staging:
        job = bundle_module.ForkedWrite(staging, {"rows.txt": content})
        assert job.pid is None
        job.wait()
        assert staging.info["rows.txt"] == expected

    # without fork, wait() writes the files itself: the same bytes (at this process's nice)
    monkeypatch.delattr(bundle_module.os, "fork")
    with bundle_module.Staging(tmp_path / "d") as staging:
        job = bundle_module.ForkedWrite(staging, {"rows.txt": content, "nice.txt": niceness})
        assert job.pid is None
        job.wait()
        assert staging.info["rows.txt"] == expected
        staging.commit()
    assert int((tmp_path / "d" / "nice.txt").read_bytes()) == os.nice(0)


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "forked"])
def test_the_store_loads_after_the_build_let_go_of_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolate: bool
) -> None:
    """Oxigraph's bulk loader (gigabytes of buffers at scale) runs once the graph, the
    papers and the extractions are freed, so its memory is not added to theirs. Forked (the
    default where the system forks), the graph is made in a copy of the process, which has
    ended when the store loads in the caller's process, which never held the build's data."""
    import kgraph.graph as graph_module
    from kgraph.extractions import Extraction
    from kgraph.rdf.store import StoreLoader
    from kgraph.records import Paper

    def live(kind: type) -> int:
        return sum(1 for o in gc.get_objects() if type(o) is kind)

    graphs: list[weakref.ref[object]] = []
    made_in = tmp_path / "graph-made-in"  # the copy's lists do not come back: a file does
    real_build_graph = graph_module.build_graph

    def build_graph(*args: object, **kwargs: object) -> object:
        graph = real_build_graph(*args, **kwargs)  # type: ignore[arg-type]
        graphs.append(weakref.ref(graph))
        made_in.write_text(str(os.getpid()))
        return graph

    at_load: list[tuple[int, bool, int, int]] = []
    real_load = StoreLoader._load

    def load(self: StoreLoader) -> None:
        alive = bool(graphs) and graphs[0]() is not None
        at_load.append((os.getpid(), alive, live(Paper), live(Extraction)))
        real_load(self)

    monkeypatch.setattr(graph_module, "build_graph", build_graph)
    monkeypatch.setattr(StoreLoader, "_load", load)
    papers_before, extractions_before = live(Paper), live(Extraction)
    report = build(tmp_path / "b", [PAGES[3]], isolate=isolate)
    assert report.written and report.counts["papers"] > 30
    ((pid, graph_alive, papers, extractions),) = at_load
    assert pid == os.getpid() and not graph_alive
    # at most a loop variable's last paper or extraction is left, not the build's data
    assert papers - papers_before <= 2 and extractions - extractions_before <= 2
    assert report.isolated is isolate
    assert (int(made_in.read_text()) != os.getpid()) is isolate
    phases = list(report.phases)
    last = "worker exit" if isolate else "freeing memory"
    assert phases[-3:] == [last, "store", "commit"]
    if isolate:
        assert "freeing memory" not in phases and not graphs  # made in the copy only


def test_a_failed_papers_writer_leaves_the_old_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "safe"
    shutil.copytree(seed_bundle(), folder)
    before = snapshot(folder)

    def broken(rows: object) -> object:
        def write(fh: object) -> None:
            raise RuntimeError("cannot serialise")

        return write

    # the forked copy that writes them fails: the build fails, and changes nothing
    monkeypatch.setattr(bundle_module, "_jsonl_writer", broken)
    with pytest.raises(bundle_module.BundleError, match=r"extractions.jsonl \(cannot serialise"):
        build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")])
    assert snapshot(folder) == before


def test_default_exports_are_written_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle_module, "EXPORTS", dict(bundle_module.EXPORTS))
    register_export(
        Export("count", "count.txt", lambda ctx: f"{ctx.graph.number_of_nodes()}\n".encode())
    )
    with pytest.raises(ValueError):
        register_export(Export("bad", "manifest.json", lambda ctx: b""))
    folder = tmp_path / "exports"
    build(folder, [PAGES[3]])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exports"] == {
        "count": "count.txt",
        "html": "graph.html",
        "json": "graph.json",
        "ttl": "graph.ttl",
    }
    graph = json.loads((folder / "graph.json").read_text(encoding="utf-8"))
    assert (folder / "count.txt").read_text() == f"{len(graph['nodes'])}\n"
    assert "count.txt" in manifest["files"]


def test_a_changed_extractor_extracts_everything_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "stale"
    first = build(folder, [PAGES[3]])
    graph = (folder / "graph.json").read_bytes()
    assert first.extracted == 38 and not first.re_extract_all
    assert build(folder, [PAGES[3]]).extracted == 0
    monkeypatch.setattr(bundle_module, "extractor_fingerprint", lambda: "another extractor")

    def unwanted(*args: object) -> None:
        raise AssertionError("the old extractions were read, and all are made again")

    monkeypatch.setattr(bundle_module.Bundle, "read_extractions", unwanted)
    monkeypatch.setattr(bundle_module.Bundle, "read_extraction_lines", unwanted)
    again = build(folder, [PAGES[3]])
    assert again.re_extract_all and again.extracted == 38 and again.written
    assert again.resolution == {"full": "every paper extracted again"}
    assert (folder / "graph.json").read_bytes() == graph


def test_an_add_extracts_its_papers_the_way_the_bundles_were_extracted(tmp_path: Path) -> None:
    """A bundle built with rules only is grown with rules only unless told otherwise: the
    grown bundle is the one built in one go that way. Told otherwise, every paper is extracted
    again, and the bundle is then the one built with the model."""
    rules = tmp_path / "rules"
    code, _, err = invoke("build", *PAGES, "-o", str(rules), "--no-model")
    assert code == 0, err
    folder = tmp_path / "grown"
    code, _, err = invoke("build", *PAGES[:3], "-o", str(folder), "--no-model")
    assert code == 0, err
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pipeline"] == "rules"

    code, _, err = invoke("build", *PAGES, "-o", str(folder))  # (no choice given)
    assert code == 0, err
    assert "extracted all" not in err
    for name in ("extractions.jsonl", "graph.json"):
        assert (folder / name).read_bytes() == (rules / name).read_bytes(), name
    # (the model finds spans the rules do not, on these pages)
    assert (rules / "extractions.jsonl").read_bytes() != (
        seed_bundle() / "extractions.jsonl"
    ).read_bytes()

    code, _, err = invoke("build", *PAGES, "-o", str(folder), "--model")
    assert code == 0, err
    assert "extracted all 314 papers again (the pipeline changed (rules -> rules+model))" in err
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pipeline"] == "rules+model"
    for name in ("extractions.jsonl", "graph.json"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name
    # and with no choice given, it stays so
    code, _, err = invoke("build", *PAGES, "-o", str(folder))
    assert code == 0, err
    assert "nothing new" in err

    # the library's build follows the bundle the same way, with or without engine options
    library = tmp_path / "library"
    assert build(library, PAGES[:3], engine=EngineOptions(jobs=1, model=False)).pipeline == (
        "rules"
    )
    for some, engine in ((PAGES[:4], None), (PAGES, EngineOptions(jobs=1))):
        report = build(library, some, engine=engine)
        assert report.pipeline == "rules" and not report.re_extract_all, report.re_extract_why
    for name in ("extractions.jsonl", "graph.json"):
        assert (library / name).read_bytes() == (rules / name).read_bytes(), name


def test_a_bundle_that_does_not_say_its_pipeline_is_grown_with_the_model(
    tmp_path: Path,
) -> None:
    """A bundle made before the manifest named its pipeline: an add extracts its new papers
    as kgraph did then (with the model, unless told otherwise), extracts nothing again, and
    names the pipeline from then on."""
    folder = tmp_path / "old"
    build(folder, PAGES[:3])
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["pipeline"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    report = build(folder, PAGES)
    assert not report.re_extract_all and 0 < report.extracted < 100
    assert report.pipeline == "rules+model"
    assert json.loads(path.read_text(encoding="utf-8"))["pipeline"] == "rules+model"
    assert (folder / "graph.json").read_bytes() == (seed_bundle() / "graph.json").read_bytes()


@pytest.mark.parametrize("case", ["damaged", "other code", "missing"])
def test_an_unusable_resolution_state_is_resolved_in_full_and_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    folder = tmp_path / "bundle"
    assert build(folder, PAGES[:3]).resolution == {"full": "a new bundle"}
    state = folder / "resolution.jsonl.gz"
    if case == "damaged":
        state.write_bytes(state.read_bytes()[:-100])
        why = "its resolution state is unusable: " + str(state)
    elif case == "other code":
        monkeypatch.setattr(resolve_delta, "resolver_fingerprint", lambda: "other")
        why = "its resolution state is unusable: made by another version"
    else:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        del manifest["files"]["resolution.jsonl.gz"]
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        why = "the bundle has no resolution state (made by an earlier kgraph)"
    report = build(folder, PAGES)
    assert report.resolution["full"].startswith(why)
    assert (folder / "graph.json").read_bytes() == (seed_bundle() / "graph.json").read_bytes()
    # made again (its first line names the resolution code: here the patched one)
    made, whole = (
        gzip.decompress((f / "resolution.jsonl.gz").read_bytes()).split(b"\n", 1)[1]
        for f in (folder, seed_bundle())
    )
    assert made == whole


def test_a_hand_edited_bundle_is_refused(cli_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "edited"
    shutil.copytree(cli_bundle, folder)
    with (folder / "graph.json").open("a") as fh:
        fh.write(" ")
    proc = kgraph("stats", str(folder))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: {folder / 'graph.json'}: does not match manifest.json (changed by hand, or a "
        "write was interrupted); build the bundle again into a new folder"
    ]


@pytest.mark.parametrize("case", ["missing", "not a bundle", "bad manifest", "a file"])
def test_a_bad_bundle_folder_is_one_line_and_exit_1(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "b"
    if case == "not a bundle":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello")
    elif case == "bad manifest":
        folder.mkdir()
        (folder / "manifest.json").write_text("{")
    elif case == "a file":
        folder.write_text("x")
    proc = kgraph("stats", str(folder))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {folder}"), lines
    if case != "missing":
        proc = kgraph("build", PAGES[3], "-o", str(folder))
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_nothing_readable_creates_no_bundle(tmp_path: Path) -> None:
    folder = tmp_path / "none"
    proc = kgraph("build", str(tmp_path / "missing.txt"), "-o", str(folder))
    assert proc.returncode == 1
    assert "Error: no papers could be read from the input" in proc.stderr
    assert not folder.exists()


@pytest.mark.parametrize("command", ["build", "stats"])
def test_help_ends_with_an_example(command: str) -> None:
    code, out, _ = invoke(command, "--help")
    assert code == 0
    tail = out.rstrip().split("Example:")[-1]
    assert "Example:" in out and f"kgraph {command} " in tail


def test_verbose_build_reports_time_and_memory_by_phase(tmp_path: Path) -> None:
    code, _, err = invoke("-v", "build", PAGES[3], "-o", str(tmp_path / "b"))
    assert code == 0
    (times,) = [line for line in err.splitlines() if "time by phase: " in line]
    (memory,) = [line for line in err.splitlines() if "peak memory after phase: " in line]
    phases = [p.rsplit(" ", 2)[0] for p in times.split("time by phase: ")[1].split(", ")]
    assert phases[:4] == ["read", "extract", "results", "resolve"] and "store" in phases
    # the load comes last, in this process, once the copy that did the rest has ended
    assert phases[-3:] == ["worker exit", "store", "commit"]
    assert "ran in a copy of this process" in err
    sizes = memory.split("peak memory after phase: ")[1].split(", ")
    assert [s.rsplit(" ", 2)[0] for s in sizes] == phases
    assert all(s.endswith(" MiB") for s in sizes)
    assert all(float(s.rsplit(" ", 2)[1].replace(",", "")) > 0 for s in sizes)


def test_a_bundle_read_shares_its_repeated_strings() -> None:
    """A bundle's extractions are read into millions of objects at scale: the strings that
    recur (names, types, relations, gazetteer ids, mention texts, sentences, component names)
    are one object each, not one per entity or mention as a JSON parser makes them; the
    values are unchanged."""
    bundle = bundle_module.Bundle.open(seed_bundle())
    entities = [e for ext in bundle.extractions.values() for e in ext.entities]
    for attr in ("name", "type", "relation", "id"):
        values = [getattr(e, attr) for e in entities if getattr(e, attr)]
        assert len({id(v) for v in values}) == len(set(values)) < len(values), attr
    mentions = [m for e in entities for m in e.mentions]
    for attr in ("text", "source", "sentence"):
        values = [getattr(m, attr) for m in mentions]
        assert len({id(v) for v in values}) == len(set(values)) < len(values), attr
    rows = [json.loads(line) for line in (seed_bundle() / "extractions.jsonl").open()]
    assert [e.to_dict()["type"] for e in entities] == [
        e["type"] for r in rows for e in r["entities"]
    ]
    assert [e.id for e in entities] == [e.get("kb_id") for r in rows for e in r["entities"]]


@pytest.mark.parametrize("name", ["papers.jsonl", "extractions.jsonl"])
def test_a_damaged_record_names_its_file_and_line(tmp_path: Path, name: str) -> None:
    """A line that is JSON but not a record (the manifest made to agree with it)."""
    import hashlib

    folder = tmp_path / "damaged"
    shutil.copytree(seed_bundle(), folder)
    path = folder / name
    lines = path.read_bytes().splitlines(keepends=True)
    lines[6] = b'{"title": "no id"}\n'
    data = b"".join(lines)
    path.write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    why = "'id'" if name == "papers.jsonl" else "not an extraction record (KeyError: 'entities')"
    with pytest.raises(bundle_module.BundleError) as caught:
        bundle_module.Bundle.open(folder)
    assert str(caught.value) == f"{path}:7: damaged record ({why})"
    code, _, err = invoke(
        "build", str(ROOT / "tests" / "fixtures" / "papers.jsonl"), "-o", str(folder)
    )
    assert code == 1 and f"{path}:7: damaged record ({why})" in err


def test_the_graph_frees_each_extraction_as_it_adds_its_paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build holds no reference of its own to the extractions when the graph is made:
    taken out of the resolution paper by paper, they are all freed by the graph's end, and
    their memory goes to the graph (at 173k papers the graph phase's peak was 341 MiB
    lower)."""
    import kgraph.graph as graph_module
    from kgraph.extractions import Extraction

    def live() -> int:
        gc.unfreeze()  # (the build froze them: the collector's lists then leave them out)
        try:
            return sum(1 for o in gc.get_objects() if type(o) is Extraction)
        finally:
            gc.freeze()

    seen: list[tuple[int, int, int, int, int]] = []
    real_build_graph = graph_module.build_graph

    def build_graph(papers: object, resolution: Any, **kwargs: Any) -> object:
        exts = resolution.extractions
        held, before = len(exts), live()
        made = sum(1 for ext in exts.values() if type(ext) is Extraction)  # (no line left)
        graph = real_build_graph(papers, resolution, **kwargs)  # type: ignore[arg-type]
        seen.append((held, made, before, live(), len(exts)))
        return graph

    monkeypatch.setattr(graph_module, "build_graph", build_graph)
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder)
    report = build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")], isolate=False)
    ((held, made, before, after, left),) = seen
    # the papers whose part the graph makes (the bundle's lines went before the graph)
    assert held == made == report.graph["of"] - report.graph["kept"] >= len(report.added) > 0
    assert report.graph["of"] == report.counts["papers"] > 300
    assert left == 0 and before - after == held  # every one freed
    # and the bundle is the one the graph made from them all
    assert bundle_stats(folder)["papers"] == report.graph["of"]


def test_a_state_that_cannot_be_written_fails_the_build_and_leaves_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread writing the state meets a full disk: the build raises it once the graph is
    made, and the bundle is as it was, no temporary file left."""
    from kgraph.resolve_delta import ResolutionState

    seed = seed_bundle()
    folder = tmp_path / "b"
    shutil.copytree(seed, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    def compress(pieces: list[bytes], fh: Any) -> None:
        fh.write(b"\x1f\x8b half a state")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ResolutionState, "compress", staticmethod(compress))
    with pytest.raises(OSError, match="No space left"):
        build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")], isolate=False)
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before


def test_the_resolution_state_is_made_by_the_build_and_compressed_beside_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not by a forked copy while the graph is made: a copy walking the state makes the
    kernel copy every page of it (all processes of an add at 176k papers peaked 435 MiB
    above the build's own peak so). Its JSON is made before the graph, in the build's own
    thread; a thread of the build compresses and writes it while the graph is made, and the
    build waits for it before it goes on (the state is in the manifest, the same bytes as
    :meth:`ResolutionState.dump` gives)."""
    import threading

    import kgraph.graph as graph_module
    from kgraph.resolve_delta import ResolutionState

    seed = seed_bundle()
    events: list[tuple[str, int, str]] = []
    real_encoded, real_compress = ResolutionState.encoded, ResolutionState.compress
    real_build_graph = graph_module.build_graph
    graph_started = threading.Event()
    made: list[bytes] = []

    def here(what: str) -> None:
        events.append((what, os.getpid(), threading.current_thread().name))

    def encoded(self: ResolutionState) -> list[bytes]:
        here("encode")
        pieces = real_encoded(self)
        made.append(b"".join(pieces))
        return pieces

    def compress(pieces: list[bytes], fh: Any) -> None:
        assert graph_started.wait(30)  # (the graph is made meanwhile)
        here("compress")
        real_compress(pieces, fh)

    def build_graph(*args: Any, **kwargs: Any) -> object:
        here("graph")
        graph_started.set()
        return real_build_graph(*args, **kwargs)

    monkeypatch.setattr(ResolutionState, "encoded", encoded)
    monkeypatch.setattr(ResolutionState, "compress", staticmethod(compress))
    monkeypatch.setattr(graph_module, "build_graph", build_graph)
    folder = tmp_path / "b"
    shutil.copytree(seed, folder)
    report = build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")], isolate=False)
    me, main = os.getpid(), threading.current_thread().name
    assert events == [
        ("encode", me, main),
        ("graph", me, main),
        ("compress", me, "kgraph-resolution.jsonl.gz"),
    ]
    assert list(report.phases)[3:6] == ["resolve", "resolution state", "graph"]
    data = (folder / "resolution.jsonl.gz").read_bytes()
    assert gzip.decompress(data) == made[0]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["resolution.jsonl.gz"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    # and the next add grows from the state written
    more = tmp_path / "more.jsonl"
    paper = {"title": "GrowNet for tests", "abstract": "We propose GrowNet. It beats BERT."}
    more.write_text(json.dumps(paper) + "\n", encoding="utf-8")
    assert "grown" in build(folder, [str(more)], isolate=False).resolution


def test_an_add_reads_its_resolution_state_beside_the_papers_and_after_the_forks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state an add grows from is read and decompressed in a thread while the bundle's
    papers are read; the copy reading graph.json forks before that thread starts (no thread
    of the build runs when it forks)."""
    import threading

    from kgraph.resolve_delta import ResolutionState

    seen: dict[str, Any] = {}
    real_decompress, real_start = ResolutionState.decompress, bundle_module._PartsReader.start

    def decompress(data: bytes) -> list[bytes]:
        seen["thread"] = threading.current_thread().name
        time.sleep(1.0)  # (slower than the papers' reading: the add must wait for it)
        return real_decompress(data)

    def start(*args: Any) -> Any:
        seen["at fork"] = sorted(t.name for t in threading.enumerate())
        return real_start(*args)

    monkeypatch.setattr(ResolutionState, "decompress", staticmethod(decompress))
    monkeypatch.setattr(
        bundle_module._PartsReader, "start", classmethod(lambda cls, *args: start(*args))
    )
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder)
    report = build(folder, [str(ROOT / "tests" / "fixtures" / "papers.jsonl")], isolate=False)
    assert "grown" in report.resolution
    assert seen["thread"] == "kgraph-state"
    assert not [name for name in seen["at fork"] if name.startswith("kgraph")]


def test_only_an_add_that_keeps_papers_rdf_writes_graph_html_before_the_quads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add that keeps most papers' RDF writes graph.html before the quad pass starts (the
    two would only share Python's lock); a build that makes every statement starts the
    quads first, so that graph.ttl's writer has them early."""
    staged_at_start: list[list[str]] = []
    real = bundle_module._StorePass.__init__

    def init(self: Any, staging: Any, *args: Any, **kwargs: Any) -> None:
        staged_at_start.append(sorted({name for name, _ in staging.temps}))
        real(self, staging, *args, **kwargs)

    monkeypatch.setattr(bundle_module._StorePass, "__init__", init)
    fixture = str(ROOT / "tests" / "fixtures" / "papers.jsonl")
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder)
    report = build(folder, [fixture], isolate=False)
    assert report.rdf.get("kept"), report.rdf
    assert {"graph.json", "graph.html"} <= set(staged_at_start[-1])

    report = build(tmp_path / "new", [fixture], isolate=False)
    assert "full" in report.rdf
    assert "graph.html" not in staged_at_start[-1]
    assert "graph.json" not in staged_at_start[-1]


@pytest.mark.parametrize("isolate", [True, False])
def test_the_library_says_which_step_a_build_is_at(tmp_path: Path, isolate: bool) -> None:
    """``build(on_step=)`` is told each long step as it begins, in this process even when the
    work runs in a copy of it; the report that comes back keeps no callback."""
    steps: list[str] = []
    fixture = str(ROOT / "tests" / "fixtures" / "papers.jsonl")
    report = build(tmp_path / "b", [PAGES[3]], isolate=isolate, on_step=steps.append)
    assert report.isolated is isolate
    assert steps == [
        "reading the inputs",
        "finding the results the papers report",
        "resolving entities",
        "writing the resolution state",
        "making the graph",
        "writing graph.html",
        "writing graph.json",
        "writing graph.ttl and the store's quads",
        "loading the store",
    ]
    steps.clear()
    report = build(tmp_path / "b", [fixture], isolate=isolate, on_step=steps.append)
    assert steps[0] == "reading the bundle and the inputs"
    assert steps[-1] == "updating the store"
    assert "comparing the RDF with the bundle's" in steps
    assert steps.index("writing graph.json") < steps.index("comparing the RDF with the bundle's")
    assert report.store["loaded"] == "updated in place"
    assert pickle.loads(pickle.dumps(report)).on_step is None


def test_every_file_an_add_stages_is_synced_before_it_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staged files are synced aside (graph.json by a thread while the quads are made,
    graph.ttl after its writer's process ended): each is synced before the commit renames
    it, in whichever process wrote it."""
    folder = tmp_path / "b"
    build(folder, PAGES[:3])
    log = tmp_path / "log"
    real_fsync, real_replace = os.fsync, os.replace

    def note(line: str) -> None:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def fsync(fd: int) -> None:
        real_fsync(fd)
        note(f"sync {os.readlink(f'/proc/self/fd/{fd}')}")

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        note(f"replace {os.fspath(src)} {os.fspath(dst)}")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    report = build(folder, PAGES)
    monkeypatch.undo()
    assert report.rdf.get("kept") and report.store.get("loaded") == "updated in place"
    synced: set[str] = set()
    renamed: dict[str, bool] = {}  # file -> synced before its rename
    for line in log.read_text().splitlines():
        what, path, *to = line.split(" ")
        if what == "sync":
            synced.add(path)
        elif Path(to[0]).parent == folder and "store" not in path:  # (files, not the store)
            renamed[Path(to[0]).name] = path in synced
    assert {"graph.json", "graph.ttl", "graph.html", "graph.units.npz", "manifest.json"} <= set(
        renamed
    )
    assert all(renamed.values()), renamed
