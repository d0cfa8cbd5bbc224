"""How people serve WSGI and ASGI together today: a Starlette app that mounts the WSGI app
through ``a2wsgi.WSGIMiddleware`` (and, for the mixed scenario, the ASGI app beside it).
Run by uvicorn (and granian's ASGI interface) in the ``uvicorn+a2wsgi`` / ``granian+a2wsgi``
rows. ``wsgi`` and ``mixed`` are described in ``starlette_routes.py``.
"""

from a2wsgi import WSGIMiddleware
from starlette_routes import WORKERS, build

wsgi, mixed = build(lambda app: WSGIMiddleware(app, workers=WORKERS))
