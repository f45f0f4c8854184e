"""exwatch agent: watches one Exchange host and streams what it sees to the collector."""

__version__ = "0.1.0"
