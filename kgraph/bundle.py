"""The graph bundle: a self-describing folder holding a built knowledge graph.

::

    DIR/manifest.json       what is here: versions, timestamps, inputs (with SHA-256), counts,
                            the SHA-256 of every other file
    DIR/papers.jsonl        the papers, one ``Paper.to_dict()`` per line, sorted by id
    DIR/extractions.jsonl   per-paper entities (``kgraph extract``'s lines plus abbreviations,
                            gazetteer ids and mention sentences), sorted by paper id
    DIR/graph.json          the graph, networkx node-link JSON (``schemas/graph.schema.json``)
    DIR/...                 the other default exports (:data:`EXPORTS`)

:func:`build` adds inputs to a bundle (creating it if needed). Inputs whose SHA-256 the
manifest already lists are skipped unread; papers already in the bundle are not extracted
again (unless their text changed, or the extractor did: see :func:`extractor_fingerprint`,
or the pipeline the bundle's papers were extracted with, rules or rules and model, which the
manifest records and an add keeps unless told otherwise); resolution and the graph are then
redone from the stored extractions (an add keeping what its papers cannot change), so a
bundle's graph depends only on its papers. The SPARQL store is updated in place with the
quads that changed when they are few (:mod:`kgraph.rdf.delta`), and loaded whole otherwise.
Building twice with the same inputs writes nothing the second time; building from the same
inputs into two folders gives byte-identical ``graph.json``.

A build does its work (reading, extraction, resolution, the graph, the files) in a forked
copy of the process, which hands back what the manifest needs and exits; the process that
called :func:`build` then loads the SPARQL store, so Oxigraph's loader does not share a
process with the gigabytes the build's allocator keeps after freeing (``build(isolate=)``).

Writes are all-or-nothing as far as the file system allows: every file is first written in
full to a temporary file next to it (and synced), and only then are they renamed over the old
ones, the manifest last. A failure before the renames leaves the old bundle as it was.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import ChainMap
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache, partial, wraps
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Final,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
)

import networkx as nx
import orjson

from . import __version__
from ._gc import collector_paused
from ._hashing import Content, sync_file, write_content
from .dedupe import merge_papers
from .extractions import Extraction, StoredExtractions
from .forked import Forked, ForkUnavailable, Parent, WorkerDied
from .graphfile import GraphFile, GraphFileError, graph_json, write_graph_json
from .io import atomic_open, file_mode
from .readers import ReadLog, expand_inputs
from .readers import _read_one as read_stream  # one input from bytes already read (hashed)
from .records import Paper
from .stats import bundle_stats, graph_counts

if TYPE_CHECKING:
    from spacy.language import Language

    from .engines import EngineOptions
    from .engines.local import WarmPool
    from .graph_delta import GraphIndex, KeptLines, LightEdges, PaperPart
    from .rdf.store import StoreLoader, WarmCopy
    from .resolve import Resolution
    from .resolve_delta import ResolutionState

__all__ = [
    "EXPORTS",
    "MANIFEST",
    "BuildReport",
    "Bundle",
    "BundleError",
    "Export",
    "ExportContext",
    "StatementSink",
    "build",
    "bundle_stats",
    "extractor_fingerprint",
    "graph_json",
    "register_export",
    "write_graph_json",
]

FORMAT: Final = "kgraph-bundle"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
PAPERS: Final = "papers.jsonl"
EXTRACTIONS: Final = "extractions.jsonl"
#: what lets an add resolve only what its papers change (kgraph.resolve_delta)
RESOLUTION: Final = "resolution.jsonl.gz"
#: what lets an add make only the changed papers' RDF (kgraph.rdf.paper_units)
UNITS: Final = "graph.units.npz"
#: what lets an add take the unchanged papers' part of the graph as it was
#: (kgraph.graph_delta.INDEX)
GRAPH_INDEX: Final = "graph.index.npz"


_T = TypeVar("_T")
_P = ParamSpec("_P")


class BundleError(Exception):
    """A bundle folder that is missing, not a bundle, or damaged (one-line message)."""


# --- default exports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportContext:
    """What an exporter is given: the graph and its papers. (A build frees the extractions
    and their resolution before the exports are written, so that the store's loader can
    reuse that memory: an export is made from the graph alone.) ``block_digests``: where
    the build wants each paper's and entity's digest of its lines of ``graph.json``
    (:mod:`kgraph.rdf.paper_units`). ``kept_lines``: where an add's kept papers' lines are
    in the bundle's graph.json (graph.json's writer copies them). ``runs``: where the build
    wants the digests of each paper's runs of lines, for the next add
    (:class:`~kgraph.graph_delta.GraphIndex`). ``light``: the kept papers whose edges the
    graph holds with their relation only, which an export that reads their other attributes
    fills first (:class:`~kgraph.graph_delta.LightEdges`; the build fills the rest before the
    RDF is made)."""

    graph: nx.MultiDiGraph
    papers: Mapping[str, Paper]
    block_digests: dict[str, int] | None = None
    kept_lines: KeptLines | None = None
    runs: dict[str, list[int]] | None = None
    light: LightEdges | None = None


class StatementSink(Protocol):
    """Writes a file from the union of the graph's RDF statements, given as chunks of N-Quads
    lines (graph terms to be ignored) with marks, comment lines that place each block's
    statements (:mod:`kgraph.rdf.turtle`). ``close`` finishes the file and returns its
    ``{"sha256", "bytes"}`` and the ``places`` of the blocks; ``abort`` stops without
    finishing."""

    def write(self, chunk: bytes) -> None: ...
    def close(self) -> Mapping[str, Any]: ...
    def abort(self) -> None: ...


@dataclass(frozen=True)
class Export:
    """A default export: a file of the bundle rendered from the graph at every build.

    Give ``render`` (returns the bytes) for small files, or ``write`` (streams into a binary
    file) for files that grow with the corpus. An RDF file of the union of the named graphs
    may also give ``statements``: a sink writing the file at the given path, which the build
    feeds while it writes the store's quads, so the graph is turned into RDF once for both
    (``write`` is still what ``write_to`` uses on its own). Its second argument is the file
    the bundle had, when an add copies the blocks of the papers it keeps from it
    (:mod:`kgraph.rdf.paper_units`).
    """

    format: str  #: the name, e.g. "json", "graphml", "ttl", "html"
    filename: str  #: the file in the bundle folder
    render: Callable[[ExportContext], bytes] | None = None
    description: str = ""
    write: Callable[[ExportContext, BinaryIO], None] | None = None
    statements: Callable[[Path, Path | None], StatementSink] | None = None

    def write_to(self, ctx: ExportContext, fh: BinaryIO) -> None:
        if self.write is not None:
            self.write(ctx, fh)
        elif self.render is not None:
            fh.write(self.render(ctx))
        else:
            raise ValueError(f"export {self.format!r} has neither render nor write")


#: format -> default export; every one is written (atomically, with the rest) at every build
EXPORTS: dict[str, Export] = {}


def register_export(export: Export) -> None:
    """Add (or replace) a default export of every bundle."""
    reserved = {MANIFEST, PAPERS, EXTRACTIONS, RESOLUTION, UNITS, GRAPH_INDEX}
    if export.filename in reserved or "/" in export.filename:
        raise ValueError(f"an export cannot be written to {export.filename!r}")
    EXPORTS[export.format] = export


register_export(
    Export(
        "json",
        "graph.json",
        description="networkx node-link JSON",
        write=lambda ctx, fh: write_graph_json(
            ctx.graph, fh, ctx.block_digests, ctx.kept_lines, ctx.runs
        ),
    )
)


def _graph_html(ctx: ExportContext) -> bytes:
    from .view import graph_html_bytes

    light = ctx.light
    if light is None:
        return graph_html_bytes(ctx.graph)
    # the page shows the evidence of the edges it draws: those of light papers are filled
    # (the dicts the selection holds are the graph's, filled in place)
    return graph_html_bytes(
        ctx.graph,
        lambda chosen: light.fill(ctx.graph, (n[6:] for n in chosen.nodes if n[:6] == "paper:")),
    )


register_export(
    Export("html", "graph.html", _graph_html, "interactive HTML explorer (kgraph view)")
)


def _graph_turtle(ctx: ExportContext, fh: BinaryIO) -> None:
    from .exporters import DEFAULT_BASE
    from .rdf.convert import serialize

    serialize(ctx.graph, "ttl", fh, DEFAULT_BASE)


def _turtle_sink(path: Path, previous: Path | None = None) -> StatementSink:
    """graph.ttl written by a process of its own (kgraph.rdf.turtle.TurtleProcess): making the
    quads and formatting the Turtle then run on two cores."""
    from .exporters import DEFAULT_BASE
    from .rdf.namespaces import prefixes
    from .rdf.turtle import TurtleProcess

    # (not synced by that process: the staging syncs it aside, Staging.sync_later)
    return TurtleProcess(path, prefixes(DEFAULT_BASE), previous, sync=False)


register_export(
    Export(
        "ttl",
        "graph.ttl",
        description="RDF Turtle (kgraph export)",
        write=_graph_turtle,
        statements=_turtle_sink,
    )
)
#: kgraph's own default exports: an add whose exports are these may hold the kept papers'
#: edges light (:func:`_light_parts`)
_OWN_EXPORTS: Final = dict(EXPORTS)


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """An input, hashed: files are read again (streamed) when parsed; stdin is kept."""

    path: str
    sha256: str
    size: int
    data: bytes | None = None  #: stdin's bytes (it cannot be read twice)

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        return open(self.path, "rb")


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class _Aside(Generic[_T]):
    """``work()`` run in a thread of its own from now on: for work that lets Python's lock go
    (hashlib while it hashes, zlib while it decompresses, the disk), which then runs beside
    the caller's on the other core. :meth:`result` waits for it and gives what it returned, or
    raises what it raised. (Waited for before this process forks: no thread of its running
    in a copy.)"""

    def __init__(self, work: Callable[[], _T], name: str) -> None:
        self._work: Callable[[], _T] | None = work
        self._result: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"kgraph-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            assert self._work is not None
            self._result = self._work()
        except BaseException as exc:
            self._error = exc
        finally:
            self._work = None

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> _T:
        self.wait()
        if self._error is not None:
            raise self._error
        return cast("_T", self._result)

    def take(self) -> _T:
        """:meth:`result`, no longer held here."""
        try:
            return self.result()
        finally:
            self._result = None


def _stage_aside(staging: Staging, name: str, content: Content) -> _Aside[dict[str, Any]]:
    """:meth:`Staging.stage` by a thread (:class:`_Aside`), for content whose writing lets
    Python's lock go: ``staging.record(name, aside.take())`` once it is written."""
    path = staging.reserve(name)
    return _Aside(lambda: write_content(path, content), name)


