"""Extraction engines: worker processes and Dask give exactly the extractions (and the graph) of
one process; progress stays out of pipes; a bad engine setting is one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_progress_bar_on_a_terminal_shows_rate_and_eta() -> None:
    # a real pseudo-terminal for stderr: the bar appears with papers/s and the remaining time
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kgraph", "extract", PAGES[3], "--no-model", "-j", "1"],
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
    err = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "kgraph: extracting" in err
    assert "paper/s" in err and "38/38" in err
    assert json.loads(proc.stdout.splitlines()[0])["id"]
