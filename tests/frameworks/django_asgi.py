"""Django over ASGI through Channels: a ``ProtocolTypeRouter`` whose ``http`` branch is a
Channels ``URLRouter`` with an ``AsyncHttpConsumer`` for the streamed response and Django's
own ASGI handler (the views of ``django_app``) for everything else."""

from channels.generic.http import AsyncHttpConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path, re_path

from frameworks import django_app

django_app.NAME = "Django ASGI + Channels"
# /stream is Channels' alone here: should its router miss the path (under a mount prefix, say),
# the request gets Django's 404 instead of Django's own streaming view.
django_app.urlpatterns.remove(django_app.STREAM_ROUTE)


class StreamConsumer(AsyncHttpConsumer):
    """Channels' own HTTP consumer: the head, then the body in pieces."""

    async def handle(self, body):
        await self.send_headers(headers=[(b"content-type", b"text/plain")])
        for i in range(10):
            await self.send_body(f"line {i}\n".encode(), more_body=True)
        await self.send_body(b"")


application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("stream", StreamConsumer.as_asgi()),
                re_path(r"", get_asgi_application()),
            ]
        ),
    }
)
