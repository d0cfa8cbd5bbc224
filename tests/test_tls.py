"""TLS (``--ssl-certfile``/``--ssl-keyfile``) end to end, with certificates made by ``trustme``.

A real server serves HTTPS to httpx and WSS to the ``websockets`` client, both trusting the
test CA; WSGI and ASGI apps see the ``https``/``wss`` scheme. A TLS 1.1 client is refused,
plain HTTP on the TLS port gets no answer and leaves the server serving, a client that
stalls its handshake is cut by the header timeout, workers serve TLS, and bad certificate or
key files exit 2 naming the file before anything binds.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from support import RawConnection
from tls_support import client_context, get, tls_args, write_pair, wss_first_message

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def pair(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate chain for 127.0.0.1 and localhost, and its (ECDSA, PKCS#8) key."""
    return write_pair(tmp_path_factory.mktemp("tls"), ca.issue_cert("127.0.0.1", "localhost"), "server")


def test_a_wsgi_app_sees_https(serve, ca, pair):
    server = serve("apps.tls:wsgi", *tls_args(pair))
    assert server.url.startswith("https://")
    response = get(ca, server.url + "/")
    assert response.status_code == 200
    assert response.json()["url_scheme"] == "https"
    assert response.json()["HTTPS"] == "on"
    assert response.http_version == "HTTP/1.1"


def test_without_tls_a_wsgi_app_sees_http_and_no_https_key(serve):
    server = serve("apps.tls:wsgi")
    seen = httpx.get(server.url + "/", timeout=10).json()
    assert seen["url_scheme"] == "http"
    assert seen["HTTPS"] is None


def test_an_asgi_app_sees_https_and_wss(serve, ca, pair):
    server = serve("apps.tls:asgi", *tls_args(pair))
    response = get(ca, server.url + "/")
    assert response.status_code == 200
    assert response.json() == {"scheme": "https"}
    assert wss_first_message(f"wss://127.0.0.1:{server.port}/", client_context(ca)) == "wss"


def test_a_trusted_proxy_header_still_wins_over_tls(serve, ca, pair):
    """As in uvicorn: a trusted peer (127.0.0.1 by default) says what the client used."""
    server = serve("apps.tls:wsgi", *tls_args(pair))
    with httpx.Client(verify=client_context(ca), timeout=10) as client:
        seen = client.get(server.url + "/", headers={"X-Forwarded-Proto": "http"}).json()
    assert seen["url_scheme"] == "http"
    assert seen["HTTPS"] is None


@pytest.mark.parametrize("key_type", [trustme.KeyType.RSA, trustme.KeyType.ECDSA], ids=["rsa", "ecdsa"])
def test_rsa_and_ecdsa_keys_in_their_traditional_pem_forms(serve, ca, tmp_path, key_type):
    """PKCS#1 (``RSA PRIVATE KEY``) and SEC1 (``EC PRIVATE KEY``), as openssl writes them."""
    cert = ca.issue_cert("127.0.0.1", key_type=key_type)
    certfile, keyfile = write_pair(tmp_path, cert, "traditional")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    traditional = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    keyfile.write_bytes(traditional)
    assert b"BEGIN RSA PRIVATE KEY" in traditional or b"BEGIN EC PRIVATE KEY" in traditional
    server = serve("apps.tls:wsgi", *tls_args((certfile, keyfile)))
    assert get(ca, server.url + "/").json()["url_scheme"] == "https"


def test_a_tls_1_1_client_is_refused(serve, ca, pair):
    server = serve("apps.tls:wsgi", *tls_args(pair))
    context = client_context(ca)
    # Let this client offer TLS 1.1 at all (OpenSSL's default security level forbids it).
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python deprecates TLS 1.1 too
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError) as refused,
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    # The server's refusal, not the client's own lack of a protocol.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value
    # The same client allowed TLS 1.2 gets through.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"


def test_plain_http_on_the_tls_port_gets_no_answer_and_the_server_keeps_serving(serve, ca, pair):
    server = serve("apps.tls:wsgi", *tls_args(pair))
    with RawConnection("127.0.0.1", server.port) as raw:
        raw.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while (more := raw.recv_some(5)) and len(received) < 65536:
            received += more
        assert not received.startswith(b"HTTP/1.1 200"), received
    assert get(ca, server.url + "/").status_code == 200


def test_a_stalled_handshake_is_cut_by_the_header_timeout(serve, ca, pair):
    server = serve("apps.tls:wsgi", *tls_args(pair), "--timeout-request-headers", "1")
    started = time.monotonic()
    with RawConnection("127.0.0.1", server.port) as raw:
        assert raw.is_closed(timeout=5), "a client that sends nothing kept its connection"
    assert time.monotonic() - started >= 0.8  # cut by the timeout, not at once
    assert get(ca, server.url + "/").status_code == 200


def test_workers_serve_tls(serve, ca, pair):
    server = serve("apps.tls:wsgi", *tls_args(pair), "-w", "2")
    assert server.url.startswith("https://")
    seen = [get(ca, server.url + "/").json() for _ in range(4)]
    assert {answer["url_scheme"] for answer in seen} == {"https"}


def test_a_unix_socket_stays_plain_http(serve, ca, pair, tmp_path):
    path = tmp_path / "tls.sock"
    serve("apps.tls:wsgi", *tls_args(pair), "-b", f"unix:{path}")
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, timeout=10) as client:
        assert client.get("http://localhost/").json()["url_scheme"] == "http"


# -- bad files: exit 2 naming the file, before anything binds


def _refused(run_cli, *args: str) -> str:
    result = run_cli("apps.tls:wsgi", "-b", "127.0.0.1:0", *args)
    assert result.returncode == 2, result.stderr
    assert "Listening on" not in result.stderr
    return result.stderr


def test_a_missing_certificate_file_is_named(run_cli, pair):
    stderr = _refused(run_cli, "--ssl-certfile", "/no/such/cert.pem", "--ssl-keyfile", str(pair[1]))
    assert "--ssl-certfile" in stderr
    assert "/no/such/cert.pem" in stderr


def test_a_certificate_without_its_key_is_refused(run_cli, pair):
    stderr = _refused(run_cli, "--ssl-certfile", str(pair[0]))
    assert "ssl_certfile" in stderr
    assert "ssl_keyfile" in stderr


def test_a_key_of_another_certificate_is_named(run_cli, ca, pair, tmp_path):
    _, other_key = write_pair(tmp_path, ca.issue_cert("127.0.0.1"), "other")
    stderr = _refused(run_cli, "--ssl-certfile", str(pair[0]), "--ssl-keyfile", str(other_key))
    assert "does not match" in stderr
    assert str(other_key) in stderr


def test_a_key_file_with_no_key_is_named(run_cli, pair):
    stderr = _refused(run_cli, "--ssl-certfile", str(pair[0]), "--ssl-keyfile", str(pair[0]))
    assert "ssl_keyfile" in stderr
    assert "no PEM private key" in stderr
    assert str(pair[0]) in stderr


def test_a_certificate_file_with_no_certificate_is_named(run_cli, pair):
    stderr = _refused(run_cli, "--ssl-certfile", str(pair[1]), "--ssl-keyfile", str(pair[1]))
    assert "ssl_certfile" in stderr
    assert "no PEM certificate" in stderr
    assert str(pair[1]) in stderr
