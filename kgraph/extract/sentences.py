"""Sentence starts: spaCy's rule-based sentencizer, made fast, and the title break.

- ``kgraph_sentencizer``: the boundaries of spaCy's ``sentencizer`` (a token that is not
  punctuation, after a token in ``punct_chars`` such as ``.``, ``!``, ``?``, starts a sentence),
  read from the shared :class:`~kgraph.extract.view.TokenView` and written with one
  ``Doc.from_array`` call instead of one Python step per token. Same configuration
  (``punct_chars``, ``overwrite``), same output.
- ``kgraph_sections``: the title is a sentence of its own: the token after the blank line
  starts a sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress

from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

from .view import TokenView

#: spaCy's default sentence-final characters
PUNCT_CHARS: frozenset[str] = frozenset(Sentencizer.default_punct_chars)


def sentence_starts(doc: Doc, v: TokenView, punct_chars: frozenset[str] = PUNCT_CHARS) -> list[int]:
    """Token indices that start a sentence by spaCy's ``Sentencizer`` rule: the first token,
    and the first token that is neither punctuation (``Token.is_punct``) nor in
    ``punct_chars`` after one in ``punct_chars``."""
    if not v.n:
        return []
    text, n = v.text, v.n
    starts = [0]
    scanned = 0  # tokens before this index are decided
    for hit in compress(range(n), map(punct_chars.__contains__, text)):
        if hit < scanned:
            continue  # inside a run of punctuation already scanned
        j = hit + 1
        while j < n and (text[j] in punct_chars or doc[j].is_punct):
            j += 1
        if j < n:
            starts.append(j)
        scanned = j
    return starts


class FastSentencizer:
    """spaCy's ``Sentencizer`` (same rule, same ``punct_chars`` and ``overwrite``), reading the
    shared token view: a token already marked as a sentence start or not keeps its mark unless
    ``overwrite``."""

    def __init__(self, punct_chars: Iterable[str] | None = None, overwrite: bool = False) -> None:
        self.punct_chars = frozenset(punct_chars) if punct_chars else PUNCT_CHARS
        self.overwrite = overwrite

    def __call__(self, doc: Doc) -> Doc:
        v = TokenView.of(doc)
        if not v.n:
            return doc
        values = [-1] * v.n
        starts = sentence_starts(doc, v, self.punct_chars)
        for i in starts:
            values[i] = 1
        # (a new doc only has its first token marked, as a start: nothing to keep)
        fresh = v.sent[0] == 1 and v.sent.count(0) == v.n - 1
        if not self.overwrite and not fresh:
            values = [old or new for old, new in zip(v.sent, values, strict=True)]
            v.set_sent_starts(doc, values)
        else:
            v.set_sent_starts(doc, values, starts)
        return doc


@Language.factory("kgraph_sentencizer", default_config={"punct_chars": None, "overwrite": False})
def make_sentencizer(
    nlp: Language, name: str, punct_chars: list[str] | None, overwrite: bool
) -> FastSentencizer:
    """Factory for ``nlp.add_pipe("kgraph_sentencizer")``."""
    return FastSentencizer(punct_chars, overwrite)


@Language.component("kgraph_sections")
def sections(doc: Doc) -> Doc:
    """The title is a sentence of its own: the token after the blank line starts a sentence."""
    v = TokenView.of(doc)
    i = v.title_end  # the token after the first blank line (n when there is none or it ends)
    if i < v.n:
        doc[i].is_sent_start = True
        v.sent[i] = 1
        v.sent_start[i] = True
        v.sentenced = True
    return doc
