"""The Starlette apps of ``starlette_app.py`` with ``amphicorn.WSGIMiddleware`` in place of
a2wsgi's, for the ``uvicorn+amphicorn.WSGIMiddleware`` rows: the same uvicorn, the same
Starlette ``Mount`` (``starlette_routes.py``), only the WSGI bridge differs. Run by the Python
that has amphicorn, which may lack a2wsgi.
"""

from amphicorn import WSGIMiddleware
from starlette_routes import WORKERS, build

wsgi, mixed = build(lambda app: WSGIMiddleware(app, threads=WORKERS))
