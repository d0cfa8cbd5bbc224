"""Response compression (``--compress br,gzip,zstd`` and ``[[mount]] compress = [...]``):
codings negotiated by Accept-Encoding q-values and decoded by the real codecs (httpx with
brotli and zstandard), the responses left alone (already encoded, ranges, no-transform, HEAD,
small, other types, mounts without the setting), the headers changed (Vary, ETag,
Content-Length), streamed bodies flushed chunk by chunk (server-sent events), static files,
and HTTP/2."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import httpx
import pytest
import zstandard
from apps.compression import TEXT
from conftest import start_server
from support import TESTS_DIR, RawConnection, build_request, server_env

WSGI = "/w=wsgi:apps.compression:wsgi_app"
ASGI = "/a=asgi:apps.compression:asgi_app"
CODINGS = ("br", "gzip", "zstd")


def body(size: int) -> bytes:
    """What the test app sends for ``size=``."""
    return (TEXT * (size // len(TEXT) + 1))[:size]


class Incremental:
    """Decodes a coding piece by piece, as a browser does with a stream."""

    def __init__(self, coding: str) -> None:
        if coding == "gzip":
            self.decode = zlib.decompressobj(wbits=31).decompress
        elif coding == "br":
            self.decode = brotli.Decompressor().process
        else:
            self.decode = zstandard.ZstdDecompressor().decompressobj().decompress


def decode(coding: str, data: bytes) -> bytes:
    return Incremental(coding).decode(data)


@pytest.fixture(scope="module")
def server():
    """WSGI at /w and ASGI at /a, both compressing with br, gzip, zstd (in that order)."""
    started = start_server(None, f"--mount={WSGI}", f"--mount={ASGI}", "--compress=br,gzip,zstd")
    yield started
    started.stop()


def vary(response) -> list[str]:
    return [item.strip().lower() for value in response.headers.get_list("vary") for item in value.split(",")]


@pytest.mark.parametrize("prefix", ["/w", "/a"])
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("stream", [0, 4])
def test_each_coding_is_negotiated_and_decodes(server, prefix: str, coding: str, stream: int):
    with httpx.Client(base_url=server.url) as client:
        response = client.get(
            f"{prefix}/?size=20000&stream={stream}&etag=%22v1%22", headers={"Accept-Encoding": coding}
        )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert response.content == body(20000), "httpx decoded it with the real codec"
    assert "accept-encoding" in vary(response)
    assert response.headers["etag"] == 'W/"v1"', "a compressed variant's ETag is weak"
    length = response.headers.get("content-length")
    assert length is None or int(length) == response.num_bytes_downloaded < 20000


def test_q_values_identity_and_the_mounts_order(server):
    cases = {
        "gzip;q=0.5, br;q=0.9": "br",
        "br;q=0, gzip": "gzip",
        "zstd, gzip": "gzip",  # a tie: the mount's order (br, gzip, zstd)
        "*": "br",
        "*;q=0.1, gzip;q=0.2": "gzip",
        "x-gzip": "gzip",
        "identity": None,
        "gzip;q=0, br;q=0, zstd;q=0": None,
        "gzip;q=0.5, identity": None,
        "deflate": None,
    }
    with RawConnection.to(server) as conn:
        for accept, expected in cases.items():
            response = conn.request("GET", "/w/?size=4096", headers=[("Accept-Encoding", accept)])
            assert response.status == 200
            assert response.header("content-encoding") == expected, accept
            if expected is None:
                assert response.body == body(4096), accept
            else:
                assert decode(expected, response.body) == body(4096), accept
            assert "accept-encoding" in (response.header("vary") or "").lower(), accept
        plain = conn.request("GET", "/a/?size=4096")
        assert plain.header("content-encoding") is None, "no Accept-Encoding: no compression"
        assert plain.header("content-length") == "4096"
        assert plain.body == body(4096)


@pytest.mark.parametrize("prefix", ["/w", "/a"])
def test_what_is_left_alone(server, prefix: str):
    untouched = [
        "size=1000",  # under compress-min-size (1024)
        "size=8000&type=image/png",
        "size=8000&type=application/octet-stream",
        "size=8000&encoding=gzip",  # the app's own coding: the bytes are passed as they are
        "size=8000&cache=public,%20no-transform",
    ]
    with RawConnection.to(server) as conn:
        for query in untouched:
            response = conn.request("GET", f"{prefix}/?{query}", headers=[("Accept-Encoding", "gzip, br")])
            assert response.status == 200
            assert response.body == body(int(query.split("&")[0][5:])), query
            assert response.header("content-length") == str(len(response.body)), query
            assert response.header("content-encoding") == ("gzip" if "encoding" in query else None), query
        head = conn.request("HEAD", f"{prefix}/?size=8000", headers=[("Accept-Encoding", "gzip")])
        assert head.header("content-encoding") is None
        assert head.header("content-length") == "8000"
        for status in (204, 304):
            response = conn.request("GET", f"{prefix}/?size=0&status={status}", headers=[("Accept-Encoding", "gzip")])
            assert response.status == status
            assert response.header("content-encoding") is None


def test_compressed_types_and_more(server):
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}) as client:
        for kind in ("application/json", "image/svg+xml", "application/ld+json", "text/css", "application/javascript"):
            response = client.get("/a/", params={"size": 4096, "type": kind})
            assert response.headers.get("content-encoding") == "gzip", kind
        response = client.get("/w/?size=4096&vary=Cookie")
        assert response.headers["content-encoding"] == "gzip"
        assert vary(response) == ["cookie", "accept-encoding"], "the app's Vary is kept"
        response = client.get("/w/?size=4096&vary=Accept-Encoding")
        assert vary(response) == ["accept-encoding"], "named once"


def test_a_mount_sets_its_own_and_others_stay_off(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        """
[[mount]]
prefix = "/w"
app = "wsgi:apps.compression:wsgi_app"
compress = ["zstd", "gzip"]
compress-min-size = 10
compress-types = ["application/x-report"]

