"""The new service of the shadow tests (tests/test_shadow.py): a FastAPI app that answers the
old Django site's ``compare/<case>/`` URLs (tests/django_project/shop/shadow_views.py), alike
or not as each case's name says, and keeps a log of the requests it got.

``GET /_log`` (at its own mount, ``/_next/_log``) lists them (method, path and the
``X-Amphicorn-Shadow`` header); ``DELETE /_log`` empties the list.
"""

from __future__ import annotations

import asyncio
import uuid

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI()
_log: list[dict[str, str | None]] = []


@app.middleware("http")
async def keep_log(request: Request, call_next):  # type: ignore[no-untyped-def]
    if not request.url.path.endswith("/_log"):
        _log.append(
            {
                "method": request.method,
                "path": request.url.path,
                "shadow": request.headers.get("x-amphicorn-shadow"),
            }
        )
    return await call_next(request)


@app.api_route("/compare/{case}/", methods=["GET", "HEAD", "POST"])
async def compare(case: str) -> Response:
    if case == "json":
        return JSONResponse({"items": [{"id": 1, "price": 10}, {"id": 2, "price": 13}], "total": 23})
    if case == "reordered":
        # The same values as Django's, keys in another order, other whitespace.
        body = '{ "total": 22,\n  "items": [ {"price": 10, "id": 1}, {"price": 12, "id": 2} ] }'
        return Response(body, media_type="application/json")
    if case == "status":
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if case == "header":
        return PlainTextResponse("same body", headers={"X-Version": "2"})
    if case == "text":
        return PlainTextResponse("hello wurld")
    if case == "slow":
        await asyncio.sleep(2)
    return PlainTextResponse(f"{case} answer", headers={"X-Request-Id": str(uuid.uuid4())})


@app.get("/_log")
async def log() -> list[dict[str, str | None]]:
    return _log


@app.delete("/_log")
async def clear() -> dict[str, int]:
    _log.clear()
    return {"cleared": 1}
