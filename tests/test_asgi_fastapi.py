"""A FastAPI service under amphicorn (asgi_apps.fastapi_app)."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
from conftest import start_server
from support import RawConnection, wait_for_file

APP = "asgi_apps.fastapi_app:app"


@pytest.fixture(scope="module")
def lifespan_marker(tmp_path_factory):
    return tmp_path_factory.mktemp("fastapi") / "lifespan.txt"


@pytest.fixture(scope="module")
def server(lifespan_marker):
    server = start_server(APP, env={"ASGI_TEST_MARKER": str(lifespan_marker)})
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_path_and_query_parameters(client):
    response = client.get("/items/42", params={"q": "caf\xe9 & more", "limit": "3"})
    assert response.status_code == 200
    assert response.json() == {"item_id": 42, "q": "caf\xe9 & more", "limit": 3}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))


def test_validation_error_is_422(client):
    response = client.get("/items/not-a-number")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_http_exception_and_unknown_route(client):
    assert client.get("/missing").json() == {"detail": "no such thing"}
    assert client.get("/missing").status_code == 404
    assert client.get("/no/such/route").status_code == 404


def test_json_body(client):
    response = client.post("/items", json={"name": "widget", "price": 10.0, "tags": ["a", "b"]})
    assert response.status_code == 200
    assert response.json() == {"name": "widget", "price_with_tax": 12.0, "tags": ["a", "b"]}
    assert client.post("/items", json={"name": "no price"}).status_code == 422


def test_large_json_body(client):
    tags = [f"tag-{i:06d}" for i in range(40_000)]  # ~560 KiB: several http.request messages
    response = client.post("/items", json={"name": "big", "price": 1.0, "tags": tags})
    assert response.status_code == 200
    assert response.json()["tags"] == tags


def test_dependency_with_yield_runs_its_teardown(client, tmp_path):
    path = tmp_path / "dep.txt"
    response = client.get(f"/with-dependency?record_path={quote(str(path))}")
    assert response.status_code == 200
    assert response.json() == {"db": {"session": "open"}}
    text = wait_for_file(path, lambda text: "teardown" in text, timeout=5)
    assert text == "dependency setup\ndependency teardown\n"


def test_background_task_runs_after_the_response(client, tmp_path):
    path = tmp_path / "bg.txt"
    started = time.monotonic()
    response = client.post("/background", params={"record_path": str(path), "delay": "1.5"})
    answered = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {"queued": True}
    assert answered < 1.0, f"the response waited {answered:.2f}s for the background task"
    assert not path.exists()
    assert wait_for_file(path, lambda text: "ran" in text, timeout=5) == "background task ran\n"


def _stop_after_a_background_task(serve, tmp_path, graceful: str, delay: str):
    """Queues a background task of `delay` seconds, then stops the server (SIGTERM, exit 0);
    returns the task's record file, the seconds the stop took, and the server's log."""
    server = serve(APP, "--timeout-graceful-shutdown", graceful)
    path = tmp_path / "bg.txt"
    response = httpx.post(f"{server.url}/background", params={"record_path": str(path), "delay": delay}, timeout=10)
    assert response.json() == {"queued": True}
    started = time.monotonic()
    assert server.stop(timeout=15) == 0
    return path, time.monotonic() - started, server.stderr()


def test_a_stop_lets_the_last_responses_background_task_finish(serve, tmp_path):
    """The drain ends with the last connection; the app's task may still be at work (uvicorn
    waits for its request tasks too). It gets the rest of the graceful timeout, not a cancel."""
    path, took, log = _stop_after_a_background_task(serve, tmp_path, graceful="20", delay="1.5")
    assert path.read_text() == "background task ran\n", log
    assert took < 10
    assert "cancelled" not in log


def test_a_background_task_that_outlives_the_graceful_timeout_is_cancelled_with_a_warning(serve, tmp_path):
    path, took, log = _stop_after_a_background_task(serve, tmp_path, graceful="1", delay="60")
    assert took < 6
    assert "ASGI app tasks still running after the graceful timeout (1s) are cancelled: 1" in log
    assert not path.exists()


def test_lifespan_state_and_app_state(client, lifespan_marker):
    assert client.get("/state").json() == {
        "greeting": "state yielded by lifespan",
        "started": "app.state set in lifespan",
    }
    assert lifespan_marker.read_text() == "startup\n"


def test_streaming_response(server):
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/stream?count=50")
    assert response.status == 200
    assert response.chunked
    assert response.complete
    assert response.body.decode() == "".join(f"line {i}\n" for i in range(50))


def test_sync_route_in_a_thread(client):
    assert client.get("/sync", params={"value": "threaded"}).json() == {"value": "threaded"}


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()
    assert "/items/{item_id}" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_head_request(server):
    with RawConnection.to(server) as conn:
        response = conn.request("HEAD", "/items/1")
        assert response.status in (200, 405)
        assert conn.request("GET", "/items/1").status == 200


def test_lifespan_shutdown_runs_on_sigterm(tmp_path):
    marker = tmp_path / "lifespan.txt"
    server = start_server(APP, env={"ASGI_TEST_MARKER": str(marker)})
    try:
        with httpx.Client(timeout=10) as client:
            assert client.get(server.url + "/state").status_code == 200
    finally:
        code = server.stop()
    assert code == 0
    assert marker.read_text() == "startup\nshutdown\n"
