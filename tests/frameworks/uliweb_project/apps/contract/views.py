"""Uliweb views: ``@expose`` routes, Uliweb's (Werkzeug) ``request``, the ``json`` helper,
``Response`` with a generator for streaming and ``url_for`` (which carries ``SCRIPT_NAME``)."""

import hashlib

from uliweb import Response, expose, json, request, url_for


@expose("/hello")
def hello():
    return Response("Hello from Uliweb3", content_type="text/plain")


@expose("/query")
def query():
    return json({"name": request.GET["name"], "city": request.GET["city"]})


@expose("/form", methods=["POST"])
def form():
    return json({"name": request.POST["name"], "message": request.POST["message"]})


@expose("/upload", methods=["POST"])
def upload():
    data = request.get_data()
    return json({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


@expose("/stream")
def stream():
    return Response((f"line {i}\n" for i in range(10)), content_type="text/plain")


@expose("/links")
def links():
    return json({"hello": url_for(hello)})
