"""Speed of `kgraph serve` (query and Linked Data latency through HTTP) and `kgraph push`.

    python benchmarks/bench_serve.py --bundle graphs/seeds
    python benchmarks/bench_serve.py --bundle graphs/seeds \
        --push http://127.0.0.1:8890/sparql-graph-crud-auth --user dba --password dba

Starts the server on a free loopback port over a copy of the bundle (the store is built first,
not timed), runs each query ``--repeat`` times through HTTP and prints the median and the
95th percentile in ms; with ``--push`` also pushes the bundle to that Graph Store endpoint and
prints graphs/s and triples/s (wall clock; CPU of this process too).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from kgraph.serve import open_bundle_server

QUERIES = {
    "count papers": "SELECT (COUNT(?p) AS ?n) WHERE { ?p a <https://schema.org/ScholarlyArticle> }",
    "top datasets": """
        PREFIX kg: <https://w3id.org/kgraph/ontology#>
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT ?d ?name (COUNT(?p) AS ?papers)
        WHERE { ?p kg:usesDataset ?d . ?d skos:prefLabel ?name }
        GROUP BY ?d ?name ORDER BY DESC(?papers) LIMIT 20""",
    "titles (1,000 rows)": """
        SELECT ?p ?t WHERE { ?p <http://purl.org/dc/terms/title> ?t } LIMIT 1000""",
}


def timed(url: str, accept: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        request = urllib.request.Request(url, headers={"Accept": accept})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float]) -> None:
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{name:<40} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default="graphs/seeds")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--push", metavar="ENDPOINT", help="also push to this GSP endpoint")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--workers", type=int, default=4, help="push: requests in flight")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kgraph-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        shutil.copytree(args.bundle, bundle, ignore=shutil.ignore_patterns(".store-*"))
        started = time.perf_counter()
        server = open_bundle_server(bundle, port=0, workers=2)
        print(f"server ready in {time.perf_counter() - started:.1f} s (store built if needed)")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            for name, query in QUERIES.items():
                url = f"{server.url}sparql?query={urllib.parse.quote(query)}"
                report(
                    f"SELECT {name} (JSON)",
                    timed(url, "application/sparql-results+json", args.repeat),
                )
            page = f"{server.url}page/entity/dataset/imagenet"
            report("Linked Data page (HTML), ImageNet", timed(page, "text/html", args.repeat))
            data = f"{server.url}data/entity/dataset/imagenet.ttl"
            report(
                "Linked Data document (Turtle), ImageNet", timed(data, "text/turtle", args.repeat)
            )
        finally:
            server.shutdown()
            server.close()

    if args.push:
        from kgraph.push import push_bundle

        cpu = time.process_time()
        result = push_bundle(
            args.bundle, args.push, user=args.user, password=args.password, workers=args.workers
        )
        print(
            f"push: {result.graphs:,} graphs, {result.triples:,} triples, "
            f"{result.bytes / 1e6:.1f} MB in {result.seconds:.1f} s wall "
            f"({result.graphs_per_second:.0f} graphs/s, {result.triples / result.seconds:,.0f} "
            f"triples/s; CPU here {time.process_time() - cpu:.1f} s, {args.workers} in flight)"
        )


if __name__ == "__main__":
    main()
