"""The local engine: this process, or N worker processes on this machine.

spaCy's own ``nlp.pipe(n_process=N)`` was measured slower than one process here (it pickles
every Doc back to the parent); our workers send back only the small extraction records.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from itertools import chain, islice

from ..extractions import Extraction
from ..records import Paper
from . import EngineOptions
from .worker import extract_chunk, started, warm, warm_or_keep


def chunks(papers: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(papers)
    while chunk := list(islice(it, size)):
        yield chunk


class WarmPool:
    """The worker processes of :func:`extract_local`, started ahead of their work: each loads
    the pipeline itself (about a second) while the caller does something else. A build
    starts them before it reads the bundle and the inputs, so that its extraction finds them
    ready, and the process that resolves and makes the graph never holds the pipeline
    (114 MiB, rules only). They are forked then, while that process is still small.

    A worker that fails to load the pipeline keeps the error, raised by the first chunk it
    is given (:func:`~kgraph.engines.worker.warm_or_keep`). :meth:`close` ends them."""

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.executor: Executor | None = ProcessPoolExecutor(
            max_workers=options.workers,
            mp_context=multiprocessing.get_context(_start_method()),
            initializer=warm_or_keep,
            initargs=(options.use_model,),
        )
        try:
            # (a pool that forks starts all its workers at its first task)
            self.executor.submit(started)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the workers (waits for them: for one still loading the pipeline, too)."""
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


def extract_local(
    papers: Iterable[Paper], options: EngineOptions, pool: WarmPool | None = None
) -> Iterator[Extraction]:
    """Extractions in input order; ``options.workers`` processes when more than one (and
    there is more than one chunk of work: a small input is done here, with no start-up).
    ``pool``: workers started already, given every chunk (the caller closes it)."""
    parts = chunks(papers, options.chunk_size)
    if pool is not None and pool.executor is not None:
        yield from _pooled(pool.executor, parts, pool.options)
        return
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
    method = _start_method()
    if method == "fork":
        warm(options.use_model)
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        max_workers=options.workers, mp_context=ctx, initializer=warm, initargs=(options.use_model,)
    ) as executor:
        yield from _pooled(executor, chain([first, second], parts), options)


def _start_method() -> str:
    """How worker processes start: forked where that is safe (Linux), else spawned."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _pooled(
    executor: Executor, parts: Iterable[list[Paper]], options: EngineOptions
) -> Iterator[Extraction]:
    """The extractions of the chunks ``parts`` by ``executor``'s workers, in order."""
    in_flight: deque[Future[list[dict[str, object]]]] = deque()
    limit = 2 * options.workers  # bounded: memory does not grow with the input
    for chunk in parts:
        in_flight.append(executor.submit(extract_chunk, chunk, options.use_model))
        while len(in_flight) >= limit:
            yield from _rows(in_flight.popleft().result())
    while in_flight:
        yield from _rows(in_flight.popleft().result())


def _rows(rows: list[dict[str, object]]) -> Iterator[Extraction]:
    for row in rows:
        yield Extraction.from_dict(row)
