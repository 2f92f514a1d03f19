"""Updating a bundle's store in place: the units of its quads that changed, found by digests.

A build makes the store's quads in one pass over the graph (:mod:`kgraph.rdf.store`). They fall
into *units*, each named by a key:

- ``g <graph IRI>``: the named graph of one paper, whole;
- ``s <IRI>``: the statements of one subject in the entities graph, but for its
  ``kg:coOccursWith`` pairs, each of which is
- ``c <IRI> <IRI>``: a unit of its own. An entity's pairs are a long list (8,127 for large
  language model at 160k papers) that changes whenever a paper names the entity with a new
  partner: as one unit (``c <IRI>``, as stores made by earlier kgraph have it, for the
  entities no add has changed since), the list was read back whole for each new pair.

While the quads are written, :class:`RunDigests` records every *run* (consecutive statements of
one unit; a unit may come in several runs): a 64-bit hash of its key, a 64-bit digest of its
bytes (BLAKE2b), and where it lies in the N-Quads file. :class:`UnitIndex` sums the digests of
each unit's runs (order-independent) and is kept in the store's folder (:data:`UNITS`,
:data:`UNIT_KEYS`). When the next build of the bundle has a store made from the previous
``graph.json`` at hand, :func:`update_store` compares the two indexes and, instead of loading
every quad again, updates a copy of the old store (``Store.backup``: hard links to its files,
which RocksDB never changes, so the old store stays whole until the new one replaces it):

- a unit that is gone loses its quads;
- a new unit's quads (a new pair's, a new paper's graph) are loaded from the new file as they
  are;
- a paper's graph whose digest differs is emptied and loaded again from the new file;
- any other unit whose digest differs: its quads in the old store and in the new file are
  compared, and only the difference is removed and added.

Ranks and ranked lists are kept short (:data:`kgraph.rdf.convert.RANKED`,
:data:`~kgraph.rdf.convert.TOP_K`) so that an add changes few units. When more than
:data:`MAX_SHARE` of the quads' bytes changed, a bulk load of everything is faster:
:func:`update_store` makes nothing and says so, and the caller loads. An update that leaves
the store over :data:`MAX_GROWTH` times the size of a compacted one compacts it.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np

from .namespaces import KG, XSD

__all__ = [
    "MAX_GROWTH",
    "MAX_SHARE",
    "UNITS",
    "UNIT_KEYS",
    "RunDigests",
    "UnitIndex",
    "disk_size",
    "load_runs",
    "update_store",
]

UNITS: Final = "kgraph-units.npz"  #: in the store's folder: key hash, digest, key text place
UNIT_KEYS: Final = "kgraph-units.txt"  #: the units' keys, one per line
#: the predicate whose statements are a unit of their own (see the module doc)
CO_OCCURS: Final = f"<{KG}coOccursWith>"
#: the share of the quads' bytes in changed units above which :func:`update_store` gives up:
#: a bulk load of everything is then faster than the update
MAX_SHARE = 0.3
#: a store updated in place grows on disk until RocksDB's compactions catch up, which they
#: do only while the store is open for writing (during updates): an update that leaves the
#: store more than this many times the size of a compacted one compacts it (``optimize``)
MAX_GROWTH = 1.5
#: how much larger than a store fresh from the bulk loader the same store is once RocksDB
#: has compacted it (Oxigraph leaves its first levels uncompressed, the bulk loader writes the
#: last one directly): 6.3 against 3.5 GB at 160k papers, 2.19 against 1.19 GB at 50k, 510
#: against 256 MB at 10k. The first update of a bulk-loaded store is compared with that
#: size: compared with the loaded size, the first add after a 160k build compacted the store
#: (its update 65.4 s against 47.5 s without on the same state, the store 5.48 against
#: 6.47 GB)
BULK_TO_COMPACTED = 1.8


#: units looked up by one query (:func:`_stored_lines`)
_BATCH: Final = 1000
#: the file's runs are read this many bytes at a time
_CHUNK: Final = 1 << 24


def _h64(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


def key_hash(text: str) -> bytes:
    """``text``'s key as the 8 bytes of :func:`key64` (little-endian)."""
    return _h64(text.encode("utf-8"))


