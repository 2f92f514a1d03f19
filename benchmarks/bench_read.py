"""Reading a large bundle: `kgraph stats`, `kgraph export`, `kgraph view` and the graph's load,
each against a baseline measured in the same run.

    python benchmarks/bench_read.py [--bundle DIR] [--papers 10000] [--skip view,export-nt]

``--bundle`` defaults to the 160k bundle of ``bench_scale.py`` (``/tmp/kgraph-scale/
bundle-160000``); when it is missing, a bundle of ``--papers`` papers of ../shared/corpus is
built first (rules only). Every row runs in a fresh process, measured from outside: wall time
and peak RSS (``ru_maxrss`` of the child, from ``wait4``).

Baselines, in the same run:

- ``load, whole document``: ``graph.json`` parsed whole with orjson, then networkx's
  ``node_link_graph`` (how every reading command loaded the graph until this benchmark was
  written), against ``load, line by line`` (:class:`kgraph.graphfile.GraphFile`);
- ``stats from the whole graph``: that load, then the counts, components (networkx) and top
  entities from the graph, against ``kgraph stats`` (read item by item, no graph);
- ``export ttl, made from the graph``: the graph loaded line by line and serialised, against
  ``kgraph export -f ttl`` (the bundle's own graph.ttl, copied and checked);
- ``view, whole document``: the old load, then the same selection and page, against ``kgraph
  view``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import corpus_records

DEFAULT = Path("/tmp/kgraph-scale/bundle-160000")

WHOLE = """
import orjson
from kgraph.graph import graph_from_data
def whole(folder):
    with open(folder + "/graph.json", "rb") as fh:
        return graph_from_data(orjson.loads(fh.read()))
"""

SNIPPETS = {
    "load, whole document": WHOLE + "g = whole(B)\n",
    "load, line by line": "from kgraph.bundle import load_graph\n_, g = load_graph(B)\n",
    "stats from the whole graph": WHOLE
    + textwrap.dedent(
        """
        import networkx as nx
        from kgraph.stats import graph_counts
        g = whole(B)
        counts = graph_counts(g)
        u = nx.Graph()
        u.add_nodes_from(n for n, a in g.nodes(data=True) if a.get("kind") in ("paper", "entity"))
        u.add_edges_from((a, b) for a, b, d in g.edges(data=True)
                         if d.get("relation") != "co_occurs" and a in u and b in u)
        comps = sorted(nx.connected_components(u), key=len, reverse=True)
        top = sorted(((d.get("papers", 0), n) for n, d in g.nodes(data=True)
                      if d.get("kind") == "entity"), key=lambda t: (-t[0], t[1]))[:20]
        """
    ),
    "export ttl, made from the graph": textwrap.dedent(
        """
        from kgraph.bundle import load_graph
        from kgraph.rdf.convert import serialize
        _, g = load_graph(B)
        with open(OUT, "wb") as fh:
            serialize(g, "ttl", fh)
        """
    ),
    "view, whole document": WHOLE
    + textwrap.dedent(
        """
        from kgraph.view import render_selection, select
        g = whole(B)
        page = render_selection(g, select(g), title="kgraph").encode()
        open(OUT, "wb").write(page)
        """
    ),
}


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cmd`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024


def snippet(code: str, bundle: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", f"B = {str(bundle)!r}\nOUT = {str(out)!r}\n{code}"]


def kgraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "kgraph", "-q", *args]


def ensure_bundle(bundle: Path, papers: int) -> Path:
    if (bundle / "manifest.json").exists():
        return bundle
    bundle = Path(tempfile.mkdtemp(prefix="kgraph-read-")) / f"bundle-{papers}"
    src = bundle.parent / f"corpus-{papers}.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        for row in corpus_records(papers):
            fh.write(json.dumps(row) + "\n")
    print(f"building {papers:,} papers into {bundle} ...", flush=True)
    run(kgraph("build", str(src), "-o", str(bundle), "--no-model"))
    return bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, default=DEFAULT)
    ap.add_argument("--papers", type=int, default=10_000)
    ap.add_argument("--skip", default="", help="rows to skip: load,stats,export,view")
    args = ap.parse_args()
    bundle = ensure_bundle(args.bundle, args.papers)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    size = (bundle / "graph.json").stat().st_size
    counts = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["counts"]
    print(
        f"bundle {bundle}: {counts['papers']:,} papers, {counts['entities']:,} entities, "
        f"{counts['edges']:,} edges; graph.json {size / 1e6:,.0f} MB"
    )
    out = Path(tempfile.mkdtemp(prefix="kgraph-read-out-"))
    pairs = [
        ("load", "load, whole document", "load, line by line", None),
        ("stats", "stats from the whole graph", "kgraph stats", kgraph("stats", str(bundle))),
        (
            "export",
            "export ttl, made from the graph",
            "kgraph export -f ttl",
            kgraph("export", str(bundle), "-f", "ttl", "-o", str(out / "new.ttl")),
        ),
        (
            "view",
            "view, whole document",
            "kgraph view",
            kgraph("view", str(bundle), "-o", str(out / "new.html")),
        ),
    ]
    print(f"{'row':<34} {'wall s':>8} {'peak RSS MiB':>13}   ratio to the baseline above")
    for key, base_name, new_name, cmd in pairs:
        if key in skip:
            continue
        b_wall, b_rss = run(snippet(SNIPPETS[base_name], bundle, out / "base.out"))
        print(f"{base_name:<34} {b_wall:>8.1f} {b_rss:>13,.0f}", flush=True)
        new_cmd = cmd or snippet(SNIPPETS[new_name], bundle, out / "new.out")
        n_wall, n_rss = run(new_cmd)
        print(
            f"{new_name:<34} {n_wall:>8.1f} {n_rss:>13,.0f}   "
            f"time x{n_wall / b_wall:.2f}, memory x{n_rss / b_rss:.2f}",
            flush=True,
        )
        made = {"export": out / "new.ttl", "view": out / "new.html"}.get(key)
        if made is not None and not filecmp.cmp(out / "base.out", made, shallow=False):
            sys.exit(f"{key}: the output differs from the baseline's")
        for f in out.iterdir():
            f.unlink()
    out.rmdir()


if __name__ == "__main__":
    main()
