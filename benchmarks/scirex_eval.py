"""Score kgraph's extraction on the SciREX abstracts, with the dev-gold scorer.

    python benchmarks/scirex_eval.py [dev|train|all]

SciREX (Jain et al., 2020) labels Method, Task, Metric and Material mentions in title+abstract;
mapped to our types as Method -> method, Task -> task, Metric -> metric, Material -> dataset.
Each distinct surface form (after the scorer's normalisation) of a type is one gold entity of the
paper; SciREX says nothing of relations, so only the typed/untyped/named rows mean anything here.
The texts are SciREX's tokenised form ("Bi - LSTM"), rebuilt with single spaces.
"""

from __future__ import annotations

import json
import sys

from _common import need_shared

from kgraph.evaluate import format_table, key, score, title_key
from kgraph.extract.pipeline import build_pipeline

TYPE_MAP = {"Method": "method", "Task": "task", "Metric": "metric", "Material": "dataset"}


def gold_rows(split: str) -> list[dict]:  # type: ignore[type-arg]
    base = need_shared() / "data" / "scirex"
    splits = ["train", "dev"] if split == "all" else [split]
    rows = []
    for s in splits:
        with open(base / f"scirex_abstract_{s}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                seen: dict[tuple[str, str], dict] = {}  # type: ignore[type-arg]
                for e in doc["entities"]:
                    typ = TYPE_MAP.get(e["type"])
                    if typ is None:
                        continue
                    k = (typ, key(e["text"]))
                    if k[1] and k not in seen:
                        seen[k] = {
                            "name": e["text"],
                            "aliases": [],
                            "type": typ,
                            "relation": "uses",
                        }
                rows.append(
                    {"title": doc["title"], "text": doc["text"], "entities": list(seen.values())}
                )
    return rows


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "dev"
    gold = gold_rows(split)
    nlp = build_pipeline(model=False)  # the rules; the README figures are rules-only
    preds = {}
    for row, doc in zip(gold, nlp.pipe(f"{g['title']}\n\n{g['text']}" for g in gold), strict=True):
        preds[title_key(row["title"])] = {
            "title": row["title"], "entities": [e.to_dict() for e in doc._.kg_entities]}
    result = score({title_key(g["title"]): g for g in gold}, preds)
    print(f"SciREX abstracts ({split}): {len(gold)} papers, "
          f"{sum(len(g['entities']) for g in gold)} gold entities")
    print(format_table(result))


if __name__ == "__main__":
    main()
