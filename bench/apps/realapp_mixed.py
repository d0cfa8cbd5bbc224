"""The real-app mixed scenario for servers that take one ASGI app (uvicorn, granian): the
Django site (``realapp_wsgi``) at ``/legacy`` through ``a2wsgi.WSGIMiddleware`` and the
FastAPI app (``realapp_asgi``) at ``/api``, in one Starlette app, as people combine them
today. amphicorn mounts the two apps itself (``--mount /legacy=wsgi:realapp_wsgi:app
--mount /api=asgi:realapp_asgi:app``), and so does pyvoy (``--additional-mount``).

``A2WSGI_WORKERS`` (default 8) sizes the bridge's thread pool, as for the hello apps.
"""

import realapp_asgi
import realapp_wsgi
from a2wsgi import WSGIMiddleware
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette_routes import WORKERS

app = Starlette(
    routes=[
        Mount("/legacy", app=WSGIMiddleware(realapp_wsgi.app, workers=WORKERS)),
        Mount("/api", app=realapp_asgi.app),
    ]
)
