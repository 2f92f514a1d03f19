"""SHACL validation of kgraph's RDF against ``shapes.ttl`` (pyshacl, a dev dependency)::

from kgraph.rdf.convert import to_rdflib
from kgraph.rdf.validate import validate
report = validate(to_rdflib(graph))
report.conforms, report.messages
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

__all__ = ["Report", "ontology_text", "shapes_text", "validate"]


@dataclass(frozen=True)
class Report:
    """The outcome of a validation: whether the data conforms, one line per violation."""

    conforms: bool
    messages: tuple[str, ...]  #: "focus node: message" per violation, sorted
    text: str  #: pyshacl's full report


def shapes_text() -> str:
    """The SHACL shapes (``schemas/shapes.ttl``, the copy in this package)."""
    return files("kgraph.rdf").joinpath("shapes.ttl").read_text(encoding="utf-8")


def ontology_text() -> str:
    """The ontology (``schemas/kgraph.ttl``, the copy in this package)."""
    return files("kgraph.rdf").joinpath("kgraph.ttl").read_text(encoding="utf-8")


def validate(data: Any) -> Report:
    """Validate the rdflib graph ``data`` (its union, for a Dataset) against the shapes."""
    import pyshacl
    import rdflib

    shapes = rdflib.Graph().parse(data=shapes_text(), format="turtle")
    graph = data
    if isinstance(data, rdflib.Dataset):
        graph = rdflib.Graph()
        for triple in data.triples((None, None, None)):
            graph.add(triple)
    conforms, report, text = pyshacl.validate(graph, shacl_graph=shapes, advanced=True)
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    messages = sorted(
        f"{report.value(r, sh.focusNode)}: {report.value(r, sh.resultMessage)}"
        for r in report.subjects(rdflib.RDF.type, sh.ValidationResult)
    )
    return Report(bool(conforms), tuple(messages), str(text))
