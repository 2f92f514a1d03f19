"""What an add keeps of the graph (kgraph.graph_delta) and of the extractions
(kgraph.extractions.StoredExtractions): a paper whose record, extraction and canonical ids
are unchanged has its part of the graph taken from the bundle's graph.json, and the graph is
the one made from every extraction; the bundle's extraction lines are made into objects only
when asked for, and written back as they were read."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any, Final

import networkx as nx
import numpy as np
import orjson
import pytest
from _seed import PAGES, figures, seed_bundle, seed_extractions
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_resolve_delta import GAZ, corpus

from kgraph.bundle import BundleError, build, load_graph
from kgraph.cli import cli
from kgraph.extractions import Extraction, StoredExtractions
from kgraph.graph import build_graph, paper_node
from kgraph.graph_delta import (
    GraphIndex,
    KeptFileChanged,
    LightEdges,
    _identity,
    assignment_digest,
    dump_parts,
    kept_papers,
    load_parts,
    read_parts,
)
from kgraph.graphfile import graph_json, write_graph_json
from kgraph.rdf.paper_units import line_digest
from kgraph.records import Entity, Mention, Paper
from kgraph.resolve import Gazetteer, resolve
from kgraph.resolve_delta import extend, resolve_tracked

# --- the extractions kept as lines ------------------------------------------------------------


def lines_of(exts: list[Extraction]) -> bytes:
    return b"".join(orjson.dumps(e.to_dict(), option=orjson.OPT_APPEND_NEWLINE) for e in exts)


def written(stored: StoredExtractions) -> bytes:
    buf = io.BytesIO()
    stored.write_lines(buf)
    return buf.getvalue()


def test_the_seed_extractions_read_as_lines_are_the_same_and_written_back_as_read() -> None:
    data = (seed_bundle() / "extractions.jsonl").read_bytes()
    stored = StoredExtractions.from_lines(data, where="x.jsonl")
    exts = {e.paper_id: e for e in seed_extractions()}
    assert list(stored) == list(exts)
    assert all(stored.stored(pid) for pid in stored)  # nothing made yet
    pid = next(iter(exts))
    assert stored[pid] == exts[pid] and not stored.stored(pid)  # made when asked for
    assert written(stored) == data  # (made and unchanged: written again alike)
    assert written(stored.select(reversed(list(stored))).sort()) == data


@st.composite
def extraction(draw: st.DrawFn, pid: str) -> Extraction:
    text = st.text(max_size=12)
    mentions = tuple(
        Mention(a, a + 3, draw(text), draw(st.sampled_from(["rules", "gazetteer"])), draw(text))
        for a in draw(st.lists(st.integers(0, 99), max_size=3))
    )
    entities = tuple(
        Entity(
            draw(text),
            draw(st.sampled_from(["method", "dataset", "task"])),
            "uses",
            draw(st.sampled_from([0.5, 0.75, 1.0])),
            tuple(draw(st.lists(text, max_size=2))),
            mentions,
            draw(st.sampled_from([None, "method/bert"])),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    abbreviations = draw(st.sampled_from([None, (), (("AB", "a b"),)]))
    return Extraction(pid, draw(text), entities, abbreviations, draw(st.sampled_from([None, ()])))


# paper ids as bundles have them, and some that JSON escapes (read from the parsed line)
IDS = st.sampled_from(["t-0a", "t-0b", "2401.00001", 'q"uote', "back\\slash", "üñï", "t-1"])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_lines_kept_replaced_added_and_removed_are_written_as_the_objects_would_be(
    data: st.DataObject,
) -> None:
    pids = sorted(set(data.draw(st.lists(IDS, max_size=6))))
    exts = {pid: data.draw(extraction(pid)) for pid in pids}
    stored = StoredExtractions.from_lines(lines_of(list(exts.values())))
    assert list(stored) == pids
    for pid in data.draw(st.lists(st.sampled_from(pids), max_size=3)) if pids else ():
        assert stored[pid] == exts[pid]  # made (some twice)
    for pid in data.draw(st.lists(IDS, max_size=3)):  # replaced or added
        exts[pid] = stored[pid] = data.draw(extraction(pid))
    for pid in data.draw(st.lists(st.sampled_from(sorted(exts)), max_size=2)) if exts else ():
        exts.pop(pid, None)
        stored.pop(pid, None)
    picked = data.draw(st.permutations(sorted(exts)))
    view = stored.select(picked)
    assert written(view) == lines_of([exts[pid] for pid in picked])
    assert written(view.sort()) == lines_of([exts[pid] for pid in sorted(exts)])
    assert dict(view) == {pid: exts[pid] for pid in sorted(exts)}


def test_a_damaged_line_names_its_file_and_line_when_it_is_made() -> None:
    good = lines_of([Extraction("a", "A", ()), Extraction("c", "C", ())])
    data = good + b'{"id":"b","title":"B","entities":[{"name":1}]}\n'
    stored = StoredExtractions.from_lines(data, where="f.jsonl", fail=BundleError)
    assert stored["a"] == Extraction("a", "A", ())
    with pytest.raises(BundleError, match=r"^f\.jsonl:3: damaged record \("):
        stored["b"]
    # a line that does not begin with its id is made (and checked) as it is read
    with pytest.raises(BundleError, match=r"^f\.jsonl:2: damaged record \("):
        StoredExtractions.from_lines(
            good[:20] + b'\n{"title":"no id"}\n', where="f.jsonl", fail=BundleError
        )
    reordered = b'{"title":"T","id":"z","entities":[]}\n'
    stored = StoredExtractions.from_lines(good + reordered)
    assert list(stored) == ["a", "c", "z"] and not stored.stored("z")


def test_clearing_makes_nothing() -> None:
    stored = StoredExtractions.from_lines(b'{"id":"a","entities":[{"bad":1}]}\n')
    stored.clear()  # (MutableMapping's clear would make the damaged line, and fail)
    assert len(stored) == 0


# --- the papers' parts of the graph -----------------------------------------------------------


def test_the_index_round_trips_and_refuses_what_it_did_not_write() -> None:
    index = GraphIndex({"b": 2, "a": (1 << 64) - 1, "ü": 0}, runs={"paper:b": [1, 0, 1 << 63]})
    back = GraphIndex.load(index.dump())
    assert back.digests == {"a": (1 << 64) - 1, "b": 2, "ü": 0}  # (sorted: one file per graph)
    # (each paper's runs' digests: none known where the writer gave none)
    assert back.runs == {"paper:a": [0, 0, 0], "paper:b": [1, 0, 1 << 63], "paper:ü": [0, 0, 0]}
    assert back.code == index.code and list(GraphIndex.load(GraphIndex({}).dump()).digests) == []
    assert GraphIndex({"a": 1, "b": 2}).dump() == GraphIndex({"b": 2, "a": 1}).dump()
    for bad in (b"", b"PK\x03\x04 not a zip", index.dump()[:-30]):
        with pytest.raises(ValueError, match="damaged"):
            GraphIndex.load(bad)
    earlier = io.BytesIO()  # (the first form: no runs)
    meta = orjson.dumps({"version": 1, "code": index.code})
    np.savez(
        earlier,
        papers=np.zeros(0, np.uint8),
        digest=np.zeros(0, np.uint64),
        meta=np.frombuffer(meta, dtype=np.uint8),
    )
    with pytest.raises(ValueError, match=r"another version \(1; this kgraph reads 2\)"):
        GraphIndex.load(earlier.getvalue())


def test_a_digest_is_of_the_ids_in_their_order() -> None:
    a = assignment_digest("p", ("method/x", "dataset/y"))
    assert a == assignment_digest("p", ("method/x", "dataset/y"))
    assert a != assignment_digest("p", ("dataset/y", "method/x"))
    assert a != assignment_digest("q", ("method/x", "dataset/y"))


def test_the_parts_read_are_the_papers_parts_of_the_graph(tmp_path: Path) -> None:
    folder = seed_bundle()
    manifest, graph = load_graph(folder)
    sha = manifest["files"]["graph.json"]["sha256"]
    papers = [n[6:] for n, k in graph.nodes(data="kind") if k == "paper"]
    parts, lines = read_parts(folder / "graph.json", sha, set(papers))
    assert sorted(parts) == sorted(papers)
    n_eval = 0
    for pid, part in parts.items():
        pnode = paper_node(pid)
        assert [
            (pnode, v, k, a) for v, keyed in part.adjacency.items() for k, a in keyed.items()
        ] == list(graph.out_edges(pnode, keys=True, data=True))
        assert part.results == [
            (v, graph.nodes[v]) for _, v, k in graph.out_edges(pnode, keys=True) if k == "reports"
        ]
        assert part.evaluated_on == [
            (u, v, k, d)
            for u, v, k, d in graph.edges(keys=True, data=True)
            if d.get("paper") == pnode
        ]
        n_eval += len(part.evaluated_on)
    assert n_eval > 50 and sum(len(p.results) for p in parts.values()) > 50
    some = set(papers[::7])
    assert set(read_parts(folder / "graph.json", sha, some)[0]) == some
    # where each paper's lines are: copied, they are the graph's own lines of the paper
    data = (folder / "graph.json").read_bytes()
    dumps = partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)
    for pid in papers[::5]:
        pnode = paper_node(pid)
        node, edges, results = lines.spans[lines.rows[pid]].reshape(3, 2).tolist()
        assert data[node[0] : sum(node)] == dumps({**graph.nodes[pnode], "id": pnode})
        assert data[edges[0] : sum(edges)] == b",\n".join(
            dumps({**d, "source": u, "target": v, "key": k})
            for u, v, k, d in graph.out_edges(pnode, keys=True, data=True)
        )
        assert data[results[0] : sum(results)] == b",\n".join(
            dumps({**graph.nodes[v], "id": v})
            for _, v, k in graph.out_edges(pnode, keys=True)
            if k == "reports"
        )
    # the writer copies those lines from the file (here, once read, made another with every
    # "e" of those lines made "E", the same length): the graph's own lines elsewhere
    spoiled = bytearray(data)
    for node, n_node, edges, n_edges, results, n_results in lines.spans.tolist():
        for start, size in ((node, n_node), (edges, n_edges), (results, n_results)):
            spoiled[start : start + size] = data[start : start + size].replace(b"e", b"E")
    lines.path = tmp_path / "graph.json"
    lines.path.write_bytes(spoiled)
    buf = io.BytesIO()
    write_graph_json(graph, buf, None, lines)
    # (a file other than the one read, by its inode, size or time: nothing copied from it)
    assert buf.getvalue() == data
    lines.identity = _identity(os.stat(lines.path))  # (as if it were the one read)
    buf = io.BytesIO()
    write_graph_json(graph, buf, None, lines)
    assert buf.getvalue() == bytes(spoiled)
    with pytest.raises(ValueError, match="does not match"):
        read_parts(folder / "graph.json", "0" * 64, some)


def test_parts_handed_over_by_another_process_are_the_parts_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a copy of the process reads for an add (kgraph.bundle._PartsReader) comes over
    as records, some papers at a time as they are read: the same parts, their strings
    shared within a record as read_parts shares them, and the lines of the papers kept."""
    import kgraph.graph_delta as graph_delta

    folder = seed_bundle()
    manifest = json.loads((folder / "manifest.json").read_text())
    sha = manifest["files"]["graph.json"]["sha256"]
    rows = (folder / "papers.jsonl").read_text().splitlines()
    papers = sorted(json.loads(line)["id"] for line in rows)
    parts, lines = read_parts(folder / "graph.json", sha, set(papers))
    monkeypatch.setattr(graph_delta, "_SPILL", 7)
    buf = io.BytesIO()
    records: list[int] = []

    def spill(some: dict[str, object]) -> None:
        records.append(len(some))
        dump_parts(some, buf)  # type: ignore[arg-type]

    none, spilled_lines = read_parts(folder / "graph.json", sha, set(papers), spill=spill)
    assert none == {} and len(records) > 30 and sum(records) > len(papers)
    assert spilled_lines.rows == lines.rows and (spilled_lines.spans == lines.spans).all()
    keep = set(papers[1::3])
    buf.seek(0)
    got = load_parts(buf, keep)
    assert got == {pid: parts[pid] for pid in sorted(keep)}
    # an entity's node id, shared by the edges of every paper that names it (in one record)
    buf.seek(0)
    whole = io.BytesIO()
    dump_parts(parts, whole)
    whole.seek(0)
    targets = [v for part in load_parts(whole, keep).values() for v in part.adjacency]
    assert len({id(v) for v in targets}) == len(set(targets)) < len(targets)
    lines.know({f"paper:{pid}": [i, i + 1, i + 2] for i, pid in enumerate(papers)})
    subset = lines.subset(keep)
    again = read_parts(folder / "graph.json", sha, keep)[1]
    assert subset.rows == again.rows and (subset.spans == again.spans).all()
    assert subset.known.tolist() == [
        [i, i + 1, i + 2] for i, pid in enumerate(papers) if pid in keep
    ]
    one = io.BytesIO()
    dump_parts({pid: parts[pid] for pid in keep}, one)
    one.seek(0)
    with pytest.raises(KeyError):
        load_parts(one, {papers[0]})
    with pytest.raises(ValueError, match="end early"):
        load_parts(io.BytesIO(one.getvalue()[:-5]), keep)