def _file_hash(path: Path) -> _Aside[str]:
    """The SHA-256 of a file (:func:`_hash_file`), made aside (:class:`_Aside`): an add checks
    the bundle's graph.ttl, 1 GB at 160k papers, 0.6-1.7 s, while it makes the graph."""
    return _Aside(lambda: _hash_file(str(path))[0], "hash")


def collect_inputs(inputs: Sequence[str], log: ReadLog) -> list[InputFile]:
    """Every input file (folders walked, globs expanded, ``-`` = stdin), hashed (streamed)."""
    out: list[InputFile] = []
    for path in expand_inputs(inputs, log):
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
                out.append(InputFile(path, hashlib.sha256(data).hexdigest(), len(data), data))
            else:
                out.append(InputFile(path, *_hash_file(path)))
        except OSError as exc:
            log.skip(path, None, "unreadable file", f"cannot read: {exc.strerror or exc}")
    return out


@lru_cache(maxsize=1)
def extractor_fingerprint() -> str:
    """SHA-256 of the extraction code and data (``kgraph/extract``, ``kgraph/data``,
    ``kgraph/model``): stored extractions made with another fingerprint are redone."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    files = sorted(
        p
        for folder in ("extract", "data", "model")
        for p in (root / folder).rglob("*")
        if p.is_file() and p.suffix not in (".pyc", ".pyo")
    )
    for path in files:
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# --- the bundle --------------------------------------------------------------------------------


def _paper_from_dict(d: Mapping[str, Any]) -> Paper:
    return Paper(
        id=str(d["id"]),
        title=str(d["title"]),
        abstract=str(d.get("abstract") or ""),
        published=d.get("published"),
        authors=tuple(d.get("authors") or ()),
        authors_count=d.get("authors_count"),
        organization=d.get("organization"),
        upvotes=d.get("upvotes"),
        arxiv_id=d.get("arxiv_id"),
        urls=tuple(d.get("urls") or ()),
        sources=tuple(d.get("sources") or ()),
    )


def _jsonl_writer(rows: Iterable[Mapping[str, Any]]) -> Callable[[BinaryIO], None]:
    """Content streaming ``rows`` as JSON Lines."""

    def write(fh: BinaryIO) -> None:
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for r in rows:
            fh.write(dumps(r, option=newline))

    return write


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Bundle:
    """A bundle folder as read from disk (empty when new)."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    papers: dict[str, Paper] = field(default_factory=dict)
    extractions: MutableMapping[str, Extraction] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return bool(self.manifest)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, create: bool = False, extractions: bool = True
    ) -> Bundle:
        """Read the bundle in ``path``; with ``create``, a missing or empty folder is a new
        bundle. :class:`BundleError` for anything else that is not a sound bundle.
        ``extractions=False``: its papers only (:meth:`read_extractions` reads the rest)."""
        folder = Path(path)
        manifest = read_manifest(folder, missing_ok=create)
        if manifest is None:
            return cls(folder)
        bundle = cls(folder, manifest)
        for paper in bundle._records(PAPERS, _paper_from_dict):
            bundle.papers[paper.id] = paper
        if extractions:
            bundle.read_extractions()
        return bundle

    def read_extractions(self) -> None:
        """Read the bundle's extractions into :attr:`extractions`."""
        if self.manifest:
            for ext in self._records(EXTRACTIONS, Extraction.from_dict):
                self.extractions[ext.paper_id] = ext

    def read_extraction_lines(self) -> None:
        """Read the bundle's extractions as lines (checked against the manifest), each made
        into an :class:`Extraction` when first asked for (:class:`StoredExtractions`)."""
        if self.manifest:
            path = self.path / EXTRACTIONS
            self.extractions = StoredExtractions.from_lines(
                _read_checked(self.path, EXTRACTIONS, self.manifest),
                where=str(path),
                fail=BundleError,
            )

    def _records(self, name: str, make: Callable[[Any], _T]) -> Iterator[_T]:
        """``make(row)`` of each line of one of the bundle's JSON Lines files, checked (a row
        ``make`` cannot read, ValueError, KeyError or TypeError, is a damaged record)."""
        # millions of objects, no cycles: 160k papers 19.5 -> 10.3 s with the collector off
        with collector_paused():
            for n, row in _read_jsonl_checked(self.path, name, self.manifest):
                try:
                    made = make(row)
                except (ValueError, KeyError, TypeError) as exc:
                    raise BundleError(f"{self.path / name}:{n}: damaged record ({exc})") from None
                yield made


def read_manifest(folder: Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The manifest of the bundle in ``folder``; ``None`` for a new bundle (``missing_ok``:
    the folder is missing or empty)."""
    if not folder.exists():
        if missing_ok:
            return None
        raise BundleError(f"{folder}: no such bundle folder")
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a folder")
    path = folder / MANIFEST
    if not path.exists():
        visible = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if missing_ok and not visible:
            return None
        raise BundleError(f"{folder}: not a kgraph bundle (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not a kgraph bundle manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {manifest.get('format_version')} is newer than this "
            f"kgraph ({__version__}) reads"
        )
    return manifest


def _read_jsonl_checked(
    folder: Path, name: str, manifest: Mapping[str, Any]
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of a bundle's JSON Lines file, streamed; checked against the
    SHA-256 the manifest lists for it once the last line is read."""
    path = folder / name
    digest = hashlib.sha256()
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise BundleError(f"{path}: missing or unreadable ({exc.strerror or exc})") from None
    with fh:
        for n, line in enumerate(fh, 1):
            digest.update(line)
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except ValueError as exc:
                raise BundleError(f"{path}:{n}: damaged record ({exc})") from None
            yield n, row
    expected = manifest.get("files", {}).get(name, {}).get("sha256")
    if expected and digest.hexdigest() != expected:
        raise BundleError(
            f"{path}: does not match {MANIFEST} (changed by hand, or a write was "
            "interrupted); build the bundle again into a new folder"
        )


def _read_checked(folder: Path, name: str, manifest: Mapping[str, Any]) -> bytes:
    """A bundle file, checked against the SHA-256 the manifest lists for it."""
    path = folder / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: missing or unreadable ({exc.strerror or exc})") from None
    expected = manifest.get("files", {}).get(name, {}).get("sha256")
    if expected and _sha256(data) != expected:
        raise BundleError(
            f"{path}: does not match {MANIFEST} (changed by hand, or a write was "
            "interrupted); build the bundle again into a new folder"
        )
    return data


class Staging:
    """Files written in full to synced temporary files next to their targets, then renamed
    into place together (:meth:`commit`); until then the folder is unchanged, and
    :meth:`abort` (or an exception inside ``with``) removes the temporary files.

    A file :meth:`stage` writes is synced by a thread of its own (the disk lets Python's lock
    go) while the caller goes on: :meth:`synced` waits for those syncs (:meth:`commit` first
    of all; a build's copy of the process before it hands its staged files over). Syncing
    graph.json (850 MB at 160k) in the build's thread held an add up 0.3-0.4 s."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.temps: list[tuple[str, Path]] = []
        self.temp_dirs: list[tuple[str, Path]] = []  #: (name, temp folder holding it)
        self.info: dict[str, dict[str, Any]] = {}  #: name -> {"sha256", "bytes"}
        #: temp folders another process now writes (the store, handed to the build's caller):
        #: :meth:`abort` leaves them to it
        self.handed: set[Path] = set()
        self._syncs: list[_Aside[None]] = []  #: the staged files being synced

    def __getstate__(self) -> dict[str, Any]:
        if self._syncs:
            raise TypeError("staged files still being synced: call synced() first")
        return dict(self.__dict__)

    def stage_folder(self, name: str, make: Callable[[Path], Any]) -> Any:
        """Stage a folder ``name``: ``make(tmp)`` must create ``tmp/name``; returns what
        ``make`` returns. At :meth:`commit` it replaces ``name`` (folders go first)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder))
        self.temp_dirs.append((name, tmp))
        return make(tmp)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def reserve(self, name: str) -> Path:
        """A temporary file for ``name``, to be written by someone else (another process,
        say); :meth:`record` its ``sha256`` and ``bytes`` once it is written and synced."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
        os.close(fd)
        self.temps.append((name, Path(tmp_name)))
        os.chmod(tmp_name, file_mode())
        return Path(tmp_name)

    def record(self, name: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """The ``sha256`` and ``bytes`` of the reserved file ``name``, now written."""
        self.info[name] = {"sha256": str(info["sha256"]), "bytes": int(info["bytes"])}
        return self.info[name]

    def stage(self, name: str, content: Content) -> dict[str, Any]:
        """Write ``content`` to a temporary file for ``name`` (synced aside: :meth:`synced`)."""
        path = self.reserve(name)
        info = write_content(path, content, sync=False)
        self.sync_later(path)
        return self.record(name, info)

    def sync_later(self, path: Path) -> None:
        """Sync the staged file at ``path``, written but not synced, in a thread of its own."""
        self._syncs.append(_Aside(partial(sync_file, path), "sync"))

    def synced(self) -> None:
        """Wait for the staged files' syncs; an ``OSError`` if one failed."""
        syncs, self._syncs = self._syncs, []
        for aside in syncs:
            aside.wait()
        for aside in syncs:
            aside.result()

    def commit(self) -> None:
        """Put the staged folders in place, then rename every staged file into place in the
        order staged (the manifest last), once all are synced."""
        self.synced()
        for name, tmp in self.temp_dirs:
            final = self.folder / name
            old = self.folder / f".{name}.old-{os.getpid()}"
            if final.exists():
                os.replace(final, old)
            try:
                os.replace(tmp / name, final)
            except BaseException:
                if old.exists():
                    os.replace(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)
        self.temp_dirs.clear()
        for name, tmp_file in self.temps:
            os.replace(tmp_file, self.folder / name)
        self.temps.clear()
        _sync_folder(self.folder)

    def abort(self) -> None:
        for aside in self._syncs:  # (before their files go)
            aside.wait()
        self._syncs.clear()
        for _, left in self.temps:
            left.unlink(missing_ok=True)
        self.temps.clear()
        for _, tmp in self.temp_dirs:
            if tmp not in self.handed:
                shutil.rmtree(tmp, ignore_errors=True)
        self.temp_dirs.clear()


