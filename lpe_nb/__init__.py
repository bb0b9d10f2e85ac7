"""lpe-nb: Jupyter-native asynchronous jobs for long-running LLM work."""

from lpe_nb._version import __version__

__all__ = ["__version__"]
