"""The local engine: this process, or N worker processes on this machine.

spaCy's own ``nlp.pipe(n_process=N)`` was measured slower than one process here (it pickles
every Doc back to the parent); our workers send back only the small extraction records.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice

from ..extractions import Extraction
from ..records import Paper
from . import EngineOptions
from .worker import extract_chunk, warm


def chunks(papers: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(papers)
    while chunk := list(islice(it, size)):
        yield chunk


def extract_local(papers: Iterable[Paper], options: EngineOptions) -> Iterator[Extraction]:
    """Extractions in input order; ``options.workers`` processes when more than one (and
    there is more than one chunk of work: a small input is done here, with no start-up)."""
    parts = chunks(papers, options.chunk_size)
    first = next(parts, [])
    second = next(parts, None)
    if options.workers <= 1 or second is None:
        from ..extract.pipeline import default_pipeline
        from ..extractions import extract

        nlp = default_pipeline(model=options.use_model)
        rest = (p for part in ([first], [second] if second else [], parts) for c in part for p in c)
        for _, ext in extract(rest, nlp):
            # stored and in-memory extractions must resolve alike: use the stored form
            yield Extraction.from_dict(ext.to_dict())
        return
    # fork after loading the pipeline: workers start at once and share its memory
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    if method == "fork":
        warm(options.use_model)
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        max_workers=options.workers, mp_context=ctx, initializer=warm, initargs=(options.use_model,)
    ) as pool:
        in_flight: deque[Future[list[dict[str, object]]]] = deque()
        limit = 2 * options.workers  # bounded: memory does not grow with the input
        for chunk in chain([first, second], parts):
            in_flight.append(pool.submit(extract_chunk, chunk, options.use_model))
            while len(in_flight) >= limit:
                yield from _rows(in_flight.popleft().result())
        while in_flight:
            yield from _rows(in_flight.popleft().result())


def _rows(rows: list[dict[str, object]]) -> Iterator[Extraction]:
    for row in rows:
        yield Extraction.from_dict(row)
