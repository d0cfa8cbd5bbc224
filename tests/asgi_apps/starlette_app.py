"""A Starlette app: routes, a streamed response, a FileResponse, request bodies and url_for.
``ASGI_TEST_FILE`` (env) names the file ``/file`` serves.
"""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


async def homepage(request: Request):
    return PlainTextResponse("starlette home")


async def user(request: Request):
    user_id = request.path_params["user_id"]
    return JSONResponse(
        {
            "user_id": user_id,
            "self": str(request.url_for("user", user_id=user_id)),
            "home": str(request.url_for("home")),
            "url": str(request.url),
            "query": dict(request.query_params),
        }
    )


async def echo(request: Request):
    body = await request.body()
    return JSONResponse({"length": len(body), "head": body[:32].decode("latin-1"), "type": request.method})


async def stream(request: Request):
    count = int(request.query_params.get("count", "5"))
    delay = float(request.query_params.get("delay", "0"))

    async def numbers():
        for i in range(count):
            if i and delay:
                await asyncio.sleep(delay)
            yield f"chunk {i};"

    return StreamingResponse(numbers(), media_type="text/plain")


async def download(request: Request):
    return FileResponse(os.environ["ASGI_TEST_FILE"], filename="data.bin", media_type="application/octet-stream")


app = Starlette(
    routes=[
        Route("/", homepage, name="home"),
        Route("/users/{user_id:int}", user, name="user"),
        Route("/echo", echo, methods=["POST", "PUT"]),
        Route("/stream", stream),
        Route("/file", download),
    ]
)
