"""Werkzeug alone: a ``Map`` of ``Rule``s, ``Request``/``Response`` and ``MapAdapter.build``."""

import hashlib
import json

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

url_map = Map(
    [
        Rule("/hello", endpoint="hello", methods=["GET"]),
        Rule("/query", endpoint="query", methods=["GET"]),
        Rule("/form", endpoint="form", methods=["POST"]),
        Rule("/upload", endpoint="upload", methods=["POST"]),
        Rule("/stream", endpoint="stream", methods=["GET"]),
        Rule("/links", endpoint="links", methods=["GET"]),
    ]
)


def as_json(value) -> Response:
    return Response(json.dumps(value), mimetype="application/json")


def hello(request, urls):
    return Response("Hello from Werkzeug", mimetype="text/plain")


def query(request, urls):
    return as_json({"name": request.args["name"], "city": request.args["city"]})


def form(request, urls):
    return as_json({"name": request.form["name"], "message": request.form["message"]})


def upload(request, urls):
    data = request.get_data()
    return as_json({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def stream(request, urls):
    return Response((f"line {i}\n" for i in range(10)), mimetype="text/plain")


def links(request, urls):
    return as_json({"hello": urls.build("hello")})


VIEWS = {view.__name__: view for view in (hello, query, form, upload, stream, links)}


@Request.application
def app(request):
    urls = url_map.bind_to_environ(request.environ)
    try:
        endpoint, _ = urls.match()
    except HTTPException as error:
        return error
    return VIEWS[endpoint](request, urls)
