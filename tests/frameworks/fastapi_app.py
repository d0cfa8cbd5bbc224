"""FastAPI: path operations with typed query and ``Form`` parameters, the ``Request`` for the
raw body, ``StreamingResponse`` and ``request.url_for`` (which honours ``root_path``)."""

import hashlib
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

app = FastAPI()


@app.get("/hello", response_class=PlainTextResponse)
async def hello():
    return "Hello from FastAPI"


@app.get("/query")
async def query(name: str, city: str):
    return {"name": name, "city": city}


@app.post("/form")
async def form(name: Annotated[str, Form()], message: Annotated[str, Form()]):
    return {"name": name, "message": message}


@app.post("/upload")
async def upload(request: Request):
    data = await request.body()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.get("/stream")
async def stream():
    async def lines():
        for i in range(10):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/links")
async def links(request: Request):
    return {"hello": str(request.url_for("hello"))}
