"""Mention-level P/R/F1 of the learned span tagger on SciERC test and TDMSci test.

    python benchmarks/model_eval.py [--model PATH] [--pipeline]

Gold: SciERC test (100 abstracts; Method, Task, Metric, Material -> method, task, metric,
dataset; Generic and OtherScientificTerm dropped) and TDMSci test (487 sentences; Task,
Dataset, Metric). Neither was used for training or model selection. Texts are detokenised as
for training (``kgraph.model.corpus.detokenize``: "Bi - LSTM" -> "Bi-LSTM") with the gold
offsets carried over; a gold mention that no longer falls on token boundaries still counts
(as a miss).

A prediction is correct when its character span and type equal a gold mention's ("exact");
``untyped`` ignores the type. TDMSci does not annotate methods, so method predictions are not
scored there. ``--pipeline`` also scores the mentions of the full kgraph extraction
(rules-only and rules+model; benchmark counts as dataset), which is built for a different
target (named things per the spec, not every SciERC-style phrase), so expect low recall.

For scale: SciERC entity F1 of SciBERT-based models is about 0.70 (six types, gold tokens).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterable

from _common import need_shared

from kgraph.extract.pipeline import build_pipeline, make_nlp
from kgraph.model import TYPE_MAP
from kgraph.model.corpus import detokenize, read_jsonl

Mention = tuple[int, int, str]
TYPES = ("method", "task", "metric", "dataset")


def gold_docs(name: str) -> tuple[list[str], list[set[Mention]], tuple[str, ...]]:
    data = need_shared() / "data"
    if name == "scierc":
        path, corpus, types = data / "scierc" / "scierc_test.jsonl", "scierc", TYPES
    else:
        path, corpus, types = data / "tdmsci" / "tdmsci_test.jsonl", "tdmsci", TYPES[1:]
    texts, golds = [], []
    for row in read_jsonl(path):
        text, mapping = detokenize(row["text"])
        gold = set()
        for e in row["entities"]:
            label = TYPE_MAP[corpus].get(e["type"])
            if label is not None:
                gold.add((mapping[e["start"]], mapping[e["end"]], label.lower()))
        texts.append(text)
        golds.append(gold)
    return texts, golds, types


def prf(tp: int, pred: int, gold: int) -> tuple[float, float, float]:
    p = tp / pred if pred else 0.0
    r = tp / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(
    preds: Iterable[set[Mention]], golds: Iterable[set[Mention]], types: tuple[str, ...]
) -> dict[str, tuple[int, int, int]]:
    c: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pred, gold in zip(preds, golds, strict=True):
        pred = {m for m in pred if m[2] in types}
        for t in types:
            p_t = {m for m in pred if m[2] == t}
            g_t = {m for m in gold if m[2] == t}
            c[t][0] += len(p_t & g_t)
            c[t][1] += len(p_t)
            c[t][2] += len(g_t)
        c["micro"][0] += len(pred & gold)
        c["micro"][1] += len(pred)
        c["micro"][2] += len(gold)
        untyped_gold = {(a, b) for a, b, _ in gold}
        c["untyped"][0] += len({(a, b) for a, b, _ in pred} & untyped_gold)
        c["untyped"][1] += len({(a, b) for a, b, _ in pred})
        c["untyped"][2] += len(untyped_gold)
    return {k: (v[0], v[1], v[2]) for k, v in c.items()}


def print_table(title: str, result: dict[str, tuple[int, int, int]]) -> None:
    print(f"\n{title}")
    print(f"{'':<10} {'P':>6} {'R':>6} {'F1':>6} {'tp':>6} {'pred':>6} {'gold':>6}")
    for k, (tp, pred, gold) in result.items():
        p, r, f = prf(tp, pred, gold)
        print(f"{k:<10} {p:6.3f} {r:6.3f} {f:6.3f} {tp:6d} {pred:6d} {gold:6d}")


def model_mentions(model: str | None) -> Callable[[list[str]], list[set[Mention]]]:
    import kgraph.model.component  # noqa: F401 - registers the factory

    nlp = make_nlp()
    nlp.add_pipe("kgraph_model", config={"path": model, "candidates": "all"})

    def run(texts: list[str]) -> list[set[Mention]]:
        return [
            {(s.start_char, s.end_char, s.label_) for s in doc.spans["model"]}
            for doc in nlp.pipe(texts, batch_size=256)
        ]

    return run


def pipeline_mentions(
    with_model: bool, model: str | None
) -> Callable[[list[str]], list[set[Mention]]]:
    import kgraph.model.component  # noqa: F401 - registers the factory

    nlp = build_pipeline(model=False)
    if with_model:
        nlp.add_pipe("kgraph_model", before="kgraph_entities", config={"path": model})

    def run(texts: list[str]) -> list[set[Mention]]:
        out = []
        for doc in nlp.pipe(texts, batch_size=256):
            mentions = set()
            for e in doc._.kg_entities or []:
                typ = "dataset" if e.type == "benchmark" else e.type
                for m in e.mentions:
                    mentions.add((m.start, m.end, typ))
            out.append(mentions)
        return out

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--pipeline", action="store_true",
                    help="also score the full extraction, rules-only and rules+model")
    args = ap.parse_args()
    systems: list[tuple[str, Callable[[list[str]], list[set[Mention]]]]] = [
        ("model", model_mentions(args.model))
    ]
    if args.pipeline:
        systems.append(("rules", pipeline_mentions(False, args.model)))
        systems.append(("rules+model", pipeline_mentions(True, args.model)))
    for name in ("scierc", "tdmsci"):
        texts, golds, types = gold_docs(name)
        label = "SciERC test (100 abstracts)" if name == "scierc" else "TDMSci test (487 sentences)"
        for system, run in systems:
            print_table(f"{label}: {system}, exact span and type", score(run(texts), golds, types))


if __name__ == "__main__":
    main()
