"""Result records: numbers an abstract reports for a metric on a dataset.

"achieves 85.3% accuracy on ImageNet", "improves BLEU by 2.1", "+10.5% on GSM8K": each gives a
:class:`Result` (method, dataset, metric, value, unit, absolute or gain) linked to its paper,
with the offsets of the number in ``Paper.text`` as evidence.

How (rules over the sentence around an entity mention, no model):

- **Sentences** are those of the extracted mentions (``Mention.sentence``); only sentences
  naming a metric, a dataset or a benchmark are looked at.
- **Values**: a number with a unit (``%``, ``percent``; ``points``, ``pp``, ``p.p.``,
  ``%P``, ``percentage points`` -> ``points``; ``x``, ``×``, ``times``, ``-fold`` -> ``x``)
  or a bare number right next to a metric ("a 53.477 F1 score", "F1 of 0.6", "mIoU of
  86.18"). Not values: numbers inside an entity name (``CIFAR-100``, ``GPT-4``, ``pass@1``),
  followed by a letter or ``-word`` (``7B``, ``4-bit``, ``3D``), years, shares of something
  ("10% of the data"), the first number of "from X to Y" / "X → Y", and the number after
  "vs." (a baseline).
- **Metric**: the nearest metric mention within 60 characters of the value, not across
  another value that is nearer to it; a unit-less value needs a metric within 25 characters
  with only filler words ("of", "score", "approximately", ...) between.
- **Gain or absolute**: a gain when the number is signed (``+2.1``), follows "by" or "gain(s)
  / improvement(s) / increase of", or is followed (within three words) by "improvement",
  "gain", "higher", "better", "more", "faster", "reduction", ...; else absolute. A gain stated
  as a fall ("reduces the error by 27%", "27% reduction", "lowers FPR@95 by 35.4%") has a
  negative value.
- **Dataset**: the nearest dataset or benchmark mention in the same sentence. A value with
  neither a metric nor a dataset is no result.
- **Method**: the paper's proposed method named in that sentence, else its first proposed
  method, else none.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, NamedTuple

from ._hashing import source_fingerprint
from .records import PROPOSES, Entity, Paper

__all__ = ["Result", "find_results"]

ABSOLUTE: Final = "absolute"
GAIN: Final = "gain"

_VALUE: Final = re.compile(
    r"(?<![\w.@^/])"
    r"(?P<sign>[+↑]|(?<=[\s(])[-−](?=\d))?"
    r"(?P<num>\d+(?:\.\d+)?)"
    r"(?:\s?(?P<unit>\\?%\s?P\b|\\?%|percent(?:age)?\s+points?\b|percent\b|p\.\s?p\.|pp\b"
    r"|points?\b|x\b|×|times\b|-?fold\b))?"
)
_UNITS: Final = (
    (re.compile(r"\\?%\s?P|percent(?:age)?\s+points?|p\.\s?p\.|pp|points?", re.I), "points"),
    (re.compile(r"\\?%|percent", re.I), "%"),
    (re.compile(r"x|×|times|-?fold", re.I), "x"),
)
_AFTER_NOT_VALUE: Final = re.compile(r"[A-Za-z]|-[A-Za-z]|[./]\d")
_SHARE: Final = re.compile(r"\s*of\b", re.I)
#: "from 54% to 68.4%", "improving from previous models' 6.5% and 59.2%": baselines
_FROM: Final = re.compile(r"\bfrom\b(?:(?!\bto\b)[^;:])*$", re.I)
_ARROW_AFTER: Final = re.compile(r"\s*(?:→|->|rightarrow|to)\s*[~≈]?\s*\d")
_VS: Final = re.compile(r"(?:\bvs\.?|\bversus)\s*$", re.I)
_GAIN_BEFORE: Final = re.compile(
    r"(?:\bby|\b(?:gains?|improvements?|increases?|boosts?|margins?|reductions?|drops?"
    r"|decreases?|degradations?)\s+(?:of|\())\s*(?:up\s+to\s+|over\s+|more\s+than\s+|about\s+"
    r"|approximately\s+|around\s+|nearly\s+|almost\s+|an?\s+average\s+of\s+|~\s*)*"
    r"(?:\d+(?:\.\d+)?\s*(?:\\?%)?\s*[-–]\s*)?$",
    re.I,
)
_FALL_BEFORE: Final = re.compile(
    r"\b(?:reduc\w*|lower\w*|decreas\w*|drops?|dropp\w*|cuts?|degradations?|fewer|less)\b"
    r"[^.;,]{0,40}$",
    re.I,
)
_GAIN_AFTER: Final = re.compile(
    r"^\s*(?:(?!(?:on|in|for|than|of|to|at|with|and|or)\b)\w+[\s-]){0,3}?"
    r"(?:relative\s+|absolute\s+)?(?P<cue>improvements?|gains?|increases?"
    r"|boosts?|higher|better|more|faster|speed-?ups?|accelerations?|reductions?|lower|fewer"
    r"|less|decreases?|drops?|smaller)\b",
    re.I,
)
_FALL_WORDS: Final = ("reduction", "lower", "fewer", "less", "decrease", "drop", "smaller")
_FILLER: Final = frozenset(
    {"of", "a", "an", "the", "score", "scores", "value", "values", "=", ":", "~", "is", "was", "by"}
    | {"approximately", "around", "about", "at", "least", "over", "up", "to", "with"}
    | {"reaches", "reached", "achieves", "achieved"}
)
_SIZE_AFTER: Final = re.compile(
    r"\s*(?:the\b|bigger|larger|smaller|more|fewer|less|longer|shorter|as\b|of\b)", re.I
)
#: what may sit between two values whose kinds agree: "by 1.3 percent and 1.4 percent"; the
#: definition, as a regular expression to be matched whole (:func:`_coordinated` decides the
#: same without backtracking: this one took a third of the graph phase on 50,000 papers)
_COORDINATED: Final = re.compile(
    r"\s*(?:(?:\([^()]{0,20}\)|on|in|for|the|and|or|to|,|-|–|respectively|[A-Z][\w.-]*)\s*){0,8}",
    re.I,
)
_GAP_ITEM: Final = re.compile(r"\([^()]{0,20}\)|[,\-–]|[A-Z][\w.-]*", re.I)
_SPACES: Final = re.compile(r"\s*")


def _coordinated(gap: str) -> bool:
    """Whether ``gap`` is what :data:`_COORDINATED` matches whole: at most 8 items (a short
    parenthesis, a comma or dash, a word) separated by optional white space. The listed words
    ("on", "respectively", ...) are words, and a word taken as long as it goes never needs
    more items than a shorter one (what follows it starts a new item either way), so reading
    items left to right, each as long as possible, decides it in one pass."""
    end = len(gap)
    pos = _past_spaces(gap, 0)
    for _ in range(8):
        if pos == end:
            return True
        item = _GAP_ITEM.match(gap, pos)
        if item is None:
            return False
        pos = _past_spaces(gap, item.end())
    return pos == end


def _past_spaces(text: str, pos: int) -> int:
    spaces = _SPACES.match(text, pos)  # \s* always matches
    return spaces.end() if spaces is not None else pos
_SUBJECT_OF: Final = re.compile(
    r"(?:'s)?\s+(?:\w+\s+)?(?:achieves?|achieved|reach(?:es|ed)?|attains?|attained"
    r"|obtains?|obtained|scores?|scored|gets?|yields?|is|was|of|with)\s+(?:an?\s+|the\s+)?"
    r"(?:\w+\s+){0,3}?(?:of\s+)?",
    re.I,
)
_ON_AFTER: Final = re.compile(
    r"\s*(?:[a-z]\w*\s+){0,2}?(?:on|in)\s+(?:the\s+)?(?:[a-z][\w-]*\s+){0,2}?"
)
_YEAR: Final = re.compile(r"(?:19|20)\d\d")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")
_DATA_TYPES: Final = ("dataset", "benchmark")


@dataclass(frozen=True)
class Result:
    """A number a paper reports: ``value`` ``unit`` of ``metric`` on ``dataset`` by ``method``.

    ``metric``, ``dataset`` and ``method`` index the paper's entities (``None`` when unknown);
    ``start``/``end`` are the offsets of the number as written (``text``) in ``Paper.text``.
    """

    paper_id: str
    value: float
    unit: str | None  #: "%", "points", "x" or None
    kind: str  #: "absolute" or "gain"
    metric: int | None
    dataset: int | None
    method: int | None
    start: int
    end: int
    text: str
    sentence: str

    def to_dict(self, entities: Sequence[Entity] = ()) -> dict[str, Any]:
        def name(i: int | None) -> str | None:
            return entities[i].name if i is not None and i < len(entities) else None

        return {
            "paper": self.paper_id,
            "method": name(self.method),
            "dataset": name(self.dataset),
            "metric": name(self.metric),
            "value": self.value,
            "unit": self.unit,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "sentence": self.sentence,
        }

    def to_row(self) -> list[Any]:
        """The compact form a bundle keeps (:meth:`from_row`): every field but the paper's
        id, which is its extraction's."""
        return [
            self.value,
            self.unit,
            self.kind,
            self.metric,
            self.dataset,
            self.method,
            self.start,
            self.end,
            self.text,
            self.sentence,
        ]

    @classmethod
    def from_row(cls, paper_id: str, row: Sequence[Any]) -> Result:
        """What :meth:`to_row` gave (``ValueError`` if it is not)."""
        if len(row) != 10:
            raise ValueError(f"a result row of {len(row)} fields, not 10")
        value, unit, kind, metric, dataset, method, start, end, text, sentence = row

        def index(i: Any) -> int | None:
            return None if i is None else int(i)

        return cls(
            paper_id,
            float(value),
            None if unit is None else str(unit),
            str(kind),
            index(metric),
            index(dataset),
            index(method),
            int(start),
            int(end),
            str(text),
            str(sentence),
        )


