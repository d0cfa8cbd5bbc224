"""amphicorn: an HTTP server for Python written in Rust.

One process, one tokio/hyper event loop: WSGI apps run on their own bounded pools of Python
threads, ASGI apps on an asyncio loop, each mounted at its own path prefix. Use the
``amphicorn`` command, or :func:`run` to embed it.
"""

from amphicorn._amphicorn import ClientDisconnected, FileWrapper
from amphicorn._amphicorn import __version__ as __version__
from amphicorn.api import run
from amphicorn.config import Config, MountConfig
from amphicorn.errors import AmphicornError, ConfigError
from amphicorn.middleware import WSGIMiddleware

__all__ = [
    "AmphicornError",
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "FileWrapper",
    "MountConfig",
    "WSGIMiddleware",
    "__version__",
    "run",
]
