"""What an add keeps of each paper's RDF: which papers' statements it can take from before.

A paper's named graph (its statements in the store, its block of ``graph.ttl``) is made from
the paper's own part of the graph only (:func:`kgraph.rdf.convert.statement_runs`): its
node, its edges, its result nodes, and the ``evaluated_on`` edges it is the provenance of
(entities appear in it by their ids, which are in the edges). A 64-bit digest of that
part (:func:`paper_digests`: its lines in ``graph.json``, whose writer sums their SHA-1s as
it goes) tells an add whether the paper's statements can have changed. The bundle keeps,
in ``graph.units.npz`` (:data:`kgraph.bundle.UNITS`), each paper's digest and where its
block lies in ``graph.ttl`` (and how many statements it holds); the store keeps each named
graph's quads digest (:mod:`kgraph.rdf.delta`).

The union (``graph.ttl``) leaves out of a paper's block the ``kg:evaluatedOn`` pairs an
earlier paper gives: those pairs count in the digest too (:func:`unit_digests`). An add
(:class:`Reuse`) then makes the statements of the papers whose digest changed and of the new
ones; every other paper's block is copied from the previous ``graph.ttl``, and its quads
stay in the store, which is updated with the rest (:func:`kgraph.rdf.delta.update_store`).
The entities graph is made whole (entity counts, co-occurrences and the corpus-wide ranks
change with any add). The file also records the RDF mapping's code
(:func:`code_fingerprint`): Turtle written by other code is not copied.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

import networkx as nx
import numpy as np
import orjson

from .._hashing import source_fingerprint
from .delta import key64

__all__ = ["PaperUnits", "Reuse", "code_fingerprint", "paper_digests", "paper_key"]

_VERSION: Final = 1
#: an add makes the store's quads whole (and loads them) when more papers than this share
#: changed: a bulk load is then faster than an update (kgraph.rdf.delta.MAX_SHARE)
MAX_CHANGED: Final = 0.3
_MASK64: Final = (1 << 64) - 1


def paper_key(pnode: str) -> int:
    """A paper graph node's 64-bit key (the store's unit keys' hash)."""
    return key64(pnode)


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


def paper_digests(graph: nx.MultiDiGraph) -> dict[str, int]:
    """Every paper node's digest of its part of ``graph`` (see the module doc): the sum of
    the digests of its lines in ``graph.json`` (as the build takes them while writing it),
    with :func:`unit_digests`' pairs."""
    from ..bundle import write_graph_json

    digests: dict[str, int] = {}
    write_graph_json(graph, cast(BinaryIO, _Discard()), digests)
    return unit_digests(graph, digests)


def unit_digests(graph: nx.MultiDiGraph, line_digests: Mapping[str, int]) -> dict[str, int]:
    """Every paper's digest of what its block of ``graph.ttl`` is made from: its lines
    (``line_digests``, from :func:`paper_digests` or graph.json's writer; 0 for a paper
    without) and the ``kg:evaluatedOn`` pairs the union leaves out of it, those an earlier
    paper (by node id, the order of the blocks) also gives."""
    holders: dict[tuple[str, str], list[str]] = {}
    for node, kind in graph.nodes(data="kind"):
        if kind != "entity":
            continue
        for target, keyed in graph.adj[node].items():
            for data in keyed.values():
                if data.get("relation") == "evaluated_on":
                    holders.setdefault((node, target), []).append(str(data.get("paper", "")))
    dropped: dict[str, list[tuple[str, str]]] = {}
    for pair, papers in holders.items():
        for pnode in sorted(papers)[1:]:
            dropped.setdefault(pnode, []).append(pair)
    out: dict[str, int] = {}
    for pnode, kind in graph.nodes(data="kind"):
        if kind != "paper":
            continue
        digest = line_digests.get(pnode, 0)
        if pnode in dropped:
            digest = (digest + line_digest(orjson.dumps(sorted(dropped[pnode])))) & _MASK64
        out[pnode] = digest
    return out


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


@dataclass
class PaperUnits:
    """Per paper (rows in the order of ``graph.ttl``'s blocks): its key, its digest, and its
    block's offset, length and statements in ``graph.ttl``; ``ttl_sha256``: that file's."""

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
        papers: Iterable[str],
        digests: Mapping[str, int],
        places: list[Any],
        ttl_sha256: str,
    ) -> PaperUnits:
        """The units of ``papers`` (graph nodes, in the order of their blocks), their
        ``digests``, and the ``places`` the Turtle writer gave for their blocks."""
        order = list(papers)
        if len(order) != len(places):
            raise ValueError(f"{len(order)} papers, {len(places)} Turtle blocks")
        table = np.array(places, dtype=np.uint64).reshape(-1, 3)
        return cls(
            np.array([paper_key(p) for p in order], dtype=np.uint64),
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
    def load(cls, data: bytes) -> PaperUnits:
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

    def rows(self) -> dict[int, int]:
        """Key -> row."""
        return {int(k): i for i, k in enumerate(self.key.tolist())}


@dataclass
class Reuse:
    """What an add takes from the bundle it grows: the papers whose statements are not made
    again (``keep``: graph nodes), each one's ``#c`` mark for the Turtle writer (by named
    graph IRI, in ``copies``; made by the store pass), ``previous_ttl`` to copy them from."""

    keep: frozenset[str]
    copies: dict[str, bytes]
    previous_ttl: Path


def plan_reuse(
    graph: nx.MultiDiGraph,
    digests: Mapping[str, int],
    units: PaperUnits,
    previous_ttl: Path,
    base: str,
) -> tuple[Reuse | None, str]:
    """The papers of ``graph`` whose statements an add can keep (see the module doc); None
    and why, when it should make them all (the units come from other code, or too many
    papers changed)."""
    from .convert import _paper_id
    from .namespaces import paper_graph_iri

    if units.code != code_fingerprint():
        return None, "the code that makes the RDF changed"
    rows = units.rows()
    nodes = graph.nodes
    keep: set[str] = set()
    copies: dict[str, bytes] = {}
    for pnode, digest in digests.items():
        row = rows.get(paper_key(pnode))
        if row is None or int(units.digest[row]) != digest:
            continue
        keep.add(pnode)
        g = f"<{paper_graph_iri(base, _paper_id(pnode, nodes[pnode]))}>"
        copies[g] = b"#c %d %d %d\n" % (
            int(units.offset[row]),
            int(units.length[row]),
            int(units.statements[row]),
        )
    changed = len(digests) - len(keep)
    if changed > MAX_CHANGED * max(1, len(digests)):
        share = f"more than {MAX_CHANGED:.0%}"
        return None, f"{changed:,} of {len(digests):,} papers changed ({share})"
    return Reuse(frozenset(keep), copies, previous_ttl), ""