def test_copied_runs_are_digested_by_the_digests_their_writer_gave(tmp_path: Path) -> None:
    """graph.json's writer adds a copied run's known digest (the index keeps those its
    writer gave) instead of digesting its lines again: the same digests; a wrong known
    digest shows in its paper's."""
    folder = seed_bundle()
    manifest, graph = load_graph(folder)
    sha = manifest["files"]["graph.json"]["sha256"]
    papers = {n[6:] for n, k in graph.nodes(data="kind") if k == "paper"}
    whole: dict[str, int] = {}
    runs_whole: dict[str, list[int]] = {}
    write_graph_json(graph, io.BytesIO(), whole, None, runs_whole)
    index = GraphIndex.load((folder / "graph.index.npz").read_bytes())
    assert {n: r for n, r in index.runs.items() if any(r)} == runs_whole  # (as the build gave)
    _, lines = read_parts(folder / "graph.json", sha, papers)
    lines.know(index.runs)
    assert int((lines.known != 0).sum()) > 2 * len(papers)  # (most papers have 3 runs)
    buf, copied, runs = io.BytesIO(), {}, {}
    write_graph_json(graph, buf, copied, lines, runs)
    assert buf.getvalue() == (folder / "graph.json").read_bytes()
    assert copied == whole and runs == runs_whole
    # one more in every known digest: each paper's digest is more by its runs known
    lines.known = lines.known + (lines.known != 0).astype(np.uint64)
    spoiled: dict[str, int] = {}
    write_graph_json(graph, io.BytesIO(), spoiled, lines)
    for node, digest in whole.items():
        more = sum(1 for d in runs_whole.get(node, ()) if d)
        assert spoiled[node] == (digest + more) % (1 << 64), node


