"""The benchmark's WSGI app: plain PEP 3333, no framework.

Routes are chosen by the path's last segment, so the app answers the same under a mount
prefix (``/legacy/hello``) as at the root, whatever the server puts in SCRIPT_NAME:

- ``…/hello``  the 13-byte body ``Hello, world!``
- ``…/echo``   the request body (read through ``wsgi.input``), sent back
- ``…/stream`` 1 MiB, yielded by a generator in 64 KiB chunks
"""

HELLO = b"Hello, world!"
CHUNK = b"x" * (64 * 1024)
CHUNKS = 16  # 16 x 64 KiB = 1 MiB
STREAM_LENGTH = str(len(CHUNK) * CHUNKS)


def _stream():
    for _ in range(CHUNKS):
        yield CHUNK


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.endswith("/echo"):
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else stream.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]
    if path.endswith("/stream"):
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", STREAM_LENGTH)])
        return _stream()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


application = app
