"""The bundle's embedded SPARQL store: an on-disk Oxigraph database in ``DIR/store/``.

The store is a derived cache of ``graph.json`` (so queries do not parse files again)::

    DIR/store/                      the Oxigraph (RocksDB) database: one named graph per paper,
                                    one for the entities (see kgraph.rdf.convert)
    DIR/store/kgraph-store.json     marker: SHA-256 of the graph.json it was built from (as the
                                    manifest lists it), base IRI, quad and triple counts, how
                                    it was made (loaded whole, or updated in place)
    DIR/store/kgraph-units.npz      a digest of every unit of its quads (a paper's graph, an
    DIR/store/kgraph-units.txt      entity's statements) and the units' keys: what lets the
                                    next build update the store in place (kgraph.rdf.delta)

:func:`ensure_store` (re)builds it when it is missing or stale (graph.json changed, another
base asked for, the RDF mapping changed); :func:`write_store` is the build step itself. A
store is built in a temporary folder inside the bundle and renamed into place only when
complete, so a crash never leaves half a store, and an old store is replaced only by a whole
new one. A build that replaces a store made from the previous ``graph.json`` updates a copy of
it (hard links) with the units that changed, when they are few, instead of loading every
quad again (:func:`kgraph.rdf.delta.update_store`). Queries run over the union of the named graphs
(``use_default_graph_as_union=True``, see :mod:`kgraph.rdf.queries`)::

    from kgraph.rdf.store import open_store
    store = open_store("out/graph")             # read-only pyoxigraph.Store
    store.query("SELECT ...", use_default_graph_as_union=True)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the quads go to a file first
    fcntl = None  # type: ignore[assignment]

import networkx as nx

from .. import __version__
from ..exporters import DEFAULT_BASE
from .convert import RDF_VERSION, EntityFacts, Run, statement_runs
from .delta import (
    BULK_TO_COMPACTED,
    RunDigests,
    UnitIndex,
    disk_size,
    key_hash,
    load_runs,
    update_store,
)
from .namespaces import entities_graph_iri, normalise_base, paper_graph_iri, prefixes
from .paper_units import PartnerBlocks, Reuse
from .turtle import TAIL_MARK, UNIT_MARK

__all__ = [
    "MARKER",
    "STORE",
    "StoreError",
    "StoreLoader",
    "ensure_store",
    "entities_graph_iri",
    "graph_bytes",
    "named_graphs",
    "open_store",
    "paper_graph_iri",
    "store_info",
    "write_bundle_store",
    "write_store",
    "write_store_from_file",
]

STORE: Final = "store"
MARKER: Final = "kgraph-store.json"
_FORMAT: Final = "kgraph-store"


class StoreError(Exception):
    """The store cannot be built or opened (one-line message)."""


def _graph_sha256_from_manifest(bundle_dir: Path) -> str:
    from ..bundle import read_manifest

    manifest = read_manifest(bundle_dir)
    assert manifest is not None
    try:
        return str(manifest["files"]["graph.json"]["sha256"])
    except (KeyError, TypeError):
        from ..bundle import BundleError

        raise BundleError(f"{bundle_dir}: manifest.json lists no graph.json") from None


def store_info(bundle_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of the bundle's store (what it was built from, counts), None if none."""
    return _marker(Path(bundle_dir) / STORE)


