"""A module that exists but imports a missing dependency (not the same as a missing module)."""

import amphicorn_tests_missing_dependency_q9  # noqa: F401


def app(environ, start_response):  # pragma: no cover - never reached
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
