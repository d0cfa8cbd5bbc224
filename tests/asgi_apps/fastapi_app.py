"""A FastAPI service: path/query params, a dependency with ``yield``, a background task, lifespan
state, a JSON body and a streamed response. ``ASGI_TEST_MARKER`` (env) receives lifespan events;
``?record=PATH`` receives per-request events (dependency teardown, background task).
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from asgi_apps._util import record

MARKER = os.environ.get("ASGI_TEST_MARKER")


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.started = "app.state set in lifespan"
    record(MARKER, "startup")
    yield {"greeting": "state yielded by lifespan"}
    record(MARKER, "shutdown")


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


async def session(record_path: str | None = None):
    """A dependency with teardown: the code after ``yield`` must run for every request."""
    record(record_path, "dependency setup")
    try:
        yield {"session": "open"}
    finally:
        record(record_path, "dependency teardown")


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None, limit: int = 10):
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "price_with_tax": round(item.price * 1.2, 2), "tags": item.tags}


@app.get("/with-dependency")
async def with_dependency(db=Depends(session)):  # noqa: B008 - FastAPI's idiom
    return {"db": db}


@app.get("/missing")
async def missing():
    raise HTTPException(status_code=404, detail="no such thing")


async def slow_task(record_path: str, delay: float) -> None:
    await asyncio.sleep(delay)
    record(record_path, "background task ran")


@app.post("/background")
async def background(record_path: str, tasks: BackgroundTasks, delay: float = 0.5):
    tasks.add_task(slow_task, record_path, delay)
    return {"queued": True}


@app.get("/state")
async def state(request: Request):
    return {"greeting": request.state.greeting, "started": request.app.state.started}


@app.get("/stream")
async def stream(count: int = 5):
    async def lines():
        for i in range(count):
            yield f"line {i}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/sync")
def sync_route(value: str = "x"):
    """A plain ``def`` route: FastAPI runs it in a worker thread."""
    return {"value": value}
