"""The real-app Starlette apps of the servers that take one ASGI app (uvicorn, granian),
built around whichever WSGI bridge the peer uses, so those peers differ in the bridge alone
(as ``starlette_routes`` does for the hellos):

- ``wsgi``:  the Django site (``realapp_wsgi``) alone, mounted at the root;
- ``mixed``: the Django site at ``/legacy`` and the FastAPI app (``realapp_asgi``) at
  ``/api``, as people combine them today.

amphicorn mounts the two apps itself (``--mount /legacy=wsgi:realapp_wsgi:app --mount
/api=asgi:realapp_asgi:app``), and so does pyvoy (``--additional-mount``).
"""

from collections.abc import Callable
from typing import Any

import realapp_asgi
import realapp_wsgi
from starlette.applications import Starlette
from starlette.routing import Mount


def build(bridge: Callable[[Any], Any]) -> tuple[Starlette, Starlette]:
    """``(wsgi, mixed)``, each Django mount made by ``bridge(realapp_wsgi.app)``."""
    wsgi = Starlette(routes=[Mount("/", app=bridge(realapp_wsgi.app))])
    mixed = Starlette(routes=[Mount("/legacy", app=bridge(realapp_wsgi.app)), Mount("/api", app=realapp_asgi.app)])
    return wsgi, mixed
