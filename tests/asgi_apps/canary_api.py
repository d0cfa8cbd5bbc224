"""The new service of the canary tests (tests/test_canary.py): a FastAPI app that answers
the old Django site's ``/where/`` in its own words, and can be told to fail.

``PUT /_fail?every=N`` makes every Nth ``/where/`` answer a 500 from then on (1: all of them),
``DELETE /_fail`` stops that. Reached at the canary's own mount (``/_next/_fail``).
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
_failing = {"every": 0}
_answers = itertools.count(1)


@app.get("/where/")
async def where(request: Request) -> JSONResponse:
    every = _failing["every"]
    if every and next(_answers) % every == 0:
        return JSONResponse({"app": "fastapi", "error": "switched to fail"}, status_code=500)
    return JSONResponse({"app": "fastapi", "root_path": request.scope["root_path"], "path": request.url.path})


@app.put("/_fail")
async def fail(every: int = 1) -> dict[str, int]:
    _failing["every"] = every
    return {"every": every}


@app.delete("/_fail")
async def recover() -> dict[str, int]:
    _failing["every"] = 0
    return {"every": 0}
