"""Abbreviation definitions: "long form (SHORT)" and "SHORT (long form)".

The matching is the algorithm of

    Ariel S. Schwartz and Marti A. Hearst. 2003. "A Simple Algorithm for Identifying
    Abbreviation Definitions in Biomedical Text." Pacific Symposium on Biocomputing 8:451-462.

written from the paper for spaCy docs (the component layout — candidates from parenthesis
pairs, results as doc extensions — follows the usual shape of spaCy abbreviation detectors
such as scispacy's ``AbbreviationDetector``; no code is shared with it).

Schwartz & Hearst in short
--------------------------
- Candidates come only from ``(`` … ``)`` token pairs in one sentence, with no bracket inside
  (at most ``MAX_PAREN_TOKENS`` tokens). spaCy's English tokenizer keeps ``(CNN)-based`` as
  ``(`` + ``CNN)-based``: such a glued ``)`` is no candidate unless the pipeline's tokenizer
  splits it (an infix ``(?<=[A-Za-z0-9])\\)(?=[-A-Za-z])`` does).
- "long form (SHORT)": the short form is the first piece of the parenthesis (before ``,`` or
  ``;``). It has at most two words and 2-10 characters, its first character is a letter or
  digit and it has a letter. The long form is looked for in the ``min(|A| + 5, 2|A|)`` words
  (``|A|`` = characters of the short form) before the parenthesis, never across a sentence
  start, a blank line, another bracket, ``:`` or ``;``.
- Matching runs right to left: each character of the short form (letters and digits only,
  case-insensitive) is found in the long form candidate, moving left; the first character must
  start a word. The long form then runs from the start of that white-space delimited word to the
  parenthesis (so ``self-supervised learning (SSL)`` keeps "self-").
- Pairs are kept only when the long form is longer than the short form, the short form is not a
  word of the long form, and the long form has at most ``min(|A| + 5, 2|A|)`` words (counting
  hyphenated parts).
- "SHORT (long form)": when the parenthesis holds no short form, or its short form matches
  nothing before it, the word before ``(`` is tried as the short form and the parenthesis as
  the long form, which must then match from its first word (after an optional a/an/the).

kgraph additions (ML abstracts, precision first)
------------------------------------------------
- A short form needs an upper-case letter and at least two upper-case letters or digits
  (``LLMs``, ``MoE``, ``RegMean``, ``3DGS``, ``kNN``) — "(Smith)", "(ours)" and the like are
  names or words, not abbreviations. Small roman numerals ("(II)") and maths ("(N=5)") are not.
- Plural short forms: a trailing lower-case ``s`` after an upper-case letter is ignored when
  matching (``large language models (LLMs)``).
- ``X^n`` in a short form stands for ``n`` times ``X`` (``Granular-GRPO (G^2RPO)``); other
  symbols (``RegMean++``, ``Step-APO``) are skipped when matching.
- Parentheses that open with a citation or pointer are skipped: ``e.g.``, ``i.e.``, ``cf.``,
  ``see``, ``Fig.``, ``Table``, ``Section``, ``Eq.``, and any holding ``et al`` or a year.
- A long form never starts with a lower-case determiner (a, an, the): a match that needs one
  is rejected.

Output
------
- ``doc._.abbreviations``: ``list[Abbreviation]``, one per definition site, in text order
  (``None`` before the component ran). A getter over token offsets kept in
  ``doc.user_data["kgraph.abbreviations"]``, so processed docs still serialise.
- ``doc._.abbreviation_map``: ``dict[str, str]`` short form as written -> long form (white space
  normalised to single spaces); the first definition of a short form wins.
- ``doc.spans["abbreviations"]``: every definition's long form (label ``"long"``) and short form
  (label ``"short"``), both with ``kb_id_`` = that definition's long form; and every other
  occurrence of a defined short form — the same characters starting and ending on token
  boundaries, or its plural/singular variant (``LLM`` / ``LLMs``) — labelled ``"short"`` with
  ``kb_id_`` = the long form of the map. Sorted by position.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Final

from spacy.language import Language
from spacy.tokens import Doc, Span

from .view import TokenView

__all__ = [
    "Abbreviation",
    "AbbreviationDetector",
    "definition_offsets",
    "find_abbreviations",
    "is_short_form",
    "make_abbreviation_detector",
    "match_long_form",
    "short_form_chars",
]

LONG: Final = "long"
SHORT: Final = "short"


#: longest parenthesis looked at, in tokens
MAX_PAREN_TOKENS: Final = 25

_BOUNDARY_TOKENS: Final = frozenset({"(", ")", "[", "]", "{", "}", ":", ";"})
_DETERMINERS: Final = frozenset({"a", "an", "the"})
#: a parenthesis opening with one of these is a pointer or an aside, not a definition
_NOT_ABBREVIATION: Final = re.compile(
    r"(?:e\.\s?g|i\.\s?e|cf|see|viz|resp|etc|ibid|vs|fig|figs|figure|table|sec|section"
    r"|eq|eqs|eqn|equation|appendix|ref|refs|pp?|page)(?=[.,:\s\d~])",
    re.IGNORECASE,
)
_CITATION: Final = re.compile(r"\bet\s+al\b|(?<![\w.-])(?:1[89]|20)\d\d[a-z]?(?![\w-])")
_ROMAN: Final = re.compile(r"I{1,3}|IV|VI{0,3}|IX|XI{0,3}")
_MATHS: Final = frozenset("=<>%±×≤≥≈")
_POWER: Final = re.compile(r"([A-Za-z])\^([2-9])")
_WORD: Final = re.compile(r"\S+")


@dataclass(frozen=True)
class Abbreviation:
    """One definition site: the long form and the short form, as spans of the same doc."""

    long: Span
    short: Span


def is_short_form(text: str) -> bool:
    """Could ``text`` be an abbreviation? (Schwartz & Hearst's constraints, plus kgraph's.)"""
    if not 2 <= len(text) <= 10 or not text[0].isalnum() or len(text.split()) > 2:
        return False
    upper = digits = letters = 0
    for c in text:
        if c.isupper():
            upper += 1
        elif c.isdigit():
            digits += 1
        if c.isalpha():
            letters += 1
        if c in _MATHS:
            return False
    if not letters or not upper or upper + digits < 2:
        return False
    return not _ROMAN.fullmatch(text)


def short_form_chars(short: str) -> str:
    """The characters of a short form that must appear in its long form, lower-cased.

    ``"LLMs"`` -> ``"llm"``, ``"G^2RPO"`` -> ``"ggrpo"``, ``"RegMean++"`` -> ``"regmean"``.
    """
    s = _POWER.sub(lambda m: m.group(1) * int(m.group(2)), short)
    if len(s) >= 3 and s[-1] == "s" and s[-2].isupper():
        s = s[:-1]
    return "".join(c for c in s if c.isalnum()).lower()


def match_long_form(short: str, candidate: str) -> int | None:
    """Where the long form of ``short`` starts in ``candidate`` (the text before the
    parenthesis), or ``None`` — the right-to-left search of Schwartz & Hearst (2003)."""
    chars = short_form_chars(short)
    if not chars:
        return None
    low = candidate.lower()
    if len(low) != len(candidate):  # a few characters change length when lower-cased
        low = "".join(c.lower()[:1] for c in candidate)
    pos = len(low)  # search in low[:pos]
    for k in range(len(chars) - 1, 0, -1):
        pos = low.rfind(chars[k], 0, pos)
        if pos < 0:
            return None
    first = chars[0]
    while True:  # the first character must start a word
        pos = low.rfind(first, 0, pos)
        if pos < 0:
            return None
        if pos == 0 or not low[pos - 1].isalnum():
            break
    # the long form starts with the white-space word holding that character
    start = pos
    while start > 0 and not candidate[start - 1].isspace():
        start -= 1
    while start < pos and not candidate[start].isalnum():  # an opening quote, say
        start += 1
    return start


def _valid_pair(short: str, long_text: str) -> bool:
    if len(long_text) <= len(short):
        return False
    words = long_text.split()
    if words[0] in _DETERMINERS:
        return False
    if short.lower() in (w.lower() for w in words):
        return False
    limit = min(len(short) + 5, 2 * len(short))
    return len([w for w in re.split(r"[\s-]+", long_text) if w]) <= limit


def _normal(text: str) -> str:
    return " ".join(text.split())


def _span(doc: Doc, start: int, end: int) -> Span | None:
    return doc.char_span(start, end) or doc.char_span(start, end, alignment_mode="expand")


def _window_start(v: TokenView, text: str, open_i: int, max_words: int) -> int:
    """First character the long form of the parenthesis at token ``open_i`` may use."""
    end = v.idx[open_i]
    lo = end
    for k in range(open_i - 1, max(-1, open_i - 1 - 4 * max_words), -1):
        t = v.text[k]
        if t in _BOUNDARY_TOKENS or ("\n\n" in t and t.isspace()):  # a blank line
            break
        lo = v.idx[k]
        if v.sent_start[k]:
            break
    starts = [m.start() for m in _WORD.finditer(text, lo, end)]
    return starts[-max_words] if len(starts) > max_words else lo


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow ``start:end`` to drop surrounding white space and trailing ``,`` / ``;``."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;"):
        end -= 1
    return start, end


def _long_before(v: TokenView, text: str, open_i: int, short: str) -> tuple[int, int] | None:
    """ "long form (SHORT)": the long form's characters before the parenthesis at ``open_i``."""
    if v.sent_start[open_i]:
        return None
    max_words = min(len(short) + 5, 2 * len(short))
    lo = _window_start(v, text, open_i, max_words)
    lo, hi = _strip_span(text, lo, v.idx[open_i])
    if hi <= lo:
        return None
    offset = match_long_form(short, text[lo:hi])
    if offset is None or not _valid_pair(short, text[lo + offset : hi]):
        return None
    return lo + offset, hi


