"""kgraph: a knowledge graph of ML papers, their methods, datasets, benchmarks, metrics, tasks and code."""

__version__ = "0.1.0"
