"""Encrypted private keys (``--ssl-keyfile-password``), end to end.

An encrypted PKCS#8 key (PBES2, as ``cryptography`` and ``openssl pkcs8 -topk8`` write it)
serves HTTPS with its password, from the flag or the environment. A missing or wrong password,
a password for a key that is not encrypted, and OpenSSL's legacy encrypted PEM all exit 2
naming the setting and the file, before anything binds, and never show the password.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from tls_support import get, tls_args, write_pair

pytestmark = pytest.mark.timeout(60)

PASSWORD = "correct horse battery staple"


def _encrypted_pair(
    ca: trustme.CA, directory: Path, key_type: trustme.KeyType = trustme.KeyType.ECDSA, *, legacy: bool = False
) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", key_type=key_type)
    certfile, keyfile = write_pair(directory, cert, "encrypted")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    form = serialization.PrivateFormat.TraditionalOpenSSL if legacy else serialization.PrivateFormat.PKCS8
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, form, encryption))
    return certfile, keyfile


@pytest.mark.parametrize("key_type", [trustme.KeyType.RSA, trustme.KeyType.ECDSA], ids=["rsa", "ecdsa"])
def test_an_encrypted_pkcs8_key_serves_with_its_password(serve, ca, tmp_path, key_type):
    pair = _encrypted_pair(ca, tmp_path, key_type)
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in pair[1].read_bytes()
    server = serve("apps.tls:wsgi", *tls_args(pair), "--ssl-keyfile-password", PASSWORD)
    assert get(ca, server.url + "/").json()["url_scheme"] == "https"


def test_the_password_may_come_from_the_environment(serve, ca, tmp_path):
    pair = _encrypted_pair(ca, tmp_path)
    server = serve("apps.tls:wsgi", *tls_args(pair), env={"AMPHICORN_SSL_KEYFILE_PASSWORD": PASSWORD})
    assert get(ca, server.url + "/").status_code == 200


def _refused(run_cli, *args: str) -> str:
    result = run_cli("apps.tls:wsgi", "-b", "127.0.0.1:0", *args)
    assert result.returncode == 2, result.stderr
    assert "Listening on" not in result.stderr
    assert PASSWORD not in result.stderr
    return result.stderr


def test_an_encrypted_key_without_its_password_is_named(run_cli, ca, tmp_path):
    pair = _encrypted_pair(ca, tmp_path)
    stderr = _refused(run_cli, *tls_args(pair))
    assert "ssl_keyfile" in stderr
    assert str(pair[1]) in stderr
    assert "encrypted" in stderr
    assert "ssl_keyfile_password" in stderr


def test_a_wrong_password_is_named(run_cli, ca, tmp_path):
    pair = _encrypted_pair(ca, tmp_path)
    stderr = _refused(run_cli, *tls_args(pair), "--ssl-keyfile-password", "not " + PASSWORD)
    assert "not " + PASSWORD not in stderr
    assert "ssl_keyfile" in stderr
    assert str(pair[1]) in stderr
    assert "cannot decrypt" in stderr


def test_a_password_for_a_key_that_is_not_encrypted_is_refused(run_cli, ca, tmp_path):
    pair = write_pair(tmp_path, ca.issue_cert("127.0.0.1"), "plain")
    stderr = _refused(run_cli, *tls_args(pair), "--ssl-keyfile-password", PASSWORD)
    assert "not encrypted" in stderr
    assert str(pair[1]) in stderr


def test_a_password_without_a_key_is_refused(run_cli):
    stderr = _refused(run_cli, "--ssl-keyfile-password", PASSWORD)
    assert "ssl_keyfile_password" in stderr


def test_openssls_legacy_encrypted_pem_is_refused_with_the_conversion(run_cli, ca, tmp_path):
    pair = _encrypted_pair(ca, tmp_path, legacy=True)
    assert b"Proc-Type: 4,ENCRYPTED" in pair[1].read_bytes()
    stderr = _refused(run_cli, *tls_args(pair), "--ssl-keyfile-password", PASSWORD)
    assert "openssl pkcs8 -topk8" in stderr
    assert str(pair[1]) in stderr