def _long_inside(text: str, start: int, end: int, short: str) -> tuple[int, int] | None:
    """ "SHORT (long form)": the long form must use the whole of ``text[start:end]``
    (an a/an/the in front may stay outside)."""
    start, end = _strip_span(text, start, end)
    candidate = text[start:end]
    if not candidate:
        return None
    offset = match_long_form(short, candidate)
    if offset is None:
        return None
    head = candidate[:offset].strip()
    if head and head not in _DETERMINERS:
        return None
    if not _valid_pair(short, candidate[offset:]):
        return None
    return start + offset, end


def _closing(v: TokenView, open_i: int) -> int | None:
    """Index of the ``)`` closing the ``(`` at ``open_i`` in the same sentence, if any."""
    for k in range(open_i + 1, min(v.n, open_i + 1 + MAX_PAREN_TOKENS)):
        t = v.text[k]
        if t == ")":
            return k
        if (t in _BOUNDARY_TOKENS and t not in ":;") or v.sent_start[k]:
            return None
    return None


def _definition(doc: Doc, v: TokenView, open_i: int, close_i: int) -> Abbreviation | None:
    """The definition in the parenthesis ``open_i`` .. ``close_i``, if it holds one."""
    text = v.doc_text
    in_start, in_end = v.idx[open_i] + 1, v.idx[close_i]
    inner = text[in_start:in_end].strip()
    if not inner or _NOT_ABBREVIATION.match(inner) or _CITATION.search(inner):
        return None
    # the short form is the piece before the first "," or ";"
    cuts = [i for i in (text.find(c, in_start, in_end) for c in ",;") if i >= 0]
    cut = min(cuts) if cuts else in_end
    s_start, s_end = _strip_span(text, in_start, cut)
    piece = text[s_start:s_end]
    long_range: tuple[int, int] | None = None
    short_range = (s_start, s_end)
    piece_is_short = is_short_form(piece)
    if piece_is_short:
        # "long form (SHORT)", then "(SHORT, long form)"
        long_range = _long_before(v, text, open_i, piece)
        if long_range is None and cut < in_end:
            long_range = _long_inside(text, cut + 1, in_end, piece)
    elif open_i > 0 and not v.sent_start[open_i]:
        # "SHORT (long form)": the word right before the parenthesis
        w_end = v.idx[open_i]
        while w_end > 0 and text[w_end - 1].isspace():
            w_end -= 1
        w_start = w_end
        while w_start > 0 and not text[w_start - 1].isspace() and text[w_start - 1] not in "([":
            w_start -= 1
        word = text[w_start:w_end]
        if word[-1:] not in (",", ";", ":") and is_short_form(word):
            k = open_i - 1
            while k > 0 and v.idx[k] > w_start:
                k -= 1
            if not any(v.sent_start[k + 1 : open_i]):  # the word is in the same sentence
                long_range = _long_inside(text, s_start, s_end, word)
                short_range = (w_start, w_end)
    if long_range is None:
        return None
    long_span = _span(doc, *long_range)
    short_span = _span(doc, *short_range)
    if long_span is None or short_span is None:
        return None
    return Abbreviation(long=long_span, short=short_span)


