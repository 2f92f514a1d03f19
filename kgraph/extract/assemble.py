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

from spacy.language import Language
from spacy.tokens import Doc

from ..records import CODE, INTRODUCES, PROPOSES, USES, Entity, Mention
from .lexicon import load_lexicon
from .patterns import TokenView, title_end_of

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


def norm_key(text: str) -> str:
    """The form under which two surface forms count as one thing: case, hyphens, plural."""
    s = text.lower().strip()
    s = re.sub(r"\\[a-z]+|[${}^]", "", s)
    s = re.sub(r"[-_/]", " ", s)
    s = re.sub(r"[^\w\s+#.@]", "", s).strip(" .")
    words = s.split()
    if words:
        last = words[-1]
        if len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
            words[-1] = last[:-1]
    return "".join(words)


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
    if re.fullmatch(r"[A-Z][A-Z0-9]+s", last):  # LLMs -> LLM
        return text[:-1]
    return text


@dataclass
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


@dataclass
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

        def add(start: int, end: int, typ: str | None, source: str, kb_id: str = "") -> None:
            if end <= start:
                return
            a, b = v.char_span(start, end)
            text = full[a:b]
            if text.strip():
                out.append(Candidate(start, end, a, b, text, typ, source, kb_id))

        for key, source in (("gazetteer", "gazetteer"), ("model", "model")):
            if key not in doc.spans:
                continue
            for span in doc.spans[key]:
                if source == "model" and not self._model_span_ok(v, span.start, span.end):
                    continue
                label = span.label_
                add(span.start, span.end, None if label == "name" else label, source, span.id_)
        if "patterns" in doc.spans:
            for span in doc.spans["patterns"]:
                label = span.label_
                add(span.start, span.end, None if label == "name" else label, span.kb_id_ or "name")
        for abbr in doc._.abbreviations or []:
            add(abbr.long.start, abbr.long.end, None, "abbreviation", "long")
            add(abbr.short.start, abbr.short.end, None, "abbreviation", "short")
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
        order = sorted(
            cands,
            key=lambda c: (
                -SOURCES[c.source][1] if c.source == "url" else 0,
                -(c.end - c.start),
                -SOURCES[c.source][1],
                c.start,
            ),
        )
        taken: list[Candidate] = []
        occupied: set[int] = set()
        for c in order:
            toks = set(range(c.start, c.end))
            if toks & occupied:
                # same extent from another source: keep its type knowledge
                for t in taken:
                    if (t.start, t.end) == (c.start, c.end):
                        if t.type is None and c.type is not None:
                            t.type = c.type
                        if not t.kb_id and c.kb_id and c.source == "gazetteer":
                            t.kb_id = c.kb_id
                        if c.source == "title":
                            t.own = True
                continue
            occupied |= toks
            taken.append(c)
        taken.sort(key=lambda c: c.start)
        return taken

    # -- 4. typing from context -----------------------------------------------------------------
    def _context_type(self, v: TokenView, c: Candidate) -> str | None:
        """A type from the words around a name, most specific first: "X benchmark", "the X
        and Y datasets", "a new dataset, X", "experiments on X and Y"."""
        if c.source != "phrase" and _BENCHY.search(c.text.lower()):
            return "benchmark"
        j = c.end
        while j < v.n and v.text[j] in (")", "'s", "’s"):
            j += 1
        nxt = v.lower[j] if j < v.n else ""
        nxt2 = f"{nxt} {v.lower[j + 1]}" if j + 1 < v.n else nxt
        typ = self.context_types.get(nxt2) or self.context_types.get(nxt)
        if typ is not None:
            return typ
        # look right past coordinated names: "the X and Y benchmarks"
        k = c.end
        while k < v.n and k < c.end + 8 and (v.lower[k] in _COORD or _NAMED.search(v.text[k])):
            k += 1
        if c.end < k < v.n and v.lower[k - 1] not in _COORD:
            t2 = self.context_types.get(v.lower[k])
            if t2 in ("dataset", "benchmark"):
                return t2
        # look left: "a new dataset, X"
        k = c.start - 1
        while k >= 0 and k > c.start - 4 and v.lower[k] in _LEFT_FILLERS:
            k -= 1
        t1 = self.context_types.get(v.lower[k]) if k >= 0 else None
        if t1 in ("dataset", "benchmark"):
            return t1
        if c.source == "phrase":
            return None
        # look left past coordinated names for "on": "experiments on SciWorld and ALFWorld"
        k = c.start - 1
        while k >= 0 and k > c.start - 10 and (v.lower[k] in _COORD or _NAMED.search(v.text[k])):
            k -= 1
        if k >= 0 and v.lower[k] == "the":
            k -= 1
        if (
            k >= 0
            and v.lower[k] in _DATA_PREPOSITIONS
            and self.eval_words.intersection(v.lower[max(0, k - 8) : k])
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
        for s_start, s_end in sents:
            if s_end <= title_end:
                continue
            for i in range(s_start, s_end):
                if low[i] not in own_verbs:
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
        title_end = title_end_of(v)
        sents = [(s.start, s.end) for s in doc.sents]
        cands = self._resolve(self._candidates(doc, v))
        for c in cands:
            if c.source == "title":
                c.own = True
        self._mark_own(v, sents, cands, title_end)

        # 3. group: abbreviations link short and long forms
        abbrev_long: dict[str, str] = {}
        long_keys: dict[str, str] = {}
        for abbr in doc._.abbreviations or []:
            abbrev_long[norm_key(singular(abbr.short.text))] = abbr.long.text
            abbrev_long[norm_key(abbr.short.text)] = abbr.long.text
            long_keys.setdefault(norm_key(abbr.long.text), abbr.long.text)
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
        entities += self._urls(doc)
        entities.sort(key=lambda e: e.mentions[0].start if e.mentions else 0)
        doc._.kg_entities = entities
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
        # type: the gazetteer's, else context words, else the rule's, else a name is a method
        votes: dict[str, float] = defaultdict(float)
        for c in cands:
            ctx = None if c.source == "phrase" else self._context_type(v, c)
            if ctx is not None:
                votes[ctx] += 2.0
            if c.type is not None:
                votes[c.type] += 3.0 if c.source == "gazetteer" else 1.0
        if not votes:
            sources = {c.source for c in cands}
            if sources <= {"capitalised"}:
                return None  # capitalised words with no type evidence: too weak
            votes["method"] = 0.5
        typ = max(votes.items(), key=lambda kv: kv[1])[0]
        named = any(re.search(r"[A-Z0-9]", c.text) for c in cands)
        if all(c.source == "abbreviation" for c in cands) and not named:
            return None
        # a long form whose words are generic ("out-of-domain") is not a thing on its own
        surfaces: list[str] = []
        for c in cands:
            if c.text not in surfaces:
                surfaces.append(c.text)
        if g.long_form is not None:
            name = g.long_form
        else:
            # the first form written in running text, else the first one
            lower = [s for s in surfaces if s[:1].islower()]
            name = surfaces[0] if len(surfaces) == 1 or not lower else lower[0]
            if all(c.source == "phrase" for c in cands) and _TITLE_CASE.fullmatch(name):
                # a task or technique named in a Title-Case title takes its usual lowercase name
                name = name.lower()
        name = singular(name) if name[:1].islower() or " " in name else name
        if norm_key(name) in self.generic:
            return None
        aliases = [s for s in surfaces if s != name]
        own = any(c.own for c in cands)
        if own and typ == "method":
            relation = PROPOSES
        elif own and typ in ("dataset", "benchmark"):
            relation = INTRODUCES
        else:
            relation = USES
        conf = max(SOURCES[c.source][0] for c in cands)
        if len(cands) > 1:
            conf = min(1.0, conf + 0.05 * (len(cands) - 1))
        mentions = tuple(
            Mention(
                c.start_char,
                c.end_char,
                c.text,
                c.source,
                _sentence(doc, sents, c.start, sent_texts),
            )
            for c in sorted(cands, key=lambda c: c.start_char)
        )
        kb = next((c.kb_id for c in cands if c.source == "gazetteer" and c.kb_id), None)
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
    def _urls(doc: Doc) -> list[Entity]:
        by_url: dict[str, list[Mention]] = defaultdict(list)
        for start, end, canonical in doc._.kg_urls or []:
            span = doc.char_span(start, end, alignment_mode="expand")
            sentence = span.sent.text if span is not None else ""
            by_url[canonical].append(Mention(start, end, doc.text[start:end], "urls", sentence))
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


def _sentence(doc: Doc, sents: list[tuple[int, int]], token: int, cache: dict[int, str]) -> str:
    """The text of the sentence holding ``token``; ``cache`` keeps each sentence's text."""
    k = bisect.bisect_right(sents, (token, 1 << 30)) - 1
    if k < 0:
        return ""
    text = cache.get(k)
    if text is None:
        a, b = sents[k]
        view = TokenView.of(doc)
        start, end = view.char_span(a, b)
        text = cache[k] = view.doc_text[start:end].strip()
    return text
