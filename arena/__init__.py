"""arena: rank language models by having strong models judge their answers."""

__version__ = "0.1.0"
