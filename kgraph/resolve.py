"""Entity resolution across papers: one canonical entity per real thing, with a stable id.

A :class:`Resolver` is fed each paper's entities (an :class:`~kgraph.extractions.Extraction`)
and :meth:`Resolver.resolve` returns a :class:`Resolution`: the canonical entities and, for
every per-paper entity, the canonical id it was resolved to. The result depends only on the
*set* of papers fed (papers are processed sorted by id), so a bundle built in one go and one
built page by page resolve the same way.

What merges
-----------
- **Surface variants.** Two surface forms are one name when their :func:`surface_key` is
  equal: Unicode NFKC, case, hyphens/spaces/underscores/slashes, punctuation other than
  ``. + # @`` (so ``GPT-3.5`` keeps its dot, ``C++`` its pluses), a plural last word
  (``LLMs``/``LLM``, ``Transformers``/``Transformer``), British ``-isation``/``-elling``
  spellings, and a parenthesised acronym inside the name (``Out-of-distribution (OOD)
  detection``). Digits are never dropped, so ``GPT-4``/``GPT-4o``, ``ResNet-50``/``ResNet``,
  ``Llama-2 7B``/``Llama-2``, ``CIFAR-10``/``CIFAR-100`` and ``BERT``/``RoBERTa`` stay apart.
- **Known entities.** Per-paper entities that the extractor linked to the same gazetteer id
  (``Entity.id``) merge, and entities with *different* gazetteer ids never do. An entity the
  extractor did not link joins a gazetteer entity when one of its keys is that entity's name
  or a known alias (``kgraph/data/gazetteer_entities.jsonl``), the key is claimed by exactly
  one gazetteer entity and the types are compatible (dataset and benchmark are compatible).
  A key claimed by several gazetteer ids among the papers goes to the id most papers use
  (ties: the smallest id). A gazetteer id that only the acronym of an entity matched, in a
  paper that defines that acronym as something else ("Sharpness-Aware Minimization (SAM)"
  linked to Segment Anything Model through "SAM"), is dropped for that entity.
- **Acronyms.** A short form is never used as a merge key by itself. It merges into a long
  form only (1) through the paper's own definition ("relation classification (RC)": the
  extractor already groups the two, and an entity named by a short form the paper defines is
  anchored on the paper's long form), or (2) when it is *unambiguous across the corpus*:
  every paper that defines it defines the same thing. Two definitions are the same thing when
  their long forms resolve to one canonical entity, or have the same content words (``RLHF``:
  "reinforcement learning from/with human feedback"). A short form defined differently in two
  papers (``CL``: "continual learning" and "contrastive learning") keeps both long-form
  entities apart, and its undefined uses elsewhere become a third entity named by the short
  form itself (``CL``), since nothing says which is meant. Inside multi-word names an
  unambiguous short form is expanded too (``OOD detection`` = ``out-of-distribution
  detection`` when the corpus defines OOD once). Short forms that no paper defines are plain
  names (``PPO`` named in two papers and defined in none is one entity).

Canonical entities
------------------
- **Type**: a gazetteer entity keeps its gazetteer type. Otherwise the majority of the
  per-paper types (one vote per per-paper entity); ties go to the type with the larger summed
  confidence, then to the first in :data:`kgraph.records.ENTITY_TYPES` order (method,
  dataset, benchmark, metric, task, repository). A name that is a URL is a repository.
- **Name**: the gazetteer name; otherwise the most used per-paper name, preferring a name that
  is not in Title Case (titles capitalise every word), then more papers, more mentions, and
  the alphabetically first; an entity a paper names only by an acronym it defines is named
  by the paper's long form, and an undefined acronym is used only if nothing else is.
- **Id**: the gazetteer id (``dataset/imagenet``) when known, else ``<type>/<slug>`` with
  the slug of the name (lowercase, runs of other characters than letters and digits -> ``-``,
  the gazetteer's rule). Two entities with the same id: the one with more papers (then the
  smaller key) keeps it, the other gets ``-`` and 6 hex digits of a hash of its key. Ids are
  therefore stable between runs on the same papers, and change only when the most used name
  or the majority type of an entity changes.
- **Aliases**: every surface form with its number of mentions (a name the extractor
  normalised and that is not written as such counts once per paper).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple

from .extract.abbreviations import is_short_form as _is_short_form
from .extract.abbreviations import match_long_form
from .extract.assemble import norm_key, singular
from .extractions import Extraction, copied
from .records import ENTITY_TYPES, Entity, slugify

__all__ = [
    "CanonicalEntity",
    "Gazetteer",
    "Resolution",
    "Resolver",
    "loose_key",
    "resolve",
    "slugify",
    "surface_key",
]

_PAREN: Final = re.compile(r"\s*\(([^()]{1,12})\)")
_SPELLING: Final = (
    (re.compile(r"isation"), "ization"),
    (re.compile(r"ising\b"), "izing"),
    (re.compile(r"elling\b"), "eling"),
    (re.compile(r"elled\b"), "eled"),
)
_STOP: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "from",
        "with",
        "and",
        "in",
        "on",
        "to",
        "by",
        "via",
        "using",
        "based",
        "at",
        "as",
        "into",
        "over",
    ]
)
#: :func:`~kgraph.extract.abbreviations.is_short_form`, cached: resolution asks it of the
#: same words over and over (three quarters of a million times on 50,000 papers)
is_short_form = lru_cache(maxsize=1 << 18)(_is_short_form)
_PIECES: Final = re.compile(r"([\s\-/]+)")
_ACRONYM_PLURAL: Final = re.compile(r"\b([A-Z][A-Za-z0-9]*[A-Z0-9])s$")  # LMs, VLMs, FMs
_URL: Final = re.compile(r"^(?:https?://|www\.)", re.I)
_TYPE_RANK: Final = {t: i for i, t in enumerate(ENTITY_TYPES)}
_COMPATIBLE: Final = {"dataset": {"dataset", "benchmark"}, "benchmark": {"dataset", "benchmark"}}


@lru_cache(maxsize=1 << 18)
def _clean(text: str) -> str:
    """NFKC, a parenthesised acronym inside a name dropped, British spellings Americanised."""
    s = unicodedata.normalize("NFKC", text).strip()
    s = _PAREN.sub(lambda m: "" if is_short_form(m.group(1).strip()) else m.group(0), s)
    low = s.lower()
    for pattern, repl in _SPELLING:
        low = pattern.sub(repl, low)
    return s if low == s.lower() else low


@lru_cache(maxsize=1 << 18)
def surface_key(text: str) -> str:
    """The key under which two surface forms are one name (see the module doc). Cached:
    the same few hundred thousand surface forms come back across a corpus (a third of the
    resolution time on 50,000 papers went to computing them again)."""
    if _URL.match(text.strip()):
        return "url:" + text.strip().lower().rstrip("/")
    s = _ACRONYM_PLURAL.sub(r"\1", _clean(text))
    return norm_key(singular(s))


def loose_key(text: str) -> str:
    """:func:`surface_key` of the content words only ("... from human feedback" =
    "... with human feedback"): how two long forms of one acronym are compared."""
    words = [w for w in _PIECES.split(_clean(text).lower()) if w.strip(" -/")]
    return surface_key(" ".join(w for w in words if w not in _STOP))


def _is_headline(name: str) -> bool:
    """Title Case with two or more words ("Large Language Models")."""
    words = [w for w in re.split(r"[\s\-]+", name) if w]
    long_words = [w for w in words if len(w) > 3]
    return (
        len(words) > 1
        and bool(long_words)
        and all(w[0].isupper() and w[1:].islower() for w in long_words)
    )


# --- the gazetteer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GazetteerEntry:
    id: str
    type: str
    name: str
    aliases: tuple[str, ...]


class Gazetteer:
    """The known entities (``kgraph/data/gazetteer_entities.jsonl``): names, types and the
    keys of their names and aliases."""

    def __init__(self, entries: Iterable[GazetteerEntry]) -> None:
        self.entries: dict[str, GazetteerEntry] = {}
        by_key: dict[str, set[str]] = defaultdict(set)
        self._keys: dict[str, frozenset[str]] = {}
        for e in entries:
            self.entries[e.id] = e
            keys = {surface_key(form) for form in (e.name, *e.aliases)} - {""}
            self._keys[e.id] = frozenset(keys)
            for key in keys:
                by_key[key].add(e.id)
        self._by_key = dict(by_key)

    @classmethod
    def from_file(cls, path: str | Path) -> Gazetteer:
        entries = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    entries.append(
                        GazetteerEntry(
                            row["id"], row["type"], row["name"], tuple(row.get("aliases") or ())
                        )
                    )
        return cls(entries)

    @classmethod
    def empty(cls) -> Gazetteer:
        return cls(())

    def ids_for_key(self, key: str) -> set[str]:
        return self._by_key.get(key, set())

    def keys_of(self, kb_id: str) -> frozenset[str]:
        """The keys of the name and aliases of ``kb_id`` (empty when unknown)."""
        return self._keys.get(kb_id, frozenset())

    def type_of(self, kb_id: str) -> str:
        entry = self.entries.get(kb_id)
        return entry.type if entry else kb_id.split("/", 1)[0]

    def name_of(self, kb_id: str) -> str | None:
        entry = self.entries.get(kb_id)
        return entry.name if entry else None


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    from .extract.lexicon import DATA

    path = DATA / "gazetteer_entities.jsonl"
    return Gazetteer.from_file(path) if path.exists() else Gazetteer.empty()


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CanonicalEntity:
    """One real thing, merged from the per-paper entities that name it."""

    id: str  #: ``<type>/<slug>``: the gazetteer id when known
    name: str
    type: str
    kb_id: str | None  #: the gazetteer id, when the gazetteer knows it
    aliases: tuple[tuple[str, int], ...]  #: (surface form, mentions), most used first
    short_forms: tuple[str, ...]  #: acronyms it is known by in these papers
    papers: tuple[str, ...]  #: sorted paper ids
    type_votes: tuple[tuple[str, int], ...]  #: per-paper types and how many said so
    mentions: int
    occurrences: int  #: per-paper entities merged into it

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "kb_id": self.kb_id,
            "aliases": dict(self.aliases),
            "short_forms": list(self.short_forms),
            "papers": list(self.papers),
            "type_votes": dict(self.type_votes),
            "mentions": self.mentions,
        }


@dataclass
class Resolution:
    """Canonical entities and the canonical id of every per-paper entity."""

    entities: dict[str, CanonicalEntity]  #: by id, sorted
    assignments: dict[str, tuple[str, ...]]  #: paper id -> canonical id per entity index
    #: paper id -> what was resolved, sorted by paper id (a dict, or an add's
    #: :class:`~kgraph.extractions.StoredExtractions`)
    extractions: MutableMapping[str, Extraction]

    @property
    def occurrences(self) -> int:
        """Per-paper entities before resolution."""
        return sum(len(v) for v in self.assignments.values())

    def id_of(self, paper_id: str, index: int) -> str:
        return self.assignments[paper_id][index]

    def entity_of(self, paper_id: str, index: int) -> CanonicalEntity:
        return self.entities[self.assignments[paper_id][index]]

    def ids_for(self, surface: str) -> dict[str, int]:
        """Canonical ids that ``surface`` (as written) was resolved to, with mention counts."""
        out: dict[str, int] = {}
        for ent in self.entities.values():
            for form, n in ent.aliases:
                if form == surface:
                    out[ent.id] = n
        return out

    def id_for(self, surface: str, paper_id: str | None = None) -> str | None:
        """The canonical id ``surface`` resolves to: in ``paper_id`` when given (the entity of
        that paper that has it as name, alias or mention), else the one with most mentions."""
        if paper_id is not None:
            ext = self.extractions.get(paper_id)
            if ext is None:
                return None
            for i, e in enumerate(ext.entities):
                if surface in (e.name, *e.aliases) or any(m.text == surface for m in e.mentions):
                    return self.assignments[paper_id][i]
            return None
        ids = self.ids_for(surface)
        if not ids:
            return None
        return min(ids, key=lambda k: (-ids[k], k))

    def papers_per_entity(self) -> Counter[str]:
        return Counter({k: len(v.papers) for k, v in self.entities.items()})


# --- the resolver ------------------------------------------------------------------------------


class _UnionFind:
    """Union-find over string nodes; a set holds at most one gazetteer id."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.kb: dict[str, str] = {}  #: root -> its gazetteer id (only the roots that have one)

    def add(self, node: str, kb: str | None = None) -> None:
        if node not in self.parent:
            self.parent[node] = node
            if kb:
                self.kb[node] = kb

    def find(self, node: str) -> str:
        self.add(node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def kb_of(self, node: str) -> str | None:
        return self.kb.get(self.find(node))

    def union(self, a: str, b: str) -> bool:
        """Merge the sets of ``a`` and ``b``; refused (False) if they hold different ids."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ka, kb = self.kb.get(ra), self.kb.get(rb)
        if ka and kb and ka != kb:
            return False
        if rb < ra:  # deterministic roots
            ra, rb = rb, ra
        self.parent[rb] = ra
        kept = ka or kb
        if kept:
            self.kb[ra] = kept
            self.kb.pop(rb, None)
        return True


@dataclass(slots=True)
class _Occ:
    """One per-paper entity, with what resolution needs to know about it (there are millions
    of these on a large corpus: fields are tuples, shared when empty)."""

    paper: str
    index: int
    entity: Entity
    node: str
    long_keys: tuple[str, ...] = ()
    short_forms: tuple[str, ...] = ()
    bare: str | None = None  #: the short-form key, when it is only an acronym defined elsewhere
    kb: str | None = None  #: the gazetteer id, unless the paper's own definition contradicts it
    own_long: str | None = None  #: the long form, when named by a short form its paper defines


class Resolver:
    """Feed it each paper's extraction (:meth:`add`), then :meth:`resolve`."""

    def __init__(self, gazetteer: Gazetteer | None = None) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else default_gazetteer()
        self._papers: dict[str, Extraction] = {}

    def add(self, extraction: Extraction) -> None:
        """Add (or replace) one paper's extraction."""
        self._papers[extraction.paper_id] = extraction

    def add_entities(
        self,
        paper_id: str,
        entities: Sequence[Entity],
        abbreviations: Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """:meth:`add` from bare entities; ``abbreviations`` are (short, long) pairs."""
        abbrs = None if abbreviations is None else tuple(abbreviations)
        self.add(Extraction(paper_id, "", tuple(entities), abbrs))

    def __len__(self) -> int:
        return len(self._papers)

    # -- per paper -----------------------------------------------------------------------------
    @staticmethod
    def _own_definitions(ext: Extraction) -> dict[str, str]:
        """short-form key -> long form, as this paper defines it (first definition wins)."""
        defs: dict[str, str] = {}
        if ext.abbreviations is not None:
            pairs: Iterable[tuple[str, str]] = ext.abbreviations
        else:  # a plain `kgraph extract` line: the extractor put each short form in aliases
            pairs = (
                (alias, e.name)
                for e in ext.entities
                for alias in e.aliases
                if is_short_form(alias) and match_long_form(alias, e.name) is not None
            )
        for short, long in pairs:
            sk, lk = surface_key(short), surface_key(long)
            if sk and lk and sk != lk:
                defs.setdefault(sk, long)
        return defs

    def resolve(self) -> Resolution:
        papers = dict(sorted(self._papers.items()))
        own_defs = {pid: self._own_definitions(ext) for pid, ext in papers.items()}
        tables = _Tables.of(own_defs.values())
        occs = self._occurrences(papers, own_defs, tables)
        uf, members = self._partition(occs, tables)
        return self._assemble(self._drafts(uf, members), papers)

    # -- the steps (also run on a part of the corpus by kgraph.resolve_delta) -------------------
    def _occurrences(
        self,
        papers: Mapping[str, Extraction],
        own_defs: Mapping[str, Mapping[str, str]],
        tables: _Tables,
        words: Callable[[_Occ, list[str]], None] | None = None,
    ) -> list[_Occ]:
        """Step 2: the occurrences of ``papers`` (sorted by paper id), with their keys and
        acronyms. ``words(occurrence, keys)``, when given, is told the keys of the acronyms it
        uses that the corpus' definitions decide (:meth:`_keys`)."""
        occs: list[_Occ] = []
        for pid, ext in papers.items():
            defs = own_defs[pid]
            for i, e in enumerate(ext.entities):
                occs.append(self._occurrence(pid, i, e, defs, tables, words))
        return occs

    def _occurrence(
        self,
        pid: str,
        index: int,
        e: Entity,
        defs: Mapping[str, str],
        tables: _Tables,
        words: Callable[[_Occ, list[str]], None] | None = None,
    ) -> _Occ:
        surfaces: list[str] = []
        for s in (e.name, *e.aliases, *(m.text for m in e.mentions)):
            if s not in surfaces:
                surfaces.append(s)
        occ = _Occ(pid, index, e, f"occ:{pid}#{index}")
        seen = self._keys(occ, surfaces, defs, tables, words is not None)
        if seen and words is not None:
            words(occ, seen)
        return occ

    def _partition(
        self,
        occs: Sequence[_Occ],
        tables: _Tables,
        scope: Callable[[str], bool] | None = None,
        links: list[tuple[str, str]] | None = None,
    ) -> tuple[_UnionFind, dict[str, list[_Occ]]]:
        """Steps 3 to 5: which occurrences are one entity. ``scope(node)``: whether a long
        form's key is part of this run (all are, by default); ``links`` receives the pairs of
        nodes that decided something without being merged (a union refused, a key claimed
        by another gazetteer id, the meanings of a bare acronym), which with the merges make
        the parts of the corpus that resolve independently of each other."""
        gaz = self.gazetteer
        corpus_defs = tables.corpus_defs
        uf = _UnionFind()
        union = uf.union
        if links is not None:
            record = links.append

            def union(a: str, b: str) -> bool:
                if uf.union(a, b):
                    return True
                record((a, b))
                return False

        for occ in occs:
            uf.add(occ.node)
            if occ.kb:
                uf.add("kb:" + occ.kb, occ.kb)

        # 3. a key several gazetteer ids claim goes to the id most per-paper entities use
        claims: dict[str, Counter[str]] = defaultdict(Counter)
        for occ in occs:
            if occ.kb:
                for k in occ.long_keys:
                    claims[k][occ.kb] += 1
        owner = {k: min(c, key=lambda kb: (-c[kb], kb)) for k, c in claims.items()}
        for occ in occs:
            kb = occ.kb
            if kb:
                union(occ.node, "kb:" + kb)
                for k in occ.long_keys:
                    if owner.get(k) == kb:
                        union(occ.node, "key:" + k)
                    elif links is not None:
                        links.append((occ.node, "key:" + k))
        for occ in occs:
            if not occ.kb:
                for k in occ.long_keys:
                    union(occ.node, "key:" + k)

        # 4. known aliases: a cluster the extractor did not link joins a gazetteer entity
        members: dict[str, list[_Occ]] = defaultdict(list)
        for occ in occs:
            members[uf.find(occ.node)].append(occ)
        for root in sorted(members):
            if uf.kb_of(root):
                continue
            group = members[root]
            types = {o.entity.type for o in group}
            allowed = set().union(*(_COMPATIBLE.get(t, {t}) for t in types))
            keys = sorted({k for o in group for k in o.long_keys})
            for k in keys:
                ids = [i for i in gaz.ids_for_key(k) if gaz.type_of(i) in allowed]
                if len(ids) == 1 and uf.union(root, "kb:" + ids[0]):
                    uf.kb[uf.find(root)] = ids[0]
                    break

        # 5. acronyms used without a definition: merged only when the corpus agrees; long
        #    forms of one acronym with the same content words are one thing
        meanings: dict[str, set[str]] = {}
        firsts: dict[str, set[str]] = {}  #: (only to record the links)
        for sk in sorted(corpus_defs):
            roots: set[str] = set()
            for keys in meaning_keys(corpus_defs[sk]):
                if scope is not None and not scope("key:" + keys[0]):
                    continue
                for k in keys[1:]:
                    union("key:" + keys[0], "key:" + k)
                roots.add("key:" + keys[0])
            meanings[sk] = {uf.find(r) for r in roots}
            if links is not None:
                firsts[sk] = roots
        for occ in occs:
            if occ.bare is None:
                continue
            roots = meanings.get(occ.bare, set())
            if len(roots) == 1:
                uf.union(occ.node, next(iter(roots)))
            else:
                uf.union(occ.node, "short:" + occ.bare)
            if links is not None:
                links.extend((occ.node, first) for first in firsts.get(occ.bare, ()))

        members = defaultdict(list)
        for occ in occs:
            members[uf.find(occ.node)].append(occ)
        return uf, members

    def _keys(
        self,
        occ: _Occ,
        surfaces: Sequence[str],
        defs: Mapping[str, str],
        tables: _Tables,
        track: bool = False,
    ) -> list[str] | None:
        """Split an occurrence's surface forms into merge keys and acronyms. ``track``: return
        the keys of the acronyms it uses that this paper does not define, as a name or inside
        a multi-word name (where the corpus' definitions decide what they are)."""
        corpus_defs, unique_long = tables
        e = occ.entity
        name_key = surface_key(e.name)
        long_keys: list[str] = []
        short_forms: list[str] = []
        seen: list[str] | None = [] if track else None
        for s in surfaces:
            k = surface_key(s)
            if not k:
                continue
            if k in defs:  # a short form this paper defines: anchored on its long form
                short_forms.append(s)
                lk = surface_key(defs[k])
                if lk not in long_keys:
                    long_keys.append(lk)
            elif k in corpus_defs and is_short_form(s.rstrip("s") if s.endswith("s") else s):
                short_forms.append(s)  # defined elsewhere: resolved in step 5
                if seen is not None:
                    seen.append(k)
            elif k not in long_keys:
                long_keys.append(k)
                # an acronym inside a longer name: "OOD detection", "LLM-based agents"
                expanded = _expand(s, defs, unique_long, seen)
                if expanded is not None:
                    ek = surface_key(expanded)
                    if ek and ek not in long_keys:
                        long_keys.append(ek)
        if long_keys:
            occ.long_keys = tuple(long_keys)
        if short_forms:
            occ.short_forms = tuple(short_forms)
        occ.kb = e.id
        if name_key in defs:  # named by an acronym its paper defines: named by the long form
            long = " ".join(defs[name_key].split())
            occ.own_long = singular(long) if long[:1].islower() or " " in long else long
        if e.id and occ.short_forms and any(surface_key(s) in defs for s in occ.short_forms):
            # the paper defines the acronym; a gazetteer id that only its short form matches
            # ("SAM" -> Segment Anything Model for "Sharpness-Aware Minimization (SAM)") is
            # another thing with the same acronym
            known = self.gazetteer.keys_of(e.id)
            if known and not known.intersection(occ.long_keys):
                occ.kb = None
        if not occ.long_keys and not occ.kb and name_key in corpus_defs:
            occ.bare = name_key
        return seen

    def _drafts(
        self, uf: _UnionFind, members: Mapping[str, list[_Occ]]
    ) -> list[tuple[_Rank, _Draft, list[_Occ]]]:
        """Step 6: a draft of each canonical entity (all but its id), with its place in the
        order of the ids (gazetteer ids, then by papers, then by key, then by the first
        per-paper entity: a key and an acronym can be written alike) and its occurrences."""
        gaz = self.gazetteer
        nodes: dict[str, list[str]] = defaultdict(list)
        for n in list(uf.parent):
            if n.startswith(("key:", "short:")):
                nodes[uf.find(n)].append(n.split(":", 1)[1])
        drafts: list[tuple[_Rank, _Draft, list[_Occ]]] = []
        for root, group in members.items():
            kb = uf.kb_of(root)
            type_votes: Counter[str] = Counter([o.entity.type for o in group])
            conf: dict[str, float] = defaultdict(float)
            for o in group:
                conf[o.entity.type] += o.entity.confidence
            aliases: Counter[str] = Counter()
            name_papers: dict[str, set[str]] = defaultdict(set)
            name_mentions: Counter[str] = Counter()
            shorts: set[str] = set()
            all_bare = all(x.bare is not None for x in group)  # once, not once per member
            for o in group:
                nm = _count_member(o, aliases, shorts)
                if o.bare is None or all_bare:  # (an acronym used bare names it only then)
                    name_papers[nm].add(o.paper)
                    name_mentions[nm] += len(o.entity.mentions)
            names = {n: (len(ps), name_mentions[n]) for n, ps in name_papers.items()}
            name, typ = _name_and_type(kb, gaz, names, type_votes, conf)
            signature = min(nodes.get(root) or [o.node for o in group])
            papers_of = tuple(sorted({o.paper for o in group}))
            # a compact draft (millions of Counters and dicts do not wait for the ids), with
            # its place in the id order first
            drafts.append(
                (
                    (kb is None, -len(papers_of), signature, group[0].paper, group[0].index),
                    _Draft(
                        kb,
                        typ,
                        name,
                        signature,
                        _by_count(aliases),
                        tuple(sorted(shorts)),
                        papers_of,
                        _by_count(type_votes),
                        sum(len(o.entity.mentions) for o in group),
                        len(group),
                        tuple(sorted((n, *counts) for n, counts in names.items())),
                        all_bare,
                    ),
                    group,
                )
            )
        return drafts

    @staticmethod
    def _assemble(
        drafts: Iterable[tuple[_Rank, _Draft, Sequence[_Occ] | Aligned]],
        papers: Mapping[str, Extraction],
    ) -> Resolution:
        """The ids, in the order of the drafts' places: the first draft to want an id has it,
        the others get 6 hex digits of a hash of their key after it. A draft's per-paper
        entities are occurrences or, read back, :class:`Aligned`."""
        taken: set[str] = set()
        entities: dict[str, CanonicalEntity] = {}
        # every per-paper entity is a member of one draft: a paper's ids are filled from the
        # drafts alone (the extractions of an add are mostly lines not made into objects:
        # kgraph.extractions.StoredExtractions)
        assign: dict[str, dict[int, str]] = {pid: {} for pid in papers}
        for _, d, group in sorted(drafts, key=itemgetter(0)):
            cid = d.kb or f"{d.type}/{slugify(d.name)}"
            if cid in taken:
                digest = hashlib.sha1(d.signature.encode("utf-8")).hexdigest()[:6]
                cid = f"{d.type}/{slugify(d.name)}-{digest}"
            taken.add(cid)
            entities[cid] = CanonicalEntity(
                id=cid,
                name=d.name,
                type=d.type,
                kb_id=d.kb,
                aliases=d.aliases,
                short_forms=d.shorts,
                papers=d.papers,
                type_votes=d.type_votes,
                mentions=d.mentions,
                occurrences=d.occurrences,
            )
            # (members_of, inline: a million per-paper entities at 160k papers, 0.25 s less)
            if isinstance(group, Aligned):
                for pid, ix in zip(d.papers, group, strict=True):
                    if isinstance(ix, int):
                        assign[pid][ix] = cid
                    else:
                        at = assign[pid]
                        for i in ix:
                            at[i] = cid
            else:
                for o in group:
                    assign[o.paper][o.index] = cid
        return Resolution(
            entities=dict(sorted(entities.items())),
            assignments={pid: tuple([at[i] for i in range(len(at))]) for pid, at in assign.items()},
            extractions=copied(papers),
        )


def _count_member(o: _Occ, aliases: Counter[str], shorts: set[str]) -> str:
    """Count one per-paper entity into its entity's aliases (the forms it writes, and its name
    and aliases that it does not write) and short forms; the name it would give the entity.
    (Also for an entity that new per-paper entities join: kgraph.resolve_delta.)"""
    written = Counter([m.text for m in o.entity.mentions])
    aliases.update(written)
    for form in (o.entity.name, *o.entity.aliases):
        if form not in written:
            aliases[form] += 1
    shorts.update(o.short_forms)
    return _clean_name(_unbroken(o.own_long or o.entity.name, written))


def _name_and_type(
    kb: str | None,
    gazetteer: Gazetteer,
    names: Mapping[str, Sequence[int]],
    votes: Mapping[str, int],
    conf: Mapping[str, float],
) -> tuple[str, str]:
    """An entity's name and type: its gazetteer entry's; without one, the type most of its
    per-paper entities give it (then the surest by summed confidence ``conf``), and the name
    the most papers, then mentions, give it, a name in Title Case last (``names``: name ->
    (papers, mentions)); a web address is a repository."""
    if kb:
        return gazetteer.name_of(kb) or min(names), gazetteer.type_of(kb)
    # (one candidate, the usual case, needs no comparison)
    typ = (
        next(iter(votes))
        if len(votes) == 1
        else min(votes, key=lambda t: (-votes[t], -conf.get(t, 0.0), _TYPE_RANK.get(t, 99), t))
    )
    name = (
        next(iter(names))
        if len(names) == 1
        else min(names, key=lambda n: (_is_headline(n), -names[n][0], -names[n][1], n))
    )
    return name, "repository" if _URL.match(name) else typ


class Aligned(list[int | list[int]]):
    """The per-paper entities of a canonical entity read back: for each of its papers, in
    order, the index of its entity in that paper's extraction (a list when several)."""


def members_of(d: _Draft, group: Sequence[_Occ] | Aligned) -> Iterator[tuple[str, int]]:
    """(paper id, index) of each per-paper entity of a draft, in order."""
    if isinstance(group, Aligned):
        for pid, ix in zip(d.papers, group, strict=True):
            if isinstance(ix, int):
                yield pid, ix
            else:
                for i in ix:
                    yield pid, i
    else:
        for o in group:
            yield o.paper, o.index


class _Tables(NamedTuple):
    """What the whole corpus' definitions of acronyms say (step 1)."""

    #: short-form key -> long forms by content words (:func:`loose_key`) -> long form ->
    #: papers that define the short form so
    corpus_defs: Mapping[str, Mapping[str, Mapping[str, int]]]
    #: short-form key -> its long form, for the short forms defined one way only
    unique_long: Mapping[str, str]

    @classmethod
    def of(cls, own_defs: Iterable[Mapping[str, str]]) -> _Tables:
        corpus_defs: dict[str, dict[str, Counter[str]]] = {}
        for defs in own_defs:
            count_definitions(corpus_defs, defs, 1)
        return cls.from_counts(corpus_defs)

    @classmethod
    def from_counts(cls, corpus_defs: Mapping[str, Mapping[str, Mapping[str, int]]]) -> _Tables:
        unique_long = {sk: long for sk, by in corpus_defs.items() if (long := one_long(by))}
        return cls(corpus_defs, unique_long)


def count_definitions(
    corpus_defs: dict[str, dict[str, Counter[str]]], own: Mapping[str, str], n: int
) -> None:
    """Count a paper's definitions (short-form key -> long form) in (``n`` = 1) or out (-1)
    of ``corpus_defs`` (:attr:`_Tables.corpus_defs`)."""
    for sk, long in own.items():
        by_loose = corpus_defs.setdefault(sk, {})
        loose = loose_key(long)
        longs = by_loose.setdefault(loose, Counter())
        longs[long] += n
        if longs[long] <= 0:
            del longs[long]
            if not longs:
                del by_loose[loose]
                if not by_loose:
                    del corpus_defs[sk]


def one_long(by_loose: Mapping[str, Iterable[str]]) -> str | None:
    """The long form of a short form defined one way only (its meanings: ``by_loose``)."""
    return min(next(iter(by_loose.values()))) if len(by_loose) == 1 else None


def meaning_keys(by_loose: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The sorted keys of the long forms of each meaning of a short form (by content words):
    step 5 merges each meaning's keys into its first."""
    return [sorted({surface_key(lf) for lf in by_loose[loose]}) for loose in sorted(by_loose)]


#: a draft's place in the order of the ids (see :meth:`Resolver._drafts`)
_Rank = tuple[bool, int, str, str, int]


class _Draft(NamedTuple):
    """A canonical entity before its id is known."""

    kb: str | None
    type: str
    name: str
    signature: str
    aliases: tuple[tuple[str, int], ...]
    shorts: tuple[str, ...]
    papers: tuple[str, ...]
    type_votes: tuple[tuple[str, int], ...]
    mentions: int
    occurrences: int
    #: (name, papers, mentions) of each name its per-paper entities give it, by name: those
    #: not named by a bare acronym only, unless all are (``bare_only``); what an add that
    #: only joins per-paper entities to it chooses the name from again
    #: (:mod:`kgraph.resolve_delta`)
    names: tuple[tuple[str, int, int], ...] = ()
    bare_only: bool = False


def _by_count(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    """(item, count) pairs, most counted first, then by item."""
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _unbroken(name: str, written: Mapping[str, int]) -> str:
    """Undo a singular that cut a plural in the wrong place: "Markov decision processe" (from
    "processes", not written) -> "Markov decision process"."""
    if name in written or not name.endswith("e") or name + "s" not in written:
        return name
    stem = name[:-1]
    return stem if stem.endswith(("ss", "x", "ch", "sh", "zz")) else name


def _clean_name(name: str) -> str:
    """A display name without a parenthesised acronym ("Out-of-distribution detection")."""
    if _URL.match(name):
        return name
    return (
        _PAREN.sub(lambda m: "" if is_short_form(m.group(1).strip()) else m.group(0), name).strip()
        or name
    )


def _expand(
    surface: str,
    defs: Mapping[str, str],
    unique_long: Mapping[str, str],
    seen: list[str] | None = None,
) -> str | None:
    """``surface`` with each defined acronym among its words replaced by its long form;
    ``seen`` receives the keys of the acronyms its paper does not define."""
    pieces = _PIECES.split(surface)
    if len(pieces) < 3:
        return None
    changed = False
    for i in range(0, len(pieces), 2):
        word = pieces[i]
        if not word or not is_short_form(word.rstrip("s") if len(word) > 2 else word):
            continue
        k = surface_key(word)
        if seen is not None and k not in defs:
            seen.append(k)
        long = defs.get(k) or unique_long.get(k)
        if long:
            pieces[i] = long
            changed = True
    return "".join(pieces) if changed else None


def resolve(extractions: Iterable[Extraction], gazetteer: Gazetteer | None = None) -> Resolution:
    """Resolve the entities of ``extractions`` (one per paper)."""
    resolver = Resolver(gazetteer)
    for ext in extractions:
        resolver.add(ext)
    return resolver.resolve()