def _marker(store: Path) -> dict[str, Any] | None:
    """The marker of the store folder ``store``, None if none."""
    try:
        info = json.loads((store / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("format") == _FORMAT else None


def can_update(folder: Path, graph_sha256: str, base: str) -> bool:
    """Whether the store in ``folder`` was made from the ``graph.json`` of ``graph_sha256``
    with ``base`` and has a sound unit index (:mod:`kgraph.rdf.delta`): what an update in
    place needs."""
    info = _marker(folder)
    if info is None or not _is_fresh(info, graph_sha256, normalise_base(base)):
        return False
    try:
        return len(UnitIndex.load(folder)) == info.get("units") and "quads" in info
    except (OSError, ValueError, KeyError):
        return False


class WarmCopy:
    """A copy of a store fresh from the bulk loader, held open for writing while an add's
    worker process runs. RocksDB reorganises such a store as soon as it is open for writing
    (39-50 s at 160k papers, which the first update after a build otherwise waits for); here
    it does so on the core the worker leaves idle, its threads at the lowest priority, and the
    update then takes this copy (:func:`kgraph.rdf.delta.update_store`, ``warmed``) instead of
    making its own. :meth:`close` gives its path (None if it could not be made);
    :meth:`discard` removes it if the update did not take it."""

    def __init__(self, store: Path, folder: Path) -> None:
        self.path: Path | None = Path(
            tempfile.mkdtemp(prefix=".store-warm-", suffix=".tmp", dir=folder)
        )
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(store, self.path), name="kgraph-store-warm", daemon=True
        )
        self._thread.start()

    def _run(self, store: Path, path: Path) -> None:
        try:
            # On Linux a thread's own: RocksDB's threads, which this one starts, inherit it.
            # The lowest: the copy of the worker reading the kept parts of the graph (nice 10)
            # runs on that core too, and the graph waits for it. At 10 the two shared the
            # core: the first add after a 160k build took 62.0-67.1 s, its graph phase
            # 17.6-18.1 s (four adds on copies of one state); at 19, 59.8-60.2 s and 12.7-14.3
            # s. The update is slower instead, likely RocksDB finishing then what it had not
            # done (in two benchmark runs the store phase took 9.1 and 11.9 s against 5.0 and
            # 5.6; not traced).
            with contextlib.suppress(OSError, AttributeError):
                os.nice(19)
            import pyoxigraph as ox

            path.rmdir()  # Store.backup makes the folder
            ox.Store.read_only(str(store)).backup(str(path))
            db = ox.Store(str(path))
            self._done.wait()
            del db  # closes it (RocksDB finishes the work it is doing)
        except BaseException as exc:
            self._error = exc

    def close(self) -> Path | None:
        """Close the copy (once RocksDB's running work on it ends); its path, None if it
        could not be made."""
        self._done.set()
        self._thread.join()
        if self._error is not None:
            self.discard()
        return self.path

    def discard(self) -> None:
        """Close the copy and remove it, unless an update took it."""
        self._done.set()
        self._thread.join()
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


def warm_copy(
    bundle_dir: Path, graph_sha256: str | None, base: str = DEFAULT_BASE
) -> WarmCopy | None:
    """A :class:`WarmCopy` of the bundle's store when an add will likely update it in place
    and it is fresh from the bulk loader (made from the ``graph.json`` of ``graph_sha256``,
    never updated since): None otherwise. (Its unit index is checked by the update: a copy
    of a store it cannot update is removed.)"""
    folder = bundle_dir / STORE
    info = _marker(folder)
    if info is None or info.get("loaded") != "bulk" or not graph_sha256:
        return None
    if not _is_fresh(info, graph_sha256, normalise_base(base)):
        return None
    try:
        return WarmCopy(folder, bundle_dir)
    except OSError:
        return None


def _is_fresh(info: dict[str, Any] | None, sha256: str, base: str | None) -> bool:
    return (
        info is not None
        and info.get("graph_sha256") == sha256
        and info.get("rdf_version") == RDF_VERSION
        and (base is None or info.get("base") == base)
    )


def ensure_store(
    bundle_dir: str | os.PathLike[str],
    base: str | None = None,
    *,
    on_step: Callable[[str], None] | None = None,
) -> Path:
    """The path of the bundle's Oxigraph store ``bundle_dir/store/``, (re)built from
    ``graph.json`` if it is missing or stale (``on_step(text)`` told each step of that: three
    minutes at 160k papers).

    ``base``: the base of the data IRIs; None keeps the store's (the default base for a new
    store). :class:`kgraph.bundle.BundleError` if the bundle is unsound, :class:`StoreError`
    if the store cannot be written (or another process is writing the bundle:
    :mod:`kgraph.bundle_lock`), :class:`~kgraph.rdf.namespaces.InvalidBase`.
    """
    folder = Path(bundle_dir)
    wanted = normalise_base(base) if base is not None else None
    sha256 = _graph_sha256_from_manifest(folder)
    info = store_info(folder)
    if _is_fresh(info, sha256, wanted):
        return folder / STORE
    from ..bundle_lock import BundleBusy, writing

    try:
        with writing(folder):  # (one writer at a time: a build may be committing)
            sha256 = _graph_sha256_from_manifest(folder)
            info = store_info(folder)
            if not _is_fresh(info, sha256, wanted):  # (else made meanwhile)
                use = wanted or (info or {}).get("base") or DEFAULT_BASE
                write_bundle_store(folder, folder, use, sha256, on_step=on_step)
    except BundleBusy as exc:
        raise StoreError(str(exc)) from None
    return folder / STORE


def write_bundle_store(
    bundle_dir: str | os.PathLike[str],
    store_dir: str | os.PathLike[str],
    base: str,
    graph_sha256: str,
    *,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build the store of the bundle in ``bundle_dir`` into ``store_dir/store/`` (the same
    folder, or another: a private store with another base), as :func:`write_store` does,
    and return its marker. The graph is loaded and its quads written to a file in a forked
    copy of this process, which then exits; Oxigraph loads them here, in a process that
    never held the graph. Loaded in one process, the graph (2.8 GiB at 160k papers) and the
    loader's buffers (1.9 GiB) added up; and what Python frees it keeps (see the README's
    *Scale*). Where there is no fork, everything runs here."""
    from ..bundle import load_graph

    return _store_in_copy(lambda: load_graph(bundle_dir)[1], store_dir, base, graph_sha256, on_step)


def write_store_from_file(
    graph_json: Path, store_dir: str | os.PathLike[str], base: str, graph_sha256: str
) -> dict[str, Any]:
    """:func:`write_bundle_store` from the ``graph.json`` file ``graph_json`` (whose SHA-256
    must be ``graph_sha256``): a build whose update in place failed loads its store so."""
    from ..graphfile import GraphFile, GraphFileError

    def load() -> nx.MultiDiGraph:
        try:
            return GraphFile(graph_json, graph_sha256).graph()
        except GraphFileError as exc:
            raise StoreError(str(exc)) from None

    return _store_in_copy(load, store_dir, base, graph_sha256)


def _store_in_copy(
    load: Callable[[], nx.MultiDiGraph],
    store_dir: str | os.PathLike[str],
    base: str,
    graph_sha256: str,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The store of the graph ``load`` gives, into ``store_dir/store/``: loaded and turned
    into quads in a forked copy of this process, the quads loaded here (see above;
    ``on_step`` is told both steps)."""
    step = on_step or (lambda text: None)
    from ..forked import ForkUnavailable, Parent, WorkerDied, run_forked

    def quads(parent: Parent | None = None) -> StoreLoader:
        graph = load()
        loader = StoreLoader(store_dir, graph, base, defer_load=True)
        try:
            loader.wait_quads()
        except BaseException:
            loader.abort()
            raise
        return loader

    step("reading graph.json and making the store's quads")
    try:
        loader = run_forked(quads, abandon=StoreLoader.abort, name="store")
    except ForkUnavailable:
        loader = quads()
    except WorkerDied as exc:
        raise StoreError(f"{store_dir}: cannot write the store ({exc})") from None
    step("loading the store")
    try:
        return loader.finish(graph_sha256)
    except BaseException:
        loader.abort()
        raise


def open_store(
    bundle_dir: str | os.PathLike[str],
    read_only: bool = True,
    base: str | None = None,
    *,
    on_step: Callable[[str], None] | None = None,
) -> Any:
    """The bundle's store as a ``pyoxigraph.Store`` (built first if needed, ``on_step`` told
    its steps: :func:`ensure_store`; read-only by default, so several processes can query it
    at once)."""
    import pyoxigraph as ox

    path = ensure_store(bundle_dir, base, on_step=on_step)
    try:
        return ox.Store.read_only(str(path)) if read_only else ox.Store(str(path))
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the store ({exc})") from None


def _counted(
    stream: Iterator[Run],
    counts: dict[str, int],
    union: Callable[[bytes], object] | None,
    runs: RunDigests,
    marks: Mapping[str, bytes] | None = None,
    blocks: list[str] | None = None,
) -> Iterator[bytes]:
    """N-Quads chunks of ``stream`` (:func:`~kgraph.rdf.convert.statement_runs`), counting
    quads and graphs. ``union`` is given the same chunks without the statements that repeat
    a triple of another graph: the union of the graphs, as N-Quads lines whose graph term is
    to be ignored (most chunks have no repeat and are passed as they are). ``runs`` is told
    of every run of one unit's statements (:mod:`kgraph.rdf.delta`): chunks end between
    runs. A paper's named graph is one unit, written with one join; in the entities graph a
    run is each longest stretch of statements of one unit within a block, wherever the
    stream's runs end (so the runs, and the units' digests, do not depend on how the stream
    is cut).

    ``marks`` (for :class:`~kgraph.rdf.turtle.TurtleWriter`): the union also gets a ``#u``
    line before each block (a paper's graph, an entity's statements), ``#t`` before the
    statements after the blocks, and for a block not made (an empty run: see ``skip`` in
    :func:`~kgraph.rdf.convert.statement_runs`) the line ``marks`` gives for its node.
    ``blocks`` is told of every block, in order; ``runs`` of the block each run is in."""
    parts: list[bytes] = []  #: the chunk so far, run by run
    union_parts: list[bytes] = []  #: the same without the repeats, when there are any (or marks)
    pending = n = 0
    graphs: set[str] = set()
    entities, co = runs.entities_graph, runs.co_occurs
    tail_e = f" {entities} .\n"
    unit = ""  #: the unit of the entities graph's run being collected
    collected: list[str] = []  #: its statements
    in_block = False  #: the last run was a block
    no_block = block_hash = bytes(8)  #: the block's node's key_hash

    def run(key: str, data: bytes, union_data: bytes | None = None) -> None:
        """A run of unit ``key``; ``union_data``: the run without its repeats, if any."""
        runs.add(key, data, block_hash)
        parts.append(data)
        if marks is not None:
            union_parts.append(data if union_data is None else union_data)
        elif union_data is not None:
            if not union_parts:  # from here on this chunk's union is told apart
                union_parts.extend(parts[:-1])
            union_parts.append(union_data)
        elif union_parts:
            union_parts.append(data)

    def close() -> None:
        if collected:
            run(unit, _lines(collected, tail_e))
            collected.clear()

    for g, spos, repeats, block in stream:
        if block is not None:
            close()
            if blocks is not None:
                blocks.append(block)
            in_block = True
            if not spos:  # a block kept from before: its units are in the previous store
                graphs.add(g)
                if marks is not None and (mark := marks.get(block)) is not None:
                    union_parts.append(mark)
                pending += 1
                continue
            block_hash = key_hash(block)
            if marks is not None:
                union_parts.append(UNIT_MARK)
        elif in_block:
            close()
            block_hash = no_block
            if marks is not None:
                union_parts.append(TAIL_MARK)
            in_block = False
        if not spos:
            continue
        graphs.add(g)
        n += len(spos)
        pending += len(spos)
        if g == entities:
            for spo in spos:
                s = spo[: spo.index(" ")]
                # a kg:coOccursWith pair is a unit of its own (kgraph.rdf.delta)
                pair = spo.startswith(co, len(s))
                key = f"c {s} {spo[len(s) + len(co) :]}" if pair else "s " + s
                if key != unit:
                    close()
                    unit = key
                collected.append(spo)
        else:
            close()
            tail = f" {g} .\n"  # a paper's graph: one unit, one run
            data = _lines(spos, tail)
            if repeats:
                rest = [spo for i, spo in enumerate(spos) if i not in repeats]
                run("g " + g, data, _lines(rest, tail))
            else:
                run("g " + g, data, None)
        if pending >= 4096 and (parts or union_parts):  # (the run collected is not in parts)
            yield _flush(parts, union_parts, union)
            pending = 0
    close()
    if parts or union_parts:
        yield _flush(parts, union_parts, union)
    counts["quads"] = n
    counts["graphs"] = len(graphs)


def _lines(spos: list[str], tail: str) -> bytes:
    """N-Quads lines of statements ``spos``, each ended by ``tail`` (its graph and " .")."""
    return (tail.join(spos) + tail).encode("utf-8") if spos else b""


def _flush(parts: list[bytes], kept: list[bytes], union: Callable[[bytes], object] | None) -> bytes:
    """The chunk of ``parts`` (whole runs); ``union`` gets it without the repeats (``kept``,
    when some run had any)."""
    chunk = b"".join(parts)
    if union is not None:
        union(b"".join(kept) if kept else chunk)
    parts.clear()
    kept.clear()
    return chunk


def _make_fifo(path: Path) -> bool:
    """Make a named pipe at ``path``; False where the system or file system has none."""
    if not hasattr(os, "mkfifo") or fcntl is None:
        return False
    try:
        os.mkfifo(path, 0o600)
    except OSError:
        return False
    return True


def write_store(
    bundle_dir: str | os.PathLike[str],
    graph: nx.MultiDiGraph,
    base: str = DEFAULT_BASE,
    *,
    graph_sha256: str | None = None,
) -> dict[str, Any]:
    """Build the store of ``graph`` into ``bundle_dir/store/`` (atomically) and return its
    marker: ``graph_sha256``, ``base``, ``quads``, ``triples`` (the union's), ``graphs``,
    ``bytes`` on disk, ``seconds``.

    ``graph_sha256`` is the SHA-256 of the ``graph.json`` the graph comes from (what the
    manifest lists; computed from the graph when not given).
    """
    if graph_sha256 is None:
        from ..graphfile import graph_json

        graph_sha256 = hashlib.sha256(graph_json(graph)).hexdigest()
    loader = StoreLoader(bundle_dir, graph, base)
    return loader.finish(graph_sha256)


class StoreLoader:
    """Builds the store of ``graph`` into ``bundle_dir/store/`` while the caller goes on.

    The constructor starts two threads and returns: one makes the graph's N-Quads (Python's
    part, about a third of the work), the other is Oxigraph's bulk loader, reading them
    through a named pipe as they are made (where there is no named pipe, the quads go to a
    temporary file, loaded once written). The loader is Rust and does not hold Python's
    lock, and the quad thread mostly waits for the loader, so the caller can go on writing
    the bundle's other files meanwhile. ``union``, when given, is called (in the quad thread)
    with the union of the named graphs as N-Quads chunks (whole lines, graph terms to be
    ignored) as the quads are made, so that a Turtle or N-Triples file is made in the same
    pass (the build's ``graph.ttl``). The graph must not change until :meth:`wait_quads` (or
    :meth:`finish`) returns. :meth:`finish` waits for the load, writes the marker and swaps
    the store into place; :meth:`abort` stops, waits and removes everything. With
    ``defer_load``, the quads go to a file and Oxigraph reads it only in :meth:`finish`: a
    caller that lets the graph go after :meth:`wait_quads` then has the loader's buffers
    (gigabytes at scale) reuse the graph's memory instead of adding to it. Use one or the
    other::

        loader = StoreLoader(folder, graph)
        try:
            ...  # other work
            info = loader.finish(sha256_of_graph_json)
        except BaseException:
            loader.abort()
            raise
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str],
        graph: nx.MultiDiGraph,
        base: str = DEFAULT_BASE,
        union: Callable[[bytes], object] | None = None,
        *,
        defer_load: bool = False,
        previous: tuple[Path, str] | None = None,
        marks: bool = False,
        reuse: Reuse | None = None,
        facts: EntityFacts | None = None,
    ) -> None:
        import pyoxigraph as ox

        self._ox = ox
        self.started, self._cpu = time.perf_counter(), time.process_time()
        self.folder = Path(bundle_dir)
        self.base = normalise_base(base)
        self.counts: dict[str, int] = {}
        self.stats: dict[str, int] = {}
        self._error: BaseException | None = None  #: the loader's
        self._quads_error: BaseException | None = None  #: the quad thread's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".store-", suffix=".tmp", dir=self.folder))
            self.quads = self.tmp.with_name(self.tmp.name + ".nq")
            self._runs = RunDigests(
                self.tmp.with_name(self.tmp.name + ".runs.npz"),
                self.tmp.with_name(self.tmp.name + ".keys"),
                f"<{entities_graph_iri(self.base)}>",
            )
        except OSError as exc:
            raise StoreError(
                f"{self.folder}: cannot write the store ({exc.strerror or exc})"
            ) from None
        # The quads stream to the loader through a named pipe where there is one, so that
        # Oxigraph loads while Python is still making them (no file of the whole N-Quads);
        # elsewhere, or when the load is deferred, they go to a file first.
        self._deferred = defer_load
        self.previous = previous
        #: the union is marked for the Turtle writer (kgraph.rdf.turtle)
        self.marks = marks
        #: an add's blocks (papers, entities) whose quads the previous store keeps
        #: (kgraph.rdf.paper_units): their quads are not made, and the store must be updated
        #: in place
        self.reuse = reuse
        if reuse is not None and (previous is None or not defer_load):
            raise ValueError("reusing blocks needs a deferred load and the previous store")
        #: the nodes of the blocks of the statements (kgraph.rdf.paper_units), in order
        self.blocks: list[str] = []
        #: the blocks of the entities' short lists: their digests, those kept
        self.lists = PartnerBlocks(reuse)
        #: the graph's entity facts, made before (kgraph.rdf.convert.entity_facts)
        self._facts = facts
        self.update: dict[str, Any] | None = None  #: what an update in place did
        self.update_failed: str | None = None  #: why an update in place was given up
        self.update_skipped: str | None = None  #: why no update in place was tried
        self._compact_ratio: float | None = None  #: the previous store's, when compacted
        #: a copy of the previous store an update takes instead of making one (WarmCopy)
        self.warmed: Path | None = None
        self._streaming = not defer_load and _make_fifo(self.quads)
        if self._streaming:
            self._thread = threading.Thread(
                target=self._load, name="kgraph-store-load", daemon=True
            )
            self._thread.start()
        self._producer: threading.Thread | None = threading.Thread(
            target=self._produce, args=(graph, union), name="kgraph-store-quads", daemon=True
        )
        self._producer.start()

    def __getstate__(self) -> dict[str, Any]:
        """A deferred loader whose quads are all made pickles (another process may then
        :meth:`finish` it: the build's worker hands its store over that way)."""
        if self._producer is not None or self._thread is not None:
            raise TypeError("a StoreLoader still making or loading quads cannot be pickled")
        state = dict(self.__dict__)
        del state["_ox"], state["_stop"]
        state["blocks"] = []  # (their order made the units file)
        state["lists"] = PartnerBlocks()  # (so did their digests)
        state["_facts"] = None  # (the statements are made)
        if self.reuse is not None:  # what is left to do needs only the kept blocks' keys
            state["reuse"] = self.reuse.spent(self.lists.kept_keys)
        state["_cpu"] = time.process_time() - self._cpu  # CPU seconds spent so far
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import pyoxigraph as ox

        self.__dict__.update(state, _ox=ox, _stop=threading.Event())
        self._cpu = time.process_time() - state["_cpu"]  # this process's clock

    def _produce(self, graph: nx.MultiDiGraph, union: Callable[[bytes], object] | None) -> None:
        """The quad thread: the graph's N-Quads into the pipe (or the file, then loaded)."""
        try:
            fh = self._open_fifo() if self._streaming else open(self.quads, "wb", 1 << 20)  # noqa: SIM115
            with fh:
                try:
                    reuse = self.reuse
                    # (the blocks copied with the one before them: only the Turtle writer's
                    # marks copy them)
                    inside = reuse.inside if reuse is not None and self.marks else ()
                    for chunk in _counted(
                        statement_runs(
                            graph,
                            self.base,
                            stats=self.stats,
                            skip=reuse.keep if reuse else (),
                            facts=self._facts,
                            lists=self.lists,
                            inside=inside,
                        ),
                        self.counts,
                        union,
                        self._runs,
                        (reuse.copies if reuse else {}) if self.marks else None,
                        self.blocks,
                    ):
                        if self._stop.is_set():
                            raise _Stopped
                        fh.write(chunk)
                    if inside:  # (their graphs, each a paper's: not among the runs')
                        assert reuse is not None
                        self.counts["graphs"] += reuse.inside_papers
                except BaseException:
                    if self._streaming:  # a line no parser takes: the loader stops at once
                        with contextlib.suppress(OSError):
                            fh.write(b"\n<stop> <the> load .\n")
                    raise
            self._runs.close()
            if not self._streaming and not self._deferred:
                self._load()
        except BaseException as exc:  # re-raised in the caller's thread by wait_quads()
            self._runs.abort()
            self._quads_error = exc

    def _open_fifo(self) -> Any:
        """The writing end of the pipe, once the loader has opened the other end."""
        while True:
            try:
                fd = os.open(self.quads, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                if self._thread is None or not self._thread.is_alive():
                    raise StoreError(
                        f"{self.folder}: cannot write the store ({self._error})"
                    ) from None
                time.sleep(0.005)
        os.set_blocking(fd, True)
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer switches
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        return os.fdopen(fd, "wb", buffering=1 << 20)

    def _cleanup_runs(self) -> None:
        self._runs.runs_path.unlink(missing_ok=True)
        self._runs.keys_path.unlink(missing_ok=True)

    def _update(self, units: UnitIndex, runs: dict[str, Any]) -> dict[str, Any] | None:
        """Update a copy of the previous store with what changed, when there is one made
        from the graph this build replaces, and few enough units changed
        (:func:`~kgraph.rdf.delta.update_store`); None when the store is to be loaded whole."""
        if self.previous is None:
            return None
        folder, graph_sha256 = self.previous
        info = _marker(folder)
        if info is None or not _is_fresh(info, graph_sha256, self.base):
            if self.reuse is not None:
                raise StoreError(f"{folder}: the store changed during the build")
            return None
        try:
            old = UnitIndex.load(folder)
            if len(old) != info.get("units"):
                raise ValueError(f"{folder}: the unit index does not match the store")
            total = self.counts["quads"]
            if self.reuse is not None:  # the kept blocks' units, as the previous store has them
                # (with the nodes of short lists kept, in this process or the one that
                # handed the loader over: then in the plan it sent, see __getstate__)
                units = units.merged_blocks(old, self.reuse.kept_with(self.lists.kept_keys))
                total = int(info["quads"])  # about the same: only to decide on compacting
            # bytes per quad of the store when last compacted; for a store loaded whole (whose
            # marker records its own), what it would take compacted
            ratio = info.get("compact_bytes_per_quad")
            if info.get("loaded", "bulk") == "bulk" and info.get("quads"):
                ratio = BULK_TO_COMPACTED * info["bytes"] / info["quads"]
            self._compact_ratio = float(ratio) if ratio else None
            update = update_store(
                folder,
                self.tmp,
                self.quads,
                runs,
                old,
                units,
                f"<{entities_graph_iri(self.base)}>",
                compact_size=int(ratio * total) if ratio else None,
                max_share=None if self.reuse is None else 1.0,
                warmed=self.warmed,
                turtle=self._turtle(),
            )
        except (OSError, ValueError, KeyError) as exc:
            self.update_failed = f"{type(exc).__name__}: {exc}"
            if self.reuse is not None:  # the quads made are not all the store's: no load here
                raise StoreError(f"{folder}: cannot update the store ({exc})") from None
            # a damaged index or store: load everything instead (the old store is untouched)
        else:
            if update.pop("updated"):
                if self.reuse is not None:
                    self._units = units
                    # the counts of the whole store: the previous one's, changed as updated
                    self.counts["quads"] = (
                        int(info["quads"]) - update["quads_removed"] + update["quads_added"]
                    )
                    update["papers_kept"] = self.reuse.papers_kept
                    update["entities_kept"] = self.reuse.kept - self.reuse.papers_kept
                return update
            self.update_skipped = (
                f"{update['changed_share']:.0%} of the quads' bytes changed: a whole load is faster"
            )
            return None  # nothing made: self.tmp is still the empty folder to load into
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        return None

    def _turtle(self) -> tuple[Path, Any] | None:
        """The Turtle file made with the previous store and its blocks, when an add keeps
        blocks of it (it was checked to be the file the bundle made): the update reads the
        statements of the units that changed from it."""
        reuse = self.reuse
        if reuse is None or reuse.units is None:
            return None
        return reuse.previous_ttl, reuse.units

    @property
    def how(self) -> dict[str, Any]:
        """How the store was made: ``{"loaded": "updated in place"}`` with what the update
        did, or ``{"loaded": "bulk"}`` with why it was not updated in place when an update was
        given up (``update_failed``) or not tried (``update_skipped``)."""
        if self.update is not None:
            return {"loaded": "updated in place", **self.update}
        why = {"update_failed": self.update_failed, "update_skipped": self.update_skipped}
        return {"loaded": "bulk", **{k: v for k, v in why.items() if v}}

    def _load(self) -> None:
        ox = self._ox
        try:
            store = ox.Store(str(self.tmp))
            store.bulk_load(path=str(self.quads), format=ox.RdfFormat.N_QUADS)
            store.flush()
            del store  # closes the database before it is moved
        except BaseException as exc:  # re-raised in the caller's thread by finish()
            self._error = exc

    def wait_quads(self) -> None:
        """Wait until every quad is made (and ``union`` has had every chunk); raises what
        went wrong there (:class:`StoreError` for a write that failed), after removing what
        was written."""
        if self._producer is not None:
            self._producer.join()
            self._producer = None
        exc, self._quads_error = self._quads_error, None
        if exc is None:
            return
        self._wait()
        self._cleanup()
        if isinstance(exc, StoreError):
            raise exc
        if isinstance(exc, OSError):
            cause = self._error if isinstance(exc, BrokenPipeError) and self._error else exc
            raise StoreError(f"{self.folder}: cannot write the store ({cause})") from None
        raise exc

    def _wait(self) -> None:
        if self._producer is not None:
            self._producer.join()
            self._producer = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _cleanup(self) -> None:
        self.quads.unlink(missing_ok=True)
        self._cleanup_runs()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def abort(self) -> None:
        """Stop making quads, wait for the loader and remove what it wrote."""
        self._stop.set()
        self._wait()
        self._quads_error = None
        self._cleanup()

    def finish(self, graph_sha256: str) -> dict[str, Any]:
        """Wait for the quads and the load, write the marker, put the store in place; its
        marker."""
        ox = self._ox
        self.wait_quads()
        try:
            self._wait()
            runs = load_runs(self._runs.runs_path)
            units = UnitIndex.from_runs(runs, self._runs.keys_path.read_bytes())
            if self._deferred:
                self._units = units
                self.update = self._update(units, runs)
                units = self._units  # with the kept blocks' units, when reused
                if self.update is None:
                    self._load()
            self.quads.unlink(missing_ok=True)
            if self._error is not None:  # the loader failed (disk full, a parser error...)
                raise StoreError(f"{self.folder}: cannot write the store ({self._error})")
            info: dict[str, Any] = {
                "format": _FORMAT,
                "rdf_version": RDF_VERSION,
                "graph_sha256": graph_sha256,
                "base": self.base,
                "quads": self.counts["quads"],
                "triples": self.counts["quads"] - self.stats.get("repeated", 0),
                "graphs": self.counts["graphs"],
                "units": len(units),
                "loaded": self.how["loaded"],
                **({"update": self.update} if self.update is not None else {}),
                **{k: v for k, v in self.how.items() if k.startswith("update_")},
                "kgraph_version": __version__,
                "pyoxigraph_version": ox.__version__,
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            info["bytes"] = disk_size(self.tmp)
            compacted = self.update is None or self.update["compacted"]
            # (a store loaded whole counts as compacted here: the next update derives what
            # it would take compacted from it, BULK_TO_COMPACTED)
            ratio = info["bytes"] / max(1, info["quads"]) if compacted else self._compact_ratio
            if ratio:  # what a compacted store takes per quad, for the next update
                info["compact_bytes_per_quad"] = round(ratio, 3)
            info["seconds"] = round(time.perf_counter() - self.started, 3)
            info["cpu_seconds"] = round(time.process_time() - self._cpu, 3)
            units.save(self.tmp)
            (self.tmp / MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
            self._cleanup_runs()
            _swap(self.tmp, self.folder / STORE)
        except BaseException as exc:
            self._cleanup()
            if isinstance(exc, OSError):
                raise StoreError(f"{self.folder}: cannot write the store ({exc})") from None
            raise
        return info


class _Stopped(Exception):
    """The quad thread was told to stop (:meth:`StoreLoader.abort`)."""


def _swap(new: Path, final: Path) -> None:
    """Put the complete store ``new`` at ``final``; an old store there goes only afterwards."""
    os.chmod(new, 0o777 & ~_umask())
    if not final.exists():
        try:
            os.rename(new, final)
            return
        except OSError:
            if not final.exists():
                raise
    old = final.with_name(f".{final.name}-old-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(final, old)
    try:
        os.rename(new, final)
    except OSError:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- reading named graphs back (for push, serve) ------------------------------------------------


def named_graphs(store: Any) -> list[str]:
    """The IRIs of the store's named graphs, sorted."""
    return sorted(str(g.value) for g in store.named_graphs())


def graph_bytes(store: Any, graph_iri: str, fmt: str = "nt", *, base: str = DEFAULT_BASE) -> bytes:
    """The triples of one named graph of ``store`` as N-Triples (``fmt="nt"``) or Turtle
    (``"ttl"``, prefixes of ``base`` declared); empty for a graph the store lacks.

    The graph of a paper is :func:`~kgraph.rdf.namespaces.paper_graph_iri` ``(base, id)``,
    the entities' :func:`~kgraph.rdf.namespaces.entities_graph_iri` ``(base)``.
    """
    import pyoxigraph as ox

    formats = {"nt": ox.RdfFormat.N_TRIPLES, "ttl": ox.RdfFormat.TURTLE}
    if fmt not in formats:
        raise ValueError(f"unknown format {fmt!r}; valid: nt, ttl")
    triples = (q.triple for q in store.quads_for_pattern(None, None, None, ox.NamedNode(graph_iri)))
    spaces = prefixes(normalise_base(base)) if fmt == "ttl" else None
    return bytes(ox.serialize(triples, format=formats[fmt], prefixes=spaces) or b"")
