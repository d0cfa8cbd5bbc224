"""The flagship example, examples/mixed/: a Django site (WSGI) at ``/``, a FastAPI service (ASGI)
at ``/api`` and Django's collected static files at ``/static`` (a static mount, served by Rust)
in one amphicorn process from ``examples/mixed/amphicorn.toml``.

The server is started the way the example's README says (``python manage.py collectstatic
--noinput``, then ``amphicorn --config amphicorn.toml`` from ``examples/mixed/``), with
``--bind 127.0.0.1:0`` overriding the file's port, and a fresh sqlite path that is never
migrated: every page the example shows must work without a database.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from conftest import Server, start_server
from support import server_env
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "mixed"
CSRF_INPUT_RE = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"')


def start_example(env: dict[str, str]) -> Server:
    """``python manage.py collectstatic --noinput``, then ``amphicorn --config amphicorn.toml
    --bind 127.0.0.1:0`` in examples/mixed, once it listens."""
    collect_static(env)
    return start_server(None, "--config", "amphicorn.toml", env=env, cwd=EXAMPLE_DIR)


def collect_static(env: dict[str, str]) -> None:
    """``python manage.py collectstatic --noinput`` in examples/mixed, as its README says."""
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=EXAMPLE_DIR,
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collected.returncode == 0, f"collectstatic failed:\n{collected.stdout}\n{collected.stderr}"


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    """A sqlite path nobody has migrated (it does not even exist)."""
    return tmp_path_factory.mktemp("mixed") / "never-migrated.sqlite3"


@pytest.fixture(scope="module")
def server(database):
    server = start_example({"MIXED_EXAMPLE_DB": str(database)})
    yield server
    assert server.stop() == 0, server.stderr()
    assert "Traceback" not in server.stderr(), server.stderr()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_both_apps_are_mounted_from_the_file(server):
    # One listener only: the --bind flag replaced the file's 127.0.0.1:8000 instead of adding to it.
    assert server.urls == [server.url]
    assert server.port != 8000
    # The per-mount lines may trail the "Listening on" line.
    assert server.wait_for_stderr("WSGI app wsgi:legacy.wsgi:application at / with 8 threads"), server.stderr()
    assert server.wait_for_stderr("ASGI app asgi:api.main:app at /api "), server.stderr()
    static_root = EXAMPLE_DIR / "staticfiles"
    assert server.wait_for_stderr(f"Serving static files from {static_root} at /static, by Rust"), server.stderr()


def test_django_home_page_links_both_halves(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>The legacy site</h1>" in response.text
    assert 'SCRIPT_NAME=""' in response.text
    for href in ("/contact/", "/admin/", "/api/docs"):
        assert f'href="{href}"' in response.text


def test_admin_login_page_renders_without_a_migrated_database(client, database):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/login/?next=/admin/"

    response = client.get(response.headers["location"])
    assert response.status_code == 200, response.text
    assert "<title>Log in | Django site admin</title>" in response.text
    form = re.search(r'<form action="([^"]*)" method="post" id="login-form">(.*?)</form>', response.text, re.DOTALL)
    assert form, response.text
    assert unquote(form.group(1)) == "/admin/login/?next=/admin/"
    assert 'name="username"' in form.group(2)
    assert 'name="password"' in form.group(2)
    assert CSRF_INPUT_RE.search(form.group(2))
    assert "csrftoken" in response.cookies
    assert not database.exists(), "the login page touched the database"


def test_admin_static_files_are_served_by_the_static_mount(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert "--body-fg" in response.text
    # The static mount's headers (Django's own static view sends no ETag and no ranges).
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["accept-ranges"] == "bytes"
    assert (
        client.get("/static/admin/css/base.css", headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    )
    part = client.get("/static/admin/css/base.css", headers={"Range": "bytes=0-9"})
    assert (part.status_code, part.content) == (206, response.content[:10])


def test_admin_pages_link_hashed_names_that_are_cached_for_a_year(client):
    login = client.get("/admin/login/")
    hashed = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text)
    assert hashed, login.text
    response = client.get(hashed.group(1))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "--body-fg" in response.text


def test_contact_form_renders_with_a_csrf_token(client):
    response = client.get("/contact/")
    assert response.status_code == 200
    assert '<form method="post" action="/contact/" id="contact-form">' in response.text
    for field in ("name", "email", "copies", "message"):
        assert f'name="{field}"' in response.text
    token = CSRF_INPUT_RE.search(response.text)
    assert token, response.text
    assert len(token.group(1)) == 64
    assert len(response.cookies["csrftoken"]) == 32


def test_contact_form_post_echoes_the_cleaned_data(client, database):
    token = CSRF_INPUT_RE.search(client.get("/contact/").text).group(1)
    message = "Two kettles, please.\nOne <b>blue</b> & one red — merci!"
    response = client.post(
        "/contact/",
        data={
            "csrfmiddlewaretoken": token,
            "name": "  Zoë O'Brien  ",
            "email": "zoe@example.com",
            "copies": "03",
            "message": message,
        },
    )
    assert response.status_code == 200, response.text
    assert "<h1>Thank you, Zoë O&#x27;Brien</h1>" in response.text
    echoed = {
        key: html.unescape(value) for key, value in re.findall(r'<dd id="(\w+)">(.*?)</dd>', response.text, re.DOTALL)
    }
    # Cleaned, not raw: the name is stripped and "03" became the integer 3.
    assert echoed == {"name": "Zoë O'Brien", "email": "zoe@example.com", "copies": "3", "message": message}
    assert "<b>blue</b>" not in response.text, "the echo must be escaped"
    assert not database.exists()


def test_contact_form_invalid_post_shows_errors(client):
    token = CSRF_INPUT_RE.search(client.get("/contact/").text).group(1)
    response = client.post(
        "/contact/",
        data={"csrfmiddlewaretoken": token, "name": "x", "email": "not-an-email", "copies": "11", "message": "hi"},
    )
    assert response.status_code == 200
    assert "Enter a valid email address." in response.text
    assert "Ensure this value is less than or equal to 10." in response.text
    assert 'id="contact-form"' in response.text
    assert "Thank you" not in response.text


def test_contact_form_post_without_the_csrf_token_is_refused(server):
    with httpx.Client(base_url=server.url, timeout=10) as fresh:
        response = fresh.post("/contact/", data={"name": "x", "email": "x@example.com", "copies": "1", "message": "hi"})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_api_health_sees_the_lifespan_state(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["items"] == 3
    assert body["root_path"] == "/api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", body["started_at"]), body
    assert client.get("/api/health").json()["started_at"] == body["started_at"], "lifespan ran more than once"


def test_api_item_json_and_generated_url_carry_the_prefix(client, server):
    response = client.get("/api/items/3")
    assert response.status_code == 200
    assert response.json() == {"id": 3, "name": "toaster", "price": 24.9, "url": f"{server.url}/api/items/3"}

    missing = client.get("/api/items/99")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no item 99"}
    invalid = client.get("/api/items/three")
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_openapi_schema_and_docs_work_under_the_prefix(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Mixed example API"
    assert {"/health", "/items/{item_id}"} <= set(schema["paths"])
    assert schema["servers"] == [{"url": "/api"}]

    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "url: '/api/openapi.json'" in docs.text
    assert "swagger-ui" in docs.text


def test_the_prefix_boundary_decides_which_app_answers(client):
    # Under /api, FastAPI's JSON 404; outside it (including /apix and /openapi.json), Django's HTML 404.
    inside = client.get("/api/no/such/route")
    assert inside.status_code == 404
    assert inside.json() == {"detail": "Not Found"}
    for path in ("/apix", "/openapi.json", "/docs"):
        outside = client.get(path)
        assert outside.status_code == 404, path
        assert outside.headers["content-type"] == "text/html; charset=utf-8", path
        with pytest.raises(json.JSONDecodeError):
            outside.json()


def test_websocket_echoes_text_and_bytes(server):
    with connect(f"ws://{server.host}:{server.port}/api/ws", open_timeout=10, close_timeout=5) as websocket:
        for text in ("hello", "caf\xe9 \N{SNOWMAN}", "x" * 70_000):
            websocket.send(text)
            assert websocket.recv(timeout=10) == text
        websocket.send(b"\x00\x01binary\xff")
        assert websocket.recv(timeout=10) == b"\x00\x01binary\xff"


def test_websocket_outside_the_api_mount_is_not_upgraded(server):
    # Django (WSGI) owns everything outside /api: it cannot take a WebSocket, so the handshake fails.
    with pytest.raises(InvalidStatus) as error, connect(f"ws://{server.host}:{server.port}/ws", open_timeout=10):
        pass
    assert error.value.response.status_code == 404
