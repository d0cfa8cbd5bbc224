"""ASGI's ``http.response.trailers`` extension end to end: offered on HTTP/2 and on HTTP/1.1
requests that say ``TE: trailers``, and only there; the trailers an app sends (in several
messages) reach an h2 client and a raw HTTP/1.1 client after the last chunk."""

from __future__ import annotations

import zlib

import h2.events
import pytest
from h2_client import RawH2
from support import RawConnection, build_request

pytestmark = pytest.mark.timeout(30)

APP = "asgi:asgi_apps.raw:trailers"
BODY = b"first chunk;second chunk"
CHECKSUM = str(zlib.crc32(BODY))


def test_an_http11_client_that_accepts_trailers_gets_them_after_the_last_chunk(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/", headers=[("TE", "trailers")]))
        response = conn.read_response()
        assert response.header("x-trailers-offered") == "yes"
        assert response.chunked
        assert response.complete
        assert response.body == BODY
        assert response.trailers == [("x-checksum", CHECKSUM), ("x-count", "2")]
        # The connection carries on.
        conn.send(build_request("GET", "/"))
        assert conn.read_response().header("x-trailers-offered") == "no"


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_without_te_trailers_the_extension_is_not_offered(serve, version):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/", version=version))
        response = conn.read_response()
    assert response.header("x-trailers-offered") == "no"
    assert response.body == BODY
    assert response.trailers == []


def test_an_h2_client_gets_the_trailers(serve):
    server = serve(APP)
    with RawH2.to(server) as raw:
        stream = raw.request("/")
        status, headers, body = raw.response(stream)
        trailers = [e for e in raw.seen if isinstance(e, h2.events.TrailersReceived) and e.stream_id == stream]
    assert (status, headers["x-trailers-offered"], body) == (200, "yes", BODY)
    assert len(trailers) == 1
    assert dict(trailers[0].headers) == {"x-checksum": CHECKSUM, "x-count": "2"}


def test_an_app_that_announces_trailers_and_never_sends_them_fails_the_response(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/?forget=1", headers=[("TE", "trailers")]))
        response = conn.read_response()
    # Not a whole message: the client cannot take it for one.
    assert response.header("x-trailers-offered") == "yes"
    assert not response.complete
    assert server.wait_for_stderr("returned without completing"), server.stderr()
