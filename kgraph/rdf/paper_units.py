"""What an add keeps of the RDF: which papers' and entities' statements it can take from before.

The statements come in *blocks* (:func:`kgraph.rdf.convert.statement_runs`), each made from
one node's own part of the graph only:

- a paper's named graph: its node, its edges, its result nodes, and the ``evaluated_on``
  edges it is the provenance of (entities appear in it by their ids, which are in the edges);
- an entity's statements in the entities graph: its node, its ``co_occurs`` edges (its
  ``kg:coOccursWith`` pairs), and what it takes from the corpus' ranks (its
  ``kg:usageRank``, a metric's ``kg:topResult`` list:
  :func:`kgraph.rdf.convert.entity_extras`);
- each node of an entity's short list of co-occurring entities (a ``kg:CoOccurrence``
  node), right after its entity's block (:class:`PartnerBlocks`).

A 64-bit digest of that part (:func:`block_digests`: its lines in ``graph.json``, whose writer
sums their SHA-1s as it goes, and for an entity its ranks; for a node of a short list its
count) tells an add whether the block's statements can have changed. An entity's digest
covers its ``co_occurs`` edges, hence its list: a kept entity keeps its list with it. The
bundle keeps, in ``graph.units.npz`` (:data:`kgraph.bundle.UNITS`), each block's digest and
where it lies in ``graph.ttl`` (and how many statements it holds, and for an entity how many
blocks of its list follow); the store keeps each of its units' quads digest
(:mod:`kgraph.rdf.delta`: a paper's graph, an entity's statements, its pairs, each node of
its short list).

The union (``graph.ttl``) leaves out of a paper's block the ``kg:evaluatedOn`` pairs an
earlier paper gives: those pairs count in the digest too (:func:`unit_digests`). An add
(:class:`Reuse`) then makes the statements of the blocks whose digest changed and of the new
ones; every other block is copied from the previous ``graph.ttl``, and its quads stay in the
store, which is updated with the rest (:func:`kgraph.rdf.delta.update_store`). What the
entities graph holds besides the blocks (organisations, the ranks of mentions and results,
leaderboards) is made whole. The file also records the RDF mapping's code
(:func:`code_fingerprint`): Turtle written by other code is not copied.
"""

from __future__ import annotations

import hashlib
import io
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, NamedTuple, cast

import networkx as nx
import numpy as np
import orjson

from .._hashing import source_fingerprint
from ..exporters import DEFAULT_BASE
from .delta import key64, key_hash

if TYPE_CHECKING:
    from .convert import EntityFacts

__all__ = [
    "BlockUnits",
    "PartnerBlocks",
    "Reuse",
    "block_digests",
    "code_fingerprint",
    "is_node_block",
    "node_key",
]

#: 2: entities' blocks; a node's consecutive lines of graph.json digested as one; 3: each
#: node of an entity's short list a block of its own (:class:`PartnerBlocks`)
_VERSION: Final = 3
#: an add makes the store's quads whole (and loads them) when more papers than this share
#: changed: a bulk load is then faster than an update (kgraph.rdf.delta.MAX_SHARE)
MAX_CHANGED: Final = 0.3
_MASK64: Final = (1 << 64) - 1


def node_key(node: str) -> int:
    """A graph node's 64-bit key (the store's unit keys' hash)."""
    return key64(node)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the code that turns a paper into statements and statements into Turtle."""
    from . import convert, namespaces, turtle

    return source_fingerprint(convert, namespaces, turtle, sys.modules[__name__], version=_VERSION)


def line_digest(line: bytes) -> int:
    """The 64-bit digest of one line of ``graph.json``."""
    return int.from_bytes(hashlib.sha1(line).digest()[:8], "little")


def add_line(digests: dict[str, int], paper: str, line: bytes) -> None:
    """Sum ``line``'s digest into ``paper``'s (modulo 2**64: the order does not matter)."""
    digests[paper] = (digests.get(paper, 0) + line_digest(line)) & _MASK64


def is_node_block(block: str) -> bool:
    """Whether ``block`` names a paper's or an entity's block (a graph node), not a node of
    an entity's short list (:class:`PartnerBlocks`: an IRI)."""
    return block.startswith(("paper:", "entity:"))


