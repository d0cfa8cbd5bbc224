"""A real Flask app under amphicorn."""

from __future__ import annotations

import httpx
import pytest
from support import RawConnection


@pytest.fixture
def flask_server(serve):
    return serve("apps.flask_app:app")


@pytest.fixture
def client(flask_server):
    with httpx.Client(base_url=flask_server.url, timeout=10) as client:
        yield client


def test_index(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "flask index"
    assert response.headers["content-type"].startswith("text/html")


def test_query_args(client):
    response = client.get("/greet", params={"name": "Zoë & co", "times": "2"})
    assert response.text == "Hello, Zoë & co!Hello, Zoë & co!"


def test_unicode_path_404(client):
    assert client.get("/nöpe").status_code == 404


def test_form_post(client):
    assert "<form" in client.get("/form").text
    response = client.post("/form", data={"name": "Ada Lovelace", "colour": ["red", "green"]})
    assert response.status_code == 200
    assert response.json() == {
        "name": "Ada Lovelace",
        "colours": ["red", "green"],
        "content_type": "application/x-www-form-urlencoded",
    }


def test_json_post(client):
    response = client.post("/json", json={"a": 1, "b": 2.5, "c": "xy"})
    assert response.json() == {"doubled": {"a": 2, "b": 5.0, "c": "xyxy"}}


def test_multipart_upload(client):
    data = bytes(range(256)) * 1000
    response = client.post("/upload", files={"file": ("data.bin", data, "application/octet-stream")})
    assert response.json() == {"filename": "data.bin", "size": len(data), "head": data[:16].decode("latin-1")}


def test_streamed_response_with_stream_with_context(flask_server):
    with RawConnection.to(flask_server) as conn:
        response = conn.request("GET", "/stream?count=50&prefix=item")
    assert response.status == 200
    assert response.chunked
    assert response.body.decode() == "".join(f"item {i}\n" for i in range(50))


def test_url_for_builds_links_from_the_request(client, flask_server):
    links = client.get("/links").json()
    assert links["relative"] == "/greet?name=Ada"
    assert links["external"] == f"{flask_server.url}/greet?name=Ada"
    assert links["static"] == "/static/site.css"


def test_redirect_location(client, flask_server):
    response = client.get("/go")
    assert response.status_code == 302
    assert response.headers["location"] in ("/", f"{flask_server.url}/")
    assert client.get("/go", follow_redirects=True).text == "flask index"


def test_view_exception_is_a_500_and_the_server_survives(client, flask_server):
    assert client.get("/boom").status_code == 500
    assert flask_server.wait_for_stderr("flask-view-failure-marker")
    assert client.get("/").status_code == 200


def test_head_request(flask_server):
    with RawConnection.to(flask_server) as conn:
        head = conn.request("HEAD", "/greet?name=x")
        assert head.status == 200
        assert head.header("content-length") == str(len("Hello, x!"))
        assert conn.request("GET", "/greet?name=y").body == b"Hello, y!"
