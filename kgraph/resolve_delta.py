"""Resolution that grows with the corpus: adding papers resolves again only the parts of the
corpus they can change, with the same result as resolving every paper again.

:func:`kgraph.resolve.resolve` decides which per-paper entities are one canonical entity by
merges (shared keys, gazetteer ids, acronyms) and by a few decisions that depend on what else
is merged (a union refused between two gazetteer ids, a key claimed by the gazetteer id most
per-paper entities use, the meanings of an undefined acronym). The nodes that merge or
decide together make **parts**: every merge and decision stays inside one part, so the
resolution of a part depends only on its own per-paper entities and on what the whole
corpus' definitions of acronyms say (:class:`~kgraph.resolve._Tables`).

A :class:`ResolutionState` keeps, for every part, its nodes (keys, gazetteer ids, acronyms),
the acronyms its names use that the corpus' definitions decide, which of its canonical
entities' sets of merges holds each node, and those entities without their ids (drafts,
with the per-paper entities each holds and the counts behind their names), together with
every paper's definitions of acronyms and their counts. :func:`extend` adds papers:

1. the definitions of the new papers are counted in (and those of papers gone, out); a short
   form whose meanings change (a new long form, a second meaning, a first or a last
   definition) marks the parts that hold its keys or use it;
2. a new paper's per-paper entity whose keys and gazetteer id all lie in the set of one
   canonical entity *joins* that entity, unless its part is resolved again anyway: the
   entity's counts (names, types, aliases, papers) are added to and its name and type
   chosen again from them, exactly as resolving the part again would (:func:`_joins` says
   when that holds). The most named entities (large language model, accuracy) are named by
   nearly every add, and their parts (tens of thousands of per-paper entities, linked to
   others through ambiguous acronyms) resolved again each time were most of an add's
   resolution. So does an acronym used bare (no long form in its paper) whose meanings the
   add does not change: it joins the entity of its one meaning, or of the acronym when it has
   several (:func:`_bare_target`). Bare acronyms ("LLM", "RC") reached nearly all of the
   43,986 per-paper entities an add of 1,000 papers at 160k resolved again; once they
   joined, it resolved 1,173 again. The other new per-paper entities
   mark the parts of every node they could merge with (their keys and gazetteer ids, the
   gazetteer entities their names are aliases of, the meanings of their acronyms);
3. the marked parts are closed over: the per-paper entities of a marked part are resolved
   again under the new definitions, and any part their nodes reach is marked in turn;
4. the marked parts' entities and the new ones are resolved with the same steps as a full
   resolution (in the same order, so refused unions fall the same way), which gives their
   new parts; every other part is kept as it was;
5. ids are given again over all drafts in their order, so a new entity that takes an id
   moves the others exactly as a full resolution would.

Papers gone from the corpus (or with a new id) and papers extracted again are taken out the
same way: their definitions are counted out, and the parts that held their per-paper
entities are resolved again without them. The tests check the result against a full
resolution on many random splits of real and synthetic corpora, with papers removed and
changed.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

import orjson

from . import resolve as _resolve_module
from ._hashing import source_fingerprint
from .extractions import Extraction, by_paper_id, entity_at
from .resolve import (
    Aligned,
    Gazetteer,
    Resolution,
    Resolver,
    _by_count,
    _count_member,
    _Draft,
    _name_and_type,
    _Occ,
    _Rank,
    _Tables,
    _UnionFind,
    count_definitions,
    meaning_keys,
    members_of,
    one_long,
)

__all__ = ["ResolutionState", "StateMismatch", "extend", "resolve_tracked"]

STATE_VERSION = 2


@lru_cache(maxsize=1)
def resolver_fingerprint() -> str:
    """SHA-256 of the resolution code: a state made by other code is not grown from. (What
    else resolution uses is the extractor's code and data, whose change extracts every paper
    again, and a bundle then resolves in full.)"""
    return source_fingerprint(_resolve_module, sys.modules[__name__], version=STATE_VERSION)


class StateMismatch(Exception):
    """The state cannot be grown exactly (never expected: a safety net): resolve in full."""


_Ranked = tuple[_Rank, _Draft, Sequence[_Occ] | Aligned]


@dataclass(slots=True)
class Part:
    """Nodes that resolve together, and what they resolved to."""

    nodes: list[str]  #: keys, gazetteer ids, acronyms (the per-paper entities are members)
    words: list[str]  #: keys of the acronyms it uses that the corpus' definitions decide
    drafts: list[_Ranked]  #: canonical entities without their ids, and their members
    #: for each node, the draft whose set of merges holds it (its index in ``drafts``), or
    #: -1 (a set without per-paper entities, only linked to the others): a new per-paper
    #: entity whose nodes are all in one draft's set can join it (:func:`_target`)
    sets: list[int] = field(default_factory=list)
    #: its line in the state it was read from, while it is unchanged: written as it was
    line: bytes | None = None


@dataclass
class ResolutionState:
    """What :func:`extend` needs to resolve more papers (see the module doc)."""

    papers: set[str]
    #: what each paper defines (short-form key -> long form), for the papers that do
    paper_defs: dict[str, dict[str, str]]
    parts: dict[int, Part]
    node_part: dict[str, int] = field(default_factory=dict)
    word_parts: dict[str, set[int]] = field(default_factory=dict)
    #: per-paper entities the last :func:`extend` resolved: the new papers' and those of the
    #: parts they changed (all of them after :func:`resolve_tracked`)
    resolved: int = 0
    #: new per-paper entities the last :func:`extend` joined to an entity without resolving
    #: its part again (:func:`_joins`)
    joined: int = 0
    #: short-form key -> loose key of the long form -> long form -> papers defining it so
    defs: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.node_part and self.parts:
            self._index(self.parts)
        if not self.defs:
            for own in self.paper_defs.values():
                count_definitions(self.defs, own, 1)

    def _index(self, parts: Mapping[int, Part]) -> None:
        for pid, part in parts.items():
            for n in part.nodes:
                self.node_part[n] = pid
            for w in part.words:
                self.word_parts.setdefault(w, set()).add(pid)

    def drafts(self) -> Iterator[_Ranked]:
        for part in self.parts.values():
            yield from part.drafts

    # -- reading and writing ---------------------------------------------------------------
    def dump(self, fh: IO[bytes]) -> None:
        """Gzip-compressed JSON Lines: one line for the papers and their definitions, then one
        per part, in an order that does not depend on how the state was grown (by each part's
        least node or key). The same state gives the same bytes."""
        self.compress(self.encoded(), fh)

    def encoded(self) -> list[bytes]:
        """What :meth:`dump` compresses, in pieces of a megabyte or more: the part of it that
        holds Python's lock (an add compresses them in a thread while it makes the graph)."""
        head = {
            "kgraph_resolution_state": STATE_VERSION,
            "resolver": resolver_fingerprint(),
            "papers": sorted(self.papers),
            "paper_defs": self.paper_defs,
            # (counted from paper_defs, kept: counting them again took 2.3 s at 160k papers)
            "defs": self.defs,
        }
        pieces: list[bytes] = []
        chunk = [orjson.dumps(head, option=orjson.OPT_SORT_KEYS) + b"\n"]
        size = 0
        for part in sorted(self.parts.values(), key=_least):
            # a part read from the state and unchanged since is written as it was read:
            # at 160k papers, with one part in ten changed, 2.5-2.8 -> 1.7-1.8 s (the
            # lines kept, 110 MB, are gone with the state, before the graph is made)
            line = part.line
            if line is None:
                drafts = part.drafts
                order = sorted(range(len(drafts)), key=lambda i: _first(drafts[i]))
                rows = [_draft_row(drafts[i][1], drafts[i][2]) for i in order]
                place = {i: n for n, i in enumerate(order)}
                sets = [place.get(i, -1) for i in part.sets]
                line = orjson.dumps([part.nodes, part.words, rows, sets])
            chunk.append(line)
            chunk.append(b"\n")
            size += len(line)
            if size > 1 << 20:
                pieces.append(b"".join(chunk))
                chunk, size = [], 0
        pieces.append(b"".join(chunk))
        return pieces

    @staticmethod
    def compress(pieces: list[bytes], fh: IO[bytes]) -> None:
        """Write the :meth:`encoded` ``pieces`` to ``fh`` as :meth:`dump` does, each let go
        once compressed (``pieces`` is left empty). zlib lets Python's lock go while it works.
        """
        # level 1: 88 MB of JSON at 160k papers -> 27 MB in 0.8 s (level 6: 22 MB in 2.2 s;
        # measured on the state's first form, without each paper's definitions)
        pieces.reverse()
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=1, mtime=0) as gz:
            while pieces:
                gz.write(pieces.pop())

    @classmethod
    def load(cls, fh: IO[bytes]) -> ResolutionState:
        """Read what :meth:`dump` wrote; :class:`ValueError` if it is not such a state."""
        return cls.from_lines(cls.decompress(fh.read()))

    @staticmethod
    def decompress(data: bytes) -> list[bytes]:
        """What :meth:`dump` wrote, decompressed, line by line (:class:`ValueError` if it
        cannot be): the part of :meth:`load` that lets Python's lock go (an add does it in a
        thread while it reads its papers)."""
        try:
            return gzip.decompress(data).splitlines()
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"not a resolution state: {exc or 'empty'}") from None

    @classmethod
    def from_lines(cls, data: list[bytes]) -> ResolutionState:
        """:meth:`load` of the lines :meth:`decompress` gave."""
        try:
            lines = iter(data)
            head = orjson.loads(next(lines))
        except (StopIteration, orjson.JSONDecodeError) as exc:
            raise ValueError(f"not a resolution state: {exc or 'empty'}") from None
        if not isinstance(head, dict) or "kgraph_resolution_state" not in head:
            raise ValueError("not a resolution state")
        version = head["kgraph_resolution_state"]
        if version != STATE_VERSION:
            # (version 1 lacked what a new per-paper entity needs to join a known one)
            raise ValueError(
                f"a resolution state of another form (version {version!r}; this kgraph "
                f"reads version {STATE_VERSION})"
            )
        if head.get("resolver") != resolver_fingerprint():
            raise ValueError("made by another version of kgraph's resolution")
        # one string a paper id and type, however many drafts name it (sys.intern: the C
        # function, not a dict's setdefault through a closure)
        intern = sys.intern
        parts: dict[int, Part] = {}
        line_no = 1
        try:
            papers = {intern(p) for p in head["papers"]}
            paper_defs = {intern(p): own for p, own in head["paper_defs"].items()}
            defs = {
                sk: {loose: Counter(longs) for loose, longs in by_loose.items()}
                for sk, by_loose in head["defs"].items()
            }
            for line_no, line in enumerate(lines, 2):
                nodes, words, rows, sets = orjson.loads(line)
                drafts = [_draft_from_row(r, intern) for r in rows]
                if len(sets) != len(nodes) or not all(-1 <= i < len(drafts) for i in sets):
                    raise ValueError("the sets of its nodes do not match its nodes and drafts")
                parts[line_no] = Part(nodes, words, drafts, sets, line)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a resolution state: line {line_no}: {exc!r}") from None
        return cls(papers, paper_defs, parts, defs=defs)