@lru_cache(maxsize=1)
def results_fingerprint() -> str:
    """SHA-256 of this module: the results a bundle keeps with its extractions (found with
    each paper's own entity types, :class:`kgraph.extractions.Extraction`) were found by
    the code of this fingerprint, and are found again when it changes."""
    return source_fingerprint(sys.modules[__name__])


class _Span(NamedTuple):
    """A mention of entity ``entity`` (its index) of (resolved) ``type``."""

    start: int
    end: int
    entity: int
    type: str


_START_END: Final = itemgetter(0, 1)


def _sentences(text: str, entities: Sequence[Entity]) -> list[tuple[int, int]]:
    """Sentence spans holding a mention: from the mentions' sentences, else split by rule."""
    spans: set[tuple[int, int]] = set()
    for e in entities:
        for m in e.mentions:
            s = m.sentence
            if not s:
                continue
            pos = text.find(s, max(0, m.end - len(s)))
            while pos != -1 and pos <= m.start:
                if pos + len(s) >= m.end:
                    spans.add((pos, pos + len(s)))
                    break
                pos = text.find(s, pos + 1)
    if spans:
        return sorted(spans)
    out: list[tuple[int, int]] = []
    start = 0
    for brk in _SENTENCE_END.finditer(text):
        out.append((start, brk.start()))
        start = brk.end()
    out.append((start, len(text)))
    return out


