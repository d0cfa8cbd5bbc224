"""A module that raises while being imported (``apps.broken:app`` must exit 1 with this)."""


def _explode():
    raise RuntimeError("broken-at-import-marker 7f3a")


_explode()


def app(environ, start_response):  # pragma: no cover - never reached
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
