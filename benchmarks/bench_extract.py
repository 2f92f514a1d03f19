"""Extraction speed: abstracts/s of the kgraph pipeline vs spaCy's tokenizer alone, same texts.

    python benchmarks/bench_extract.py [N=20000] [--repeat R] [--chunk 1000]
    python benchmarks/bench_extract.py 3000 --components   # CPU seconds per component
    python benchmarks/bench_extract.py 3000 --profile      # cProfile of the pipeline, top 40

Prints abstracts/s for the tokenizer alone, the rules pipeline, their ratio, and peak RSS.
One process, one core; times are CPU seconds of this process (time.process_time). The two are
timed in turns on the same chunks of texts (tokenizer on chunk 1, pipeline on chunk 1,
tokenizer on chunk 2, ...), so a machine whose load changes during the run slows both alike
and the ratio stays put. As in the first version of this benchmark, the tokenizer meets each
text first (it adds the new words to the vocab) and the pipeline second. ``--repeat R`` runs
the whole measurement R times, each on a freshly built pipeline, and reports the best speeds
and the median ratio. "Tokenizer alone" is spaCy's ``Tokenizer`` with kgraph's rules
(``make_nlp``), called without the pipeline's text-keeping wrapper.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections import defaultdict

from _common import corpus_records, peak_rss_mb
from spacy.language import Language
from spacy.tokenizer import Tokenizer

from kgraph.extract.pipeline import build_pipeline


def chunks(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def measure(nlp: Language, texts: list[str], chunk: int) -> tuple[float, float, int]:
    """CPU seconds of the tokenizer alone and of the pipeline on ``texts``, timed in turns."""
    tokenizer = nlp.tokenizer
    tok_s = pipe_s = 0.0
    entities = 0
    for part in chunks(texts, chunk):
        t0 = time.process_time()
        for text in part:
            Tokenizer.__call__(tokenizer, text)  # spaCy's tokenizer, no kgraph wrapper
        tok_s += time.process_time() - t0
        t0 = time.process_time()
        for doc in nlp.pipe(part, batch_size=256):
            entities += len(doc._.kg_entities or [])
        pipe_s += time.process_time() - t0
    return tok_s, pipe_s, entities


def components(nlp: Language, texts: list[str]) -> None:
    """CPU seconds of each component, docs going through the pipeline one at a time."""
    spent: dict[str, float] = defaultdict(float)
    for text in texts:
        t0 = time.process_time()
        doc = nlp.make_doc(text)
        spent["tokenizer"] += time.process_time() - t0
        for name, proc in nlp.pipeline:
            t0 = time.process_time()
            doc = proc(doc)
            spent[name] += time.process_time() - t0
    total = sum(spent.values())
    for name, seconds in spent.items():
        print(f"  {name:22s} {seconds:6.2f} s  {100 * seconds / total:4.1f}%")
    print(f"  {'total':22s} {total:6.2f} s")


def profile(nlp: Language, texts: list[str]) -> None:
    """cProfile of the pipeline over ``texts``: the 40 functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in nlp.pipe(texts, batch_size=256):
        pass
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("n", nargs="?", type=int, default=20_000, help="abstracts (default 20000)")
    ap.add_argument("--repeat", type=int, default=1, help="measure R times (default 1)")
    ap.add_argument("--chunk", type=int, default=1000, help="texts per turn (default 1000)")
    ap.add_argument("--components", action="store_true", help="CPU seconds per component")
    ap.add_argument("--profile", action="store_true", help="cProfile the pipeline")
    args = ap.parse_args()

    texts = [f"{r['title']}\n\n{r['abstract']}" for r in corpus_records(args.n)]
    words = sum(len(t.split()) for t in texts)
    print(f"abstracts: {len(texts):,} ({words / len(texts):.0f} words each on average)")
    runs = []
    for k in range(1, args.repeat + 1):
        # a fresh pipeline each time: every run sees the texts for the first time
        t0 = time.process_time()
        nlp = build_pipeline(model=False)
        if k == 1:
            print(f"pipeline load: {time.process_time() - t0:.2f} s")
        # warm-up so both measure steady state
        for _ in nlp.pipe(texts[:200]):
            pass
        if args.components:
            components(nlp, texts)
            return
        if args.profile:
            profile(nlp, texts)
            return
        runs.append(measure(nlp, texts, args.chunk))
        if args.repeat > 1:
            tok_s, pipe_s, _ = runs[-1]
            print(
                f"  run {k}: tokenizer {len(texts) / tok_s:,.0f}/s, "
                f"pipeline {len(texts) / pipe_s:,.0f}/s, ratio {pipe_s / tok_s:.2f}x"
            )
    tok_s = min(r[0] for r in runs)
    pipe_s = min(r[1] for r in runs)
    ratio = statistics.median(r[1] / r[0] for r in runs)
    entities = runs[0][2]
    best = f" (best of {args.repeat})" if args.repeat > 1 else ""
    print(f"tokenizer alone: {len(texts) / tok_s:,.0f} abstracts/s ({tok_s:.1f} s){best}")
    print(
        f"kgraph extract (rules): {len(texts) / pipe_s:,.0f} abstracts/s ({pipe_s:.1f} s)"
        f"{best}, {entities / len(texts):.1f} entities per abstract"
    )
    median = " (median)" if args.repeat > 1 else ""
    print(f"ratio pipeline/tokenizer time: {ratio:.2f}x{median}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
