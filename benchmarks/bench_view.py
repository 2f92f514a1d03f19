"""Explorer speed: layout in Python, page size, first draw and redraw in headless Chromium.

    python benchmarks/bench_view.py [--bundle DIR] [--sizes 500,2000,5000] [--repeat 3]

Graphs of each size are real: ``select(graph, max_nodes=N)`` of the bundle given with
``--bundle`` (the most-connected entities and their papers), else of the example bundle
``graphs/seeds`` grown to the size needed (copies of it whose entities named by two or more
papers are shared, so the copies join into one graph as a larger corpus would).

Columns: nodes and edges drawn; layout CPU seconds (force-directed, in Python) and the whole
render (selection, layout, JSON, page) in CPU and wall seconds; the page's size; time to
first draw (navigation start to vis-network's first ``afterDrawing``, median of ``--repeat``
page loads); one ``network.redraw()`` (median of 10); a neighbourhood highlight (a click).
The browser is Debian's Chromium, headless, every non-file request blocked. Target: 5,000
nodes drawn in under 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx

from kgraph.bundle import load_graph
from kgraph.view import render_selection, select
from kgraph.view.browser import Browser
from kgraph.view.layout import layout

ROOT = Path(__file__).resolve().parent.parent


def grown(graph: nx.MultiDiGraph, nodes: int) -> nx.MultiDiGraph:
    """``graph`` copied until it has ``nodes`` nodes; shared entities (2+ papers) stay one."""
    shared = {n for n, d in graph.nodes(data=True) if d.get("papers", 0) >= 2}
    out = graph.copy()
    copy = 1
    while out.number_of_nodes() < nodes:

        def name(n: str, c: int = copy) -> str:
            return n if n in shared else f"{n}~{c}"

        for n, d in graph.nodes(data=True):
            if n not in shared:
                out.add_node(name(n), **d)
        for u, v, k, d in graph.edges(keys=True, data=True):
            if u in shared and v in shared:
                continue
            out.add_edge(name(u), name(v), key=k, **d)
        copy += 1
    return out


def measure_page(browser: Browser, path: Path, repeat: int) -> dict[str, float]:
    first: list[float] = []
    redraw = highlight = 0.0
    for i in range(repeat):
        page, log = browser.open(path, timeout_s=120)
        first.append(page.evaluate("kgraph.drawnAt") / 1000)
        if i == 0:
            redraw = page.evaluate(
                """() => { const t = [];
                    for (let i = 0; i < 10; i++) { const t0 = performance.now();
                        kgraph.network.redraw(); t.push(performance.now() - t0); }
                    t.sort((a, b) => a - b); return t[5]; }"""
            )
            highlight = page.evaluate(
                """() => { const t0 = performance.now();
                    kgraph.highlight(kgraph.data.nodes[0].k); kgraph.network.redraw();
                    const t = performance.now() - t0; kgraph.highlight(null); return t; }"""
            )
            drawn = page.evaluate("kgraph.network.body.nodeIndices.length")
            expected = page.evaluate("kgraph.data.nodes.length")
            if drawn != expected or log.errors or log.blocked:
                raise SystemExit(f"{path}: drew {drawn} of {expected}; {log.errors + log.blocked}")
        page.close()
    return {"first": statistics.median(first), "redraw": redraw / 1000, "highlight": highlight}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", help="a bundle to take subgraphs of (default: grown seeds)")
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    source = args.bundle or str(ROOT / "graphs" / "seeds")
    _, graph = load_graph(source)
    if not args.bundle and graph.number_of_nodes() < max(sizes):
        graph = grown(graph, max(sizes) + 500)
        source += f" grown to {graph.number_of_nodes():,} nodes"
    print(
        f"graph: {source} ({graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges)",
        file=sys.stderr,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="kgraph-bench-view-") as tmp, Browser() as browser:
        for n in sizes:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            selection = select(graph, max_nodes=n)
            page = render_selection(graph, selection).encode("utf-8")
            render_cpu, render_wall = time.process_time() - cpu0, time.perf_counter() - wall0
            cpu0 = time.process_time()
            layout(selection.nodes, [(e.source, e.target) for e in selection.edges])
            layout_cpu = time.process_time() - cpu0
            path = Path(tmp) / f"view-{n}.html"
            path.write_bytes(page)
            got = measure_page(browser, path, args.repeat)
            rows.append(
                (len(selection.nodes), len(selection.edges), layout_cpu, render_cpu, render_wall,
                 len(page), got["first"], got["redraw"], got["highlight"])
            )  # fmt: skip
            print(f"  {n:,} nodes done", file=sys.stderr)
    print(
        "| nodes | edges | layout CPU s | render CPU s (wall) | HTML MB "
        "| first draw s | redraw s | highlight ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for nodes, edges, lay, cpu, wall, size, first, redraw, hl in rows:
        print(
            f"| {nodes:,} | {edges:,} | {lay:.2f} | {cpu:.2f} ({wall:.2f}) | {size / 1e6:.2f} "
            f"| {first:.2f} | {redraw:.3f} | {hl:.0f} |"
        )


if __name__ == "__main__":
    main()
