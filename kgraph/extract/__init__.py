"""spaCy components that find entities in a paper's title and abstract."""
