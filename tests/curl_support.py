"""Running the real ``curl`` (Debian's package, which scripts/test.sh installs when missing)
and reading what it got: the status line and headers the server sent, the body as curl wrote
it (decoded, with ``--compressed``), and how many body bytes crossed the wire."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def curl_binary() -> str:
    """The ``curl`` executable; a skip outside CI when there is none, a failure in CI."""
    found = shutil.which("curl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("curl is not installed: scripts/test.sh installs Debian's curl package")
        pytest.skip("needs curl (Debian's curl package; scripts/test.sh installs it as root)")
    return found


@dataclass
class Fetched:
    """One exchange as curl saw it."""

    #: From the status line the server sent. curl's own ``%{http_code}`` is not always that:
    #: with ``-z`` it reports 304 for a 200 whose ``Last-Modified`` fails the condition.
    status: int
    #: ``1.1`` or ``2``.
    version: str
    #: Lower-case names, each with its values in order.
    headers: dict[str, list[str]]
    body: bytes
    #: Body bytes received, before curl decoded them (``%{size_download}``).
    downloaded: int

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return ", ".join(values) if values else None


def fetch(url: str, directory: Path, *args: str, output: Path | None = None) -> Fetched:
    """``curl -sS *args url`` with the headers and body written to files in ``directory``, or
    the body to ``output``, left as it is before (``-C -`` appends to it)."""
    headers_file = directory / "curl-headers.txt"
    headers_file.unlink(missing_ok=True)
    body_file = output or directory / "curl-body.bin"
    if output is None:
        body_file.unlink(missing_ok=True)
    command = [curl_binary(), "-sS", "--max-time", "20", "-D", str(headers_file), "-o", str(body_file)]
    command += ["-w", "%{http_version} %{size_download}", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{command}: exit {done.returncode}: {done.stderr}"
    version, downloaded = done.stdout.split()
    # The last block of the dump: an interim 1xx, if any, comes before it.
    block = headers_file.read_bytes().decode("latin-1").rstrip("\r\n").split("\r\n\r\n")[-1]
    status_line, *lines = block.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    body = body_file.read_bytes() if body_file.exists() else b""
    return Fetched(int(status_line.split()[1]), version, headers, body, int(downloaded))
