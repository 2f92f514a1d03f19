"""kgraph's learned span extractor: a small spaCy CNN tagger trained on public corpora.

- :mod:`kgraph.model.corpus` converts SciERC, SciREX and TDMSci (``../shared/data``) to spaCy
  ``DocBin`` files with our types (:data:`TYPE_MAP`).
- :mod:`kgraph.model.train` rebuilds the shipped model (``kgraph/data/model``) from them.
- :mod:`kgraph.model.component` is the ``kgraph_model`` pipeline component that runs it and
  writes its spans to ``doc.spans["model"]``.
"""

from __future__ import annotations

from pathlib import Path

from ..extract.lexicon import DATA

#: where the trained model ships
MODEL_DIR: Path = DATA / "model"
#: the model's labels (uppercase in the model, lowercase kgraph types in ``doc.spans["model"]``)
LABELS: tuple[str, ...] = ("METHOD", "TASK", "METRIC", "DATASET")
#: corpus -> its entity type -> our label; types not listed (SciERC ``Generic`` and
#: ``OtherScientificTerm``) are dropped, i.e. their tokens count as outside any entity
TYPE_MAP: dict[str, dict[str, str]] = {
    "scierc": {"Method": "METHOD", "Task": "TASK", "Metric": "METRIC", "Material": "DATASET"},
    "scirex": {"Method": "METHOD", "Task": "TASK", "Metric": "METRIC", "Material": "DATASET"},
    "tdmsci": {"TASK": "TASK", "DATASET": "DATASET", "METRIC": "METRIC"},
}


def model_available(path: Path | None = None) -> bool:
    """True when the trained model's files are there (the package ships them)."""
    folder = path or MODEL_DIR
    return (folder / "config.cfg").is_file() and (folder / "meta.json").is_file()
