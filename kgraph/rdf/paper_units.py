"""What an add keeps of the RDF: which papers' and entities' statements it can take from before.

The statements come in *blocks* (:func:`kgraph.rdf.convert.statement_runs`), each made from
one node's own part of the graph only:

- a paper's named graph: its node, its edges, its result nodes, and the ``evaluated_on``
  edges it is the provenance of (entities appear in it by their ids, which are in the edges);
- an entity's statements in the entities graph: its node, its ``co_occurs`` edges (its
  ``kg:coOccursWith`` pairs and its short list of co-occurring entities), and what it takes
  from the corpus' ranks (its ``kg:usageRank``, a metric's ``kg:topResult`` list:
  :func:`kgraph.rdf.convert.entity_extras`).

A 64-bit digest of that part (:func:`block_digests`: its lines in ``graph.json``, whose writer
sums their SHA-1s as it goes, and for an entity its ranks) tells an add whether the block's
statements can have changed. The bundle keeps, in ``graph.units.npz``
(:data:`kgraph.bundle.UNITS`), each block's digest and where it lies in ``graph.ttl`` (and how
many statements it holds); the store keeps each of its units' quads digest
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
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

import networkx as nx
import numpy as np
import orjson

from .._hashing import source_fingerprint
from ..exporters import DEFAULT_BASE
from .delta import key64

if TYPE_CHECKING:
    from .convert import EntityFacts

__all__ = ["BlockUnits", "Reuse", "block_digests", "code_fingerprint", "node_key"]

#: 2: entities' blocks; a node's consecutive lines of graph.json digested as one
_VERSION: Final = 2
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


def node_keys(nodes: Sequence[str]) -> np.ndarray:
    """:func:`node_key` of each of ``nodes``."""
    return np.fromiter((node_key(n) for n in nodes), dtype=np.uint64, count=len(nodes))


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


@dataclass
class BlockUnits:
    """Per block, paper or entity (rows in the order of ``graph.ttl``'s blocks): its node's
    key, its digest, and its offset, length and statements in ``graph.ttl``;
    ``ttl_sha256``: that file's."""

    key: np.ndarray
    digest: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    statements: np.ndarray
    ttl_sha256: str
    code: str

    @classmethod
    def make(
        cls,
        nodes: Iterable[str],
        digests: Mapping[str, int],
        places: Any,
        ttl_sha256: str,
        keyed: tuple[list[str], np.ndarray] | None = None,
    ) -> BlockUnits:
        """The units of the blocks of ``nodes`` (papers and entities, in the order of their
        blocks), their ``digests``, and the ``places`` the Turtle writer gave the blocks
        (offset, length, statements: as triples, or one after the other). ``keyed``: nodes
        and their keys (:func:`node_key`) made before, taken when they are ``nodes``."""
        order = list(nodes)
        table = np.asarray(places, dtype=np.uint64).reshape(-1, 3)
        if len(order) != len(table):
            raise ValueError(f"{len(order)} nodes, {len(table)} Turtle blocks")
        known = keyed is not None and keyed[0] == order
        return cls(
            keyed[1] if keyed is not None and known else node_keys(order),
            np.array([digests[p] for p in order], dtype=np.uint64),
            table[:, 0],
            table[:, 1],
            table[:, 2],
            ttl_sha256,
            code_fingerprint(),
        )

    def dump(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            key=self.key,
            digest=self.digest,
            offset=self.offset,
            length=self.length,
            statements=self.statements,
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
        try:
            with np.load(io.BytesIO(data)) as z:
                arrays = [z[k] for k in ("key", "digest", "offset", "length", "statements")]
                meta = orjson.loads(z["meta"].tobytes())
        except Exception as exc:  # zipfile's, numpy's, orjson's errors: damaged
            raise ValueError(f"damaged ({exc})") from None
        if len({len(a) for a in arrays}) != 1 or meta.get("version") != _VERSION:
            raise ValueError("not a units file of this version")
        key, digest, offset, length, statements = arrays
        return cls(
            key, digest, offset, length, statements, str(meta["ttl_sha256"]), str(meta["code"])
        )


class _Copies(Mapping[str, bytes]):
    """Node -> its block's ``#c OFFSET LENGTH STATEMENTS`` mark, made when asked for from the
    units' table (half a million marks made at once at 160k held 40 MB). The table's columns
    are read as ``array("Q")``, whose items are Python ints at once: a numpy scalar made and
    converted for each took 0.39 s for 511k marks, these 0.12 s."""

    def __init__(self, rows: Mapping[str, int], units: BlockUnits) -> None:
        self._rows = rows
        self._offset, self._length, self._statements = (
            array("Q", np.ascontiguousarray(column, dtype=np.uint64).tobytes())
            for column in (units.offset, units.length, units.statements)
        )

    def __getitem__(self, node: str) -> bytes:
        row = self._rows[node]
        return b"#c %d %d %d\n" % (self._offset[row], self._length[row], self._statements[row])

    def __contains__(self, node: object) -> bool:
        return node in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclass
class Reuse:
    """What an add takes from the bundle it grows: the blocks whose statements are not made
    again (``keep``: graph nodes, papers and entities; ``papers_kept`` of them papers; their
    keys, :func:`node_key`, in ``kept_keys``), each one's ``#c`` mark for the Turtle writer
    (by node, in ``copies``), ``previous_ttl`` to copy them from; ``units``: that file's
    blocks (the store's update reads the statements of the units that changed from it)."""

    keep: Container[str]
    copies: Mapping[str, bytes]
    previous_ttl: Path
    papers_kept: int
    kept_keys: np.ndarray
    units: BlockUnits | None = None
    #: every paper and entity node (the digests' order, which is the blocks'), and its key
    keyed: tuple[list[str], np.ndarray] | None = None

    @property
    def kept(self) -> int:
        return len(self.kept_keys)

    def spent(self) -> Reuse:
        """This plan once the statements are made: what the store's update still needs (the
        kept blocks' keys, the previous file's blocks), without the blocks' nodes and marks
        (half a million at 160k, which the build's worker would otherwise hand to the process
        that loads the store)."""
        return Reuse(
            frozenset(), {}, self.previous_ttl, self.papers_kept, self.kept_keys, self.units
        )


def plan_reuse(
    digests: Mapping[str, int], units: BlockUnits, previous_ttl: Path
) -> tuple[Reuse | None, str]:
    """The papers and entities (graph nodes, with their ``digests``) whose statements an add
    can keep (see the module doc); None and why, when it should make them all (the units
    come from other code, or too many papers changed)."""
    if units.code != code_fingerprint():
        return None, "the code that makes the RDF changed"
    nodes = list(digests)
    keys = node_keys(nodes)
    now = np.fromiter(digests.values(), dtype=np.uint64, count=len(nodes))
    same = np.zeros(len(nodes), dtype=bool)
    rows = np.zeros(len(nodes), dtype=np.intp)
    if len(units.key):  # (its rows are in the order of the blocks)
        order = np.argsort(units.key)
        rows = order[np.minimum(np.searchsorted(units.key, keys, sorter=order), len(order) - 1)]
        same = (units.key[rows] == keys) & (units.digest[rows] == now)
    papers = np.fromiter((n.startswith("paper:") for n in nodes), dtype=bool, count=len(nodes))
    kept = np.flatnonzero(same)
    kept_papers = int((same & papers).sum())
    n_papers = int(papers.sum())
    changed = n_papers - kept_papers
    if changed > MAX_CHANGED * max(1, n_papers):
        share = f"more than {MAX_CHANGED:.0%}"
        return None, f"{changed:,} of {n_papers:,} papers changed ({share})"
    keep = {nodes[i]: int(rows[i]) for i in kept.tolist()}
    copies = _Copies(keep, units)
    return Reuse(keep, copies, previous_ttl, kept_papers, keys[kept], units, (nodes, keys)), ""
