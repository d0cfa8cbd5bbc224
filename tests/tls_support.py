"""Certificates for the TLS tests, made with ``trustme``: writing a chain and its key to files,
the server flags that name them, client contexts that trust a test CA (and may present a
client certificate), and the first message of a ``wss://`` WebSocket."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import trustme
from websockets.asyncio.client import connect


def write_pair(directory: Path, cert: trustme.LeafCert, name: str) -> tuple[Path, Path]:
    """Writes ``cert``'s chain (leaf first) and its key; returns (certfile, keyfile)."""
    certfile, keyfile = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return certfile, keyfile


def tls_args(pair: tuple[Path, Path]) -> tuple[str, ...]:
    """``--ssl-certfile CERT --ssl-keyfile KEY``."""
    return ("--ssl-certfile", str(pair[0]), "--ssl-keyfile", str(pair[1]))


def client_context(ca: trustme.CA, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca``, presenting ``cert`` when given."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


def get(ca: trustme.CA, url: str, cert: trustme.LeafCert | None = None) -> httpx.Response:
    """One GET over TLS, trusting ``ca``."""
    with httpx.Client(verify=client_context(ca, cert), timeout=10) as client:
        return client.get(url)


def wss_first_message(url: str, context: ssl.SSLContext) -> str | bytes:
    """Opens a ``wss://`` WebSocket and returns the first message the server sends.

    With websockets' asyncio client: its threaded (``sync``) client reads the TLS socket in one
    thread while it writes the handshake from another, and an OpenSSL connection is not safe
    for use from two threads at once. Now and then its reading thread never sees the ``101``
    (2 handshakes in 1,500 with both cores busy, none in 1,500 over plain ``ws://`` or with
    this client), which would make a test fail for the client's sake, not the server's.
    """

    async def first() -> str | bytes:
        async with connect(url, ssl=context, open_timeout=10) as websocket:
            return await asyncio.wait_for(websocket.recv(), timeout=10)

    return asyncio.run(first())
