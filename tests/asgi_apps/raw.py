"""Raw ASGI 3 apps for the ``http`` protocol: scope echo, request bodies, responses, errors.

Each app takes its options from the query string; ``record=PATH`` names a side-channel file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import zlib

import amphicorn

from asgi_apps._util import encode, query, read_body, record, respond, respond_json, with_lifespan

BLOCK = bytes(range(256)) * 256  # 64 KiB


@with_lifespan
async def scope_echo(scope, receive, send):
    """Answers with the whole scope (see ``_util.encode``), and facts about where the app runs."""
    body, messages = await read_body(receive)
    await respond_json(
        send,
        {
            "scope": encode(scope),
            "scope_type": type(scope).__name__,
            "loop": type(asyncio.get_running_loop()).__module__,
            "main_thread": threading.current_thread() is threading.main_thread(),
            "body": body.decode("latin-1"),
            "messages": messages,
        },
    )


@with_lifespan
async def echo_body(scope, receive, send):
    """Reads the body and answers with its size, sha256 and the message sequence."""
    params = query(scope)
    delay = float(params.get("delay", "0"))
    if delay:
        await asyncio.sleep(delay)
    body, messages = await read_body(receive)
    record(params.get("record"), json.dumps(messages))
    await respond_json(send, {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "messages": messages})


@with_lifespan
async def checksum(scope, receive, send):
    """Reads a (large) body piece by piece; answers with its size, crc32 and largest piece."""
    total = 0
    crc = 0
    max_piece = 0
    messages = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        piece = message.get("body", b"")
        total += len(piece)
        max_piece = max(max_piece, len(piece))
        crc = zlib.crc32(piece, crc)
        messages += 1
        if not message.get("more_body", False):
            break
    await respond_json(send, {"bytes": total, "crc32": crc, "max_piece": max_piece, "messages": messages})


@with_lifespan
async def download(scope, receive, send):
    """Streams ``chunks`` copies of BLOCK (64 KiB), one body message each."""
    chunks = int(query(scope).get("chunks", "1"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/x-test")]})
    for _ in range(chunks):
        await send({"type": "http.response.body", "body": BLOCK, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@with_lifespan
async def after_response(scope, receive, send):
    """Answers, then calls receive() again: it must say ``http.disconnect`` once the response is done."""
    params = query(scope)
    await read_body(receive)
    await respond(send, b"done")
    started = time.monotonic()
    message = await receive()
    record(params.get("record"), json.dumps({"type": message["type"], "after": time.monotonic() - started}))


@with_lifespan
async def wait_disconnect(scope, receive, send):
    """Reads the body, then waits in receive() for the client to go away, then tries to answer."""
    params = query(scope)
    path = params.get("record")
    _, messages = await read_body(receive)
    record(path, json.dumps({"body_messages": messages}))
    started = time.monotonic()
    message = await receive()
    record(path, json.dumps({"type": message["type"], "after": time.monotonic() - started}))
    await asyncio.sleep(0.2)
    results = []
    for event in (
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"too late"},
    ):
        try:
            await send(event)
        except Exception as error:
            results.append(_describe_error(error))
            break
        results.append("ok")
    record(path, json.dumps({"send": results}))


@with_lifespan
async def partial_upload(scope, receive, send):
    """Reads the body message by message and records each one (the client will give up)."""
    path = query(scope).get("record")
    while True:
        message = await receive()
        record(path, json.dumps({"type": message["type"], "size": len(message.get("body", b""))}))
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    if message["type"] == "http.request":
        await respond(send, b"complete?!")


def _describe_error(error: BaseException) -> dict:
    return {
        "class": type(error).__name__,
        "oserror": isinstance(error, OSError),
        "client_disconnected": isinstance(error, amphicorn.ClientDisconnected),
        "message": str(error),
    }


@with_lifespan
async def endless(scope, receive, send):
    """Streams 16 KiB chunks until send() fails (the client goes away), then records the error."""
    path = query(scope).get("record")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    sent = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            await send({"type": "http.response.body", "body": b"x" * 16384, "more_body": True})
        except Exception as error:
            record(path, json.dumps({**_describe_error(error), "sent": sent}))
            return
        sent += 1
        await asyncio.sleep(0.001)
    record(path, json.dumps({"class": None, "sent": sent}))


@with_lifespan
async def expect_read(scope, receive, send):
    """Sleeps ``delay`` seconds, then reads the body and echoes it."""
    await asyncio.sleep(float(query(scope).get("delay", "0")))
    body, _ = await read_body(receive)
    await respond(send, b"got:" + body)


@with_lifespan
async def expect_ignore(scope, receive, send):
    """Answers 403 without ever reading the body."""
    await respond(send, b"ignored", status=403)


@with_lifespan
async def response(scope, receive, send):
    """Sends the response the query describes.

    ``status``, ``parts`` (body messages, comma separated; ``-`` is an empty one), ``length``
    (add a correct Content-Length header), ``delay`` (seconds between parts), ``nobody`` (final
    message without a ``body`` key), ``headers`` (extra ``name:value`` pairs, ``|`` separated).
    """
    params = query(scope)
    status = int(params.get("status", "200"))
    parts = [b"" if p == "-" else p.encode() for p in params.get("parts", "hello").split(",")]
    delay = float(params.get("delay", "0"))
    headers = [(b"content-type", b"text/plain")]
    for pair in filter(None, params.get("headers", "").split("|")):
        name, _, value = pair.partition(":")
        headers.append((name.encode(), value.encode()))
    if params.get("length"):
        headers.append((b"content-length", str(sum(map(len, parts))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for index, part in enumerate(parts):
        if index and delay:
            await asyncio.sleep(delay)
        message = {"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1}
        if params.get("nobody") and index == len(parts) - 1:
            message = {"type": "http.response.body"}
        await send(message)


@with_lifespan
async def sleepy(scope, receive, send):
    """Sleeps ``seconds`` on the loop (not blocking it), then answers. With ``record``, it
    first writes ``started`` there, so a test knows the request has reached the app."""
    options = query(scope)
    record(options.get("record"), "started")
    await asyncio.sleep(float(options.get("seconds", "0.5")))
    await respond(send, b"slept")


INVALID_CASES = {
    # case: (messages sent before the invalid one, the invalid one)
    "body_before_start": ([], {"type": "http.response.body", "body": b"early"}),
    "start_twice": (
        [{"type": "http.response.start", "status": 200, "headers": []}],
        {"type": "http.response.start", "status": 200, "headers": []},
    ),
    "unknown_type": ([], {"type": "http.response.bogus"}),
    "unknown_type_after_start": (
        [{"type": "http.response.start", "status": 200, "headers": []}],
        {"type": "http.response.bogus"},
    ),
    "after_final_body": (
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b"complete"},
        ],
        {"type": "http.response.body", "body": b"extra"},
    ),
    "start_after_final_body": (
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b"complete"},
        ],
        {"type": "http.response.start", "status": 200, "headers": []},
    ),
}


@with_lifespan
async def invalid(scope, receive, send):
    """Sends an invalid message sequence, catches what send() raises, and reports it.

    The report goes into the response when one can still be sent, and always to ``record``.
    With ``uncaught=1`` the error is left to propagate to the server.
    """
    params = query(scope)
    before, bad = INVALID_CASES[params["case"]]
    await read_body(receive)
    for message in before:
        await send(message)
    if params.get("uncaught"):
        await send(bad)
        return
    try:
        await send(bad)
    except Exception as error:
        report = {"class": type(error).__name__, "message": str(error)}
    else:
        report = {"class": None, "message": ""}
    record(params.get("record"), json.dumps(report))
    started = any(m["type"] == "http.response.start" for m in before)
    finished = any(m["type"] == "http.response.body" and not m.get("more_body") for m in before)
    if not started:
        await respond_json(send, report)
    elif not finished:
        await send({"type": "http.response.body", "body": json.dumps(report).encode()})


@with_lifespan
async def fail_before_start(scope, receive, send):
    raise ValueError("boom-before-start " + query(scope).get("tag", ""))


@with_lifespan
async def fail_after_start(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"partial body", "more_body": True})
    await asyncio.sleep(0.05)
    raise ValueError("boom-after-start " + query(scope).get("tag", ""))


@with_lifespan
async def fail_after_start_with_length(scope, receive, send):
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"100")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"only ten b", "more_body": True})
    await asyncio.sleep(0.05)
    raise ValueError("boom-after-start-with-length")


@with_lifespan
async def fail_after_start_at_once(scope, receive, send):
    """Raises right after sending the head and a first chunk (no pause for the server to write)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise ValueError("boom-at-once")