def _least(part: Part) -> tuple[str, str]:
    """Where a part goes in the dump: its least node or draft key, then its least node (parts
    share no node; a part without one holds per-paper entities only, whose keys are theirs)."""
    least = min([*part.nodes[:1], *(d.signature for _, d, _ in part.drafts)])
    return least, part.nodes[0] if part.nodes else ""


def _first(ranked: _Ranked) -> _Rank:
    return ranked[0]


def _draft_row(d: _Draft, group: Sequence[_Occ] | Aligned) -> list[Any]:
    """A draft and its per-paper entities as JSON: their indexes aligned with its papers."""
    if isinstance(group, Aligned):
        indexes: list[Any] = group
    else:
        by_paper: dict[str, list[int]] = {}
        for o in group:
            by_paper.setdefault(o.paper, []).append(o.index)
        indexes = [ix[0] if len(ix) == 1 else ix for ix in (by_paper[p] for p in d.papers)]
    return [
        d.kb,
        d.type,
        d.name,
        d.signature,
        d.aliases,
        d.shorts,
        d.papers,
        d.type_votes,
        d.mentions,
        d.occurrences,
        indexes,
        d.names,
        d.bare_only,
    ]


def _draft_from_row(row: list[Any], intern: Any) -> _Ranked:
    kb, typ, name, signature, aliases, shorts, papers, votes, mentions, occs, indexes = row[:11]
    names, bare_only = row[11:]
    # (map, not generators: reading the state at 160k papers 3.5 -> 3.3 s)
    papers_t = tuple(map(intern, papers))
    d = _Draft(
        kb,
        intern(typ),
        name,
        signature,
        tuple(map(tuple, aliases)),
        tuple(shorts),
        papers_t,
        tuple(map(tuple, votes)),
        mentions,
        occs,
        tuple(map(tuple, names)),
        bare_only is True,
    )
    first = indexes[0] if isinstance(indexes[0], int) else indexes[0][0]
    rank = (kb is None, -len(papers_t), signature, papers_t[0], first)
    return (rank, d, Aligned(indexes))


