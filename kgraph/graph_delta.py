"""What an add keeps of the graph: the part of each paper whose inputs did not change.

A paper's part of the graph (:func:`kgraph.graph.build_graph`) is its node, its edges to its
entities and results, its result nodes, and the ``evaluated_on`` edges it is the provenance
of. It is made from the paper's record, its extraction, and the canonical ids its per-paper
entities resolved to (their types come with the ids: a gazetteer id's type is its entry's,
any other id begins with its type). The bundle keeps, in ``graph.index.npz``
(:data:`INDEX`), a 64-bit digest of each paper's ids (:func:`assignment_digest`) and the
fingerprint of the code that makes a paper's part (:func:`graph_code`). An add whose paper
has the same record, the same extraction and the same digest takes that paper's part from
the bundle's ``graph.json`` as it is (:func:`read_parts`: its lines parsed, nothing else
made; graph.json's writer then copies those lines: :class:`KeptLines`, and adds the
digests of their runs that the index keeps from the writer that made them, rather than
digest them again), and makes only the
others' from their extractions, which it then reads: most of the
bundle's extractions stay lines (:class:`kgraph.extractions.StoredExtractions`). The
entities' nodes and the ``co_occurs`` edges are made whole, from the resolution and every
paper's ids. The graph is the one a build in one go makes, node for node and edge for edge,
in the same order (the attributes read back have their keys in the file's order, which
every writer sorts or looks up by name).

An add may read the kept papers' own edges *light* (``read_parts(light=True)``): each with its
relation only, which is all that the graph's counts, the RDF's indexes and ranks and
``graph.html``'s selection read of them, while ``graph.json``'s writer copies their lines.
Their other attributes (the evidence: sentence, spans, mentions) are read back from the file
for the few papers that need them (:class:`LightEdges`: those ``graph.html`` draws, and those
whose RDF is made again). The parts of the 162k bundle held 1,198 MiB so, 562 MiB light.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import os
import sys
from array import array
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple

import numpy as np
import orjson

from ._hashing import source_fingerprint

__all__ = [
    "INDEX",
    "CopiedRun",
    "GraphIndex",
    "KeptFileChanged",
    "KeptLines",
    "LightEdges",
    "PaperPart",
    "assignment_digest",
    "dump_parts",
    "graph_code",
    "load_parts",
    "read_parts",
]

#: the bundle file of the papers' digests (kgraph.bundle.GRAPH_INDEX)
INDEX: Final = "graph.index.npz"
_VERSION: Final = 2
#: graph.json is read this many bytes at a time
_CHUNK: Final = 1 << 24


@lru_cache(maxsize=1)
def graph_code() -> str:
    """SHA-256 of the code that makes a paper's part of the graph (and its record) and writes
    its lines of ``graph.json`` (which an add copies: :class:`KeptLines`), with orjson's
    version (the encoder of those lines)."""
    from . import graph, graphfile, records

    version = f"{_VERSION} orjson {orjson.__version__}"
    return source_fingerprint(graph, graphfile, records, sys.modules[__name__], version=version)


def assignment_digest(pid: str, ids: tuple[str, ...]) -> int:
    """64-bit digest of a paper's canonical ids, one per per-paper entity, in order."""
    data = "\x1f".join((pid, *ids)).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _runs_array(runs: Mapping[str, list[int]], papers: Iterable[str]) -> np.ndarray:
    """The digests of the runs (:class:`GraphIndex`: ``runs``) of ``papers`` (ids), a row
    each, in their order (zeros for a paper without)."""
    none = [0, 0, 0]
    rows = [runs.get(f"paper:{pid}", none) for pid in papers]
    return np.array(rows, dtype=np.uint64).reshape(-1, 3)