class ForkedWrite:
    """Staged files written by a forked copy of this process while this one goes on
    (:class:`kgraph.forked.Forked`).

    The copy shares this process's memory (copy-on-write), so what it writes needs no
    pickling: a build writes the papers and extractions on the core that resolution and the
    graph leave idle. :meth:`wait` records the files in the staging (:class:`BundleError` if
    the copy failed); :meth:`abort` stops it. Where there is no ``fork`` (or it fails),
    :meth:`wait` writes the files itself."""

    def __init__(self, staging: Staging, files: Mapping[str, Content]) -> None:
        self.staging = staging
        self.files: dict[str, Content] = dict(files)
        self.names = ", ".join(self.files)
        self.paths = {name: staging.reserve(name) for name in self.files}
        self.job: Forked[dict[str, dict[str, Any]]] | None = None
        with suppress(ForkUnavailable):  # no fork, or no memory for another process
            self.job = Forked(self._write, name="writer")
        if self.job is not None:
            self.files = {}  # the copy has them: what they are made from may go here

    @property
    def pid(self) -> int | None:
        """The copy's process id while it is running and not waited for."""
        return self.job.pid if self.job is not None else None

    def _write(self, parent: Parent | None = None) -> dict[str, dict[str, Any]]:
        if parent is not None:  # (the copy: its files are waited for last)
            # it yields to this process and to the others it started (an add's reader of
            # the kept parts, nice 10, which the graph waits for before the files): at
            # nice 0 it took a fifth of a core from the resolution of an add at 160k
            with suppress(OSError, AttributeError):
                os.nice(15)
        return {n: write_content(self.paths[n], c) for n, c in self.files.items()}

    def wait(self) -> None:
        """Record the files once written; what they were made from is dropped (it may hold
        the build's papers and extractions)."""
        job, self.job = self.job, None
        try:
            done = self._write() if job is None else job.result()
        except Exception as exc:
            if job is None:
                raise
            # what the copy raised, or its death
            raise BundleError(f"{self.staging.folder}: cannot write {self.names} ({exc})") from None
        finally:
            self.files = {}
        for name, info in done.items():
            self.staging.record(name, info)

    def abort(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.abort()


def _sync_folder(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_files(folder: Path, files: Mapping[str, Content]) -> None:
    """Write ``files`` (name -> content) into ``folder``: all to synced temporary files first,
    then renamed into place in the given order. A failure before the renames changes nothing."""
    with Staging(folder) as staging:
        for name, content in files.items():
            staging.stage(name, content)
        staging.commit()


# --- building ----------------------------------------------------------------------------------


class Progress(Protocol):
    def update(self, n_steps: int) -> None: ...


@dataclass
class BuildReport:
    """What a build did."""

    path: Path
    inputs_new: list[str] = field(default_factory=list)
    inputs_seen: list[str] = field(default_factory=list)  #: skipped: SHA-256 already in bundle
    entries: int = 0  #: records read from the new inputs
    files: int = 0  #: new inputs that gave at least one record
    duplicates: int = 0  #: records of the new inputs merged into others
    added: list[str] = field(default_factory=list)  #: paper ids new to the bundle
    known: int = 0  #: distinct papers read that the bundle already had
    updated: list[str] = field(default_factory=list)  #: known papers whose record changed
    extracted: int = 0  #: papers run through the extractor
    re_extract_all: bool = False  #: the extractor changed (or asked): all papers redone
    #: why every paper was extracted again (when ``re_extract_all``)
    re_extract_why: str = ""
    #: the extraction pipeline the bundle's papers were extracted with (:data:`RULES` or
    #: :data:`RULES_AND_MODEL`)
    pipeline: str = ""
    written: bool = False  #: False when nothing changed and nothing was written
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: wall seconds per phase: read, extract, resolve, graph, waiting for the papers and
    #: extractions' writer, exports, waiting for the store, commit
    phases: dict[str, float] = field(default_factory=dict)
    #: the process's peak resident memory (MiB) when each phase ended (where the peak grows)
    peak_mb: dict[str, float] = field(default_factory=dict)
    #: the work up to the store's load ran in a copy of the process (``build(isolate=)``):
    #: the phases before "worker exit" are the copy's, their memory its peak
    isolated: bool = False
    #: the store's update ran in the caller's process while the copy wrote graph.html
    #: (:func:`_update_store`): the phases from "export html" on overlap it
    store_early: bool = False
    #: how the store was made: ``{"loaded": "bulk"}``, or ``"updated in place"`` with what
    #: the update did (units changed and removed, quads removed and added: kgraph.rdf.delta)
    store: dict[str, Any] = field(default_factory=dict)
    #: how entities were resolved: ``{"grown": n, "of": total, "joined": j}`` (from the
    #: bundle's resolution state: n per-paper entities resolved, j new ones joined to an
    #: entity without resolving it again) or ``{"full": why}``
    resolution: dict[str, Any] = field(default_factory=dict)
    #: how the graph was made: ``{"kept": n, "of": papers}`` (an add that took the part of
    #: n papers from the bundle's graph.json; with ``"evidence_read": m`` when it held their
    #: edges light and read back the evidence of m of them) or ``{"full": why}``
    graph: dict[str, Any] = field(default_factory=dict)
    #: how the RDF was made: ``{"kept": n, "of": papers}`` (an add that made the statements
    #: of the other papers only) or ``{"full": why}``
    rdf: dict[str, Any] = field(default_factory=dict)
    #: told what the build does as each of its long steps begins (``build(on_step=)``); not
    #: pickled (a build's copy has its own, which tells the caller's)
    on_step: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "on_step": None}

    def step(self, text: str) -> None:
        """Say that the build now does ``text`` (``on_step``)."""
        if self.on_step is not None:
            self.on_step(text)

    def lap(self, phase: str, since: float) -> float:
        """Record ``phase`` as lasting from ``since`` until now; returns now."""
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - since, 3)
        self.peak_mb[phase] = _peak_rss_mb()
        return now


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (0 where the OS does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextmanager
def _collector_settled() -> Iterator[None]:
    """Keep Python's cyclic garbage collector off the build's big, long-lived data.

    A build holds millions of objects (papers, extractions, the graph) that live until it
    ends, and each full collection walks all of them: on 50,000 papers that was a quarter of
    the resolution time and a third of the graph's. Inside this block, :func:`_settle` moves
    what exists to the collector's permanent generation (``gc.freeze``; extraction calls it
    between chunks, so Docs and their cycles are still collected), and the phases after
    extraction, which make no cycles worth collecting, run with the collector off.
    Everything is as before when the block ends. Used as the decorator of :func:`build`."""
    enabled = gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _settle(*, stop: bool = False) -> None:
    """What exists now is long-lived: out of the collector's way; ``stop``: collector off."""
    gc.freeze()
    if stop:
        gc.disable()


def _release_memory() -> None:
    """Free what the build no longer holds, cycles included (the collector is stopped and
    what it froze is thawed here), and hand the memory back to the system, so that a library
    outside Python (Oxigraph's loader) can use it: C's allocator keeps freed pages
    otherwise."""
    gc.unfreeze()
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


#: extractions between two :func:`_settle` calls while extracting
_SETTLE_EVERY: Final = 5_000
#: what a build's forked copy keeps until it ends, rather than free it for nothing
_UNTIL_EXIT: list[object] = []


def _one_writer(build: Callable[_P, BuildReport]) -> Callable[_P, BuildReport]:
    """``build`` (whose first argument is the bundle folder) with the folder's write lock held
    (:mod:`kgraph.bundle_lock`: :class:`BundleError` at once if another process holds it, the
    bundle left to it); a folder made to be locked and left empty is removed."""

    @wraps(build)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> BuildReport:
        from .bundle_lock import BundleBusy, writing

        where = kwargs["folder"] if "folder" in kwargs else args[0]
        folder = Path(cast("str | os.PathLike[str]", where))
        new = not os.path.lexists(folder)
        try:
            with writing(folder, create=True):
                try:
                    return build(*args, **kwargs)
                finally:
                    # a build that wrote nothing leaves no folder (removed while the lock is
                    # held: not a folder another build made and is about to write in)
                    if new:
                        with suppress(OSError):
                            os.rmdir(folder)  # (only if empty)
        except BundleBusy as exc:
            raise BundleError(str(exc)) from None

    return locked


@_one_writer
@_collector_settled()
def build(
    folder: str | os.PathLike[str],
    inputs: Sequence[str],
    *,
    fmt: str | None = None,
    log: ReadLog | None = None,
    nlp: Language | None = None,
    progress: Callable[[int], AbstractContextManager[Progress]] | None = None,
    re_extract: bool = False,
    on_read: Callable[[BuildReport], None] | None = None,
    engine: EngineOptions | None = None,
    isolate: bool | None = None,
    on_step: Callable[[str], None] | None = None,
) -> BuildReport:
    """Add ``inputs`` to the bundle in ``folder`` (created if missing) and write it.

    ``progress(total)`` may return a context manager with ``update(n)`` (a progress bar) to
    follow the extraction; ``on_read`` is called once the inputs are read; ``on_step(text)``
    as each long step of the build begins ("resolving entities", "writing graph.ttl and the
    store's quads", "loading the store"...). ``engine`` says
    where the extraction runs (default: in this process, or its copy: see ``isolate``);
    ``nlp`` overrides the pipeline (used there).

    ``isolate``: do the work up to the store's load in a forked copy of this process
    (:func:`kgraph.forked.run_forked`), which gives all its memory back when it ends, so that
    Oxigraph's loader runs in a process that holds only what it needs. ``None`` (the
    default): wherever the system forks, except with the Dask engine (whose client must not
    be forked). ``progress``, ``on_read``, ``on_step`` and ``log`` still run and record in
    this process.
    :class:`BundleError` if ``folder`` holds something that is not a sound bundle, or if
    another process is writing it (:mod:`kgraph.bundle_lock`: the bundle is left to it).
    """
    started = time.perf_counter()
    log = log if log is not None else ReadLog()
    report = BuildReport(path=Path(folder), on_step=on_step)
    manifest = read_manifest(Path(folder), missing_ok=True) or {}
    fingerprint = extractor_fingerprint()
    engine, report.pipeline = _choose_pipeline(manifest, nlp, engine)
    report.re_extract_why = _why_extract_all(manifest, fingerprint, report.pipeline, re_extract)
    stale = bool(report.re_extract_why)

    # 1. the inputs not seen before (by SHA-256)
    seen = {str(i.get("sha256")) for i in manifest.get("inputs", [])}
    fresh: list[InputFile] = []
    for item in collect_inputs(inputs, log):
        if item.sha256 in seen:
            report.inputs_seen.append(item.path)
        else:
            seen.add(item.sha256)
            fresh.append(item)
    if manifest and not fresh and not stale:  # nothing to do: not even loading the bundle
        if on_read is not None:
            on_read(report)
        report.counts = dict(manifest.get("counts", {}))
        report.seconds = time.perf_counter() - started
        return report

    def work(parent: Parent | None = None) -> tuple[BuildReport, _Written | None]:
        """The build up to the store's load; in a copy of the process, ``parent`` runs the
        callbacks (and receives the problems) in the caller's process."""
        here_log, here_progress, here_on_read = log, progress, on_read
        send_store = None
        if parent is not None:
            send_store = partial(parent.send, "store")
            here_log = ReadLog(problems=list(log.problems))
            here_log.on_problem = partial(parent.send, "problem")
            if progress is not None:
                here_progress = partial(_RemoteProgress, parent)
            if on_read is not None:
                here_on_read = partial(parent.call, "on_read")
            if on_step is not None:
                report.on_step = partial(parent.send, "step")
        with ExitStack() as jobs:
            return report, _write(
                Path(folder),
                fresh,
                fingerprint=fingerprint,
                stale=stale,
                report=report,
                log=here_log,
                fmt=fmt,
                nlp=nlp,
                progress=here_progress,
                re_extract=re_extract,
                on_read=here_on_read,
                engine=engine,
                started=started,
                isolated=parent is not None,
                jobs=jobs,
                send_store=send_store,
            )

    if isolate is None:
        isolate = hasattr(os, "fork") and (engine is None or engine.engine != "dask")
    written: _Written | None = None
    warm = None  #: a copy of the store, opened while the copy of the process works
    #: the store's update, started here once the copy made the quads (:func:`_update_store`)
    early: list[tuple[StoreLoader, _Aside[dict[str, Any]]]] = []

    def store_handed(loader: StoreLoader, graph_sha256: str) -> None:
        update = _Aside(partial(_update_store, loader, graph_sha256, warm), "store-update")
        early.append((loader, update))

    forked: Forked[tuple[BuildReport, _Written | None]] | None = None
    if isolate:
        before = _temporary_names(Path(folder))
        calls = {**_callbacks(log, progress, on_read, on_step), "store": store_handed}
        try:
            forked = Forked(work, calls, abandon=_abandon, name="build")
            warm = _warm_store(Path(folder), manifest)  # (after the fork: not in the copy)
            # (the copy gives its memory back, half a second at 160k, while the store's
            # update, started as it handed the store over, goes on; a store loaded here
            # waits for it, below)
            report, written = forked.result(end_aside=True)
        except ForkUnavailable:
            isolate = False
        except BaseException as exc:
            for _, update in early:  # (it writes in a folder removed below)
                update.wait()
            if warm is not None:
                warm.discard()
            _remove_temporaries(Path(folder), before)  # what a killed copy left behind
            if isinstance(exc, WorkerDied):
                raise BundleError(f"{folder}: {exc}") from None
            raise
        else:
            report.isolated, report.on_step = True, on_step
            if written is not None:  # the copy's end: its memory goes back to the system
                if not early:  # (before Oxigraph's loader takes its own)
                    forked.ended()
                written.mark = report.lap("worker exit", written.mark)
                if early:  # (it took the warm copy)
                    written.store_pass.take(*early[0])
                    report.store_early = True
                elif warm is not None:
                    written.store_pass.loader.warmed = warm.close()
                    written.mark = report.lap("store copy reorganised", written.mark)
    if not isolate:
        _, written = work()
    try:
        if written is not None:
            try:
                _finish(written, report)
            except BaseException:
                written.abort()
                raise
    finally:
        if warm is not None:  # (unless the store's update took it)
            warm.discard()
        if forked is not None:
            forked.ended()  # (no copy of this process outlives the build)
    report.seconds = time.perf_counter() - started
    return report


#: the extraction pipelines a bundle's papers may be extracted with: the rules alone, or with
#: the learned span tagger (``kgraph.model``, when its files are installed)
RULES: Final = "rules"
RULES_AND_MODEL: Final = "rules+model"


def _choose_pipeline(
    manifest: Mapping[str, Any], nlp: Language | None, engine: EngineOptions | None
) -> tuple[EngineOptions | None, str]:
    """The engine options to extract with, and the pipeline they give (:data:`RULES`, or
    :data:`RULES_AND_MODEL`). An engine whose ``model`` is None takes the bundle's pipeline
    (the model for a new bundle, or one whose manifest does not say); a given ``nlp`` is the
    pipeline it holds."""
    if nlp is not None:
        return engine, RULES_AND_MODEL if "kgraph_model" in nlp.pipe_names else RULES
    from .engines import EngineOptions
    from .model import model_available

    options = engine or EngineOptions(jobs=1)
    model = options.model
    if model is None:
        model = manifest.get("pipeline") != RULES
        options = replace(options, model=model)
    return options, RULES_AND_MODEL if model and model_available() else RULES


def _why_extract_all(
    manifest: Mapping[str, Any], fingerprint: str, pipeline: str, asked: bool
) -> str:
    """Why an add extracts every paper of the bundle again; empty when it need not."""
    if not manifest:
        return ""
    if asked:
        return "asked"
    if manifest.get("extractor") != fingerprint:
        return "the extraction code or data changed"
    was = manifest.get("pipeline")
    if was is not None and was != pipeline:  # (a bundle of an earlier kgraph does not say)
        return f"the pipeline changed ({was} -> {pipeline})"
    return ""


def _warm_store(folder: Path, manifest: Mapping[str, Any]) -> WarmCopy | None:
    """A copy of the bundle's store for an add to update (:class:`kgraph.rdf.store.WarmCopy`),
    when its store is fresh from the bulk loader: None otherwise."""
    from .rdf.store import warm_copy

    return warm_copy(folder, _graph_json_sha256(manifest))


def _graph_json_sha256(manifest: Mapping[str, Any]) -> str | None:
    """The SHA-256 of the ``graph.json`` the manifest lists (what its store was made from)."""
    sha256 = ((manifest.get("files") or {}).get("graph.json") or {}).get("sha256")
    return str(sha256) if sha256 else None


def _abandon(done: tuple[BuildReport, _Written | None]) -> None:
    """What the build's copy does when its result cannot reach the parent."""
    if done[1] is not None:
        done[1].abort()


def _callbacks(
    log: ReadLog,
    progress: Callable[[int], AbstractContextManager[Progress]] | None,
    on_read: Callable[[BuildReport], None] | None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Callable[..., Any]]:
    """What the build's copy runs in the caller's process: the caller's callbacks, and its
    log's :meth:`~kgraph.readers.ReadLog.add` for each problem met."""
    bars: list[tuple[AbstractContextManager[Progress], Progress | None]] = []

    def progress_open(total: int) -> None:
        assert progress is not None
        manager = progress(total)
        bars.append((manager, manager.__enter__()))

    def progress_update(n: int) -> None:
        tick = bars[-1][1] if bars else None
        if tick is not None:
            tick.update(n)

    def progress_close() -> None:
        if bars:
            bars.pop()[0].__exit__(None, None, None)

    calls: dict[str, Callable[..., Any]] = {
        "problem": log.add,
        "progress_open": progress_open,
        "progress_update": progress_update,
        "progress_close": progress_close,
    }
    if on_read is not None:
        calls["on_read"] = on_read
    if on_step is not None:
        calls["step"] = on_step
    return calls


class _RemoteProgress:
    """The build copy's progress bar: the caller's, in the caller's process (updates sent
    at most five times a second)."""

    def __init__(self, parent: Parent, total: int) -> None:
        self.parent, self.total = parent, total
        self.unsent, self.sent_at = 0, 0.0

    def __enter__(self) -> _RemoteProgress:
        self.parent.call("progress_open", self.total)
        return self

    def update(self, n_steps: int) -> None:
        self.unsent += n_steps
        now = time.monotonic()
        if now - self.sent_at >= 0.2:
            self.parent.send("progress_update", self.unsent)
            self.unsent, self.sent_at = 0, now

    def __exit__(self, *exc: object) -> None:
        if self.unsent:
            self.parent.send("progress_update", self.unsent)
            self.unsent = 0
        self.parent.call("progress_close")


@dataclass
class _Written:
    """What :func:`_write` leaves for :func:`_finish`: the staged files, the store's quads
    waiting to be loaded, the manifest but for the store and the files, the clock."""

    staging: Staging
    store_pass: _StorePass
    manifest: dict[str, Any]
    mark: float

    def abort(self) -> None:
        self.store_pass.abort()
        self.staging.abort()


def _finish(written: _Written, report: BuildReport) -> None:
    """Load the store, write the manifest and put the new files in place."""
    staging, mark = written.staging, written.mark
    report.step("updating the store" if written.store_pass.loader.previous else "loading the store")
    store = written.store_pass.finish(staging.info["graph.json"]["sha256"])
    report.store = written.store_pass.how
    mark = report.lap("store", mark)
    now = _now()
    manifest = dict(written.manifest)
    manifest.update(created=manifest["created"] or now, updated=now, store=store)
    manifest["files"] = dict(staging.info)
    text = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
    staging.stage(MANIFEST, text.encode("utf-8"))
    staging.commit()
    report.lap("commit", mark)
    report.written = True


def _temporary_names(folder: Path) -> set[str]:
    """The names of the temporary files and folders of a write in ``folder`` now."""
    try:
        return {p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name}
    except OSError:
        return set()


def _remove_temporaries(folder: Path, before: set[str]) -> None:
    """Remove the temporary files and folders made in ``folder`` since ``before``."""
    for name in _temporary_names(folder) - before:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _write(
    folder: Path,
    fresh: list[InputFile],
    *,
    fingerprint: str,
    stale: bool,
    report: BuildReport,
    log: ReadLog,
    fmt: str | None,
    nlp: Language | None,
    progress: Callable[[int], AbstractContextManager[Progress]] | None,
    re_extract: bool,
    on_read: Callable[[BuildReport], None] | None,
    engine: EngineOptions | None,
    started: float,
    isolated: bool,
    jobs: ExitStack,
    send_store: Callable[[StoreLoader, str], None] | None = None,
) -> _Written | None:
    """The build up to the store's load (:func:`build`): None when there is nothing to write.
    ``isolated``: in a copy of the process that ends afterwards (no need to free memory).
    ``jobs``: where the work it starts aside (another process) is stopped once it ends.
    ``send_store``: hands the store's loader and graph.json's SHA-256 to the caller's
    process, which updates the store while this copy writes graph.html (:func:`_update_store`;
    an add that updates the previous store in place, from its changed papers' quads)."""
    listed = read_manifest(Path(folder), missing_ok=True) or {}
    report.step("reading the bundle and the inputs" if listed else "reading the inputs")
    # What an add may keep of the bundle's graph, and the copy of this process that reads the
    # kept papers' parts of it (those of every paper of the bundle's graph, narrowed once the
    # papers that change are known), then the extraction's workers, which load the pipeline
    # while this process reads: forked now, before any thread of this process runs, while it
    # holds little, and the reader has the longest time before the graph waits for it
    from .results import results_fingerprint

    results_code = results_fingerprint()  # (the code that finds results, for the manifest)
    every = bool(listed) and (re_extract or stale)
    basis, why_full = _graph_basis(Path(folder), listed, results_code, every)
    reader = None
    if basis is not None and basis.digests:
        # (light unless the exports are not kgraph's own: what changes is not known yet)
        reader = _PartsReader.start(
            Path(folder), listed, set(basis.digests), _light_parts(basis.digests, ())
        )
        if reader is not None:
            jobs.callback(reader.abort)  # (unless it was waited for)
    pool = _warm_pool(nlp, engine)
    if pool is not None:
        jobs.callback(pool.close)
    # the resolution state an add grows from, read and decompressed aside while this thread
    # reads the bundle's papers (0.6 s at 160k papers)
    growing = not (re_extract or stale) and RESOLUTION in (listed.get("files") or {})
    state_lines = _read_state(Path(folder), listed) if growing else None
    # (the extractions of the bundle are not read when every paper is extracted again: at
    # 172k papers, 11 s and the memory of them all while the new ones are made)
    bundle = Bundle.open(folder, create=True, extractions=False)
    if not (re_extract or stale):
        # as lines: an add makes objects of the few it resolves again or graphs again
        bundle.read_extraction_lines()
    records, input_rows, input_papers = _read_inputs(fresh, fmt, log, report)
    distinct = merge_papers(records)
    report.duplicates = len(records) - len(distinct)

    # 2. merge them into the bundle's papers
    old = bundle.papers
    # the bundle's papers' title keys, made once (for the merge and for the ids below)
    old_keys = {pid: p.title_key for pid, p in old.items()}
    merged = merge_papers([*old.values(), *records], partial(_title_key_of, old, old_keys))
    papers = {p.id: p for p in merged}
    # a paper of the bundle may change id when an input brings its arXiv id: it is not new
    old_by_key: dict[str, str] = {}
    for p in old.values():
        old_by_key[f"t:{old_keys[p.id]}"] = p.id
        if p.arxiv_id:
            old_by_key[f"a:{p.arxiv_id}"] = p.id
    was: dict[str, str] = {}  #: paper id -> its id in the bundle
    for pid, p in papers.items():
        if pid in old:
            was[pid] = pid
            continue
        keys = [f"t:{p.title_key}", *([f"a:{p.arxiv_id}"] if p.arxiv_id else [])]
        previous = next((old_by_key[k] for k in keys if k in old_by_key), None)
        if previous is not None:
            was[pid] = previous
    report.added = sorted(pid for pid in papers if pid not in was)
    report.known = len(distinct) - len(report.added)
    report.updated = sorted(
        pid for pid in papers if pid in was and (pid != was[pid] or papers[pid] != old[pid])
    )
    new_ids = set(report.added)
    new_in_input = [sum(1 for p in ps if p.id in new_ids) for ps in input_papers]
    for row, n_new in zip(input_rows, new_in_input, strict=True):
        row["new_papers"] = n_new
    if on_read is not None:
        on_read(report)

    mark = report.lap("read", started)
    _settle()  # the bundle's papers and extractions, now loaded, live as long as the build

    # 3. extract what is new or changed
    report.re_extract_all = bool(papers) and (re_extract or stale)
    report.re_extract_why = (report.re_extract_why or "asked") if report.re_extract_all else ""
    stored = bundle.extractions
    same: list[str] = []  #: papers whose extraction is the bundle's, as it is
    renamed: dict[str, Extraction] = {}  #: those whose paper took another id
    todo: list[Paper] = []
    redone: set[str] = set()  #: papers of the bundle extracted again
    for pid, paper in sorted(papers.items()):
        before = was.get(pid)
        if (
            before is None
            or before not in stored
            or report.re_extract_all
            or old[before].text != paper.text
        ):
            todo.append(paper)
            if before is not None:
                redone.add(pid)
        elif before != pid:
            renamed[pid] = replace(stored[before], paper_id=pid)
        else:
            same.append(pid)
    # (a bundle whose extractions were not read has none the same: same is empty then)
    extractions = (
        stored.select(same) if isinstance(stored, StoredExtractions) else StoredExtractions()
    )
    extractions.update(renamed)
    del same, renamed
    del was, old_by_key, old_keys  # a key per paper of the bundle: not needed from here on
    changed_papers = {*report.added, *report.updated, *redone}
    light = _light_parts(papers, changed_papers)
    if reader is not None and reader.light != light:
        # (an add that changes more than MAX_CHANGED of the papers: their edges read whole)
        reader.abort()
        if state_lines is not None:
            state_lines.wait()  # (before the reader's copy forks)
        reader = _PartsReader.start(folder, listed, set(papers) - changed_papers, light)
        if reader is not None:
            jobs.callback(reader.abort)
    if todo:
        bar = progress(len(todo)) if progress is not None else nullcontext(None)
        with bar as tick:
            for ext in _extract(todo, nlp, engine, pool):
                extractions[ext.paper_id] = ext
                report.extracted += 1
                if tick is not None:
                    tick.update(1)
                if report.extracted % _SETTLE_EVERY == 0:
                    _settle()
    if pool is not None:
        pool.close()  # (its processes end before this one forks again)

    changed = bool(report.added or report.updated or report.extracted or not bundle.exists)
    if not changed:
        report.counts = dict(bundle.manifest.get("counts", {}))
        return None

    mark = report.lap("extract", mark)

    # 4. resolve, build the graph, write
    from .graph import build_graph
    from .rdf.convert import RDF_VERSION, entity_facts

    extractions.sort()
    _settle(stop=True)
    report.step("finding the results the papers report")
    _find_results(extractions, papers, bundle.manifest, results_code)
    mark = report.lap("results", mark)
    exports = {name: exp for name, exp in sorted(EXPORTS.items())}
    streamed = [exp for exp in exports.values() if exp.statements is not None]
    created = bundle.manifest.get("created")
    staging = Staging(folder)
    try:
        # The papers and extractions are written by a forked copy of this process, on the
        # core that resolution and the graph (one thread of Python) leave idle.
        rows = ForkedWrite(
            staging,
            {
                PAPERS: _jsonl_writer(papers[pid].to_dict() for pid in sorted(papers)),
                # (the lines of the bundle's not asked for copied as they are)
                EXTRACTIONS: extractions.copy().write_lines,
            },
        )
        state_file: _Aside[dict[str, Any]] | None = None
        try:
            report.step("resolving entities")
            resolution, state = _resolve(folder, bundle, extractions, redone, report, state_lines)
            state_lines = None
            mark = report.lap("resolve", mark)
            # The resolution state is written here, not by another copy while the graph is
            # made: a copy walking the state touches every one of its objects, so the kernel
            # copied each of their pages for it. All processes of an add at 176k papers
            # peaked at 4,136 MiB so (the build's own peak, later, was 3,701 MiB).
            report.step("writing the resolution state")
            from .resolve_delta import ResolutionState

            # its JSON made here, compressed and written by a thread while the graph is made
            # (zlib and the disk let Python's lock go; the JSON holds it, and made in that
            # thread too it made the graph phase 2-3 s longer at 160k papers)
            state_file = _stage_aside(
                staging, RESOLUTION, partial(ResolutionState.compress, state.encoded())
            )
            del state
            mark = report.lap("resolution state", mark)
            # the graph takes each paper's extraction out of the resolution as it adds the
            # paper: with no other reference to them left here (the copy writing them has its
            # own), they are freed as it goes, and the graph reuses their memory
            del extractions
            bundle.extractions.clear()
            report.step("making the graph")
            # graph.ttl, which the RDF of an add may copy from, is checked meanwhile
            ttl_hash = _ttl_hash(folder, bundle.manifest)
            keep, index, runs = _graph_plan(basis, why_full, resolution, changed_papers, report)
            del changed_papers
            # the extractions of the papers whose part is made, as objects; the bundle's lines
            # (the whole file: 586 MB at 160k) go before the kept parts are read, so that the
            # two are never in memory together
            held = resolution.extractions
            resolution.extractions = {pid: held[pid] for pid in held if pid not in keep}
            del held
            kept, kept_lines = _read_kept(bundle, keep, resolution, report, runs, reader, light)
            del keep, runs, reader
            graph = build_graph(papers.values(), resolution, consume=True, kept=kept)
            del kept
            counts = graph_counts(graph, resolution)
            mark = report.lap("graph", mark)
            staging.record(RESOLUTION, state_file.take())
            rows.wait()
            mark = report.lap("waiting for papers + extractions", mark)
        except BaseException:
            if state_file is not None:
                state_file.wait()  # (before its file is removed)
            rows.abort()
            raise
        all_inputs = [*bundle.manifest.get("inputs", []), *input_rows]
        counts["paper_records_read"] = sum(int(i.get("entries", 0)) for i in all_inputs)
        counts["paper_records_merged"] = counts["paper_records_read"] - len(papers)
        report.counts = counts
        # From here on only the graph is needed: what it was made from goes now, and the
        # exports reuse that memory.
        del resolution, records, input_papers, distinct, merged, old, todo
        bundle.papers.clear()

        # The store's quads are made in a thread, which also feeds graph.ttl's writer (a
        # child process), while this thread writes the other exports. Oxigraph loads them
        # once the graph is gone: its loader's buffers (Rust, gigabytes at scale) then reuse
        # the graph's memory instead of adding to it.
        # the store this build replaces, and the graph.json it must have been made from
        made_from = _graph_json_sha256(bundle.manifest)
        old_store = (folder / "store", made_from) if made_from else None
        # An add whose bundle keeps each paper's RDF digest and Turtle block makes only the
        # statements of the papers that changed (kgraph.rdf.paper_units); the digests come
        # from graph.json's writer, which then goes first
        # (the index of the graph is staged once graph.json's writer gave its runs' digests)
        from .graph_delta import LightEdges

        light_edges = LightEdges(kept_lines) if kept_lines and kept_lines.light else None
        ctx = ExportContext(graph, papers, {}, kept_lines, index.runs, light_edges)
        # what the entities' statements take from the whole corpus, for the blocks' digests
        # and the statements both
        facts = entity_facts(graph) if streamed else None
        lines = cast("dict[str, int]", ctx.block_digests)
        digests: dict[str, int] | None = None
        units, why = _reusable(folder, bundle.manifest, streamed, old_store, ttl_hash)
        if ttl_hash is not None:
            ttl_hash.wait()  # (no thread of its running when the writers' processes fork)
            del ttl_hash
        reuse = None
        done: set[str] = set()
        if units is not None and "json" in exports:
            mark = _stage_exports(staging, [exports["json"]], ctx, report, mark)
            done.add("json")
            if kept_lines is not None:
                kept_lines.clear()  # (copied)
            report.step("comparing the RDF with the bundle's")
            digests = _all_digests(graph, lines, facts)
            lines.clear()  # (in digests now: half a million entries at 160k)
            reuse, why = _plan_reuse(folder, digests, units)
            mark = report.lap("digests of the papers' RDF", mark)
        if reuse is not None:
            n_papers = sum(1 for node in digests or () if node.startswith("paper:"))
            report.rdf = {
                "kept": reuse.papers_kept,
                "of": n_papers,
                "entities_kept": reuse.kept - reuse.papers_kept,
                "entities_of": len(digests or ()) - n_papers,
                # (runs of kept blocks that follow each other: each copied at once)
                "stretches": reuse.stretches,
            }
        else:
            report.rdf = {"full": why}
        others = [e for e in exports.values() if e.statements is None and e.format not in done]
        # The quad pass overlaps the other exports only when every statement is made: then
        # graph.ttl's writer, on the other core, has them all to write, and starts early (a
        # build of 50k papers: the exports and the wait for the quads 18.6 s so, 20.6 s one
        # after the other). An add that keeps most papers' RDF copies most of graph.ttl, and
        # the quad pass and the other exports would only share Python's lock: graph.html
        # took 10.0 and 10.7 s beside the quads against 5.1 and 5.3 s before them, and the
        # wait for the quads after it was no shorter (two adds of 1,000 papers at 179k and
        # 180k, each on a copy of the same state)
        # An add that updates the store in place, in a copy of the process: graph.html comes
        # after the quads, while the caller's process updates the store (the two overlap)
        hand = send_store is not None and reuse is not None and old_store is not None
        if reuse is not None and not hand:
            mark = _stage_exports(staging, others, ctx, report, mark)
            others = []
        if light_edges is not None:
            # the statements of a paper's block are made from its edges' evidence: the light
            # papers whose block is made again (every one, when no block is kept) are filled
            keep_rdf = reuse.keep if reuse is not None else ()
            made = (p for p in light_edges.rows if f"paper:{p}" not in keep_rdf)
            with _kept_file_unchanged():
                light_edges.fill(graph, made)
            del light_edges
        store_pass = _StorePass(staging, graph, streamed, old_store, reuse, facts)
        try:
            if not hand:
                mark = _stage_exports(staging, others, ctx, report, mark)
                others = []
            quads = " and ".join([*(e.filename for e in streamed), "the store's quads"])
            report.step(f"writing {quads}")
            store_pass.wait_statements()
            if store_pass.places is not None:
                if digests is None:
                    digests = _all_digests(graph, lines, facts)
                staging.stage(UNITS, _units_file(digests, store_pass, staging, reuse))
                store_pass.places = None  # (not sent to the process that loads the store)
            staging.stage(GRAPH_INDEX, index.dump())
            del index
            if reuse is not None:
                # the nodes of the short lists of the entities whose block was made
                lists = store_pass.loader.lists
                report.rdf["list_nodes_kept"] = len(lists.kept_keys)
                report.rdf["list_nodes_of"] = len(lists.digests)
        except BaseException:
            store_pass.abort()
            raise
        waited = " + ".join(["quads", *(e.format for e in streamed)])
        mark = report.lap(f"waiting for {waited}", mark)
        if hand:
            assert send_store is not None
            store_pass.hand_over(send_store, staging.info["graph.json"]["sha256"])
            mark = _stage_exports(staging, others, ctx, report, mark)
        if ctx.light is not None and "kept" in report.graph:
            # the kept papers whose edges' evidence was read back (graph.html, RDF made again)
            report.graph["evidence_read"] = len(ctx.light.filled)
        if isolated:
            # this copy of the process ends (os._exit) once its result is sent, and the system
            # takes its memory back at once: freeing the graph and the papers object by object
            # would only delay that (2.4 s at 170k papers)
            _UNTIL_EXIT.append((ctx, graph, papers))
        else:
            # networkx caches views of a graph in the graph, each pointing back at it: a
            # cycle. Emptying the graph breaks it, so reference counting frees the graph here
            # and the collection in _release_memory does not have to walk it.
            vars(graph).clear()
        del ctx, graph, papers, facts
        if not isolated:  # a copy of the process gives it all back when it ends
            _release_memory()
            mark = report.lap("freeing memory", mark)
        staging.synced()  # (the files are synced before they are handed over)
        return _Written(
            staging,
            store_pass,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kgraph_version": __version__,
                "spacy_version": _spacy_version(),
                "networkx_version": nx.__version__,
                "created": created,
                "updated": None,  # the values of these three come in _finish
                "extractor": fingerprint,
                # rules only, or with the learned span tagger: an add extracts its papers the
                # same way, unless told otherwise (then every paper again)
                "pipeline": report.pipeline,
                # the code that found the results kept with the extractions
                "results_code": results_code,
                "inputs": all_inputs,
                "counts": counts,
                "exports": {name: exp.filename for name, exp in exports.items()},
                # the RDF mapping of graph.ttl and the store (kgraph.rdf.convert)
                "rdf_version": RDF_VERSION,
                "store": None,
                "files": None,
            },
            mark,
        )
    except BaseException:
        staging.abort()
        raise


