"""The test Django project through ``get_asgi_application()`` (django_project/asgi.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from conftest import start_server
from support import RawConnection, manage_django

APP = "asgi:django_project.asgi:application"


@pytest.fixture(scope="module")
def django_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("django_asgi")
    download = base / "report.bin"
    download.write_bytes(os.urandom(1024 * 1024 + 5))
    env = {
        "AMPHICORN_TEST_DJANGO_DB": str(base / "db.sqlite3"),
        "AMPHICORN_TEST_DOWNLOAD": str(download),
        "DJANGO_SETTINGS_MODULE": "django_project.settings",
    }
    manage_django(env, "migrate", "--noinput")
    return env


@pytest.fixture(scope="module")
def django_server(django_env):
    server = start_server(APP, env=django_env)
    yield server
    server.stop()


@pytest.fixture
def client(django_server):
    with httpx.Client(base_url=django_server.url, timeout=20) as client:
        yield client


def _form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, f"no CSRF token in the page:\n{html[:2000]}"
    return match.group(1)


def test_served_as_asgi(django_server):
    assert django_server.wait_for_stderr("Serving ASGI app")
    assert "django_project.asgi:application" in django_server.stderr()


def test_form_page_renders_and_posts(client):
    page = client.get("/order/")
    assert page.status_code == 200
    assert "csrftoken" in client.cookies
    token = _form_token(page.text)
    response = client.post("/order/", data={"csrfmiddlewaretoken": token, "customer": "Ada", "quantity": "2"})
    assert response.status_code == 302
    assert response.headers["location"] == "/orders/"
    listing = client.get("/orders/")
    assert "Order placed for Ada (2)" in listing.text
    assert "Ada x2" in listing.text


def test_form_post_without_token_is_rejected(client):
    client.get("/order/")
    response = client.post("/order/", data={"customer": "Mallory", "quantity": "1"})
    assert response.status_code == 403


def test_admin_login_page_renders(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Django administration" in response.text
    assert 'name="csrfmiddlewaretoken"' in response.text


def test_admin_redirects_anonymous_users_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/login/?next=/admin/"


def test_streaming_response(django_server):
    with RawConnection.to(django_server) as conn:
        response = conn.request("GET", "/stream/?count=200")
    assert response.status == 200
    assert response.chunked
    assert response.body.decode() == "".join(f"line {i}\n" for i in range(200))


def test_file_response(client, django_env):
    expected = Path(django_env["AMPHICORN_TEST_DOWNLOAD"]).read_bytes()
    response = client.get("/file/")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(expected))
    assert response.content == expected


def test_absolute_uri_from_the_asgi_scope(client, django_server):
    data = client.get("/where/").json()
    assert data["absolute"] == f"{django_server.url}/where/?x=1"
    assert data["host"] == f"127.0.0.1:{django_server.port}"
    assert data["script_name"] == ""
    assert data["path"] == "/where/"
    assert data["secure"] is False


def test_unknown_host_is_400(django_server):
    with RawConnection.to(django_server) as conn:
        response = conn.request("GET", "/where/", host="evil.example")
    assert response.status == 400


def test_404(client):
    assert client.get("/no/such/page/").status_code == 404
