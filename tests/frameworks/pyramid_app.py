"""Pyramid: a ``Configurator`` with routes, ``view_config``-style views, the JSON renderer and
``request.route_url``."""

import hashlib

from pyramid.config import Configurator
from pyramid.response import Response


def hello(request):
    return Response("Hello from Pyramid", content_type="text/plain")


def query(request):
    return {"name": request.GET["name"], "city": request.GET["city"]}


def form(request):
    return {"name": request.POST["name"], "message": request.POST["message"]}


def upload(request):
    data = request.body
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def stream(request):
    return Response(app_iter=(f"line {i}\n".encode() for i in range(10)), content_type="text/plain")


def links(request):
    return {"hello": request.route_url("hello")}


def make_app():
    with Configurator() as config:
        for name, method, view, renderer in [
            ("hello", "GET", hello, None),
            ("query", "GET", query, "json"),
            ("form", "POST", form, "json"),
            ("upload", "POST", upload, "json"),
            ("stream", "GET", stream, None),
            ("links", "GET", links, "json"),
        ]:
            config.add_route(name, f"/{name}", request_method=method)
            config.add_view(view, route_name=name, renderer=renderer)
        return config.make_wsgi_app()


app = make_app()
