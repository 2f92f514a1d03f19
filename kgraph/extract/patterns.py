"""Rule patterns for names no list can know, as a spaCy component (``kgraph_patterns``).

It writes candidate spans to ``doc.spans["patterns"]``; the label is the entity type the rule
implies (``method``, ``task``, ``metric``...) or ``name`` when only the context can type it, and
``kb_id_`` names the rule that fired:

- ``name``: CamelCase, ALL-CAPS, letter+digit and ``++`` tokens (``RegMean++``, ``GPT-4o``,
  ``NesyCD``), joined across hyphens (``MS-COCO``, ``3DSAM-adapter``), with a following size
  (``Llama-2 7B``) and preceding capitalised words (``Neural PG-RANK``);
- ``capitalised``: runs of two or more capitalised words inside an abstract sentence
  (``Matbench Discovery``, ``Stable Diffusion``);
- ``title``: the name before ``:`` in the title (``SWE-RL: Advancing ...``);
- ``phrase``: lowercase noun phrases ending in a task, method or metric head word
  (``few-shot relation classification``, ``contrastive learning``, ``word error rate``).

Word lists live in ``kgraph/data/lexicon.jsonl``.
"""

from __future__ import annotations

import re
from typing import NamedTuple, cast

from spacy.attrs import IDX, IS_SPACE, LENGTH, SENT_START, SPACY
from spacy.language import Language
from spacy.tokens import Doc, Span

from .lexicon import load_lexicon
from .urls import doc_text

_LETTER_DIGIT = re.compile(r"[A-Za-z].*\d|\d.*[A-Za-z]")
_LOWER_UPPER = re.compile(r"[a-z][A-Z]")
_PARTS = re.compile(r"[-_/.]")


def name_shaped(t: str, not_names: frozenset[str] = frozenset()) -> bool:
    """A token that looks like a proper name of a model, dataset or metric.

    Letters and digits (``T5``, ``Llama-2``), ``++`` (``RegMean++``), or a hyphen part with a
    capital after a lowercase letter (``RegMean``, ``eCeLLM``) or two capitals (``CHGNet``,
    ``BERT``, ``TED-Adapter``) that is not itself a common acronym (``Human-AI``).
    """
    if not any(c.isalpha() for c in t):
        return False
    if t.endswith("++") or _LETTER_DIGIT.search(t):
        return True
    for part in _PARTS.split(t):
        if _LOWER_UPPER.search(part):
            return True
        caps = sum(c.isupper() for c in part)
        if caps >= 2 and part not in not_names and part.rstrip("s") not in not_names:
            return True
    return False


_SIZE = re.compile(r"^\d+(?:\.\d+)?[BMKbmk]$|^v?\d+(?:\.\d+)+$")
_CAPITALISED = re.compile(r"^[A-Z][a-z]+(?:-[A-Za-z]+)*$")
_LIST_SEPARATORS = {",", ">", "<", "and", "or", "vs", "vs.", "/", ";"}
_CONNECTORS = {"-", "/", ".", "_", "++", "+"}
_NUMBERISH = re.compile(
    r"^[\d.,%]+[a-z]?$|^\d+(st|nd|rd|th|x|X|k|K|M|B)$|^\d+(\.\d+)?[xX]$|^\d[dD]$"
)
_JUNK = re.compile(r"[(){}\[\]^\\<>=|/$]")
_MODIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9\-]*$")
_PUNCT = set(",.;:!?()[]{}\"'")


class Word(NamedTuple):
    """A run of tokens with no space between them (``out-of-distribution`` is one word)."""

    start: int  #: first token index
    end: int  #: one past the last token index
    text: str


_LAST_VIEW: dict[str, object] = {}