def _title_key_of(old: Mapping[str, Paper], keys: Mapping[str, str], paper: Paper) -> str:
    """``paper``'s title key: from ``keys`` when it is one of the bundle's papers ``old``."""
    return keys[paper.id] if old.get(paper.id) is paper else paper.title_key


def _resolve(
    folder: Path,
    bundle: Bundle,
    extractions: StoredExtractions,
    redone: set[str],
    report: BuildReport,
    state_lines: _Aside[list[bytes]] | None = None,
) -> tuple[Resolution, ResolutionState]:
    """Resolve the entities, with the resolution state for the next add: grown from the
    bundle's state (:func:`kgraph.resolve_delta.extend`: papers new, gone or extracted
    again), in full for a new bundle, a new extractor or a state that cannot be used;
    ``report.resolution`` says which, and why. ``state_lines``: the bundle's state being
    read (:func:`_read_state`)."""
    from .resolve_delta import ResolutionState, StateMismatch, extend, resolve_tracked

    manifest = bundle.manifest
    why = ""
    if not bundle.exists:
        why = "a new bundle"
    elif report.re_extract_all:
        why = "every paper extracted again"
    elif RESOLUTION not in (manifest.get("files") or {}):
        why = "the bundle has no resolution state (made by an earlier kgraph)"
    else:
        try:
            state = ResolutionState.from_lines(
                (state_lines or _read_state(folder, manifest)).take()
            )
            del state_lines
            resolution, state = extend(state, extractions, changed=redone)
        except (BundleError, ValueError) as exc:
            why = f"its resolution state is unusable: {exc}"
        except StateMismatch as exc:
            why = str(exc)
        else:
            total = resolution.occurrences  # (the extractions not made: most are lines)
            report.resolution = {"grown": state.resolved, "of": total, "joined": state.joined}
    if why:
        resolution, state = resolve_tracked(extractions.values())
        report.resolution = {"full": why}
    return resolution, state


