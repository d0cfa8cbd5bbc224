"""Static files fetched by the real ``curl``, over HTTP/1.1 and over HTTP/2 with prior
knowledge (h2c), every test once each way: the headers of a GET and a HEAD (``-I``),
revalidation to ``304`` as curl does it (``--etag-compare``, ``If-None-Match``, ``-z`` with
a copy that ``-R`` dated), ranges (``-r``, and a download resumed with ``-C -``), and
``--compressed`` decoding precompressed siblings and compressed answers with curl's own
brotli, zlib and zstd."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import brotli
import pytest
import zstandard
from conftest import start_server
from curl_support import Fetched, curl_binary, fetch

#: 900 bytes whose every range reads differently.
LINES = b"".join(b"line %03d\n" % index for index in range(100))
CSS = b"body { color: #333; margin: 0 auto; }\n" * 200
#: Over 256 KiB: streamed from the file in pieces, compressed as they go.
JSON = b'{"items": [' + b", ".join(b'{"id": %d, "name": "item %d"}' % (i, i) for i in range(12000)) + b"]}"
HTML = b"<!doctype html><title>page</title>" + b"<p>Hello, world!</p>\n" * 300
SIBLINGS = {
    "br": (".br", brotli.compress(CSS)),
    "gzip": (".gz", gzip.compress(CSS)),
    "zstd": (".zst", zstandard.compress(CSS)),
}
CACHE_CONTROL = "public, max-age=60"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The files, and next to them a config that mounts them twice: at ``/static`` as they
    are, and at ``/compressed`` with ``compress = ["br", "gzip", "zstd"]``."""
    curl_binary()  # skip (or fail in CI) before making anything
    root = tmp_path_factory.mktemp("curl") / "public"
    root.mkdir()
    (root / "lines.txt").write_bytes(LINES)
    (root / "app.css").write_bytes(CSS)
    for suffix, data in SIBLINGS.values():
        (root / f"app.css{suffix}").write_bytes(data)
    (root / "page.html").write_bytes(HTML)
    (root / "data.json").write_bytes(JSON)
    (root.parent / "amphicorn.toml").write_text(
        f'[[mount]]\nprefix = "/static"\napp = "static:{root}"\nstatic-cache-control = "{CACHE_CONTROL}"\n'
        f'[[mount]]\nprefix = "/compressed"\napp = "static:{root}"\ncompress = ["br", "gzip", "zstd"]\n'
    )
    return root


@pytest.fixture(scope="module")
def server(tree: Path):
    """One server for the module."""
    started = start_server(None, f"--config={tree.parent / 'amphicorn.toml'}")
    yield started
    started.stop()


@pytest.fixture(params=["--http1.1", "--http2-prior-knowledge"], ids=["h1", "h2c"])
def get(request, server, tmp_path: Path):
    """``get(path, *curl_args, output=None) -> Fetched`` over the test's protocol, checking it
    was that one."""
    protocol = request.param

    def run(path: str, *args: str, output: Path | None = None) -> Fetched:
        fetched = fetch(server.url + path, tmp_path, protocol, *args, output=output)
        assert fetched.version == ("1.1" if protocol == "--http1.1" else "2")
        return fetched

    return run


def http_date(path: Path) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(path.stat().st_mtime))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_carry_the_files_headers(tree: Path, get, method: str):
    fetched = get("/static/lines.txt", *(["-I"] if method == "HEAD" else []))
    assert fetched.status == 200
    assert fetched.header("content-type") == "text/plain; charset=utf-8"
    assert fetched.header("content-length") == str(len(LINES))
    assert fetched.header("accept-ranges") == "bytes"
    assert fetched.header("vary") == "accept-encoding"
    assert fetched.header("cache-control") == CACHE_CONTROL
    assert fetched.header("last-modified") == http_date(tree / "lines.txt")
    etag = fetched.header("etag")
    assert etag is not None
    assert etag.startswith('"'), "a strong ETag"
    assert "content-encoding" not in fetched.headers
    if method == "HEAD":
        assert fetched.downloaded == 0
    else:
        assert fetched.body == LINES


#: curl's arguments for the second request ({dir}: where the first left ``etag.txt`` and its
#: ``-R``-dated ``copy.txt``, and ``old.txt``, dated 2000; {etag}: the ETag it got), and the
#: status the server must answer.
REVALIDATIONS = {
    "etag-compare": (["--etag-compare", "{dir}/etag.txt"], 304),
    "if-none-match": (["-H", "If-None-Match: {etag}"], 304),
    "if-none-match-weak": (["-H", "If-None-Match: W/{etag}"], 304),
    "if-none-match-list": (["-H", 'If-None-Match: "other", {etag}'], 304),
    "if-modified-since": (["-z", "{dir}/copy.txt"], 304),
    "other-etag": (["-H", 'If-None-Match: "other"'], 200),
    "older-copy": (["-z", "{dir}/old.txt"], 200),
}


