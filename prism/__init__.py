"""Prism: agentic Marketing Mix Modeling with three independent models and six checking agents."""

__version__ = "0.1.0"
