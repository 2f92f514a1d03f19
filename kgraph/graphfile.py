"""``graph.json``: written (:func:`write_graph_json`) and read item by item (a bundle's graph
without its whole document in memory).

The bundle's ``graph.json`` (:func:`kgraph.graphfile.write_graph_json`) is networkx node-link
JSON with one node or edge per line. Parsed whole (the document, then networkx's
``node_link_graph``) a file holds its parsed document and the graph made from it at once: at
160k papers (842 MB) that was 4.9 GiB for every command that reads a bundle (``stats``,
``view``, ``export``, ``push``, ``serve``), more than the build itself needs. Here the file is
read in passes over its lines:

1. a scan that checks the file against the SHA-256 its manifest lists and finds the two
   sections (the lines between ``"edges":[`` and ``]``, between ``"nodes":[`` and ``]``);
   the other lines (the ``graph`` attributes, the flags) make a small document of their own;
2. the nodes, one parsed line at a time, then the edges: :meth:`GraphFile.nodes`,
   :meth:`GraphFile.edges` and :meth:`GraphFile.graph`, which adds them to a networkx graph
   as they come (nodes first, in file order, as ``node_link_graph`` does), so the peak is
   the graph alone.

A file in another layout (pretty-printed, one line, an earlier writer's order) that is still
node-link JSON is read whole, as before: :attr:`GraphFile.streamed` says which. Errors name
the file and the line.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import networkx as nx
import orjson

from ._gc import collector_paused
from .graph import add_keyed_edges

if TYPE_CHECKING:
    from .graph_delta import KeptLines

__all__ = ["GraphFile", "GraphFileError", "graph_json", "write_graph_json"]

_CHUNK: Final = 1 << 20  #: graph.json is written in pieces of about this many bytes

#: a line that opens a section: it ends with ``"nodes":[`` or ``"edges":[``
_OPENS: Final = re.compile(rb'"(nodes|edges)":\[\s*$')
_SECTIONS: Final = ("nodes", "edges")


class GraphFileError(ValueError):
    """graph.json is unreadable, does not match its manifest, or is not node-link JSON."""


class GraphFile:
    """The ``graph.json`` at ``path``, scanned (and checked against ``sha256`` when given) on
    construction; its items are parsed as they are asked for."""

    def __init__(self, path: str | Path, sha256: str | None = None) -> None:
        self.path = Path(path)
        #: byte offset and line number of each section's first item, and its item count
        self._sections: dict[str, tuple[int, int, int]] = {}
        self._whole: dict[str, Any] | None = None  #: the document, when not line by line
        self.attrs: dict[str, Any] = {}  #: the graph's own attributes (``graph``)
        skeleton = self._scan(sha256)
        try:
            doc = orjson.loads(skeleton) if self.streamed else None
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or any(doc.get(s) != [] for s in _SECTIONS):
            self._read_whole()
        else:
            self._header(doc)

    @property
    def streamed(self) -> bool:
        """True when the items are read line by line (the layout kgraph writes)."""
        return self._whole is None and len(self._sections) == len(_SECTIONS)

    @property
    def number_of_nodes(self) -> int:
        return self._count("nodes")

    @property
    def number_of_edges(self) -> int:
        return self._count("edges")

    def _count(self, section: str) -> int:
        if self._whole is not None:
            return len(self._whole.get(section) or ())
        return self._sections[section][2]

    def _fail(self, what: str, line: int | None = None) -> GraphFileError:
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        return GraphFileError(f"{where}: {what}")

    def _scan(self, sha256: str | None) -> bytes:
        """Hash the file and find its sections; the lines outside them, joined."""
        digest = hashlib.sha256()
        outside: list[bytes] = []
        section: str | None = None
        start = first = items = 0
        offset = 0
        line_layout = True
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise self._fail(f"missing or unreadable ({exc.strerror or exc})") from None
        with fh:
            for n, line in enumerate(fh, 1):
                digest.update(line)
                offset += len(line)
                if not line_layout:
                    continue
                if section is not None and not line.startswith(b"]"):
                    if line.startswith(b"{"):
                        items += 1
                    elif line.strip():
                        line_layout = False  # an item over several lines: not ours
                    continue
                if section is not None:
                    self._sections[section] = (start, first, items)
                    section = None
                outside.append(line)
                opened = _OPENS.search(line)
                if opened is not None:
                    name = opened.group(1).decode()
                    if name in self._sections:
                        line_layout = False
                        continue
                    section, start, first, items = name, offset, n + 1, 0
        if sha256 and digest.hexdigest() != sha256:
            raise self._fail(
                "does not match manifest.json (changed by hand, or a write was interrupted); "
                "build the bundle again into a new folder"
            )
        if section is not None or not line_layout:
            self._sections.clear()
        return b"".join(outside)

    def _header(self, doc: dict[str, Any]) -> None:
        attrs = doc.get("graph", {})
        if not isinstance(attrs, dict):
            raise self._fail("not node-link JSON (its 'graph' is not an object)")
        self.attrs = attrs

    def _read_whole(self) -> None:
        try:
            doc = orjson.loads(self.path.read_bytes())
        except OSError as exc:
            raise self._fail(f"unreadable ({exc.strerror or exc})") from None
        except orjson.JSONDecodeError as exc:
            raise self._fail(f"not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise self._fail("not node-link JSON (not an object)")
        for s in _SECTIONS:
            if not isinstance(doc.get(s, []), list):
                raise self._fail(f"not node-link JSON (its '{s}' is not a list)")
        self._sections.clear()
        self._whole = doc
        self._header(doc)

    def _items(self, section: str) -> Iterator[tuple[int | None, int, dict[str, Any]]]:
        """(line number, place, parsed item) of a section; the place is the item's byte
        offset in the file (its index in the section when the file was read whole)."""
        if self._whole is not None:
            for i, row in enumerate(self._whole.get(section) or ()):
                yield None, i, self._whole_row(section, row)
            return
        start, first, count = self._sections[section]
        with self.path.open("rb") as fh:
            fh.seek(start)
            offset = start
            for n, line in enumerate(fh, first):
                if n - first >= count:
                    return
                yield n, offset, self._parse(section, line, n)
                offset += len(line)

    def _whole_row(self, section: str, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            what = f"an item of '{section}' is not an object"
            raise self._fail(f"not node-link JSON ({what})")
        return dict(row)  # a copy: the items are taken apart, and may be read again

    def _parse(self, section: str, line: bytes, n: int | None) -> dict[str, Any]:
        end = len(line) - (line.endswith(b"\n"))
        end -= line[:end].endswith(b",")
        try:
            row = orjson.loads(line[:end])
        except orjson.JSONDecodeError as exc:
            raise self._fail(f"damaged {section[:-1]} ({exc})", n) from None
        if not isinstance(row, dict):
            raise self._fail(f"damaged {section[:-1]} (not an object)", n)
        return row

    def _at(self, section: str, place: int) -> dict[str, Any]:
        """The item of ``section`` at ``place`` (see :meth:`_items`)."""
        if self._whole is not None:
            return self._whole_row(section, (self._whole.get(section) or ())[place])
        start, _, _ = self._sections[section]
        if place < start:
            raise self._fail(f"no {section[:-1]} at byte {place}")
        with self.path.open("rb") as fh:
            fh.seek(place)
            return self._parse(section, fh.readline(), None)

    def nodes(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """(node id, attributes) in file order."""
        for _, node, attrs in self.placed_nodes():
            yield node, attrs

    def edges(self) -> Iterator[tuple[Any, Any, Any, dict[str, Any]]]:
        """(source, target, key, attributes) in file order (key None when the file has none)."""
        for _, u, v, key, attrs in self.placed_edges():
            yield u, v, key, attrs

    def placed_nodes(self) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """(place, node id, attributes): :meth:`nodes` with where each is in the file, for
        :meth:`node_at`."""
        for n, place, row in self._items("nodes"):
            yield (place, *self._node(row, n))

    def placed_edges(self) -> Iterator[tuple[int, Any, Any, Any, dict[str, Any]]]:
        """(place, source, target, key, attributes): :meth:`edges` with places."""
        for n, place, row in self._items("edges"):
            yield (place, *self._edge(row, n))

    def node_at(self, place: int) -> tuple[Any, dict[str, Any]]:
        """The node at ``place`` (from :meth:`placed_nodes`), read again."""
        return self._node(self._at("nodes", place), None)

    def edge_at(self, place: int) -> tuple[Any, Any, Any, dict[str, Any]]:
        """The edge at ``place`` (from :meth:`placed_edges`), read again."""
        return self._edge(self._at("edges", place), None)

    def _node(self, row: dict[str, Any], n: int | None) -> tuple[Any, dict[str, Any]]:
        if "id" not in row:
            raise self._fail("a node without an 'id'", n)
        node = row.pop("id")
        return _hashable(node), row

    def _edge(self, row: dict[str, Any], n: int | None) -> tuple[Any, Any, Any, dict[str, Any]]:
        try:
            u, v = row.pop("source"), row.pop("target")
        except KeyError as exc:
            raise self._fail(f"an edge without a {exc}", n) from None
        return _hashable(u), _hashable(v), row.pop("key", None), row

    def graph(self) -> nx.MultiDiGraph:
        """The graph (a ``MultiDiGraph`` whatever the flags say, as the bundle's graph is
        one): what networkx's ``node_link_graph`` makes of the document."""
        g = nx.MultiDiGraph()
        g.graph.update(self.attrs)
        with collector_paused():
            g.add_nodes_from(self.nodes())
            add_keyed_edges(g, self.edges())
        return g


