"""The two Starlette apps the Starlette-based peers serve, built around whichever WSGI bridge
the peer uses, so those peers differ in the bridge and nothing else:

- ``wsgi``:  the WSGI app alone, mounted at the root (the WSGI scenarios);
- ``mixed``: the WSGI app at ``/legacy`` and the ASGI app at ``/api`` (the mixed scenario).

``A2WSGI_WORKERS`` (default 8) sizes the bridge's thread pool, the same as every other
server's WSGI thread count in the benchmark.
"""

import os
from collections.abc import Callable
from typing import Any

import asgi_app
import wsgi_app
from starlette.applications import Starlette
from starlette.routing import Mount

WORKERS = int(os.environ.get("A2WSGI_WORKERS", "8"))


def build(bridge: Callable[[Any], Any]) -> tuple[Starlette, Starlette]:
    """``(wsgi, mixed)``, each WSGI mount made by ``bridge(wsgi_app.app)``."""
    wsgi = Starlette(routes=[Mount("/", app=bridge(wsgi_app.app))])
    mixed = Starlette(routes=[Mount("/legacy", app=bridge(wsgi_app.app)), Mount("/api", app=asgi_app.app)])
    return wsgi, mixed
