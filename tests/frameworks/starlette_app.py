"""Starlette: a ``Route`` table, ``request.query_params``, ``await request.form()``,
``await request.body()``, ``StreamingResponse`` and ``request.url_for``."""

import hashlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello from Starlette")


async def query(request):
    return JSONResponse({"name": request.query_params["name"], "city": request.query_params["city"]})


async def form(request):
    async with request.form() as fields:
        return JSONResponse({"name": fields["name"], "message": fields["message"]})


async def upload(request):
    data = await request.body()
    return JSONResponse({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


async def stream(request):
    async def lines():
        for i in range(10):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


async def links(request):
    return JSONResponse({"hello": str(request.url_for("hello"))})


app = Starlette(
    routes=[
        Route("/hello", hello, name="hello"),
        Route("/query", query),
        Route("/form", form, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/stream", stream),
        Route("/links", links),
    ]
)