@dataclass
class GraphIndex:
    """Per paper of the graph (by id): the digest of its ids; ``code``: :func:`graph_code`;
    ``runs``: per paper node (``paper:<id>``), the digests graph.json's writer gave the runs
    of its node's line, its edges' lines and its result nodes' lines (0: none, or a run
    that took other lines too), which an add copies (:class:`KeptLines`: ``known``)."""

    digests: dict[str, int]
    code: str = field(default_factory=graph_code)
    runs: dict[str, list[int]] = field(default_factory=dict)

    def dump(self) -> bytes:
        self.digests = dict(sorted(self.digests.items()))  # (the same file for the same graph)
        ids = "\n".join(self.digests).encode("utf-8")
        buf = io.BytesIO()
        np.savez(
            buf,
            papers=np.frombuffer(ids, dtype=np.uint8),
            digest=np.fromiter(self.digests.values(), dtype=np.uint64, count=len(self.digests)),
            runs=_runs_array(self.runs, self.digests),
            meta=np.frombuffer(
                orjson.dumps({"version": _VERSION, "code": self.code}), dtype=np.uint8
            ),
        )
        return buf.getvalue()

    @classmethod
    def load(cls, data: bytes) -> GraphIndex:
        """What :meth:`dump` wrote (ValueError if it is not)."""
        version: Any = None
        try:
            with np.load(io.BytesIO(data)) as z:
                meta = orjson.loads(z["meta"].tobytes())
                version = meta.get("version")
                if version == _VERSION:
                    ids, digest, runs = z["papers"].tobytes(), z["digest"], z["runs"]
            papers = ids.decode("utf-8").split("\n") if version == _VERSION and ids else []
        except Exception as exc:  # zipfile's, numpy's, orjson's errors: damaged
            raise ValueError(f"damaged ({exc})") from None
        if version != _VERSION:
            raise ValueError(
                f"an index of another version ({version!r}; this kgraph reads {_VERSION})"
            )
        if not len(papers) == len(digest) == len(runs):
            raise ValueError("damaged (its arrays differ in length)")
        return cls(
            dict(zip(papers, digest.tolist(), strict=True)),
            str(meta.get("code")),
            {f"paper:{pid}": row for pid, row in zip(papers, runs.tolist(), strict=True)},
        )


@dataclass
class PaperPart:
    """A paper's part of the graph as ``graph.json`` holds it: its result nodes, its edges
    (from the paper) and the ``evaluated_on`` edges it gives, each in the file's order. (Its
    node is not read: it is made from the paper's record, which is the same, and shares that
    record's strings, where a node read back would hold a copy of every title and abstract.)

    Its edges are held as the graph holds them, target -> key -> attributes (networkx's
    adjacency of the paper's node), so that :func:`kgraph.graph.build_graph` puts them in the
    graph whole instead of edge by edge."""

    results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    adjacency: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    evaluated_on: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)


def _adjoin(
    adjacency: dict[str, dict[str, dict[str, Any]]], v: str, key: str, attrs: dict[str, Any]
) -> None:
    """Add the edge to ``v`` keyed ``key`` to ``adjacency`` as networkx adds it (attributes
    of a key met again update its own)."""
    keyed = adjacency.get(v)
    if keyed is None:
        adjacency[v] = {key: attrs}
    elif key in keyed:
        keyed[key].update(attrs)
    else:
        keyed[key] = attrs


