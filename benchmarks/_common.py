"""Shared helpers for the benchmarks: where ../shared is, reading the corpus, peak RSS."""

from __future__ import annotations

import gzip
import json
import os
import resource
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KGRAPH_SHARED", ROOT.parent / "shared"))


def need_shared() -> Path:
    if not SHARED.is_dir():
        sys.exit(f"benchmark needs the shared data folder at {SHARED} (set KGRAPH_SHARED)")
    return SHARED


def corpus_records(limit: int | None = None) -> Iterator[dict[str, str]]:
    """Title+abstract records of ../shared/corpus/*.jsonl.gz, files interleaved, in a fixed
    order."""
    files = sorted((need_shared() / "corpus").glob("*.jsonl.gz"))
    with ExitStack() as stack:
        handles = [stack.enter_context(gzip.open(f, "rt", encoding="utf-8")) for f in files]
        n = 0
        while handles:
            for fh in list(handles):
                line = fh.readline()
                if not line:
                    handles.remove(fh)
                    continue
                row = json.loads(line)
                if row.get("title") and row.get("abstract"):
                    yield {"title": row["title"], "abstract": " ".join(row["abstract"].split())}
                    n += 1
                    if limit is not None and n >= limit:
                        return


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