# --- building ------------------------------------------------------------------------------


def _parts(
    uf: _UnionFind,
    links: Iterable[tuple[str, str]],
    drafts: Iterable[tuple[_Rank, _Draft, list[_Occ]]],
    words: Mapping[str, list[str]],
    first_id: int,
) -> dict[int, Part]:
    """The parts of a run: its sets, joined by the links that decided between them."""
    joins = _UnionFind()  # (no gazetteer ids: every union is made)
    for a, b in links:
        joins.union(uf.find(a), uf.find(b))

    def root_of(node: str) -> str:
        return joins.find(uf.find(node))

    by_root: dict[str, Part] = defaultdict(lambda: Part([], [], []))
    for node in list(uf.parent):
        if not node.startswith("occ:"):
            by_root[root_of(node)].nodes.append(node)
    #: part -> the root of each draft's set -> the draft's index in the part
    held: dict[str, dict[str, int]] = defaultdict(dict)
    for ranked in drafts:
        root = uf.find(ranked[2][0].node)
        part = by_root[joins.find(root)]
        held[joins.find(root)][root] = len(part.drafts)
        part.drafts.append(ranked)
    words_by_root: dict[str, set[str]] = defaultdict(set)
    for node, keys in words.items():
        words_by_root[root_of(node)].update(keys)
    parts: dict[int, Part] = {}
    for i, root in enumerate(sorted(by_root), start=first_id):
        part = by_root[root]
        part.nodes.sort()
        part.words = sorted(words_by_root.get(root, ()))
        at = held[root]
        part.sets = [at.get(uf.find(node), -1) for node in part.nodes]
        parts[i] = part
    return parts


