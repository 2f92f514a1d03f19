"""Turn candidate spans into typed, related entities with evidence (``kgraph_entities``).

Inputs, all written by earlier components: URLs (``doc._.kg_urls``), abbreviation pairs
(``doc._.abbreviations``), gazetteer hits (``doc.spans["gazetteer"]``), rule candidates
(``doc.spans["patterns"]``) and, when the model is in the pipeline, its spans
(``doc.spans["model"]``). Output: ``doc._.kg_entities``, a list of :class:`Entity`.

Steps: (1) collect candidates with a source and a prior confidence; (2) resolve overlaps,
longest first, known before guessed; (3) group mentions of one thing (same normalised form, or
linked by an abbreviation) into one entity named by its long form; (4) type it (gazetteer,
then context words such as "X dataset", then the abbreviation's long form, then the rule);
(5) relate it to the paper (proposes / introduces when the title names it before ":" or
"we propose/introduce/present ..." does, code for URLs, else uses); (6) drop generic words.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from operator import attrgetter

from spacy.language import Language
from spacy.tokens import Doc

from ..records import CODE, INTRODUCES, PROPOSES, USES, Entity, Mention
from .abbreviations import definition_offsets
from .lexicon import load_lexicon
from .view import TokenView, WordCache

if not Doc.has_extension("kg_entities"):
    Doc.set_extension("kg_entities", default=None)

#: prior confidence and priority of each source (higher wins an overlap of equal length)
SOURCES = {
    "url": (1.0, 9),
    "gazetteer": (0.9, 6),
    "abbreviation": (0.85, 5),
    "model": (0.75, 4),
    "title": (0.85, 4),
    "name": (0.7, 3),
    "capitalised": (0.55, 2),
    "phrase": (0.55, 1),
}
_NAMED = re.compile(r"[A-Z0-9]")
_TITLE_CASE = re.compile(
    r"(?:[A-Z][a-z]+(?:-[A-Za-z][a-z]*)*)(?: (?:[A-Z][a-z]+(?:-[A-Za-z][a-z]*)*))+"
)
_COORD = {",", "and", "or", "-"}
_MODEL_JUNK = re.compile(r"[(){}\[\]^\\<>=|$]|https?:|www\.|youtu")
_SIZE_OR_DIM = re.compile(r"^\d+(\.\d+)?[BMKbmkD]?$|^\d+D$")
_DATA_PREPOSITIONS = {"on", "across", "from", "including", "like", "as"}
_LEFT_FILLERS = {",", ":", "called", "named", "dubbed", "termed", "the", "a", "an", "("}
_BENCHY = re.compile(r"bench|eval\b|eval$|arena")
_START_CHAR = attrgetter("start_char")
_PRIORITY = {source: priority for source, (_, priority) in SOURCES.items()}
OWN_SUBJECTS = {"we", "paper", "work", "study", "this", "our", "i"}
CLAUSE_BREAKS = {
    ";",
    ".",
    "that",
    "which",
    "who",
    "where",
    "while",
    "whereas",
    "using",
    "via",
    "from",
    "on",
    "with",
    "over",
    "than",
    "against",
    "for",
    "in",
    "to",
    "by",
    "of",
}


_LATEX = re.compile(r"\\[a-z]+|[${}^]")
_JOINERS = re.compile(r"[-_/]")
_NOT_KEY = re.compile(r"[^\w\s+#.@]")
_ACRONYM_PLURAL = re.compile(r"[A-Z][A-Z0-9]+s")


@lru_cache(maxsize=1 << 16)
def norm_key(text: str) -> str:
    """The form under which two surface forms count as one thing: case, hyphens, plural."""
    s = text.lower().strip()
    s = _LATEX.sub("", s)
    s = _JOINERS.sub(" ", s)
    s = _NOT_KEY.sub("", s).strip(" .")
    words = s.split()
    if words:
        last = words[-1]
        if len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
            words[-1] = last[:-1]
    return "".join(words)


@lru_cache(maxsize=1 << 16)
def singular(text: str) -> str:
    """``large language models`` -> ``large language model`` (lowercase phrases only)."""
    if not text or text[-1] != "s" or text.endswith("ss") or len(text) < 4:
        return text
    last = text.split()[-1]
    if last.islower() and not last.endswith(("ics", "ss", "us", "is")):
        if last.endswith("ies") and len(last) > 4:
            return text[:-3] + "y"
        if last.endswith(("sses", "xes", "ches", "shes")):  # processes, boxes, patches
            return text[:-2]
        return text[:-1]
    if _ACRONYM_PLURAL.fullmatch(last):  # LLMs -> LLM
        return text[:-1]
    return text


@dataclass(slots=True)
class Candidate:
    start: int  #: token index
    end: int
    start_char: int
    end_char: int
    text: str
    type: str | None
    source: str
    kb_id: str = ""
    own: bool = False

    @property
    def length(self) -> int:
        return self.end_char - self.start_char


@dataclass(slots=True)
class _Group:
    cands: list[Candidate] = field(default_factory=list)
    long_form: str | None = None


@Language.factory("kgraph_entities", default_config={"lexicon": None, "min_confidence": 0.0})
def make_assembler(
    nlp: Language, name: str, lexicon: str | None, min_confidence: float
) -> Assembler:
    return Assembler(load_lexicon(lexicon), min_confidence)


class Assembler:
    def __init__(self, lexicon: dict[str, frozenset[str]], min_confidence: float) -> None:
        self.lex = lexicon
        self.generic = {norm_key(w) for w in lexicon["generic_names"]}
        self.min_confidence = min_confidence
        self.eval_words = lexicon["evaluation_verbs"]
        #: a name that says it is a benchmark ("MMLU-Bench", "Chatbot Arena"), per surface form
        self._benchy = WordCache(lambda text: _BENCHY.search(text.lower()) is not None)
        self.context_types: dict[str, str] = {}
        for list_name, typ in (
            ("dataset_nouns", "dataset"),
            ("benchmark_nouns", "benchmark"),
            ("method_nouns", "method"),
            ("metric_nouns", "metric"),
        ):
            for w in lexicon[list_name]:
                self.context_types[w] = typ

    # -- 1. candidates ---------------------------------------------------------------------------
    def _candidates(self, doc: Doc, v: TokenView) -> list[Candidate]:
        out: list[Candidate] = []
        full = v.doc_text

        idx, tokens = v.idx, v.text

        def add(start: int, end: int, typ: str | None, source: str, kb_id: str = "") -> None:
            if end <= start:
                return
            a, b = idx[start], idx[end - 1] + len(tokens[end - 1])
            text = full[a:b]
            if text.strip():
                out.append(Candidate(start, end, a, b, text, typ, source, kb_id))

        # the gazetteer's and the rules' spans as the kgraph components noted them (no Span
        # objects to make), else read from doc.spans
        for key, source in (("gazetteer", "gazetteer"), ("model", "model")):
            rows = v.span_rows(doc, key) if source == "gazetteer" else None
            if rows is not None:
                for start, end, label, _, span_id in rows:
                    add(start, end, None if label == "name" else label, source, span_id)
                continue
            if key not in doc.spans:
                continue
            for span in doc.spans[key]:
                if source == "model" and not self._model_span_ok(v, span.start, span.end):
                    continue
                label = span.label_
                add(span.start, span.end, None if label == "name" else label, source, span.id_)
        rows = v.span_rows(doc, "patterns")
        if rows is not None:
            for start, end, label, kb_id, _ in rows:
                add(start, end, None if label == "name" else label, kb_id or "name")
        elif "patterns" in doc.spans:
            for span in doc.spans["patterns"]:
                label = span.label_
                add(span.start, span.end, None if label == "name" else label, span.kb_id_ or "name")
        for long_start, long_end, short_start, short_end in definition_offsets(doc):
            add(long_start, long_end, None, "abbreviation", "long")
            add(short_start, short_end, None, "abbreviation", "short")
        return out

    def _model_span_ok(self, v: TokenView, start: int, end: int) -> bool:
        """The model proposes spans no rule checked: keep only plausible names (no formula
        pieces, URLs, bare sizes or dimensions, no verb-like or generic edges)."""
        words = v.text[start:end]
        text = " ".join(words)
        if _MODEL_JUNK.search(text) or text.endswith(":"):
            return False
        if all(_SIZE_OR_DIM.match(w) for w in words if w not in _COORD):
            return False
        first = v.lower[start]
        if first.endswith("ing") and end - start > 1 and first not in self.lex["ing_modifiers"]:
            return False
        if first in self.lex["non_modifiers"] or v.lower[end - 1] in self.lex["non_modifiers"]:
            return False
        return norm_key(text) not in self.generic and text not in self.lex["not_names"]

    # -- 2. overlaps -----------------------------------------------------------------------------
    @staticmethod
    def _resolve(cands: list[Candidate]) -> list[Candidate]:
        order = sorted(cands, key=_resolve_order)
        taken: list[Candidate] = []
        by_extent: dict[tuple[int, int], Candidate] = {}
        occupied = bytearray(max((c.end for c in cands), default=0))
        for c in order:
            if any(occupied[c.start : c.end]):
                # same extent from another source: keep its type knowledge
                t = by_extent.get((c.start, c.end))
                if t is not None:
                    if t.type is None and c.type is not None:
                        t.type = c.type
                    if not t.kb_id and c.kb_id and c.source == "gazetteer":
                        t.kb_id = c.kb_id
                    if c.source == "title":
                        t.own = True
                continue
            occupied[c.start : c.end] = b"\x01" * (c.end - c.start)
            taken.append(c)
            by_extent[c.start, c.end] = c
        taken.sort(key=lambda c: c.start)
        return taken

    # -- 4. typing from context -----------------------------------------------------------------
    def _context_type(self, v: TokenView, c: Candidate) -> str | None:
        """A type from the words around a name, most specific first: "X benchmark", "the X
        and Y datasets", "a new dataset, X", "experiments on X and Y"."""
        if c.source != "phrase" and self._benchy[c.text]:
            return "benchmark"
        text, lower, n, context_types = v.text, v.lower, v.n, self.context_types
        j = c.end
        while j < n and text[j] in (")", "'s", "’s"):
            j += 1
        nxt = lower[j] if j < n else ""
        nxt2 = f"{nxt} {lower[j + 1]}" if j + 1 < n else nxt
        typ = context_types.get(nxt2) or context_types.get(nxt)
        if typ is not None:
            return typ
        # look right past coordinated names: "the X and Y benchmarks"
        k = c.end
        while k < n and k < c.end + 8 and (lower[k] in _COORD or _NAMED.search(text[k])):
            k += 1
        if c.end < k < n and lower[k - 1] not in _COORD:
            t2 = context_types.get(lower[k])
            if t2 in ("dataset", "benchmark"):
                return t2
        # look left: "a new dataset, X"
        k = c.start - 1
        while k >= 0 and k > c.start - 4 and lower[k] in _LEFT_FILLERS:
            k -= 1
        t1 = context_types.get(lower[k]) if k >= 0 else None
        if t1 in ("dataset", "benchmark"):
            return t1
        if c.source == "phrase":
            return None
        # look left past coordinated names for "on": "experiments on SciWorld and ALFWorld"
        k = c.start - 1
        while k >= 0 and k > c.start - 10 and (lower[k] in _COORD or _NAMED.search(text[k])):
            k -= 1
        if k >= 0 and lower[k] == "the":
            k -= 1
        if (
            k >= 0
            and lower[k] in _DATA_PREPOSITIONS
            and self.eval_words.intersection(lower[max(0, k - 8) : k])
        ):
            return "dataset"
        return None

    # -- 5. own contributions --------------------------------------------------------------------
    def _mark_own(
        self, v: TokenView, sents: list[tuple[int, int]], taken: list[Candidate], title_end: int
    ) -> None:
        own_verbs = self.lex["own_verbs"]
        by_start = {c.start: c for c in taken}
        low = v.lower
        sent_starts = [a for a, _ in sents]
        # each own verb ("propose", "introduce") in an abstract sentence
        for i in compress(range(v.n), map(own_verbs.__contains__, low)):
            k = bisect.bisect_right(sent_starts, i) - 1
            if k < 0:
                continue
            s_start, s_end = sents[k]
            if s_end <= title_end or i >= s_end:
                continue
            if not OWN_SUBJECTS.intersection(low[max(s_start, i - 6) : i]):
                continue
            # the first names after the verb, up to the end of the clause
            found = 0
            for t in range(i + 1, min(i + 16, s_end)):
                if low[t] in CLAUSE_BREAKS:
                    break
                c = by_start.get(t)
                if c is None or c.source == "url" or c.type in ("task", "metric"):
                    continue
                if not _NAMED.search(c.text) or c.source == "gazetteer":
                    # an unnamed method ("a multimodal adapter") is the paper itself, and
                    # a name the knowledge base already has is not new
                    continue
                if found and low[c.start - 1] not in ("and", ","):
                    break
                c.own = True
                found += 1
                if found >= 3:
                    break
        # "X, a new dataset / benchmark / method"
        for c in taken:
            j = c.end
            if (
                j + 2 < v.n
                and v.text[j] == ","
                and low[j + 1] in ("a", "an")
                and low[j + 2] in ("new", "novel")
            ):
                c.own = True

    # -- main ------------------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        v = TokenView.of(doc)
        title_end = v.title_end
        sents = v.sentences(doc)
        cands = self._resolve(self._candidates(doc, v))
        for c in cands:
            if c.source == "title":
                c.own = True
        self._mark_own(v, sents, cands, title_end)

        # 3. group: abbreviations link short and long forms
        abbrev_long: dict[str, str] = {}
        long_keys: dict[str, str] = {}
        for long_start, long_end, short_start, short_end in definition_offsets(doc):
            short, long = v.span_text(short_start, short_end), v.span_text(long_start, long_end)
            abbrev_long[norm_key(singular(short))] = long
            abbrev_long[norm_key(short)] = long
            long_keys.setdefault(norm_key(long), long)
        groups: dict[str, _Group] = defaultdict(_Group)
        sent_texts: dict[int, str] = {}
        for c in cands:
            key = norm_key(c.text)
            if not key:
                continue
            long_form = abbrev_long.get(key)
            if long_form is not None:
                g = groups[norm_key(long_form)]
                g.long_form = long_form
            else:
                g = groups[key]
                if key in long_keys:
                    g.long_form = long_keys[key]
            g.cands.append(c)
        # one gazetteer entity met under several names ("large language models", "LLMs")
        by_kb: dict[str, str] = {}
        for gkey in list(groups):
            kb = next(
                (c.kb_id for c in groups[gkey].cands if c.source == "gazetteer" and c.kb_id), ""
            )
            if not kb:
                continue
            first = by_kb.setdefault(kb, gkey)
            if first != gkey:
                into, other = groups[first], groups.pop(gkey)
                into.cands += other.cands
                if into.long_form is None:
                    into.long_form = other.long_form or max(
                        (c.text for c in into.cands), key=lambda t: (" " in t, len(t))
                    )

        entities: list[Entity] = []
        for key, g in groups.items():
            ent = self._entity(doc, v, sents, key, g, sent_texts)
            if ent is not None and ent.confidence >= self.min_confidence:
                entities.append(ent)
        entities += self._urls(doc, v)
        entities.sort(key=lambda e: e.mentions[0].start if e.mentions else 0)
        doc._.kg_entities = entities
        TokenView.release(doc)  # the last kgraph component: the view is no longer needed
        return doc

    def _entity(
        self,
        doc: Doc,
        v: TokenView,
        sents: list[tuple[int, int]],
        key: str,
        g: _Group,
        sent_texts: dict[int, str],
    ) -> Entity | None:
        if key in self.generic:
            return None
        cands = g.cands
        # one pass over the mentions for what the steps below ask of them
        # type: the gazetteer's, else context words, else the rule's, else a name is a method
        votes: dict[str, float] = {}
        surfaces: list[str] = []  # the distinct texts, in order
        sources: set[str] = set()
        own = False
        conf = 0.0  # the best prior of the sources (all are above 0)
        kb = None  # the first gazetteer id
        context_type = self._context_type
        for c in cands:
            source = c.source
            sources.add(source)
            if source != "phrase":
                ctx = context_type(v, c)
                if ctx is not None:
                    votes[ctx] = votes.get(ctx, 0.0) + 2.0
            if c.type is not None:
                votes[c.type] = votes.get(c.type, 0.0) + (3.0 if source == "gazetteer" else 1.0)
            if c.text not in surfaces:
                surfaces.append(c.text)
            if c.own:
                own = True
            prior = SOURCES[source][0]
            if prior > conf:
                conf = prior
            if kb is None and source == "gazetteer" and c.kb_id:
                kb = c.kb_id
        if not votes:
            if sources <= {"capitalised"}:
                return None  # capitalised words with no type evidence: too weak
            votes["method"] = 0.5
        typ = max(votes, key=votes.__getitem__)  # the first of the best
        if sources == {"abbreviation"} and not any(_NAMED.search(c.text) for c in cands):
            return None
        # a long form whose words are generic ("out-of-domain") is not a thing on its own
        if g.long_form is not None:
            name = g.long_form
        else:
            # the first form written in running text, else the first one
            lower = [s for s in surfaces if s[:1].islower()]
            name = surfaces[0] if len(surfaces) == 1 or not lower else lower[0]
            if sources == {"phrase"} and _TITLE_CASE.fullmatch(name):
                # a task or technique named in a Title-Case title takes its usual lowercase name
                name = name.lower()
        name = singular(name) if name[:1].islower() or " " in name else name
        if norm_key(name) in self.generic:
            return None
        aliases = [s for s in surfaces if s != name]
        if own and typ == "method":
            relation = PROPOSES
        elif own and typ in ("dataset", "benchmark"):
            relation = INTRODUCES
        else:
            relation = USES
        if len(cands) > 1:
            conf = min(1.0, conf + 0.05 * (len(cands) - 1))
            cands = sorted(cands, key=_START_CHAR)
        mentions = tuple(
            [
                Mention(
                    c.start_char,
                    c.end_char,
                    c.text,
                    c.source,
                    _sentence(v, sents, c.start, sent_texts),
                )
                for c in cands
            ]
        )
        return Entity(
            name=name,
            type=typ,
            relation=relation,
            confidence=conf,
            aliases=tuple(aliases),
            mentions=mentions,
            id=kb,
        )

    @staticmethod
    def _urls(doc: Doc, v: TokenView) -> list[Entity]:
        by_url: dict[str, list[Mention]] = defaultdict(list)
        for start, end, canonical in doc._.kg_urls or []:
            span = doc.char_span(start, end, alignment_mode="expand")
            sentence = _span_sentence(doc, v, span.start, span.end) if span is not None else ""
            by_url[canonical].append(Mention(start, end, v.doc_text[start:end], "urls", sentence))
        return [
            Entity(
                name=url,
                type="repository",
                relation=CODE,
                confidence=1.0,
                aliases=tuple(sorted({m.text for m in ms} - {url})),
                mentions=tuple(ms),
            )
            for url, ms in by_url.items()
        ]


