"""Quart: Flask's idioms on asyncio (``request.args``, ``await request.form``,
``await request.get_data()``, an async generator response, ``url_for``)."""

import hashlib

from quart import Quart, Response, jsonify, request, url_for

app = Quart(__name__)


@app.get("/hello")
async def hello():
    return Response("Hello from Quart", mimetype="text/plain")


@app.get("/query")
async def query():
    return jsonify(name=request.args["name"], city=request.args["city"])


@app.post("/form")
async def form():
    fields = await request.form
    return jsonify(name=fields["name"], message=fields["message"])


@app.post("/upload")
async def upload():
    data = await request.get_data()
    return jsonify(length=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.get("/stream")
async def stream():
    async def lines():
        for i in range(10):
            yield f"line {i}\n".encode()

    return lines(), {"Content-Type": "text/plain"}


@app.get("/links")
async def links():
    return jsonify(hello=url_for("hello"))
