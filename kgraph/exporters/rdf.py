"""RDF exporters: Turtle, N-Triples, N-Quads, TriG, JSON-LD and RDF/XML (``kgraph export``).

``ttl``, ``nt``, ``xml`` and ``jsonld`` hold every triple (the union of the named graphs);
``nq`` and ``trig`` keep one named graph per paper and one for the entities, so a paper can be
replaced on its own in a triple store. Data IRIs are under ``ExportOptions.base``. The mapping
is :mod:`kgraph.rdf.convert`; files are written to a temporary file first and renamed, so an
interrupted export never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import networkx as nx

from . import Exporter, ExportOptions, register
from ._files import atomic_bytes

__all__ = ["MEDIA_TYPES", "write_rdf"]

#: format -> (extension, media type)
MEDIA_TYPES: Final[dict[str, tuple[str, str]]] = {
    "ttl": (".ttl", "text/turtle"),
    "nt": (".nt", "application/n-triples"),
    "nq": (".nq", "application/n-quads"),
    "trig": (".trig", "application/trig"),
    "jsonld": (".jsonld", "application/ld+json"),
    "xml": (".rdf", "application/rdf+xml"),
}


def write_rdf(fmt: str, graph: nx.MultiDiGraph, target: Path, options: ExportOptions) -> list[Path]:
    """Write ``graph`` as RDF format ``fmt`` to ``target`` atomically; ``[target]``."""
    from ..rdf.convert import serialize

    target = Path(target)
    with atomic_bytes(target) as fh:
        serialize(graph, fmt, fh, options.base)
    return [target]


def _register() -> None:
    from ..rdf.convert import FORMATS

    for fmt, (description, _, _) in FORMATS.items():
        extension, media_type = MEDIA_TYPES[fmt]

        def write(
            graph: nx.MultiDiGraph, target: Path, options: ExportOptions, fmt: str = fmt
        ) -> list[Path]:
            return write_rdf(fmt, graph, target, options)

        register(Exporter(fmt, description, extension, write, media_type))


_register()
