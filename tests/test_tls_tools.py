"""TLS and HTTP/2 as the command-line tools see them: ``openssl s_client`` (the ALPN result,
the protocol versions, TLS 1.1 refused) and ``curl`` (HTTP/2 over TLS, HTTP/1.1 when asked,
h2c with prior knowledge). Each test is skipped where its tool is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trustme
from tls_support import tls_args, write_pair

pytestmark = pytest.mark.timeout(60)

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The server's certificate and key, and the CA file clients trust."""
    directory = tmp_path_factory.mktemp("tools")
    certfile, keyfile = write_pair(directory, ca.issue_cert("127.0.0.1", "localhost"), "server")
    cafile = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return certfile, keyfile, cafile


def s_client(server, cafile: Path, *options: str) -> str:
    """What ``openssl s_client`` prints for one handshake (it sends nothing and quits)."""
    assert OPENSSL is not None
    done = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}", "-CAfile", str(cafile), *options],
        input=b"",
        capture_output=True,
        timeout=20,
        check=False,
    )
    return (done.stdout + done.stderr).decode("utf-8", "replace")


@needs_openssl
@pytest.mark.parametrize(
    ("http", "offered", "expected"),
    [("auto", "h2,http/1.1", "h2"), ("auto", "http/1.1", "http/1.1"), ("1", "h2,http/1.1", "http/1.1")],
)
def test_openssl_sees_the_alpn_protocol_the_server_picks(serve, files, http, offered, expected):
    server = serve("apps.basic:hello", *tls_args(files[:2]), "--http", http)
    printed = s_client(server, files[2], "-alpn", offered)
    assert f"ALPN protocol: {expected}" in printed, printed
    assert "Verify return code: 0 (ok)" in printed, printed


@needs_openssl
@pytest.mark.parametrize(("flag", "version"), [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")])
def test_openssl_negotiates_tls_1_2_and_1_3(serve, files, flag, version):
    server = serve("apps.basic:hello", *tls_args(files[:2]))
    printed = s_client(server, files[2], flag, "-brief")
    assert f"Protocol version: {version}" in printed, printed


@needs_openssl
def test_openssl_with_tls_1_1_is_refused(serve, files):
    server = serve("apps.basic:hello", *tls_args(files[:2]))
    printed = s_client(server, files[2], "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-brief")
    assert "Protocol version: TLSv1.1" not in printed, printed
    assert "alert" in printed.lower() or "error" in printed.lower(), printed
    assert server.proc.poll() is None


def curl(*args: str) -> str:
    """``curl``'s body and ``http_version``, one per line."""
    assert CURL is not None
    done = subprocess.run(
        [CURL, "-sS", "--max-time", "20", "-w", "\\n%{http_version}", *args],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout.decode()


@needs_curl
@pytest.mark.parametrize(("option", "version"), [("--http2", "2"), ("--http1.1", "1.1")])
def test_curl_over_tls(serve, files, option, version):
    server = serve("apps.basic:hello", *tls_args(files[:2]))
    assert curl(option, "--cacert", str(files[2]), server.url + "/") == f"Hello, world!\n{version}"


@needs_curl
def test_curl_h2c_with_prior_knowledge(serve):
    server = serve("apps.basic:hello")
    assert curl("--http2-prior-knowledge", server.url + "/") == "Hello, world!\n2"
