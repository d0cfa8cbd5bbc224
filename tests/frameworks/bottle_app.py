"""Bottle: a ``Bottle()`` app, its ``request`` and ``get_url`` (which adds ``SCRIPT_NAME``)."""

import hashlib

from bottle import Bottle, request, response

app = Bottle()


@app.get("/hello", name="hello")
def hello():
    response.content_type = "text/plain"
    return "Hello from Bottle"


@app.get("/query")
def query():
    return {"name": request.query.getunicode("name"), "city": request.query.getunicode("city")}


@app.post("/form")
def form():
    return {"name": request.forms.getunicode("name"), "message": request.forms.getunicode("message")}


@app.post("/upload")
def upload():
    data = request.body.read()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.get("/stream")
def stream():
    response.content_type = "text/plain"
    return (f"line {i}\n" for i in range(10))


@app.get("/links")
def links():
    return {"hello": app.get_url("hello")}
