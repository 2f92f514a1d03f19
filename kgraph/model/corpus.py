"""Convert the public corpora in ``../shared/data`` to spaCy ``DocBin`` files with our types.

    python -m kgraph.model.corpus --shared ../shared -o /tmp/kgraph-corpus

Sources (``../shared/data/PROVENANCE.md``) and how each becomes training data:

- SciERC train (350 abstracts): ``Method`` -> METHOD, ``Task`` -> TASK, ``Metric`` -> METRIC,
  ``Material`` -> DATASET; ``Generic`` and ``OtherScientificTerm`` are dropped (their tokens
  are "outside": a generic phrase is not an entity for us either).
- SciREX abstracts train (281): the same map (SciREX has no Generic/OtherScientificTerm).
- SciREX full text train (306 papers, 1.7M words): split into sentences; the abstract's own
  sentences are skipped (they are the abstracts above); a seeded sample of sentences up to a
  token budget (:data:`FULLTEXT_TOKENS`), 85% of it from sentences with an entity.
- TDMSci train (1,523 sentences): ``TASK``/``DATASET``/``METRIC`` kept. TDMSci does not
  annotate methods, so its outside tokens with a capital letter or a digit ("BERT", "LSTM-CRF")
  are marked *missing* (no loss on them) rather than outside.
- Dev set (model selection only): SciERC dev + SciREX abstracts dev. SciERC test and TDMSci
  test are never used for training or selection (``benchmarks/model_eval.py`` reports them).

The corpora come tokenised with single spaces ("Bi - LSTM", "( NLP )"); kgraph reads natural
text ("Bi-LSTM", "(NLP)"), so each text is first *detokenised* (:func:`detokenize`) and the
entity offsets are carried over; then it is tokenised with kgraph's own tokenizer and each
entity aligned with ``doc.char_span(..., alignment_mode="contract")``. Entities that do not
align, overlap a longer one, or cross a sentence boundary are dropped and counted.

Each Doc carries the entities both as ``doc.ents`` and as BIO tags in ``token.tag_`` (what the
tagger learns; an empty tag is a missing value).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from . import TYPE_MAP

#: token budget for the SciREX full-text sample (keeps training within its time budget)
FULLTEXT_TOKENS = 800_000
#: share of that budget taken from sentences without any entity
FULLTEXT_EMPTY_SHARE = 0.15
#: silver abstracts are taken after this many corpus records (the first 20,000 are the speed
#: benchmark's)
SILVER_SKIP = 20_000
#: silver abstracts added to the dev set when silver labels are used
SILVER_DEV = 200
#: full-text sentences shorter or longer than this (in corpus tokens) are skipped
SENTENCE_TOKENS = (5, 100)

_CLOSE = {",", ".", ";", ":", ")", "]", "}", "%", "?", "!", "'s", "’s", "n't", "”", "’"}
_OPEN = {"(", "[", "{", "“", "‘"}
_JOIN = {"-", "/"}
_WORD_END = re.compile(r"[\w)\]]$")
_WORD_START = re.compile(r"^[\w(\[]")
_NAMELIKE = re.compile(r"[A-Z0-9]")
_SENT_END = {".", "?", "!"}


@dataclass
class Counts:
    """What the conversion kept and dropped."""

    docs: int = 0
    tokens: int = 0
    entities: int = 0  #: entities of a mapped type in the source
    aligned: int = 0
    misaligned: int = 0  #: no token lies inside the entity's span after tokenisation
    overlapping: int = 0  #: overlaps a longer entity
    crossing: int = 0  #: crosses a sentence boundary (whole full text, before sampling)
    dropped_types: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        for name in ("docs", "tokens", "entities", "aligned", "misaligned", "overlapping",
                     "crossing"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dropped_types.update(other.dropped_types)
        self.labels.update(other.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "tokens": self.tokens,
            "entities": self.entities,
            "aligned": self.aligned,
            "misaligned": self.misaligned,
            "overlapping": self.overlapping,
            "crossing": self.crossing,
            "dropped_types": dict(self.dropped_types.most_common()),
            "labels": dict(self.labels.most_common()),
        }


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def detokenize(text: str) -> tuple[str, list[int]]:
    """``"Bi - LSTM ( BiLSTM ) , 95 %"`` -> ``"Bi-LSTM (BiLSTM), 95%"``, and a map from each
    character offset of ``text`` (0..len) to the offset in the new text."""
    toks = text.split(" ")
    glue = [False] * len(toks)  # glue[i]: no space before token i
    for i in range(1, len(toks)):
        tok, prev = toks[i], toks[i - 1]
        if tok in _CLOSE or prev in _OPEN:
            glue[i] = True
        elif (
            tok in _JOIN
            and i + 1 < len(toks)
            and _WORD_END.search(prev)
            and _WORD_START.search(toks[i + 1])
        ):
            glue[i] = glue[i + 1] = True
    out: list[str] = []
    mapping = [0] * (len(text) + 1)
    pos_old = pos_new = 0
    for i, tok in enumerate(toks):
        if i:
            # the old separating space maps to the end of the previous token (an entity's end)
            mapping[pos_old] = pos_new
            if not glue[i]:
                out.append(" ")
                pos_new += 1
            pos_old += 1
        for k in range(len(tok)):
            mapping[pos_old + k] = pos_new + k
        out.append(tok)
        pos_old += len(tok)
        pos_new += len(tok)
    mapping[pos_old] = pos_new
    return "".join(out), mapping


def to_doc(
    nlp: Language,
    text: str,
    entities: Iterable[tuple[int, int, str]],
    counts: Counts,
    *,
    partial_names: bool = False,
    detok: bool = True,
) -> Doc:
    """A Doc of corpus ``text`` (detokenised unless ``detok`` is false) with ``entities``
    (char offsets into ``text``, label already mapped) as ``doc.ents`` and BIO tags.
    ``partial_names``: outside tokens with a capital or digit get a missing tag (for corpora
    that do not annotate every type)."""
    if detok:
        new_text, mapping = detokenize(text)
    else:
        new_text, mapping = text, list(range(len(text) + 1))
    doc = nlp.make_doc(new_text)
    spans: list[Span] = []
    for start, end, label in sorted(entities, key=lambda e: (-(e[1] - e[0]), e[0])):
        counts.entities += 1
        span = doc.char_span(mapping[start], mapping[end], label=label, alignment_mode="contract")
        if span is None or not span.text.strip():
            counts.misaligned += 1
            continue
        if any(s.start < span.end and span.start < s.end for s in spans):
            counts.overlapping += 1
            continue
        spans.append(span)
    spans.sort(key=lambda s: s.start)
    doc.set_ents(spans, default="outside")
    tags = ["O"] * len(doc)
    if partial_names:
        for tok in doc:
            if _NAMELIKE.search(tok.text):
                tags[tok.i] = ""
    for span in spans:
        counts.aligned += 1
        counts.labels[span.label_] += 1
        tags[span.start] = f"B-{span.label_}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label_}"
    for tok, tag in zip(doc, tags, strict=True):
        tok.tag_ = tag
    counts.docs += 1
    counts.tokens += len(doc)
    return doc


def _mapped(row: dict[str, Any], corpus: str, counts: Counts) -> list[tuple[int, int, str]]:
    out = []
    for e in row["entities"]:
        label = TYPE_MAP[corpus].get(e["type"])
        if label is None:
            counts.dropped_types[f"{corpus}:{e['type']}"] += 1
        else:
            out.append((int(e["start"]), int(e["end"]), label))
    return out


def convert_file(nlp: Language, path: Path, corpus: str, counts: Counts) -> list[Doc]:
    """Every document of one corpus file (SciERC, SciREX abstracts, TDMSci)."""
    return [
        to_doc(nlp, row["text"], _mapped(row, corpus, counts), counts,
               partial_names=corpus == "tdmsci")
        for row in read_jsonl(path)
    ]


def fulltext_sentences(
    rows: Iterable[dict[str, Any]], skip_texts: dict[str, str], counts: Counts
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """SciREX full texts as sentences with their entities (offsets into the sentence),
    skipping sentences of the paper's abstract (``skip_texts[id]``)."""
    out = []
    for row in rows:
        text = row["text"]
        ents = sorted(_mapped(row, "scirex", Counts()))
        skip = skip_texts.get(row["id"], "")
        bounds: list[tuple[int, int]] = []
        start = pos = 0
        toks = text.split(" ")
        for i, tok in enumerate(toks):
            end = pos + len(tok)
            if (tok in _SENT_END and i + 1 < len(toks)) or i + 1 == len(toks):
                bounds.append((start, end))
                start = end + 1
            pos = end + 1
        k = 0
        for s, e in bounds:
            mine: list[tuple[int, int, str]] = []
            while k < len(ents) and ents[k][0] < e:
                a, b, label = ents[k]
                if a >= s and b <= e:
                    mine.append((a - s, b - s, label))
                else:
                    counts.crossing += 1
                k += 1
            sentence = text[s:e]
            n = sentence.count(" ") + 1
            if not SENTENCE_TOKENS[0] <= n <= SENTENCE_TOKENS[1]:
                continue
            if skip and sentence in skip:
                continue
            out.append((sentence, mine))
    return out


