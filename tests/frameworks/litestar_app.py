"""Litestar: route handlers with typed query parameters, a URL-encoded ``Body``, the
``Request`` for the raw body, ``Stream`` and ``request.url_for``."""

import hashlib
from typing import Annotated

from litestar import Litestar, MediaType, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Stream


@get("/hello", name="hello", media_type=MediaType.TEXT)
async def hello() -> str:
    return "Hello from Litestar"


@get("/query")
async def query(name: str, city: str) -> dict[str, str]:
    return {"name": name, "city": city}


@post("/form", status_code=200)
async def form(
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> dict[str, str]:
    return {"name": data["name"], "message": data["message"]}


@post("/upload", status_code=200)
async def upload(request: Request) -> dict[str, object]:
    data = await request.body()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@get("/stream")
async def stream() -> Stream:
    async def lines():
        for i in range(10):
            yield f"line {i}\n"

    return Stream(lines(), media_type=MediaType.TEXT)


@get("/links")
async def links(request: Request) -> dict[str, str]:
    return {"hello": request.url_for("hello")}


app = Litestar([hello, query, form, upload, stream, links])
