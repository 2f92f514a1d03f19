"""An add updates the bundle's store in place (kgraph.rdf.delta): the quads of a store loaded
whole, only the difference written, the old store whole until the new one replaces it, and a
bulk load whenever an update cannot be trusted or would not be faster."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyoxigraph as ox
import pytest
from _seed import PAGES, ROOT, seed_bundle
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import kgraph.rdf.delta as delta
import kgraph.rdf.paper_units as paper_units
import kgraph.rdf.store as store_module
from kgraph.bundle import build
from kgraph.rdf.convert import Run
from kgraph.rdf.delta import (
    BULK_TO_COMPACTED,
    CO_OCCURS,
    RunDigests,
    UnitIndex,
    key_hash,
    load_runs,
    update_store,
)
from kgraph.rdf.paper_units import BlockUnits
from kgraph.rdf.store import MARKER, _counted
from kgraph.rdf.turtle import TurtleWriter

SMALL_INPUT = str(ROOT / "tests" / "fixtures" / "papers.jsonl")
MORE_INPUT = str(ROOT / "tests" / "fixtures" / "corpus_sample.jsonl.gz")


def quads(bundle: Path) -> set[ox.Quad]:
    return set(ox.Store.read_only(str(bundle / "store")))


def marker(bundle: Path) -> dict[str, Any]:
    return dict(json.loads((bundle / "store" / MARKER).read_text(encoding="utf-8")))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_as_built_whole(folder: Path, tmp_path: Path, *inputs: str) -> None:
    """The store of ``folder`` holds the quads of a bundle of the seed pages and ``inputs``
    built in one go."""
    fresh = tmp_path / "fresh"
    build(fresh, [*PAGES, *inputs])
    assert quads(folder) == quads(fresh)


@pytest.fixture(scope="module")
def three_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("three") / "bundle"
    report = build(folder, PAGES[:3])
    assert report.store == {"loaded": "bulk"}
    return folder


def kept_in_replaced_graphs(was: set[ox.Quad], now: set[ox.Quad]) -> int:
    """The quads that stay in the papers' graphs an update replaces whole (those in both
    stores whose quads changed): removed and added again."""
    graphs = {q.graph_name for q in was ^ now if "/graph/paper/" in q.graph_name.value}
    graphs &= {q.graph_name for q in was} & {q.graph_name for q in now}
    return sum(1 for q in was & now if q.graph_name in graphs)


def grow(three_pages: Path, tmp_path: Path) -> tuple[Path, Any]:
    folder = tmp_path / "bundle"
    shutil.copytree(three_pages, folder)
    return folder, build(folder, PAGES)


def test_an_add_updates_the_store_to_the_quads_of_a_whole_load(
    three_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta, "MAX_SHARE", 1.0)  # the last page changes a third of the seeds
    before = quads(three_pages)
    folder, report = grow(three_pages, tmp_path)
    after = quads(folder)
    assert report.store["loaded"] == "updated in place"
    assert after == quads(seed_bundle())  # the store of the four pages built in one go
    # the difference was written, and the quads a paper's changed graph kept written again
    # (each replaced whole): as many removed as added beyond the difference
    assert len(before - after) > 0 and len(after - before) > 0
    again = report.store["quads_removed"] - len(before - after)
    assert 0 < again == report.store["quads_added"] - len(after - before)
    assert again == kept_in_replaced_graphs(before, after)
    assert 0 < report.store["units_changed"] < marker(folder)["units"]
    whole = marker(seed_bundle())
    for key in ("quads", "triples", "graphs", "units", "graph_sha256"):
        assert marker(folder)[key] == whole[key], key
    assert marker(folder)["loaded"] == "updated in place"
    assert len(UnitIndex.load(folder / "store")) == whole["units"]
    # and the next add updates the updated store, reading the changed units' statements as
    # they were from graph.ttl (whose blocks it keeps)
    report = build(folder, [SMALL_INPUT])
    assert report.store["loaded"] == "updated in place" and report.added
    assert report.store["compared_with"] == "graph.ttl" and "kept" in report.rdf
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)


def test_a_turtle_file_that_does_not_parse_has_the_store_read_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    read: list[int] = []

    def unreadable(*args: Any) -> set[bytes]:
        read.append(1)
        raise SyntaxError("not Turtle")

    monkeypatch.setattr(delta, "_turtle_lines", unreadable)
    report = build(folder, [SMALL_INPUT], isolate=False)
    assert read == [1]
    assert report.store["loaded"] == "updated in place"
    assert report.store["compared_with"] == "store"
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)


def test_a_big_change_loads_the_store_whole(
    three_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more papers changed than an add keeps the statements of the others for (12% here):
    # every statement is made, and a third of the quads' bytes change
    monkeypatch.setattr(paper_units, "MAX_CHANGED", 0.05)
    folder, report = grow(three_pages, tmp_path)
    assert report.rdf == {"full": "39 of 314 papers changed (more than 5%)"}
    assert report.store.keys() == {"loaded", "update_skipped"}
    assert report.store["loaded"] == "bulk"
    share, said = report.store["update_skipped"].split("%", 1)
    assert 30 < int(share) < 50 and said == " of the quads' bytes changed: a whole load is faster"
    assert marker(folder)["loaded"] == "bulk"
    assert quads(folder) == quads(seed_bundle())


def test_a_small_add_updates_in_place_with_the_default_share(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    report = build(folder, [SMALL_INPUT])
    assert report.store["loaded"] == "updated in place"
    assert report.store["bytes_read"] < 0.3 * marker(folder)["bytes"]
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)


@pytest.mark.parametrize("damage", ["units file removed", "units file truncated"])
def test_a_damaged_unit_index_means_a_whole_load(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    units = folder / "store" / delta.UNITS
    if damage == "units file removed":
        units.unlink()
    else:
        units.write_bytes(units.read_bytes()[:100])
    report = build(folder, [SMALL_INPUT])
    assert report.store["loaded"] == "bulk"
    assert report.store["update_failed"]  # said why (kgraph -v prints it)
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)
    assert len(UnitIndex.load(folder / "store")) == marker(folder)["units"]


def test_a_store_of_another_graph_is_not_updated(tmp_path: Path) -> None:
    """The store is a cache of graph.json; one made from another graph.json (a build stopped
    between the two, say) is never the base of an update."""
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    info = marker(folder)
    info["graph_sha256"] = "0" * 64
    (folder / "store" / MARKER).write_text(json.dumps(info), encoding="utf-8")
    report = build(folder, [SMALL_INPUT])
    assert report.store == {"loaded": "bulk"}


def test_an_update_that_fails_leaves_the_old_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update works on a copy (hard links to the old store's files, which RocksDB never
    changes): stopped midway, by an error or Ctrl-C, the bundle is as it was, store and all;
    an OSError (a disk full, a damaged store) falls back to a whole load instead."""
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    before = snapshot(folder)
    calls = 0

    def failing(*args: Any) -> set[bytes]:
        nonlocal calls
        calls += 1
        # (after the units gone and the papers' changed graphs, if any, left the copy)
        raise KeyboardInterrupt

    monkeypatch.setattr(delta, "_turtle_lines", failing)
    with pytest.raises(KeyboardInterrupt):
        build(folder, [SMALL_INPUT], isolate=False)
    assert calls == 1
    assert snapshot(folder) == before  # no temporary file or folder either

    def broken(*args: Any) -> set[bytes]:
        raise OSError(5, "Input/output error")

    # (graph.ttl unreadable, then the store)
    monkeypatch.setattr(delta, "_turtle_lines", broken)
    monkeypatch.setattr(delta, "_stored_lines", broken)
    report = build(folder, [SMALL_INPUT])
    failed = "OSError: [Errno 5] Input/output error"
    assert report.store == {"loaded": "bulk", "update_failed": failed}
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)


