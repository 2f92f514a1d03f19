"""kgraph.forked: work in a forked copy of the process, callbacks in the caller's, errors
and deaths of the copy reported; and the build's use of it (same bundle, problems and
progress in the caller's process, a killed copy leaves nothing behind)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _seed import PAGES

import kgraph.graph as graph_module
from kgraph.bundle import BundleError, build
from kgraph.forked import Forked, Parent, WorkerDied, run_forked
from kgraph.readers import ReadLog

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture(autouse=True)
def _interruptible() -> Iterator[None]:
    """Some tests here interrupt a process with SIGINT. A test run started in the background
    by a shell without job control has SIGINT ignored, and so would every process it forks
    or starts (an ignored signal stays ignored across exec): Python's own handler, restored
    for each test, keeps them interruptible (a handler does not outlive exec)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_the_work_runs_in_another_process_and_its_result_comes_back() -> None:
    def work(parent: Parent) -> dict[str, Any]:
        return {"pid": os.getpid(), "big": list(range(100_000))}

    result = run_forked(work)
    assert result["pid"] != os.getpid()
    assert result["big"] == list(range(100_000))  # more than a pipe's buffer


def test_a_result_may_come_back_before_the_copy_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``end_aside`` the result is returned as it comes, while the copy still ends (a
    build's copy gives gigabytes back meanwhile); :meth:`Forked.ended` waits for that. Here
    the copy takes a second to end (its ``os._exit`` made slow)."""
    import time

    real_exit = os._exit

    def slow_exit(code: int) -> None:
        time.sleep(1.0)
        real_exit(code)

    monkeypatch.setattr(os, "_exit", slow_exit)  # (in the copy: this process never exits so)

    def work(parent: Parent) -> int:
        return os.getpid()

    aside = Forked(work)
    pid = aside.result(end_aside=True)
    assert Path(f"/proc/{pid}").exists()  # (still ending: not even a zombie yet)
    aside.ended()
    assert not Path(f"/proc/{pid}").exists()
    waited = Forked(work)
    pid = waited.result()
    assert not Path(f"/proc/{pid}").exists()


def test_the_callers_garbage_is_not_collected_in_the_copy(tmp_path: Path) -> None:
    """A garbage cycle the caller left uncollected is never finalised in the copy, however
    much the copy collects: its finaliser could need what only the caller's threads give
    (an Oxigraph store's background threads: a copy making a store's quads aborted so)."""
    import gc

    log = tmp_path / "finalised"

    class Held:
        def __del__(self) -> None:
            with log.open("a") as fh:
                fh.write(f"{os.getpid()}\n")

    enabled = gc.isenabled()
    gc.disable()
    try:
        cycle: list[Any] = [Held()]
        cycle.append(cycle)
        del cycle  # garbage, left to the collector

        def work(parent: Parent) -> int:
            gc.enable()
            junk = [[i] for i in range(50_000)]
            return gc.collect() + len(junk)

        run_forked(work)
        assert not log.exists()  # not finalised in the copy
    finally:
        gc.collect()
        if enabled:
            gc.enable()
    assert log.read_text().split() == [str(os.getpid())]  # here, where it belongs


def test_a_large_result_comes_back_whole_while_signals_interrupt_its_writes() -> None:
    """A write to a pipe that a signal interrupts (the copy has a handler: Python's own for
    Ctrl-C, say) returns having taken part of the bytes: the copy writes the rest, so the
    result is not cut short."""
    import threading
    import time

    def work(parent: Parent) -> bytes:
        signal.signal(signal.SIGUSR1, lambda *_: None)
        parent.call("ready")
        return bytes(range(256)) * (1 << 17)  # 32 MiB, through a pipe of 64 KiB

    ready = threading.Event()
    forked = Forked(work, {"ready": ready.set})
    pid = forked.pid
    assert pid is not None
    stop = threading.Event()

    def interrupt() -> None:
        ready.wait(30)
        while not stop.is_set():
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        result = forked.result()
    finally:
        stop.set()
        thread.join()
    assert result == bytes(range(256)) * (1 << 17)


def test_calls_run_in_the_caller_and_return_their_result() -> None:
    seen: list[tuple[str, int]] = []

    def record(what: str, pid: int) -> int:
        seen.append((what, pid))
        return len(seen)

    def work(parent: Parent) -> list[int]:
        parent.send("record", "sent", os.getpid())
        return [parent.call("record", "called", os.getpid()) for _ in range(3)]

    assert run_forked(work, {"record": record}) == [2, 3, 4]
    assert [w for w, _ in seen] == ["sent", "called", "called", "called"]
    assert all(pid != os.getpid() for _, pid in seen)


def test_what_a_call_raises_is_raised_in_the_copy() -> None:
    def refuse() -> None:
        raise ValueError("no")

    def work(parent: Parent) -> str:
        try:
            parent.call("refuse")
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    assert run_forked(work, {"refuse": refuse}) == "caught no"


def test_what_a_sent_call_raises_ends_the_work_here() -> None:
    def refuse(n: int) -> None:
        raise LookupError(f"refused {n}")

    def work(parent: Parent) -> str:
        parent.send("refuse", 1)
        parent.send("refuse", 2)
        return "done"

    with pytest.raises(LookupError, match="refused 1"):
        run_forked(work, {"refuse": refuse})


def test_what_the_work_raises_is_raised_here_with_the_copys_traceback() -> None:
    def work(parent: Parent) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing") as info:
        run_forked(work, name="test")
    (note,) = info.value.__notes__
    assert "raised in the test process" in note and "in work" in note


def test_an_exception_that_does_not_unpickle_comes_back_as_a_runtime_error() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}/{b}")

    def work(parent: Parent) -> None:
        raise Odd(1, 2)

    with pytest.raises(RuntimeError, match="Odd: 1/2"):
        run_forked(work)


def test_a_result_that_does_not_pickle_is_abandoned_in_the_copy(tmp_path: Path) -> None:
    mark = tmp_path / "abandoned"

    def work(parent: Parent) -> Any:
        return lambda: None  # functions defined here do not pickle

    with pytest.raises(Exception, match="pickle"):
        run_forked(work, abandon=lambda result: mark.write_text("yes"))
    assert mark.read_text() == "yes"


def test_a_copy_killed_without_a_result_is_reported() -> None:
    def work(parent: Parent) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(WorkerDied, match=r"killed by signal 9 .out of memory"):
        run_forked(work)


def test_a_copy_is_interrupted_then_killed_when_the_caller_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the caller does when it is interrupted and the copy was not (a SIGINT sent to
    the caller alone): the copy gets SIGINT after a second, and is killed if it ignores it."""
    import time

    import kgraph.forked as forked_module

    mark = tmp_path / "interrupted"

    def work(parent: Parent) -> None:
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            mark.write_text("cleaned up")
            raise

    job = Forked(work)
    started = time.monotonic()
    forked_module._stop(job.pid)  # type: ignore[arg-type]
    assert mark.read_text() == "cleaned up" and time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):  # ended and reaped
        os.waitpid(job.pid, os.WNOHANG)  # type: ignore[arg-type]
    job.abort()

    def deaf(parent: Parent) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(60)

    monkeypatch.setattr(forked_module, "GRACE", 0.5)
    job = Forked(deaf)
    started = time.monotonic()
    forked_module._stop(job.pid)  # type: ignore[arg-type]
    assert 1.4 < time.monotonic() - started < 10  # a second, the grace, then killed
    with pytest.raises(ChildProcessError):
        os.waitpid(job.pid, os.WNOHANG)  # type: ignore[arg-type]
    job.abort()


