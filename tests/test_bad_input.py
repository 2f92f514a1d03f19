"""Bad input: one clear line naming file and line, the rest still read, no traceback, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parent.parent / "graphs" / "pages"
GOOD = str(PAGES / "004_cdead03a1624523d.txt")  # 38 papers

PAGE_HEAD = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
    "byAK and the research community\n\nMar 2\n\n"
)
ABSTRACT = "We study a thing in depth. " * 8


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kgraph", *args], input=stdin, capture_output=True, timeout=120,
    )
    out = subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out


def papers_out(proc: subprocess.CompletedProcess[str]) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_missing_file_is_named_and_others_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    proc = run("papers", str(missing), GOOD)
    assert proc.returncode == 0
    assert f"kgraph: error: {missing}: no such file or folder" in proc.stderr.splitlines()
    assert len(papers_out(proc)) == 38
    assert "skipped 1: 1 missing file" in proc.stderr


def test_nothing_readable_exits_1(tmp_path: Path) -> None:
    proc = run("papers", str(tmp_path / "nope.txt"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "no papers could be read from the input" in proc.stderr


def test_folder_without_readable_files(tmp_path: Path) -> None:
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n")
    proc = run("papers", str(tmp_path), GOOD)
    assert proc.returncode == 0
    assert f"kgraph: error: {tmp_path}: folder holds no readable paper files" in proc.stderr
    assert len(papers_out(proc)) == 38


def test_folder_is_walked(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.txt").write_bytes(Path(GOOD).read_bytes())
    proc = run("papers", str(tmp_path))
    assert proc.returncode == 0
    assert len(papers_out(proc)) == 38


def test_binary_file(tmp_path: Path) -> None:
    blob = tmp_path / "weights.txt"
    blob.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4)
    proc = run("papers", str(blob), GOOD)
    assert proc.returncode == 0
    assert f"kgraph: error: {blob}: binary file (NUL byte at offset 7), skipped" in proc.stderr
    assert len(papers_out(proc)) == 38


def test_wrong_encoding_is_reported_and_read(tmp_path: Path) -> None:
    page = tmp_path / "latin.txt"
    text = (
        PAGE_HEAD
        + "Café Models: A Study\n\n"
        + ABSTRACT
        + "Ragnarök is near.\n\nSecond Paper Title Here\n\n"
        + ABSTRACT
        + "\n"
    )
    page.write_bytes(text.encode("cp1252"))
    proc = run("papers", str(page))
    assert proc.returncode == 0
    assert (
        f"kgraph: warning: {page}:11: not valid UTF-8 (byte 0xE9 at column 4); "
        "read as Windows-1252"
    ) in proc.stderr
    got = papers_out(proc)
    assert [p["title"] for p in got] == ["Café Models: A Study", "Second Paper Title Here"]
    assert got[0]["abstract"].endswith("Ragnarök is near.")


def test_truncated_page(tmp_path: Path) -> None:
    page = tmp_path / "cut.txt"
    good = Path(GOOD).read_text(encoding="utf-8").rstrip("\n") + "\n\n"
    page.write_text(good + "A Title Whose Abstract Was Cut Off\n", encoding="utf-8")
    line = len(good.splitlines()) + 1
    proc = run("papers", str(page))
    assert proc.returncode == 0
    assert (
        f"kgraph: error: {page}:{line}: paper 'A Title Whose Abstract Was Cut Off' has no abstract "
        "(truncated page?), skipped" in proc.stderr
    )
    assert len(papers_out(proc)) == 38


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(Path(GOOD).read_bytes())
    cut = tmp_path / "page.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    proc = run("papers", str(cut), GOOD)
    assert proc.returncode == 0
    assert f"kgraph: error: {cut}" in proc.stderr and "data ends early" in proc.stderr
    assert len(papers_out(proc)) >= 38


def test_invalid_json_line(tmp_path: Path) -> None:
    f = tmp_path / "papers.jsonl"
    rows = [json.dumps({"title": f"Paper number {i}", "abstract": ABSTRACT}) for i in range(3)]
    rows.insert(1, '{"title": "Broken", "abstract": ')
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = run("papers", str(f))
    assert proc.returncode == 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("kgraph: error:")]
    assert len(lines) == 1 and lines[0].startswith(f"kgraph: error: {f}:2: invalid JSON")
    titles = [p["title"] for p in papers_out(proc)]
    assert titles == ["Paper number 0", "Paper number 1", "Paper number 2"]


def test_ten_megabyte_title(tmp_path: Path) -> None:
    page = tmp_path / "huge.txt"
    huge = "A" * (10 * 1024 * 1024)
    page.write_text(
        PAGE_HEAD + huge + "\n\n" + ABSTRACT + "\n\nA Normal Title\n\n" + ABSTRACT + "\n",
        encoding="utf-8",
    )
    proc = run("papers", str(page))
    assert proc.returncode == 0
    assert (
        f"kgraph: error: {page}:11: title is 10,485,760 characters (limit 2,000), record skipped"
        in proc.stderr
    )
    assert [p["title"] for p in papers_out(proc)] == ["A Normal Title"]


def test_stdin_is_sniffed() -> None:
    proc = run("papers", "-", stdin=Path(GOOD).read_bytes())
    assert proc.returncode == 0
    got = papers_out(proc)
    assert len(got) == 38 and got[0]["sources"] == ["<stdin>:13"]


@pytest.mark.parametrize(
    "args", [["papers"], ["papers", "--format", "xml", GOOD], ["nosuchcommand"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr or "Error:" in proc.stderr


def test_quiet_keeps_errors_drops_summary(tmp_path: Path) -> None:
    proc = run("-q", "papers", str(tmp_path / "nope.txt"), GOOD)
    assert proc.returncode == 0
    missing = tmp_path / "nope.txt"
    assert proc.stderr.splitlines() == [f"kgraph: error: {missing}: no such file or folder"]


def test_help_has_example() -> None:
    proc = run("papers", "--help")
    assert proc.returncode == 0
    assert "Example:" in proc.stdout and "kgraph papers graphs/pages/*.txt" in proc.stdout


def test_many_bad_lines_are_counted_exactly(tmp_path: Path) -> None:
    f = tmp_path / "papers.jsonl"
    good = json.dumps({"title": "The one good paper", "abstract": ABSTRACT})
    f.write_text("\n".join(["{not json"] * 25 + [good]) + "\n", encoding="utf-8")
    proc = run("papers", str(f))
    assert proc.returncode == 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("kgraph: error:")]
    assert len(errors) == 21  # twenty one by one, then one line for the rest
    assert errors[-1] == (
        f"kgraph: error: {f}:21: 5 more lines of invalid JSON from here on, skipped"
    )
    assert "kgraph: skipped 25: 25 invalid JSON" in proc.stderr
    assert [p["title"] for p in papers_out(proc)] == ["The one good paper"]
