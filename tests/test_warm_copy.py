"""The copy of a bulk-loaded store that an add opens while its worker runs
(kgraph.rdf.store.WarmCopy): RocksDB reorganises a store fresh from the bulk loader as soon as
it is open for writing, which the first update after a build otherwise waits for."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from _seed import seed_bundle
from test_store_update import (
    MORE_INPUT,
    SMALL_INPUT,
    assert_as_built_whole,
    grow,
    marker,
    quads,
    three_pages,
)

import kgraph.graph as graph_module
import kgraph.rdf.paper_units as paper_units
import kgraph.rdf.store as store_module
from kgraph.bundle import BundleError, build
from kgraph.rdf.store import WarmCopy

__all__ = ["three_pages"]  # (the fixture, shared with test_store_update)

PHASE = "store copy reorganised"


def hidden(folder: Path) -> list[str]:
    """The bundle's temporaries (a copy of the store left behind would be one)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    """The ``warmed`` copy each update of a store is given."""
    given: list[Path | None] = []
    real = store_module.update_store

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        given.append(kwargs.get("warmed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "update_store", spy)
    return given


def test_a_copy_holds_the_store_and_goes_when_discarded(tmp_path: Path) -> None:
    store = seed_bundle() / "store"
    copy = WarmCopy(store, tmp_path)
    path = copy.close()
    assert path is not None and path.parent == tmp_path and path.name.startswith(".store-warm-")
    assert set(ox.Store.read_only(str(path))) == set(ox.Store.read_only(str(store)))
    copy.discard()
    assert list(tmp_path.iterdir()) == []


_THREADS = """
import os, sys, time
from pathlib import Path
from kgraph.rdf.store import WarmCopy

copy = WarmCopy(Path(sys.argv[1]), Path(sys.argv[2]))
seen, first = {}, None
end = time.monotonic() + 20
while time.monotonic() < end and (first is None or time.monotonic() < first + 0.5):
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as fh:
                name = fh.read().strip()
            with open(f"/proc/self/task/{task}/stat") as fh:
                nice = int(fh.read().rsplit(")", 1)[1].split()[16])
        except OSError:
            continue
        if name.startswith("rocksdb"):
            seen[task] = nice
            first = first or time.monotonic()
    time.sleep(0.02)
copy.discard()
print(sorted(set(seen.values())))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_rocksdbs_threads_work_on_the_copy_at_the_lowest_priority(tmp_path: Path) -> None:
    """The copy's RocksDB threads run at nice 19: the worker's copy reading the kept parts of
    the graph (nice 10), which the graph waits for, shares their core. (A fresh process: a
    process that opened a store before has RocksDB's threads already.)"""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _THREADS, str(seed_bundle() / "store"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[19]"
    assert list(tmp_path.iterdir()) == []


def test_a_copy_that_cannot_be_made_gives_none_and_leaves_nothing(tmp_path: Path) -> None:
    copy = WarmCopy(tmp_path / "no-store", tmp_path)
    assert copy.close() is None
    assert list(tmp_path.iterdir()) == []


def test_an_add_to_a_bulk_loaded_store_updates_the_copy_opened_while_its_worker_ran(
    tmp_path: Path, updates: list[Path | None]
) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    assert marker(folder)["loaded"] == "bulk"
    report = build(folder, [SMALL_INPUT])
    # (waited for by the store's update, which began while the worker wrote graph.html: no
    # phase of its own)
    assert report.store_early and PHASE not in report.phases
    assert report.store["loaded"] == "updated in place", (report.store, report.rdf)
    assert report.added
    assert len(updates) == 1 and updates[0] is not None
    assert updates[0].parent == folder and not updates[0].exists()  # (it became the store)
    assert hidden(folder) == []
    assert_as_built_whole(folder, tmp_path, SMALL_INPUT)
    # a store updated in place is not copied ahead: RocksDB has reorganised it already
    report = build(folder, [MORE_INPUT])
    assert PHASE not in report.phases and report.store["loaded"] == "updated in place"
    assert updates[1:] == [None]


def test_a_copy_the_store_does_not_take_is_removed(
    three_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paper_units, "MAX_CHANGED", 0.05)  # every statement made: a whole load
    folder, report = grow(three_pages, tmp_path)
    assert PHASE in report.phases
    assert report.store["loaded"] == "bulk"
    assert hidden(folder) == []
    assert quads(folder) == quads(seed_bundle())


def test_a_failed_add_leaves_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    before = sorted(p.name for p in folder.iterdir())

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the graph failed")

    made: list[WarmCopy] = []

    class Recorded(WarmCopy):
        def __init__(self, store: Path, at: Path) -> None:
            super().__init__(store, at)
            made.append(self)

    monkeypatch.setattr(store_module, "WarmCopy", Recorded)
    monkeypatch.setattr(graph_module, "build_graph", fail)  # (in the worker: it is forked)
    with pytest.raises((RuntimeError, BundleError), match="the graph failed"):
        build(folder, [SMALL_INPUT])
    assert len(made) == 1 and made[0].path is None  # a copy was made, and removed
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_build_in_one_process_copies_nothing_ahead(
    tmp_path: Path, updates: list[Path | None]
) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), folder)
    report = build(folder, [SMALL_INPUT], isolate=False)
    assert PHASE not in report.phases and report.store["loaded"] == "updated in place"
    assert updates == [None]
    assert hidden(folder) == []