def _read_state(folder: Path, manifest: Mapping[str, Any]) -> _Aside[list[bytes]]:
    """The lines of the bundle's resolution state (:data:`RESOLUTION`), read, checked against
    ``manifest`` and decompressed aside (:class:`_Aside`; BundleError or ValueError)."""
    from .resolve_delta import ResolutionState

    return _Aside(
        lambda: ResolutionState.decompress(_read_checked(folder, RESOLUTION, manifest)), "state"
    )


def _find_results(
    extractions: StoredExtractions,
    papers: Mapping[str, Paper],
    manifest: Mapping[str, Any],
    code: str,
) -> None:
    """Find the results of the papers whose extraction keeps none (new, or extracted again),
    or of every paper when the bundle's were found by other code than ``code`` (the
    fingerprint of :mod:`kgraph.results`). (Found with each paper's own entity types: the
    graph finds again only those of papers whose entities resolve to other types.) A line of
    the bundle keeps its paper's results when the manifest names this code: not made here."""
    from .results import find_results

    again = manifest.get("results_code") != code
    for pid in list(extractions):
        if not again and extractions.stored(pid):
            continue
        ext = extractions[pid]
        if ext.results is None or again:
            found = tuple(find_results(papers[pid], ext.entities))
            extractions[pid] = replace(ext, results=found)


