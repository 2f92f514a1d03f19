"""The ``kgraph_model`` pipeline component: the trained span tagger, as span candidates.

The shipped model (``kgraph/data/model``, built by :mod:`kgraph.model.train`) is a spaCy
pipeline with one ``tagger`` whose tags are BIO entity tags (``B-METHOD``, ``I-METHOD``, ...,
``O``) over a small hash-embedding CNN (its own tok2vec inside). A tagger rather than spaCy's
transition-based ``ner``: same features, about three times faster on CPU (one softmax per
token instead of a transition per token), which keeps the whole pipeline near its speed target.

``kgraph_model`` runs that tagger on our docs (batched in ``pipe``), decodes the tags into
spans and writes them to ``doc.spans["model"]`` with lowercase kgraph types (method, task,
metric, dataset); ``doc.ents`` and ``token.tag_`` are left alone. The span group's
``attrs["scores"]`` holds each span's mean tag probability, and ``doc._.model_type_probs``
each token's probability of each type (for typing candidates found by other components).
The assembler (``kgraph_entities``) takes these spans as candidates of source ``"model"``.

This module also registers what the model's config refers to: the ``kgraph.Tokenizer.v1``
tokenizer (``make_nlp()``'s) and the ``kgraph.bio_scorer.v1`` span scorer used in training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from typing import Any, cast

import numpy
import spacy
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, SPACY
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.util import compile_infix_regex, compile_suffix_regex, registry

from ..extract.lexicon import load_lexicon
from ..extract.patterns import name_shaped
from ..extract.urls import doc_text
from . import LABELS, MODEL_DIR

SPANS_KEY = "model"
#: ``doc._.model_type_probs``: per token, the model's probability of each of :data:`LABELS`
#: (B- and I- tags summed; the rest is "outside"), float32 array (len(doc), 4)
if not Doc.has_extension("model_type_probs"):
    Doc.set_extension("model_type_probs", default=None)
#: the name of the tagger in the trained pipeline
TAGGER = "tagger"


def create_tokenizer() -> Callable[[Language], Tokenizer]:
    """spaCy's English tokenizer with kgraph's tweaks (the tokenizer of ``make_nlp()``)."""

    def make(nlp: Language) -> Tokenizer:
        from ..extract.pipeline import EXTRA_INFIXES, EXTRA_SUFFIXES

        tokenizer: Tokenizer = registry.tokenizers.get("spacy.Tokenizer.v1")()(nlp)
        suffixes = cast(list[str], nlp.Defaults.suffixes)
        infixes = cast(list[str], nlp.Defaults.infixes)
        tokenizer.suffix_search = compile_suffix_regex([*suffixes, *EXTRA_SUFFIXES]).search
        tokenizer.infix_finditer = compile_infix_regex([*infixes, *EXTRA_INFIXES]).finditer
        return tokenizer

    return make


registry.tokenizers.register("kgraph.Tokenizer.v1", func=create_tokenizer)


def training_nlp() -> Language:
    """A blank English pipeline with kgraph's tokenizer (for converting the corpora)."""
    return spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "kgraph.Tokenizer.v1"}}})


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """``["B-TASK", "I-TASK", "O", "I-METHOD"]`` -> ``[(0, 2, "TASK"), (3, 4, "METHOD")]``.

    An ``I-`` tag that does not continue a span of its label starts one; anything else
    (``O``, empty, unknown) ends the open span.
    """
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and start >= 0 and tag[2:] == label:
            continue
        if start >= 0:
            spans.append((start, i, label))
            start, label = -1, ""
        if tag.startswith(("B-", "I-")):
            start, label = i, tag[2:]
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans


def _tag_spans(doc: Doc, attr: str = "ents") -> list[Span]:
    return [Span(doc, s, e, label=label) for s, e, label in bio_spans([t.tag_ for t in doc])]


def make_bio_scorer() -> Callable[..., dict[str, Any]]:
    """Span P/R/F1 of the BIO tags (``ents_p``, ``ents_r``, ``ents_f``, ``ents_per_type``)."""
    return score_bio


