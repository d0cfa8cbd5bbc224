"""web.py: a ``urls`` table of classes with ``GET``/``POST``, ``web.input``, ``web.data``, a
generator ``GET`` for streaming and ``web.url`` (which prefixes ``web.ctx.homepath``)."""

import hashlib
import json

import web

urls = (
    "/hello",
    "Hello",
    "/query",
    "Query",
    "/form",
    "Form",
    "/upload",
    "Upload",
    "/stream",
    "Stream",
    "/links",
    "Links",
)


def as_json(value) -> str:
    web.header("Content-Type", "application/json")
    return json.dumps(value)


class Hello:
    def GET(self):
        web.header("Content-Type", "text/plain")
        return "Hello from web.py"


class Query:
    def GET(self):
        fields = web.input()
        return as_json({"name": fields.name, "city": fields.city})


class Form:
    def POST(self):
        fields = web.input()
        return as_json({"name": fields.name, "message": fields.message})


class Upload:
    def POST(self):
        data = web.data()
        return as_json({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


class Stream:
    def GET(self):
        web.header("Content-Type", "text/plain")
        for i in range(10):
            yield f"line {i}\n"


class Links:
    def GET(self):
        return as_json({"hello": web.url("/hello")})


app = web.application(urls, globals()).wsgifunc()
