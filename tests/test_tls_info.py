"""What apps see of TLS: mod_ssl's ``SSL_*`` WSGI variables and the ASGI ``tls`` extension.

Driven by ``http.client`` over Python's ``ssl``, so each answer can be compared with what the
client itself negotiated (protocol, cipher) and presented (its certificate, whose subject
``cryptography`` writes as RFC 4514). Plain HTTP, and a request a trusted proxy says came
over plain HTTP, see none of it.
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from tls_support import client_context, tls_args, write_pair, wss_first_message

pytestmark = pytest.mark.timeout(60)

#: RFC 8446's numbers of the TLS 1.3 suites, by their (IANA and OpenSSL) names.
TLS13_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
}


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1")


@pytest.fixture(scope="module")
def args(server_cert, client_ca, tmp_path_factory) -> tuple[str, ...]:
    """TLS flags with client certificates optional, from ``client_ca``."""
    directory = tmp_path_factory.mktemp("tls-info")
    certfile, keyfile = write_pair(directory, server_cert, "server")
    client_ca_file = directory / "client-ca.pem"
    client_ca.cert_pem.write_to_path(str(client_ca_file))
    return (*tls_args((certfile, keyfile)), "--ssl-ca-certs", str(client_ca_file), "--ssl-cert-reqs", "optional")


def _ask(port: int, context: ssl.SSLContext, requests: int = 1) -> tuple[list[Any], tuple[str, str]]:
    """``requests`` GETs of ``/`` on one connection: the JSON answers, and the protocol and
    cipher the client negotiated."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    answers = []
    try:
        for _ in range(requests):
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.status == 200
            answers.append(json.loads(response.read()))
        assert isinstance(connection.sock, ssl.SSLSocket)
        cipher = connection.sock.cipher()
        assert cipher is not None
        return answers, (str(connection.sock.version()), cipher[0])
    finally:
        connection.close()


def _subject(cert: trustme.LeafCert) -> str:
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).subject.rfc4514_string()


def test_wsgi_without_a_client_certificate(serve, ca, args):
    server = serve("apps.tls:wsgi_ssl", *args)
    [seen], tls = _ask(server.port, client_context(ca))
    assert seen == {
        "HTTPS": "on",
        "SSL_PROTOCOL": tls[0],
        "SSL_CIPHER": tls[1],
        "SSL_CLIENT_VERIFY": "NONE",
    }
    assert seen["SSL_PROTOCOL"] == "TLSv1.3"


def test_wsgi_with_a_client_certificate(serve, ca, client_ca, args):
    server = serve("apps.tls:wsgi_ssl", *args)
    client = client_ca.issue_cert("client@example.com", common_name="Alice, of Example")
    [seen], _ = _ask(server.port, client_context(ca, client))
    assert seen["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert seen["SSL_CLIENT_CERT"] == client.cert_chain_pems[0].bytes().decode()
    assert seen["SSL_CLIENT_S_DN"] == _subject(client)
    assert "CN=Alice\\, of Example" in seen["SSL_CLIENT_S_DN"]


def test_wsgi_over_tls_1_2_names_the_protocol_and_its_iana_cipher(serve, ca, args):
    server = serve("apps.tls:wsgi_ssl", *args)
    context = client_context(ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    [seen], tls = _ask(server.port, context)
    assert (seen["SSL_PROTOCOL"], tls[0]) == ("TLSv1.2", "TLSv1.2")
    assert seen["SSL_CIPHER"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"


def test_asgi_tls_extension_without_a_client_certificate(serve, ca, server_cert, args):
    server = serve("apps.tls:asgi_tls", *args)
    [seen], tls = _ask(server.port, client_context(ca))
    assert seen["tls"] == {
        "server_cert": server_cert.cert_chain_pems[0].bytes().decode(),
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": TLS13_SUITES[tls[1]],
    }


def test_asgi_tls_extension_with_a_client_certificate_on_each_request(serve, ca, client_ca, args):
    server = serve("apps.tls:asgi_tls", *args)
    client = client_ca.issue_cert("client@example.com")
    first, second = _ask(server.port, client_context(ca, client), requests=2)[0]
    assert first["tls"]["client_cert_chain"] == [client.cert_chain_pems[0].bytes().decode()]
    assert first["tls"]["client_cert_name"] == _subject(client)
    assert first["tls"]["client_cert_error"] is None
    # The app edited its copy after answering; the next request on the connection has its own.
    assert second == first


def test_a_websocket_over_tls_has_the_extension_too(serve, ca, client_ca, args):
    server = serve("apps.tls:asgi_tls", *args)
    client = client_ca.issue_cert("client@example.com")
    context = client_context(ca, client)
    seen = json.loads(wss_first_message(f"wss://127.0.0.1:{server.port}/", context))
    assert seen["tls"]["client_cert_name"] == _subject(client)
    assert seen["tls"]["tls_version"] == 0x0304


def test_asgi_over_tls_1_2_gives_the_suites_number(serve, ca, args):
    server = serve("apps.tls:asgi_tls", *args)
    context = client_context(ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
    [seen], _ = _ask(server.port, context)
    assert (seen["tls"]["tls_version"], seen["tls"]["cipher_suite"]) == (0x0303, 0xCCA9)


def test_plain_http_has_no_tls_extension_and_no_ssl_variables(serve):
    assert httpx.get(serve("apps.tls:asgi_tls").url + "/", timeout=10).json() == {"tls": None}
    assert httpx.get(serve("apps.tls:wsgi_ssl").url + "/", timeout=10).json() == {}


def test_a_trusted_proxy_that_says_http_hides_our_tls(serve, ca, args, tmp_path: Path):
    for app, empty in (("apps.tls:wsgi_ssl", {}), ("apps.tls:asgi_tls", {"tls": None})):
        server = serve(app, *args)
        with httpx.Client(verify=client_context(ca), timeout=10) as client:
            assert client.get(server.url + "/", headers={"X-Forwarded-Proto": "http"}).json() == empty
            assert client.get(server.url + "/", headers={"X-Forwarded-Proto": "https"}).json() != empty