def _graph_basis(
    folder: Path, manifest: Mapping[str, Any], results_code: str, every: bool
) -> tuple[GraphIndex | None, str]:
    """The index of the bundle's graph, which an add keeps papers' parts of the graph by
    (:mod:`kgraph.graph_delta`); none when the graph must be made whole, with why (``every``:
    every paper is extracted again)."""
    from .graph_delta import GraphIndex, graph_code

    files = manifest.get("files") or {}
    json_name = EXPORTS["json"].filename if "json" in EXPORTS else None
    if not manifest:
        return None, "a new bundle"
    if every:
        return None, "every paper extracted again"
    if json_name is None or json_name not in files:
        return None, "the bundle has no graph.json"
    if GRAPH_INDEX not in files:
        return None, f"the bundle has no {GRAPH_INDEX} (made by an earlier kgraph)"
    if manifest.get("results_code") != results_code:
        return None, "the code that finds results changed"
    try:
        index = GraphIndex.load(_read_checked(folder, GRAPH_INDEX, manifest))
    except (BundleError, ValueError) as exc:
        return None, f"its {GRAPH_INDEX} is unusable: {exc}"
    if index.code != graph_code():
        return None, "the code that makes the graph changed"
    return index, ""


def _light_parts(papers: Collection[str], changed: Collection[str]) -> bool:
    """Whether an add reads the kept papers' edges light, with their relation only
    (:mod:`kgraph.graph_delta`: graph.json's writer copies their lines, graph.html and the RDF
    fill those they show the evidence of): when the exports are kgraph's own (another may read
    any edge's attributes) and the add likely keeps most papers' RDF (which is otherwise
    made from every paper's edges, all filled again)."""
    from .rdf.paper_units import MAX_CHANGED

    return EXPORTS == _OWN_EXPORTS and len(changed) <= MAX_CHANGED * len(papers)


def _graph_plan(
    basis: GraphIndex | None,
    why: str,
    resolution: Resolution,
    changed: Container[str],
    report: BuildReport,
) -> tuple[set[str], GraphIndex, dict[str, list[int]]]:
    """The papers whose part of the graph an add can take from the bundle's ``graph.json``
    (those with the record, extraction and ids they had in ``basis``, the bundle's index:
    :func:`_graph_basis`), the index of the graph being made, and the digests of the
    bundle's runs of lines that its index keeps (copied with them); none when the graph
    must be made whole, and ``report.graph`` then says ``why``."""
    from .graph_delta import GraphIndex, kept_papers

    digests: dict[str, int] = {}
    # (every paper's digest is made either way, for the index of the graph being made)
    keep = kept_papers(basis, resolution.assignments, changed, digests)
    report.graph = {"full": why} if basis is None else {"kept": len(keep), "of": len(digests)}
    runs = basis.runs if basis is not None else {}
    return keep, GraphIndex(digests), runs


