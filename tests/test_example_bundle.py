"""graphs/seeds is the example bundle of graphs/pages: it must match the current extractor."""

from __future__ import annotations

import json
from pathlib import Path

from kgraph.bundle import extractor_fingerprint

SEEDS = Path(__file__).resolve().parent.parent / "graphs" / "seeds"


def test_example_bundle_is_current() -> None:
    manifest = json.loads((SEEDS / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extractor"] == extractor_fingerprint(), (
        "the extractor changed: regenerate with `kgraph build graphs/pages -o graphs/seeds`"
    )
    assert sum(1 for _ in (SEEDS / "papers.jsonl").open(encoding="utf-8")) == 314


def test_example_bundle_is_small() -> None:
    size = sum(p.stat().st_size for p in SEEDS.rglob("*") if p.is_file())
    assert size < 10 * 1024 * 1024
