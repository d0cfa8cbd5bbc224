"""Client certificates (``--ssl-ca-certs``, ``--ssl-cert-reqs``), end to end with ``trustme``.

Under ``required`` a client with a certificate from the CA is served, one without a
certificate, one with a certificate from another CA and one with an expired certificate are
refused in the handshake; under ``optional`` a client without a certificate is served too,
and the others are still refused; ``none`` (the default) asks for nothing. uvicorn's
``0``/``1``/``2`` are accepted. Client certificates without a CA file, and a bad CA file, exit 2 naming the setting.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
from tls_support import client_context, get, tls_args, write_pair

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def files(ca: trustme.CA, client_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """certfile, keyfile, and the client CA's certificate file."""
    directory = tmp_path_factory.mktemp("mtls")
    certfile, keyfile = write_pair(directory, ca.issue_cert("127.0.0.1"), "server")
    client_ca_file = directory / "client-ca.pem"
    client_ca.cert_pem.write_to_path(str(client_ca_file))
    return certfile, keyfile, client_ca_file


def _mtls_args(files: tuple[Path, ...], reqs: str) -> tuple[str, ...]:
    return (*tls_args((files[0], files[1])), "--ssl-ca-certs", str(files[2]), "--ssl-cert-reqs", reqs)


def _refused_in_handshake(ca: trustme.CA, port: int, cert: trustme.LeafCert | None) -> bool:
    """Whether the server refuses this client (with TLS 1.3 the refusal may come with the
    first read, after the client thinks the handshake is done)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_context(ca, cert).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return not tls.recv(64).startswith(b"HTTP/1.1 200")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


@pytest.mark.parametrize("reqs", ["required", "2"])
def test_required_serves_a_client_with_a_certificate_from_the_ca(serve, ca, client_ca, files, reqs):
    server = serve("apps.tls:wsgi", *_mtls_args(files, reqs))
    response = get(ca, server.url + "/", client_ca.issue_cert("client@example.com"))
    assert response.status_code == 200


def test_required_refuses_a_client_without_a_certificate(serve, ca, client_ca, files):
    server = serve("apps.tls:wsgi", *_mtls_args(files, "required"))
    assert _refused_in_handshake(ca, server.port, None)
    with pytest.raises(httpx.TransportError):
        get(ca, server.url + "/")
    # The refusal cost the server nothing: the next client is served.
    assert get(ca, server.url + "/", client_ca.issue_cert("client@example.com")).status_code == 200


@pytest.mark.parametrize("reqs", ["required", "optional"])
def test_a_certificate_from_another_ca_is_refused(serve, ca, files, reqs):
    server = serve("apps.tls:wsgi", *_mtls_args(files, reqs))
    stranger = trustme.CA().issue_cert("mallory@example.com")
    assert _refused_in_handshake(ca, server.port, stranger)


def test_an_expired_certificate_from_the_ca_is_refused(serve, ca, client_ca, files):
    server = serve("apps.tls:wsgi", *_mtls_args(files, "optional"))
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = client_ca.issue_cert(
        "client@example.com", not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1)
    )
    assert _refused_in_handshake(ca, server.port, expired)
    assert not _refused_in_handshake(ca, server.port, client_ca.issue_cert("client@example.com"))


@pytest.mark.parametrize("reqs", ["optional", "1"])
def test_optional_serves_clients_with_and_without_a_certificate(serve, ca, client_ca, files, reqs):
    server = serve("apps.tls:wsgi", *_mtls_args(files, reqs))
    assert get(ca, server.url + "/").status_code == 200
    assert get(ca, server.url + "/", client_ca.issue_cert("client@example.com")).status_code == 200


def test_none_asks_for_no_certificate_even_with_a_ca_file(serve, ca, files):
    server = serve("apps.tls:wsgi", *_mtls_args(files, "none"))
    stranger = trustme.CA().issue_cert("mallory@example.com")
    assert get(ca, server.url + "/", stranger).status_code == 200


# -- bad settings: exit 2 naming them, before anything binds


def _refused(run_cli, *args: str) -> str:
    result = run_cli("apps.tls:wsgi", "-b", "127.0.0.1:0", *args)
    assert result.returncode == 2, result.stderr
    assert "Listening on" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("reqs", ["required", "optional"])
def test_client_certificates_without_a_ca_file_are_refused(run_cli, files, reqs):
    stderr = _refused(run_cli, *tls_args((files[0], files[1])), "--ssl-cert-reqs", reqs)
    assert "ssl_cert_reqs" in stderr
    assert "ssl_ca_certs" in stderr


def test_an_unknown_cert_reqs_is_named(run_cli, files):
    stderr = _refused(run_cli, *_mtls_args(files, "sometimes"))
    assert "--ssl-cert-reqs" in stderr
    assert "sometimes" in stderr


def test_a_ca_file_with_no_certificate_is_named(run_cli, files):
    stderr = _refused(
        run_cli, *tls_args((files[0], files[1])), "--ssl-ca-certs", str(files[1]), "--ssl-cert-reqs", "required"
    )
    assert "ssl_ca_certs" in stderr
    assert str(files[1]) in stderr
    assert "no PEM certificate" in stderr


def test_a_missing_ca_file_is_named(run_cli, files):
    stderr = _refused(run_cli, *tls_args((files[0], files[1])), "--ssl-ca-certs", "/no/such/ca.pem")
    assert "--ssl-ca-certs" in stderr
    assert "/no/such/ca.pem" in stderr


def test_a_ca_file_without_tls_is_refused(run_cli, files):
    stderr = _refused(run_cli, "--ssl-ca-certs", str(files[2]))
    assert "ssl_ca_certs" in stderr
    assert "ssl_certfile" in stderr
