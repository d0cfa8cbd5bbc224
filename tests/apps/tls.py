"""Apps for the TLS tests: each reports what it learns about the connection's security.

``wsgi`` answers ``wsgi.url_scheme``, ``HTTPS`` and its process id as JSON; ``asgi`` answers
its scope's ``scheme`` over HTTP, and sends it as a text message over a WebSocket.
"""

from __future__ import annotations

import json
import os

from apps._util import json_response


def wsgi(environ, start_response):
    """``{"url_scheme": ..., "HTTPS": ..., "pid": ...}``."""
    seen = {"url_scheme": environ["wsgi.url_scheme"], "HTTPS": environ.get("HTTPS"), "pid": os.getpid()}
    return json_response(start_response, seen)


async def asgi(scope, receive, send):
    """HTTP: ``{"scheme": ...}``; WebSocket: accepts and sends the scheme, then closes."""
    if scope["type"] == "http":
        body = json.dumps({"scheme": scope["scheme"]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["scheme"]})
        await send({"type": "websocket.close", "code": 1000})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return


SSL_VARIABLES = ("HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_CERT", "SSL_CLIENT_S_DN", "SSL_CLIENT_VERIFY")


def wsgi_ssl(environ, start_response):
    """mod_ssl's variables as the environ has them (absent ones left out), as JSON."""
    return json_response(start_response, {name: environ[name] for name in SSL_VARIABLES if name in environ})


async def asgi_tls(scope, receive, send):
    """``{"tls": scope["extensions"]["tls"]}`` (``null`` when absent) as JSON: the HTTP
    response, or a WebSocket's one text message.

    Over HTTP it then edits the extension (its client chain too), so that a test can see the
    next request on the connection get a fresh copy."""
    extension = scope["extensions"].get("tls")
    body = json.dumps({"tls": extension}).encode()
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": body.decode()})
        await send({"type": "websocket.close", "code": 1000})
        return
    assert scope["type"] == "http"
    if extension is not None:
        extension["client_cert_chain"].append("edited by the app")
        extension["cipher_suite"] = -1
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
