"""Extraction engines: the *map* step of a build (paper -> :class:`~kgraph.extractions.Extraction`).

The map step is embarrassingly parallel and is the only part of a build that is: the reduce
step (entity resolution across papers, the graph, the store) stays in the calling process.

``local`` with ``jobs=1``
    in this process (``nlp.pipe``), no start-up cost;
``local`` with ``jobs=N``
    N worker processes (forked after the pipeline is loaded, so they share it), fed chunks of
    papers with a bounded number in flight, results streamed back in input order;
``dask``
    chunks mapped on a Dask cluster (``pip install 'kgraph[dask]'``): an existing scheduler
    (``scheduler="tcp://host:8786"``) or, without one, a ``LocalCluster`` of ``jobs`` processes.

Every engine yields the same extractions in the same order (tests compare them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..extractions import Extraction
from ..records import Paper

if TYPE_CHECKING:
    from .local import WarmPool

__all__ = ["ENGINES", "EngineError", "EngineOptions", "default_jobs", "extract_stream"]

ENGINES: Final = ("local", "dask")


class EngineError(Exception):
    """An engine that cannot run (Dask missing, scheduler unreachable): one-line message."""


def default_jobs() -> int:
    """The cores this process may use (the CPU affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class EngineOptions:
    """How to run the map step."""

    engine: str = "local"  #: "local" or "dask"
    jobs: int | None = None  #: worker processes; None = every core (:func:`default_jobs`)
    scheduler: str | None = None  #: dask: the scheduler address; None = a LocalCluster
    #: include the trained span tagger; None (the default): as the bundle built on was
    #: extracted (a build: :func:`kgraph.bundle.build`), else it is included
    model: bool | None = None
    chunk_size: int = 256  #: papers per task sent to a worker
    connect_timeout: float = 20.0  #: dask: seconds to wait for the scheduler

    @property
    def workers(self) -> int:
        return self.jobs if self.jobs is not None else default_jobs()

    @property
    def use_model(self) -> bool:
        """Whether the pipeline has the trained span tagger (``model`` None: it has)."""
        return self.model is not False


def extract_stream(
    papers: Iterable[Paper], options: EngineOptions | None = None, pool: WarmPool | None = None
) -> Iterator[Extraction]:
    """The extraction of every paper, in input order, streaming. ``pool``: the local engine's
    workers, started ahead (:class:`~kgraph.engines.local.WarmPool`)."""
    options = options or EngineOptions()
    if options.engine not in ENGINES:
        raise EngineError(f"unknown engine {options.engine!r}; valid engines: {', '.join(ENGINES)}")
    if options.engine == "dask":
        from .dask import extract_dask

        yield from extract_dask(papers, options)
        return
    from .local import extract_local

    yield from extract_local(papers, options, pool)
