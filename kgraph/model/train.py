"""Rebuild the shipped span tagger from the public corpora in ``../shared/data``.

    python -m kgraph.model.train --shared ../shared -o kgraph/data/model

Steps: convert the corpora (:mod:`kgraph.model.corpus`; counts printed), then train the
pipeline of ``kgraph/model/config.cfg`` with a fixed seed, evaluating span F1 on the dev set
(SciERC dev + SciREX abstracts dev) every ``eval_frequency`` steps and keeping the best
checkpoint. Training stops at ``training.max_steps``, after ``training.patience`` steps without
improvement, or at the time budget (``--max-minutes``), whichever comes first. One process, one
thread; about 15 minutes on a 2-core machine. The best checkpoint goes to ``-o`` with the
conversion counts, dev figures and timings in its ``meta.json`` (key ``kgraph``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.schemas import ConfigSchemaTraining
from spacy.training.initialize import init_nlp
from spacy.training.loop import (
    create_evaluation_callback,
    create_train_batches,
    train_while_improving,
)
from spacy.util import load_config, registry, resolve_dot_names
from thinc.api import fix_random_seed

from . import LABELS, MODEL_DIR
from . import component as _component  # noqa: F401 - registers tokenizer and scorer
from .corpus import FULLTEXT_TOKENS, build, write

CONFIG = Path(str(resources.files("kgraph.model") / "config.cfg"))
#: the seed pages (the papers of ../shared/eval/dev-gold.jsonl): never silver training data
EXCLUDE = Path(__file__).resolve().parents[2] / "graphs" / "pages"

#: files of a trained pipeline; the output folder is cleared of these before writing
MODEL_FILES = ("config.cfg", "meta.json", "tokenizer", "vocab", "tagger", "README.md")

NOTICE = """# kgraph span tagger

Built by `python -m kgraph.model.train --shared ../shared -o kgraph/data/model` from
`kgraph/model/config.cfg`; `meta.json` (key `kgraph`) holds the corpus counts, the dev figures
and the training time. Loaded by the `kgraph_model` pipeline component
(`kgraph/model/component.py`).

Trained on: SciERC train (Luan et al., 2018; research data, cite the paper), SciREX abstracts and
a sample of full-text sentences, train split (Jain et al., 2020; Apache-2.0), TDMSci train
(Hou et al., 2021; Apache-2.0). The weights are a hashed-feature CNN; no text of these corpora
is stored except as entries of the string table in `vocab/`.
"""


def _log(message: str) -> None:
    print(f"kgraph.model.train: {message}", file=sys.stderr, flush=True)


def train(
    shared: Path,
    output: Path,
    *,
    config_path: Path = CONFIG,
    max_minutes: float = 25.0,
    max_steps: int | None = None,
    seed: int = 0,
    fulltext_tokens: int = FULLTEXT_TOKENS,
    silver: int = 0,
    exclude: Iterable[Path] = (),
    corpus_dir: Path | None = None,
) -> dict[str, Any]:
    """Convert, train, save the best checkpoint to ``output``; returns the run's summary."""
    t_start = time.perf_counter()
    from .component import training_nlp

    excluded = _titles(exclude) if silver else set()
    train_docs, dev_docs, counts = build(
        shared, training_nlp(), fulltext_tokens, seed, silver, excluded
    )
    with tempfile.TemporaryDirectory(prefix="kgraph-corpus-") as tmp:
        folder = corpus_dir or Path(tmp)
        write(train_docs, folder / "train.spacy")
        write(dev_docs, folder / "dev.spacy")
        t_convert = time.perf_counter() - t_start
        _log(
            f"converted {len(train_docs):,} train docs "
            f"({sum(len(d) for d in train_docs):,} tokens) and {len(dev_docs):,} dev docs "
            f"in {t_convert:.0f} s"
        )
        for name, c in counts.items():
            _log(
                f"  {name}: {c['docs']:,} docs, {c['entities']:,} entities, "
                f"{c['aligned']:,} aligned, {c['misaligned']} misaligned, "
                f"{c['overlapping']} overlapping, {c['crossing']} crossing; {c['labels']}"
            )
        overrides: dict[str, Any] = {
            "paths.train": str(folder / "train.spacy"),
            "paths.dev": str(folder / "dev.spacy"),
            "system.seed": seed,
        }
        if max_steps is not None:
            overrides["training.max_steps"] = max_steps
        config = load_config(config_path, overrides=overrides, interpolate=False)
        fix_random_seed(seed)
        nlp = init_nlp(config)
        best, t_train = _train_loop(nlp, output, max_minutes * 60 - t_convert)
    _prune_strings(output)
    summary = {
        "seed": seed,
        "fulltext_tokens": fulltext_tokens,
        "silver": silver,
        "train_docs": len(train_docs),
        "train_tokens": sum(len(d) for d in train_docs),
        "dev_docs": len(dev_docs),
        "corpus": counts,
        "best": best,
        "seconds": {
            "convert": round(t_convert, 1),
            "train": round(t_train, 1),
            "total": round(time.perf_counter() - t_start, 1),
        },
    }
    meta_path = output / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["kgraph"] = summary
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    (output / "README.md").write_text(NOTICE, encoding="utf-8")
    return summary