def resolve_tracked(
    extractions: Iterable[Extraction], gazetteer: Gazetteer | None = None
) -> tuple[Resolution, ResolutionState]:
    """:func:`kgraph.resolve.resolve`, and the state :func:`extend` grows from."""
    resolver = Resolver(gazetteer)
    for ext in extractions:
        resolver.add(ext)
    papers = dict(sorted(resolver._papers.items()))
    own = {pid: resolver._own_definitions(ext) for pid, ext in papers.items()}
    defs: dict[str, dict[str, Counter[str]]] = {}
    for d in own.values():
        count_definitions(defs, d, 1)
    tables = _Tables.from_counts(defs)
    words: dict[str, list[str]] = {}
    occs = resolver._occurrences(papers, own, tables, lambda o, ks: words.__setitem__(o.node, ks))
    links: list[tuple[str, str]] = []
    uf, members = resolver._partition(occs, tables, links=links)
    drafts = resolver._drafts(uf, members)
    resolution = resolver._assemble(drafts, papers)
    parts = _parts(uf, links, drafts, words, 0)
    state = ResolutionState(set(papers), {pid: d for pid, d in own.items() if d}, parts, defs=defs)
    state.resolved = len(occs)
    return resolution, state


# --- growing -------------------------------------------------------------------------------


def _target(
    o: _Occ, state: ResolutionState, places: dict[int, dict[str, int]]
) -> tuple[int, int] | None:
    """The part and the draft a new paper's per-paper entity can join without resolving the
    part again: the draft whose set of merges holds every node of it (its keys, its
    gazetteer id). None for an acronym without a long form (step 5 decides it), an entity of
    a paper the state holds (extracted again: its part is resolved again), and one with a
    key or an id the state does not have, or whose nodes are in several sets (resolving
    again, it would merge them, or be refused). ``places``: a cache of each part's
    node -> draft."""
    if o.bare is not None or o.paper in state.papers:
        return None
    nodes = ["key:" + k for k in o.long_keys]
    if o.kb:
        nodes.append("kb:" + o.kb)
    if not nodes:
        return None
    part = state.node_part.get(nodes[0])
    if part is None:
        return None
    place = _place(state, places, part)
    draft = place[nodes[0]]
    if draft < 0 or any(place.get(n) != draft for n in nodes[1:]):
        return None
    return part, draft


