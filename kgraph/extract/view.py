"""What the kgraph components read about a doc, computed once per doc and shared by all of them.

Reading a spaCy ``Doc`` token by token from Python is slow: ``doc[i]``, ``tok.text``,
``doc.text`` and ``doc.sents`` each build a ``Token`` (or ``Span``) object per access. The rule
components therefore read plain Python lists instead, built once per doc with one
``Doc.to_array`` call (:class:`TokenView`), and the doc's text, which kgraph's tokenizer
(:class:`KgraphTokenizer`) keeps in ``doc.user_data`` as it makes the doc (:func:`doc_text`).

The view lives outside the doc (a small cache of the last docs seen, :meth:`TokenView.of`): a
Python object in ``doc.user_data`` would stop docs from serialising (``Doc.to_bytes``,
``DocBin``). Components that change what the view holds (sentence starts) update the cached view
too; a component that changes sentence starts after a kgraph component has read the doc must
come before the kgraph components (spaCy's ``sentencizer``, ``senter`` and parser do).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable
from itertools import compress, pairwise
from typing import Any, Final, TypeVar, cast

import numpy
from spacy.attrs import IDX, ORTH, SENT_START, SPACY
from spacy.strings import StringStore
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, SpanGroup

#: ``doc.text`` joins every token (slow); kgraph components share it through ``doc.user_data``
TEXT_KEY: Final = "kgraph.text"


def doc_text(doc: Doc) -> str:
    """``doc.text``, computed once per doc and shared by the kgraph components.

    Docs made by :class:`KgraphTokenizer` already hold their text; others get it computed and
    stored on first use. The stored text is checked against the doc's length, so a doc whose
    tokens were changed since does not get a stale text.
    """
    text = doc.user_data.get(TEXT_KEY)
    if isinstance(text, str) and len(doc) and len(text) == doc[-1].idx + len(doc[-1].text_with_ws):
        return text
    text = doc.text
    doc.user_data[TEXT_KEY] = text
    return text


class KgraphTokenizer(Tokenizer):  # type: ignore[misc]  # spaCy's Cython class is untyped
    """spaCy's :class:`~spacy.tokenizer.Tokenizer` that keeps the text of each doc it makes in
    ``doc.user_data[TEXT_KEY]`` (a tokenizer never changes the text: ``doc.text == text``), so
    no component has to join the tokens again (see :func:`doc_text`)."""

    def __call__(self, text: str) -> Doc:
        doc = cast(Doc, super().__call__(text))
        doc.user_data[TEXT_KEY] = text
        return doc

    @classmethod
    def like(cls, tokenizer: Tokenizer) -> KgraphTokenizer:
        """A :class:`KgraphTokenizer` with the vocab, rules and affix patterns of ``tokenizer``."""
        return cls(
            tokenizer.vocab,
            rules=tokenizer.rules,
            prefix_search=tokenizer.prefix_search,
            suffix_search=tokenizer.suffix_search,
            infix_finditer=tokenizer.infix_finditer,
            token_match=tokenizer.token_match,
            url_match=tokenizer.url_match,
            faster_heuristics=tokenizer.faster_heuristics,
        )


_ATTRS: Final = [ORTH, SPACY, SENT_START, IDX]


class _OrthTexts(dict[int, str]):
    """Token text by orth id (a hash of the text, the same in every vocab): a dict lookup is
    cheaper than asking the string store each time; a missing text comes from ``strings``."""

    __slots__ = ("strings",)

    def __init__(self) -> None:
        super().__init__()
        self.strings: StringStore | None = None

    def __missing__(self, orth: int) -> str:
        if len(self) > _MAX_TEXTS:
            self.clear()
        text = self[orth] = cast(StringStore, self.strings)[orth]
        return text


#: bound on the cache (the vocab of a large corpus has millions of words)
_MAX_TEXTS: Final = 300_000
_TEXTS = _OrthTexts()


def _token_texts(doc: Doc, orth: list[int]) -> list[str]:
    """``[t.text for t in doc]`` from the doc's ``ORTH`` column."""
    _TEXTS.strings = doc.vocab.strings
    return list(map(_TEXTS.__getitem__, orth))


