"""Static mounts (``--mount /static=static:DIR``): files served by Rust with their types,
validators, conditional and range answers, precompressed siblings, cache headers, index
files, and no way out of the root; as another mount's fallback and with one of its own."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import httpx
import pytest
from support import RawConnection, build_request

CSS = b"body { color: #333; }\n" * 20
HASHED = "app.3f2a9c1b7d4e.css"
SECRET = b"the secret outside the root"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The test tree (``make_tree``) in the test's temporary directory."""
    return make_tree(tmp_path)


def make_tree(tmp_path: Path) -> Path:
    """A root with text, images, a hashed name, precompressed siblings, an index, a dotfile,
    a symlink inside and two out of it; ``secret.txt`` lies next to the root, not in it."""
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "empty").mkdir()
    (root / "css" / "app.css").write_bytes(CSS)
    (root / "css" / "app.css.gz").write_bytes(gzip.compress(CSS))
    (root / "css" / "app.css.br").write_bytes(b"brotli bytes (opaque to the server)")
    (root / "css" / "app.css.zst").write_bytes(b"zstd bytes (opaque to the server)")
    (root / "css" / HASHED).write_bytes(CSS)
    (root / "app.js").write_text("console.log('hi');\n")
    (root / "data.json").write_text('{"a": 1}')
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (root / "digits.txt").write_bytes(b"0123456789")
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "inside.txt").symlink_to(root / "digits.txt")
    (root / "outside.txt").symlink_to(tmp_path / "secret.txt")
    (root / "up").symlink_to(tmp_path)
    return root


def _static(root: Path, prefix: str = "/static", *extra: str) -> tuple[str, ...]:
    return (f"--mount={prefix}=static:{root}", *extra)


def test_files_carry_their_type_length_and_validators(serve, tree: Path):
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        css = client.get("/static/css/app.css", headers={"Accept-Encoding": "identity"})
        assert css.status_code == 200
        assert css.content == CSS
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.headers["content-length"] == str(len(CSS))
        assert css.headers["accept-ranges"] == "bytes"
        assert css.headers["vary"].lower() == "accept-encoding"
        assert "content-encoding" not in css.headers
        assert "cache-control" not in css.headers
        etag = css.headers["etag"]
        assert etag.startswith('"'), "a strong ETag"
        modified = os.stat(tree / "css" / "app.css").st_mtime
        assert css.headers["last-modified"] == time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(modified))
        types = {
            "/static/app.js": "text/javascript; charset=utf-8",
            "/static/data.json": "application/json; charset=utf-8",
            "/static/logo.png": "image/png",
            "/static/digits.txt": "text/plain; charset=utf-8",
        }
        for path, expected in types.items():
            assert client.get(path).headers["content-type"] == expected, path
        head = client.head("/static/css/app.css", headers={"Accept-Encoding": "identity"})
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(CSS))
        assert head.headers["etag"] == etag
        assert client.get("/static/missing.css").status_code == 404
        assert client.get("/static/css").status_code == 404  # a directory, and no index
        assert client.get("/other").status_code == 404  # no mount there


def _within_a_second(fetch, changed) -> httpx.Response:
    """The first answer of ``fetch()`` for which ``changed(answer)`` holds, asked again and
    again for at most 3 s after the change (a kept file is trusted for a second)."""
    written = time.monotonic()
    while not changed(answer := fetch()):
        assert time.monotonic() - written < 3, "the change was not seen"
    return answer


