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
    # what graphs/ ships (the bundle, its HTML and Turtle, the pages, the screenshot); the
    # bundle's store/ is a cache rebuilt from graph.json on first query, not committed
    graphs = SEEDS.parent
    store = SEEDS / "store"
    size = sum(
        p.stat().st_size for p in graphs.rglob("*") if p.is_file() and store not in p.parents
    )
    assert size < 10 * 1024 * 1024


def test_example_bundle_has_its_exports_and_screenshot() -> None:
    manifest = json.loads((SEEDS / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exports"] == {"html": "graph.html", "json": "graph.json", "ttl": "graph.ttl"}
    for name in ("graph.html", "graph.ttl"):
        assert manifest["files"][name]["bytes"] == (SEEDS / name).stat().st_size
    assert (SEEDS.parent / "seeds.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
