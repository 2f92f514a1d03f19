"""Exporters of a graph bundle, in a registry keyed by format name (``kgraph export --format``).

An exporter turns the bundle's graph into a file (or, for formats made of several files such as
Neo4j's bulk-import CSVs, a folder). Modules register theirs at import time with
:func:`register`; :func:`get` looks one up and its error lists the valid names::

    from kgraph.exporters import export_bundle
    export_bundle("out/graph", "ttl", "graph.ttl", base="https://example.org/kg/")

Exporter modules are imported lazily (``_MODULES``), so ``kgraph --help`` does not load rdflib.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import networkx as nx

__all__ = [
    "DEFAULT_BASE",
    "ExportOptions",
    "Exporter",
    "UnknownFormat",
    "export_bundle",
    "exporters",
    "get",
    "register",
]

#: the base of data IRIs when the user gives none (papers, entities, mentions, named graphs)
DEFAULT_BASE: Final = "https://w3id.org/kgraph/id/"

#: modules that register exporters when imported (format names are known only after import)
_MODULES: Final = ("kgraph.exporters.rdf", "kgraph.exporters.graphdb")


class UnknownFormat(ValueError):
    """An export format nobody registered; the message lists the valid names."""


@dataclass(frozen=True)
class ExportOptions:
    """Options every exporter accepts (an exporter ignores what does not apply to it)."""

    base: str = DEFAULT_BASE  #: base of the data IRIs (RDF formats)
    extra: dict[str, Any] = field(default_factory=dict)  #: exporter-specific settings


@dataclass(frozen=True)
class Exporter:
    """One export format.

    ``write(graph, target, options)`` writes ``target`` (a file, or a folder when
    ``is_folder``) atomically and returns the paths it wrote.
    """

    format: str  #: the name given to ``--format``, e.g. "ttl", "graphml", "neo4j"
    description: str  #: one line for ``--help`` and the error listing
    extension: str  #: the usual file extension (".ttl"), "" for a folder
    write: Callable[[nx.MultiDiGraph, Path, ExportOptions], list[Path]]
    media_type: str = "application/octet-stream"
    is_folder: bool = False


_REGISTRY: dict[str, Exporter] = {}
_loaded = False


def register(exporter: Exporter) -> None:
    """Add (or replace) the exporter for ``exporter.format``."""
    _REGISTRY[exporter.format] = exporter


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet, or an optional part
            if exc.name != name:
                raise


def exporters() -> dict[str, Exporter]:
    """Every registered exporter, by format name (sorted)."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def get(fmt: str) -> Exporter:
    """The exporter for ``fmt``; :class:`UnknownFormat` naming the valid formats otherwise."""
    found = exporters().get(fmt)
    if found is None:
        valid = ", ".join(exporters()) or "(none)"
        raise UnknownFormat(f"unknown export format {fmt!r}; valid formats: {valid}")
    return found


def export_bundle(
    bundle: str | os.PathLike[str],
    fmt: str,
    target: str | os.PathLike[str],
    *,
    base: str = DEFAULT_BASE,
    on_step: Callable[[str], None] | None = None,
    **extra: Any,
) -> list[Path]:
    """Export the bundle in ``bundle`` as ``fmt`` to ``target``; the paths written
    (``on_step(text)`` told each step: reading the graph, writing the export).

    A format the bundle keeps as a default export (``ttl``, ``json``) at the default base is
    copied from the bundle's file (checked against its manifest) rather than made again.
    :class:`kgraph.bundle.BundleError` if the bundle is unsound, :class:`UnknownFormat` for a
    format nobody registered.
    """
    from ..bundle import EXPORTS, copy_default_export, load_graph
    from ..rdf.namespaces import InvalidBase, normalise_base

    exporter = get(fmt)
    try:
        default_base = normalise_base(base) == DEFAULT_BASE
    except InvalidBase:
        default_base = False  # the exporter says what is wrong with it
    step = on_step or (lambda text: None)
    if default_base and not extra and not exporter.is_folder:
        # the bundle's own graph.ttl / graph.json are this export, byte for byte
        if fmt in EXPORTS:
            step(f"copying the bundle's {EXPORTS[fmt].filename}")
        copied = copy_default_export(bundle, fmt, Path(target))
        if copied is not None:
            return [copied]
    step("reading graph.json")
    _, graph = load_graph(bundle)
    step(f"writing {target}")
    return exporter.write(graph, Path(target), ExportOptions(base=base, extra=dict(extra)))