def _unit(raw: str | None) -> str | None:
    if not raw:
        return None
    for pattern, unit in _UNITS:
        if pattern.fullmatch(raw.strip()):
            return unit
    return None


def _gap_words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,()]+", text.lower()) if w]


def find_results(
    paper: Paper, entities: Sequence[Entity], types: Sequence[str] | None = None
) -> list[Result]:
    """The results stated in ``paper``'s text, given its extracted ``entities``; ``types``
    (one per entity) overrides the per-paper types, e.g. with the resolved ones."""
    kinds = list(types) if types is not None else [e.type for e in entities]
    if not any(k == "metric" or k in _DATA_TYPES for k in kinds):
        return []  # no sentence can hold a metric or a dataset (45% of the papers of 10k)
    text = paper.text
    spans = sorted(
        (_Span(m.start, m.end, i, kinds[i]) for i, e in enumerate(entities) for m in e.mentions),
        key=_START_END,
    )
    proposed = [
        i for i, e in enumerate(entities) if e.relation == PROPOSES and kinds[i] == "method"
    ]
    proposed.sort(key=lambda i: entities[i].mentions[0].start if entities[i].mentions else 0)
    starts = [sp.start for sp in spans]
    out: list[Result] = []
    for s_start, s_end in _sentences(text, entities):
        # the spans inside the sentence: among those starting in it (spans are sorted)
        inside = [
            sp
            for sp in spans[bisect_left(starts, s_start) : bisect_right(starts, s_end)]
            if sp.end <= s_end
        ]
        metrics = [sp for sp in inside if sp.type == "metric"]
        data = [sp for sp in inside if sp.type in _DATA_TYPES]
        if not metrics and not data:
            continue
        sentence = text[s_start:s_end]
        values = _values(text, s_start, s_end, inside)
        previous: tuple[int, str, bool] | None = None  # end, kind, fall of the last value
        for n, (v_start, v_end, sign, num, unit) in enumerate(values):
            metric = _nearest_metric(text, v_start, v_end, unit, metrics, values, n)
            if unit == "x" and (metric is None or _SIZE_AFTER.match(text[v_end : v_end + 20])):
                continue  # "5x the compute", "10x fewer parameters": not a score
            dataset = _dataset(text, v_start, v_end, data)
            kind, fall = _kind(text, s_start, v_start, v_end, sign)
            if (
                previous is not None
                and kind == ABSOLUTE
                and not sign
                and _coordinated(text[previous[0] : v_start])
            ):
                kind, fall = previous[1], previous[2]  # "by 1.3 and 1.4 percent"
            previous = (v_end, kind, fall)
            if metric is None and (dataset is None or unit is None):
                continue
            value = float(num)
            if fall or sign in ("-", "−"):
                value = -value
            out.append(
                Result(
                    paper_id=paper.id,
                    value=value,
                    unit=unit,
                    kind=kind,
                    metric=metric.entity if metric else None,
                    dataset=dataset.entity if dataset else None,
                    method=_method(text, s_start, v_start, inside, proposed),
                    start=v_start,
                    end=v_end,
                    text=text[v_start:v_end],
                    sentence=sentence.strip(),
                )
            )
    return out


