"""The Dask engine: the map step on a Dask cluster (``pip install 'kgraph[dask]'``).

``scheduler`` is the address of a running scheduler (``tcp://10.0.0.5:8786``; Kubernetes, HPC
and YARN deployments all expose one: dask-kubernetes, dask-jobqueue, dask-yarn); without one a
``LocalCluster`` of ``jobs`` single-threaded worker processes is started and closed here.
Workers need kgraph installed (same version: the extractor fingerprint is checked). Chunks are
submitted with a bounded number in flight and collected in input order, so memory stays flat.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from ..extractions import Extraction
from ..records import Paper
from . import EngineError, EngineOptions
from .local import chunks
from .worker import extract_chunk


def _fingerprint() -> str:
    from ..bundle import extractor_fingerprint

    return extractor_fingerprint()


def extract_dask(papers: Iterable[Paper], options: EngineOptions) -> Iterator[Extraction]:
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise EngineError("the dask engine needs Dask: pip install 'kgraph[dask]'") from None
    with ExitStack() as stack:
        try:
            if options.scheduler:
                client = stack.enter_context(
                    distributed.Client(options.scheduler, timeout=f"{options.connect_timeout}s")
                )
            else:
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=options.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
        except (OSError, TimeoutError) as exc:
            where = options.scheduler or "a local cluster"
            raise EngineError(f"cannot connect to the Dask scheduler at {where}: {exc}") from None
        mine = _fingerprint()
        theirs: dict[str, Any] = client.run(_fingerprint)
        odd = sorted(w for w, fp in theirs.items() if fp != mine)
        if odd:
            raise EngineError(
                f"{len(odd)} Dask worker(s) run another kgraph extractor than this one "
                f"(e.g. {odd[0]}); install the same kgraph version on the workers"
            )
        n_workers = max(1, len(theirs))
        in_flight: deque[Any] = deque()
        limit = 2 * n_workers
        for chunk in chunks(papers, options.chunk_size):
            in_flight.append(client.submit(extract_chunk, chunk, options.use_model, pure=False))
            while len(in_flight) >= limit:
                yield from _collect(in_flight.popleft())
        while in_flight:
            yield from _collect(in_flight.popleft())


def _collect(future: Any) -> Iterator[Extraction]:
    rows: list[dict[str, Any]] = future.result()
    for row in rows:
        yield Extraction.from_dict(row)
