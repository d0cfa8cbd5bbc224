"""Django in one module: settings, views and URLconf, with ``reverse`` for the link (it adds
``SCRIPT_NAME``, which Django's WSGI and ASGI handlers set from the mount). ``django_asgi``
serves the same views through Channels.

No database and no CSRF middleware: the form view is a plain POST echo, so the row tests the
server and the framework rather than the project's set-up.
"""

import hashlib

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="amphicorn-frameworks-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=["channels"],
    DATA_UPLOAD_MAX_MEMORY_SIZE=2 * 1024 * 1024,
    USE_TZ=True,
)

import django  # noqa: E402

django.setup()

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path, reverse  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

NAME = "Django"


@require_GET
def hello(request):
    return HttpResponse(f"Hello from {NAME}", content_type="text/plain")


@require_GET
def query(request):
    return JsonResponse({"name": request.GET["name"], "city": request.GET["city"]})


@require_POST
def form(request):
    return JsonResponse({"name": request.POST["name"], "message": request.POST["message"]})


@require_POST
def upload(request):
    data = request.body
    return JsonResponse({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


@require_GET
def stream(request):
    return StreamingHttpResponse((f"line {i}\n" for i in range(10)), content_type="text/plain")


@require_GET
def links(request):
    return JsonResponse({"hello": reverse("hello")})


STREAM_ROUTE = path("stream", stream)

urlpatterns = [
    path("hello", hello, name="hello"),
    path("query", query),
    path("form", form),
    path("upload", upload),
    STREAM_ROUTE,
    path("links", links),
]


def _wsgi():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


application = _wsgi()
