"""The README's first commands are the ones CI runs; keep them true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    assert block, "README must open with a code block of commands"
    lines = block.group(1).splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_readme_opens_with_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.index("```") < 600, "the commands must be in the README's first lines"
    cmds = readme_commands()
    assert len(cmds) == 2
    install, test = cmds
    assert "pip install" in install and "graphs/pages" in install
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    test_cmd = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [ln.strip() for ln in ci.splitlines()]
    assert test_cmd in ci_lines, f"{test_cmd!r} must appear as a line of .ci/run"
