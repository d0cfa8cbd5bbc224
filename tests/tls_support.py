"""Certificates for the TLS tests, made with ``trustme``: writing a chain and its key to files,
the server flags that name them, and client contexts that trust a test CA (and may present a
client certificate)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import trustme


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
