"""kgraph: a knowledge graph of ML papers and their methods, datasets, metrics, tasks and code."""

__version__ = "0.1.0"