def test_conditional_requests_get_304(serve, tree: Path):
    server = serve(*_static(tree, "/static", "--static-cache-control=public, max-age=60"))
    with httpx.Client(base_url=server.url) as client:
        first = client.get("/static/digits.txt")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": f'"other", W/{etag}'},
            {"If-None-Match": "*"},
            {"If-Modified-Since": modified},
            {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        ):
            again = client.get("/static/digits.txt", headers=headers)
            assert again.status_code == 304, headers
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == "public, max-age=60"
            assert again.headers["vary"].lower() == "accept-encoding"
        for headers in (
            {"If-None-Match": '"other"'},
            {"If-None-Match": '"other"', "If-Modified-Since": modified},  # the ETag decides
            {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        ):
            assert client.get("/static/digits.txt", headers=headers).status_code == 200, headers
        assert client.get("/static/digits.txt", headers={"If-Match": '"other"'}).status_code == 412
        assert client.get("/static/digits.txt", headers={"If-Match": etag}).status_code == 200
        stale = {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}
        assert client.get("/static/digits.txt", headers=stale).status_code == 412
        (tree / "digits.txt").write_bytes(b"01234567890")
        changed = _within_a_second(
            lambda: client.get("/static/digits.txt", headers={"If-None-Match": etag}),
            lambda answer: answer.status_code != 304,
        )
        assert (changed.status_code, changed.content) == (200, b"01234567890")


def test_ranges(serve, tree: Path):
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        etag = client.get("/static/digits.txt").headers["etag"]
        modified = client.get("/static/digits.txt").headers["last-modified"]
        cases = [
            ("bytes=2-4", b"234", "bytes 2-4/10"),
            ("bytes=7-", b"789", "bytes 7-9/10"),
            ("bytes=-3", b"789", "bytes 7-9/10"),
            ("bytes=5-100", b"56789", "bytes 5-9/10"),
        ]
        for value, body, content_range in cases:
            part = client.get("/static/digits.txt", headers={"Range": value})
            assert part.status_code == 206, value
            assert part.content == body
            assert part.headers["content-range"] == content_range
            assert part.headers["content-length"] == str(len(body))
            assert part.headers["etag"] == etag
        refused = client.get("/static/digits.txt", headers={"Range": "bytes=10-"})
        assert refused.status_code == 416
        assert refused.headers["content-range"] == "bytes */10"
        # Several ranges, or one that does not parse: the whole file.
        for value in ("bytes=0-1,5-6", "bytes=5-2", "lines=1-2"):
            whole = client.get("/static/digits.txt", headers={"Range": value})
            assert (whole.status_code, whole.content) == (200, b"0123456789"), value
        for validator, expected in ((etag, 206), (modified, 206), ('"old"', 200), (f"W/{etag}", 200)):
            answer = client.get("/static/digits.txt", headers={"Range": "bytes=0-1", "If-Range": validator})
            assert answer.status_code == expected, validator
        head = client.head("/static/digits.txt", headers={"Range": "bytes=0-1"})
        assert (head.status_code, head.headers["content-length"]) == (200, "10")


def _raw_get(client: httpx.Client, path: str, accept: str) -> tuple[httpx.Response, bytes]:
    """GET without httpx decoding the body: the response and the body's bytes as sent."""
    with client.stream("GET", path, headers={"Accept-Encoding": accept}) as response:
        return response, b"".join(response.iter_raw())


def test_precompressed_siblings_by_accept_encoding(serve, tree: Path):
    server = serve(*_static(tree))
    css = tree / "css"
    cases = [
        ("gzip, deflate, br, zstd", "br", (css / "app.css.br").read_bytes()),
        ("gzip, zstd", "zstd", (css / "app.css.zst").read_bytes()),
        ("gzip", "gzip", (css / "app.css.gz").read_bytes()),
        ("gzip;q=1.0, br;q=0.5", "gzip", (css / "app.css.gz").read_bytes()),
        ("br;q=0, zstd;q=0, gzip", "gzip", (css / "app.css.gz").read_bytes()),
        ("*, br;q=0", "zstd", (css / "app.css.zst").read_bytes()),
        ("identity", None, CSS),
        ("deflate", None, CSS),
    ]
    with httpx.Client(base_url=server.url) as client:
        etags = set()
        for accept, coding, body in cases:
            response, raw = _raw_get(client, "/static/css/app.css", accept)
            assert response.status_code == 200
            assert response.headers.get("content-encoding") == coding, accept
            assert raw == body, accept
            assert response.headers["content-length"] == str(len(body))
            assert response.headers["content-type"] == "text/css; charset=utf-8"
            assert response.headers["vary"].lower() == "accept-encoding"
            etags.add(response.headers["etag"])
        assert len(etags) == 4, "each representation has its own ETag"
        decoded = client.get("/static/css/app.css", headers={"Accept-Encoding": "gzip"})
        assert decoded.content == CSS  # httpx decodes the gzip sibling back to the file
        # A file without siblings: itself, still with Vary.
        plain, _ = _raw_get(client, "/static/digits.txt", "gzip, br")
        assert "content-encoding" not in plain.headers
        assert plain.headers["vary"].lower() == "accept-encoding"


def test_cache_control_per_mount_and_immutable_hashed_names(serve, tree: Path, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        'static-cache-control = "public, max-age=3600"\n'
        f'[[mount]]\nprefix = "/static"\napp = "static:{tree}"\n'
        f'[[mount]]\nprefix = "/media"\napp = "static:{tree}"\nstatic-cache-control = "no-cache"\n'
    )
    server = serve(f"--config={config}")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/static/digits.txt").headers["cache-control"] == "public, max-age=3600"
        assert client.get("/media/digits.txt").headers["cache-control"] == "no-cache"
        for prefix in ("/static", "/media"):
            hashed = client.get(f"{prefix}/css/{HASHED}")
            assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_index_files_and_no_listings(serve, tree: Path):
    server = serve(*_static(tree, "/", "--static-index=index.html"))
    with httpx.Client(base_url=server.url) as client:
        home = client.get("/")
        assert (home.status_code, home.text) == (200, "<h1>home</h1>")
        assert home.headers["content-type"] == "text/html; charset=utf-8"
        docs = client.get("/docs/")
        assert (docs.status_code, docs.text) == (200, "<h1>docs</h1>")
        moved = client.get("/docs?page=2")
        assert moved.status_code == 301
        assert moved.headers["location"] == "/docs/?page=2"
        assert client.get("/empty/").status_code == 404  # no index: no listing either
        assert client.get("/css/").status_code == 404
    without = serve(*_static(tree, "/files"))
    with httpx.Client(base_url=without.url) as client:
        assert client.get("/files/docs/").status_code == 404
        assert client.get("/files/").status_code == 404


def test_only_get_and_head_read_files(serve, tree: Path):
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            response = client.request(method, "/static/digits.txt")
            assert response.status_code == 405, method
            assert response.headers["allow"] == "GET, HEAD"
        # A path that names no file is 404 whatever the method (so a fallback can take it).
        assert client.post("/static/missing", content=b"x").status_code == 404


#: Paths that must never reach a file outside the root (nor a dotfile), sent as raw bytes:
#: clients normalize `..` and percent-encodings away.
HOSTILE = [
    "/static/../secret.txt",
    "/static/css/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/css/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%5csecret.txt",
    "/static/..\\secret.txt",
    "/static/css\\..\\..\\secret.txt",
    "/static/digits.txt%00.png",
    "/static/%00",
    "/static/outside.txt",
    "/static/up/secret.txt",
    "/static/.env",
    "/static/%2eenv",
    "/static/css/.",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/.%2e/.%2e/.%2e/.%2e/etc/passwd",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_get_404(serve_once, path: str):
    server, _tree = serve_once
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", path))
        response = conn.read_response()
    assert response.status == 404, f"{path}: {response.status} {response.body[:80]!r}"
    assert SECRET not in response.body
    assert b"root:" not in response.body


@pytest.fixture(scope="module")
def serve_once(tmp_path_factory):
    """One server for the whole hostile-path table (starting one per path would dominate)."""
    from conftest import start_server

    tmp_path = tmp_path_factory.mktemp("hostile")
    root = make_tree(tmp_path)
    server = start_server(None, *_static(root))
    yield server, root
    server.stop()


def test_symlinks_inside_the_root_are_followed(serve, tree: Path):
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        inside = client.get("/static/inside.txt")
        assert (inside.status_code, inside.content) == (200, b"0123456789")


def test_a_kept_file_rewritten_is_served_anew_within_a_second(serve, tree: Path):
    """Small files are answered from memory (``static_files/cache.rs``), trusted for a
    second: a rewrite with the same size, even dated in the past, is seen after that, and
    every answer until then is the old version whole (its bytes with its ETag)."""
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        first = [client.get("/static/digits.txt") for _ in range(3)][-1]
        assert first.content == b"0123456789"
        (tree / "digits.txt").write_bytes(b"9876543210")
        os.utime(tree / "digits.txt", (978307200, 978307200))

        def fetch() -> httpx.Response:
            answer = client.get("/static/digits.txt")
            assert (answer.content == first.content) == (answer.headers["etag"] == first.headers["etag"])
            return answer

        again = _within_a_second(fetch, lambda answer: answer.content != first.content)
        assert again.content == b"9876543210"
        assert again.headers["last-modified"] == "Mon, 01 Jan 2001 00:00:00 GMT"
        assert client.get("/static/digits.txt", headers={"Range": "bytes=0-2"}).content == b"987"
        (tree / "digits.txt").unlink()
        _within_a_second(lambda: client.get("/static/digits.txt"), lambda answer: answer.status_code == 404)
        assert client.get("/static/inside.txt").status_code == 404, "the symlink to it is dangling now"


def test_a_large_kept_file_rewritten_in_place_is_served_anew_at_once(serve, tree: Path):
    """A file over 256 KiB is kept open, not read, and checked before bytes are read from
    it: a rewrite of the same inode, same size, is seen at once by the next range request
    and the next download."""
    large = tree / "large.bin"
    large.write_bytes(b"a" * (300 * 1024))
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        first = [client.get("/static/large.bin", headers={"Range": "bytes=0-3"}) for _ in range(3)][-1]
        assert (first.status_code, first.content) == (206, b"aaaa")
        etag = first.headers["etag"]
        assert client.get("/static/large.bin", headers={"If-None-Match": etag}).status_code == 304
        with large.open("r+b") as rewrite:
            rewrite.write(b"b" * (300 * 1024))
        os.utime(large, (978307200, 978307200))
        again = client.get("/static/large.bin", headers={"Range": "bytes=0-3"})
        assert (again.status_code, again.content) == (206, b"bbbb")
        assert again.headers["etag"] != etag
        assert client.get("/static/large.bin", headers={"If-None-Match": etag}).status_code == 200
        assert client.get("/static/large.bin").content == b"b" * (300 * 1024)


def test_a_kept_path_swapped_for_a_symlink_out_of_the_root_is_404(serve, tree: Path, tmp_path: Path):
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/static/app.js").status_code == 200
        (tree / "app.js").unlink()
        (tree / "app.js").symlink_to(tmp_path / "secret.txt")

        def fetch() -> httpx.Response:
            answer = client.get("/static/app.js")
            assert SECRET not in answer.content
            return answer

        _within_a_second(fetch, lambda answer: answer.status_code == 404)


def test_a_sibling_written_next_to_a_kept_file_is_offered_within_a_second(serve, tree: Path):
    server = serve(*_static(tree))
    gzip_please = {"Accept-Encoding": "gzip"}
    with httpx.Client(base_url=server.url) as client:
        assert "content-encoding" not in client.get("/static/data.json", headers=gzip_please).headers
        (tree / "data.json.gz").write_bytes(gzip.compress(b'{"a": 1}'))
        offered = _within_a_second(
            lambda: client.get("/static/data.json", headers=gzip_please),
            lambda answer: "content-encoding" in answer.headers,
        )
        assert (offered.headers["content-encoding"], offered.json()) == ("gzip", {"a": 1})


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_static_root_that_is_not_a_directory_exits_2_naming_it(run_cli, tmp_path: Path, make: str):
    target = tmp_path / "public"
    if make == "file":
        target.write_text("not a directory")
    result = run_cli(f"--mount=/static=static:{target}", "-b", "127.0.0.1:0")
    assert result.returncode == 2
    assert str(target) in result.stderr
    assert "Listening" not in result.stderr


def test_static_as_a_fallback_and_with_a_fallback(serve, tree: Path, tmp_path: Path):
    (tree / "api").mkdir()
    (tree / "api" / "schema.json").write_text('{"from": "static"}')
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        f'[[mount]]\nprefix = "/"\napp = "static:{tree}"\nname = "assets"\nfallback = "legacy"\n'
        '[[mount]]\nprefix = "/legacy"\napp = "apps.mounts:legacy"\nname = "legacy"\n'
        '[[mount]]\nprefix = "/api"\napp = "asgi:apps.mounts:new_api"\nfallback = "assets"\n'
    )
    server = serve(f"--config={config}")
    with httpx.Client(base_url=server.url) as client:
        # The ASGI app says 404: the static mount answers in its place.
        schema = client.get("/api/schema.json")
        assert (schema.status_code, schema.json()) == (200, {"from": "static"})
        assert client.get("/api/new").json()["app"] == "new"
        # The static mount has no such file: the WSGI app answers, POSTs included.
        fallen = client.post("/login", content=b"user=a")
        assert fallen.status_code == 200
        assert fallen.json()["app"] == "legacy"
        assert fallen.json()["body_length"] == 6
        assert client.get("/digits.txt").content == b"0123456789"


def test_the_access_log_names_the_static_mount(serve, tree: Path):
    server = serve(
        *_static(tree), "--access-log", "--access-log-format=%(s)s %(U)s %(mount)s %(B)s", capture_stdout=True
    )
    httpx.get(f"{server.url}/static/digits.txt")
    assert server.stdout_lines(1) == ["200 /static/digits.txt /static 10"]


def test_http2_gets_the_same_answers(serve, tree: Path, tmp_path: Path):
    """Over h2c (prior knowledge): a whole file, a range, a 304, and a file larger than one
    read (streamed through the channel) arrive intact."""
    large = bytes(range(256)) * 4096 + b"end"  # 1 MiB and 3 bytes: five reads
    (tree / "large.bin").write_bytes(large)
    server = serve(*_static(tree))
    with httpx.Client(base_url=server.url, http1=False, http2=True, timeout=20) as client:
        whole = client.get("/static/digits.txt")
        assert (whole.http_version, whole.status_code, whole.content) == ("HTTP/2", 200, b"0123456789")
        part = client.get("/static/digits.txt", headers={"Range": "bytes=-4"})
        assert (part.status_code, part.content) == (206, b"6789")
        again = client.get("/static/digits.txt", headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304
        streamed = client.get("/static/large.bin")
        assert streamed.content == large
        assert streamed.headers["content-length"] == str(len(large))