def key64(text: str) -> int:
    """``text``'s 64-bit key, as the unit index holds the keys of the units (``_h64`` of its
    UTF-8 bytes, little-endian)."""
    return int.from_bytes(_h64(text.encode("utf-8")), "little")


class RunDigests:
    """What :func:`kgraph.rdf.store._counted` records of each run of the quads it writes.

    ``keys_path`` receives each run's key (a line each); :meth:`close` writes the runs'
    numbers to ``runs_path`` (a ``.npz``: ``key``, ``digest``, ``offset``, ``length``,
    ``key_offset``, ``key_length``, ``block``: the 64-bit hash of the graph node whose
    block the run is in, 0 for none: see :func:`kgraph.rdf.convert.statement_runs`), and the
    object keeps only the two paths."""

    def __init__(self, runs_path: Path, keys_path: Path, entities_graph: str) -> None:
        self.runs_path = runs_path
        self.keys_path = keys_path
        self.entities_graph = entities_graph  #: its term, ``<IRI>``
        self.co_occurs = f" {CO_OCCURS} "
        self._keys: BinaryIO | None = open(keys_path, "wb", 1 << 20)  # noqa: SIM115
        self._key = bytearray()
        self._digest = bytearray()
        self._block = bytearray()
        #: offset, length, key offset, key length per run: 8 bytes each, where a list of
        #: ints took 28-36 (3.2M numbers for the 811k runs at 173k papers: 106 MB against
        #: 28 MB)
        self._numbers = array("Q")
        self._pos = 0
        self._kpos = 0

    def add(self, key: str, data: bytes, block: bytes = bytes(8)) -> None:
        """A run of unit ``key``, ``data`` its N-Quads lines as written next in the file,
        in the block of the node whose :func:`key_hash` is ``block`` (zeros: none)."""
        kb = key.encode("utf-8")
        self._key += _h64(kb)
        self._digest += _h64(data)
        self._block += block
        self._numbers.extend((self._pos, len(data), self._kpos, len(kb)))
        self._pos += len(data)
        assert self._keys is not None
        self._keys.write(kb + b"\n")
        self._kpos += len(kb) + 1

    def close(self) -> None:
        if self._keys is None:
            return
        self._keys.close()
        self._keys = None
        numbers = np.frombuffer(self._numbers, dtype=np.uint64).reshape(-1, 4)
        with open(self.runs_path, "wb") as fh:
            np.savez(
                fh,
                key=np.frombuffer(bytes(self._key), dtype="<u8"),
                digest=np.frombuffer(bytes(self._digest), dtype="<u8"),
                block=np.frombuffer(bytes(self._block), dtype="<u8"),
                offset=numbers[:, 0],
                length=numbers[:, 1],
                key_offset=numbers[:, 2],
                key_length=numbers[:, 3],
            )
        self._key, self._digest, self._block = bytearray(), bytearray(), bytearray()
        self._numbers = array("Q")

    def abort(self) -> None:
        if self._keys is not None:
            self._keys.close()
            self._keys = None

    def __getstate__(self) -> dict[str, Any]:
        if self._keys is not None:
            raise TypeError("RunDigests must be closed before it is pickled")
        return dict(self.__dict__)