_T = TypeVar("_T")

#: a span as plain values: start token, end token, label, ``kb_id_``, ``id_``
SpanRow = tuple[int, int, str, str, str]


class WordCache(dict[str, _T]):
    """A per-word (per-string) cache of ``fn``: a missing key is computed and kept, so
    ``map(cache.__getitem__, words)`` runs at C speed for the words already seen. Emptied
    when it holds ``limit`` words (the vocabulary of a large corpus is unbounded)."""

    __slots__ = ("fn", "limit")

    def __init__(self, fn: Callable[[str], _T], limit: int = 200_000) -> None:
        super().__init__()
        self.fn = fn
        self.limit = limit

    def __missing__(self, key: str) -> _T:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.fn(key)
        return value


#: the views of the last docs seen, by ``id(doc)`` (each entry keeps its doc alive, so the id
#: cannot be reused while it is here); a batching component between kgraph's own (the model)
#: holds up to a batch of docs before the next component sees them
_VIEWS: dict[int, tuple[Doc, TokenView]] = {}
_MAX_VIEWS: Final = 512


class TokenView:
    """Plain Python lists of what the rules read about each token (indexing a Doc is slow).

    ``text`` / ``lower`` / ``ws`` (1 when a space follows) / ``idx`` / ``space`` (white-space
    token) / ``sent_start`` per token; ``title_end``: the first token after the title (the title
    and the abstract are joined by a blank line), ``n`` when there is no blank line.
    """

    __slots__ = (
        "_space",
        "_spans",
        "doc_text",
        "idx",
        "lower",
        "n",
        "sent",
        "sent_start",
        "sentenced",
        "text",
        "title_end",
        "ws",
    )

    def __init__(self, doc: Doc) -> None:
        self.doc_text = doc_text(doc)
        n = self.n = len(doc)
        if n:
            orth, spacy, sent, idx = doc.to_array(_ATTRS).T.tolist()
        else:
            orth = spacy = sent = idx = []
        text = self.text = _token_texts(doc, orth)
        #: 1 when a space follows the token (``Token.whitespace_``), else 0
        self.ws: list[int] = spacy
        #: ``Token.idx``
        self.idx: list[int] = idx
        self._space: list[bool] | None = None
        self._spans: dict[str, tuple[SpanGroup, int, list[SpanRow]]] = {}
        #: ``Token.sent_start`` as written in the doc: 1 starts a sentence, -1 does not, 0 unset
        if max(sent, default=0) > 1:  # -1 comes out of the uint64 array as 2**64 - 1
            sent = [s if s < 2 else -1 for s in sent]
        self.sent: list[int] = sent
        if n and sent[0] == 1 and sent.count(0) == n - 1:  # a new doc: only the first is set
            self.sent_start: list[bool] = [True, *[False] * (n - 1)]
            #: sentence starts are annotated (``doc.has_annotation("SENT_START")``)
            self.sentenced = n <= 1
        else:
            self.sent_start = list(map((1).__eq__, sent))
            self.sentenced = n <= 1 or any(sent[1:])
        self.lower: list[str] = list(map(str.lower, text))
        # the title and the abstract are joined by a blank line: the first white-space token
        # holding "\n\n" holds the first "\n\n" of the text (a token that is not white space
        # holds none), so it is found by a string search instead of a pass over the tokens
        title_end = n
        pos = self.doc_text.find("\n\n")
        if pos >= 0:
            k = bisect_right(idx, pos) - 1
            if k >= 0 and "\n\n" in text[k] and text[k].isspace():
                title_end = k + 1
            else:  # (not met: the token-by-token way)
                space = self.space
                title_end = next((i + 1 for i in compress(range(n), space) if "\n\n" in text[i]), n)
        self.title_end = title_end

    @property
    def space(self) -> list[bool]:
        """White-space tokens (``Token.is_space``), computed on first use."""
        space = self._space
        if space is None:
            space = self._space = list(map(str.isspace, self.text))
        return space

    @classmethod
    def of(cls, doc: Doc) -> TokenView:
        """The view of ``doc``, built once for all the components that read it."""
        entry = _VIEWS.get(id(doc))
        if entry is not None and entry[0] is doc and entry[1].n == len(doc):
            return entry[1]
        view = cls(doc)
        _VIEWS[id(doc)] = (doc, view)
        if len(_VIEWS) > _MAX_VIEWS:
            del _VIEWS[next(iter(_VIEWS))]  # the oldest
        return view

    @staticmethod
    def release(doc: Doc) -> None:
        """Forget the view of ``doc`` (the last kgraph component is done with it), so that
        the doc is freed as soon as its user drops it: a doc kept alive by the cache until
        512 more docs have come holds memory that a new doc would otherwise reuse while it is
        still in the CPU caches. A later reader builds the view again."""
        _VIEWS.pop(id(doc), None)  # (an entry keeps its doc alive: the id is this doc's)

    def set_sent_starts(self, doc: Doc, values: list[int], starts: list[int] | None = None) -> None:
        """Write ``Token.sent_start`` of every token (1, -1 or 0) to ``doc`` and to the view.

        ``starts``: the indices where ``values`` is 1, when the caller knows them (saves a pass
        over the tokens)."""
        # array("q") converts the ints in C, much faster than numpy.array(list)
        column = numpy.frombuffer(array("q", values), dtype=numpy.int64).view(numpy.uint64)
        doc.from_array([SENT_START], cast(Any, column))
        self.sent = values
        if starts is None:
            self.sent_start = list(map((1).__eq__, values))
        else:
            sent_start = self.sent_start = [False] * self.n
            for i in starts:
                sent_start[i] = True
        self.sentenced = self.n <= 1 or any(values[1:])

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets of tokens ``start`` to ``end`` (exclusive)."""
        return self.idx[start], self.idx[end - 1] + len(self.text[end - 1])

    def span_text(self, start: int, end: int) -> str:
        """The text of tokens ``start`` to ``end`` (exclusive), like ``doc[start:end].text``."""
        a, b = self.char_span(start, end)
        return self.doc_text[a:b]

    def keep_spans(self, doc: Doc, key: str, rows: list[SpanRow]) -> None:
        """Note that ``doc.spans[key]`` (just written) holds the spans ``rows``, so that a later
        component reads them from :meth:`span_rows` without making a ``Span`` of each."""
        group = doc.spans[key]
        if len(group) == len(rows):
            self._spans[key] = (group, len(rows), rows)
        else:
            self._spans.pop(key, None)

    def span_rows(self, doc: Doc, key: str) -> list[SpanRow] | None:
        """The spans of ``doc.spans[key]`` as ``(start, end, label, kb_id, id)`` rows, when a
        kgraph component wrote them (:meth:`keep_spans`) and that group is still in place with
        as many spans; else ``None`` (read the spans themselves). A component that changes
        spans of such a group in place, keeping their number, must come after the reader."""
        entry = self._spans.get(key)
        if entry is None:
            return None
        group, size, rows = entry
        spans = doc.spans
        if key in spans and spans[key] is group and len(group) == size:
            return rows
        return None

    def sentences(self, doc: Doc) -> list[tuple[int, int]]:
        """``[(s.start, s.end) for s in doc.sents]``, read from the view's sentence starts."""
        if not self.sentenced or "sents" in doc.user_hooks:
            return [(s.start, s.end) for s in doc.sents]  # raises like doc.sents when unset
        starts = list(compress(range(1, self.n), self.sent_start[1:]))
        bounds = [0, *starts, self.n] if self.n else []
        return list(pairwise(bounds))
