"""Renewed certificates without a restart: SIGHUP re-reads ``--ssl-certfile``/``--ssl-keyfile``.

In a single process the server swaps the pair for new handshakes while open connections go
on with theirs, and apps are told of the new certificate; files that cannot serve are
logged and the previous pair stays. Under a supervisor SIGHUP is a rolling restart, and the
new workers read the files anew.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support import wait_until
from tls_support import client_context, tls_args, write_pair

pytestmark = pytest.mark.timeout(90)


def _der(cert: trustme.LeafCert) -> bytes:
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    return leaf.public_bytes(serialization.Encoding.DER)


def _served(ca: trustme.CA, port: int) -> bytes:
    """The certificate a new connection is shown."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        served = tls.getpeercert(binary_form=True)
    assert served is not None
    return served


def _get_json(connection: http.client.HTTPSConnection) -> dict:
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def test_sighup_in_a_single_process_swaps_the_pair_for_new_connections_only(serve, ca, tmp_path):
    old, new = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    files = write_pair(tmp_path, old, "server")
    server = serve("apps.tls:asgi_tls", *tls_args(files))
    assert _served(ca, server.port) == _der(old)
    open_connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=client_context(ca), timeout=10)
    try:
        assert _get_json(open_connection)["tls"]["server_cert"] == old.cert_chain_pems[0].bytes().decode()
        write_pair(tmp_path, new, "server")  # renewed in place, as certbot and others do
        server.proc.send_signal(signal.SIGHUP)
        assert server.wait_for_stderr("TLS certificate reloaded", timeout=10), server.stderr()
        assert _served(ca, server.port) == _der(new)
        fresh = http.client.HTTPSConnection("127.0.0.1", server.port, context=client_context(ca), timeout=10)
        with contextlib.closing(fresh):
            assert _get_json(fresh)["tls"]["server_cert"] == new.cert_chain_pems[0].bytes().decode()
        # The connection opened before goes on, with the certificate it was shown.
        assert _get_json(open_connection)["tls"]["tls_version"] == 0x0304
        assert isinstance(open_connection.sock, ssl.SSLSocket)
        assert open_connection.sock.getpeercert(binary_form=True) == _der(old)
    finally:
        open_connection.close()
    assert server.proc.poll() is None


def test_a_reload_with_files_that_cannot_serve_keeps_the_previous_pair(serve, ca, tmp_path):
    old = ca.issue_cert("127.0.0.1")
    certfile, keyfile = write_pair(tmp_path, old, "server")
    server = serve("apps.tls:wsgi", *tls_args((certfile, keyfile)))
    # Serving (the files are loaded) before they change.
    assert _served(ca, server.port) == _der(old)
    # A new certificate whose key has not been written yet.
    certfile.write_bytes(b"".join(blob.bytes() for blob in ca.issue_cert("127.0.0.1").cert_chain_pems))
    server.proc.send_signal(signal.SIGHUP)
    assert server.wait_for_stderr("TLS reload failed", timeout=10), server.stderr()
    assert "does not match" in server.stderr()
    assert str(keyfile) in server.stderr()
    assert _served(ca, server.port) == _der(old)
    assert server.proc.poll() is None


def test_sighup_under_workers_restarts_them_onto_the_new_pair(serve, ca, tmp_path: Path):
    old, new = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    files = write_pair(tmp_path, old, "server")
    server = serve("apps.tls:wsgi", *tls_args(files), "-w", "2")
    assert _served(ca, server.port) == _der(old)
    # Both workers have read the files before they are rewritten in place: one still starting
    # could read them half-written, fail, and abort the rolling restart.
    assert server.wait_for(lambda text: text.count(" is ready") >= 2, timeout=30), server.stderr()
    write_pair(tmp_path, new, "server")
    server.proc.send_signal(signal.SIGHUP)
    assert server.wait_for_stderr("New workers ready", timeout=30), server.stderr()
    wait_until(
        lambda: all(_served(ca, server.port) == _der(new) for _ in range(4)),
        timeout=30,
        message="the old certificate was still served after the rolling restart",
    )


@pytest.mark.parametrize("workers", [1, 2], ids=["single", "workers"])
def test_renewed_files_are_read_when_they_change_without_a_signal(serve, ca, tmp_path, workers):
    """A renewal tool rewrites the files; new handshakes soon show the new certificate,
    in a single process and in every worker."""
    old, new = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    files = write_pair(tmp_path, old, "server")
    server = serve("apps.tls:asgi_tls", *tls_args(files), "--workers", str(workers))
    assert server.wait_for_stderr("Watching for changes to", timeout=10), server.stderr()
    assert _served(ca, server.port) == _der(old)
    # As certbot does: the new files are written beside, then renamed over the old ones.
    (tmp_path / "staged").mkdir()
    staged = write_pair(tmp_path / "staged", new, "server")
    for source, target in zip(staged, files, strict=True):
        source.replace(target)
    # Every new handshake (on any worker) shows the new certificate once each has reloaded.
    wait_until(
        lambda: all(_served(ca, server.port) == _der(new) for _ in range(8)),
        timeout=15,
        message=f"the renewed certificate was never served:\n{server.stderr()}",
    )
    assert server.proc.poll() is None