def score_bio(examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
    kwargs.pop("getter", None)
    scores: dict[str, Any] = Scorer.score_spans(examples, "ents", getter=_tag_spans, **kwargs)
    return scores


registry.scorers.register("kgraph.bio_scorer.v1", func=make_bio_scorer)


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> Language:
    """The trained pipeline (cached): from the package unless ``path`` is given."""
    return spacy.load(path or MODEL_DIR)


#: what ``kgraph_model`` writes to ``doc.spans["model"]``
CANDIDATE_MODES = ("new-names", "all")


@Language.factory(
    "kgraph_model",
    default_config={
        "path": None,
        "spans_key": SPANS_KEY,
        "batch_size": 256,
        "threshold": 0.0,
        "candidates": "new-names",
    },
)
def make_model_component(
    nlp: Language,
    name: str,
    path: str | None,
    spans_key: str,
    batch_size: int,
    threshold: float,
    candidates: str,
) -> ModelSpans:
    return ModelSpans(nlp, path, spans_key, batch_size, threshold, candidates)


class ModelSpans:
    """Runs the trained tagger and writes its spans to ``doc.spans[spans_key]``.

    ``candidates``: ``"all"`` writes every predicted span (cleaned, see :func:`_clean`);
    ``"new-names"`` (default) only those that contain a name-shaped token (``BERT``,
    ``ToolCoder``, ``NW-UCLA``; :func:`kgraph.extract.patterns.name_shaped`) and overlap no
    span an earlier component proposed (any other ``doc.spans`` group: gazetteer, patterns,
    abbreviations, urls). Measured on ``../shared/eval/dev-gold.jsonl``, only ~7% of the
    model-only spans are entities of the right type by the spec's standard (SciERC/SciREX
    label descriptive phrases such as "training method" or "multi-agent collaboration"), and a
    model span that overlaps a rule candidate replaces it in the assembler when longer, so
    "all" needs the assembler to filter (see ``kgraph/model/README.md``).
    """

    def __init__(
        self,
        nlp: Language,
        path: str | None = None,
        spans_key: str = SPANS_KEY,
        batch_size: int = 256,
        threshold: float = 0.0,
        candidates: str = "new-names",
    ) -> None:
        if candidates not in CANDIDATE_MODES:
            raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, not {candidates!r}")
        self.candidates = candidates
        lexicon = load_lexicon()
        self.not_names: frozenset[str] = lexicon.get("not_names", frozenset())
        trained = load_model(path)
        tagger: Any = trained.get_pipe(TAGGER)
        self.tagger = tagger
        #: the tagger outputs logits unless its config normalises them
        self.logits = not trained.config["components"][TAGGER]["model"].get("normalize", False)
        self.tags: list[str] = list(tagger.labels)
        #: tag id -> (is an I- tag, label); the id of O
        self.tag_kind = [(t.startswith("I-"), t[2:]) for t in self.tags]
        self.outside = self.tags.index("O")
        #: tag -> label matrix: (n_tags, n_labels), 1 where the tag is B-/I- of the label
        self.type_matrix = numpy.zeros((len(self.tags), len(LABELS)), dtype="float32")
        for i, tag in enumerate(self.tags):
            if tag[2:] in LABELS:
                self.type_matrix[i, LABELS.index(tag[2:])] = 1.0
        self.spans_key = spans_key
        self.batch_size = batch_size
        #: spans whose mean tag probability is below this are dropped
        self.threshold = threshold
        #: "-based", "-powered": a name before them does not take them
        self.suffixes: frozenset[str] = lexicon.get("name_suffixes", frozenset())
        for label in LABELS:
            nlp.vocab.strings.add(label.lower())

    def __call__(self, doc: Doc) -> Doc:
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        size = batch_size or self.batch_size
        docs = iter(stream)
        while batch := list(islice(docs, size)):
            self._annotate(batch)
            yield from batch

    def _decode(self, best: numpy.ndarray) -> list[tuple[int, int, str]]:
        """:func:`bio_spans` of the tag ids, looking only at the tokens not tagged O."""
        spans: list[tuple[int, int, str]] = []
        start, label, last = -1, "", -1
        for i in numpy.flatnonzero(best != self.outside).tolist():
            is_inside, lab = self.tag_kind[int(best[i])]
            if is_inside and start >= 0 and last == i - 1 and lab == label:
                last = i
                continue
            if start >= 0:
                spans.append((start, last + 1, label))
            start, label, last = i, lab, i
        if start >= 0:
            spans.append((start, last + 1, label))
        return spans

    def _name(self, token: str) -> bool:
        return token not in self.not_names and name_shaped(token, self.not_names)

    def _taken(self, doc: Doc) -> numpy.ndarray:
        """Tokens inside a span of another component (a boolean mask)."""
        return _taken_tokens(doc, self.spans_key)

    def _annotate(self, docs: list[Doc]) -> None:
        todo = [d for d in docs if len(d)]
        for doc in docs:
            if not len(doc):
                self._write(doc, [], [])
                doc._.model_type_probs = numpy.zeros((0, len(LABELS)), dtype="float32")
        if not todo:
            return
        probs = self.tagger.model.predict(todo)
        for doc, p in zip(todo, probs, strict=True):
            p = numpy.asarray(p)
            if self.logits:
                p = numpy.exp(p - p.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
            best = p.argmax(axis=1)
            best_p = p[numpy.arange(len(best)), best]
            doc._.model_type_probs = p @ self.type_matrix
            spans: list[Span] = []
            scores: list[float] = []
            predicted = self._decode(best)
            if not predicted:
                self._write(doc, [], [])
                continue
            view = _View(doc)
            cum = numpy.concatenate(([0.0], numpy.cumsum(best_p))).tolist()
            taken = self._taken(doc).tolist() if self.candidates == "new-names" else None
            for start, end, label in predicted:
                for s, e in _clean(view, start, end, self.suffixes):
                    score = (cum[e] - cum[s]) / (e - s)
                    if score < self.threshold:
                        continue
                    if taken is not None and (
                        any(taken[s:e])
                        or not any(self._name(view.text(k)) for k in range(s, e))
                    ):
                        continue
                    spans.append(Span(doc, s, e, label=label.lower()))
                    scores.append(score)
            self._write(doc, spans, scores)

    def _write(self, doc: Doc, spans: list[Span], scores: list[float]) -> None:
        group = SpanGroup(doc, name=self.spans_key, spans=spans)
        group.attrs["scores"] = scores
        doc.spans[self.spans_key] = group


#: punctuation that separates words even with no space around it
_SEPARATORS = frozenset(",;:!?()[]{}\"'“”‘’") | {".", "'s", "’s", "...", "…"}


class _View:
    """The token attributes the span cleaning reads, as Python lists (``doc[i]`` is slow)."""

    __slots__ = ("full", "idx", "length", "n", "punct", "space", "ws")

    def __init__(self, doc: Doc) -> None:
        arr = doc.to_array([IDX, LENGTH, IS_PUNCT, IS_SPACE, SPACY])
        self.full: str = doc_text(doc)
        self.idx: list[int] = arr[:, 0].tolist()
        self.length: list[int] = arr[:, 1].tolist()
        self.punct: list[bool] = arr[:, 2].astype(bool).tolist()
        self.space: list[bool] = arr[:, 3].astype(bool).tolist()
        self.ws: list[bool] = arr[:, 4].astype(bool).tolist()
        self.n = len(doc)

    def text(self, i: int) -> str:
        a = self.idx[i]
        return self.full[a : a + self.length[i]]

    def joined(self, i: int) -> bool:
        """Tokens ``i`` and ``i + 1`` are one word ("low-level", "GPT-4o", "e-commerce")."""
        return (
            not self.ws[i]
            and not self.space[i]
            and not self.space[i + 1]
            and self.text(i) not in _SEPARATORS
            and self.text(i + 1) not in _SEPARATORS
        )


def _taken_tokens(doc: Doc, skip: str) -> numpy.ndarray:
    mask = numpy.zeros(len(doc), dtype=bool)
    for key, group in doc.spans.items():
        if key == skip:
            continue
        for span in group:
            mask[span.start : span.end] = True
    return mask


def _clean(
    v: _View, start: int, end: int, suffixes: frozenset[str] = frozenset()
) -> list[tuple[int, int]]:
    """A predicted span made a clean candidate: split at whitespace tokens (the title/abstract
    break), cut at an unclosed bracket, trimmed of edge punctuation (a final ")" stays when the
    span opened one), and snapped to whole words: a span starting or ending inside a word
    ("level tasks" in "low-level tasks") takes the whole word, except a trailing hyphenated
    suffix in ``suffixes`` ("BERT" in "BERT-based"). Empty pieces are dropped."""
    pieces: list[tuple[int, int]] = []
    s = start
    n = v.n
    for i in range(start, end + 1):
        if i < end and not v.space[i]:
            continue
        a, b = s, i
        s = i + 1
        while a < b and v.punct[a]:
            a += 1
        # "automatic speech recognition (ASR": cut at an unclosed bracket
        texts = [v.text(k) for k in range(a, b)]
        if "(" in texts:
            for k, t in enumerate(texts):
                if t == "(" and ")" not in texts[k + 1 :]:
                    b = a + k
                    break
        while b > a and v.punct[b - 1]:
            if v.text(b - 1) == ")" and "(" in texts[: b - 1 - a]:
                break
            b -= 1
        if a >= b:
            continue
        while a > 0 and v.joined(a - 1):
            a -= 1
        if b < n and v.joined(b - 1):
            rest = b
            while rest < n and v.joined(rest - 1):
                rest += 1
            tail = [v.text(k).lower() for k in range(b, rest)]
            if not (len(tail) == 2 and tail[0] == "-" and tail[1] in suffixes):
                b = rest
        while a < b and v.punct[a]:
            a += 1
        if a < b and (not pieces or pieces[-1][1] <= a):
            pieces.append((a, b))
    return pieces
