"""Parallel extraction: abstracts/s with --jobs 1 and --jobs N, spaCy's own n_process, and
spaCy's tokenizer alone on the same texts, in one run (wall-clock seconds: parallelism is what
is measured, so CPU seconds would not do; run it on an otherwise idle machine).

    python benchmarks/bench_jobs.py [N=20000] [--jobs 2] [--model]

Prints one line per configuration: seconds, abstracts/s, ratio to the tokenizer and to
--jobs 1. Checks that every configuration gives the same entities.
"""

from __future__ import annotations

import argparse
import time

from _common import corpus_records, peak_rss_mb
from spacy.language import Language
from spacy.tokens import Doc

from kgraph.engines import EngineOptions, default_jobs, extract_stream
from kgraph.extract.pipeline import build_pipeline, default_pipeline
from kgraph.records import Paper, paper_id


@Language.component("kgraph_bench_plain_entities")
def plain_entities(doc: Doc) -> Doc:
    doc._.kg_entities = [e.to_dict() for e in doc._.kg_entities or ()]
    return doc


def papers(n: int) -> list[Paper]:
    out = []
    for r in corpus_records(n):
        out.append(Paper(id=paper_id(r["title"]), title=r["title"], abstract=r["abstract"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=20_000)
    ap.add_argument("--jobs", type=int, default=default_jobs())
    ap.add_argument("--model", action="store_true", help="include the trained span tagger")
    args = ap.parse_args()
    docs = papers(args.n)
    texts = [p.text for p in docs]
    nlp = default_pipeline(model=args.model)
    for _ in nlp.pipe(texts[:200]):  # warm-up
        pass

    rows: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    for _ in nlp.tokenizer.pipe(texts, batch_size=256):
        pass
    rows.append(("spaCy tokenizer alone (1 process)", time.perf_counter() - t0))

    reference: list[int] = []
    for jobs in sorted({1, args.jobs}):
        t0 = time.perf_counter()
        counts = [
            len(e.entities)
            for e in extract_stream(docs, EngineOptions(jobs=jobs, model=args.model))
        ]
        rows.append((f"kgraph extract --jobs {jobs}", time.perf_counter() - t0))
        if not reference:
            reference = counts
        assert counts == reference, "--jobs changed the output"

    if args.jobs > 1:
        # spaCy pickles every Doc back to the parent: our Entity objects must become plain
        # dicts first (a last component) or n_process fails outright
        plain = build_pipeline(model=args.model)
        plain.add_pipe("kgraph_bench_plain_entities")
        t0 = time.perf_counter()
        n = 0
        for doc in plain.pipe(texts, batch_size=256, n_process=args.jobs):
            n += len(doc._.kg_entities or [])
        rows.append((f"spaCy nlp.pipe(n_process={args.jobs})", time.perf_counter() - t0))
        assert n == sum(reference), "n_process changed the output"

    tok = rows[0][1]
    one = rows[1][1]
    print(
        f"abstracts: {len(texts):,}; pipeline: {'rules + model' if args.model else 'rules'}; "
        f"cores: {default_jobs()}"
    )
    print(
        f"{'configuration':<40} {'seconds':>8} {'abstracts/s':>12} {'x tokenizer':>12} "
        f"{'speed-up':>9}"
    )
    for name, secs in rows:
        print(
            f"{name:<40} {secs:>8.1f} {len(texts) / secs:>12,.0f} {secs / tok:>11.2f}x "
            f"{one / secs:>8.2f}x"
        )
    print(f"peak RSS (this process): {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
