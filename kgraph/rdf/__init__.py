"""kgraph as RDF: the ontology, conversion of a bundle's graph, the embedded SPARQL store.

::

    from kgraph.rdf.convert import turtle_bytes, iter_statements
    from kgraph.rdf.store import ensure_store, open_store
    from kgraph.rdf.queries import canned_queries, run_canned

Modules: :mod:`.namespaces` (vocabularies, data IRIs), :mod:`.convert` (graph -> N-Quads
statements and every serialisation), :mod:`.store` (the bundle's Oxigraph store),
:mod:`.queries` (SPARQL queries, the canned ``.rq`` questions, result formatting).
"""