def test_verbose_build_says_how_the_store_was_made(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kgraph.cli import cli

    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    result = CliRunner().invoke(cli, ["-v", "build", SMALL_INPUT, "-o", str(folder)])
    assert result.exit_code == 0, result.stderr
    fresh = CliRunner().invoke(cli, ["-v", "build", SMALL_INPUT, "-o", str(tmp_path / "new")])
    assert fresh.exit_code == 0 and "kgraph: store: loaded whole\n" in fresh.stderr
    said = result.stderr.split("store: updated in place in ", 1)[1].split("\n")[0]
    # (the seed bundle keeps its blocks' digests: the add made the changed blocks' quads only)
    assert " units changed and " in said and " papers' graphs and " in said
    assert " entities' statements kept as they were), " in said
    assert said.endswith(" added (the changed read from graph.ttl)")
    assert " quads removed and " in said


# --- the update itself, on arbitrary quads --------------------------------------------------

G = "<http://example.org/graph/entities>"
PAPER_GRAPHS = [f"<http://example.org/graph/paper/{i}>" for i in range(3)]
SUBJECTS = [f"<http://example.org/e/{i}>" for i in range(4)]
PREDICATES = ["<http://example.org/p>", "<http://example.org/q>", CO_OCCURS]
XSD = "http://www.w3.org/2001/XMLSchema#"
# (with forms the store writes otherwise: a decimal stored "7", a control character stored
# as its escape, a language tag in upper case; the update compares such lines as quads)
OBJECTS = [
    *SUBJECTS,
    '"a"',
    '"b c"',
    f'"7"^^<{XSD}integer>',
    f'"7.0"^^<{XSD}decimal>',
    f'"0.25"^^<{XSD}decimal>',
    '"tab\\there \\u0008 \\"quoted\\""',
    '"caf\u00e9"@EN',
]

statement = st.tuples(
    st.sampled_from([*PAPER_GRAPHS, G]),
    st.sampled_from(SUBJECTS),
    st.sampled_from(PREDICATES),
    st.sampled_from(OBJECTS),
)


def write_quads(
    folder: Path,
    name: str,
    state: set[tuple[str, str, str, str]],
    order_seed: int,
    blocked: int = 0,
) -> tuple[Path, Path, Path, tuple[Path, BlockUnits]]:
    """The N-Quads file of ``state`` as a build writes it (paper graphs, then the entities
    graph: the statements of the first ``blocked`` subjects in blocks of two subjects, as an
    entity's are with its co-occurrence nodes, then the rest, as ranks are; statements in an
    order that varies with ``order_seed``, so units come in several runs), with its runs,
    and the Turtle file of the union with its blocks."""
    import random

    rows = sorted(state, key=lambda t: (t[0] == G, t[0]))
    rng = random.Random(order_seed)
    paper = [r for r in rows if r[0] != G]
    ents = [r for r in rows if r[0] == G]
    rng.shuffle(ents)  # the entities graph's statements interleave subjects, as ranks do
    paper.sort(key=lambda r: r[0])

    def run(group: list[tuple[str, str, str, str]], block: str | None) -> Run:
        return Run(group[0][0], [f"{s} {p} {o}" for _, s, p, o in group], frozenset(), block)

    # runs as statement_runs gives them: one per paper graph, a block per entity, the rest
    stream = [run(list(grp), g) for g, grp in itertools.groupby(paper, key=lambda r: r[0])]
    for i in range(0, blocked, 2):  # (two subjects a block: an entity's co-occurrence nodes
        mine = [r for r in ents if r[1] in SUBJECTS[i : min(i + 2, blocked)]]  # are in its)
        if mine:
            stream.append(run(mine, f"entity:{SUBJECTS[i]}"))
    rest = [r for r in ents if r[1] not in SUBJECTS[:blocked]]
    if rest:
        stream.append(run(rest, None))
    runs = RunDigests(folder / f"{name}.runs.npz", folder / f"{name}.keys", G)
    path, ttl = folder / f"{name}.nq", folder / f"{name}.ttl"
    counts: dict[str, int] = {}
    union: list[bytes] = []
    blocks: list[str] = []
    with path.open("wb") as fh:
        for chunk in _counted(iter(stream), counts, union.append, runs, {}, blocks):
            fh.write(chunk)
    runs.close()
    with ttl.open("wb") as fh:
        writer = TurtleWriter(fh, {"ex": "http://example.org/"})
        for chunk in union:
            writer.add_marked(chunk)
        writer.close()
    units = BlockUnits.make(blocks, dict.fromkeys(blocks, 0), writer.places, "")
    return path, runs.runs_path, runs.keys_path, (ttl, units)


def as_stored(path: Path) -> set[Any]:
    """The quads of the N-Quads file at ``path`` as a store holds them (a decimal "7.0" is
    stored "7")."""
    store = ox.Store()
    store.bulk_load(path.read_bytes(), format=ox.RdfFormat.N_QUADS)
    return set(store)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=st.sets(statement, max_size=30),
    new=st.sets(statement, max_size=30),
    seeds=st.tuples(st.integers(0, 99), st.integers(0, 99)),
    blocked=st.tuples(st.integers(0, len(SUBJECTS)), st.integers(0, len(SUBJECTS))),
    from_turtle=st.booleans(),
)
# a changed unit with a statement the store writes otherwise, the same in both
@example(
    old={(G, SUBJECTS[0], PREDICATES[0], OBJECTS[7]), (G, SUBJECTS[0], PREDICATES[1], '"a"')},
    new={(G, SUBJECTS[0], PREDICATES[0], OBJECTS[7]), (G, SUBJECTS[0], PREDICATES[1], '"b c"')},
    seeds=(0, 0),
    blocked=(0, 0),
    from_turtle=False,
)
# the statements as they were read from the old Turtle file: in a block and after the
# blocks, each beside a subject that did not change (and a pair, a unit of its own)
@example(
    old={
        (G, SUBJECTS[0], PREDICATES[0], OBJECTS[7]),
        (G, SUBJECTS[0], PREDICATES[1], '"a"'),
        (G, SUBJECTS[0], PREDICATES[2], OBJECTS[1]),
        (G, SUBJECTS[1], PREDICATES[1], OBJECTS[5]),
        (G, SUBJECTS[2], PREDICATES[0], OBJECTS[9]),
        (G, SUBJECTS[3], PREDICATES[0], OBJECTS[10]),
    },
    new={
        (G, SUBJECTS[0], PREDICATES[0], OBJECTS[7]),
        (G, SUBJECTS[0], PREDICATES[1], '"b c"'),
        (G, SUBJECTS[0], PREDICATES[2], OBJECTS[1]),
        (G, SUBJECTS[1], PREDICATES[1], OBJECTS[5]),
        (G, SUBJECTS[2], PREDICATES[0], OBJECTS[10]),
        (G, SUBJECTS[3], PREDICATES[0], OBJECTS[10]),
    },
    seeds=(0, 0),
    blocked=(2, 2),
    from_turtle=True,
)
def test_update_gives_the_new_quads_whatever_changed(
    tmp_path_factory: pytest.TempPathFactory,
    old: set[tuple[str, str, str, str]],
    new: set[tuple[str, str, str, str]],
    seeds: tuple[int, int],
    blocked: tuple[int, int],
    from_turtle: bool,
) -> None:
    folder = tmp_path_factory.mktemp("delta")
    old_nq, old_runs, old_keys, old_turtle = write_quads(folder, "old", old, seeds[0], blocked[0])
    new_nq, new_runs, new_keys, _ = write_quads(folder, "new", new, seeds[1], blocked[1])
    store = ox.Store(str(folder / "old-store"))
    store.bulk_load(path=str(old_nq), format=ox.RdfFormat.N_QUADS)
    store.flush()
    del store
    old_index = UnitIndex.from_runs(load_runs(old_runs), old_keys.read_bytes())
    old_index.save(folder / "old-store")
    new_index = UnitIndex.from_runs(load_runs(new_runs), new_keys.read_bytes())
    looked_up: list[str] = []
    read_back: list[bytes] = []
    quads_of, stored_lines = delta._quads_of, delta._stored_lines

    queried: list[str] = []  #: the kinds of the units whose quads were queried one by one

    def spy(store: Any, kind: str, term: Any, *rest: Any) -> list[Any]:
        looked_up.append(f"{kind} {term}")
        queried.append(kind)
        return quads_of(store, kind, term, *rest)

    def spy_units(store: Any, subjects: list[bytes], *rest: Any) -> set[bytes]:
        looked_up.extend(f"s {subject.decode()}" for subject in subjects)
        read_back.extend(subjects)
        return stored_lines(store, subjects, *rest)

    delta._quads_of, delta._stored_lines = spy, spy_units
    try:
        done = update_store(
            folder / "old-store",
            folder / "new-store",
            new_nq,
            load_runs(new_runs),
            UnitIndex.load(folder / "old-store"),
            new_index,
            G,
            max_share=1.0,
            turtle=old_turtle if from_turtle else None,
        )
    finally:
        delta._quads_of, delta._stored_lines = quads_of, stored_lines
    assert done.pop("updated") is True
    # only units the old store has are looked up in it (a new unit's quads are just added);
    # the changed units' statements are read from the Turtle file when it is given
    old_units = set(old_index.text.decode().splitlines())
    assert set(looked_up) <= old_units
    compared = done["compared_with"]
    assert compared == (None if compared is None else "old.ttl" if from_turtle else "store")
    assert (compared == "store") == bool(read_back)
    # a subject's statements gone are read back with the changed ones, not unit by unit
    assert "s" not in queried
    got = set(ox.Store.read_only(str(folder / "new-store")))
    want = as_stored(new_nq)
    assert got == want
    was = as_stored(old_nq)
    again = kept_in_replaced_graphs(was, want)  # (papers' graphs replaced whole)
    assert done["quads_removed"] == len(was - want) + again
    assert done["quads_added"] == len(want - was) + again
    assert set(ox.Store.read_only(str(folder / "old-store"))) == was  # the old one untouched


