"""A real Django project (tests/django_project) under amphicorn, migrated like production."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from support import RawConnection, manage_django

APP = "django_project.wsgi:application"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def django_env(tmp_path_factory):
    """A migrated sqlite database with a superuser, and a file for FileResponse."""
    base = tmp_path_factory.mktemp("django")
    download = base / "report.bin"
    download.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    env = {
        "AMPHICORN_TEST_DJANGO_DB": str(base / "db.sqlite3"),
        "AMPHICORN_TEST_DOWNLOAD": str(download),
        "DJANGO_SETTINGS_MODULE": "django_project.settings",
    }
    manage_django(env, "migrate", "--noinput")
    manage_django(
        {**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_USER,
        "--email",
        "admin@example.com",
    )
    return env


@pytest.fixture
def django_server(serve, django_env):
    return serve(APP, env=django_env)


@pytest.fixture
def client(django_server):
    with httpx.Client(base_url=django_server.url, timeout=20) as client:
        yield client


def _form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, f"no CSRF token in the page:\n{html[:2000]}"
    return match.group(1)


def test_form_post_with_a_real_csrf_token(client):
    page = client.get("/order/")
    assert page.status_code == 200
    assert "csrftoken" in client.cookies
    token = _form_token(page.text)
    response = client.post("/order/", data={"csrfmiddlewaretoken": token, "customer": "Grace", "quantity": "3"})
    assert response.status_code == 302
    assert response.headers["location"] == "/orders/"
    listing = client.get("/orders/")
    assert listing.status_code == 200
    # The messages framework (session-backed) and the database both round-tripped.
    assert "Order placed for Grace (3)" in listing.text
    assert "Grace x3" in listing.text
    # A message is shown once.
    assert "Order placed for Grace" not in client.get("/orders/").text


def test_form_post_without_token_is_rejected(client):
    client.get("/order/")
    response = client.post("/order/", data={"customer": "Mallory", "quantity": "1"})
    assert response.status_code == 403
    assert "Mallory" not in client.get("/orders/").text


def test_form_validation_error_rerenders(client):
    token = _form_token(client.get("/order/").text)
    response = client.post("/order/", data={"csrfmiddlewaretoken": token, "customer": "Bob", "quantity": "0"})
    assert response.status_code == 200
    assert "greater than or equal to 1" in response.text


def test_streaming_response(django_server):
    with RawConnection.to(django_server) as conn:
        response = conn.request("GET", "/stream/?count=200")
    assert response.status == 200
    assert response.chunked
    assert response.header("content-length") is None
    assert response.body.decode() == "".join(f"line {i}\n" for i in range(200))


def test_file_response(client, django_env):
    expected = Path(django_env["AMPHICORN_TEST_DOWNLOAD"]).read_bytes()
    response = client.get("/file/")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(expected))
    assert response.headers["content-disposition"] == 'attachment; filename="report.bin"'
    assert response.content == expected


def test_admin_login_page_renders(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Django administration" in response.text
    assert 'name="csrfmiddlewaretoken"' in response.text


def test_admin_redirects_anonymous_users_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/login/?next=/admin/"


def test_admin_login_with_session(client):
    token = _form_token(client.get("/admin/login/").text)
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302, response.text[:2000]
    assert response.headers["location"] == "/admin/"
    assert "sessionid" in client.cookies
    home = client.get("/admin/")
    assert home.status_code == 200
    assert "Site administration" in home.text
    assert client.get("/admin/shop/order/").status_code == 200


def test_build_absolute_uri_uses_host_and_port(client, django_server):
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