@pytest.mark.parametrize("case", REVALIDATIONS)
def test_revalidation_as_curl_does_it(tree: Path, get, tmp_path: Path, case: str):
    """A first GET saves the ETag (``--etag-save``) and a copy dated by ``Last-Modified``
    (``-R``); the second asks again with a condition."""
    copy = tmp_path / "copy.txt"
    first = get("/static/lines.txt", "--etag-save", str(tmp_path / "etag.txt"), "-R", output=copy)
    assert first.status == 200
    assert copy.read_bytes() == LINES
    assert copy.stat().st_mtime == int((tree / "lines.txt").stat().st_mtime), "-R read Last-Modified"
    etag = first.header("etag")
    assert (tmp_path / "etag.txt").read_text().strip() == etag
    old = tmp_path / "old.txt"
    old.write_bytes(b"")
    os.utime(old, (946684800, 946684800))
    template, expected = REVALIDATIONS[case]
    again = get("/static/lines.txt", *(arg.format(dir=tmp_path, etag=etag) for arg in template))
    assert again.status == expected
    if expected == 304:
        assert again.body == b""
        assert again.header("etag") == etag
        assert again.header("vary") == "accept-encoding"
        assert again.header("cache-control") == CACHE_CONTROL
    else:
        assert again.body == LINES


#: ``-r`` values: the status, Content-Range and body the README documents.
RANGES = {
    "0-99": (206, "bytes 0-99/900", LINES[:100]),
    "850-": (206, "bytes 850-899/900", LINES[850:]),
    "-50": (206, "bytes 850-899/900", LINES[-50:]),
    "890-2000": (206, "bytes 890-899/900", LINES[890:]),
    "0-1,5-6": (200, None, LINES),  # several ranges: the whole file
    "5-2": (200, None, LINES),  # does not parse: ignored
    "900-": (416, "bytes */900", None),  # starts past the end
}


@pytest.mark.parametrize("value", RANGES)
def test_ranges(get, value: str):
    status, content_range, body = RANGES[value]
    fetched = get("/static/lines.txt", "-r", value)
    assert fetched.status == status
    assert fetched.header("content-range") == content_range
    if body is not None:
        assert fetched.body == body
        assert fetched.header("content-length") == str(len(body))
        assert fetched.header("accept-ranges") == "bytes"
    else:
        assert LINES[:20] not in fetched.body


def test_an_interrupted_download_resumes(get, tmp_path: Path):
    """``-C -``: curl asks for what its partial copy lacks and appends it."""
    partial = tmp_path / "partial.txt"
    partial.write_bytes(LINES[:300])
    fetched = get("/static/lines.txt", "-C", "-", output=partial)
    assert fetched.status == 206
    assert fetched.header("content-range") == "bytes 300-899/900"
    assert fetched.downloaded == 600
    assert fetched.body == LINES


@pytest.mark.parametrize("accept", [None, "br", "gzip", "zstd", "identity"])
def test_precompressed_siblings_decoded_by_curl(get, accept: str | None):
    """``--compressed`` alone offers deflate, gzip, br and zstd: br wins (ours: br, then zstd,
    then gzip); an ``Accept-Encoding`` of its own narrows it."""
    fetched = get("/static/app.css", "--compressed", *(["-H", f"Accept-Encoding: {accept}"] if accept else []))
    coding = "br" if accept is None else accept
    assert fetched.status == 200
    assert fetched.body == CSS, "decoded by curl back to the file"
    assert fetched.header("vary") == "accept-encoding"
    assert fetched.header("content-type") == "text/css; charset=utf-8"
    if coding == "identity":
        assert "content-encoding" not in fetched.headers
        assert fetched.downloaded == len(CSS)
        return
    sent = SIBLINGS[coding][1]
    assert fetched.header("content-encoding") == coding
    assert fetched.header("content-length") == str(len(sent))
    assert fetched.downloaded == len(sent), "the sibling's bytes crossed the wire"
    assert (fetched.header("etag") or "").endswith(f'-{coding}"')


@pytest.mark.parametrize("coding", ["br", "gzip", "zstd"])
@pytest.mark.parametrize("name", ["page.html", "data.json"])
def test_compressed_answers_decoded_by_curl(get, coding: str, name: str):
    """``compress`` on: a small file compressed whole (with its new length), one over 256 KiB
    compressed as it streams (no length); curl decodes both."""
    original = HTML if name == "page.html" else JSON
    fetched = get(f"/compressed/{name}", "--compressed", "-H", f"Accept-Encoding: {coding}")
    assert fetched.status == 200
    assert fetched.header("content-encoding") == coding
    assert fetched.header("vary") == "accept-encoding"
    assert fetched.body == original, "decoded by curl back to the file"
    assert fetched.downloaded < len(original) // 4
    assert (fetched.header("etag") or "").startswith('W/"'), "a compressed variant's ETag is weak"
    assert "accept-ranges" not in fetched.headers
    length = fetched.header("content-length")
    if name == "page.html":
        assert length == str(fetched.downloaded)
    else:
        assert length is None
