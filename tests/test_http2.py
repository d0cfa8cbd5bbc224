"""HTTP/2 end to end (``--http auto|1|2``, ``--http2-max-concurrent-streams``).

A real server speaks HTTP/2 to httpx (prior knowledge in cleartext, ALPN over TLS with a
``trustme`` certificate) and to a raw frame client (``h2_client.RawH2``) for what a polite
client never does. WSGI and ASGI mounts in one process both answer over HTTP/2, see
``HTTP/2``/``"2"`` and the ``:authority`` as ``Host``; bodies stream both ways in bounded
memory; many streams share one connection; mount limits, the fallback and the access log
behave as on HTTP/1.1; idle connections and stops end with a GOAWAY; rapid resets, a
CONTINUATION flood and an oversized header list cost the server its connection, never its
service.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time
import zlib

import h2.errors
import h2.events
import h2.settings
import httpx
import pytest
import trustme
from asgi_apps._util import decode
from h2_client import RawH2
from hyperframe.frame import ContinuationFrame, HeadersFrame
from support import BLOCK, RssSampler, wait_for_file, wait_until
from tls_support import client_context, write_pair
from tls_support import tls_args as tls_server_args

pytestmark = pytest.mark.timeout(90)

MIXED = ("--mount", "/=wsgi:apps.basic:environ_dump", "--mount", "/asgi=asgi:asgi_apps.raw:scope_echo")


def h2_client(**options) -> httpx.Client:
    """httpx speaking only HTTP/2: prior knowledge on http://, ALPN on https://."""
    return httpx.Client(http1=False, http2=True, timeout=20, **options)


