"""Export speed: seconds per graph-database format for a bundle.

    python benchmarks/bench_export.py [BUNDLE=graphs/seeds] [FORMAT ...]

Loads the bundle once, then writes every format (default: graphml gexf json neo4j cypher) to a
temporary folder and prints, per format, CPU seconds of this process (time.process_time), wall
seconds, the size written and edges per CPU second; then peak RSS. One process, one core.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, peak_rss_mb

from kgraph.bundle import load_graph
from kgraph.exporters import ExportOptions, get

FORMATS = ("graphml", "gexf", "json", "neo4j", "cypher")


def main() -> None:
    bundle = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "graphs" / "seeds"
    formats = sys.argv[2:] or list(FORMATS)
    t0, w0 = time.process_time(), time.perf_counter()
    _, graph = load_graph(bundle)
    print(
        f"{bundle}: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges; "
        f"load {time.process_time() - t0:.2f} s CPU, {time.perf_counter() - w0:.2f} s wall"
    )
    edges = graph.number_of_edges()
    print(f"{'format':<8} {'CPU s':>7} {'wall s':>7} {'MB':>8} {'edges/CPU s':>12}")
    with tempfile.TemporaryDirectory(prefix="kgraph-bench-") as tmp:
        for fmt in formats:
            exporter = get(fmt)
            target = Path(tmp) / (fmt if exporter.is_folder else f"out{exporter.extension}")
            t0, w0 = time.process_time(), time.perf_counter()
            written = exporter.write(graph, target, ExportOptions())
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
            size = sum(p.stat().st_size for p in written) / 1e6
            print(
                f"{fmt:<8} {cpu:>7.2f} {wall:>7.2f} {size:>8.1f} {edges / max(cpu, 1e-9):>12,.0f}"
            )
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
