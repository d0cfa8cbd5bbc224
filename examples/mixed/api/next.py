"""The next release of the service, during a migration (``migration/`` in this example):
everything ``api.main`` serves, plus ``/reports/{report_id}``, ported from Django's
``legacy.contact.views.report``. amphicorn mounts it at ``/_next`` and sends it a share of
``/api``'s requests (a weighted canary); it answers them at ``/api``, the prefix the client
asked for, so ``root_path`` is ``/api`` as for ``api.main``.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Response

from api.main import lifespan, router

app = FastAPI(title="Mixed example API", version="1.1", lifespan=lifespan)
app.include_router(router)


@app.get("/reports/{report_id}")
async def report(report_id: int, response: Response) -> dict[str, object]:
    """The same answer as the Django view it replaces (a JSON comparison would find none)."""
    if not 1 <= report_id <= 1000:
        raise HTTPException(status_code=404, detail=f"no report {report_id}")
    response.headers["X-Implementation"] = "fastapi"
    return {"id": report_id, "title": f"Report {report_id}", "total": report_id * 10}