def test_a_store_with_an_entitys_pairs_as_one_unit_is_updated(tmp_path: Path) -> None:
    """A store indexed before each kg:coOccursWith pair was a unit of its own has one unit,
    ``c <IRI>``, for all of an entity's pairs: an add that changes the entity's pairs takes
    that unit out and loads the pairs' units (the other entity's old unit stays as it is)."""
    e0, e1, e2, e3 = (f"<http://example.org/e/{i}>" for i in range(4))
    p = "<http://example.org/p>"
    old = [(e0, CO_OCCURS, e1), (e0, CO_OCCURS, e2), (e1, CO_OCCURS, e3), (e0, p, '"a"')]
    new = [(e0, CO_OCCURS, e1), (e0, CO_OCCURS, e3), (e1, CO_OCCURS, e3), (e0, p, '"a"')]
    # the old file and index as the earlier code wrote them: one run per entity's pairs
    runs = RunDigests(tmp_path / "old.npz", tmp_path / "old.keys", G)
    lines = {  # unit key: its statements, the node of its block
        f"c {e0}": (old[:2], "entity:e0"),
        f"c {e1}": (old[2:3], "entity:e1"),
        f"s {e0}": (old[3:], "entity:e0"),
    }
    with (tmp_path / "old.nq").open("wb") as fh:
        for key, (statements, node) in lines.items():
            text = "".join(f"{s} {p} {o} {G} .\n" for s, p, o in statements).encode()
            runs.add(key, text, key_hash(node))
            fh.write(text)
    runs.close()
    store = ox.Store(str(tmp_path / "old-store"))
    store.bulk_load(path=str(tmp_path / "old.nq"), format=ox.RdfFormat.N_QUADS)
    store.flush()
    del store
    UnitIndex.from_runs(load_runs(runs.runs_path), runs.keys_path.read_bytes()).save(
        tmp_path / "old-store"
    )
    # the new pass made e0's block again (its pairs changed), e1's is kept from the store
    stream = [Run(G, [f"{s} {p} {o}" for s, p, o in new if s == e0], frozenset(), "entity:e0")]
    now = RunDigests(tmp_path / "new.npz", tmp_path / "new.keys", G)
    with (tmp_path / "new.nq").open("wb") as fh:
        for chunk in _counted(iter(stream), {}, None, now):
            fh.write(chunk)
    now.close()
    old_index = UnitIndex.load(tmp_path / "old-store")
    made = UnitIndex.from_runs(load_runs(now.runs_path), now.keys_path.read_bytes())
    assert {made.unit(i) for i in range(len(made))} == {
        ("c", f"{e0} {e1}"),
        ("c", f"{e0} {e3}"),
        ("s", e0[1:-1]),
    }
    units = made.merged_blocks(old_index, np.frombuffer(key_hash("entity:e1"), dtype="<u8"))
    done = update_store(
        tmp_path / "old-store",
        tmp_path / "new-store",
        tmp_path / "new.nq",
        load_runs(now.runs_path),
        old_index,
        units,
        G,
        max_share=1.0,
    )
    assert done["updated"] and done["units_removed"] == 1  # e0's pairs as one unit
    got = ox.Store.read_only(str(tmp_path / "new-store"))
    assert {(str(q.subject), str(q.predicate), str(q.object)) for q in got} == set(new)
    assert done["quads_removed"] == 2 and done["quads_added"] == 2  # e0's pairs, as units