def _bare_target(
    o: _Occ,
    state: ResolutionState,
    places: dict[int, dict[str, int]],
    redefined: Mapping[str, tuple[list[list[str]], str | None, bool]],
) -> tuple[int, int] | None:
    """:func:`_target` of an acronym used bare (no long form in its paper: step 5 decides
    it). Step 5 puts it in the set of the acronym's one meaning (the set that holds the first
    key of each group of its long forms), or else in the set of the acronym itself
    (``short:``), and links it to each meaning: it can join that set's draft when the
    corpus' meanings of the acronym are those the state was made with (``redefined``: the
    short forms whose definitions the add counted, with their groups before), the set has
    per-paper entities, and the meanings and the set are all in one part (a first bare use of
    an acronym of several meanings links their parts into one: resolved again)."""
    sk = o.bare
    if sk is None or o.paper in state.papers:
        return None
    groups = _groups(state.defs, sk)
    if sk in redefined and redefined[sk][0] != groups:  # (its meanings' parts are marked
        return None  # then too: step 1)
    firsts = ["key:" + g[0] for g in groups]
    in_parts = {state.node_part.get(n) for n in firsts}
    if len(in_parts) > 1 or None in in_parts:
        return None
    part = next(iter(in_parts)) if in_parts else None
    if part is not None:
        place = _place(state, places, part)
        sets = {place[n] for n in firsts}
        if len(sets) == 1:  # one meaning
            draft = sets.pop()
            return (part, draft) if draft >= 0 else None
    short = "short:" + sk
    at = state.node_part.get(short)
    if at is None or (part is not None and at != part):  # (linked before: one part)
        return None
    draft = _place(state, places, at)[short]
    return (at, draft) if draft >= 0 else None


def _place(state: ResolutionState, places: dict[int, dict[str, int]], part: int) -> dict[str, int]:
    """Each node of ``part`` -> the draft whose set holds it (-1: none), made once."""
    place = places.get(part)
    if place is None:
        held = state.parts[part]
        place = places[part] = dict(zip(held.nodes, held.sets, strict=True))
    return place


def _joins(ranked: _Ranked, occs: Sequence[_Occ]) -> bool:
    """Whether ``occs`` (:func:`_target`: every node of each is in the set of this draft)
    join the draft exactly as resolving its part again would. Resolving again, each would
    merge into that set and change no other decision. Step 3: a key of the set that a
    gazetteer id claims is claimed by the set's id (a key goes to the set of the id that
    claims it most, and the others' unions with it are refused), so that its gazetteer id
    claiming the key again changes no key's owner, and an entity without an id only merges.
    The set's keys stay the same; its types must too, since they allow the gazetteer
    entities step 4 looks for by those keys; and the type of an entity without a gazetteer
    id must stay decided by its votes alone (a tie is broken by confidence, which the
    state does not keep)."""
    _, d, _ = ranked
    votes = dict(d.type_votes)
    if any(o.entity.type not in votes for o in occs):
        return False
    if d.kb is None and len(votes) > 1:
        for o in occs:
            votes[o.entity.type] += 1
        top = max(votes.values())
        if sum(1 for n in votes.values() if n == top) > 1:
            return False
    return True