def _titles(paths: Iterable[Path]) -> set[str]:
    """Normalised titles of the papers in ``paths`` (kept out of the silver data)."""
    from ..evaluate import title_key
    from ..readers import ReadLog, read_papers

    files = [str(p) for p in paths if p.exists()]
    if not files:
        return set()
    return {title_key(p.title) for p in read_papers(files, None, ReadLog()).papers}


def _prune_strings(output: Path) -> None:
    """Keep only the labels in the saved string table: the model needs no other string (its
    features are hashes), and the table would otherwise list every word seen in training."""
    cfg = json.loads((output / "tagger" / "cfg").read_text(encoding="utf-8"))
    labels = sorted({*cfg["labels"], *(label.lower() for label in LABELS)})
    (output / "vocab" / "strings.json").write_text(json.dumps(labels), encoding="utf-8")


def _train_loop(nlp: Language, output: Path, budget_s: float) -> tuple[dict[str, Any], float]:
    """spaCy's training loop (``spacy.training.loop.train``) with a time budget; the best
    checkpoint (by the config's score weights) is written to ``output``."""
    config = nlp.config.interpolate()
    T = registry.resolve(config["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = resolve_dot_names(config, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    steps = train_while_improving(
        nlp,
        optimizer,
        create_train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"]),
        create_evaluation_callback(nlp, dev_corpus, T["score_weights"]),
        dropout=T["dropout"],
        accumulate_gradient=T["accumulate_gradient"],
        patience=T["patience"],
        max_steps=T["max_steps"],
        eval_frequency=T["eval_frequency"],
        exclude=T["frozen_components"],
        annotating_components=T["annotating_components"],
        before_update=T["before_update"],
    )
    for name in MODEL_FILES:
        path = output / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    output.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    best: dict[str, Any] = {"score": -1.0}
    words = 0
    for _batch, info, is_best in steps:
        words = info["words"]
        if is_best is None:
            continue
        elapsed = time.perf_counter() - t0
        other = info["other_scores"]
        _log(
            f"step {info['step']:>5} epoch {info['epoch']:>3} "
            f"loss {sum(info['losses'].values()):9.1f} "
            f"dev P {other.get('ents_p', 0):.3f} R {other.get('ents_r', 0):.3f} "
            f"F {other.get('ents_f', 0):.3f}{' *' if is_best else ''}  "
            f"{words / max(elapsed, 1e-9):,.0f} words/s, {elapsed:.0f} s"
        )
        if is_best:
            with nlp.use_params(optimizer.averages):
                nlp.to_disk(output)
            best = {
                "step": info["step"],
                "epoch": info["epoch"],
                "score": round(float(info["score"]), 4),
                "ents_p": round(float(other.get("ents_p", 0)), 4),
                "ents_r": round(float(other.get("ents_r", 0)), 4),
                "ents_f": round(float(other.get("ents_f", 0)), 4),
                "ents_per_type": other.get("ents_per_type"),
            }
        if elapsed > budget_s:
            _log(f"time budget reached at step {info['step']}")
            break
    t_train = time.perf_counter() - t0
    _log(f"trained {t_train:.0f} s ({words:,} words); best dev F1 {best.get('ents_f')} "
         f"at step {best.get('step')}")
    return best, t_train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--shared", type=Path, default=Path("../shared"), help="the shared folder")
    ap.add_argument("-o", "--output", type=Path, default=MODEL_DIR, help="model folder")
    ap.add_argument("--config", type=Path, default=CONFIG, help="spaCy training config")
    ap.add_argument("--max-minutes", type=float, default=25.0,
                    help="time budget for conversion + training (default 25)")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="override training.max_steps of the config")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fulltext-tokens", type=int, default=FULLTEXT_TOKENS,
                    help="SciREX full-text sample size in tokens (0: none)")
    ap.add_argument("--silver", type=int, default=0,
                    help="add this many ../shared/corpus abstracts labelled by the rules")
    ap.add_argument("--exclude", type=Path, nargs="*", default=[EXCLUDE],
                    help="inputs whose papers never enter the silver data (default: the "
                    "seed pages graphs/pages, the papers of the dev gold)")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help="keep the converted .spacy files here (default: a temporary folder)")
    args = ap.parse_args(argv)
    if not (args.shared / "data").is_dir():
        ap.error(f"no data folder in {args.shared}")
    summary = train(
        args.shared,
        args.output,
        config_path=args.config,
        max_minutes=args.max_minutes,
        max_steps=args.max_steps,
        seed=args.seed,
        fulltext_tokens=args.fulltext_tokens,
        silver=args.silver,
        exclude=args.exclude,
        corpus_dir=args.corpus_dir,
    )
    best = summary["best"]
    print(
        f"model: {args.output}; dev span F1 {best.get('ents_f')} (P {best.get('ents_p')}, "
        f"R {best.get('ents_r')}) at step {best.get('step')}; "
        f"{summary['seconds']['total']:.0f} s in total"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