def find_abbreviations(doc: Doc) -> list[Abbreviation]:
    """Every abbreviation definition in ``doc``, in text order."""
    return _find(doc, TokenView.of(doc))


def _find(doc: Doc, v: TokenView) -> list[Abbreviation]:
    found: list[Abbreviation] = []
    text, idx = v.doc_text, v.idx
    pos = text.find("(")
    while pos >= 0:
        # only a "(" that is a token of its own
        open_i = bisect.bisect_left(idx, pos)
        if open_i < v.n and idx[open_i] == pos and v.text[open_i] == "(":
            close_i = _closing(v, open_i)
            if close_i is not None:
                abbreviation = _definition(doc, v, open_i, close_i)
                if abbreviation is not None:
                    found.append(abbreviation)
        pos = text.find("(", pos + 1)
    return found


def _variants(short: str) -> tuple[str, ...]:
    """A short form and its plural or singular (``LLM`` <-> ``LLMs``)."""
    if len(short) >= 3 and short.endswith("s") and short[-2].isupper():
        return (short, short[:-1])
    if short[-1:].isupper() or short[-1:].isdigit():
        return (short, short + "s")
    return (short,)


#: where the component keeps its definitions, as token offsets ``[long_start, long_end,
#: short_start, short_end]``: plain ints, so docs still serialise (``Doc.to_bytes``, ``DocBin``,
#: ``nlp.pipe(n_process=...)``), which ``Span`` objects in ``user_data`` would break
_DEFINITIONS_KEY: Final = "kgraph.abbreviations"