def test_an_entitys_pairs_as_one_unit_that_changed_are_replaced(tmp_path: Path) -> None:
    """Should an index give an entity's pairs as one unit (``c <IRI>``) in both stores, and
    that unit changed, its pairs in the store are all replaced by the file's: a pair gone
    from the list leaves the store."""
    e0, e1, e2, e3 = (f"<http://example.org/e/{i}>" for i in range(4))
    made = {}
    for name, pairs in (("old", [e1, e2]), ("new", [e1, e3])):
        runs = RunDigests(tmp_path / f"{name}.npz", tmp_path / f"{name}.keys", G)
        text = "".join(f"{e0} {CO_OCCURS} {o} {G} .\n" for o in pairs).encode()
        runs.add(f"c {e0}", text, key_hash("entity:e0"))
        runs.close()
        (tmp_path / f"{name}.nq").write_bytes(text)
        made[name] = (runs, text)
    store = ox.Store(str(tmp_path / "old-store"))
    store.bulk_load(made["old"][1], format=ox.RdfFormat.N_QUADS)
    store.flush()
    del store
    runs = made["old"][0]
    UnitIndex.from_runs(load_runs(runs.runs_path), runs.keys_path.read_bytes()).save(
        tmp_path / "old-store"
    )
    runs = made["new"][0]
    done = update_store(
        tmp_path / "old-store",
        tmp_path / "new-store",
        tmp_path / "new.nq",
        load_runs(runs.runs_path),
        UnitIndex.load(tmp_path / "old-store"),
        UnitIndex.from_runs(load_runs(runs.runs_path), runs.keys_path.read_bytes()),
        G,
        max_share=1.0,
    )
    assert done["units_changed"] == 1 and done["quads_removed"] == done["quads_added"] == 2
    got = ox.Store.read_only(str(tmp_path / "new-store"))
    assert {str(q.object) for q in got} == {e1, e3}