class _PartsReader:
    """The parts of the graph of ``papers`` (those an add may keep: :func:`_graph_plan`
    keeps some of them) read from the bundle's ``graph.json`` (:func:`read_parts`) by a
    forked copy of this process, while this one reads, extracts and resolves the papers: an
    add of 1,000 papers at 160k read them in 9.4 s, on the core the build leaves idle. The
    copy hands them over in a temporary file of the bundle's folder (:func:`dump_parts`),
    some thousands at a time as it reads them, so that it never holds them all."""

    def __init__(self, folder: Path, papers: set[str], sha256: str, light: bool) -> None:
        from .graph_delta import dump_parts, read_parts

        self.light = light
        self.path = folder / EXPORTS["json"].filename
        fd, name = tempfile.mkstemp(prefix=".graph-parts.", suffix=".tmp", dir=folder)
        os.close(fd)
        self.tmp = Path(name)

        def work(parent: Parent) -> KeptLines:
            # (it yields to this process and to the papers' writer, also a copy: three at
            # once on two cores slowed resolution by a quarter)
            with suppress(OSError, AttributeError):
                os.nice(10)
            # (nothing it makes is garbage until it ends: a collection would only walk them)
            gc.disable()
            # (handed over as they are read: the copy never holds them all)
            with self.tmp.open("wb") as fh:
                _, lines = read_parts(
                    self.path,
                    sha256,
                    papers,
                    spill=lambda some: dump_parts(some, fh),
                    light=light,
                )
            return lines

        self.job: Forked[KeptLines] | None = None
        try:
            self.job = Forked(work, name="graph reader")
        except ForkUnavailable:
            self.tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def start(
        cls, folder: Path, manifest: Mapping[str, Any], papers: set[str], light: bool
    ) -> _PartsReader | None:
        """A reader of the parts of ``papers`` in the graph.json of the bundle in ``folder``
        (``manifest``: its manifest; ``light``: their edges so, see
        :func:`~kgraph.graph_delta.read_parts`); None without one (no fork here)."""
        try:
            sha256 = str(manifest["files"][EXPORTS["json"].filename]["sha256"])
            return cls(folder, papers, sha256, light)
        except (ForkUnavailable, OSError, KeyError, TypeError):
            return None

    def result(self, keep: Collection[str]) -> tuple[dict[str, PaperPart], KeptLines]:
        """The parts of ``keep`` (papers it read) and where their lines are: as
        :func:`read_parts` gives them, and raising what it raised (:class:`WorkerDied` if
        the copy died)."""
        from .graph_delta import load_parts

        job, self.job = self.job, None
        if job is None:
            raise RuntimeError("the graph reader was already waited for")
        try:
            lines = job.result()
            with self.tmp.open("rb") as fh:
                parts = load_parts(fh, keep)
        finally:
            self.tmp.unlink(missing_ok=True)
        return parts, lines.subset(keep)

    def abort(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.abort()
        self.tmp.unlink(missing_ok=True)


def _read_kept(
    bundle: Bundle,
    keep: Collection[str],
    resolution: Resolution,
    report: BuildReport,
    runs: Mapping[str, list[int]],
    reader: _PartsReader | None = None,
    light: bool = False,
) -> tuple[dict[str, PaperPart], KeptLines | None]:
    """The parts of the papers in ``keep`` (:func:`_graph_plan`) from the bundle's
    ``graph.json`` (by ``reader``, which read them meanwhile, when it read them all), and
    where their lines are in it, with the digests of their runs that the bundle's index
    keeps (``runs``). When that file cannot be used, none: ``report.graph`` says why, and
    the kept papers' extractions, which the caller let go, are read again from the bundle
    (as lines) into ``resolution.extractions``."""
    from .graph_delta import read_parts

    if not keep:
        if reader is not None:
            reader.abort()
        return {}, None
    name = EXPORTS["json"].filename
    handed: tuple[dict[str, PaperPart], KeptLines] | None = None
    if reader is not None:
        # (it died, did not read every paper kept, or failed: read here, which raises again
        # what reading graph.json raised)
        with suppress(Exception):
            handed = reader.result(keep)
    try:
        if handed is None:
            sha256 = str(bundle.manifest["files"][name]["sha256"])
            handed = read_parts(bundle.path / name, sha256, keep, light=light)
        parts, lines = handed
        lines.know(runs)
        return parts, lines
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        report.graph = {"full": f"its graph.json is unusable: {exc}"}
    bundle.read_extraction_lines()
    again = cast("StoredExtractions", bundle.extractions).select(keep)
    bundle.extractions.clear()
    again.update(resolution.extractions)
    resolution.extractions = again.sort()
    return {}, None


def _read_inputs(
    fresh: Sequence[InputFile], fmt: str | None, log: ReadLog, report: BuildReport
) -> tuple[list[Paper], list[dict[str, Any]], list[list[Paper]]]:
    """The records of the ``fresh`` inputs, their rows for the manifest and each one's
    distinct papers. (A function of its own: nothing of what it reads outlives the lists it
    returns, which the build frees when it no longer needs them.)"""
    input_rows: list[dict[str, Any]] = []
    input_papers: list[list[Paper]] = []
    records: list[Paper] = []
    for item in fresh:
        try:
            with item.open() as stream:
                read = list(read_stream(item.path, stream, fmt, log))
        except OSError as exc:  # removed or changed between hashing and reading
            log.skip(item.path, None, "unreadable file", f"cannot read: {exc.strerror or exc}")
            continue
        report.inputs_new.append(item.path)
        report.entries += len(read)
        report.files += bool(read)
        records += read
        input_papers.append(merge_papers(read))
        input_rows.append(
            {
                "path": item.path if item.path != "-" else "<stdin>",
                "sha256": item.sha256,
                "bytes": item.size,
                "entries": len(read),
                "papers": len(input_papers[-1]),
            }
        )
    return records, input_rows, input_papers


def _stage_exports(
    staging: Staging,
    exports: Iterable[Export],
    ctx: ExportContext,
    report: BuildReport,
    mark: float,
) -> float:
    """Write ``exports`` (each a lap of the report) to staged files; the end of the last lap."""
    for exp in exports:
        report.step(f"writing {exp.filename}")
        with _kept_file_unchanged():  # (graph.json's writer, graph.html: light edges)
            staging.stage(exp.filename, partial(exp.write_to, ctx))
        mark = report.lap(f"export {exp.format}", mark)
    return mark


@contextmanager
def _kept_file_unchanged() -> Iterator[None]:
    """A :class:`~kgraph.graph_delta.KeptFileChanged` raised within (the kept papers' lines
    are no longer in the graph.json they were read from) as a :class:`BundleError`. (The
    bundle's lock keeps other kgraph writers out.)"""
    from .graph_delta import KeptFileChanged

    try:
        yield
    except KeptFileChanged as exc:
        raise BundleError(f"{exc}: the bundle was changed during the build") from None


def _all_digests(graph: nx.MultiDiGraph, lines: dict[str, int], facts: Any) -> dict[str, int]:
    """Every paper's digest (:func:`kgraph.rdf.paper_units.unit_digests`) from those of its
    lines graph.json's writer gave (made here when there was no json export to give them);
    ``facts``: the graph's :func:`~kgraph.rdf.convert.entity_facts`."""
    from .rdf.paper_units import block_digests, unit_digests

    if not lines and graph.number_of_nodes():
        return block_digests(graph)
    return unit_digests(graph, lines, facts=facts)


def _units_ttl(manifest: Mapping[str, Any]) -> str | None:
    """The name of the bundle's graph.ttl when the bundle keeps its blocks' digests and
    places in it (:data:`UNITS`), which an add may copy from (:func:`_reusable`)."""
    ttl = EXPORTS.get("ttl")
    files = manifest.get("files") or {}
    if ttl is None or UNITS not in files or ttl.filename not in files:
        return None
    return ttl.filename


def _ttl_hash(folder: Path, manifest: Mapping[str, Any]) -> _Aside[str] | None:
    """The SHA-256 of the bundle's graph.ttl, started (:func:`_file_hash`), when an add may
    copy from it (:func:`_reusable`)."""
    name = _units_ttl(manifest)
    return _file_hash(folder / name) if name is not None else None


def _reusable(
    folder: Path,
    manifest: Mapping[str, Any],
    streamed: Sequence[Export],
    old_store: tuple[Path, str] | None,
    ttl_hash: _Aside[str] | None = None,
) -> tuple[Any, str]:
    """The bundle's :class:`~kgraph.rdf.paper_units.BlockUnits` when an add can keep papers'
    statements from it (its graph.ttl as it made it, a store it can update), else None and
    why not. ``ttl_hash``: graph.ttl's SHA-256, being made (:func:`_ttl_hash`)."""
    from .exporters import DEFAULT_BASE
    from .rdf.convert import RDF_VERSION
    from .rdf.paper_units import BlockUnits
    from .rdf.store import can_update

    name = _units_ttl(manifest)
    if not manifest:
        return None, "a new bundle"
    if name is None:
        return None, "the bundle has no digests of its papers' RDF (made by an earlier kgraph)"
    if [e.format for e in streamed] != ["ttl"]:
        return None, "other files are made from the statements"
    if manifest.get("rdf_version") != RDF_VERSION:
        return None, "the bundle's RDF is of another mapping"
    if old_store is None or not can_update(old_store[0], old_store[1], DEFAULT_BASE):
        return None, "the bundle's store cannot be updated in place"
    try:
        units = BlockUnits.load(_read_checked(folder, UNITS, manifest))
    except (BundleError, ValueError) as exc:
        return None, f"its digests are unusable: {UNITS}: {exc}"
    path = folder / name
    want = manifest["files"][name].get("sha256")
    try:
        if ttl_hash is not None:  # (of the same file: _ttl_hash)
            sha256 = ttl_hash.result()
        else:
            sha256, _ = _hash_file(str(path))
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"
    if sha256 != want or units.ttl_sha256 != want:
        return None, f"{path} is not the file the bundle made"
    return units, ""


def _plan_reuse(folder: Path, digests: dict[str, int], units: Any) -> tuple[Any, str]:
    """:func:`kgraph.rdf.paper_units.plan_reuse` for the bundle's graph.ttl."""
    from .rdf.paper_units import plan_reuse

    return plan_reuse(digests, units, folder / EXPORTS["ttl"].filename)


def _units_file(
    digests: dict[str, int], store_pass: _StorePass, staging: Staging, reuse: Any
) -> bytes:
    """The bytes of :data:`UNITS` for the graph.ttl just made (with the nodes' keys that
    ``reuse``, the plan of an add that kept blocks, made)."""
    from .rdf.paper_units import BlockUnits

    ttl = staging.info[EXPORTS["ttl"].filename]
    # papers, then entities (each followed by its short list's nodes), as the quads came
    loader = store_pass.loader
    sha256 = str(ttl["sha256"])
    places = store_pass.places or []
    if reuse is None:
        every = {**digests, **loader.lists.digests}
        return BlockUnits.make(loader.blocks, every, places, sha256).dump()
    # (the plan's nodes come with their digests: only the lists' are looked up)
    either = ChainMap(loader.lists.digests, digests)
    return BlockUnits.make(loader.blocks, either, places, sha256, reuse.keyed, reuse.units).dump()


class _StorePass:
    """The store and the files of the ``streamed`` exports, made in one pass over the
    graph's RDF (:class:`~kgraph.rdf.store.StoreLoader`: the quads are made in a thread of
    their own while the caller writes the other files; each export's sink is fed the union's
    statements as they go). :meth:`wait_statements` waits for the quads and stages the files;
    :meth:`finish` then has Oxigraph load the quads, once the caller has let the graph go."""

    def __init__(
        self,
        staging: Staging,
        graph: nx.MultiDiGraph,
        streamed: Sequence[Export],
        previous: tuple[Path, str] | None = None,
        reuse: Any = None,
        facts: Any = None,
    ) -> None:
        self.staging = staging
        self.sinks: list[tuple[str, StatementSink]] = []
        self.paths: dict[str, Path] = {}  #: each sink's staged file
        #: the blocks' places in the one streamed file (see kgraph.rdf.paper_units)
        self.places: Any = None
        self.how: dict[str, Any] = {}  #: how the store was made (:meth:`finish`)
        #: the store's update, when the build's caller started it (:meth:`take`)
        self.early: _Aside[dict[str, Any]] | None = None
        old_file = reuse.previous_ttl if reuse is not None else None
        try:
            for exp in streamed:
                open_sink = cast("Callable[[Path, Path | None], StatementSink]", exp.statements)
                path = staging.reserve(exp.filename)
                self.sinks.append((exp.filename, open_sink(path, old_file)))
                self.paths[exp.filename] = path
            writes = [sink.write for _, sink in self.sinks]

            def fan_out(chunk: bytes) -> None:
                for write in writes:
                    write(chunk)

            union = None if not writes else writes[0] if len(writes) == 1 else fan_out
            marks = len(self.sinks) == 1
            self.loader: StoreLoader = staging.stage_folder(
                "store",
                lambda tmp: _start_store(tmp, graph, union, previous, marks, reuse, facts),
            )
        except BaseException:
            self._abort_sinks()
            raise

    def wait_statements(self) -> None:
        """Wait for the quads and stage the streamed files: the graph is no longer needed."""
        from .rdf.store import StoreError

        try:
            try:
                self.loader.wait_quads()
            except StoreError as exc:
                raise BundleError(str(exc)) from None
            while self.sinks:
                name, sink = self.sinks[0]
                try:
                    info = dict(sink.close())
                except OSError as exc:  # the file could not be written
                    raise BundleError(str(exc)) from None
                places = info.pop("places", None)
                if self.loader.marks:  # (one sink only)
                    self.places = places
                if not info.pop("synced", True):  # (the sink left it to the staging)
                    self.staging.sync_later(self.paths[name])
                self.staging.record(name, info)
                self.sinks.pop(0)
        except BaseException:
            self.abort()
            raise

    def finish(self, graph_sha256: str) -> dict[str, Any]:
        """:meth:`wait_statements`, then wait for the store (or load it, or update the
        previous one in place, when deferred); what the manifest says of the store.
        ``self.how`` says how it was made."""
        self.wait_statements()
        loader = self.loader
        try:
            info = self.early.result() if self.early else _finish_store(loader, graph_sha256)
        except BundleError as exc:
            if loader.reuse is None:
                raise
            # the update in place failed, and the quads made were the changed papers' only:
            # the store is loaded whole from the new graph.json instead
            from .exporters import DEFAULT_BASE
            from .rdf.store import StoreError, write_store_from_file

            staged = next(path for name, path in self.staging.temps if name == "graph.json")
            try:
                marker = write_store_from_file(staged, loader.folder, DEFAULT_BASE, graph_sha256)
            except StoreError as again:
                raise BundleError(str(again)) from None
            self.how = {"loaded": "bulk", "update_failed": loader.update_failed or str(exc)}
            return _store_manifest(marker)
        self.how = loader.how
        return info

    def hand_over(self, send: Callable[[StoreLoader, str], None], graph_sha256: str) -> None:
        """Send the loader, its quads made, to the process that finishes the store
        (:func:`_update_store`): from now on its staged folder is that process's."""
        send(self.loader, graph_sha256)
        self.staging.handed.add(self.loader.folder)

    def take(self, loader: StoreLoader, update: _Aside[dict[str, Any]]) -> None:
        """Finish with the ``update`` that the build's caller started with ``loader``, this
        pass's (:meth:`hand_over` in the build's copy), not with this copy of the loader: its
        staged folder is this process's again."""
        self.early, self.loader = update, loader
        self.staging.handed.discard(loader.folder)

    def abort(self) -> None:
        if self.early is not None:
            self.early.wait()  # (it writes in the staged folder the staging then removes)
        if self.loader.folder not in self.staging.handed:  # (else its process cleans up)
            self.loader.abort()  # first: the quad thread feeds the sinks
        self._abort_sinks()

    def _abort_sinks(self) -> None:
        for _, sink in self.sinks:
            sink.abort()
        self.sinks.clear()


def _update_store(loader: StoreLoader, graph_sha256: str, warm: WarmCopy | None) -> dict[str, Any]:
    """The store's update in place, which the build's caller runs in a thread of its own
    (:class:`_Aside`) from the loader the build's copy handed over once its quads were made
    (``send_store``), while the copy writes graph.html and ends: the two overlap on two cores.
    What the manifest says of the store (:func:`_finish_store`). (Only an add that made the
    changed blocks' quads hands its store over, and its update never gives way to a load of
    the whole store, whose buffers would add gigabytes to the copy's memory: it has not the
    quads to load. An update that fails is followed by a whole load from graph.json, in
    :meth:`_StorePass.finish`, once the copy has ended.)"""
    if warm is not None:
        loader.warmed = warm.close()
    return _finish_store(loader, graph_sha256)


def _start_store(
    folder: Path,
    graph: nx.MultiDiGraph,
    union: Callable[[bytes], object] | None = None,
    previous: tuple[Path, str] | None = None,
    marks: bool = False,
    reuse: Any = None,
    facts: Any = None,
) -> StoreLoader:
    """Start building the SPARQL store (``folder/store/``, pyoxigraph) of ``graph``: its
    N-Quads are made into a file in a thread (``union`` is given the union's statements
    meanwhile); Oxigraph loads them when the loader's ``finish`` is called, or updates a
    copy of the ``previous`` store (its folder and the SHA-256 of the graph.json it must
    have been made from) with what changed. The store is a cache: ``kgraph query`` rebuilds
    it from graph.json when it is missing or does not match (e.g. a build stopped between
    the two)."""
    from .exporters import DEFAULT_BASE
    from .rdf.store import StoreError, StoreLoader

    try:
        return StoreLoader(
            folder,
            graph,
            DEFAULT_BASE,
            union,
            defer_load=True,
            previous=previous,
            marks=marks,
            reuse=reuse,
            facts=facts,
        )
    except StoreError as exc:
        raise BundleError(str(exc)) from None


def _finish_store(loader: StoreLoader, graph_sha256: str) -> dict[str, Any]:
    """Wait for the store ``loader`` builds; what the manifest says of it."""
    from .rdf.store import StoreError

    try:
        info = loader.finish(graph_sha256)
    except StoreError as exc:
        raise BundleError(str(exc)) from None
    return _store_manifest(info)


def _store_manifest(info: Mapping[str, Any]) -> dict[str, Any]:
    """What the manifest says of a store whose marker is ``info``."""
    from .rdf.store import STORE

    keep = ("base", "quads", "triples", "graphs", "bytes", "graph_sha256")
    return {"folder": STORE, **{k: info[k] for k in keep if k in info}}


def _extract(
    papers: Sequence[Paper],
    nlp: Language | None,
    engine: EngineOptions | None,
    pool: WarmPool | None = None,
) -> Iterable[Extraction]:
    """The stored form of every paper's extraction (stored and in-memory ones resolve alike);
    ``pool``: the workers :func:`_warm_pool` started."""
    if nlp is not None:
        from .extractions import extract

        return (Extraction.from_dict(ext.to_dict()) for _, ext in extract(papers, nlp))
    from .engines import EngineOptions, extract_stream

    return extract_stream(papers, engine or EngineOptions(jobs=1), pool)


def _warm_pool(nlp: Language | None, engine: EngineOptions | None) -> WarmPool | None:
    """The extraction's worker processes, started now to load the pipeline while the build
    reads (:class:`kgraph.engines.local.WarmPool`): for the local engine with more than one
    job and no pipeline given. None otherwise, or when no process can be started (the
    extraction starts its own then)."""
    if nlp is not None or engine is None or engine.engine != "local" or engine.workers <= 1:
        return None
    from .engines.local import WarmPool

    try:
        return WarmPool(engine)
    except OSError:
        return None


def _spacy_version() -> str:
    try:
        import spacy

        return str(getattr(spacy, "__version__", "unknown"))
    except ImportError:  # pragma: no cover - spaCy is a dependency
        return "unknown"


# --- reading the graph ---------------------------------------------------------------------------


def load_graph(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], nx.MultiDiGraph]:
    """The manifest and graph of the bundle in ``folder`` (:class:`BundleError` if unsound)."""
    manifest, source = graph_file(folder)
    try:
        graph = source.graph()
    except GraphFileError as exc:
        raise BundleError(str(exc)) from None
    except (ValueError, KeyError, TypeError, nx.NetworkXError) as exc:
        raise BundleError(f"{source.path}: not a kgraph graph ({exc})") from None
    return manifest, graph