def _following(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ``counts[i]`` rows after each of ``rows`` (its list's), one after the other."""
    counts = counts.astype(np.int64)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.asarray(np.repeat(rows.astype(np.int64), counts) + 1 + within)


def node_keys(nodes: Sequence[str]) -> np.ndarray:
    """:func:`node_key` of each of ``nodes`` (their hashes' bytes joined, read at once: about
    a tenth less time than an int made for each)."""
    hashes = b"".join(map(key_hash, nodes))
    return np.frombuffer(hashes, dtype="<u8").astype(np.uint64) if nodes else np.zeros(0, np.uint64)


def block_digests(graph: nx.MultiDiGraph) -> dict[str, int]:
    """Every paper and entity node's digest of its part of ``graph`` (see the module doc):
    the sum of the digests of its lines in ``graph.json`` (as the build takes them while
    writing it), with what :func:`unit_digests` adds."""
    from ..bundle import write_graph_json

    digests: dict[str, int] = {}
    write_graph_json(graph, cast(BinaryIO, _Discard()), digests)
    return unit_digests(graph, digests)


def unit_digests(
    graph: nx.MultiDiGraph,
    line_digests: Mapping[str, int],
    base: str = DEFAULT_BASE,
    facts: EntityFacts | None = None,
) -> dict[str, int]:
    """Every paper's and entity's digest of what its block of ``graph.ttl`` is made from: its
    lines (``line_digests``, from :func:`block_digests` or graph.json's writer; 0 for a
    node without), for a paper with the ``kg:evaluatedOn`` pairs the union leaves out of it
    (those an earlier paper, by node id, the order of the blocks, also gives), for an entity
    with what its block takes from the corpus' ranks
    (:func:`~kgraph.rdf.convert.entity_extras`, from ``facts`` when given)."""
    from .convert import entity_extras

    # (networkx's own dicts, in its views' order: through the views, 1.4 s at 177k papers)
    node_attrs, succ = graph._node, graph._succ
    holders: dict[tuple[str, str], list[str]] = {}
    for node, attrs in node_attrs.items():
        if attrs.get("kind") != "entity":
            continue
        for target, keyed in succ[node].items():
            for data in keyed.values():
                if data.get("relation") == "evaluated_on":
                    holders.setdefault((node, target), []).append(str(data.get("paper", "")))
    dropped: dict[str, list[tuple[str, str]]] = {}
    for pair, papers in holders.items():
        for pnode in sorted(papers)[1:]:
            dropped.setdefault(pnode, []).append(pair)
    extras = entity_extras(graph, base, facts)
    out: dict[str, int] = {}
    for node, attrs in node_attrs.items():
        kind = attrs.get("kind")
        if kind == "paper":
            digest = line_digests.get(node, 0)
            if node in dropped:
                digest = (digest + line_digest(orjson.dumps(sorted(dropped[node])))) & _MASK64
            out[node] = digest
        elif kind == "entity":
            digest = line_digests.get(node, 0)
            if node in extras:
                digest = (digest + line_digest(extras[node])) & _MASK64
            out[node] = digest
    return out


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class Keyed(NamedTuple):
    """The papers and entities of an add's plan (:func:`plan_reuse`) that have a block of
    their own in the new file (not those copied with the block before them:
    :attr:`Reuse.inside`), in the order of their blocks, with their keys (:func:`node_key`),
    their digests, the row of each kept one in the previous units (-1 for those made), and
    the last row its copy spans there (its stretch's: -1 for those made)."""

    nodes: list[str]
    keys: np.ndarray
    digests: np.ndarray
    rows: np.ndarray
    ends: np.ndarray


@dataclass
class BlockUnits:
    """Per block (rows in the order of ``graph.ttl``'s blocks): its key (:func:`node_key` of
    its node, or of its IRI for a node of an entity's short list), its digest, its offset,
    length and statements in ``graph.ttl``, and how many blocks of its entity's short list
    follow it (``children``: :class:`PartnerBlocks`; 0 but for an entity's block);
    ``ttl_sha256``: that file's."""

    key: np.ndarray
    digest: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    statements: np.ndarray
    children: np.ndarray
    ttl_sha256: str
    code: str

    @classmethod
    def make(
        cls,
        nodes: Iterable[str],
        digests: Mapping[str, int],
        places: Any,
        ttl_sha256: str,
        keyed: Keyed | tuple[list[str], np.ndarray] | None = None,
        previous: BlockUnits | None = None,
        kept: Mapping[str, int] | None = None,
        ends: Mapping[str, int] | None = None,
    ) -> BlockUnits:
        """The units of the blocks ``nodes`` (papers, entities and the nodes of entities'
        short lists, in the order of their blocks), their ``digests``, and the ``places``
        the Turtle writer gave the blocks (offset, length, statements: as triples, or one
        after the other). ``keyed``: the papers and entities and their keys
        (:func:`node_key`) made before, taken when they are those of ``nodes`` (a
        :class:`Keyed`: with their digests and their rows in ``previous``, ``kept`` then).

        ``kept``: the blocks an add copied from the file ``previous`` describes, by node,
        with their row in it (a :class:`Keyed` gives them): a kept entity's short list came
        with it (one place for all), and so did the blocks of a stretch copied with its
        first (``ends``: the last row of such a block's copy, by node); their rows are taken
        from ``previous``, moved to where the block is now."""
        order = list(nodes)
        n = len(order)
        table = np.asarray(places, dtype=np.uint64).reshape(-1, 3)
        if n != len(table):
            raise ValueError(f"{n} nodes, {len(table)} Turtle blocks")
        top = np.fromiter(map(is_node_block, order), dtype=bool, count=n)
        tops, others = np.flatnonzero(top), np.flatnonzero(~top)
        top_nodes = [order[i] for i in tops.tolist()]
        other_nodes = [order[i] for i in others.tolist()]
        key = np.zeros(n, dtype=np.uint64)
        digest = np.zeros(n, dtype=np.uint64)
        row = np.full(n, -1, dtype=np.int64)  #: a kept block's row in previous
        last = np.full(n, -1, dtype=np.int64)  #: the last row in previous its copy spans
        known = keyed is not None and keyed[0] == top_nodes
        key[tops] = keyed[1] if keyed is not None and known else node_keys(top_nodes)
        key[others] = node_keys(other_nodes)
        digest[others] = [digests[p] for p in other_nodes]
        if isinstance(keyed, Keyed) and known:  # (an add's plan: no lookup per node)
            digest[tops] = keyed.digests
            row[tops] = keyed.rows
            last[tops] = keyed.ends
        else:
            if isinstance(keyed, Keyed):  # (blocks in another order: the plan's, by node)
                kept = dict(zip(keyed.nodes, keyed.rows.tolist(), strict=True))
                ends = dict(zip(keyed.nodes, keyed.ends.tolist(), strict=True))
            digest[tops] = [digests[p] for p in top_nodes]
            if kept:
                row[tops] = [kept.get(p, -1) for p in top_nodes]
            if ends:
                last[tops] = [ends.get(p, -1) for p in top_nodes]
        offset, length, statements = (table[:, i].copy() for i in range(3))
        # an entity's short list, made: the blocks after it that are not nodes'
        children = np.zeros(n, dtype=np.uint64)
        children[tops] = np.diff(np.append(tops, n)) - 1
        extra = np.zeros(n, dtype=np.int64)
        if previous is not None:
            at = np.flatnonzero(row >= 0)
            own = previous.children[row[at]].astype(np.int64)  # (its list, by default)
            extra[at] = np.where(last[at] >= 0, last[at] - row[at], own)
        if not extra.any():
            code = code_fingerprint()
            return cls(key, digest, offset, length, statements, children, ttl_sha256, code)
        assert previous is not None
        # the kept blocks copied with the rows after them (their list, their stretch): their
        # place spans those; their rows and those after them taken from the previous units,
        # moved by as much as the block moved
        with_list = np.flatnonzero(extra)
        rows = row[with_list]
        last = rows + extra[with_list]
        span = previous.offset[last] + previous.length[last] - previous.offset[rows]
        if not (span == length[with_list]).all():
            raise ValueError("a kept block's place differs from its rows in the previous units")
        length[with_list] = previous.length[rows]
        statements[with_list] = previous.statements[rows]
        children[with_list] = previous.children[rows]
        size = n + int(extra.sum())
        at = np.arange(n) + np.concatenate(([0], np.cumsum(extra)[:-1]))
        counts = extra[with_list]
        src = _following(rows, counts)  # (the lists' rows in previous)
        dst = _following(at[with_list], counts)  # (and here)
        moved = np.repeat(offset[with_list] - previous.offset[rows], counts)
        columns = []
        for mine, theirs in (
            (key, previous.key),
            (digest, previous.digest),
            (offset, previous.offset),  # (moved below)
            (length, previous.length),
            (statements, previous.statements),
            (children, previous.children),
        ):
            out = np.zeros(size, dtype=np.uint64)
            out[at] = mine
            out[dst] = theirs[src]
            columns.append(out)
        columns[2][dst] += moved
        key, digest, offset, length, statements, children = columns
        code = code_fingerprint()
        return cls(key, digest, offset, length, statements, children, ttl_sha256, code)

    def dump(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            key=self.key,
            digest=self.digest,
            offset=self.offset,
            length=self.length,
            statements=self.statements,
            children=self.children,
            meta=np.frombuffer(
                orjson.dumps(
                    {"version": _VERSION, "ttl_sha256": self.ttl_sha256, "code": self.code}
                ),
                dtype=np.uint8,
            ),
        )
        return buf.getvalue()

    @classmethod
    def load(cls, data: bytes) -> BlockUnits:
        """What :meth:`dump` wrote (ValueError if it is not)."""
        names = ("key", "digest", "offset", "length", "statements", "children")
        try:
            with np.load(io.BytesIO(data)) as z:
                meta = orjson.loads(z["meta"].tobytes())
                # (a file of another version may lack a column)
                arrays = [z[k] for k in names] if meta.get("version") == _VERSION else []
        except Exception as exc:  # zipfile's, numpy's, orjson's errors: damaged
            raise ValueError(f"damaged ({exc})") from None
        if not arrays or len({len(a) for a in arrays}) != 1:
            raise ValueError("not a units file of this version")
        key, digest, offset, length, statements, children = arrays
        sha256, code = str(meta["ttl_sha256"]), str(meta["code"])
        return cls(key, digest, offset, length, statements, children, sha256, code)

    def spans(self, last: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each row's length and statements with those of the short list after it (the
        bytes an add copies for a kept entity: its block and its list together), or of the
        rows up to ``last`` (each row's last row: a stretch copied at once)."""
        n = len(self.key)
        if last is None:
            last = np.arange(n, dtype=np.int64) + self.children.astype(np.int64)
        length = self.offset[last] + self.length[last] - self.offset
        total = np.concatenate(([0], np.cumsum(self.statements, dtype=np.uint64)))
        return length, total[last + 1] - total[:n]


class _Copies(Mapping[str, bytes]):
    """Node -> its block's ``#c OFFSET LENGTH STATEMENTS`` mark (a kept entity's with its
    short list; with ``last``, each row's last row copied with it: a stretch's first
    block's mark spans the stretch), made when asked for from the units' table. The table's
    columns are read as ``array("Q")``, whose items are Python ints at once: a numpy scalar
    made and converted for each took 0.39 s for 511k marks, these 0.12 s. :meth:`add`: a
    block of a short list kept (:class:`PartnerBlocks`)."""

    def __init__(
        self, rows: Mapping[str, int], units: BlockUnits, last: np.ndarray | None = None
    ) -> None:
        self._rows = rows
        self._more: dict[str, int] = {}
        length, statements = units.spans(last)
        self._offset, self._length, self._statements = (
            array("Q", np.ascontiguousarray(column, dtype=np.uint64).tobytes())
            for column in (units.offset, length, statements)
        )

    def add(self, block: str, row: int) -> None:
        self._more[block] = row

    def __getitem__(self, node: str) -> bytes:
        mark = self.get(node)
        if mark is None:
            raise KeyError(node)
        return cast(bytes, mark)

    def get(self, node: str, default: Any = None) -> Any:  # (one call a block, not two)
        row = self._rows.get(node)
        if row is None and (row := self._more.get(node)) is None:
            return default
        return b"#c %d %d %d\n" % (self._offset[row], self._length[row], self._statements[row])

    def __contains__(self, node: object) -> bool:
        return node in self._rows or node in self._more

    def __iter__(self) -> Iterator[str]:
        yield from self._rows
        yield from self._more

    def __len__(self) -> int:
        return len(self._rows) + len(self._more)


@dataclass
class Reuse:
    """What an add takes from the bundle it grows: the blocks whose statements are not made
    again (``keep``: graph nodes, papers and entities, each with its row in ``units``;
    ``papers_kept`` of them papers), the keys (:func:`node_key`) of every block kept
    (``kept_keys``: with the short lists of the entities kept, and the nodes of short lists
    :class:`PartnerBlocks` keeps), each one's ``#c`` mark for the Turtle writer (by node, in
    ``copies``), ``previous_ttl`` to copy them from; ``units``: that file's blocks (the
    store's update reads the statements of the units that changed from it);
    ``changed_rows``: the rows of the entities whose block changed and who had a short list
    (its nodes may be kept).

    Kept blocks that follow each other here and in the previous file (a *stretch*: an add
    of 1,000 papers to the 163k bundle kept 503,135 blocks in 8,305 stretches) are copied at
    once: the first has a mark that spans the stretch (:attr:`Keyed.ends`: the last row in
    ``units`` each such block's copy spans), the others (``inside``; ``inside_papers`` of
    them papers) have no block of their own in the new file, nor a run in the quad pass."""

    keep: Mapping[str, int]
    copies: Mapping[str, bytes]
    previous_ttl: Path
    papers_kept: int
    kept_keys: np.ndarray
    units: BlockUnits | None = None
    #: the papers and entities with a block of their own (the blocks' order), their keys, ...
    keyed: Keyed | None = None
    changed_rows: Mapping[str, int] = field(default_factory=dict)
    nodes_kept: int = 0  #: papers and entities
    inside: frozenset[str] = frozenset()
    inside_papers: int = 0

    @property
    def kept(self) -> int:
        """The papers and entities kept."""
        return self.nodes_kept

    @property
    def stretches(self) -> int:
        """The stretches of kept blocks (each copied at once, by its first block's mark)."""
        return int((self.keyed.rows >= 0).sum()) if self.keyed is not None else 0

    def kept_with(self, more: Sequence[int]) -> np.ndarray:
        """``kept_keys`` and the keys ``more`` of the blocks kept while the statements were
        made (:attr:`PartnerBlocks.kept_keys`)."""
        if not len(more):
            return self.kept_keys
        return np.concatenate((self.kept_keys, np.asarray(more, dtype=np.uint64)))

    def spent(self, more: Sequence[int] = ()) -> Reuse:
        """This plan once the statements are made: what the store's update still needs (the
        kept blocks' keys, with ``more`` kept while the statements were made, the previous
        file's blocks), without the blocks' nodes and marks (half a million at 160k, which
        the build's worker would otherwise hand to the process that loads the store)."""
        return Reuse(
            {},
            {},
            self.previous_ttl,
            self.papers_kept,
            self.kept_with(more),
            self.units,
            nodes_kept=self.nodes_kept,
        )


#: the digest of each count of shared papers (:meth:`PartnerBlocks.kept`)
_COUNT_DIGESTS: dict[int, int] = {}


class PartnerBlocks:
    """The blocks of the nodes of entities' short lists (the ``kg:CoOccurrence`` nodes of an
    entity's :data:`~kgraph.rdf.convert.TOP_K` most co-occurring entities), each a block of
    its own after its entity's, named by its IRI; its digest is that of its count of shared
    papers (its IRI names the entity and the partner). An entity's own digest covers its
    ``co_occurs`` edges, so a kept entity keeps its list whole; of an entity whose block
    changed (one more paper naming it), an add keeps the nodes whose count did not change
    (:meth:`kept`). In an add of 1,000 papers to the 162k bundle, 8,059 known entities'
    blocks changed; their lists held 171,050 nodes, 133,601 of them the same as before.
    ``digests``: each block's digest, given as the statements are made (:func:`statement_runs`
    asks for every list node it makes or keeps); ``kept_keys``: those kept."""

    def __init__(self, reuse: Reuse | None = None) -> None:
        self.digests: dict[str, int] = {}
        self.kept_keys: list[int] = []
        self._reuse = reuse
        self._entity = ""
        self._before: dict[int, int] = {}  #: the entity's list as it was: key -> row

    def kept(self, entity: str, block: str, count: int) -> bool:
        """Whether the node ``block`` of ``entity``'s list, with ``count``, is the block of
        the same name in the previous file (then copied: :meth:`_Copies.add`)."""
        digest = _COUNT_DIGESTS.get(count)
        if digest is None:  # (a few hundred counts: each digest made once)
            digest = _COUNT_DIGESTS[count] = line_digest(b"%d" % count)
        self.digests[block] = digest
        reuse = self._reuse
        if reuse is None or reuse.units is None:
            return False
        if entity != self._entity:
            self._entity = entity
            row = reuse.changed_rows.get(entity)
            units = reuse.units
            if row is None:
                self._before = {}
            else:
                first, end = row + 1, row + 1 + int(units.children[row])
                listed = units.key[first:end].tolist()
                self._before = dict(zip(listed, range(first, end), strict=True))
        if not self._before:
            return False
        key = node_key(block)
        row = self._before.get(key)
        if row is None or int(reuse.units.digest[row]) != digest:
            return False
        cast(_Copies, reuse.copies).add(block, row)
        self.kept_keys.append(key)
        return True


def plan_reuse(
    digests: Mapping[str, int], units: BlockUnits, previous_ttl: Path
) -> tuple[Reuse | None, str]:
    """The papers and entities (graph nodes, with their ``digests``) whose statements an add
    can keep (see the module doc); None and why, when it should make them all (the units
    come from other code, or too many papers changed)."""
    if units.code != code_fingerprint():
        return None, "the code that makes the RDF changed"
    nodes = list(digests)
    # in the order of the blocks (statement_runs: the papers sorted, then the entities), as
    # the graph gives them (the digests' order) unless it does not
    n_papers = sum(1 for n in nodes if n.startswith("paper:"))
    papers_first = nodes[:n_papers]
    values: Iterable[int] = digests.values()
    if not all(n.startswith("paper:") for n in papers_first) or papers_first != sorted(
        papers_first
    ):
        nodes = sorted(n for n in nodes if n.startswith("paper:")) + [
            n for n in nodes if not n.startswith("paper:")
        ]
        values = map(digests.__getitem__, nodes)
    keys = node_keys(nodes)
    now = np.fromiter(values, dtype=np.uint64, count=len(nodes))
    same = known = np.zeros(len(nodes), dtype=bool)
    rows = np.zeros(len(nodes), dtype=np.intp)
    if len(units.key):  # (its rows are in the order of the blocks)
        order = np.argsort(units.key)
        rows = order[np.minimum(np.searchsorted(units.key, keys, sorter=order), len(order) - 1)]
        known = units.key[rows] == keys
        same = known & (units.digest[rows] == now)
    papers = np.zeros(len(nodes), dtype=bool)
    papers[:n_papers] = True
    kept = np.flatnonzero(same)
    kept_papers = int((same & papers).sum())
    changed = n_papers - kept_papers
    if changed > MAX_CHANGED * max(1, n_papers):
        share = f"more than {MAX_CHANGED:.0%}"
        return None, f"{changed:,} of {n_papers:,} papers changed ({share})"
    # the short lists of the entities kept are kept with them
    kept_rows = rows[kept]
    # (half a million at 160k: made from lists, 0.13 s less than an int() each)
    keep = dict(zip([nodes[i] for i in kept.tolist()], kept_rows.tolist(), strict=True))
    own_last = kept_rows + units.children[kept_rows].astype(np.intp)
    listed = units.key[_following(kept_rows, units.children[kept_rows])]
    # the stretches: a kept block right after another kept block of its kind (a paper's or
    # an entity's), here and in the previous file (its rows, and its bytes), is copied
    # with it
    follows = np.zeros(len(kept), dtype=bool)
    if len(kept) > 1:
        before = own_last[:-1]
        follows[1:] = (
            (kept[1:] == kept[:-1] + 1)
            & (papers[kept[1:]] == papers[kept[:-1]])
            & (kept_rows[1:] == before + 1)
            & (units.offset[kept_rows[1:]] == units.offset[before] + units.length[before])
        )
    heads = np.flatnonzero(~follows)
    # (a stretch's last block is the one before the next stretch's first)
    head_ends = own_last[np.append(heads[1:], len(kept)) - 1]
    last = np.arange(len(units.key), dtype=np.intp) + units.children.astype(np.intp)
    last[kept_rows[heads]] = head_ends
    firsts = [nodes[i] for i in kept[heads].tolist()]
    copies = _Copies(dict(zip(firsts, kept_rows[heads].tolist(), strict=True)), units, last)
    inside = kept[follows]
    own = np.ones(len(nodes), dtype=bool)  # (a block of its own in the new file)
    own[inside] = False
    ends = np.full(len(nodes), -1, dtype=np.int64)
    ends[kept[heads]] = head_ends
    mine = np.flatnonzero(own)
    # the entities whose block changed and that had a list: its nodes may be kept
    with_list = np.flatnonzero(known & ~same)
    with_list = with_list[units.children[rows[with_list]] > 0]
    return (
        Reuse(
            keep,
            copies,
            previous_ttl,
            kept_papers,
            np.concatenate((keys[kept], listed)),
            units,
            Keyed(
                [nodes[i] for i in mine.tolist()],
                keys[mine],
                now[mine],
                np.where(same, rows, -1)[mine],
                ends[mine],
            ),
            {nodes[i]: int(rows[i]) for i in with_list.tolist()},
            len(kept),
            frozenset(nodes[i] for i in inside.tolist()),
            int(papers[inside].sum()),
        ),
        "",
    )