# -- both kinds of app, cleartext -------------------------------------------------------------
def test_wsgi_and_asgi_mounts_answer_over_h2c_and_http1_on_the_same_port(serve):
    server = serve(None, *MIXED)
    with h2_client() as client:
        wsgi = client.get(server.url + "/some/path?q=1")
        asgi = client.get(server.url + "/asgi/there")
    assert wsgi.http_version == asgi.http_version == "HTTP/2"
    environ = wsgi.json()["str"]
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["PATH_INFO"] == "/some/path"
    assert environ["QUERY_STRING"] == "q=1"
    assert environ["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    scope = decode(asgi.json()["scope"])
    assert scope["http_version"] == "2"
    assert scope["root_path"] == "/asgi"
    # The :authority is the first header, named host (ASGI's rule for pseudo-headers).
    assert scope["headers"][0] == (b"host", f"127.0.0.1:{server.port}".encode())
    # The same port still speaks HTTP/1.1.
    plain = httpx.get(server.url + "/asgi/", timeout=10)
    assert plain.http_version == "HTTP/1.1"
    assert decode(plain.json()["scope"])["http_version"] == "1.1"


def test_many_streams_share_one_connection_to_both_kinds_of_app(serve):
    """64 streams opened at once on one connection (a raw client: httpx's threads sharing
    one HTTP/2 connection are its own source of protocol errors), half to each app."""
    server = serve(None, *MIXED)
    paths = [f"/n{i}" if i % 2 else f"/asgi/n{i}" for i in range(64)]
    with RawH2.to(server) as raw:
        streams = [raw.request(path) for path in paths]
        answers = [raw.response(stream) for stream in streams]
    assert all(status == 200 for status, _, _ in answers)
    wsgi_paths = [json.loads(body)["str"]["PATH_INFO"] for _, _, body in answers[1::2]]
    assert wsgi_paths == paths[1::2]
    asgi_paths = [decode(json.loads(body)["scope"])["path"] for _, _, body in answers[0::2]]
    assert asgi_paths == paths[0::2]


def test_the_concurrent_streams_setting_is_advertised(serve):
    server = serve("apps.basic:hello", "--http2-max-concurrent-streams", "7")
    with RawH2.to(server) as raw:
        assert raw.server_setting(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS) == 7
        status, _, body = raw.response(raw.request("/"))
    assert (status, body) == (200, b"Hello, world!")


def test_http_1_refuses_the_preface_and_http_2_refuses_http1(serve):
    only1 = serve("apps.basic:hello", "--http", "1")
    with pytest.raises(httpx.HTTPError), h2_client() as client:
        client.get(only1.url + "/")
    assert httpx.get(only1.url + "/", timeout=10).status_code == 200
    only2 = serve("apps.basic:hello", "--http", "2")
    with pytest.raises(httpx.HTTPError):
        httpx.get(only2.url + "/", timeout=10)
    with h2_client() as client:
        assert client.get(only2.url + "/").text == "Hello, world!"


# -- TLS and ALPN ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_args(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    pair = write_pair(tmp_path_factory.mktemp("h2tls"), ca.issue_cert("127.0.0.1", "localhost"), "server")
    return tls_server_args(pair)


@pytest.mark.parametrize(("http", "expected"), [("auto", "HTTP/2"), ("1", "HTTP/1.1"), ("2", "HTTP/2")])
def test_alpn_picks_the_version_over_tls(serve, ca, tls_args, http, expected):
    server = serve(None, *MIXED, *tls_args, "--http", http)
    with httpx.Client(http2=True, verify=client_context(ca), timeout=20) as client:
        wsgi = client.get(server.url + "/x")
        asgi = client.get(server.url + "/asgi/x")
    assert wsgi.http_version == asgi.http_version == expected
    assert wsgi.json()["str"]["wsgi.url_scheme"] == "https"
    assert decode(asgi.json()["scope"])["scheme"] == "https"


def test_an_http1_only_client_is_refused_by_alpn_under_http_2(serve, ca, tls_args):
    server = serve("apps.basic:hello", *tls_args, "--http", "2")
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/", verify=client_context(ca), timeout=10)
    assert server.proc.poll() is None


# -- bodies, both ways, in bounded memory ----------------------------------------------------
MIB = 1024 * 1024
STREAMED = 1024 * MIB
RSS_LIMIT_MIB = 64


@pytest.mark.parametrize("app", ["apps.input:checksum", "asgi:asgi_apps.raw:checksum"])
def test_a_large_upload_streams_in_bounded_memory(serve, app):
    server = serve(app)
    blocks = STREAMED // len(BLOCK)
    expected = 0
    for _ in range(blocks):
        expected = zlib.crc32(BLOCK, expected)
    with RssSampler(server.pid) as rss, h2_client() as client:
        response = client.post(server.url + "/", content=(BLOCK for _ in range(blocks)))
    assert response.http_version == "HTTP/2"
    assert response.json()["bytes"] == STREAMED
    assert response.json()["crc32"] == expected
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew {rss.growth_mib:.1f} MiB during a {STREAMED // MIB} MiB upload"


@pytest.mark.parametrize("app", ["apps.streaming:download", "asgi:asgi_apps.raw:download"])
def test_a_large_download_streams_in_bounded_memory(serve, app):
    server = serve(app)
    blocks = STREAMED // len(BLOCK)
    received = crc = 0
    with (
        RssSampler(server.pid) as rss,
        h2_client() as client,
        client.stream("GET", server.url + f"/?chunks={blocks}") as response,
    ):
        assert response.http_version == "HTTP/2"
        for piece in response.iter_bytes():
            received += len(piece)
            crc = zlib.crc32(piece, crc)
    expected = 0
    for _ in range(blocks):
        expected = zlib.crc32(BLOCK, expected)
    assert (received, crc) == (STREAMED, expected)
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew {rss.growth_mib:.1f} MiB during a {STREAMED // MIB} MiB download"


# -- mounts, limits, fallback, access log ----------------------------------------------------
def test_mount_limits_and_the_fallback_apply_to_streams(serve, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "[[mount]]\nprefix = '/'\napp = 'apps.mounts:legacy'\n\n"
        "[[mount]]\nprefix = '/api'\napp = 'asgi:asgi_apps.raw:scope_echo'\nmax-body-size = 10\n"
    )
    server = serve(None, "-c", str(config), "--access-log", capture_stdout=True)
    with h2_client() as client:
        too_large = client.post(server.url + "/api/x", content=b"x" * 100)
        fine = client.post(server.url + "/api/x", content=b"x" * 5)
    assert too_large.status_code == 413
    assert fine.status_code == 200
    lines = server.stdout_lines(2)
    assert all("HTTP/2" in line for line in lines), lines


def test_a_full_mount_answers_503_to_a_stream_while_other_streams_go_on(serve, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "[[mount]]\nprefix = '/slow'\napp = 'apps.mounts:legacy'\nlimit-concurrency = 1\n"
        "[[mount]]\nprefix = '/api'\napp = 'asgi:apps.mounts:api'\n"
    )
    server = serve(None, "-c", str(config))
    marker = tmp_path / "started"
    with h2_client() as client, concurrent.futures.ThreadPoolExecutor(2) as pool:
        busy = pool.submit(client.get, server.url + f"/slow/slow?record={marker}")
        assert wait_for_file(marker, lambda text: "started" in text), "the first request never reached the app"
        refused = client.get(server.url + "/slow/x")
        other = client.get(server.url + "/api/x")
        assert busy.result().status_code == 200
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
    assert other.status_code == 200
    assert refused.http_version == other.http_version == "HTTP/2"


def test_the_fallback_replays_a_stream_and_proxy_headers_apply(serve, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "[[mount]]\nprefix = '/'\napp = 'apps.basic:environ_dump'\n\n"
        "[[mount]]\nprefix = '/api'\napp = 'asgi:apps.mounts:new_api'\nfallback = '/'\n"
    )
    server = serve(None, "-c", str(config))
    forwarded = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
    with h2_client() as client:
        new = client.post(server.url + "/api/new", content=b"x" * 100)
        old = client.post(server.url + "/api/reports", content=b"y" * 1000, headers=forwarded)
    assert new.json()["app"] == "new"
    environ = old.json()["str"]
    assert (environ["PATH_INFO"], environ["SERVER_PROTOCOL"]) == ("/api/reports", "HTTP/2")
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == ("203.0.113.9", "https")


# -- ends of connections ---------------------------------------------------------------------
def test_an_idle_connection_gets_a_goaway_after_the_keep_alive_timeout(serve):
    server = serve("apps.basic:hello", "--timeout-keep-alive", "0.5")
    with RawH2.to(server) as raw:
        status, _, _ = raw.response(raw.request("/"))
        assert status == 200
        # Pings do not keep an idle connection open.
        raw.conn.ping(b"12345678")
        raw.flush()
        assert raw.events_until(lambda: raw.goaway() is not None, timeout=5)
        assert raw.goaway().error_code == h2.errors.ErrorCodes.NO_ERROR
        assert raw.events_until(lambda: raw.closed, timeout=5), "the connection stayed open after its GOAWAY"


def test_a_connection_that_sends_only_the_preface_is_closed_after_the_header_timeout(serve):
    server = serve("apps.basic:hello", "--timeout-request-headers", "0.5")
    with RawH2.to(server) as raw:
        assert raw.events_until(lambda: raw.closed, timeout=5)
        assert raw.goaway() is not None


def test_a_stop_lets_streams_in_flight_finish_and_sends_goaway(serve):
    server = serve("apps.streaming:slow_chunks")
    with RawH2.to(server) as raw:
        stream = raw.request("/?delay=1")
        assert raw.events_until(lambda: any(isinstance(e, h2.events.DataReceived) for e in raw.seen))
        server.proc.send_signal(signal.SIGTERM)
        status, _, body = raw.response(stream)
        assert (status, body) == (200, b"first;second;")
        assert raw.events_until(lambda: raw.goaway() is not None)
    assert server.proc.wait(10) == 0


def test_a_client_that_stops_reading_cannot_hold_a_stop_to_the_graceful_timeout(serve):
    """A graceful GOAWAY waits for the client's answer to a PING; a client that never reads
    again gets a short grace once nothing is in flight, not the whole graceful timeout."""
    server = serve("apps.basic:hello", "--timeout-graceful-shutdown", "30")
    with RawH2.to(server) as raw:
        assert raw.response(raw.request("/"))[0] == 200
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        # The client reads nothing more (the PING stays unanswered), yet the server exits.
        assert server.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 5


# -- hostile clients -------------------------------------------------------------------------
def test_rapid_reset_gets_a_goaway_and_the_server_keeps_serving(serve):
    server = serve("apps.basic:hello")
    with RawH2.to(server) as raw:
        for _ in range(500):
            try:
                stream = raw.request("/")
                raw.conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                raw.flush()
            except (BrokenPipeError, ConnectionResetError):
                # The server sent its GOAWAY and closed before this client read it: what is
                # left to read says why.
                break
            raw.read_once(0.001)
            if raw.goaway() is not None or raw.closed:
                break
        assert raw.events_until(lambda: raw.goaway() is not None or raw.closed)
        terminated = raw.goaway()
        assert terminated is not None
        assert terminated.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    with h2_client() as client:
        assert client.get(server.url + "/").status_code == 200


def test_a_continuation_flood_is_cut_and_costs_no_memory(serve):
    server = serve("apps.basic:hello")
    with RssSampler(server.pid) as rss, RawH2.to(server) as raw:
        block = raw.conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a")])
        raw.send_raw(HeadersFrame(1, data=block).serialize())  # no END_HEADERS
        filler = raw.conn.encoder.encode([("x-filler", "y" * 8000)])
        sent = 0
        try:
            for _ in range(10_000):
                raw.send_raw(ContinuationFrame(1, data=filler).serialize())
                sent += 1
        except OSError:
            pass  # the server closed the connection: what we wanted
        assert raw.events_until(lambda: raw.closed or raw.goaway() is not None)
    assert sent < 10_000 or raw.goaway() is not None
    assert rss.growth_mib < 32, f"RSS grew {rss.growth_mib:.1f} MiB"
    with h2_client() as client:
        assert client.get(server.url + "/").status_code == 200


def test_a_header_list_over_max_header_size_is_refused(serve):
    server = serve("apps.basic:hello", "--max-header-size", "8192")
    with h2_client() as client:
        big = client.get(server.url + "/", headers={"x-big": "y" * 20_000})
        small = client.get(server.url + "/", headers={"x-small": "y" * 1000})
    assert big.status_code == 431
    assert small.status_code == 200


def test_the_server_still_answers_after_a_connection_full_of_garbage(serve):
    server = serve("apps.basic:hello")
    with RawH2.to(server) as raw:
        raw.send_raw(b"\x00\x00\x04\xff\x00\x00\x00\x00\x01garbage-frames" * 100)
        assert raw.events_until(lambda: raw.closed or raw.goaway() is not None)
    wait_until(lambda: server.proc.poll() is None)
    with h2_client() as client:
        assert client.get(server.url + "/").status_code == 200