def sample_fulltext(
    sentences: list[tuple[str, list[tuple[int, int, str]]]],
    budget: int = FULLTEXT_TOKENS,
    seed: int = 0,
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """A seeded sample of sentences up to ``budget`` corpus tokens, mostly with entities."""
    rng = random.Random(seed)
    with_ents = [s for s in sentences if s[1]]
    without = [s for s in sentences if not s[1]]
    rng.shuffle(with_ents)
    rng.shuffle(without)
    picked: list[tuple[str, list[tuple[int, int, str]]]] = []
    for pool, share in ((with_ents, 1 - FULLTEXT_EMPTY_SHARE), (without, FULLTEXT_EMPTY_SHARE)):
        used = 0
        for sent in pool:
            if used >= budget * share:
                break
            picked.append(sent)
            used += sent[0].count(" ") + 1
    rng.shuffle(picked)
    return picked


#: kgraph types -> model labels for silver labels (the model has no benchmark label)
SILVER_MAP = {
    "method": "METHOD", "dataset": "DATASET", "benchmark": "DATASET", "metric": "METRIC",
    "task": "TASK",
}


def corpus_abstracts(folder: Path, limit: int, skip: int = 0) -> Iterator[tuple[str, str]]:
    """(title, abstract) of ``folder/*.jsonl.gz``, files interleaved, in a fixed order."""
    with ExitStack() as stack:
        handles = [
            stack.enter_context(gzip.open(f, "rt", encoding="utf-8"))
            for f in sorted(folder.glob("*.jsonl.gz"))
        ]
        n = 0
        while handles and n < limit + skip:
            for fh in list(handles):
                line = fh.readline()
                if not line:
                    handles.remove(fh)
                    continue
                row = json.loads(line)
                if row.get("title") and row.get("abstract"):
                    n += 1
                    if n > skip:
                        yield " ".join(row["title"].split()), " ".join(row["abstract"].split())
                    if n >= limit + skip:
                        break


def silver_docs(
    shared: Path, nlp: Language, n: int, exclude_titles: set[str], counts: Counts, skip: int
) -> list[Doc]:
    """Titles+abstracts of ``../shared/corpus`` labelled by kgraph's rules-only pipeline
    (every entity mention, benchmark as DATASET), papers in ``exclude_titles`` left out."""
    from ..evaluate import title_key
    from ..extract.pipeline import build_pipeline

    rules = build_pipeline(model=False)
    texts = [
        f"{title}\n\n{abstract}"
        for title, abstract in corpus_abstracts(shared / "corpus", n, skip)
        if title_key(title) not in exclude_titles
    ]
    out = []
    for doc in rules.pipe(texts, batch_size=256):
        ents = [
            (m.start, m.end, SILVER_MAP[e.type])
            for e in doc._.kg_entities or []
            if e.type in SILVER_MAP
            for m in e.mentions
        ]
        out.append(to_doc(nlp, doc.text, ents, counts, detok=False))
    return out


def build(
    shared: Path,
    nlp: Language,
    fulltext_tokens: int = FULLTEXT_TOKENS,
    seed: int = 0,
    silver: int = 0,
    exclude_titles: set[str] | None = None,
) -> tuple[list[Doc], list[Doc], dict[str, dict[str, Any]]]:
    """The training and dev Docs, and per-source counts. ``silver``: add that many corpus
    abstracts labelled by the rules (:func:`silver_docs`)."""
    data = shared / "data"
    stats: dict[str, Counts] = {}
    train: list[Doc] = []
    dev: list[Doc] = []
    for name, path, corpus, target in (
        ("scierc_train", data / "scierc" / "scierc_train.jsonl", "scierc", train),
        ("scirex_abstract_train", data / "scirex" / "scirex_abstract_train.jsonl", "scirex",
         train),
        ("tdmsci_train", data / "tdmsci" / "tdmsci_train.jsonl", "tdmsci", train),
        ("scierc_dev", data / "scierc" / "scierc_dev.jsonl", "scierc", dev),
        ("scirex_abstract_dev", data / "scirex" / "scirex_abstract_dev.jsonl", "scirex", dev),
    ):
        counts = stats.setdefault(name, Counts())
        target.extend(convert_file(nlp, path, corpus, counts))
    if fulltext_tokens > 0:
        counts = stats.setdefault("scirex_fulltext_train", Counts())
        abstracts = {
            row["id"]: row["text"]
            for row in read_jsonl(data / "scirex" / "scirex_abstract_train.jsonl")
        }
        sentences = fulltext_sentences(
            read_jsonl(data / "scirex" / "scirex_fulltext_train.jsonl.gz"), abstracts, counts
        )
        for text, ents in sample_fulltext(sentences, fulltext_tokens, seed):
            train.append(to_doc(nlp, text, ents, counts))
    if silver > 0:
        counts = stats.setdefault("silver_corpus", Counts())
        docs = silver_docs(
            shared, nlp, silver + SILVER_DEV, exclude_titles or set(), counts, SILVER_SKIP
        )
        # the dev set gets silver abstracts too, so that selection does not favour the
        # public corpora's annotation style alone
        dev.extend(docs[:SILVER_DEV])
        train.extend(docs[SILVER_DEV:])
        random.Random(seed).shuffle(train)
    return train, dev, {k: v.to_dict() for k, v in stats.items()}


def write(docs: list[Doc], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=False).to_disk(path)


def main(argv: list[str] | None = None) -> int:
    from .component import training_nlp

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--shared", type=Path, default=Path("../shared"), help="the shared folder")
    ap.add_argument("-o", "--output", type=Path, required=True, help="folder for the .spacy files")
    ap.add_argument("--fulltext-tokens", type=int, default=FULLTEXT_TOKENS)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    train, dev, stats = build(args.shared, training_nlp(), args.fulltext_tokens, args.seed)
    write(train, args.output / "train.spacy")
    write(dev, args.output / "dev.spacy")
    json.dump(stats, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