def graph_file(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], GraphFile]:
    """The manifest and ``graph.json`` of the bundle in ``folder``, the latter checked against
    the manifest and read item by item as asked (:class:`~kgraph.graphfile.GraphFile`)."""
    path = Path(folder)
    manifest = read_manifest(path)
    assert manifest is not None
    expected = (manifest.get("files") or {}).get("graph.json", {}).get("sha256")
    try:
        return manifest, GraphFile(path / "graph.json", expected)
    except GraphFileError as exc:
        raise BundleError(str(exc)) from None


def copy_default_export(folder: str | os.PathLike[str], fmt: str, target: Path) -> Path | None:
    """``target`` written as a copy of the bundle's default export ``fmt`` (``graph.ttl``,
    ``graph.json``), checked against the SHA-256 the manifest lists while it is copied: the
    bytes ``kgraph export`` would make from the graph at the default base (a test compares
    them), without making the graph (at 160k papers: seconds, where making it took minutes and
    gigabytes). None when the bundle has no such file, it does not match its manifest, or
    it is RDF made with another RDF mapping than this kgraph's (the caller then makes the
    export from the graph). Written atomically."""
    from .rdf.convert import RDF_VERSION

    path = Path(folder)
    manifest = read_manifest(path)
    assert manifest is not None
    name = (manifest.get("exports") or {}).get(fmt)
    expected = ((manifest.get("files") or {}).get(name) or {}).get("sha256") if name else None
    if not name or not expected or fmt not in EXPORTS or EXPORTS[fmt].filename != name:
        return None
    if EXPORTS[fmt].statements is not None and manifest.get("rdf_version") != RDF_VERSION:
        return None  # RDF of another mapping (or of a bundle that does not say)
    digest = hashlib.sha256()
    try:
        with (path / name).open("rb") as src, atomic_open(target) as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
            if digest.hexdigest() != expected:
                raise _Mismatch
    except (_Mismatch, FileNotFoundError):
        return None
    return target


class _Mismatch(Exception):
    """A bundle file that does not match its manifest (copy abandoned)."""
