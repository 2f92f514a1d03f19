"""The interactive HTML explorer (``kgraph view``): one offline page drawn by vis-network.

::

    from kgraph.view import render_html, write_html
    html = render_html(graph, focus="DPO", depth=2, types=["paper", "method", "dataset"])

:mod:`.select` picks the nodes (ego view, types, minimum papers, a node budget) and records
what it leaves out; :mod:`.layout` places them (force-directed, in Python); :mod:`.render`
writes the page from ``template.html`` with pyvis's ``vis-network.min.js`` inlined.
"""

from __future__ import annotations

from .render import graph_html_bytes, render_html, render_selection, write_html
from .select import NODE_TYPES, NoSuchNode, Selection, find_node, parse_types, select

__all__ = [
    "NODE_TYPES",
    "NoSuchNode",
    "Selection",
    "find_node",
    "graph_html_bytes",
    "parse_types",
    "render_html",
    "render_selection",
    "select",
    "write_html",
]