def _joined(ranked: _Ranked, occs: Sequence[_Occ], gazetteer: Gazetteer, keyed: bool) -> _Ranked:
    """The draft of an entity with ``occs`` joined (:func:`_joins`), as
    :meth:`~kgraph.resolve.Resolver._drafts` makes it from all its per-paper entities: the
    counts added to, the name and type chosen again from them, the members in paper order.
    The signature is the set's least key or acronym, which stays (``keyed``: it has one), or
    else its least per-paper entity."""
    _, d, held = ranked
    aliases = Counter(dict(d.aliases))
    votes = Counter(dict(d.type_votes))
    shorts = set(d.shorts)
    #: name -> [papers, mentions]: an acronym used bare names the entity only while all its
    #: per-paper entities are (as in _drafts): the names of a draft that were all such count
    #: until one that is not joins it
    all_bare = d.bare_only and all(o.bare is not None for o in occs)
    names = (
        {n: [papers, mentions] for n, papers, mentions in d.names}
        if all_bare or not d.bare_only
        else {}
    )
    name_papers: dict[str, set[str]] = defaultdict(set)
    mentions = d.mentions
    for o in occs:
        nm = _count_member(o, aliases, shorts)
        if o.bare is None or all_bare:
            name_papers[nm].add(o.paper)
            names.setdefault(nm, [0, 0])[1] += len(o.entity.mentions)
        votes[o.entity.type] += 1
        mentions += len(o.entity.mentions)
    for nm, new in name_papers.items():
        names[nm][0] += len(new)
    # (the type of an entity without a gazetteer id is its one most voted: _joins, so the
    # confidences that break ties, which the state does not keep, are not needed)
    name, typ = _name_and_type(d.kb, gazetteer, names, votes, {})
    members: dict[str, list[int]] = defaultdict(list)
    for pid, index in members_of(d, held):
        members[pid].append(index)
    for o in occs:
        members[o.paper].append(o.index)
    papers = tuple(sorted(members))
    indexes = Aligned(ix[0] if len(ix) == 1 else ix for ix in (members[p] for p in papers))
    first = indexes[0] if isinstance(indexes[0], int) else indexes[0][0]
    signature = d.signature if keyed else min(d.signature, *(o.node for o in occs))
    draft = d._replace(
        type=typ,
        signature=signature,
        name=name,
        aliases=_by_count(aliases),
        shorts=tuple(sorted(shorts)),
        papers=papers,
        type_votes=_by_count(votes),
        mentions=mentions,
        occurrences=d.occurrences + len(occs),
        names=tuple(sorted((n, p, m) for n, (p, m) in names.items())),
        bare_only=all_bare,
    )
    return ((d.kb is None, -len(papers), signature, papers[0], first), draft, indexes)


def _groups(defs: Mapping[str, Mapping[str, Iterable[str]]], sk: str) -> list[list[str]]:
    """The step-5 key groups of a short form (:func:`~kgraph.resolve.meaning_keys`)."""
    return meaning_keys(defs.get(sk, {}))


