"""The unit of work every engine runs: a chunk of papers -> their extractions (as dicts).

Module-level functions only, so process pools and Dask can send them by reference; the
pipeline is loaded once per worker process and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import Paper


def warm(model: bool) -> None:
    """Load the extraction pipeline in this process (a worker's initializer)."""
    from ..extract.pipeline import default_pipeline

    default_pipeline(model=model)


def extract_chunk(papers: Sequence[Paper], model: bool = True) -> list[dict[str, Any]]:
    """The stored form (``Extraction.to_dict()``) of each paper's extraction, in order."""
    from ..extract.pipeline import default_pipeline
    from ..extractions import extract

    nlp = default_pipeline(model=model)
    return [ext.to_dict() for _, ext in extract(papers, nlp)]
