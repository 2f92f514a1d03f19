"""The explorer page in a real browser: Debian's headless Chromium driven by Playwright, with
every request that is not a local file aborted. CI installs both; without them these tests
fail (they do not skip)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from kgraph.bundle import load_graph
from kgraph.graph import graph_from_data
from kgraph.view import select, write_html
from kgraph.view.browser import Browser, PageLog

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "graphs" / "seeds"
SMALL = ROOT / "tests" / "fixtures" / "view" / "small_graph.json"
XSS = '<script>alert(1)</script><img src=x onerror="window.__xss=1">'
DPO = "entity:method/direct-preference-optimization"


@lru_cache(maxsize=1)
def _seed() -> nx.MultiDiGraph:
    return load_graph(SEEDS)[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=900) as b:
        yield b


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("view")
    small = graph_from_data(json.loads(SMALL.read_text(encoding="utf-8")))
    out = {"seeds": folder / "seeds.html", "small": folder / "small.html"}
    write_html(_seed(), out["seeds"])
    write_html(small, out["small"])
    out["ego"] = folder / "ego.html"
    write_html(_seed(), out["ego"], focus="DPO", depth=1)
    return out


def clean(log: PageLog) -> None:
    assert log.errors == []
    assert log.blocked == []
    assert log.dialogs == []


def node_point(page: Any, key: str) -> tuple[float, float]:
    """Where node ``key`` is on the screen."""
    box = page.locator("#graph canvas").bounding_box()
    xy = page.evaluate(
        """key => {
            const i = kgraph.data.nodes.findIndex(n => n.k === key);
            return kgraph.network.canvasToDOM(kgraph.network.getPosition(i));
        }""",
        key,
    )
    return box["x"] + xy["x"], box["y"] + xy["y"]


def test_seed_page_draws_every_node_offline(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["seeds"])
    try:
        got = page.evaluate(
            """() => ({
                data: kgraph.data.nodes.length, dataEdges: kgraph.data.edges.length,
                drawn: kgraph.network.body.nodeIndices.length,
                drawnEdges: kgraph.network.body.edgeIndices.length,
                physics: kgraph.network.physics.options.enabled,
                drawnAt: kgraph.drawnAt, notes: document.querySelectorAll('#notes li').length,
                legend: document.querySelectorAll('#types input').length,
                types: kgraph.data.types.filter(t => t.count > 0).length,
            })"""
        )
        total = _seed().number_of_nodes()
        assert got["data"] == 2000 < total  # the default --max-nodes
        assert got["drawn"] == got["data"]
        assert got["drawnEdges"] == got["dataEdges"]
        assert got["physics"] is False
        assert got["drawnAt"] > 0
        assert got["notes"] >= 1  # what was left out is said on the page
        assert "--max-nodes 2,000" in page.inner_text("#notes")
        assert got["legend"] == got["types"]  # a checkbox per type drawn
        summary = page.inner_text("#summary")
        assert "2,000 nodes" in summary and f"{total:,} nodes" in summary
        clean(log)
    finally:
        page.close()


def test_search_focuses_the_node(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["seeds"])
    try:
        page.fill("#search-input", "Direct Preference Optimization")
        page.press("#search-input", "Enter")
        state = page.evaluate(
            """() => {
                const i = kgraph.data.nodes.findIndex(n => n.k === kgraph.focused);
                const at = kgraph.network.getPosition(i), view = kgraph.network.getViewPosition();
                return {focused: kgraph.focused, selected: kgraph.network.getSelectedNodes(),
                        i: i, dx: Math.abs(at.x - view.x), dy: Math.abs(at.y - view.y)};
            }"""
        )
        assert state["focused"] == DPO
        assert state["selected"] == [state["i"]]
        assert state["dx"] < 1 and state["dy"] < 1  # centred on it
        assert "direct preference optimization" in page.inner_text("#details")
        # an alias, another case, and a miss
        assert page.evaluate("kgraph.search('dpo')") == DPO
        assert page.evaluate("kgraph.search('imagenet')") == "entity:dataset/imagenet"
        page.fill("#search-input", "no such thing at all")
        page.press("#search-input", "Enter")
        assert page.inner_text("#search-status") == "no match"
        clean(log)
    finally:
        page.close()


def test_type_filter_hides_nodes(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["seeds"])
    try:
        count = "() => kgraph.network.body.nodeIndices.length"
        edges = "() => kgraph.network.body.edgeIndices.length"
        total, total_edges = page.evaluate(count), page.evaluate(edges)
        methods = page.evaluate(
            "kgraph.data.nodes.filter(n => kgraph.data.types[n.t].name === 'method').length"
        )
        assert methods > 500
        page.uncheck("#types input[data-type=method]")
        assert page.evaluate(count) == total - methods
        assert page.evaluate(edges) < total_edges  # their edges go too
        hidden_types = page.evaluate(
            """() => new Set(kgraph.network.body.nodeIndices.map(
                i => kgraph.data.types[kgraph.data.nodes[i].t].name)).has('method')"""
        )
        assert hidden_types is False
        page.check("#types input[data-type=method]")
        assert page.evaluate(count) == total and page.evaluate(edges) == total_edges
        clean(log)
    finally:
        page.close()


PIXEL = """key => {
    const i = kgraph.data.nodes.findIndex(n => n.k === key);
    const p = kgraph.network.canvasToDOM(kgraph.network.getPosition(i));
    const canvas = document.querySelector('#graph canvas'), r = window.devicePixelRatio || 1;
    return Array.from(canvas.getContext('2d').getImageData(p.x * r, p.y * r, 1, 1).data);
}"""


def test_click_highlights_the_neighbourhood(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["small"])
    try:
        page.evaluate(
            "kgraph.network.stopSimulation(); kgraph.network.fit(); kgraph.network.redraw()"
        )
        solo = "paper:t-0000000000c3"  # not linked to DPO
        before = page.evaluate(PIXEL, solo)[:3]
        assert before == [76, 120, 168]  # paper blue, #4c78a8
        page.mouse.click(*node_point(page, DPO))
        highlighted = set(page.evaluate("kgraph.highlighted"))
        assert highlighted == {
            DPO,
            "paper:2405.00001",
            "paper:t-0000000000b2",
            "entity:dataset/imagenet",
        }
        # drawn again over a white veil: the neighbourhood (4 nodes, 4 edges) stands out
        assert page.evaluate("kgraph.overlay") == {"nodes": 4, "edges": 4}
        assert min(page.evaluate(PIXEL, solo)[:3]) > 200  # veiled
        assert min(page.evaluate(PIXEL, DPO)[:3]) < 120  # still (selected) orange, not veiled
        assert "direct preference optimization" in page.inner_text("#details")
        # clicking the background restores every node
        box = page.locator("#graph canvas").bounding_box()
        page.mouse.click(box["x"] + 5, box["y"] + 5)
        assert page.evaluate("kgraph.highlighted") == []
        assert page.evaluate("kgraph.overlay") == {"nodes": 0, "edges": 0}
        assert page.evaluate(PIXEL, solo)[:3] == before
        # another node: only its own neighbourhood
        page.mouse.click(*node_point(page, "entity:benchmark/mmlu"))
        assert set(page.evaluate("kgraph.highlighted")) == {
            "entity:benchmark/mmlu",
            "paper:t-0000000000b2",
        }
        assert page.evaluate("kgraph.overlay") == {"nodes": 2, "edges": 1}
        clean(log)
    finally:
        page.close()


def test_xss_title_stays_text(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["small"])
    try:
        page.evaluate(
            "kgraph.network.stopSimulation(); kgraph.network.fit(); kgraph.network.redraw()"
        )
        paper = "paper:2405.00001"
        page.mouse.move(*node_point(page, paper))
        page.wait_for_selector("#tooltip", state="visible")
        assert XSS in page.inner_text("#tooltip")
        page.mouse.click(*node_point(page, paper))
        details = page.inner_text("#details")
        assert XSS in details and "Example <Lab>" in details
        links = page.eval_on_selector_all("#details a", "as => as.map(a => a.href)")
        assert links == ["https://arxiv.org/abs/2405.00001", "https://github.com/example/xss-repo"]
        page.evaluate("kgraph.search('ImageNet')")
        page.click("#details button.nb >> nth=0")  # a neighbour: the XSS paper or entity
        for key in ("entity:method/img-src-x-onerror-alert-3", paper):
            page.evaluate(f"kgraph.search({json.dumps(key)})")
            page.inner_text("#details")
        # nothing ran, nothing was parsed as markup
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("document.querySelectorAll('img, iframe, object').length") == 0
        assert page.evaluate("document.scripts.length") == 3
        clean(log)
    finally:
        page.close()


def test_ego_view_from_the_command_line(browser: Browser, pages: dict[str, Path]) -> None:
    page, log = browser.open(pages["ego"])
    try:
        page.wait_for_function("kgraph.focused !== null")
        got = page.evaluate(
            """({focused: kgraph.focused, n: kgraph.network.body.nodeIndices.length,
                highlighted: kgraph.highlighted.length,
                physics: kgraph.network.physics.options.enabled})"""
        )
        expected = select(_seed(), focus="DPO", depth=1)
        assert got["focused"] == DPO
        assert got["n"] == got["highlighted"] == len(expected.nodes) > 5  # DPO and its papers
        assert got["physics"] is True  # a small graph: physics on from the computed positions
        clean(log)
    finally:
        page.close()


def test_screenshot_of_the_seed_bundle(browser: Browser, tmp_path: Path) -> None:
    import struct

    from kgraph.view.screenshot import main, screenshot

    out = tmp_path / "seeds.png"
    size = screenshot(str(SEEDS), str(out), width=800, height=500, browser=browser)
    png = out.read_bytes()
    assert size == len(png) and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 500)
    assert len(png) > 50_000  # a drawn graph, not a blank page
    assert main([str(tmp_path / "nope"), str(tmp_path / "x.png")]) == 1
    assert not (tmp_path / "x.png").exists()