def test_unit_keys_and_digests() -> None:
    import numpy as np

    runs = {
        "key": np.array([5, 3, 5], dtype=np.uint64),
        "digest": np.array([2**63, 7, 2**63 + 1], dtype=np.uint64),
        "offset": np.array([0, 10, 20], dtype=np.uint64),
        "length": np.array([10, 10, 10], dtype=np.uint64),
        "key_offset": np.array([0, 6, 12], dtype=np.uint64),
        "key_length": np.array([5, 5, 5], dtype=np.uint64),
    }
    index = UnitIndex.from_runs(runs, b"s <a>\ng <b>\ns <a>\n")
    assert index.key.tolist() == [3, 5]
    assert index.digest.tolist() == [7, 1]  # the runs' digests add up modulo 2**64
    assert [index.unit(i) for i in range(2)] == [("g", "b"), ("s", "a")]
    # the order the runs came in does not matter
    swapped = {k: v[[2, 1, 0]] for k, v in runs.items()}
    again = UnitIndex.from_runs(swapped, b"s <a>\ng <b>\ns <a>\n")
    assert again.key.tolist() == [3, 5] and again.digest.tolist() == [7, 1]
    assert [again.unit(i) for i in range(2)] == [("g", "b"), ("s", "a")]


def test_a_store_grown_too_big_is_compacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RocksDB compacts only while the store is open for writing, so an updated store grows
    on disk; past MAX_GROWTH times the size of a compacted one, the update compacts it."""
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    loaded = marker(folder)
    # a store loaded whole is smaller than the same store compacted
    bulk_ratio = loaded["bytes"] / loaded["quads"]
    # a store loaded whole is recorded as it is; the update derives its compacted size
    assert loaded["compact_bytes_per_quad"] == round(bulk_ratio, 3)
    # (the size an update finds depends on RocksDB's background work since the load: the
    # first update is kept from compacting whatever it finds)
    monkeypatch.setattr(delta, "MAX_GROWTH", float("inf"))
    report = build(folder, [SMALL_INPUT])
    # (the report says why, should the store be loaded whole: this failed once in CI)
    assert report.store["loaded"] == "updated in place", (report.store, report.rdf)
    assert not report.store["compacted"]
    assert marker(folder)["compact_bytes_per_quad"] == round(BULK_TO_COMPACTED * bulk_ratio, 3)
    monkeypatch.setattr(delta, "MAX_GROWTH", 0.0)
    report = build(folder, [MORE_INPUT])
    assert report.store["loaded"] == "updated in place" and report.store["compacted"]
    info = marker(folder)
    assert info["compact_bytes_per_quad"] == round(info["bytes"] / info["quads"], 3)
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT, MORE_INPUT)


@pytest.mark.parametrize("factor, compacts", [(1e6, False), (1e-6, True)])
def test_the_first_update_of_a_bulk_loaded_store_takes_its_compacted_size_as_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factor: float, compacts: bool
) -> None:
    """A store fresh from the bulk loader is smaller than the same store compacted: its first
    update compacts it past MAX_GROWTH times BULK_TO_COMPACTED times its own size, whatever
    its marker recorded."""
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    path = folder / "store" / MARKER
    info = marker(folder)
    assert info["loaded"] == "bulk"
    info["compact_bytes_per_quad"] = 1e-9  # (taken, it would make every update compact)
    path.write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.setattr(delta, "MAX_GROWTH", 1.0)
    monkeypatch.setattr(store_module, "BULK_TO_COMPACTED", factor)
    report = build(folder, [SMALL_INPUT])
    # (why not, when it fails: this failed once in CI, loaded whole, and did not again in 21
    # runs here, under load too)
    assert report.store["loaded"] == "updated in place", (report.store, report.rdf)
    assert report.store["compacted"] is compacts
    after = marker(folder)
    want = after["bytes"] / after["quads"] if compacts else factor * info["bytes"] / info["quads"]
    assert after["compact_bytes_per_quad"] == round(want, 3)


def test_counted_writes_every_quad_and_gives_the_union_without_repeats(tmp_path: Path) -> None:
    """_counted on runs as statement_runs gives them: the quads are every statement of every
    run in order, the union leaves out the repeats (wherever they fall among the chunks), and
    each unit's runs are recorded at their place in the file."""
    papers = [
        Run(
            f"<http://x/graph/paper/{n}>",
            [f"<http://x/p{n}> <http://x/q> <http://x/o{k}>" for k in range(n % 7 + 1)],
            frozenset({0} if n % 3 == 0 else ()),
            f"paper:{n}",
        )
        for n in range(2000)
    ]
    ents = [f"<http://x/e{k // 3}> <http://x/r> <http://x/v{k}>" for k in range(30)]
    ents += [f"<http://x/e{k}> {CO_OCCURS} <http://x/e{k + 1}>" for k in range(5)]
    stream = [*papers, Run(G, ents, frozenset())]
    runs = RunDigests(tmp_path / "r.npz", tmp_path / "k.txt", G)
    union: list[bytes] = []
    counts: dict[str, int] = {}
    chunks = list(_counted(iter(stream), counts, union.append, runs))
    runs.close()
    data = b"".join(chunks)
    assert len(chunks) > 1  # chunks end between runs, not after each run
    expected = [f"{spo} {g} .\n" for g, spos, *_ in stream for spo in spos]
    assert data.decode().splitlines(keepends=True) == expected
    kept = [
        f"{spo} {g} .\n"
        for g, spos, rep, *_ in stream
        for i, spo in enumerate(spos)
        if i not in rep
    ]
    assert b"".join(union).decode().splitlines(keepends=True) == kept
    assert counts == {"quads": len(expected), "graphs": 2001}
    table = load_runs(tmp_path / "r.npz")
    keys = (tmp_path / "k.txt").read_text().splitlines()
    assert keys[:2] == ["g <http://x/graph/paper/0>", "g <http://x/graph/paper/1>"]
    # the entities graph: a unit per subject, each of its coOccursWith pairs a unit of its own
    assert keys[2000:] == [f"s <http://x/e{k}>" for k in range(10)] + [
        f"c <http://x/e{k}> <http://x/e{k + 1}>" for k in range(5)
    ]
    for i, n in enumerate(papers[:50]):
        start, length = int(table["offset"][i]), int(table["length"][i])
        assert data[start : start + length].decode() == "".join(f"{spo} {n[0]} .\n" for spo in n[1])


