"""``kgraph serve``: a read-only SPARQL 1.1 endpoint, Linked Data pages and the explorer.

::

    from kgraph.serve import serve_bundle
    serve_bundle("graphs/seeds", port=8000)      # until Ctrl-C

Modules: :mod:`.negotiate` (Accept and ``format=``), :mod:`.results` (SPARQL results formats),
:mod:`.engine` (queries and resource descriptions, run in workers), :mod:`.worker` (worker
processes with a time bound), :mod:`.pages` (escaped HTML), :mod:`.app` (the WSGI app),
:mod:`.server` (the threading HTTP server). Imports stay light: pyoxigraph is loaded by the
modules that need it.
"""

from __future__ import annotations

from .bundle_server import ServeError, open_bundle_server, serve_bundle

__all__ = ["ServeError", "open_bundle_server", "serve_bundle"]