@with_lifespan
async def no_response(scope, receive, send):
    await read_body(receive)


@with_lifespan
async def incomplete_response(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})


@with_lifespan
async def trailers(scope, receive, send):
    """Two body chunks, then an ``x-checksum`` trailer (their CRC-32) in two trailers messages
    (``x-checksum`` and ``x-count``), when the scope offers ``http.response.trailers``; the
    ``x-trailers-offered`` header says whether it did. Without the extension: the body only.
    ``?forget=1``: announces trailers, then returns without sending them."""
    await read_body(receive)
    offered = "http.response.trailers" in scope.get("extensions", {})
    headers = [(b"content-type", b"text/plain"), (b"x-trailers-offered", b"yes" if offered else b"no")]
    if offered:
        headers.append((b"trailer", b"x-checksum, x-count"))
    await send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": offered})
    chunks = [b"first chunk;", b"second chunk"]
    for index, chunk in enumerate(chunks):
        await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})
    if offered and not query(scope).get("forget"):
        checksum = str(zlib.crc32(b"".join(chunks))).encode()
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", checksum)], "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-count", b"2")], "more_trailers": False})


@with_lifespan
async def zerocopy(scope, receive, send):
    """Sends parts of the file named by ``path`` with ``http.response.zerocopysend``:
    ``mode=range`` one message, ``offset``/``count`` from the query; ``mode=position`` two
    messages without an offset (from the file's position, which each moves on), then a
    ``http.response.body``; answers the file's final position in ``x-position`` (``range``)
    or as a trailing body line (``position``)."""
    await read_body(receive)
    params = query(scope)
    offered = "http.response.zerocopysend" in scope["extensions"]
    with open(params["path"], "rb") as file:
        if params.get("mode") == "position":
            file.seek(int(params.get("start", "0")))
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-offered", b"%d" % offered)]})
            for _ in range(2):
                message = {"type": "http.response.zerocopysend", "file": file, "count": 4, "more_body": True}
                await send(message)
            await send({"type": "http.response.body", "body": b"|position=%d" % file.tell()})
            return
        message = {"type": "http.response.zerocopysend", "file": file.fileno()}
        for key in ("offset", "count"):
            if key in params:
                message[key] = int(params[key])
        file.seek(3)
        headers = [(b"x-offered", b"%d" % offered), (b"x-position", b"%d" % file.tell())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(message)


#: Set by ``/release``: what ``early_hints`` waits for after its hints (module-level, the
#: app's one event loop).
_HINTS_RELEASED: asyncio.Event | None = None


@with_lifespan
async def early_hints(scope, receive, send):
    """``http.response.early_hint``: answers whether the scope offers it in ``x-hints-offered``.
    ``/hint``: two hints (one link, then two) before anything else, even where not offered,
    then waits: for the request body (a POST), else (without ``?now=1``) for a request to
    ``/release``; then 200.
    ``/late``: a hint after the start (answers what ``send`` raised as the body); anything
    else: a link with a line break (answers what ``send`` raised as the body and
    ``x-error``)."""
    global _HINTS_RELEASED
    if _HINTS_RELEASED is None:
        _HINTS_RELEASED = asyncio.Event()
    offered = b"yes" if "http.response.early_hint" in scope["extensions"] else b"no"
    headers = [(b"x-hints-offered", offered)]
    path = scope["path"][len(scope.get("root_path", "")) :]
    if path == "/release":
        await read_body(receive)
        _HINTS_RELEASED.set()
        await respond(send, b"released", headers=headers)
        return
    if path == "/hint":
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]})
        await send({"type": "http.response.early_hint", "links": [b"</app.js>; rel=preload", b"</font.woff2>"]})
        if scope["method"] == "POST":
            await read_body(receive)
        elif not query(scope).get("now"):
            await _HINTS_RELEASED.wait()
            _HINTS_RELEASED.clear()
        await respond(send, b"final", headers=headers)
        return
    error = b""
    if path == "/late":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            await send({"type": "http.response.early_hint", "links": [b"</late.css>"]})
        except RuntimeError as exc:
            error = str(exc).encode()
        await send({"type": "http.response.body", "body": error})
        return
    try:
        await send({"type": "http.response.early_hint", "links": [b"</a.css>\r\nx-injected: 1"]})
    except ValueError as exc:
        error = str(exc).encode()
    await respond(send, error, headers=[(b"x-error", error), *headers])
