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
from bisect import bisect_left
from itertools import compress
from operator import eq, gt, or_
from typing import NamedTuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from .lexicon import load_lexicon
from .view import TokenView, WordCache

__all__ = ["PatternFinder", "TokenView", "Word", "name_shaped", "title_end_of", "words_of"]

_LETTER_DIGIT = re.compile(r"[A-Za-z].*\d|\d.*[A-Za-z]")
_LOWER_UPPER = re.compile(r"[a-z][A-Z]")
_PARTS = re.compile(r"[-_/.]")


def name_shaped(t: str, not_names: frozenset[str] = frozenset()) -> bool:
    """A token that looks like a proper name of a model, dataset or metric.

    Letters and digits (``T5``, ``Llama-2``), ``++`` (``RegMean++``), or a hyphen part with a
    capital after a lowercase letter (``RegMean``, ``eCeLLM``) or two capitals (``CHGNet``,
    ``BERT``, ``TED-Adapter``) that is not itself a common acronym (``Human-AI``).
    """
    if not any(map(str.isalpha, t)):
        return False
    if t.endswith("++") or _LETTER_DIGIT.search(t):
        return True
    if t.islower():  # no capital letter: neither CamelCase nor capitals
        return False
    for part in _PARTS.split(t):
        if _LOWER_UPPER.search(part):
            return True
        caps = sum(map(str.isupper, part))
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


def _is_break(token: str) -> int:
    """1 for a token that is no part of a word (white space, punctuation), else 0."""
    return 1 if token.isspace() or token in _PUNCT else 0


#: :func:`_is_break` per token text
_BREAKS: WordCache[int] = WordCache(_is_break)


def _split_words(v: TokenView) -> tuple[list[int], list[int], list[str]]:
    """Word starts, ends and texts, token by token: the plain loop that :class:`Words` does
    with whole-number operations, used for the docs where a word of several tokens ends in a
    connector ("RegMean-")."""
    text, ws, n = v.text, v.ws, v.n
    #: white space and punctuation tokens are no part of a word; a break after the last token
    brk = list(map(or_, v.space, map(_PUNCT.__contains__, text)))
    brk.append(True)
    starts: list[int] = []
    ends: list[int] = []
    texts: list[str] = []
    i = 0
    while i < n:
        if brk[i]:
            i += 1
            continue
        j = i + 1
        if ws[i] or brk[j]:  # a word of one token, the usual case
            starts.append(i)
            ends.append(j)
            texts.append(text[i])
            i = j
            continue
        while not ws[j - 1] and not brk[j]:  # tokens with nothing between them
            j += 1
        # a trailing connector ("RegMean-") is not part of the word
        while j - 1 > i and text[j - 1] in _CONNECTORS:
            j -= 1
        starts.append(i)
        ends.append(j)
        texts.append(text[i] if j - i == 1 else "".join(text[i:j]))
        i = j
    return starts, ends, texts


class Words:
    """The words of a doc (see :func:`words_of`) as parallel lists, with what the rules ask of
    each word computed once: ``starts`` / ``ends`` (token indices), ``texts``, ``lowers``, and
    ``joined[k]``: words ``k`` and ``k + 1`` are separated by plain spaces only (no punctuation,
    no line break)."""

    __slots__ = ("ends", "joined", "lowers", "n", "starts", "texts")

    def __init__(self, v: TokenView) -> None:
        text, ws, n = v.text, v.ws, v.n
        # One byte per token (and one for the end), as big integers, so that the per-token
        # tests run as a few whole-number operations (byte i weighs 256**i; ``<< 8`` moves
        # each byte to the next token). White space and punctuation tokens are breaks, no
        # part of a word; after the last token comes a break.
        size = n + 1
        brk = int.from_bytes(bytes(map(_BREAKS.__getitem__, text)) + b"\x01", "little")
        space_after = int.from_bytes(bytes(ws), "little")
        word = brk ^ int.from_bytes(b"\x01" * size, "little")
        # a word starts at a word token after a break or a space (or at the first token), and
        # ends after a word token followed by a space or a break
        first = word & ((brk | space_after) << 8 | 1)
        last = word & (space_after | brk >> 8)
        starts = list(compress(range(n), first.to_bytes(size, "little")))
        ends = list(compress(range(1, size), last.to_bytes(size, "little")))
        texts = list(map(text.__getitem__, starts))
        lowers = list(map(v.lower.__getitem__, starts))
        inner = first & ~last  # first tokens of words of several tokens
        if inner:
            for i in compress(range(n), inner.to_bytes(size, "little")):
                k = bisect_left(starts, i)
                j = ends[k]
                if text[j - 1] in _CONNECTORS:  # "RegMean-": the connector is no part of it
                    starts, ends, texts = _split_words(v)
                    lowers = list(map(str.lower, texts))
                    break
                texts[k] = "".join(text[i:j])
                lowers[k] = texts[k].lower()
        self.starts, self.ends, self.texts = starts, ends, texts
        self.n = len(texts)
        self.lowers = lowers
        # only a space between them (no punctuation, no line break): word k ends where k + 1
        # starts (a line break would be a white-space token between them)
        self.joined = list(map(eq, ends, starts[1:]))

    def as_tuples(self) -> list[Word]:
        return [Word(*w) for w in zip(self.starts, self.ends, self.texts, strict=True)]