class TokenView:
    """Plain Python lists of what the rules read about each token (indexing a Doc is slow)."""

    __slots__ = (
        "doc_text",
        "idx",
        "lower",
        "n",
        "newline_after",
        "sent_start",
        "space",
        "text",
        "ws",
    )

    def __init__(self, doc: Doc) -> None:
        full = self.doc_text = doc_text(doc)
        rows = doc.to_array([IDX, LENGTH, SPACY, IS_SPACE, SENT_START]).tolist() if len(doc) else []
        self.idx: list[int] = [r[0] for r in rows]
        self.text: list[str] = [full[r[0] : r[0] + r[1]] for r in rows]
        self.ws = [" " if r[2] else "" for r in rows]
        self.space = [bool(r[3]) for r in rows]
        self.sent_start = [r[4] == 1 for r in rows]
        self.lower = [t.lower() for t in self.text]
        self.n = len(self.text)
        # a blank line (title | abstract) breaks a phrase; a wrapped line does not
        space, text = self.space, self.text
        self.newline_after = [
            i + 1 < self.n and space[i + 1] and "\n\n" in text[i + 1] for i in range(self.n)
        ]

    @classmethod
    def of(cls, doc: Doc) -> TokenView:
        """The view of ``doc``, built once for all the components that read it in a row."""
        cached = _LAST_VIEW.get("view")
        if cached is not None and _LAST_VIEW.get("doc") is doc:
            return cast(TokenView, cached)
        view = cls(doc)
        _LAST_VIEW["doc"], _LAST_VIEW["view"] = doc, view
        return view

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets of tokens ``start`` to ``end`` (exclusive)."""
        return self.idx[start], self.idx[end - 1] + len(self.text[end - 1])

    def span_text(self, start: int, end: int) -> str:
        return (
            "".join(self.text[i] + self.ws[i] for i in range(start, end - 1)) + self.text[end - 1]
        )


def words_of(doc: Doc, view: TokenView | None = None) -> list[Word]:
    """Split ``doc`` into whitespace-delimited words, punctuation at their edges kept apart."""
    v = view or TokenView(doc)
    text, ws, space = v.text, v.ws, v.space
    out: list[Word] = []
    i = 0
    n = v.n
    while i < n:
        if space[i] or text[i] in _PUNCT:
            i += 1
            continue
        j = i + 1
        while j < n and not ws[j - 1] and not space[j] and text[j] not in _PUNCT:
            j += 1
        # a trailing connector ("RegMean-") is not part of the word
        while j - 1 > i and text[j - 1] in _CONNECTORS:
            j -= 1
        out.append(Word(i, j, "".join(text[i:j]) if j - i > 1 else text[i]))
        i = j
    return out


@Language.factory("kgraph_patterns", default_config={"lexicon": None})
def make_patterns(nlp: Language, name: str, lexicon: str | None) -> PatternFinder:
    return PatternFinder(load_lexicon(lexicon))


class PatternFinder:
    def __init__(self, lexicon: dict[str, frozenset[str]]) -> None:
        self.lex = lexicon
        self.not_names = lexicon["not_names"]
        self.non_modifiers = lexicon["non_modifiers"]
        self.generic = lexicon["generic_names"]
        self.ed_ok = lexicon["supervision_adjectives"]
        self.ing_ok = lexicon["ing_modifiers"]
        self.proper_modifiers = lexicon["proper_modifiers"]
        self.name_suffixes = lexicon["name_suffixes"]
        self.heads = {
            **{w: "metric" for w in lexicon["metric_heads"]},
            **{w: "method" for w in lexicon["method_heads"]},
            **{w: "task" for w in lexicon["task_heads"]},
        }
        self._name_cache: dict[str, bool] = {}
        self._mod_cache: dict[str, bool] = {}

    def __call__(self, doc: Doc) -> Doc:
        v = TokenView.of(doc)
        words = words_of(doc, v)
        title_end = title_end_of(v)
        found: list[tuple[int, int, str, str]] = []
        found += self._names(v, words, title_end)
        found += self._capitalised(v, words, title_end)
        found += self._title_prefix(v, title_end)
        found += self._phrases(v, words, title_end)
        doc.spans["patterns"] = [
            Span(doc, a, b, label=lab, kb_id=rule) for a, b, lab, rule in found
        ]
        return doc

    # -- names ---------------------------------------------------------------------------------
    def is_name(self, t: str) -> bool:
        hit = self._name_cache.get(t)
        if hit is None:
            hit = self._name_cache[t] = self._is_name(t)
        return hit

    def _is_name(self, t: str) -> bool:
        if len(t) < 2 or t in self.not_names or t.rstrip("s") in self.not_names:
            return False
        if t.startswith(("http", "www.", "non-", "Non-")):
            return False
        if "@" in t and not t.lower().startswith(("pass@", "recall@", "hits@", "precision@", "r@")):
            return False
        if _NUMBERISH.match(t) or _JUNK.search(t):
            return False
        return name_shaped(t, self.not_names)

    def _names(
        self, v: TokenView, words: list[Word], title_end: int
    ) -> list[tuple[int, int, str, str]]:
        out = []
        for k, w in enumerate(words):
            if not self.is_name(w.text):
                continue
            start, end = w.start, w.end
            # "ChatGPT-powered" -> "ChatGPT", "OpenAI's" -> "OpenAI"
            while (
                end - start >= 3
                and v.text[end - 2] == "-"
                and v.lower[end - 1] in self.name_suffixes
            ):
                end -= 2
            if end - start >= 2 and v.lower[end - 1] in ("'s", "’s"):
                end -= 1
            # a size or version right after: "Llama-2 7B", "wav2vec 2.0"
            if (
                k + 1 < len(words)
                and _SIZE.match(words[k + 1].text)
                and _gap_is_space(v, w, words[k + 1])
            ):
                end = words[k + 1].end
            # capitalised words right before, inside an abstract sentence: "Neural PG-RANK"
            j = k - 1
            while (
                j >= 0
                and words[j].start >= title_end
                and _CAPITALISED.match(words[j].text)
                and _gap_is_space(v, words[j], words[j + 1])
                and not v.sent_start[words[j].start]
                and words[j].text.lower() not in self.non_modifiers
            ):
                start = words[j].start
                j -= 1
            out.append((start, end, "name", "name"))
        return out + self._listed_names(v, words, title_end)

    def _listed_names(
        self, v: TokenView, words: list[Word], title_end: int
    ) -> list[tuple[int, int, str, str]]:
        """A capitalised word listed between names is a name too: in "CHGNet > MEGNet >
        Wrenformer > BOWSR" or "BERT, Wrenformer and T5", Wrenformer is one."""
        out = []
        words = [w for w in words if w.text.lower() not in _LIST_SEPARATORS]
        for k in range(1, len(words) - 1):
            w = words[k]
            if (
                w.start < title_end
                or not _CAPITALISED.match(w.text)
                or "-" in w.text
                or v.sent_start[w.start]
                or w.text.lower() in self.non_modifiers
                or self.is_name(w.text)
            ):
                continue
            left, right = words[k - 1], words[k + 1]
            if (
                self.is_name(left.text)
                and self.is_name(right.text)
                and self._listed(v, left.end, w.start)
                and self._listed(v, w.end, right.start)
            ):
                out.append((w.start, w.end, "name", "name"))
        return out

    @staticmethod
    def _listed(v: TokenView, a: int, b: int) -> bool:
        """Only list separators between token ``a`` and token ``b``."""
        between = v.lower[a:b]
        return bool(between) and all(t in _LIST_SEPARATORS for t in between)

    def _capitalised(
        self, v: TokenView, words: list[Word], title_end: int
    ) -> list[tuple[int, int, str, str]]:
        out = []
        run: list[Word] = []
        for w in words:
            if w.start < title_end:
                continue
            ok = (
                _CAPITALISED.match(w.text) is not None
                and not v.sent_start[w.start]
                and w.text.lower() not in self.non_modifiers
            )
            if ok and run and _gap_is_space(v, run[-1], w):
                run.append(w)
                continue
            if len(run) >= 2:
                out.append((run[0].start, run[-1].end, "name", "capitalised"))
            run = [w] if ok else []
        if len(run) >= 2:
            out.append((run[0].start, run[-1].end, "name", "capitalised"))
        return out

    # -- title -----------------------------------------------------------------------------------
    def _title_prefix(self, v: TokenView, title_end: int) -> list[tuple[int, int, str, str]]:
        """The name before ":" in a title: a name-shaped word ("SWE-RL", "Online DPO") or one
        single word ("Satori"); a plain phrase ("On Scale", "Two at Once") is not a name."""
        for i in range(min(title_end, v.n, 8)):
            if v.text[i] not in (":", "--", "—"):
                continue
            if i == 0:
                return []
            text = v.span_text(0, i).strip("$ ")
            words = text.split()
            if not text or text.lower() in self.generic or len(words) > 4:
                return []
            namey = any(self.is_name(w.strip("$")) for w in words) or "$" in text
            single = (
                len(words) == 1
                and words[0][:1].isupper()
                and words[0].lower() not in self.non_modifiers
            )
            # "Matbench Discovery -- An evaluation framework ...": a short capitalised name
            # followed by "A/An ..." names the paper's own thing
            announced = (
                len(words) <= 3
                and all(w[:1].isupper() and w.lower() not in self.non_modifiers for w in words)
                and i + 1 < title_end
                and v.lower[i + 1] in ("a", "an")
            )
            if not (namey or single or announced):
                return []
            rest = set(v.lower[i + 1 : title_end])
            label = "name"
            if rest & {"benchmark", "leaderboard", "evaluation", "arena", "suite"}:
                label = "benchmark"
            elif rest & {"dataset", "corpus", "collection"}:
                label = "dataset"
            return [(0, i, label, "title")]
        return []

    # -- head phrases ----------------------------------------------------------------------------
    def modifier_ok(self, text: str) -> bool:
        hit = self._mod_cache.get(text)
        if hit is None:
            hit = self._mod_cache[text] = self._modifier_ok(text)
        return hit

    def _modifier_ok(self, text: str) -> bool:
        low = text.lower()
        if low in self.non_modifiers or not _MODIFIER.match(text):
            return False
        if low.endswith("ly") and low not in ("early", "weakly"):
            return False
        if low.endswith("ing") and low not in self.ing_ok and "-" not in low:
            return False
        # plural nouns and third-person verbs rarely sit inside a name ("allows", "entities")
        if low.endswith("s") and not low.endswith(("ss", "ics", "us", "is")) and "-" not in low:
            return False
        return not (
            low.endswith("ed")
            and low not in self.ed_ok
            and not low.endswith(("-based", "-augmented", "-supervised", "-guided", "-conditioned"))
        )

    def _phrases(
        self, v: TokenView, words: list[Word], title_end: int
    ) -> list[tuple[int, int, str, str]]:
        out = []
        heads = self.heads
        for k, w in enumerate(words):
            head = w.text.lower()
            kind = heads.get(head)
            if kind is None and "-" in head:
                kind = heads.get(head.rsplit("-", 1)[-1])
            if kind is None:
                continue
            in_title = w.start < title_end
            if w.text[0].isupper() and not in_title and not v.sent_start[w.start]:
                continue
            mods = 0
            start = w.start
            j = k - 1
            while j >= 0 and mods < 3 and _gap_is_space(v, words[j], words[j + 1]):
                m = words[j]
                if not self.modifier_ok(m.text):
                    break
                # capitals inside an abstract sentence belong to names, not to phrases
                if (
                    m.text[0].isupper()
                    and not m.text.isupper()
                    and m.start >= title_end
                    and not v.sent_start[m.start]
                    and m.text.lower() not in self.proper_modifiers
                ):
                    break
                start = m.start
                mods += 1
                j -= 1
            if mods == 0 and "-" not in head:
                continue
            out.append((start, w.end, kind, "phrase"))
        return out


def _gap_is_space(v: TokenView, left: Word, right: Word) -> bool:
    """True when only plain spaces separate two words (no punctuation, no line break)."""
    return right.start == left.end and not v.newline_after[left.end - 1]


def title_end_of(v: TokenView) -> int:
    """Index of the first token after the title (title and abstract are joined by a blank line)."""
    for i in range(v.n):
        if (v.space[i] and "\n\n" in v.text[i]) or "\n\n" in v.ws[i]:
            return i + 1
    return v.n
