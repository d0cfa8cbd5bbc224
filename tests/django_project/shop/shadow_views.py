"""Views of the old site for the shadow tests (tests/test_shadow.py): each answers one
``compare/<case>/`` URL that the new FastAPI service (tests/asgi_apps/shadow_api.py) answers
alike or not, as the case's name says."""

import uuid

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

ITEMS = {"items": [{"id": 1, "price": 10}, {"id": 2, "price": 12}], "total": 22}
TEXT = "text/plain; charset=utf-8"


def compare(request, case):
    """``same`` (with a random ``X-Request-Id``), ``json``, ``reordered``, ``status``,
    ``header``, ``text`` and ``slow``; POST too (without CSRF), for the method checks."""
    if case in ("json", "reordered"):
        return JsonResponse(ITEMS)
    if case == "status":
        return JsonResponse({"ok": True})
    if case == "header":
        response = HttpResponse("same body", content_type=TEXT)
        response["X-Version"] = "1"
        return response
    if case == "text":
        return HttpResponse("hello world", content_type=TEXT)
    response = HttpResponse(f"{case} answer", content_type=TEXT)
    response["X-Request-Id"] = str(uuid.uuid4())
    return response


compare = csrf_exempt(compare)