def test_a_forked_build_writes_the_same_bundle_as_one_in_process(tmp_path: Path) -> None:
    inputs = [PAGES[0], PAGES[3]]
    here = build(tmp_path / "here", inputs, isolate=False)
    there = build(tmp_path / "there", inputs, isolate=True)
    assert not here.isolated and there.isolated
    assert here.counts == there.counts and here.added == there.added
    for name in ("papers.jsonl", "extractions.jsonl", "graph.json", "graph.ttl", "graph.html"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()
    # and the store loaded in this process answers like the other
    from kgraph.rdf.store import store_info

    info_here, info_there = store_info(tmp_path / "here"), store_info(tmp_path / "there")
    assert info_here and info_there
    assert info_here["quads"] == info_there["quads"] > 1000
    assert info_here["graph_sha256"] == info_there["graph_sha256"]


def test_a_forked_build_calls_back_and_logs_in_the_callers_process(tmp_path: Path) -> None:
    bad = tmp_path / "papers.jsonl"
    bad.write_text('{"title": "A", "abstract": "B."}\n{not json\n', encoding="utf-8")
    shown: list[str] = []
    log = ReadLog(on_problem=lambda p: shown.append(f"{p.path}:{p.line}"))
    reads: list[tuple[int, int]] = []
    ticks: list[int] = []

    class Bar:
        def __init__(self, total: int) -> None:
            ticks.append(-total)

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            ticks.append(0)

        def update(self, n: int) -> None:
            ticks.append(n)

    report = build(
        tmp_path / "b",
        [str(bad), PAGES[3]],
        log=log,
        progress=Bar,
        on_read=lambda r: reads.append((os.getpid(), r.entries)),
        isolate=True,
    )
    assert report.isolated and report.written
    assert shown == [f"{bad}:2"] and log.skipped_by_kind() == {"invalid JSON": 1}
    ((pid, entries),) = reads
    assert pid == os.getpid() and entries == report.entries > 30
    total = -ticks[0]
    assert total == report.extracted and ticks[-1] == 0 and sum(ticks[1:-1]) == total


def test_an_error_raised_by_on_read_stops_the_forked_build(tmp_path: Path) -> None:
    def stop(report: object) -> None:
        raise BundleError("stopped by the caller")

    with pytest.raises(BundleError, match="stopped by the caller"):
        build(tmp_path / "b", [PAGES[3]], on_read=stop, isolate=True)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_a_build_copy_killed_midway_leaves_the_bundle_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "b"
    build(out, [PAGES[0]], isolate=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def killed(*args: object, **kwargs: object) -> object:
        os.kill(os.getpid(), signal.SIGKILL)  # the out-of-memory killer, say
        raise AssertionError("unreachable")

    monkeypatch.setattr(graph_module, "build_graph", killed)
    with pytest.raises(BundleError, match="build process ended without a result: killed"):
        build(out, [PAGES[3]], isolate=True)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # the files written so far were temporary, and are gone
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, "store"])


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "sigint-to-parent"])
def test_an_interrupted_forked_build_leaves_no_trace(tmp_path: Path, to_group: bool) -> None:
    """Ctrl-C in a terminal reaches the whole process group; a SIGINT sent to kgraph alone
    reaches only the parent (which interrupts the copy: the test above; here the copy may
    also end at its next progress update, finding the parent gone). Either way: exit status
    130, no bundle, no temporary file, no process left."""
    import json
    import subprocess
    import sys
    import time

    from kgraph.readers import read_papers

    papers = read_papers(PAGES).papers
    rows = [
        {"title": f"{p.title} (variant {i})", "abstract": p.abstract}
        for i in range(12)
        for p in papers
    ]
    source = tmp_path / "many.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "b"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgraph", "build", str(source), "-o", str(out), "--jobs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(4.0)  # reading, loading the pipeline, extracting
    assert proc.poll() is None, proc.communicate()
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not out.exists() or not any(out.iterdir())
    assert _processes_in_group(proc.pid) == []


def _processes_in_group(pgid: int) -> list[int]:
    """The processes whose process group is ``pgid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] != b"Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found
