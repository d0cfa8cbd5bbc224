"""A Starlette app that mounts WSGI apps with ``amphicorn.WSGIMiddleware``, behind a pure ASGI
middleware that sets a context variable the WSGI side must see."""

from __future__ import annotations

from apps.bridged import app as bridged_app
from apps.bridged import flask_app, request_tag
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route


class TagRequests:
    """Sets ``request_tag`` for the duration of each request, as tracing middleware does."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        token = request_tag.set(f"tagged {scope['type']} {scope.get('path')}")
        try:
            await self.app(scope, receive, send)
        finally:
            request_tag.reset(token)


async def home(request):
    return PlainTextResponse("starlette home")


app = Starlette(
    routes=[Route("/", home), Mount("/legacy", app=bridged_app), Mount("/flask", app=flask_app)],
    middleware=[Middleware(TagRequests)],
)
