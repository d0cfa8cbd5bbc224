"""How people serve WSGI and ASGI together today: a Starlette app that mounts the WSGI app
through ``a2wsgi.WSGIMiddleware`` (and, for the mixed scenario, the ASGI app beside it).
Run by uvicorn (and granian's ASGI interface) in the ``uvicorn+a2wsgi`` / ``granian+a2wsgi``
rows.

- ``wsgi``:  the WSGI app alone, mounted at the root (the WSGI scenarios).
- ``mixed``: the WSGI app at ``/legacy`` and the ASGI app at ``/api`` (the mixed scenario).

``A2WSGI_WORKERS`` (default 8) sizes a2wsgi's thread pool, the same as every other server's
WSGI thread count in the benchmark.
"""

import os

import asgi_app
import wsgi_app
from a2wsgi import WSGIMiddleware
from starlette.applications import Starlette
from starlette.routing import Mount

WORKERS = int(os.environ.get("A2WSGI_WORKERS", "8"))

wsgi = Starlette(routes=[Mount("/", app=WSGIMiddleware(wsgi_app.app, workers=WORKERS))])
mixed = Starlette(
    routes=[
        Mount("/legacy", app=WSGIMiddleware(wsgi_app.app, workers=WORKERS)),
        Mount("/api", app=asgi_app.app),
    ]
)
