"""Falcon (WSGI): resources with ``on_get``/``on_post`` responders, ``req.get_param``,
``req.get_media`` for the form, ``resp.stream``. Falcon has no reverse routing, so the link is
built from ``req.prefix`` (scheme, host and the mount point)."""

import hashlib

import falcon


class Hello:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello from Falcon"


class Query:
    def on_get(self, req, resp):
        resp.media = {"name": req.get_param("name"), "city": req.get_param("city")}


class Form:
    def on_post(self, req, resp):
        fields = req.get_media()
        resp.media = {"name": fields["name"], "message": fields["message"]}


class Upload:
    def on_post(self, req, resp):
        data = req.bounded_stream.read()
        resp.media = {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class Stream:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = (f"line {i}\n".encode() for i in range(10))


class Links:
    def on_get(self, req, resp):
        resp.media = {"hello": f"{req.prefix}/hello"}


app = falcon.App()
app.add_route("/hello", Hello())
app.add_route("/query", Query())
app.add_route("/form", Form())
app.add_route("/upload", Upload())
app.add_route("/stream", Stream())
app.add_route("/links", Links())