def _method(
    text: str, s_start: int, v_start: int, inside: Sequence[_Span], proposed: Sequence[int]
) -> int | None:
    """Who scored it: a method named right before the value ("exceeds ChatGPT 46.3%") or as
    the subject of "achieves/reaches/..." before it; else the paper's proposed method named in
    the sentence, else its first proposed method."""
    methods = [sp for sp in inside if sp.type == "method" and sp.end <= v_start]
    if methods:
        last = methods[-1]
        between = text[last.end : v_start]
        if not between.strip() or _SUBJECT_OF.fullmatch(between):
            return last.entity
    named = next((sp.entity for sp in inside if sp.entity in proposed), None)
    if named is not None:
        return named
    return proposed[0] if proposed else None


def _dataset(text: str, v_start: int, v_end: int, data: Sequence[_Span]) -> _Span | None:
    """ "85% on X" -> X (nothing if X is not a known mention); "X (+2.1%)" -> X; else the
    nearest dataset or benchmark in the sentence."""
    if _ON_AFTER.match(text, v_end):
        return next(
            (
                sp
                for sp in data
                if v_end <= sp.start < v_end + 60 and _ON_AFTER.fullmatch(text[v_end : sp.start])
            ),
            None,
        )
    before = text[max(0, v_start - 3) : v_start]
    if "(" in before:
        opening = v_start - len(before) + before.rindex("(")
        hit = [sp for sp in data if 0 <= opening - sp.end <= 2]
        if hit:
            return hit[-1]
    return _nearest(v_start, v_end, data)


