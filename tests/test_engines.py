"""Extraction engines: worker processes and Dask give exactly the extractions (and the graph) of
one process; progress stays out of pipes; a bad engine setting is one clear line."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from _seed import PAGES, seed_bundle
from click.testing import CliRunner

from kgraph.bundle import build
from kgraph.cli import cli
from kgraph.engines import EngineError, EngineOptions, extract_stream
from kgraph.readers import read_papers


@pytest.fixture(scope="module")
def seed_papers() -> list:  # type: ignore[type-arg]
    return read_papers(PAGES).papers


@pytest.fixture(scope="module")
def one_process(seed_papers: list) -> list[dict]:  # type: ignore[type-arg]
    return [e.to_dict() for e in extract_stream(seed_papers, EngineOptions(jobs=1, model=False))]


def test_worker_processes_give_the_same_extractions_in_order(
    seed_papers: list,
    one_process: list[dict],  # type: ignore[type-arg]
) -> None:
    # chunks of 40 papers: 8 chunks over 2 processes, results must come back in input order
    options = EngineOptions(jobs=2, model=False, chunk_size=40)
    got = [e.to_dict() for e in extract_stream(seed_papers, options)]
    assert [r["id"] for r in got] == [p.id for p in seed_papers]
    assert got == one_process
    assert sum(len(r["entities"]) for r in got) > 2000


def test_small_inputs_stay_in_process(
    seed_papers: list,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one chunk of work: no pool is started (nothing to gain), same result
    import kgraph.engines.local as local

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process pool was started for one chunk of work")

    monkeypatch.setattr(local, "ProcessPoolExecutor", no_pool)
    papers = seed_papers[:5]
    got = list(extract_stream(papers, EngineOptions(jobs=2, model=False, chunk_size=256)))
    assert [e.paper_id for e in got] == [p.id for p in papers]


def test_dask_local_cluster_builds_the_same_graph(tmp_path: Path) -> None:
    options = EngineOptions(engine="dask", jobs=2, model=True, chunk_size=60)
    report = build(tmp_path / "dask", PAGES, engine=options)
    assert report.extracted == 314
    # the local engine's bundle (one process, built by the shared fixture) is byte-identical
    reference = seed_bundle()
    for name in ("graph.json", "extractions.jsonl", "papers.jsonl"):
        assert (tmp_path / "dask" / name).read_bytes() == (reference / name).read_bytes(), name


def test_unreachable_dask_scheduler_is_one_clear_error(seed_papers: list) -> None:  # type: ignore[type-arg]
    options = EngineOptions(engine="dask", scheduler="tcp://127.0.0.1:9", connect_timeout=2)
    with pytest.raises(EngineError, match=r"cannot connect to the Dask scheduler at tcp://127"):
        list(extract_stream(seed_papers[:3], options))


def test_unknown_engine() -> None:
    with pytest.raises(EngineError, match="valid engines: local, dask"):
        list(extract_stream([], EngineOptions(engine="spark")))


def test_scheduler_without_dask_engine_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["build", PAGES[0], "-o", str(tmp_path / "b"), "--scheduler", "tcp://x:8786"]
    )
    assert result.exit_code == 2
    assert "--scheduler needs --engine dask" in result.stderr


def test_build_cli_reports_a_dead_scheduler_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgraph",
            "build",
            PAGES[3],
            "-o",
            str(tmp_path / "b"),
            "--engine",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_progress_is_quiet_in_pipes_and_quiet_silences_everything(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "kgraph", "extract", PAGES[3], "--no-model", "-j", "1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    # stderr is a pipe: the summary lines, no progress bar (no carriage returns, no "it/s")
    assert "\r" not in proc.stderr and "paper/s" not in proc.stderr
    assert "extracted" in proc.stderr
    assert len(proc.stdout.splitlines()) == 38
    quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True, timeout=300)
    assert quiet.stderr == ""
    assert quiet.stdout == proc.stdout


def on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """``python -m kgraph ARGS`` with stderr on a real pseudo-terminal (120 columns): the
    process, and what it wrote there."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kgraph", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=300,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_shows_rate_and_eta() -> None:
    # a real pseudo-terminal for stderr: the bar appears with papers/s and the remaining time
    proc, err = on_a_terminal("extract", PAGES[3], "--no-model", "-j", "1")
    assert proc.returncode == 0
    assert "kgraph: extracting" in err
    assert "paper/s" in err and "38/38" in err
    assert json.loads(proc.stdout.splitlines()[0])["id"]


