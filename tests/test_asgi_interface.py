"""Which interface an app is served with (detection, asgi:/wsgi: prefixes, --interface),
--factory, and the event loop (--loop auto|asyncio|uvloop)."""

from __future__ import annotations

import pytest
from support import RawConnection


def body_of(server, path: str = "/") -> str:
    with RawConnection.to(server) as conn:
        response = conn.request("GET", path)
    assert response.status == 200, response
    return response.body.decode()


@pytest.mark.parametrize(
    ("spec", "args", "expected"),
    [
        ("asgi_apps.detect:coroutine_function", (), "asgi-function"),
        ("asgi_apps.detect:instance", (), "asgi-instance"),
        ("asgi_apps.detect:wsgi_app", (), "wsgi"),
        ("asgi:asgi_apps.detect:hidden_coroutine", (), "asgi-forced"),
        ("asgi_apps.detect:hidden_coroutine", ("--interface", "asgi"), "asgi-forced"),
        ("wsgi:asgi_apps.detect:wsgi_app", (), "wsgi"),
        ("asgi_apps.detect:wsgi_app", ("--interface", "wsgi"), "wsgi"),
        ("asgi_apps.detect:factory", ("--factory",), "asgi-factory"),
        ("asgi_apps.detect:factory()", (), "asgi-factory"),
        ("asgi:asgi_apps.detect:factory()", (), "asgi-factory"),
        ("asgi_apps.detect:wsgi_factory", ("--factory",), "wsgi"),
        ("asgi_apps.fastapi_app:app", (), "fastapi"),
        ("asgi_apps.starlette_app:app", (), "starlette"),
    ],
)
def test_interface_detection_and_forcing(serve, spec, args, expected):
    server = serve(spec, *args)
    kind = "WSGI" if expected == "wsgi" else "ASGI"
    assert server.wait_for_stderr(f"Serving {kind} app"), server.stderr()
    line = next(line for line in server.stderr().splitlines() if f"Serving {kind} app" in line)
    assert spec.removeprefix("asgi:").removeprefix("wsgi:") in line
    if expected == "fastapi":
        with RawConnection.to(server) as conn:
            assert conn.request("GET", "/items/3").status == 200
    elif expected == "starlette":
        assert body_of(server) == "starlette home"
    elif expected == "wsgi":
        assert body_of(server) == "wsgi http"
    else:
        assert body_of(server).split()[0] == expected


def test_a_plain_function_returning_a_coroutine_is_detected_as_wsgi(serve):
    server = serve("asgi_apps.detect:hidden_coroutine")
    assert server.wait_for_stderr("Serving WSGI app")
    assert "Serving ASGI app" not in server.stderr()


@pytest.mark.parametrize(
    ("args", "loop"),
    [
        ((), "uvloop"),
        (("--loop", "auto"), "uvloop"),
        (("--loop", "uvloop"), "uvloop"),
        (("--loop", "asyncio"), "asyncio"),
    ],
)
def test_event_loop_choice(serve, args, loop):
    server = serve("asgi_apps.detect:coroutine_function", *args)
    assert body_of(server) == f"asgi-function {loop} other"
    assert server.wait_for_stderr(f"on the {loop} event loop"), server.stderr()
    line = next(line for line in server.stderr().splitlines() if "Serving ASGI app" in line)
    assert "asgi_apps.detect:coroutine_function" in line
    assert line.rstrip().endswith(f"on the {loop} event loop")


def test_loop_from_the_environment(serve):
    server = serve("asgi_apps.detect:coroutine_function", env={"AMPHICORN_LOOP": "asyncio"})
    assert body_of(server) == "asgi-function asyncio other"


@pytest.mark.parametrize(("flag", "value"), [("--loop", "trio"), ("--interface", "rsgi"), ("--lifespan", "sometimes")])
def test_bad_choices_are_usage_errors(run_cli, flag, value):
    result = run_cli("asgi_apps.detect:coroutine_function", flag, value, "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 2, result.stderr
    assert value in result.stderr
    assert "Listening on" not in result.stderr