@dataclass
class KeptLines:
    """Where the kept papers' lines are in the ``graph.json`` at ``path`` that an add read
    their parts from (:func:`read_parts`): for paper ``rows[id]``, ``spans`` holds the offset
    and length of its node's line, of the run of its edges' lines and of the run of its
    result nodes' lines (0 and 0: none), a run without the comma after its last line.
    graph.json's writer copies them (:func:`kgraph.graphfile.write_graph_json`): the same
    writer made them from the same attributes. ``identity``: the file's device, inode, size
    and modification time when it was read (a file replaced since is not copied from)."""

    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), dtype=np.int64))
    identity: tuple[int, ...] = ()
    #: per row, the digests of its three runs that the writer of the file gave them
    #: (:class:`GraphIndex`: ``runs``; 0 where not known): :meth:`know`
    known: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.uint64))
    #: the papers' own edges were read with their relation only (:class:`LightEdges`): their
    #: lines must be copied, not made from the graph
    light: bool = False

    def __len__(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        self.rows = {}
        self.spans = np.zeros((0, 6), dtype=np.int64)
        self.known = np.zeros((0, 3), dtype=np.uint64)

    def subset(self, papers: Collection[str]) -> KeptLines:
        """The lines of ``papers`` only (each must be one of :attr:`rows`)."""
        pids = sorted(papers)
        rows = [self.rows[pid] for pid in pids]
        known = self.known[rows] if len(self.known) else self.known
        return KeptLines(
            self.path,
            {pid: i for i, pid in enumerate(pids)},
            self.spans[rows].reshape(-1, 6),
            self.identity,
            known,
            self.light,
        )

    def know(self, runs: Mapping[str, list[int]]) -> None:
        """Take the digests of the runs from ``runs`` (:class:`GraphIndex`'s, of the index
        made with the file read: a paper it lacks has none known)."""
        self.known = _runs_array(runs, self.rows)

    def reader(self) -> _LineCopier | None:
        """A reader of the lines; None when the file is no longer the one read."""
        copier = _LineCopier(self)
        if _identity(os.fstat(copier.fh.fileno())) != self.identity:
            copier.close()
            return None
        return copier


class CopiedRun(NamedTuple):
    """A run of lines copied from the file (:class:`KeptLines`): its bytes (``,\\n`` between
    the lines), and the digest its writer gave it when known (else 0)."""

    data: bytes
    digest: int


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class KeptFileChanged(ValueError):
    """The ``graph.json`` an add read its kept parts from changed since (another writer)."""


class LightEdges:
    """The kept papers whose own edges a graph holds light (see the module doc), and where
    their lines are (``kept``, made by ``read_parts(light=True)``): :meth:`fill` gives a
    paper's edges their other attributes back, from the file. (It keeps what it needs of
    ``kept``, whose :meth:`~KeptLines.clear` does not empty it.)"""

    def __init__(self, kept: KeptLines) -> None:
        self.path, self.identity = kept.path, kept.identity
        self.rows = kept.rows
        self.spans = kept.spans[:, 2:4]  #: offset and length of each paper's edges' lines
        self.filled: set[str] = set()

    def __contains__(self, pid: object) -> bool:
        """Whether paper ``pid``'s edges are light still."""
        return pid in self.rows and pid not in self.filled

    def fill(self, graph: Any, papers: Iterable[str]) -> int:
        """Give the edges of ``papers`` (ids; those not light are passed over) in ``graph``
        (a ``networkx.MultiDiGraph``) all their attributes, in the file's order, each dict
        changed in place (the graph's two adjacencies share it). How many papers were filled;
        :class:`KeptFileChanged` when the file is no longer the one read."""
        rows, spans = self.rows, self.spans
        todo = sorted(
            (int(spans[rows[pid], 0]), int(spans[rows[pid], 1]), pid)
            for pid in set(papers)
            if pid in self
        )
        if not todo:
            return 0
        succ = graph._succ
        loads = orjson.loads
        with self.path.open("rb") as fh:
            if _identity(os.fstat(fh.fileno())) != self.identity:
                raise KeptFileChanged(f"{self.path} changed since its kept parts were read")
            for offset, length, pid in todo:
                fh.seek(offset)
                data = fh.read(length)
                if len(data) != length:
                    raise KeptFileChanged(f"{self.path}: shorter than when it was read")
                within: dict[str, str] = {}  #: its sentences, shared as read_parts shares them
                for line in data.split(b"\n") if data else ():
                    row = loads(line[:-1] if line.endswith(b",") else line)
                    u, v, k = row.pop("source"), row.pop("target"), row.pop("key")
                    sentence = row.get("sentence")
                    if sentence is not None:
                        row["sentence"] = within.setdefault(sentence, sentence)
                    attrs = succ[u][v][k]
                    attrs.clear()
                    attrs.update(row)
                self.filled.add(pid)
        return len(todo)


class _LineCopier:
    """Reads :class:`KeptLines`' lines (the file opened once; asked for in the file's order,
    most are in its read buffer already)."""

    def __init__(self, kept: KeptLines) -> None:
        self.rows = kept.rows
        # (flat arrays, whose items are Python ints at once: a numpy row sliced and
        # converted for each of the half a million runs of an add at 160k took 0.15 s more)
        self.spans = array("q", np.ascontiguousarray(kept.spans, dtype=np.int64).tobytes())
        known = kept.known if len(kept.known) else np.zeros((len(kept.spans), 3))
        self.known = array("Q", np.ascontiguousarray(known, dtype=np.uint64).tobytes())
        self.fh: BinaryIO = kept.path.open("rb", buffering=1 << 20)

    def _read(self, pid: str, column: int) -> CopiedRun | None:
        row = self.rows.get(pid)
        if row is None:
            return None
        at = row * 6 + column
        length = self.spans[at + 1]
        if not length:
            return None
        self.fh.seek(self.spans[at])
        data = self.fh.read(length)
        if len(data) != length:
            raise ValueError(f"{self.fh.name}: shorter than when it was read")
        return CopiedRun(data, self.known[row * 3 + column // 2])

    def node(self, pid: str) -> CopiedRun | None:
        return self._read(pid, 0)

    def edges(self, pid: str) -> CopiedRun | None:
        return self._read(pid, 2)

    def results(self, pid: str) -> CopiedRun | None:
        return self._read(pid, 4)

    def close(self) -> None:
        self.fh.close()


def read_parts(
    path: Path,
    sha256: str,
    keep: Collection[str],
    spill: Callable[[dict[str, PaperPart]], object] | None = None,
    *,
    light: bool = False,
) -> tuple[dict[str, PaperPart], KeptLines]:
    """The parts of the papers in ``keep`` (paper ids) from the ``graph.json`` at ``path``,
    which the bundle's graph writer made (:func:`kgraph.graphfile.write_graph_json`), and
    where their lines are; only their edges' and results' lines are parsed (an entity's
    node, a paper's node and a ``co_occurs`` edge are recognised by their bytes). ValueError
    when the file is not the one whose SHA-256 is ``sha256`` or not in that writer's
    layout.

    ``spill``: given the parts as they are read, :data:`_SPILL` papers at a time, and not
    kept (the parts returned are then none): a paper's edges and the ``evaluated_on`` edges
    it gives are given together once its edges' lines are read (those between entities,
    where its ``evaluated_on`` edges are, come first), its results at the end, each field
    whole in one call.

    ``light``: the papers' own edges with their relation only (see the module doc; the
    ``evaluated_on`` edges and the result nodes are read whole)."""
    parts: dict[str, PaperPart] = {}
    complete: list[str] = []  #: papers whose edges are all read, not spilled yet
    own_run = ""  #: the paper the last of the papers' own edges was of
    given: set[str] = set()  #: papers whose edges were spilled
    spans: dict[str, list[int]] = {}  #: as KeptLines.spans
    identity = _identity(os.stat(path))
    loads = orjson.loads
    digest = hashlib.sha256()
    section = ""
    # JSON makes a new string of every value; a graph made from objects shares them: a
    # node id, a relation or component name, and within one paper its sentences (the 160k
    # add peaked at 4.1 GiB without this)
    shared: dict[str, str] = {}
    within: dict[str, str] = {}  #: the sentences of the paper being read
    last = ""
    run = ""  #: the kept paper whose run of lines (edges, results) the last line was in

    def extend(pid: str, column: int, start: int, end: int) -> None:
        """Line ``start:end`` of the file is in ``pid``'s run in ``column``."""
        span = spans.setdefault(pid, [0] * 6)
        if not span[column + 1]:
            span[column], span[column + 1] = start, end - start
        elif run == pid:
            span[column + 1] = end - span[column]
        else:
            raise ValueError(f"the lines of paper {pid!r} are not together")

    for start, line in _lines(path, digest):
        if section and line.startswith(b"]"):
            section = ""  # (the line that ends the edges opens the nodes)
        if section:
            if line.endswith(b","):
                line = line[:-1]
            end = start + len(line)
            if section == "edges":
                # a paper's own edge, or an evaluated_on edge it gives (a co_occurs edge: no)
                own = b'"source":"paper:' in line
                if own or b'"relation":"evaluated_on"' in line:
                    row = loads(line)
                    pid = row["source" if own else "paper"][6:]
                    if pid in keep:
                        part = parts.setdefault(pid, PaperPart())
                        u, v, k = row.pop("source"), row.pop("target"), row.pop("key")
                        if light and own:
                            relation = row["relation"]
                            row = {"relation": shared.setdefault(relation, relation)}
                        else:
                            if pid != last:
                                within, last = {}, pid
                            _share(row, shared, within)
                            # (a dict keeps its size when keys go: the copy is sized for the
                            # rest, 349 bytes an edge against 616, a third of a GiB at 160k)
                            row = {**row}
                        v = shared.setdefault(v, v)
                        if own:
                            if pid != own_run:
                                if own_run:
                                    complete.append(own_run)
                                own_run = pid
                                if spill is not None and len(complete) >= _SPILL:
                                    spill({p: parts.pop(p) for p in complete})
                                    given.update(complete)
                                    complete.clear()
                            _adjoin(part.adjacency, v, k, row)
                            extend(pid, 2, start, end)
                            run = pid
                            continue
                        part.evaluated_on.append((shared.setdefault(u, u), v, k, row))
            elif b'"kind":"result"' in line:  # (not a paper's node, nor an entity's)
                row = loads(line)
                pid = row["paper"][6:]
                if pid in keep:
                    if pid != last:
                        within, last = {}, pid
                    _share(row, shared, within)
                    node = row.pop("id")
                    parts.setdefault(pid, PaperPart()).results.append((node, {**row}))
                    extend(pid, 4, start, end)
                    run = pid
                    continue
            elif b'"kind":"paper"' in line:
                # its id (keys sorted: after the abstract), found by its bytes: a quote in a
                # string is escaped, so '"id":"paper:' is the key's own
                at = line.find(b'"id":"paper:') + 12
                raw = line[at : line.index(b'"', at)] if at >= 12 else b"\\"
                pid = loads(line)["id"][6:] if b"\\" in raw else raw.decode("utf-8")
                if pid in keep:
                    spans.setdefault(pid, [0] * 6)[0:2] = [start, end - start]
        elif line.endswith(b'"edges":['):
            section = "edges"
        elif line.endswith(b'"nodes":['):
            section = "nodes"
        run = ""
    if digest.hexdigest() != sha256:
        raise ValueError("graph.json does not match the manifest")
    if spill is not None:  # (a kept paper with no line but its node: an empty part)
        given.update(parts)
        spill({**parts, **{pid: PaperPart() for pid in keep if pid not in given}})
        parts = {}
    # (a kept paper naming no entity has no lines but its node's: its part is empty)
    pids = sorted(keep)
    lines = KeptLines(
        path,
        {pid: i for i, pid in enumerate(pids)},
        np.array([spans.get(pid) or [0] * 6 for pid in pids], dtype=np.int64).reshape(-1, 6),
        identity,
        light=light,
    )
    if spill is not None:
        return {}, lines
    return {pid: parts.get(pid) or PaperPart() for pid in pids}, lines


def dump_parts(parts: Mapping[str, PaperPart], fh: BinaryIO) -> None:
    """Write ``parts`` (:func:`read_parts`) to ``fh`` as one record, for :func:`load_parts`
    in another process: marshal (1.3 s for the 165k parts of a 160k graph at once, where
    pickle took 4.1 s; its references keep each string shared within a record). Not a file
    format: marshal's data may differ between Python versions."""
    data = marshal.dumps(
        {pid: (p.results, p.adjacency, p.evaluated_on) for pid, p in parts.items()}
    )
    fh.write(len(data).to_bytes(8, "little"))
    fh.write(data)


def load_parts(fh: BinaryIO, papers: Collection[str]) -> dict[str, PaperPart]:
    """The parts of ``papers`` (each must be in a record) from the records :func:`dump_parts`
    wrote to ``fh``, their fields joined in the order written. (A node id met in several
    records stays a string of each: making them one again took 1.3-1.7 s longer for the
    174k parts of 17 records, for 9 MiB less.)"""
    out: dict[str, PaperPart] = {}
    while head := fh.read(8):
        size = int.from_bytes(head, "little")
        data = fh.read(size)
        if len(head) < 8 or len(data) < size:
            raise ValueError("the parts handed over end early")
        record = marshal.loads(data)
        del data
        for pid, (results, adjacency, evaluated_on) in record.items():
            if pid not in papers:
                continue
            part = out.get(pid)
            if part is None:
                part = out[pid] = PaperPart(results, adjacency, evaluated_on)
                continue
            part.results += results
            for v, keyed in adjacency.items():  # (a paper's edges come in one record)
                for k, attrs in keyed.items():
                    _adjoin(part.adjacency, v, k, attrs)
            part.evaluated_on += evaluated_on
        del record
    missing = [pid for pid in papers if pid not in out]
    if missing:
        raise KeyError(f"no part handed over for paper {missing[0]!r}")
    return {pid: out[pid] for pid in sorted(papers)}


#: parts given at a time to the ``spill`` of :func:`read_parts`
_SPILL: Final = 10_000


#: the attributes whose values recur across the graph (ids, names of relations and sources)
_SHARED: Final = ("relation", "component", "paper", "method", "dataset", "metric", "result_type")


def _share(row: dict[str, Any], shared: dict[str, str], within: dict[str, str]) -> None:
    """Make ``row``'s recurring string values the objects met before (see read_parts)."""
    for key in _SHARED:
        value = row.get(key)
        if value is not None:
            row[key] = shared.setdefault(value, value)
    sentence = row.get("sentence")
    if sentence is not None:
        row["sentence"] = within.setdefault(sentence, sentence)


def _lines(path: Path, digest: Any) -> Iterator[tuple[int, bytes]]:
    """The lines of the file at ``path`` without their newlines, each with its offset in the
    file, read a chunk at a time and each chunk hashed into ``digest``: in another thread,
    while its lines are taken (hashlib lets Python's lock go while it hashes: SHA-256 of
    the 841-MB graph.json of 160k papers is 0.6-1.5 s, off the reader's path so)."""
    rest = b""
    at = 0  #: the offset of rest's first byte
    with path.open("rb") as fh, ThreadPoolExecutor(1, "kgraph-hash") as hasher:
        hashed: Future[None] | None = None
        while chunk := fh.read(_CHUNK):
            if hashed is not None:
                hashed.result()  # (the chunks hashed in order)
            hashed = hasher.submit(digest.update, chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield at, line
                at += len(line) + 1
        if hashed is not None:
            hashed.result()
    if rest:
        yield at, rest


def kept_papers(
    index: GraphIndex | None,
    assignments: Mapping[str, tuple[str, ...]],
    changed: Container[str],
    digests: dict[str, int],
) -> set[str]:
    """The papers whose part of the graph an add can take from the bundle: the same ids as
    ``index`` records, and not ``changed`` (new, their record or extraction changed); none
    without an index. ``digests`` receives every paper's digest (for the next index)."""
    old = index.digests if index is not None else {}
    keep: set[str] = set()
    for pid, ids in assignments.items():
        d = digests[pid] = assignment_digest(pid, ids)
        if old.get(pid) == d and pid not in changed:
            keep.add(pid)
    return keep