def test_a_build_says_on_a_terminal_which_step_it_is_at_and_for_how_long(
    tmp_path: Path,
) -> None:
    """After the extraction's bar, a build spends most of its time in steps without one (four
    minutes at 160k papers): a status line names each step with its time so far, in place
    (redrawn after a carriage return, each line cleared), and is gone when the summary is
    printed. Nothing of it in a pipe, or with --quiet."""
    folder = tmp_path / "b"
    proc, err = on_a_terminal("build", PAGES[3], "-o", str(folder), "--no-model", "-j", "1")
    assert proc.returncode == 0, err
    frames = [f for f in err.replace("\x1b[K", "").split("\r") if f.strip()]
    steps = [f for f in frames if re.fullmatch(r"kgraph: [a-z][^(]*\(\d\d:\d\d\)", f)]
    said = list(dict.fromkeys(re.sub(r" \(\d\d:\d\d\)$", "", f)[8:] for f in steps))
    for step in (
        "reading the inputs",
        "resolving entities",
        "making the graph",
        "writing graph.json",
        "writing graph.html",
        "writing graph.ttl and the store's quads",
        "loading the store",
    ):
        assert step in said, (step, said)
    assert said.index("resolving entities") < said.index("making the graph")
    assert said.index("making the graph") < said.index("loading the store")
    # the read summary above the line, then the bar, then the steps; the summary at the end
    assert "kgraph: read 38 entries" in err and "38/38" in err
    assert err.index("kgraph: read 38 entries") < err.index("38/38")
    assert err.index("38/38") < err.index("kgraph: resolving entities")
    last = err.rstrip().splitlines()[-1].split("\r")[-1].replace("\x1b[K", "")
    assert last.startswith("kgraph: added 38 papers")
    assert all(len(f) < 120 for f in steps)  # (within the terminal's width: redrawn in place)

    # an add says it updates the store
    more = tmp_path / "more.jsonl"
    more.write_text(
        json.dumps({"id": "x1", "title": "A new method", "abstract": "We propose BERT-X."}) + "\n"
    )
    proc, err = on_a_terminal("build", str(more), "-o", str(folder))
    assert proc.returncode == 0, err
    assert "kgraph: updating the store (" in err
    assert "kgraph: reading the bundle and the inputs (" in err

    args = ["build", PAGES[2], "-o", str(tmp_path / "c"), "--no-model", "-j", "1"]
    piped = subprocess.run(
        [sys.executable, "-m", "kgraph", *args], capture_output=True, text=True, timeout=300
    )
    assert piped.returncode == 0
    assert "\r" not in piped.stderr and "resolving entities" not in piped.stderr
    assert "kgraph: added 126 papers" in piped.stderr
    proc, err = on_a_terminal("build", PAGES[0], "-o", str(tmp_path / "d"), "--no-model", "-q")
    assert proc.returncode == 0 and err == ""


