"""The new service: FastAPI, mounted by amphicorn at ``/api`` (``api.main:app``).

The routes are written without the prefix. amphicorn follows the ASGI spec for mounts: the scope
carries ``root_path="/api"`` and the full ``path`` (``/api/items/3``); Starlette routes on the
part after ``root_path``, and FastAPI puts ``root_path`` into the URLs it generates (``url_for``,
the docs page, the OpenAPI ``servers`` list), so nothing here needs to know where it is mounted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TypedDict

from fastapi import APIRouter, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel


class Item(BaseModel):
    id: int
    name: str
    price: float


class State(TypedDict):
    started_at: str
    catalogue: dict[int, Item]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    # Runs once when amphicorn starts (ASGI lifespan), before the port accepts requests. What
    # is yielded here is copied into every request's ``request.state``. A real service would
    # open its database pool or HTTP client here and close it after the ``yield``.
    catalogue = {
        1: Item(id=1, name="teapot", price=18.5),
        2: Item(id=2, name="kettle", price=32.0),
        3: Item(id=3, name="toaster", price=24.9),
    }
    yield {"started_at": datetime.now(timezone.utc).isoformat(), "catalogue": catalogue}


#: The service's routes; ``api.next`` (the next release, during a migration) serves them too.
router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, object]:
    return {
        "status": "ok",
        "started_at": request.state.started_at,
        "items": len(request.state.catalogue),
        "root_path": request.scope.get("root_path", ""),
    }


@router.get("/items/{item_id}", name="read_item")
async def read_item(item_id: int, request: Request) -> dict[str, object]:
    item = request.state.catalogue.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    return {**item.model_dump(), "url": str(request.url_for("read_item", item_id=item_id))}


@router.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


app = FastAPI(title="Mixed example API", version="1.0", lifespan=lifespan)
app.include_router(router)