def words_of(doc: Doc, view: TokenView | None = None) -> list[Word]:
    """Split ``doc`` into whitespace-delimited words, punctuation at their edges kept apart."""
    return Words(view or TokenView.of(doc)).as_tuples()


#: a rule's hit: first token, end token, label, rule name
Hit = tuple[int, int, str, str]


@Language.factory("kgraph_patterns", default_config={"lexicon": None})
def make_patterns(nlp: Language, name: str, lexicon: str | None) -> PatternFinder:
    return PatternFinder(load_lexicon(lexicon))


class PatternFinder:
    """The ``kgraph_patterns`` component (see the module doc). Word-level facts (is it
    name-shaped, capitalised, a head word, a modifier) are cached per word text."""

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
        self._name_cache = WordCache(self._is_name)
        self._mod_cache = WordCache(self._modifier_ok)
        self._caps_cache = WordCache(lambda t: _CAPITALISED.match(t) is not None)
        self._kind_cache = WordCache(self._head_kind)

    def __call__(self, doc: Doc) -> Doc:
        v = TokenView.of(doc)
        w = Words(v)
        title_end = v.title_end
        names = list(map(self._name_cache.__getitem__, w.texts))
        caps = list(map(self._caps_cache.__getitem__, w.texts))
        found: list[Hit] = []
        found += self._names(v, w, title_end, names, caps)
        found += self._listed_names(v, w, title_end, names, caps)
        found += self._capitalised(v, w, title_end, caps)
        found += self._title_prefix(v, title_end)
        found += self._phrases(v, w, title_end)
        strings = doc.vocab.strings
        ids = {s: strings.add(s) for s in {x for hit in found for x in hit[2:]}}
        doc.spans["patterns"] = [
            Span(doc, a, b, label=ids[lab], kb_id=ids[rule]) for a, b, lab, rule in found
        ]
        v.keep_spans(doc, "patterns", [(a, b, lab, rule, "") for a, b, lab, rule in found])
        return doc

    # -- names ---------------------------------------------------------------------------------
    def is_name(self, t: str) -> bool:
        return self._name_cache[t]

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
        self, v: TokenView, w: Words, title_end: int, names: list[bool], caps: list[bool]
    ) -> list[Hit]:
        out = []
        text, lower, sent_start = v.text, v.lower, v.sent_start
        starts, ends, texts, lowers, joined = w.starts, w.ends, w.texts, w.lowers, w.joined
        for k in compress(range(w.n), names):
            start, end = starts[k], ends[k]
            # "ChatGPT-powered" -> "ChatGPT", "OpenAI's" -> "OpenAI"
            while (
                end - start >= 3 and text[end - 2] == "-" and lower[end - 1] in self.name_suffixes
            ):
                end -= 2
            if end - start >= 2 and lower[end - 1] in ("'s", "’s"):
                end -= 1
            # a size or version right after: "Llama-2 7B", "wav2vec 2.0"
            if k + 1 < w.n and _SIZE.match(texts[k + 1]) and joined[k]:
                end = ends[k + 1]
            # capitalised words right before, inside an abstract sentence: "Neural PG-RANK"
            j = k - 1
            while (
                j >= 0
                and starts[j] >= title_end
                and caps[j]
                and joined[j]
                and not sent_start[starts[j]]
                and lowers[j] not in self.non_modifiers
            ):
                start = starts[j]
                j -= 1
            out.append((start, end, "name", "name"))
        return out

    def _listed_names(
        self, v: TokenView, w: Words, title_end: int, names: list[bool], caps: list[bool]
    ) -> list[Hit]:
        """A capitalised word listed between names is a name too: in "CHGNet > MEGNet >
        Wrenformer > BOWSR" or "BERT, Wrenformer and T5", Wrenformer is one."""
        out: list[Hit] = []
        starts, ends, texts, lowers = w.starts, w.ends, w.texts, w.lowers
        sent_start = v.sent_start
        n = w.n
        separator = list(map(_LIST_SEPARATORS.__contains__, lowers))
        # capitalised words that are no names (nor separators), with a word on each side
        for k in compress(range(n), map(gt, caps, names)):
            if separator[k]:
                continue
            left = k - 1  # the nearest words on each side that are no separators
            while left >= 0 and separator[left]:
                left -= 1
            right = k + 1
            while right < n and separator[right]:
                right += 1
            if left < 0 or right == n:
                continue
            if (
                starts[k] < title_end
                or "-" in texts[k]
                or sent_start[starts[k]]
                or lowers[k] in self.non_modifiers
            ):
                continue
            if (
                names[left]
                and names[right]
                and self._listed(v, ends[left], starts[k])
                and self._listed(v, ends[k], starts[right])
            ):
                out.append((starts[k], ends[k], "name", "name"))
        return out

    @staticmethod
    def _listed(v: TokenView, a: int, b: int) -> bool:
        """Only list separators between token ``a`` and token ``b``."""
        between = v.lower[a:b]
        return bool(between) and all(t in _LIST_SEPARATORS for t in between)

    def _capitalised(self, v: TokenView, w: Words, title_end: int, caps: list[bool]) -> list[Hit]:
        """Runs of two or more capitalised words inside an abstract sentence."""
        out: list[Hit] = []
        starts, ends, lowers, joined = w.starts, w.ends, w.lowers, w.joined
        sent_start, non_modifiers = v.sent_start, self.non_modifiers
        first = last = -1  # the first and last word of the current run (-1: no run)
        for k in compress(range(w.n), caps):  # any other word ends a run
            if starts[k] < title_end:
                continue
            ok = not sent_start[starts[k]] and lowers[k] not in non_modifiers
            if ok and first >= 0 and last == k - 1 and joined[last]:
                last = k  # the run goes on
                continue
            if last > first >= 0:
                out.append((starts[first], ends[last], "name", "capitalised"))
            first = last = k if ok else -1
        if last > first >= 0:
            out.append((starts[first], ends[last], "name", "capitalised"))
        return out

    # -- title -----------------------------------------------------------------------------------
    def _title_prefix(self, v: TokenView, title_end: int) -> list[Hit]:
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
        return self._mod_cache[text]

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

    def _head_kind(self, low: str) -> str:
        """The type a lowercase head word implies ("" for none); a hyphenated word is judged by
        its last part ("self-supervision")."""
        kind = self.heads.get(low)
        if kind is None and "-" in low:
            kind = self.heads.get(low.rsplit("-", 1)[-1])
        return kind or ""

    def _phrases(self, v: TokenView, w: Words, title_end: int) -> list[Hit]:
        out: list[Hit] = []
        starts, ends, texts, lowers, joined = w.starts, w.ends, w.texts, w.lowers, w.joined
        sent_start, proper = v.sent_start, self.proper_modifiers
        modifier_ok = self._mod_cache.__getitem__
        kinds = list(map(self._kind_cache.__getitem__, lowers))
        for k in compress(range(w.n), kinds):
            head = lowers[k]
            if texts[k][0].isupper() and starts[k] >= title_end and not sent_start[starts[k]]:
                continue
            mods = 0
            start = starts[k]
            j = k - 1
            while j >= 0 and mods < 3 and joined[j]:
                m = texts[j]
                if not modifier_ok(m):
                    break
                # capitals inside an abstract sentence belong to names, not to phrases
                if (
                    m[0].isupper()
                    and not m.isupper()
                    and starts[j] >= title_end
                    and not sent_start[starts[j]]
                    and lowers[j] not in proper
                ):
                    break
                start = starts[j]
                mods += 1
                j -= 1
            if mods == 0 and "-" not in head:
                continue
            out.append((start, ends[k], kinds[k], "phrase"))
        return out


def title_end_of(v: TokenView) -> int:
    """Index of the first token after the title (title and abstract are joined by a blank line)."""
    return v.title_end