def test_a_copied_run_that_its_owner_s_next_line_joins_is_digested_with_it(
    tmp_path: Path,
) -> None:
    """The last paper's edges are followed by the first entity's edges; an evaluated_on edge
    that paper gives is then in the run of its edges: their digest is of both lines, and a
    known digest of the edges alone is not used."""
    g = nx.MultiDiGraph(name="kgraph")
    for pid in ("a", "z"):
        g.add_node(f"paper:{pid}", kind="paper", paper_id=pid, title=pid.upper())
    for cid in ("d", "m"):
        g.add_node(f"entity:{cid}", kind="entity", entity_id=cid, name=cid.upper())
    g.add_edge("paper:a", "entity:m", "proposes", relation="proposes")
    g.add_edge("paper:z", "entity:d", "uses_dataset", relation="uses_dataset")
    g.add_edge("paper:z", "entity:m", "proposes", relation="proposes")
    g.add_edge("entity:m", "entity:d", "evaluated_on:z", relation="evaluated_on", paper="paper:z")
    path = tmp_path / "graph.json"
    first: dict[str, int] = {}
    runs: dict[str, list[int]] = {}
    with path.open("wb") as fh:
        write_graph_json(g, fh, first, None, runs)
    assert runs["paper:z"][1] == 0 and runs["paper:z"][0] and runs["paper:a"][1]
    data = path.read_bytes()
    _, lines = read_parts(path, hashlib.sha256(data).hexdigest(), {"a", "z"})
    offset, length = lines.spans[lines.rows["z"], 2:4].tolist()
    edges_of_z = data[offset : offset + length].replace(b",\n", b"\n")
    assert edges_of_z.count(b"\n") == 1  # (its two edges)
    lines.know({**runs, "paper:z": [runs["paper:z"][0], line_digest(edges_of_z), 0]})
    again: dict[str, int] = {}
    buf = io.BytesIO()
    write_graph_json(g, buf, again, lines)
    assert buf.getvalue() == data
    assert again == first