def test_counted_marks_the_blocks_and_records_each_runs_block(tmp_path: Path) -> None:
    """Blocks (a paper's graph, an entity's statements) get a ``#u`` mark in the union, kept
    ones their ``#c`` mark in their place, the rest of the entities graph a ``#t``; every
    block is listed in order, and each run records its block's node (none for the rest)."""
    p0, p1 = "<http://x/graph/paper/0>", "<http://x/graph/paper/1>"
    e0 = ["<http://x/e0> <http://x/r> <http://x/v>", f"<http://x/e0> {CO_OCCURS} <http://x/e2>"]
    e2 = ["<http://x/e2> <http://x/r> <http://x/w>"]
    tail = ["<http://x/org> <http://x/r> <http://x/v>"]
    stream = [
        Run(p0, ["<http://x/p0> <http://x/q> <http://x/o>"], frozenset(), "paper:0"),
        Run(p1, [], frozenset(), "paper:1"),
        Run(G, e0, frozenset(), "entity:e0"),
        Run(G, [], frozenset(), "entity:e1"),
        Run(G, e2, frozenset(), "entity:e2"),
        Run(G, tail, frozenset()),
    ]
    marks = {"paper:1": b"#c 1 2 3\n", "entity:e1": b"#c 4 5 6\n"}
    runs = RunDigests(tmp_path / "r.npz", tmp_path / "k.txt", G)
    union: list[bytes] = []
    blocks: list[str] = []
    counts: dict[str, int] = {}
    data = b"".join(_counted(iter(stream), counts, union.append, runs, marks, blocks))
    runs.close()

    def lines(g: str, spos: list[str]) -> str:
        return "".join(f"{s} {g} .\n" for s in spos)

    assert b"".join(union).decode() == (
        "#u\n"
        + lines(p0, stream[0].statements)
        + "#c 1 2 3\n#u\n"
        + lines(G, e0)
        + "#c 4 5 6\n#u\n"
        + lines(G, e2)
        + "#t\n"
        + lines(G, tail)
    )
    assert data.decode() == lines(p0, stream[0].statements) + lines(G, e0 + e2 + tail)
    assert blocks == ["paper:0", "paper:1", "entity:e0", "entity:e1", "entity:e2"]
    assert counts == {"quads": 5, "graphs": 3}  # (a kept paper's graph is there too)
    keys = (tmp_path / "k.txt").read_text().splitlines()
    assert keys == [
        f"g {p0}",
        "s <http://x/e0>",
        "c <http://x/e0> <http://x/e2>",
        "s <http://x/e2>",
        "s <http://x/org>",
    ]
    table = load_runs(tmp_path / "r.npz")
    assert table["block"].tolist() == [
        int.from_bytes(key_hash(b), "little") if b else 0
        for b in ("paper:0", "entity:e0", "entity:e0", "entity:e2", "")
    ]


