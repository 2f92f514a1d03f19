"""RDF figures of a bundle: conversion, store load, Turtle writing, and every canned query
with Oxigraph and, in the same run, with rdflib's in-memory store.

    python benchmarks/bench_rdf.py --bundle graphs/seeds
    python benchmarks/bench_rdf.py --bundle /tmp/b10k --no-rdflib   # Oxigraph only
    python benchmarks/bench_rdf.py --bundle out/graph --json figures.json

The bundle is copied (graph.json and manifest.json only) into a temporary folder, so its own
store is not touched. Times are wall seconds (best of --repeat for queries) and CPU seconds
of this process (time.process_time, all threads). Canned queries run with their defaults;
paper-contributions with the first paper of the graph.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgraph.bundle import load_graph  # noqa: E402
from kgraph.rdf.convert import iter_statements, nquads_chunks, turtle_bytes  # noqa: E402
from kgraph.rdf.queries import (  # noqa: E402
    canned_queries,
    result_rows,
    run_query,
    run_rdflib,
)
from kgraph.rdf.store import open_store, write_store  # noqa: E402


def timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", required=True, type=Path, help="a kgraph bundle folder")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each query (best kept)")
    ap.add_argument("--no-rdflib", action="store_true", help="skip the rdflib comparison")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()

    figures: dict[str, Any] = {"bundle": str(args.bundle)}
    with tempfile.TemporaryDirectory(prefix="kgraph-bench-rdf-") as tmp:
        work = Path(tmp) / "bundle"
        work.mkdir()
        for name in ("graph.json", "manifest.json"):
            shutil.copy2(args.bundle / name, work / name)
        manifest, graph = load_graph(work)
        papers = sum(1 for _, k in graph.nodes(data="kind") if k == "paper")
        figures["papers"] = papers

        n, wall, cpu = timed(lambda: sum(1 for _ in iter_statements(graph)))
        figures["quads"] = n
        figures["convert"] = {"wall_s": wall, "cpu_s": cpu, "quads_per_s": n / wall}
        print(f"papers {papers:,}; quads {n:,}", flush=True)
        print(f"convert   {wall:7.2f} s wall {cpu:7.2f} s CPU  {n / wall:,.0f} quads/s", flush=True)

        ttl, wall, cpu = timed(lambda: turtle_bytes(graph))
        figures["turtle"] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "bytes": len(ttl),
            "triples_per_s": n / wall,
        }
        print(
            f"turtle    {wall:7.2f} s wall {cpu:7.2f} s CPU  {n / wall:,.0f} triples/s "
            f"({len(ttl) / 1e6:,.1f} MB)",
            flush=True,
        )
        del ttl

        sha = manifest["files"]["graph.json"]["sha256"]
        info, wall, cpu = timed(lambda: write_store(work, graph, graph_sha256=sha))
        figures["store"] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "quads_per_s": n / wall,
            "mb": info["bytes"] / 1e6,
            "triples": info["triples"],
        }
        print(
            f"store     {wall:7.2f} s wall {cpu:7.2f} s CPU  {n / wall:,.0f} quads/s "
            f"({info['bytes'] / 1e6:,.1f} MB on disk, {info['triples']:,} triples)",
            flush=True,
        )

        store = open_store(work)
        first = next(iter(sorted(n for n, k in graph.nodes(data="kind") if k == "paper")))
        params = {"paper-contributions": {"paper": graph.nodes[first]["paper_id"]}}
        dataset = None
        if not args.no_rdflib:
            import rdflib

            def load() -> Any:
                ds = rdflib.Dataset(default_union=True)
                for chunk in nquads_chunks(graph):
                    ds.parse(data=chunk, format="nquads")
                return ds

            dataset, wall, cpu = timed(load)
            figures["rdflib_load"] = {"wall_s": wall, "cpu_s": cpu}
            print(f"rdflib    {wall:7.2f} s wall {cpu:7.2f} s CPU  (load into memory)", flush=True)

        figures["queries"] = {}
        print(f"{'query':<22}{'rows':>6}{'oxigraph ms':>14}{'rdflib ms':>12}{'ratio':>8}  same")
        for name, q in canned_queries().items():
            text = q.render(params.get(name, {}))
            ox_ms, rows = [], None
            for _ in range(args.repeat):
                t = time.perf_counter()
                rows = result_rows(run_query(store, text))
                ox_ms.append((time.perf_counter() - t) * 1000)
            entry: dict[str, Any] = {"rows": len(rows or []), "oxigraph_ms": min(ox_ms)}
            line = f"{name:<22}{entry['rows']:>6}{entry['oxigraph_ms']:>14,.1f}"
            if dataset is not None:
                t = time.perf_counter()
                other = result_rows(run_rdflib(dataset, text))
                entry["rdflib_ms"] = (time.perf_counter() - t) * 1000
                entry["ratio"] = entry["rdflib_ms"] / max(entry["oxigraph_ms"], 1e-3)
                entry["same_rows"] = other == rows
                line += (
                    f"{entry['rdflib_ms']:>12,.1f}{entry['ratio']:>7,.0f}x  {entry['same_rows']}"
                )
            figures["queries"][name] = entry
            print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
