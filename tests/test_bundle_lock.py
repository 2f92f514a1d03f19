"""One writer at a time in a bundle folder (kgraph.bundle_lock): a build, or a query making
the store, while another process writes the bundle stops at once with one clear line and
leaves the bundle to it; the lock goes with its holder, however it ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _seed import PAGES, ROOT, seed_bundle
from click.testing import CliRunner

from kgraph.bundle import BundleError, build
from kgraph.cli import cli

BUSY = "another kgraph process is writing this bundle"
MORE = str(ROOT / "tests" / "fixtures" / "papers.jsonl")
#: another process holding a bundle's lock as a build does (flock on the folder) until its
#: input closes
HOLD = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, temporaries included."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    shutil.copytree(seed_bundle(), out)
    return out


def hold(folder: Path) -> subprocess.Popen[str]:
    """Another process, holding ``folder``'s write lock until its input closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


@pytest.fixture
def holder(bundle: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``bundle``'s write lock."""
    with hold(bundle) as proc:
        yield proc
        proc.kill()


def test_a_build_stops_while_another_process_writes_and_goes_once_it_is_done(
    bundle: Path, holder: subprocess.Popen[str]
) -> None:
    before = files(bundle)
    code, err = invoke("build", MORE, "-o", str(bundle))
    assert code == 1
    assert f"{bundle}: {BUSY}" in err
    assert "Traceback" not in err
    assert files(bundle) == before  # nothing written, nothing left behind

    assert holder.stdin is not None
    holder.stdin.close()  # the other process ends, and its lock goes with it
    holder.wait(timeout=30)
    code, err = invoke("build", MORE, "-o", str(bundle))
    assert code == 0, err
    assert "added 1 paper (3 already in the bundle)" in err


def test_the_lock_goes_with_a_killed_holder(bundle: Path, holder: subprocess.Popen[str]) -> None:
    assert invoke("build", MORE, "-o", str(bundle))[0] == 1
    holder.send_signal(signal.SIGKILL)  # no clean-up: the system lets the lock go
    holder.wait(timeout=30)
    code, err = invoke("build", MORE, "-o", str(bundle))
    assert code == 0, err
    assert "added 1 paper (3 already in the bundle)" in err


def test_a_query_does_not_make_the_store_while_another_process_writes(
    bundle: Path, holder: subprocess.Popen[str]
) -> None:
    shutil.rmtree(bundle / "store")  # the query would make it from graph.json
    query = "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p dcterms:title ?t }"
    code, err = invoke("query", str(bundle), query)
    assert code == 1
    assert BUSY in err
    assert not (bundle / "store").exists()

    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=30)
    result = CliRunner().invoke(cli, ["query", str(bundle), query, "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "314"
    # a query on a fresh store takes no lock: it runs beside a writer
    with hold(bundle) as other:
        again = CliRunner().invoke(cli, ["query", str(bundle), query, "--format", "csv"])
        assert other.stdin is not None
        other.stdin.close()
    assert again.exit_code == 0, again.stderr
    assert again.stdout == result.stdout


def test_two_builds_of_one_bundle_at_once(tmp_path: Path) -> None:
    """Two real builds: the second, started while the first writes, stops and leaves the
    bundle to the first, which ends as if alone."""
    out = tmp_path / "bundle"
    first = subprocess.Popen(
        [sys.executable, "-m", "kgraph", "-q", "build", *PAGES, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the first is writing once its temporary files are there (it holds the lock from
    # before it reads the bundle)
    deadline = time.monotonic() + 240
    while not (out.is_dir() and any(".tmp" in p.name for p in out.iterdir())):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first build never started writing"
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "kgraph", "build", MORE, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1  # one line
    assert f"{out}: {BUSY}" in second.stderr
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [Path(i["path"]).name for i in manifest["inputs"]] == [Path(p).name for p in PAGES]
    assert manifest["counts"]["papers"] == 314
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]
    code, err = invoke("build", MORE, "-o", str(out))
    assert code == 0, err
    assert "added 1 paper (3 already in the bundle)" in err


def test_a_build_that_finds_the_folder_locked_leaves_it_to_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first builds of one new folder: the one that made it holds it, still empty; the
    other, which found no folder when it began, stops and must not remove it."""
    folder = tmp_path / "new"
    folder.mkdir()
    with hold(folder) as other:
        real = os.path.lexists
        monkeypatch.setattr(os.path, "lexists", lambda p: False if Path(p) == folder else real(p))
        with pytest.raises(BundleError, match=BUSY):
            build(folder, [MORE])
        monkeypatch.undo()
        assert folder.is_dir()  # (the other's, as it made it)
        assert other.stdin is not None
        other.stdin.close()
