"""The real-app Starlette apps (``realapp_routes``) with ``a2wsgi.WSGIMiddleware`` as the
WSGI bridge: ``app`` (= ``mixed``, Django at ``/legacy`` + FastAPI at ``/api``) and ``wsgi``
(Django alone). ``A2WSGI_WORKERS`` (default 8) sizes the bridge's thread pool.
"""

from a2wsgi import WSGIMiddleware
from realapp_routes import build
from starlette_routes import WORKERS

wsgi, mixed = build(lambda app: WSGIMiddleware(app, workers=WORKERS))
app = mixed
