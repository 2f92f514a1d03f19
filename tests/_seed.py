"""The seed pages built once per test session (shared by test_resolve, test_graph, test_build)."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from kgraph.bundle import build
from kgraph.extractions import Extraction
from kgraph.resolve import Resolution, resolve

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(str(p) for p in (ROOT / "graphs" / "pages").glob("*.txt"))


@lru_cache(maxsize=1)
def seed_bundle() -> Path:
    """A bundle built from the four seed pages (do not modify it: copy it first)."""
    folder = Path(tempfile.mkdtemp(prefix="kgraph-seed-"))
    atexit.register(shutil.rmtree, folder, True)
    build(folder / "bundle", PAGES)
    return folder / "bundle"


@lru_cache(maxsize=1)
def seed_extractions() -> tuple[Extraction, ...]:
    path = seed_bundle() / "extractions.jsonl"
    with path.open(encoding="utf-8") as fh:
        return tuple(Extraction.from_dict(json.loads(line)) for line in fh)


@lru_cache(maxsize=1)
def seed_resolution() -> Resolution:
    return resolve(seed_extractions())


def figures(pattern: str, text: str) -> list[int]:
    """The numbers the groups of ``pattern`` find in ``text`` ("1,234" is 1234), asserting
    that it is found (a -v line of the CLI: ``text`` is shown if it is not)."""
    found = re.search(pattern, text)
    assert found, text
    return [int(group.replace(",", "")) for group in found.groups()]
