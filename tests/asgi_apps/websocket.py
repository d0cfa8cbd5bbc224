"""WebSocket apps: an echo that reports what the server told it, and handshake answers.

Routes (by path): ``/echo`` accepts (with the first offered subprotocol and an extra
header) and echoes; text ``close:CODE:REASON`` makes it close with that code and reason;
``/deny`` closes before accepting; ``/denial`` answers the handshake with its own HTTP
response (``/denial-200`` with a ``200``); ``/fail`` raises before accepting; ``/fail-open``
raises after accepting. Each disconnect event is recorded in the file named by
``?record=``; with ``&again=N`` the app then calls ``receive()`` N more times and records
what each gives.
"""

import json

from asgi_apps._util import query, record


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    assert scope["type"] == "websocket"
    record_path = query(scope).get("record")
    connect = await receive()
    assert connect["type"] == "websocket.connect", connect
    path = scope["path"]
    if path == "/deny":
        await send({"type": "websocket.close", "code": 4003})
        return
    if path == "/denial":
        headers = [(b"content-type", b"text/plain"), (b"x-reason", b"no-token")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"need ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"a token"})
        return
    if path == "/denial-200":
        await send({"type": "websocket.http.response.start", "status": 200, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"not a websocket"})
        return
    if path == "/fail":
        raise RuntimeError("websocket app failed before accepting")
    subprotocols = scope["subprotocols"]
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": subprotocols[0] if subprotocols else None,
            "headers": [(b"x-accepted-by", b"amphicorn-test")],
        }
    )
    if path == "/fail-open":
        raise RuntimeError("websocket app failed after accepting")
    if path == "/scope":
        info = {
            "scheme": scope["scheme"],
            "path": scope["path"],
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode(),
            "subprotocols": subprotocols,
            "http_version": scope["http_version"],
            "extensions": sorted(scope.get("extensions", {})),
            "has_client": len(scope["client"]) == 2,
            "first_header": [part.decode("latin-1") for part in scope["headers"][0]],
        }
        await send({"type": "websocket.send", "text": json.dumps(info)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            seen = [message]
            for _ in range(int(query(scope).get("again", "0"))):
                seen.append(await receive())
            record(record_path, " | ".join(f"disconnect {m['code']} {m.get('reason', '')}" for m in seen))
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            _, code, reason = text.split(":", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": "echo:" + text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
