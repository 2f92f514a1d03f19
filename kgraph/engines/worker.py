"""The unit of work every engine runs: a chunk of papers -> their extractions (as dicts).

Module-level functions only, so process pools and Dask can send them by reference; the
pipeline is loaded once per worker process and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import Paper

#: what :func:`warm_or_keep` met loading the pipeline in this process, raised by the first
#: chunk this process is given (:func:`extract_chunk`)
_FAILED: list[BaseException] = []


def warm(model: bool) -> None:
    """Load the extraction pipeline in this process (a worker's initializer)."""
    from ..extract.pipeline import default_pipeline

    default_pipeline(model=model)


def warm_or_keep(model: bool) -> None:
    """:func:`warm`, an error kept for the first chunk (a process pool whose initializer
    fails only says that a worker ended; the caller sees the error itself so)."""
    try:
        warm(model)
    except Exception as exc:
        _FAILED.append(exc)


def started() -> None:
    """A task that does nothing (the first of a pool, which starts its workers)."""


def extract_chunk(papers: Sequence[Paper], model: bool = True) -> list[dict[str, Any]]:
    """The stored form (``Extraction.to_dict()``) of each paper's extraction, in order."""
    if _FAILED:
        raise _FAILED[0]
    from ..extract.pipeline import default_pipeline
    from ..extractions import extract

    nlp = default_pipeline(model=model)
    return [ext.to_dict() for _, ext in extract(papers, nlp)]
