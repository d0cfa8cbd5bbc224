"""The real-app Starlette apps of ``realapp_mixed`` with ``amphicorn.WSGIMiddleware`` in
place of a2wsgi's, for the ``uvicorn+amphicorn.WSGIMiddleware`` rows: ``app`` (= ``mixed``)
and ``wsgi``. Run by the Python that has amphicorn, which may lack a2wsgi.
"""

from amphicorn import WSGIMiddleware
from realapp_routes import build
from starlette_routes import WORKERS

wsgi, mixed = build(lambda app: WSGIMiddleware(app, threads=WORKERS))
app = mixed
