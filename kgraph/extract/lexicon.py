"""Word lists the rule components read: ``kgraph/data/lexicon.jsonl`` (data, not code)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA = Path(str(resources.files("kgraph") / "data"))


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> dict[str, frozenset[str]]:
    """Every named word list in the lexicon file, as frozensets of lowercase words.

    ``not_names`` keeps its case: it lists exact tokens ("AI", "GPU").
    """
    file = Path(path) if path else DATA / "lexicon.jsonl"
    lists: dict[str, frozenset[str]] = {}
    with file.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                name, words = row["list"], row["words"]
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{file}:{n}: bad lexicon line ({exc})") from None
            keep_case = name == "not_names"
            lists[name] = frozenset(w if keep_case else w.lower() for w in words)
    return lists


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