def _get_abbreviations(doc: Doc) -> list[Abbreviation] | None:
    """Getter of ``doc._.abbreviations``: ``None`` until the component has run."""
    rows = doc.user_data.get(_DEFINITIONS_KEY)
    if rows is None:
        return None
    return [Abbreviation(long=doc[ls:le], short=doc[ss:se]) for ls, le, ss, se in rows]


def definition_offsets(doc: Doc) -> list[tuple[int, int, int, int]]:
    """The token offsets ``(long_start, long_end, short_start, short_end)`` of every definition
    in ``doc._.abbreviations``, without making spans (empty before the component ran)."""
    return [(ls, le, ss, se) for ls, le, ss, se in doc.user_data.get(_DEFINITIONS_KEY) or ()]


if not Doc.has_extension("abbreviations"):
    Doc.set_extension("abbreviations", getter=_get_abbreviations)
if not Doc.has_extension("abbreviation_map"):
    Doc.set_extension("abbreviation_map", default=None)


class AbbreviationDetector:
    """spaCy component: ``doc._.abbreviations``, ``doc._.abbreviation_map`` and
    ``doc.spans[spans_key]`` (see the module doc)."""

    def __init__(self, spans_key: str = "abbreviations") -> None:
        self.spans_key = spans_key

    def __call__(self, doc: Doc) -> Doc:
        v = TokenView.of(doc)
        found = _find(doc, v) if "(" in v.doc_text else []
        mapping: dict[str, str] = {}
        spans: list[Span] = []
        for abbr in found:
            long, short = abbr.long, abbr.short
            long_text = _normal(v.span_text(long.start, long.end))
            mapping.setdefault(v.span_text(short.start, short.end), long_text)
            spans.append(Span(doc, long.start, long.end, label=LONG, kb_id=long_text))
            spans.append(Span(doc, short.start, short.end, label=SHORT, kb_id=long_text))
        if found:
            spans.extend(_mentions(doc, v, found, mapping))
            spans.sort(key=lambda s: (s.start, s.end))
        doc.spans[self.spans_key] = spans
        doc.user_data[_DEFINITIONS_KEY] = [
            [a.long.start, a.long.end, a.short.start, a.short.end] for a in found
        ]
        doc._.abbreviation_map = mapping
        return doc


def _mentions(
    doc: Doc, v: TokenView, found: list[Abbreviation], mapping: dict[str, str]
) -> list[Span]:
    """Every other occurrence of a defined short form, or of its plural / singular: the same
    characters in the text, starting and ending on token boundaries, outside the definitions."""
    text = v.doc_text
    taken = [False] * v.n
    for abbr in found:
        for part in (abbr.long, abbr.short):
            taken[part.start : part.end] = [True] * len(part)
    forms: dict[str, str] = {}
    for abbr in found:
        short = v.span_text(abbr.short.start, abbr.short.end)
        for form in _variants(short):
            forms.setdefault(form, mapping[short])
    out: list[Span] = []
    for form in sorted(forms, key=len, reverse=True):  # longest first: "MoE-VLM" before "MoE"
        pos = text.find(form)
        while pos >= 0:
            tokens = _token_range(v, pos, pos + len(form))
            if tokens is not None and not any(taken[tokens[0] : tokens[1]]):
                start, end = tokens
                out.append(Span(doc, start, end, label=SHORT, kb_id=forms[form]))
                taken[start:end] = [True] * (end - start)
            pos = text.find(form, pos + 1)
    return out


def _token_range(v: TokenView, start_char: int, end_char: int) -> tuple[int, int] | None:
    """The tokens ``start, end`` covering exactly ``start_char:end_char`` (a token starts at
    ``start_char`` and one ends at ``end_char``), like ``doc.char_span``; else ``None``."""
    idx = v.idx
    start = bisect.bisect_left(idx, start_char)
    if start == v.n or idx[start] != start_char:
        return None
    last = bisect.bisect_left(idx, end_char) - 1  # the last token starting before end_char
    if last < start or idx[last] + len(v.text[last]) != end_char:
        return None
    return start, last + 1


@Language.factory("kgraph_abbreviations", default_config={"spans_key": "abbreviations"})
def make_abbreviation_detector(nlp: Language, name: str, spans_key: str) -> AbbreviationDetector:
    """Factory for ``nlp.add_pipe("kgraph_abbreviations")``."""
    return AbbreviationDetector(spans_key=spans_key)