def test_the_entities_graph_runs_do_not_depend_on_how_the_stream_is_cut(tmp_path: Path) -> None:
    """statement_runs cuts the entities graph every few thousand statements, wherever that
    falls; _counted still makes each longest stretch of one unit a single run, so the same
    statements give the same runs, digests and file however they are cut."""
    ents = [f"<http://x/e{k // 4}> <http://x/r> <http://x/v{k}>" for k in range(40)]
    ents += [f"<http://x/e{k // 2}> {CO_OCCURS} <http://x/f{k}>" for k in range(10)]
    out = []
    for n, cuts in enumerate([(), (1, 2, 3), (5, 21, 22, 41, 49)]):
        bounds = [0, *cuts, len(ents)]
        stream = [Run(G, ents[a:b], frozenset()) for a, b in itertools.pairwise(bounds)]
        runs = RunDigests(tmp_path / f"{n}.npz", tmp_path / f"{n}.txt", G)
        data = b"".join(_counted(iter(stream), {}, None, runs))
        runs.close()
        table = load_runs(tmp_path / f"{n}.npz")
        out.append((data, (tmp_path / f"{n}.txt").read_text(), table["digest"].tolist()))
    assert out[0] == out[1] == out[2]
    assert out[0][1].splitlines() == [f"s <http://x/e{k}>" for k in range(10)] + [
        f"c <http://x/e{k // 2}> <http://x/f{k}>" for k in range(10)
    ]


