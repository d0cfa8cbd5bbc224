"""The Starlette apps of ``starlette_app.py`` with ``amphicorn.WSGIMiddleware`` in place of
a2wsgi's, for the ``uvicorn+amphicorn.WSGIMiddleware`` rows: the same uvicorn, the same
Starlette ``Mount``, only the WSGI bridge differs. Run by the Python that has amphicorn.

- ``wsgi``:  the WSGI app alone, mounted at the root (the WSGI scenarios).
- ``mixed``: the WSGI app at ``/legacy`` and the ASGI app at ``/api`` (the mixed scenario).
"""

import os

import asgi_app
import wsgi_app
from amphicorn import WSGIMiddleware
from starlette.applications import Starlette
from starlette.routing import Mount

#: As for a2wsgi in ``starlette_app.py`` (that module imports a2wsgi, which this Python may lack).
WORKERS = int(os.environ.get("A2WSGI_WORKERS", "8"))

wsgi = Starlette(routes=[Mount("/", app=WSGIMiddleware(wsgi_app.app, threads=WORKERS))])
mixed = Starlette(
    routes=[
        Mount("/legacy", app=WSGIMiddleware(wsgi_app.app, threads=WORKERS)),
        Mount("/api", app=asgi_app.app),
    ]
)