def papers_of(exts: dict[str, Extraction]) -> list[Paper]:
    return [
        Paper(pid, f"Title {pid}", f"Abstract of {pid}. It reaches 91.2 accuracy.") for pid in exts
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(made=corpus(), gaz=st.booleans(), light=st.booleans())
def test_a_graph_with_kept_parts_is_the_graph_made_whole(
    made: tuple[list[list[Extraction]], list[set[str]]],
    gaz: bool,
    light: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Papers added step by step (some extracted again, some gone): each step's graph made
    with the parts an add would keep from the previous step's graph.json is byte for byte
    the graph made from every extraction. Parts read ``light`` (their papers' own edges with
    their relation only) give the same graph.json, copied, and once filled the same graph."""
    steps, drop = made
    gazetteer = GAZ if gaz else Gazetteer.empty()
    path = tmp_path_factory.mktemp("g") / "graph.json"
    seen = {e.paper_id: e for e in steps[0]}
    res, state = resolve_tracked(steps[0], gazetteer)
    previous = build_graph(papers_of(seen), res)
    index = GraphIndex({pid: assignment_digest(pid, ids) for pid, ids in res.assignments.items()})
    with path.open("wb") as fh:
        write_graph_json(previous, fh, {}, None, index.runs)
    for step, gone in zip(steps[1:], drop[1:], strict=True):
        for pid in gone:
            seen.pop(pid, None)
        changed = {e.paper_id for e in step}  # new, or extracted again
        seen.update((e.paper_id, e) for e in step)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        res, state = extend(state, dict(sorted(seen.items())), gazetteer, changed=changed)
        digests: dict[str, int] = {}
        keep = kept_papers(index, res.assignments, changed, digests)
        parts, lines = read_parts(path, sha, keep, light=light)
        lines.know(index.runs)  # (the digests of the runs the previous step's writer gave)
        assert set(parts) == keep and lines.light == light
        # every kept paper naming an entity has its run of edge lines noted (to be copied)
        for pid, part in parts.items():
            assert bool(lines.spans[lines.rows[pid], 3]) == bool(part.adjacency)
        whole = build_graph(papers_of(seen), resolve(seen.values(), gazetteer))
        graph = build_graph(papers_of(seen), res, kept=parts)
        if light:
            own = [
                attrs
                for pid in parts
                for keyed in graph._succ[paper_node(pid)].values()
                for attrs in keyed.values()
            ]
            assert all(list(attrs) == ["relation"] for attrs in own)
            # graph.json copies their lines: the same file before they are filled
            unfilled = io.BytesIO()
            write_graph_json(graph, unfilled, {}, lines, {})
            assert unfilled.getvalue() == graph_json(whole)
            filled = LightEdges(lines)
            some = sorted(parts)[: len(parts) // 2]
            assert filled.fill(graph, [*some, "not-kept"]) == len(some)
            assert filled.fill(graph, parts) == len(parts) - len(some)  # (the others)
            assert not any(pid in filled for pid in parts)
            assert all(len(attrs) > 1 for attrs in own if attrs["relation"] != "reports")
        assert graph_json(graph) == graph_json(whole)
        # the kept parts' edges put in whole: every adjacency in the same order, the order
        # the edges are added in, sorted (what comes into a node too), and networkx's own
        # invariant, one dict of keys for both sides
        assert list(graph) == list(whole)
        for n in whole:
            assert list(graph.succ[n]) == list(whole.succ[n]) == sorted(whole.succ[n])
            assert list(graph.pred[n]) == list(whole.pred[n]) == sorted(whole.pred[n])
            for v, keyed in graph._succ[n].items():
                assert graph._pred[v][n] is keyed
        # and graph.json written with the kept papers' lines copied from the previous one
        # (their known runs not digested again): the same bytes, the same digests of the
        # papers' and entities' lines, the same digests of the runs for the next step
        buf, digests_copied, digests_whole = io.BytesIO(), {}, {}
        runs_copied: dict[str, list[int]] = {}
        runs_whole: dict[str, list[int]] = {}
        write_graph_json(graph, buf, digests_copied, lines, runs_copied)
        write_graph_json(whole, io.BytesIO(), digests_whole, None, runs_whole)
        assert buf.getvalue() == graph_json(whole)
        assert digests_copied == digests_whole
        assert runs_copied == runs_whole
        path.write_bytes(buf.getvalue())
        index = GraphIndex(digests, runs=runs_copied)


# --- the add, end to end ----------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_an_add_takes_the_unchanged_papers_parts_and_gives_the_bundle_built_in_one_go(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "b"
    code, err = invoke("-v", "build", *PAGES[:3], "-o", str(folder))
    assert code == 0 and "graph: every paper's part made (a new bundle)" in err, err
    code, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert code == 0, err
    made, of = figures(r" graph: the part of ([\d,]+) of ([\d,]+) papers made", err)
    assert 25 <= made < of == 314  # the 25 new papers, those whose record or ids changed
    # (graph.html draws every paper of this small graph: each kept paper's evidence is read)
    assert f"the evidence read back for {of - made:,} of them (graph.html and the RDF" in err
    for name in ("graph.json", "graph.index.npz", "extractions.jsonl", "graph.html", "graph.ttl"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name


#: a paper whose id comes before every seed paper's, giving the ``evaluated_on`` pair that
#: the seed paper t-acda93a7fcb6 gave first (its RDF block leaves out a pair given before it)
_GIVES_A_SEED_PAIR: Final = {
    "id": "1701.00001",
    "title": "CPL: Critical Plan Step Learning for Harder Math Problems",
    "abstract": "We propose Critical Plan Step Learning (CPL), which learns which plan steps "
    "matter. CPL reaches 80.1% accuracy on GSM8K and improves on MATH.",
}


@pytest.mark.parametrize("rdf", ["kept", "made whole"])
def test_an_add_fills_the_light_edges_it_shows_or_makes_rdf_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rdf: str
) -> None:
    """An add holds the kept papers' own edges light (their relation only): graph.html fills
    those of the papers it draws, the RDF those of the papers whose statements it makes: a
    kept paper whose block changed (here, a new paper gives its ``evaluated_on`` pair first),
    or every one when the code that makes the RDF changed. The files are those of the bundle
    built in one go."""
    import kgraph.graph_delta as graph_delta
    import kgraph.rdf.paper_units as paper_units
    import kgraph.view.render as render

    whole = seed_bundle()  # (made, if it is not yet, before anything is patched)
    folder = tmp_path / "b"
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps(_GIVES_A_SEED_PAIR) + "\n", encoding="utf-8")
    first, then = (PAGES, [*PAGES, str(extra)]) if rdf == "kept" else (PAGES[:3], PAGES)
    build(folder, first, isolate=False)
    # (graph.html draws no paper: it fills none)
    real_select = render.select
    monkeypatch.setattr(
        render,
        "select",
        lambda graph, **options: real_select(graph, **{**options, "types": ["method"]}),
    )
    real, filled = graph_delta.LightEdges.fill, []

    def spy(self: graph_delta.LightEdges, graph: nx.MultiDiGraph, papers: list[str]) -> int:
        papers = list(papers)
        n = real(self, graph, papers)
        filled.append((n, sorted(p for p in papers if p in self.filled)))
        return n

    monkeypatch.setattr(graph_delta.LightEdges, "fill", spy)
    if rdf == "made whole":
        monkeypatch.setattr(paper_units, "code_fingerprint", lambda: "other code")
    report = build(folder, then, isolate=False)
    kept = report.graph["kept"]
    assert kept > 250
    if rdf == "made whole":
        # every light paper filled before the quads are made (graph.html comes after them)
        assert report.rdf == {"full": "the code that makes the RDF changed"}
        assert [n for n, _ in filled] == [kept, 0]
        assert report.graph["evidence_read"] == kept
        names = ["graph.json", "graph.ttl"]  # (graph.html: drawn otherwise here)
    else:
        assert report.rdf["kept"] == report.rdf["of"] - 2  # (the new paper's, and one more)
        assert filled == [(0, []), (1, ["t-acda93a7fcb6"])]
        assert report.graph["evidence_read"] == 1
        whole = tmp_path / "whole"
        build(whole, then, isolate=False)
        names = ["graph.json", "graph.ttl", "graph.html"]
    for name in names:
        assert (folder / name).read_bytes() == (whole / name).read_bytes(), name


def test_light_edges_are_not_taken_from_a_graph_json_changed_since(tmp_path: Path) -> None:
    path = tmp_path / "graph.json"
    shutil.copy(seed_bundle() / "graph.json", path)
    manifest, graph = load_graph(seed_bundle())
    sha = manifest["files"]["graph.json"]["sha256"]
    papers = {n[6:] for n, k in graph.nodes(data="kind") if k == "paper"}
    _, lines = read_parts(path, sha, papers, light=True)
    light = LightEdges(lines)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(KeptFileChanged, match=r"graph\.json changed since its kept parts were"):
        light.fill(graph, papers)
    with pytest.raises(KeptFileChanged, match=r"graph\.json changed since the kept papers' parts"):
        write_graph_json(graph, io.BytesIO(), None, lines)


def test_an_add_whose_graph_json_changed_meanwhile_stops_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kgraph.graph as graph_module

    folder = tmp_path / "b"
    build(folder, PAGES[:3], isolate=False)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    real = graph_module.build_graph

    def touched(*args: object, **kwargs: object) -> nx.MultiDiGraph:
        # (another writer, were there one: the lock keeps kgraph's own out)
        stat = (folder / "graph.json").stat()
        os.utime(folder / "graph.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graph_module, "build_graph", touched)
    with pytest.raises(BundleError, match="changed since the kept papers' parts were read"):
        build(folder, PAGES, isolate=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def _reads(monkeypatch: pytest.MonkeyPatch, *, die: bool = False) -> list[int]:
    """The processes read_parts is called in from now on (in this one: recorded; in another,
    a copy reading for an add: not recorded, and killed when ``die``)."""
    import kgraph.graph_delta as graph_delta

    real, here, called = graph_delta.read_parts, os.getpid(), []

    def spy(*args: object, **kwargs: object) -> object:
        if os.getpid() != here and die:
            os._exit(9)  # (a copy killed, by the out-of-memory killer say)
        called.append(os.getpid())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graph_delta, "read_parts", spy)
    return called


@pytest.mark.parametrize("die", [False, True])
def test_an_add_reads_the_kept_parts_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, die: bool
) -> None:
    """The parts of the graph an add may keep are read by a copy of the process while this
    one resolves; when the copy dies, this one reads them: the same bundle either way, and
    no temporary file left."""
    from kgraph.bundle import build

    folder = tmp_path / "b"
    build(folder, PAGES[:3], isolate=False)
    called = _reads(monkeypatch, die=die)
    report = build(folder, PAGES, isolate=False)
    assert report.graph["kept"] > 200
    assert called == ([os.getpid()] if die else [])
    for name in ("graph.json", "graph.index.npz", "graph.ttl"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_an_add_stopped_while_it_resolves_leaves_no_reader_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kgraph.bundle as bundle

    folder = tmp_path / "b"
    bundle.build(folder, PAGES[:3], isolate=False)
    before = sorted(p.name for p in folder.iterdir())
    started: list[object] = []
    real_start = bundle._PartsReader.start

    def start(*args: object) -> object:
        reader = real_start(*args)  # type: ignore[arg-type]
        started.append(reader)
        return reader

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle._PartsReader, "start", start)
    monkeypatch.setattr(bundle, "_resolve", stopped)
    with pytest.raises(KeyboardInterrupt):
        bundle.build(folder, PAGES, isolate=False)
    [reader] = started
    assert isinstance(reader, bundle._PartsReader)
    assert reader.job is None and not reader.tmp.exists()  # stopped and waited for
    assert sorted(p.name for p in folder.iterdir()) == before


def test_an_add_that_changes_most_papers_reads_the_kept_parts_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy forked as the add begins reads the kept papers' edges light, before the add
    knows what changes; an add that changes more than MAX_CHANGED of the papers (its RDF is
    then made whole, from every paper's edges) stops it and starts one that reads them whole.
    The bundle is the one built in one go."""
    import kgraph.bundle as bundle

    seed = seed_bundle()
    folder = tmp_path / "b"
    bundle.build(folder, PAGES[:1], isolate=False)  # (78 of the 314 papers)
    started: list[tuple[bool, int]] = []
    real_start = bundle._PartsReader.start

    def start(*args: Any) -> Any:
        reader = real_start(*args)
        started.append((reader.light, len(args[2])))
        return reader

    monkeypatch.setattr(bundle._PartsReader, "start", start)
    report = bundle.build(folder, PAGES, isolate=False)
    assert [light for light, _ in started] == [True, False]
    # every paper of the bundle's graph, then those whose record did not change
    assert started[0][1] == 78 and 0 < started[1][1] == 78 - len(report.updated) < 78
    assert 0 < report.graph["kept"] <= started[1][1] and "evidence_read" not in report.graph
    assert "full" in report.rdf
    for name in ("graph.json", "graph.index.npz", "graph.ttl"):
        assert (folder / name).read_bytes() == (seed / name).read_bytes(), name


def _spoiled(tmp_path: Path, spoil: str) -> str:
    folder = tmp_path / "b"
    code, err = invoke("build", *PAGES[:3], "-o", str(folder))
    assert code == 0, err
    manifest = json.loads((folder / "manifest.json").read_text())
    if spoil == "index":
        (folder / "graph.index.npz").unlink()
        del manifest["files"]["graph.index.npz"]
    elif spoil == "damaged index":
        data = b"not an index"
        (folder / "graph.index.npz").write_bytes(data)
        manifest["files"]["graph.index.npz"]["sha256"] = hashlib.sha256(data).hexdigest()
    elif spoil == "graph.json":  # other bytes than the manifest's (a copy that went wrong)
        manifest["files"]["graph.json"]["sha256"] = "0" * 64
    elif spoil == "apart":  # a paper's edges not together (node-link JSON all the same)
        lines = (folder / "graph.json").read_bytes().split(b"\n")
        end = next(i for i, line in enumerate(lines) if line.startswith(b"]"))

        def source(line: bytes) -> str:
            return str(orjson.loads(line.rstrip(b",")).get("source"))

        at = next(
            i
            for i in range(1, end - 2)
            if source(lines[i]).startswith("paper:") and source(lines[i]) == source(lines[i + 1])
        )
        moved = lines.pop(at).rstrip(b",")
        lines.insert(end - 1, moved)
        lines[end - 2] += b","
        data = b"\n".join(lines)
        (folder / "graph.json").write_bytes(data)
        manifest["files"]["graph.json"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert code == 0, err
    for name in ("graph.json", "graph.index.npz", "graph.ttl"):
        assert (folder / name).read_bytes() == (seed_bundle() / name).read_bytes(), name
    return next(x for x in err.splitlines() if " graph: " in x)


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        ("index", "the bundle has no graph.index.npz (made by an earlier kgraph)"),
        ("damaged index", "its graph.index.npz is unusable: damaged"),
        ("graph.json", "its graph.json is unusable: graph.json does not match the manifest"),
        ("apart", "its graph.json is unusable: the lines of paper"),
    ],
)
def test_an_add_makes_every_part_when_it_cannot_take_them(
    tmp_path: Path, spoil: str, why: str
) -> None:
    assert f"graph: every paper's part made ({why}" in _spoiled(tmp_path, spoil)


def test_an_add_of_a_bundle_made_by_other_graph_code_makes_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kgraph.graph_delta as graph_delta

    folder = tmp_path / "b"
    assert invoke("build", *PAGES[:3], "-o", str(folder))[0] == 0
    monkeypatch.setattr(graph_delta, "graph_code", lambda: "other code")
    code, err = invoke("-v", "build", *PAGES, "-o", str(folder))
    assert (
        code == 0
        and "graph: every paper's part made (the code that makes the graph changed)" in err
    )
    assert (folder / "graph.json").read_bytes() == (seed_bundle() / "graph.json").read_bytes()


def test_the_bundle_copy_keeps_its_extraction_lines(tmp_path: Path) -> None:
    """A line the add never made is copied into the new extractions.jsonl byte for byte, even
    one written in a form of its own (here: its keys after the id in another order)."""
    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder)
    path = folder / "extractions.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    row = json.loads(lines[3])
    order = ["id", *reversed([k for k in row if k != "id"])]
    lines[3] = orjson.dumps({k: row[k] for k in order}, option=orjson.OPT_APPEND_NEWLINE)
    data = b"".join(lines)
    path.write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["extractions.jsonl"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"title": "GrowNet", "abstract": "We propose GrowNet."}) + "\n")
    code, err = invoke("build", str(more), "-o", str(folder))
    assert code == 0, err
    after = path.read_bytes().splitlines(keepends=True)
    assert lines[3] in after and len(after) == len(lines) + 1