def _graph_html_timed(monkeypatch: pytest.MonkeyPatch, stamp: Path, fail: bool = False) -> None:
    """graph.html made a second slower, and when it was done (monotonic seconds, in
    ``stamp``: the build's copy of the process makes it); or failing, with ``fail``."""
    import kgraph.view as view

    real = view.graph_html_bytes

    def slow(*args: Any, **kwargs: Any) -> bytes:
        time.sleep(1.0)
        if fail:
            raise RuntimeError("graph.html failed")
        out = real(*args, **kwargs)
        stamp.write_text(f"{os.getpid()} {time.monotonic()}", encoding="utf-8")
        return out

    monkeypatch.setattr(view, "graph_html_bytes", slow)


def test_an_add_in_a_copy_updates_the_store_here_while_the_copy_writes_graph_html(
    three_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add whose work runs in a copy of the process hands the store's loader over once
    the quads are made: this process updates the store while the copy writes graph.html and
    ends. The bundle is the one an add in one process makes."""
    seed = seed_bundle()  # (made, if it is not yet, before anything is patched)
    monkeypatch.setattr(delta, "MAX_SHARE", 1.0)
    stamp = tmp_path / "html"
    _graph_html_timed(monkeypatch, stamp)
    updates: list[tuple[int, float]] = []
    real = store_module.StoreLoader.finish

    def finish(self: Any, *args: Any, **kwargs: Any) -> Any:
        updates.append((os.getpid(), time.monotonic()))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(store_module.StoreLoader, "finish", finish)
    folder = tmp_path / "bundle"
    shutil.copytree(three_pages, folder)
    report = build(folder, PAGES, isolate=True)
    assert report.store_early and report.store["loaded"] == "updated in place"
    html_pid, html_done = stamp.read_text(encoding="utf-8").split()
    [(pid, started)] = updates
    assert pid == os.getpid() != int(html_pid)  # (graph.html: in the copy)
    assert started < float(html_done)  # the update began before graph.html was done
    assert not any(t.name == "kgraph-store-update" for t in threading.enumerate())
    alone = tmp_path / "alone"
    shutil.copytree(three_pages, alone)
    assert not build(alone, PAGES, isolate=False).store_early
    names = {n for n in snapshot(alone) if not n.startswith("store/")}  # (RocksDB's own)
    assert {n for n in snapshot(folder) if not n.startswith("store/")} == names
    for name in ("graph.json", "graph.ttl", "graph.html", "graph.units.npz", "papers.jsonl"):
        assert (folder / name).read_bytes() == (alone / name).read_bytes(), name
    assert quads(folder) == quads(alone) == quads(seed)


def test_a_copy_that_fails_after_handing_the_store_over_leaves_the_old_bundle(
    three_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta, "MAX_SHARE", 1.0)
    _graph_html_timed(monkeypatch, tmp_path / "html", fail=True)
    folder = tmp_path / "bundle"
    shutil.copytree(three_pages, folder)
    before = snapshot(folder)
    with pytest.raises(RuntimeError, match=r"graph\.html failed"):
        build(folder, PAGES, isolate=True)
    assert not any(t.name == "kgraph-store-update" for t in threading.enumerate())
    assert snapshot(folder) == before  # (no temporary left: the store's update's included)
    assert quads(folder) == quads(three_pages)
