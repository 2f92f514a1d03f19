"""A PNG of a bundle's explorer page, taken in headless Chromium (offline).

::

    python -m kgraph.view.screenshot graphs/seeds graphs/seeds.png
    python -m kgraph.view.screenshot out/graph dpo.png --search DPO --width 1200 --height 800
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..bundle import BundleError, load_graph
from ..io import atomic_write_bytes
from .browser import Browser
from .render import render_html
from .select import NoSuchNode


def screenshot(
    bundle: str,
    out: str,
    *,
    width: int = 1600,
    height: int = 1000,
    search: str | None = None,
    max_nodes: int = 2000,
    browser: Browser | None = None,
) -> int:
    """Render ``bundle``'s page, open it, optionally search a node, and write the PNG;
    returns the PNG's size in bytes. ``browser``: one already running (else one is started)."""
    _, graph = load_graph(bundle)
    html = render_html(graph, max_nodes=max_nodes)
    with tempfile.TemporaryDirectory(prefix="kgraph-shot-") as tmp:
        page_path = Path(tmp) / "page.html"
        page_path.write_text(html, encoding="utf-8")
        if browser is None:
            with Browser(width=width, height=height) as own:
                png = _shoot(own, page_path, width, height, search)
        else:
            png = _shoot(browser, page_path, width, height, search)
    atomic_write_bytes(out, png)
    return len(png)


def _shoot(browser: Browser, path: Path, width: int, height: int, search: str | None) -> bytes:
    page, log = browser.open(path)
    try:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("kgraph.network.fit()")
        if search:
            page.fill("#search-input", search)
            page.press("#search-input", "Enter")
        page.wait_for_timeout(300)
        png: bytes = page.screenshot(type="png")
    finally:
        page.close()
    if log.errors or log.blocked:
        raise RuntimeError(f"the page failed: {log.errors + log.blocked}")
    return png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kgraph.view.screenshot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("bundle", metavar="BUNDLE_DIR")
    parser.add_argument("out", metavar="OUT.png")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--search", metavar="NAME", help="find and focus this node first")
    parser.add_argument("--max-nodes", type=int, default=2000)
    args = parser.parse_args(argv)
    try:
        size = screenshot(
            args.bundle,
            args.out,
            width=args.width,
            height=args.height,
            search=args.search,
            max_nodes=args.max_nodes,
        )
    except (BundleError, NoSuchNode, RuntimeError) as exc:
        print(f"kgraph: error: {exc}", file=sys.stderr)
        return 1
    print(f"kgraph: wrote {args.out} ({size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
