"""Extraction speed with the learned span tagger: abstracts/s with and without the model.

    python benchmarks/bench_model.py [N=20000] [--model PATH]

Runs the same N corpus abstracts (``../shared/corpus``) through the rules-only pipeline
(``build_pipeline(model=False)``) and the combined one (``build_pipeline()``, i.e. with the
``kgraph_model`` component), and times the model component alone on pre-tokenised docs.
One process, one core (spaCy's CPU ops are single-threaded).
"""

from __future__ import annotations

import argparse
import time

from _common import corpus_records, peak_rss_mb

from kgraph.extract.pipeline import build_pipeline


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=20_000)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    texts = [f"{r['title']}\n\n{r['abstract']}" for r in corpus_records(args.n)]
    words = sum(len(t.split()) for t in texts)
    print(f"abstracts: {len(texts):,} ({words / len(texts):.0f} words each on average)")

    rules = build_pipeline(model=False)
    t0 = time.perf_counter()
    if args.model:
        import kgraph.model.component  # noqa: F401 - registers the factory

        combined = build_pipeline(model=False)
        combined.add_pipe("kgraph_model", before="kgraph_entities", config={"path": args.model})
    else:
        combined = build_pipeline()
    if "kgraph_model" not in combined.pipe_names:
        raise SystemExit("no model installed (kgraph/data/model)")
    print(f"combined pipeline load: {time.perf_counter() - t0:.2f} s")
    # warm-up: tokenizer caches and first-batch allocations
    for nlp in (rules, combined):
        for _ in nlp.pipe(texts[:300], batch_size=args.batch_size):
            pass

    results = {}
    for name, nlp in (("rules", rules), ("rules+model", combined)):
        t0 = time.perf_counter()
        entities = 0
        for doc in nlp.pipe(texts, batch_size=args.batch_size):
            entities += len(doc._.kg_entities or [])
        dt = time.perf_counter() - t0
        results[name] = dt
        print(f"kgraph extract ({name}): {len(texts) / dt:,.0f} abstracts/s ({dt:.1f} s), "
              f"{entities / len(texts):.1f} entities per abstract")

    model = combined.get_pipe("kgraph_model")
    docs = [combined.make_doc(t) for t in texts]
    t0 = time.perf_counter()
    spans = 0
    for doc in model.pipe(docs, batch_size=args.batch_size):
        spans += len(doc.spans["model"])
    dt = time.perf_counter() - t0
    print(f"model component alone: {len(texts) / dt:,.0f} abstracts/s ({dt:.1f} s), "
          f"{spans / len(texts):.1f} spans per abstract")
    print(f"model overhead: {results['rules+model'] / results['rules']:.2f}x the rules' time")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