def _sentence(v: TokenView, sents: list[tuple[int, int]], token: int, cache: dict[int, str]) -> str:
    """The text of the sentence holding ``token``; ``cache`` keeps each sentence's text."""
    k = bisect.bisect_right(sents, (token, 1 << 30)) - 1
    if k < 0:
        return ""
    text = cache.get(k)
    if text is None:
        a, b = sents[k]
        start, end = v.char_span(a, b)
        text = cache[k] = v.doc_text[start:end].strip()
    return text


def _resolve_order(c: Candidate) -> tuple[int, int, int, int]:
    """Overlaps go to URLs first, then to the longest, then to the most trusted source."""
    priority = _PRIORITY[c.source]
    return (-priority if c.source == "url" else 0, c.start - c.end, -priority, c.start)


def _span_sentence(doc: Doc, v: TokenView, start: int, end: int) -> str:
    """``doc[start:end].sent.text``: the sentence holding token ``start`` (a span that crosses
    a sentence boundary gets its first sentence, as in spaCy)."""
    if not v.sentenced or "sents" in doc.user_hooks or "sent" in doc.user_span_hooks:
        return str(doc[start:end].sent.text)
    sent_start = v.sent_start
    first, last = start, start + 1
    while first > 0 and not sent_start[first]:
        first -= 1
    while last < v.n and not sent_start[last]:
        last += 1
    return v.span_text(first, last)