def extend(
    state: ResolutionState,
    extractions: Mapping[str, Extraction],
    gazetteer: Gazetteer | None = None,
    *,
    changed: Collection[str] = (),
) -> tuple[Resolution, ResolutionState]:
    """Resolve ``extractions`` (every paper) from ``state``, resolving again only what the
    papers new to it, gone from it, or extracted again (``changed``: papers whose extraction
    is not the one the state was made from) can change (see the module doc). The state is
    consumed."""
    resolver = Resolver(gazetteer)
    gaz = resolver.gazetteer
    papers = by_paper_id(extractions)  # (stored extractions stay lines: nothing made)
    stale = state.papers.difference(papers) | state.papers.intersection(changed)
    new_ids = [pid for pid in papers if pid not in state.papers or pid in stale]

    # 1. the definitions of the papers gone and new, and the short forms whose meanings change
    #: short form -> its key groups, its one long form (if it has one meaning), whether
    #: defined at all, before
    redefined: dict[str, tuple[list[list[str]], str | None, bool]] = {}

    def recount(own: Mapping[str, str], n: int) -> None:
        for sk in own:
            if sk not in redefined:
                by_loose = state.defs.get(sk, {})
                redefined[sk] = (_groups(state.defs, sk), one_long(by_loose), bool(by_loose))
        count_definitions(state.defs, own, n)

    for pid in stale:
        recount(state.paper_defs.pop(pid, {}), -1)
    own: dict[str, dict[str, str]] = {}
    for pid in new_ids:
        own[pid] = resolver._own_definitions(papers[pid])
        if own[pid]:
            state.paper_defs[pid] = own[pid]
            recount(own[pid], 1)
    tables = _Tables.from_counts(state.defs)

    node_part, word_parts = state.node_part, state.word_parts
    first_id = max(state.parts, default=-1) + 1
    marked: set[int] = set()
    scope: set[str] = set()

    def mark(node: str) -> None:
        part = node_part.get(node)
        if part is not None:
            marked.add(part)

    for sk, (before, unique_before, defined) in redefined.items():
        if not defined and sk in state.defs:  # defined for the first time: the names it was
            mark("key:" + sk)  # are acronyms now
        if tables.unique_long.get(sk) != unique_before or defined != (sk in state.defs):
            marked.update(word_parts.get(sk, ()))  # what it is as a name or inside names
        after = _groups(state.defs, sk)
        if after != before:  # which long forms step 5 merges, and the meanings of sk (its
            for group in (*before, *after):  # bare uses are in the parts of its meanings)
                for k in group:
                    mark("key:" + k)
                    scope.add("key:" + k)
    if stale:  # the parts that hold what the papers gone or extracted again had
        for p, part in state.parts.items():
            if any(pid in stale for _, d, _ in part.drafts for pid in d.papers):
                marked.add(p)

    # 2. the new per-paper entities, and what they can reach
    words: dict[str, list[str]] = {}

    def note_words(o: _Occ, ks: list[str]) -> None:
        words[o.node] = ks

    new_occs = resolver._occurrences({pid: papers[pid] for pid in new_ids}, own, tables, note_words)

    def reach(o: _Occ) -> Iterator[str]:
        for k in o.long_keys:
            yield "key:" + k
            for kb in gaz.ids_for_key(k):
                yield "kb:" + kb
        if o.kb:
            yield "kb:" + o.kb
        if o.bare is not None:
            yield "short:" + o.bare
            for group in _groups(tables.corpus_defs, o.bare):
                yield "key:" + group[0]

    def reached(occs: Iterable[_Occ]) -> None:
        for o in occs:
            for node in reach(o):
                mark(node)
                scope.add(node)

    # a new paper's per-paper entity whose keys and gazetteer id are all in one draft's set
    # joins that draft, unless its part is resolved again anyway (_target, _joins)
    joining: dict[tuple[int, int], list[_Occ]] = {}
    plain: list[_Occ] = []
    places: dict[int, dict[str, int]] = {}
    for o in new_occs:
        if o.bare is None:
            target = _target(o, state, places)
        else:
            target = _bare_target(o, state, places, redefined)
        if target is None:
            plain.append(o)
        else:
            joining.setdefault(target, []).append(o)
    for (p, i), joiners in list(joining.items()):
        if p in marked or not _joins(state.parts[p].drafts[i], joiners):
            plain.extend(joining.pop((p, i)))
    reached(plain)

    # 3. close over the marked parts: their members resolved again may reach other parts
    again: dict[int, list[_Occ]] = {}
    no_defs: dict[str, str] = {}
    while True:
        moved = [t for t in joining if t[0] in marked]  # marked after all: resolved again
        for t in moved:
            plain.extend(joining[t])
            reached(joining.pop(t))
        if moved:
            continue
        todo = [p for p in marked if p not in again]
        if not todo:
            break
        for p in todo:
            occs: list[_Occ] = []
            for _, d, held in state.parts[p].drafts:
                for pid, index in members_of(d, held):
                    if pid in stale:
                        continue
                    defs = state.paper_defs.get(pid, no_defs)  # (what _own_definitions gave)
                    entity = entity_at(papers, pid, index)  # (of a stored line: it alone)
                    occs.append(resolver._occurrence(pid, index, entity, defs, tables, note_words))
            again[p] = occs
            scope.update(state.parts[p].nodes)
            for o in occs:
                for node in reach(o):
                    mark(node)
                    scope.add(node)

    # 4. resolve the marked parts and the new papers again
    run = sorted(
        [*plain, *(o for occs in again.values() for o in occs)],
        key=lambda o: (o.paper, o.index),
    )
    links: list[tuple[str, str]] = []
    uf, members = resolver._partition(run, tables, scope=scope.__contains__, links=links)
    drafts = resolver._drafts(uf, members)
    for p in marked:
        part = state.parts.pop(p)
        for n in part.nodes:
            del node_part[n]
        for w in part.words:
            word_parts[w].discard(p)
    fresh = _parts(uf, links, drafts, words, first_id)
    for part in fresh.values():
        for n in part.nodes:
            if n in node_part:  # the closure missed a part: never expected; be exact anyway
                raise StateMismatch(f"resolution state: {n} is in two parts")
    state.parts.update(fresh)
    state._index(fresh)
    for (p, i), joiners in joining.items():
        part = state.parts[p]
        keyed = any(
            n.startswith(("key:", "short:")) and at == i
            for n, at in zip(part.nodes, part.sets, strict=True)
        )
        part.drafts[i] = _joined(part.drafts[i], joiners, gaz, keyed)
        part.line = None
        used = {w for o in joiners for w in words.get(o.node, ())}.difference(part.words)
        if used:
            part.words = sorted([*part.words, *used])
            for w in used:
                word_parts.setdefault(w, set()).add(p)
    state.papers.difference_update(stale)
    state.papers.update(new_ids)
    state.resolved = len(run)
    state.joined = sum(len(joiners) for joiners in joining.values())

    # 5. ids over every draft
    resolution = resolver._assemble(state.drafts(), papers)
    return resolution, state
