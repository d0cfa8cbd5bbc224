"""amphicorn: an HTTP server for Python written in Rust.

One process, one tokio/hyper event loop; WSGI apps run on a bounded pool of Python threads
with streamed ``wsgi.input``. Use the ``amphicorn`` command, or :func:`run` to embed it.
"""

from amphicorn._amphicorn import ClientDisconnected, FileWrapper
from amphicorn._amphicorn import __version__ as __version__
from amphicorn.config import Config, ConfigError
from amphicorn.server import run

__all__ = ["ClientDisconnected", "Config", "ConfigError", "FileWrapper", "__version__", "run"]