[[mount]]
prefix = "/a"
app = "asgi:apps.compression:asgi_app"
"""
    )
    server = serve(None, f"--config={config}")
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip, zstd, br"}) as client:
        report = client.get("/w/?size=100&type=application/x-report")
        assert report.headers["content-encoding"] == "zstd"
        assert report.content == body(100)
        text = client.get("/w/?size=4096")
        assert "content-encoding" not in text.headers, "not one of the mount's types"
        off = client.get("/a/?size=8000")
        assert "content-encoding" not in off.headers
        assert "vary" not in off.headers, "a mount without compress is untouched"
        assert off.headers["content-length"] == "8000"


def test_a_bad_coding_is_refused_before_binding():
    command = [sys.executable, "-m", "amphicorn", f"--mount={WSGI}", "--compress=gzip,lzma"]
    done = subprocess.run(command, cwd=TESTS_DIR, env=server_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--compress 'gzip,lzma': 'lzma' is not one of br, gzip, zstd" in done.stderr


@pytest.mark.parametrize("coding", CODINGS)
def test_server_sent_events_arrive_compressed_one_by_one(server, coding: str):
    """Each event is flushed through the encoder: the client decodes it while the app
    still waits (for a request to /release) before sending the next one."""
    with RawConnection.to(server, timeout=5) as conn, httpx.Client(base_url=server.url) as other:
        conn.send(build_request("GET", "/a/events?count=4", headers=[("Accept-Encoding", coding)]))
        head = conn.read_head()
        assert head.status == 200
        assert head.header("content-encoding") == coding
        assert head.header("transfer-encoding") == "chunked"
        decoder = Incremental(coding)
        for index in range(4):
            seen = b""
            expected = f"id: {index}\ndata: event number {index}\n\n".encode()
            while seen != expected:
                # Each read waits at most the connection's 5 s: a buffering encoder fails here.
                size_line = conn._read_until(b"\r\n")
                assert size_line is not None, f"closed before event {index}"
                size = int(size_line.strip(), 16)
                assert size, f"the stream ended before event {index}"
                chunk = conn._read_exact(size + 2)
                assert chunk is not None
                seen += decoder.decode(chunk[:-2])
                assert expected.startswith(seen), seen
            if index < 3:
                assert other.get("/a/release").status_code == 204


def test_static_files_are_compressed_but_not_their_ranges_or_siblings(serve, tmp_path: Path):
    root = tmp_path / "public"
    root.mkdir()
    css = b"body { color: #333; margin: 0 auto; }\n" * 200
    (root / "site.css").write_bytes(css)
    (root / "pre.css").write_bytes(css)
    (root / "pre.css.gz").write_bytes(b"precompressed bytes, sent as they are")
    big = css * 40  # over 256 KiB: streamed from the file in pieces, compressed as they go
    (root / "big.css").write_bytes(big)
    server = serve(None, f"--mount=/static=static:{root}", "--compress=gzip")
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}) as client:
        whole = client.get("/static/site.css")
        assert whole.headers["content-encoding"] == "gzip"
        assert whole.content == css
        assert whole.headers["etag"].startswith('W/"')
        assert "accept-ranges" not in whole.headers
        assert vary(whole) == ["accept-encoding"], "the static mount's Vary, not a second one"
        again = client.get("/static/site.css", headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304
        part = client.get("/static/site.css", headers={"Range": "bytes=0-9"})
        assert part.status_code == 206
        assert "content-encoding" not in part.headers
        assert part.content == css[:10]
        streamed = client.get("/static/big.css")
        assert streamed.headers["content-encoding"] == "gzip"
        assert "content-length" not in streamed.headers
        assert "accept-ranges" not in streamed.headers, "ranges are of the identity's bytes"
        assert streamed.content == big
    with RawConnection.to(server) as conn:
        sibling = conn.request("GET", "/static/pre.css", headers=[("Accept-Encoding", "gzip")])
        assert sibling.header("content-encoding") == "gzip"
        assert sibling.body == b"precompressed bytes, sent as they are"


@pytest.mark.parametrize("prefix", ["/w", "/a"])
def test_http2(server, prefix: str):
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=20) as client:
        for coding in CODINGS:
            for stream in (0, 3):
                response = client.get(f"{prefix}/?size=30000&stream={stream}", headers={"Accept-Encoding": coding})
                assert response.http_version == "HTTP/2"
                assert response.headers["content-encoding"] == coding
                assert response.content == body(30000)