def _hashable(x: Any) -> Any:
    """A node id as networkx's ``node_link_graph`` takes it: lists become tuples."""
    if isinstance(x, list):
        return tuple(_hashable(i) for i in x)
    return x


def write_graph_json(
    graph: nx.MultiDiGraph,
    fh: BinaryIO,
    digests: dict[str, int] | None = None,
    kept: KeptLines | None = None,
    runs: dict[str, list[int]] | None = None,
) -> None:
    """``graph.json``: networkx node-link JSON (keys sorted), one node or edge per line,
    streamed (no copy of the graph is made in memory). Encoded by orjson: five times less
    CPU than the standard library's encoder on this graph, which matters while the store's
    quads are made in another thread of this process. ``digests`` receives each paper
    node's digest of its lines (:func:`kgraph.rdf.paper_units.add_line`): its
    node, its edges, its results and the ``evaluated_on`` edges it is the provenance of; and
    each entity node's: its node and its ``co_occurs`` edges (either way). A node's
    consecutive lines are digested as one (a line of two entities on its own): the same
    part of the graph gives the same digest.

    ``kept``: the papers whose part of ``graph`` an add took from the bundle's graph.json
    (:func:`kgraph.graph_delta.read_parts`); their node's line, their edges' and their
    results' are copied from that file, where this writer made them from the same
    attributes, instead of encoded again; and a copied run whose digest the writer of that
    file gave (``kept.known``) is not digested again where it is a run of its own here too.
    ``runs`` (with ``digests``) receives those digests for the next add: per paper node, of
    the run of its node's line, of its edges' lines and of its result nodes' lines, where
    the run holds those lines only (else 0), as :class:`kgraph.graph_delta.GraphIndex`
    keeps them."""
    from .graph_delta import CopiedRun

    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    if digests is not None:
        # (digests are summed modulo 2**64, as paper_units.add_line sums them)
        from .rdf.paper_units import _MASK64, line_digest

    #: the kinds of a paper's own lines (the columns of ``runs``); OTHER: any other line
    NODE, EDGES, RESULTS, OTHER = 0, 1, 2, -1

    def items(rows: Iterable[tuple[str | tuple[str, str] | None, Any, int]]) -> None:
        # written a megabyte at a time: a write per line (through the hashing writer) cost
        # more than encoding the line
        chunk: list[bytes] = []
        size = 0
        lead = b"\n"  # before the first line; ",\n" before every other
        # a node's consecutive lines (a paper's edges, its results) are digested at once:
        # half the calls at 160k (a line's own digest for a line of two entities)
        run: list[bytes] = []
        run_owner = ""
        run_kind = OTHER  #: the kind of every line of the run (OTHER: not all one kind)
        #: a copied run whose digest is known, opening the run: digested by that digest if
        #: the run ends with it, else (another line of its owner follows) as lines
        pending: CopiedRun | None = None

        def close_run() -> None:
            nonlocal run_owner, run_kind, pending
            assert digests is not None
            if pending is not None:
                digest = pending.digest
            elif run:
                digest = line_digest(b"\n".join(run))
            else:
                return
            digests[run_owner] = (digests.get(run_owner, 0) + digest) & _MASK64
            if runs is not None and run_kind != OTHER:
                runs.setdefault(run_owner, [0, 0, 0])[run_kind] = digest
            run.clear()
            run_owner, run_kind, pending = "", OTHER, None

        for owner, row, kind in rows:
            # a row is an item's attributes, or lines copied from the file (whole lines,
            # ",\n" between them)
            copied = isinstance(row, CopiedRun)
            line = row.data if copied else dumps(row, option=sort)
            chunk.append(line)
            size += len(line)
            if digests is not None:
                if isinstance(owner, str):
                    if owner != run_owner:
                        close_run()
                        run_owner, run_kind = owner, kind
                        if copied and row.digest:
                            pending = row
                    else:
                        if pending is not None:  # (the run takes more lines: digested)
                            run.append(pending.data.replace(b",\n", b"\n"))
                            pending = None
                        if kind != run_kind:
                            run_kind = OTHER
                    if pending is None:
                        run.append(line.replace(b",\n", b"\n") if copied else line)
                else:
                    close_run()
                    if owner:
                        digest = line_digest(line)
                        for node in owner:
                            digests[node] = (digests.get(node, 0) + digest) & _MASK64
            if size >= _CHUNK:
                fh.write(lead + b",\n".join(chunk))
                lead, size = b",\n", 0
                chunk.clear()
        if digests is not None:
            close_run()
        fh.write((lead + b",\n".join(chunk) if chunk else b"") + b"\n]")

    def owner_of_edge(u: str, v: str, attrs: Mapping[str, Any]) -> str | tuple[str, str] | None:
        if u.startswith("paper:"):
            return u
        relation = attrs.get("relation")
        if relation == "evaluated_on":
            return attrs.get("paper")
        return (u, v) if relation == "co_occurs" else None

    def owner_of_node(n: str, attrs: Mapping[str, Any]) -> tuple[str | None, int]:
        kind = attrs.get("kind")
        if kind == "paper":
            return n, NODE
        if kind == "entity":
            return n, OTHER
        return (attrs.get("paper"), RESULTS) if kind == "result" else (None, OTHER)

    # (None when the file is no longer the one the parts were read from: all encoded, unless
    # the parts' edges were read light, with their relation only: those must be copied)
    copies = kept.reader() if kept is not None and len(kept) else None
    if copies is None and kept is not None and kept.light and len(kept):
        from .graph_delta import KeptFileChanged

        raise KeptFileChanged(f"{kept.path} changed since the kept papers' parts were read")

    def edges() -> Iterator[tuple[str | tuple[str, str] | None, Any, int]]:
        for u, nbrs in graph._succ.items():  # (graph.edges' order)
            own = u.startswith("paper:")
            if copies is not None and own:
                lines = copies.edges(u[6:])
                if lines:
                    yield u, lines, EDGES
                    continue
            kind = EDGES if own else OTHER
            for v, keyed in nbrs.items():
                for k, attrs in keyed.items():
                    yield (
                        owner_of_edge(u, v, attrs),
                        {**attrs, "source": u, "target": v, "key": k},
                        kind,
                    )

    def nodes() -> Iterator[tuple[str | None, Any, int]]:
        copied = ""  #: the paper whose result nodes were copied last
        for n, attrs in graph._node.items():
            if copies is not None:
                kind = attrs.get("kind")
                if kind == "paper":
                    line = copies.node(n[6:])
                    if line:
                        yield n, line, NODE
                        continue
                elif kind == "result":
                    pnode = attrs.get("paper")
                    if pnode == copied:
                        continue  # (in the run copied)
                    if isinstance(pnode, str):
                        lines = copies.results(pnode[6:])
                        if lines:
                            copied = pnode
                            yield pnode, lines, RESULTS
                            continue
            owner, what = owner_of_node(n, attrs)
            yield owner, {**attrs, "id": n}, what

    try:
        fh.write(b'{"directed":true,"edges":[')
        items(edges())
        fh.write(b',"graph":' + dumps(graph.graph, option=sort) + b',"multigraph":true,"nodes":[')
        items(nodes())
        fh.write(b"}\n")
    finally:
        if copies is not None:
            copies.close()


def graph_json(graph: nx.MultiDiGraph) -> bytes:
    """The bytes of ``graph.json`` (:func:`write_graph_json`)."""
    buf = io.BytesIO()
    write_graph_json(graph, buf)
    return buf.getvalue()