@dataclass
class UnitIndex:
    """One row per unit, sorted by key hash: its key hash, the sum of its runs' digests, its
    key (``g <IRI>``, ``s <IRI>``, ``c <IRI> <IRI>``, or ``c <IRI>`` from before) in ``text``,
    and the hash of the node whose
    block it is in (``block``: :func:`key_hash` of a paper or entity node, 0 for none)."""

    key: np.ndarray
    digest: np.ndarray
    text_offset: np.ndarray
    text_length: np.ndarray
    text: bytes
    block: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.block is None:
            self.block = np.zeros(len(self.key), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.key)

    def unit(self, i: int) -> tuple[str, str]:
        """The kind (``g``, ``s``, ``c``) and IRI of unit ``i`` (of a pair, ``c``: its terms,
        ``<IRI> <IRI>``)."""
        a = int(self.text_offset[i])
        line = self.text[a : a + int(self.text_length[i])].decode("utf-8")
        kind, term = line.split(" ", 1)
        return kind, term if " " in term else term[1:-1]

    @classmethod
    def from_runs(cls, runs: Any, keys: bytes) -> UnitIndex:
        """The units of a pass's runs (``runs``: the arrays :class:`RunDigests` saved)."""
        order = np.argsort(runs["key"], kind="stable")
        key = runs["key"][order]
        if len(key) == 0:
            empty = np.zeros(0, dtype=np.uint64)
            return cls(empty, empty, empty, empty, b"", empty)
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        # each unit's key once, in one compact text
        first = order[starts]
        offsets, lengths = runs["key_offset"][first], runs["key_length"][first]
        pieces = [keys[int(a) : int(a) + int(n)] for a, n in zip(offsets, lengths, strict=True)]
        text = b"\n".join(pieces) + b"\n"
        text_lengths = np.array([len(p) for p in pieces], dtype=np.uint64)
        text_offsets = np.concatenate(([0], np.cumsum(text_lengths + 1)[:-1])).astype(np.uint64)
        with np.errstate(over="ignore"):  # digests add up modulo 2**64
            digest = np.add.reduceat(runs["digest"][order], starts)
        block = runs["block"][first] if "block" in runs else None
        return cls(key[starts], digest.astype(np.uint64), text_offsets, text_lengths, text, block)

    def save(self, folder: Path) -> None:
        assert self.block is not None
        with open(folder / UNITS, "wb") as fh:
            np.savez(
                fh,
                key=self.key,
                digest=self.digest,
                text_offset=self.text_offset,
                text_length=self.text_length,
                block=self.block,
            )
        (folder / UNIT_KEYS).write_bytes(self.text)

    @classmethod
    def load(cls, folder: Path) -> UnitIndex:
        """The index kept in the store ``folder`` (OSError, ValueError, KeyError if absent or
        damaged)."""
        try:
            with np.load(folder / UNITS) as data:
                arrays = [data[k] for k in ("key", "digest", "text_offset", "text_length")]
                # (an index from before blocks: none is known, and no add keeps a block of
                # it, as the code that made the RDF changed)
                block = data["block"] if "block" in data.files else None
        except OSError:
            raise
        except Exception as exc:  # a damaged file: zipfile's, numpy's or pickle's errors
            raise ValueError(f"{folder / UNITS}: damaged ({exc})") from None
        text = (folder / UNIT_KEYS).read_bytes()
        if len({len(a) for a in (*arrays, *([] if block is None else [block]))}) != 1:
            raise ValueError("the unit index's arrays differ in length")
        key, digest, text_offset, text_length = arrays
        return cls(key, digest, text_offset, text_length, text, block)

    def merged_blocks(self, other: UnitIndex, blocks: np.ndarray) -> UnitIndex:
        """This index with the units of ``other`` in the blocks whose nodes' hashes are
        ``blocks`` (an add's blocks kept from the previous store, none of whose units this
        one has). ValueError if ``other`` has no unit of one of them (every block has one)."""
        if not len(blocks):
            return self
        assert other.block is not None
        wanted = _unique(blocks)
        missing = int((~_member(wanted, np.sort(other.block))).sum())
        if missing:
            raise ValueError(f"the previous store lacks the units of {missing} kept blocks")
        return self._with(other, np.flatnonzero(_member(other.block, wanted)))

    def _with(self, other: UnitIndex, rows: np.ndarray) -> UnitIndex:
        """This index with the units of ``other`` at ``rows``."""
        assert self.block is not None and other.block is not None
        key = np.concatenate((self.key, other.key[rows]))
        digest = np.concatenate((self.digest, other.digest[rows]))
        block = np.concatenate((self.block, other.block[rows]))
        order = np.argsort(key, kind="stable")
        if len(key) > 1 and (key[order][1:] == key[order][:-1]).any():
            raise ValueError("a kept unit was also made again")
        # Each unit's key text, in the new order: copied a run at a time, a run being units
        # next to each other in the text they come from (most kept units are: for the 984k
        # units of the 162k store with 70k made, 0.28 s, where unit by unit took 0.71 s)
        n = len(self)
        length = np.concatenate((self.text_length, other.text_length[rows]))[order]
        offset = np.concatenate((self.text_offset, other.text_offset[rows]))[order]
        theirs = order >= n
        apart = (theirs[1:] != theirs[:-1]) | (offset[1:] != offset[:-1] + length[:-1] + 1)
        starts = np.flatnonzero(np.concatenate(([True], apart)))
        ends = np.concatenate((starts[1:], [len(order)])) - 1
        if not len(order):
            starts = ends = starts[:0]
        texts = (self.text, other.text)
        pieces = [
            texts[t][a : b + c]
            for t, a, b, c in zip(
                theirs[starts].tolist(),
                offset[starts].tolist(),
                offset[ends].tolist(),
                length[ends].tolist(),
                strict=True,
            )
        ]
        offsets = np.concatenate(([0], np.cumsum(length + 1)[:-1])).astype(np.uint64)
        text = b"\n".join(pieces) + b"\n"
        return UnitIndex(key[order], digest[order], offsets, length, text, block[order])

    def lookup(self, other: UnitIndex) -> tuple[np.ndarray, np.ndarray]:
        """For each unit of ``other``: whether this index has it, and where."""
        if len(self) == 0:
            return np.zeros(len(other), dtype=bool), np.zeros(len(other), dtype=np.intp)
        pos = np.minimum(np.searchsorted(self.key, other.key), len(self) - 1)
        return self.key[pos] == other.key, pos


