"""Extraction speed: abstracts/s of the kgraph pipeline vs spaCy's tokenizer alone, same texts.

    python benchmarks/bench_extract.py [N=20000]

Prints abstracts/s for the tokenizer alone, the rules pipeline, their ratio, and peak RSS.
One process, one core; times are CPU seconds of this process (time.process_time), so a
busy machine does not distort the ratio.
"""

from __future__ import annotations

import sys
import time

from _common import corpus_records, peak_rss_mb

from kgraph.extract.pipeline import build_pipeline


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    texts = [f"{r['title']}\n\n{r['abstract']}" for r in corpus_records(n)]
    words = sum(len(t.split()) for t in texts)
    t0 = time.process_time()
    nlp = build_pipeline(model=False)
    load_s = time.process_time() - t0
    # warm-up so both measure steady state
    for _ in nlp.pipe(texts[:200]):
        pass

    t0 = time.process_time()
    for _ in nlp.tokenizer.pipe(texts, batch_size=256):
        pass
    tok_s = time.process_time() - t0

    t0 = time.process_time()
    entities = 0
    for doc in nlp.pipe(texts, batch_size=256):
        entities += len(doc._.kg_entities or [])
    pipe_s = time.process_time() - t0

    print(f"abstracts: {len(texts):,} ({words / len(texts):.0f} words each on average)")
    print(f"pipeline load: {load_s:.2f} s")
    print(f"tokenizer alone: {len(texts) / tok_s:,.0f} abstracts/s ({tok_s:.1f} s)")
    print(f"kgraph extract (rules): {len(texts) / pipe_s:,.0f} abstracts/s ({pipe_s:.1f} s), "
          f"{entities / len(texts):.1f} entities per abstract")
    print(f"ratio pipeline/tokenizer time: {pipe_s / tok_s:.2f}x")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