def test_the_other_long_commands_say_their_steps_on_a_terminal(tmp_path: Path) -> None:
    """`query` and `serve` making a missing store (three minutes at 160k), `export` making
    the graph (a minute), `view` (half a minute), `stats` (ten seconds): a status line names
    each step, gone before the summary (and before the results on stdout); nothing of it in a
    pipe."""
    import shutil

    from kgraph.exporters import export_bundle
    from kgraph.rdf.store import ensure_store

    folder = tmp_path / "b"
    shutil.copytree(seed_bundle(), folder)
    shutil.rmtree(folder / "store")
    proc, err = on_a_terminal("query", str(folder), "--name", "top-datasets")
    assert proc.returncode == 0, err
    made = "kgraph: reading graph.json and making the store's quads ("
    assert err.index(made) < err.index("kgraph: loading the store (")
    assert err.index("kgraph: loading the store (") < err.index("kgraph: running the query (")
    assert err.endswith("\r\x1b[K")  # (the line taken away at the end)
    assert b"dataset" in proc.stdout
    proc, err = on_a_terminal("query", str(folder), "--name", "top-datasets")
    assert "making the store" not in err  # (made now)

    out = tmp_path / "g.graphml"
    proc, err = on_a_terminal("export", str(folder), "-o", str(out))
    assert proc.returncode == 0, err
    assert err.index("kgraph: reading graph.json (") < err.index(f"kgraph: writing {out} (")
    assert err.rstrip().endswith(f"kgraph: wrote {out} ({out.stat().st_size:,} bytes)")
    proc, err = on_a_terminal("export", str(folder), "-o", str(tmp_path / "g.ttl"))
    assert "kgraph: copying the bundle's graph.ttl (" in err and "reading graph.json" not in err

    proc, err = on_a_terminal("stats", str(folder))
    assert proc.returncode == 0 and "kgraph: counting graph.json (" in err
    assert err.endswith("\r\x1b[K") and b"papers" in proc.stdout

    proc, err = on_a_terminal("view", str(folder), "-o", str(tmp_path / "v.html"))
    assert proc.returncode == 0, err
    said = [
        "reading graph.json",
        "choosing what to draw",
        "reading what is drawn",
        "laying out the page",
    ]
    at = [err.index(f"kgraph: {s} (") for s in said]
    assert at == sorted(at)
    assert err.rstrip().split("\r")[-1].replace("\x1b[K", "").startswith("kgraph: drew ")

    piped = subprocess.run(
        [sys.executable, "-m", "kgraph", "view", str(folder), "-o", str(tmp_path / "w.html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0 and "\r" not in piped.stderr
    assert "choosing what to draw" not in piped.stderr

    # the library gives the same steps
    steps: list[str] = []
    shutil.rmtree(folder / "store")
    ensure_store(folder, on_step=steps.append)
    assert steps == ["reading graph.json and making the store's quads", "loading the store"]
    steps.clear()
    ensure_store(folder, on_step=steps.append)
    assert steps == []  # (fresh)
    export_bundle(folder, "nt", tmp_path / "g.nt", on_step=steps.append)
    assert steps == ["reading graph.json", f"writing {tmp_path / 'g.nt'}"]


def test_a_fork_waits_until_the_status_line_is_drawn() -> None:
    """The status line is drawn by its thread, holding the stream's lock while it writes: a
    copy forked then would inherit that lock held and hang at its first write to stderr. A
    fork waits until no status line is being drawn."""
    import os
    import threading
    import time

    from kgraph.progress import Status

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    status = Status(stream=Terminal())
    assert status.enabled
    held = threading.Event()

    def drawing() -> None:  # (as the thread's drawing does, for half a second)
        with status._lock:
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=drawing)
    thread.start()
    held.wait()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the copy
        os._exit(0)
    waited = time.monotonic() - started
    os.waitpid(pid, 0)
    thread.join()
    assert waited >= 0.3
    with status:  # and a status shown and stepped still works after forks
        status.step("resolving entities")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the copy
            os._exit(0)
        os.waitpid(pid, 0)
        status.step("making the graph")
    assert "kgraph: making the graph (00:00)" in status.stream.getvalue()  # type: ignore[attr-defined]


def _build_recording(
    folder: Path, inputs: list[str], log: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[Any, list[tuple[str, int, float]]]:
    """A build of ``inputs`` (two workers, rules only, in this process) recording, in the file
    ``log`` (the workers are other processes), who loaded the pipeline and when, and when
    the inputs were read (``read:N``: N worker processes running then)."""
    import kgraph.extract.pipeline as pipeline

    real = pipeline.build_pipeline

    def note(what: str) -> None:
        with log.open("a") as fh:
            fh.write(f"{what} {os.getpid()} {time.monotonic()}\n")

    def build_pipeline(*args: Any, **kwargs: Any) -> Any:
        note("pipeline")
        return real(*args, **kwargs)

    def default_pipeline(gazetteer: bool = True, model: bool = True) -> Any:
        return build_pipeline(gazetteer=gazetteer, model=model)

    # (a cache of its own: this process may have loaded the pipeline for another test)
    monkeypatch.setattr(pipeline, "default_pipeline", lru_cache(maxsize=4)(default_pipeline))
    options = EngineOptions(jobs=2, model=False, chunk_size=8)
    import multiprocessing

    def on_read(_: Any) -> None:  # (with how many worker processes run as the build reads)
        note(f"read:{len(multiprocessing.active_children())}")

    report = build(folder, inputs, engine=options, isolate=False, on_read=on_read)
    events = [(w, int(p), float(t)) for w, p, t in (line.split() for line in log.open())]
    return report, events


def test_a_build_starts_its_workers_before_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers load the pipeline while the build reads its inputs; the build's own
    process never loads it; the extractions are those of one process; a build with nothing
    to extract ends its workers all the same."""
    import multiprocessing

    page = PAGES[0]
    log = tmp_path / "events"
    report, events = _build_recording(tmp_path / "b", [page], log, monkeypatch)
    assert report.extracted > 16  # (three chunks or more)
    loaded = [(p, t) for w, p, t in events if w == "pipeline"]
    ((read, here, _),) = [e for e in events if e[0].startswith("read")]
    assert here == os.getpid() and len(loaded) == 2
    assert all(p != here for p, _ in loaded)  # (the workers', not this process')
    # the workers were started before the inputs were read (they load the pipeline as the
    # build reads: which ends first is the machine's business)
    assert read == "read:2"
    assert not multiprocessing.active_children()
    rules = EngineOptions(jobs=1, model=False)
    one = [e.to_dict() for e in extract_stream(read_papers([page]).papers, rules)]
    stored = [json.loads(line) for line in (tmp_path / "b" / "extractions.jsonl").open()]
    for row in stored:
        row.pop("results", None)
    assert sorted(stored, key=lambda r: r["id"]) == sorted(one, key=lambda r: r["id"])
    # the same papers again, in another file: nothing to extract, the workers ended
    again = tmp_path / "again.txt"
    again.write_bytes(Path(page).read_bytes() + b"\n")
    log.unlink()
    report, events = _build_recording(tmp_path / "b", [str(again)], log, monkeypatch)
    assert report.extracted == 0 and not multiprocessing.active_children()


def test_a_worker_that_cannot_load_the_pipeline_fails_the_build_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    import kgraph.engines.worker as worker

    def warm(model: bool) -> None:
        raise ValueError("the model's files are damaged")

    monkeypatch.setattr(worker, "warm", warm)
    options = EngineOptions(jobs=2, model=False, chunk_size=8)
    with pytest.raises(ValueError, match="the model's files are damaged"):
        build(tmp_path / "b", [PAGES[0]], engine=options, isolate=False)
    assert not (tmp_path / "b" / "manifest.json").exists()
    assert not multiprocessing.active_children()


def test_a_pool_that_cannot_start_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process left to fork: the build goes on without workers started ahead (the
    extraction starts its own, or says why it cannot), and the pool made is shut down."""
    import kgraph.bundle as bundle_module
    import kgraph.engines.local as local

    shut: list[bool] = []

    class NoProcess:
        def __init__(self, **kwargs: object) -> None:
            pass

        def submit(self, *args: object) -> None:
            raise OSError(11, "Resource temporarily unavailable")

        def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
            shut.append(wait)

    monkeypatch.setattr(local, "ProcessPoolExecutor", NoProcess)
    assert bundle_module._warm_pool(None, EngineOptions(jobs=2, model=False)) is None
    assert shut == [True]
    # and none is started for one job, the Dask engine, or a pipeline given
    assert bundle_module._warm_pool(None, EngineOptions(jobs=1)) is None
    assert bundle_module._warm_pool(None, EngineOptions(engine="dask", jobs=2)) is None
    assert bundle_module._warm_pool(object(), EngineOptions(jobs=2)) is None  # type: ignore[arg-type]
    assert shut == [True]