def load_runs(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _canonical(ox: Any, quad: Any, decimal: Any) -> Any:
    """``quad`` with an ``xsd:decimal`` object in the lexical form Oxigraph stores it in
    ("7", not "7.0"), so that it compares equal to the stored quad."""
    o = quad.object
    if not isinstance(o, ox.Literal) or o.datatype != decimal:
        return quad
    try:
        text = format(Decimal(o.value).normalize(), "f")
    except InvalidOperation:
        return quad
    text = "0" if text == "-0" else text
    if text == o.value:
        return quad
    return ox.Quad(
        quad.subject, quad.predicate, ox.Literal(text, datatype=decimal), quad.graph_name
    )


def disk_size(folder: Path) -> int:
    """The bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _quads_of(store: Any, kind: str, term: Any, entities: Any, co: Any) -> list[Any]:
    """The quads of a unit of the entities graph in ``store`` (``s``, or ``c`` of an entity's
    pairs as one unit, from before)."""
    if kind == "c":
        return list(store.quads_for_pattern(term, co, None, entities))
    return [q for q in store.quads_for_pattern(term, None, None, entities) if q.predicate != co]


def _stored_lines(store: Any, subjects: list[bytes], entities: Any, co: Any) -> set[bytes]:
    """The statements of the ``s`` units of the entities graph whose subjects are
    ``subjects`` (IRIs as N-Triples writes them), as ``store`` has them: N-Triples lines,
    which the store writes itself, a SPARQL query for many units. Python never makes an
    object of their quads: reading them so, an object per quad, took 3.7 s for the 46,052
    units (241,498 quads) an add of 1,000 papers at 164k changed, against 2.9 s."""
    import pyoxigraph as ox

    out: set[bytes] = set()
    where = f"GRAPH {entities} {{ ?s ?p ?o }} FILTER(?p != {co})"
    for i in range(0, len(subjects), _BATCH):
        values = b" ".join(subjects[i : i + _BATCH]).decode("utf-8")
        construct = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ VALUES ?s {{ {values} }} {where} }}"
        data = store.query(construct).serialize(format=ox.RdfFormat.N_TRIPLES)
        out.update(data.splitlines())
    return out


def _turtle_lines(
    path: Path, blocks: Any, want: np.ndarray, subjects: set[bytes], co: bytes
) -> set[bytes]:
    """The statements of the entities graph whose subjects are ``subjects``, but for their
    ``co`` pairs, as the previous build wrote them to its Turtle file (``path``, whose blocks
    ``blocks`` places: :class:`kgraph.rdf.paper_units.BlockUnits`): N-Triples lines that
    Oxigraph writes from the blocks of the nodes whose keys are ``want`` and from the
    statements after the blocks (the ranks, organisations and leaderboards: every unit of the
    entities graph is in its node's block, or there). In an add of 1,000 papers at 177k
    (50,808 units changed), 2.3 s in a profile, where reading them back from the store took
    3.9 s; a store opened afresh took 10 to 15 s for 70,823 subjects, which their blocks gave
    in 1.0 s. ValueError if a block is not in the file; what Oxigraph raises (SyntaxError) if
    the file is not the Turtle the blocks describe."""
    import pyoxigraph as ox

    if len(blocks.key):
        order = np.argsort(blocks.key)
        rows = order[np.minimum(np.searchsorted(blocks.key, want, sorter=order), len(order) - 1)]
        if not (blocks.key[rows] == want).all():
            raise ValueError(f"{path}: a changed unit's block is not in the file")
        head, end = int(blocks.offset.min()), int((blocks.offset + blocks.length).max())
    elif len(want):
        raise ValueError(f"{path}: a changed unit's block is not in the file")
    else:
        rows, head, end = np.zeros(0, dtype=np.intp), 0, 0
    with open(path, "rb") as fh:
        parts = [fh.read(head)]  # the prefixes
        for r in rows[np.argsort(blocks.offset[rows])]:
            fh.seek(int(blocks.offset[r]))
            parts.append(fh.read(int(blocks.length[r])))
        fh.seek(end)
        parts.append(fh.read())  # what follows the blocks
    triples = ox.parse(b"\n".join(parts), format=ox.RdfFormat.TURTLE)
    data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b""
    out: set[bytes] = set()
    for line in data.splitlines():
        space = line.index(b" ")
        if line[:space] in subjects and not line.startswith(co, space + 1):
            out.add(line)
    return out


def _parsed(ox: Any, lines: Iterable[bytes], graph: Any, decimal: Any) -> set[Any]:
    """The quads of N-Triples ``lines``, their statements put in ``graph``, each in the
    form Oxigraph stores (:func:`_canonical`)."""
    data = b"\n".join(lines)
    triples = ox.parse(data, format=ox.RdfFormat.N_TRIPLES) if data else ()
    return {
        _canonical(ox, ox.Quad(t.subject, t.predicate, t.object, graph), decimal) for t in triples
    }


def _read_runs(path: Path, offsets: np.ndarray, lengths: np.ndarray) -> Iterator[bytes]:
    """The bytes of the runs of the file at ``path`` at ``offsets`` (``lengths`` long), in
    file order, some megabytes at a time (whole runs: a run's lines are one unit's)."""
    batch: list[bytes] = []
    size = 0
    with open(path, "rb") as fh:
        for j in np.argsort(offsets):
            fh.seek(int(offsets[j]))
            batch.append(fh.read(int(lengths[j])))
            size += int(lengths[j])
            if size >= _CHUNK:
                yield b"".join(batch)
                batch.clear()
                size = 0
    if batch:
        yield b"".join(batch)


def _count_graphs(store: Any, graphs: list[Any]) -> int:
    """How many quads the named ``graphs`` hold in ``store`` (counted by the store, which
    reads no term's text for it)."""
    n = 0
    for i in range(0, len(graphs), _BATCH):
        values = " ".join(str(g) for g in graphs[i : i + _BATCH])
        where = f"VALUES ?g {{ {values} }} GRAPH ?g {{ ?s ?p ?o }}"
        for (count,) in store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}"):
            n += int(count.value)
    return n


def _member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in ``keys`` (sorted): ``np.isin`` hashes 64-bit keys in
    numpy 2.4, ten times slower than this (0.48 against 0.05 s for 830,654 keys)."""
    if not len(keys):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return np.asarray(keys[pos] == values)


def _unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by sorting (see :func:`_member`)."""
    s = np.sort(values)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def update_store(
    previous: Path,
    target: Path,
    quads: Path,
    runs: dict[str, np.ndarray],
    old: UnitIndex,
    new: UnitIndex,
    entities_graph: str,
    *,
    max_share: float | None = None,
    compact_size: int | None = None,
    warmed: Path | None = None,
    turtle: tuple[Path, Any] | None = None,
) -> dict[str, Any]:
    """Make ``target`` (which must not exist) the store of the N-Quads file ``quads`` by
    updating a copy of the store ``previous``, whose units are ``old``; ``runs`` and ``new``
    describe ``quads`` (see the module doc). Returns what was done: ``updated`` (False, with
    nothing made, when more than ``max_share``, default :data:`MAX_SHARE`, of the file's
    bytes are in changed units: a bulk load is then faster), ``changed_share``,
    ``units_changed``, ``units_removed``, ``quads_removed``, ``quads_added``, ``bytes_read``,
    ``compacted`` (the store was compacted: it had grown past :data:`MAX_GROWTH` times
    ``compact_size``, the size on disk of a compacted store of these quads), ``seconds``.
    ``warmed``: a copy of ``previous`` made beforehand (:class:`kgraph.rdf.store.WarmCopy`),
    updated instead of a new one. ``turtle``: the Turtle file made with ``previous`` and its
    blocks (:class:`kgraph.rdf.paper_units.BlockUnits`), to read the changed units' statements
    from (:func:`_turtle_lines`) instead of from the store. ``compared_with`` says where the
    changed units' statements were read: ``"store"``, the file's name, or None (no unit
    compared); the store when the file fails.

    A paper's graph that changed is replaced whole: emptied by the store (which reads no
    term's text for it), its quads of the file loaded (so is an entity's ``c`` unit of
    pairs from before). A changed unit of the entities graph
    is read back (:func:`_stored_lines`) and compared with its quads in the file: only the
    difference is removed and added (an entity's unit changes with one more paper naming
    it, by a statement or two of hundreds). The quads of new units are loaded as the file
    has them, unparsed. ``quads_removed`` and ``quads_added`` count so: a paper's changed
    graph counts all its quads in both."""
    import pyoxigraph as ox

    started = time.perf_counter()
    known, pos = old.lookup(new)
    changed = ~known
    changed[known] = old.digest[pos[known]] != new.digest[known]
    gone = ~new.lookup(old)[0]
    in_changed = _member(runs["key"], new.key[changed])
    total = int(runs["length"].sum())
    size = int(runs["length"][in_changed].sum())
    share = round(size / total, 4) if total else 0.0
    if share > (MAX_SHARE if max_share is None else max_share):
        return {"updated": False, "changed_share": share}

    # each changed unit's kind: the first letter of its key
    kinds = np.frombuffer(new.text, dtype=np.uint8)[new.text_offset[changed].astype(np.intp)]
    # loaded as the file has them: the runs of new units, and of the units replaced whole:
    # papers' graphs, and pairs (a pair's key is its statement: it is new or gone, but an
    # entity's pairs as one unit, from before, may change)
    whole = (kinds == ord("g")) | (kinds == ord("c"))
    as_is = ~known[changed] | whole
    replaced = np.flatnonzero(changed)[known[changed] & whole]
    raw_run = _member(runs["key"], new.key[changed][as_is]) & in_changed  # (keys sorted)
    diff_run = in_changed & ~raw_run

    if target.exists():
        target.rmdir()  # Store.backup makes the folder; an empty one is in the way
    if warmed is not None:
        os.replace(warmed, target)
    else:
        ox_store = ox.Store.read_only(str(previous))
        ox_store.backup(str(target))
        del ox_store
    store = ox.Store(str(target))
    try:
        entities = ox.NamedNode(entities_graph[1:-1])
        co = ox.NamedNode(CO_OCCURS[1:-1])
        decimal = ox.NamedNode(XSD + "decimal")

        removed = added = 0
        graphs_gone: list[Any] = []
        emptied: list[Any] = []
        # the s units gone (most are nodes of short lists that left them) go with the changed
        # units compared below: their statements read back with theirs, none in the file
        # (one query of the store each took 0.78 s for 1,487 units in an add at 163k)
        gone_s: dict[int, str] = {}  #: row in old -> subject
        taken = []
        for i in np.flatnonzero(gone).tolist():
            kind, iri = old.unit(i)
            if kind == "s":
                gone_s[i] = iri
            else:
                taken.append((old, i, graphs_gone))
        taken += [(new, int(i), emptied) for i in replaced]
        for index, i, graphs in taken:  # the units gone, and those replaced whole
            kind, iri = index.unit(i)
            if kind == "g":
                graphs.append(ox.NamedNode(iri))
                continue
            if kind == "c" and " " in iri:  # a pair: its statement
                subject, partner = iri.split(" ", 1)
                line = f"{subject} {CO_OCCURS} {partner} {entities_graph} .\n"
                quads_then = [
                    q
                    for q in ox.parse(line.encode("utf-8"), format=ox.RdfFormat.N_QUADS)
                    if q in store
                ]
            else:
                quads_then = _quads_of(store, kind, ox.NamedNode(iri), entities, co)
            for q in quads_then:
                store.remove(q)
                removed += 1
        removed += _count_graphs(store, graphs_gone + emptied)
        for g in graphs_gone:
            store.remove_graph(g)
        for g in emptied:
            store.clear_graph(g)

        # the changed units compared (s units: a subject's statements), as lines: most are the
        # same in the file and the store, byte for byte; those that are not are parsed, and
        # compared as quads (a decimal is written "7.0", and stored "7")
        suffix = f" {entities_graph} .".encode()
        fresh: set[bytes] = set()
        for data in _read_runs(quads, runs["offset"][diff_run], runs["length"][diff_run]):
            for nq in data.splitlines():
                if not nq.endswith(suffix):
                    raise ValueError(f"{quads}: not a statement of the entities graph: {nq!r}")
                fresh.add(nq[: -len(suffix)] + b" .")
        gone_subjects = {f"<{iri}>".encode() for iri in gone_s.values()}
        subjects = sorted({nt[: nt.index(b" ")] for nt in fresh} | gone_subjects)
        stored: set[bytes] | None = None
        compared_with = None  # (no unit compared)
        if turtle is not None and subjects and old.block is not None:
            # the blocks the changed and gone units were in (a rank's or organisation's: none)
            rows = pos[np.flatnonzero(changed)[known[changed] & ~whole]]
            in_block = old.block[np.concatenate((rows, list(gone_s))).astype(np.intp)]
            blocks = _unique(in_block[in_block != 0])
            co_line = f"{CO_OCCURS} ".encode()
            try:
                stored = _turtle_lines(turtle[0], turtle[1], blocks, set(subjects), co_line)
                compared_with = turtle[0].name
            except (OSError, ValueError, SyntaxError):
                stored = None  # (read from the store instead)
        if stored is None and subjects:
            stored = _stored_lines(store, subjects, entities, co)
            compared_with = "store"
        stored = stored or set()
        before = _parsed(ox, stored - fresh, entities, decimal)
        now = _parsed(ox, fresh - stored, entities, decimal)
        del fresh, stored, subjects
        for q in before - now:
            store.remove(q)
            removed += 1
        additions = list(now - before)
        store.bulk_extend(additions)
        added += len(additions)
        del before, now, additions
        # the new units and the papers' changed graphs, as the file has them
        for data in _read_runs(quads, runs["offset"][raw_run], runs["length"][raw_run]):
            added += len(set(data.splitlines()))
            store.bulk_load(data, format=ox.RdfFormat.N_QUADS)
        store.flush()
        compacted = bool(compact_size) and disk_size(target) > MAX_GROWTH * (compact_size or 0)
        if compacted:
            store.optimize()
    except BaseException as exc:
        # the frames of the traceback hold the database open: let it go before the caller
        # removes the folder (this frame's own reference goes in `finally`)
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        del store  # closes the database before it is moved (or removed)
    return {
        "updated": True,
        "changed_share": share,
        "units_changed": int(changed.sum()),
        "units_removed": int(gone.sum()),
        "quads_removed": removed,
        "quads_added": added,
        "bytes_read": size,
        "compacted": compacted,
        "compared_with": compared_with,
        "seconds": round(time.perf_counter() - started, 3),
    }