def _values(
    text: str, s_start: int, s_end: int, inside: Sequence[_Span]
) -> list[tuple[int, int, str, str, str | None]]:
    """(start, end, sign, number, unit) of every value in the sentence (see the module doc)."""
    out: list[tuple[int, int, str, str, str | None]] = []
    sentence = text[s_start:s_end]
    for m in _VALUE.finditer(sentence):
        a, b = s_start + m.start(), s_start + m.end()
        num_start = s_start + m.start("num")
        unit = _unit(m.group("unit"))
        after = text[b : min(s_end, b + 40)]
        before = text[max(s_start, a - 40) : a]
        if any(sp.start <= num_start < sp.end for sp in inside):
            continue  # part of a name: CIFAR-100, GPT-4, FPR@95
        if unit is None and _AFTER_NOT_VALUE.match(after):
            continue  # 7B, 4-bit, 3D, 1.5-2.7 (a range: its end is the value)
        if unit is None and _YEAR.fullmatch(m.group("num")):
            continue
        if _SHARE.match(after):
            continue  # 10% of the data
        if _VS.search(before):
            continue  # (90.6% vs. 89.8%)
        if _FROM.search(re.split(r"[,;]", before)[-1]) or (
            _ARROW_AFTER.match(after) and re.match(r"\s*(?:→|->|rightarrow)", after)
        ):
            continue  # from 54% to 68.4%: the value is 68.4
        out.append((a, b, m.group("sign") or "", m.group("num"), unit))
    return out


def _nearest_metric(
    text: str,
    v_start: int,
    v_end: int,
    unit: str | None,
    metrics: Sequence[_Span],
    values: Sequence[tuple[int, int, str, str, str | None]],
    n: int,
) -> _Span | None:
    best: tuple[int, _Span] | None = None
    for sp in metrics:
        if sp.end <= v_start:
            gap_text, gap = text[sp.end : v_start], v_start - sp.end
            lo, hi = sp.end, v_start
        elif sp.start >= v_end:
            gap_text, gap = text[v_end : sp.start], sp.start - v_end
            lo, hi = v_end, sp.start
        else:
            continue
        if gap > (60 if unit else 25):
            continue
        if any(k != n and lo <= values[k][0] and values[k][1] <= hi for k in range(len(values))):
            continue  # another value sits between: it is that value's metric
        if unit is None and not set(_gap_words(gap_text)) <= _FILLER:
            continue
        if best is None or gap < best[0]:
            best = (gap, sp)
    return best[1] if best else None


def _nearest(v_start: int, v_end: int, spans: Sequence[_Span]) -> _Span | None:
    def distance(sp: _Span) -> tuple[int, int]:
        if sp.start >= v_end:
            return (sp.start - v_end, 0)  # after the value first on ties ("85% on X")
        return (max(0, v_start - sp.end), 1)

    return min(spans, key=distance) if spans else None


def _kind(text: str, s_start: int, v_start: int, v_end: int, sign: str) -> tuple[str, bool]:
    """("gain" or "absolute", whether the gain is a fall)."""
    before = text[max(s_start, v_start - 60) : v_start]
    after = text[v_end : v_end + 40]
    if sign in ("+", "↑"):
        return GAIN, False
    if _GAIN_BEFORE.search(before):
        return GAIN, bool(_FALL_BEFORE.search(before))
    m = _GAIN_AFTER.match(after)
    if m:
        return GAIN, m.group("cue").lower().startswith(_FALL_WORDS)
    return ABSOLUTE, False
