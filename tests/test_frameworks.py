"""Framework compatibility: one small real app per framework (``tests/frameworks/``), served by a
real amphicorn process at ``/`` and under a mount prefix, every route checked end to end.

Each (framework, placement) gets one server, shared by the tests of that row (a module-scoped
parametrized fixture). The outcomes are written to ``tests/.results/frameworks.json`` by the
``framework_results`` plugin, and ``scripts/compat_table.py`` turns that file into the table in
README.md (``make compat``).

The frameworks and their quirks are listed in ``tests/frameworks/catalog.py``. Those that do
not install or import on current Python are no test cases here: ``unavailable_rows()`` hands
them, with their evidence, to the results file, so the table still lists them.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import start_server
from frameworks.catalog import FRAMEWORKS, UNAVAILABLE, Framework, installed_version
from support import TESTS_DIR, server_env

PREFIX = "/mounted/here"
PLACEMENTS = {"root": "", "prefix": PREFIX}

QUERY = {"name": "Zoë & Åsa", "city": "København/Łódź?x=1+1"}
FORM = {"name": "Ünïcödé Ñame", "message": "line 1\nline 2 + 100% ✓ = ok&more"}
UPLOAD = random.Random(20261123).randbytes(1024 * 1024)
STREAM = "".join(f"line {i}\n" for i in range(10))


@dataclass(frozen=True)
class Placement:
    """A framework's app served at ``/`` (prefix "") or under ``PREFIX``."""

    framework: Framework
    name: str

    @property
    def prefix(self) -> str:
        return PLACEMENTS[self.name]

    @property
    def id(self) -> str:
        return f"{self.framework.name}-{self.name}"


ROWS = [Placement(framework, name) for framework in FRAMEWORKS for name in PLACEMENTS]


@dataclass
class Site:
    placement: Placement
    server: object
    client: httpx.Client

    @property
    def framework(self) -> Framework:
        return self.placement.framework

    def url(self, path: str) -> str:
        return f"{self.placement.prefix}{path}"


def _trac_environment(base: Path) -> dict[str, str]:
    """A real Trac environment made by ``trac-admin initenv``, with our plugin enabled."""
    path = base / "trac"
    admin = [sys.executable, "-m", "trac.admin.console", str(path)]
    for command in (
        ["initenv", "amphicorn", "sqlite:db/trac.db"],
        ["config", "set", "components", "frameworks.trac_app.*", "enabled"],
    ):
        proc = subprocess.run(
            admin + command, cwd=TESTS_DIR, env=server_env(), capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"trac-admin {command[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return {"TRAC_ENV": str(path)}


@pytest.fixture(scope="module", params=ROWS, ids=lambda row: row.id)
def site(request, tmp_path_factory):
    """One server per (framework, placement), shared by the tests of that row."""
    placement: Placement = request.param
    framework = placement.framework
    env = {}
    if framework.prepare == "trac":
        env = _trac_environment(tmp_path_factory.mktemp("trac"))
    if placement.prefix:
        server = start_server(f"--mount={placement.prefix}={framework.app}", env=env)
    else:
        server = start_server(framework.app, env=env)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Site(placement, server, client)
    server.stop()


def framework_row(item) -> list[tuple[str, object]]:
    """The row a test belongs to, for the results file (called by tests/framework_results.py
    at collection, so even a row whose fixture fails is tagged)."""
    placement: Placement = item.callspec.params["site"]
    framework = placement.framework
    return [
        ("framework", framework.name),
        ("interface", framework.interface),
        ("version", installed_version(framework.distribution) or ""),
        ("placement", placement.name),
        ("prefix", placement.prefix),
        ("notes", framework.notes),
        ("order", FRAMEWORKS.index(framework)),
    ]


def unavailable_rows() -> list[dict[str, object]]:
    """The rows of the frameworks that cannot run here, for the results file (called by
    tests/framework_results.py when the session ends): no checks, the evidence instead."""
    return [
        {
            "framework": framework.name,
            "interface": framework.interface,
            "version": installed_version(framework.distribution) or framework.tried,
            "order": len(FRAMEWORKS) + index,
            "evidence": framework.evidence,
        }
        for index, framework in enumerate(UNAVAILABLE)
    ]


@pytest.fixture(autouse=True)
def _known_limits(request):
    """Marks a check as a strict xfail when a bug or limit of the framework itself makes it fail."""
    placement: Placement = request.node.callspec.params["site"]
    framework = placement.framework
    reason = dict(framework.known_bugs).get(request.node.originalname)
    # The interface is amphicorn's to detect; the prefix limit is in the framework's routing.
    if placement.prefix and framework.prefix_limit and request.node.originalname != "test_interface_detected":
        reason = framework.prefix_limit
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def test_interface_detected(site):
    """amphicorn tells WSGI from ASGI by itself (no ``wsgi:``/``asgi:`` prefix on the spec)."""
    point = site.placement.prefix or "/"
    assert site.server.wait_for_stderr(f"Serving {site.framework.interface} app {site.framework.app} at {point}")


def test_hello(site):
    response = site.client.get(site.url("/hello"))
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Hello from {site.framework.name}"


def test_query_string_with_non_ascii_values(site):
    response = site.client.get(site.url("/query"), params=QUERY)
    assert response.status_code == 200, response.text[:2000]
    assert response.json() == QUERY


def test_urlencoded_form_post(site):
    data = dict(FORM)
    if site.framework.prepare == "trac":
        # Trac refuses form POSTs without its CSRF token, which it hands out as a cookie.
        assert site.client.get(site.url("/")).status_code == 200
        data["__FORM_TOKEN"] = site.client.cookies["trac_form_token"]
    response = site.client.post(site.url("/form"), data=data)
    assert response.status_code == 200, response.text[:2000]
    assert response.json() == FORM


def test_one_mib_raw_upload(site):
    response = site.client.post(
        site.url("/upload"), content=UPLOAD, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text[:2000]
    assert response.json() == {"length": len(UPLOAD), "sha256": hashlib.sha256(UPLOAD).hexdigest()}


def test_streamed_response(site):
    if not site.framework.streams:
        pytest.skip(f"{site.framework.name} has no streaming response")
    with site.client.stream("GET", site.url("/stream")) as response:
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked", response.headers
        assert response.read().decode() == STREAM


def test_self_built_url_carries_the_prefix(site):
    response = site.client.get(site.url("/links"))
    assert response.status_code == 200, response.text[:2000]
    link = urlsplit(response.json()["hello"])
    assert link.path == site.url("/hello")
    if link.netloc:
        assert link.netloc == urlsplit(site.server.url).netloc
    followed = site.client.get(link.path)
    assert followed.text == f"Hello from {site.framework.name}"


TRAC_ROWS = [row for row in ROWS if row.framework.prepare == "trac"]


@pytest.mark.parametrize("site", TRAC_ROWS, ids=lambda row: row.id, indirect=True)
def test_trac_front_page(site):
    """The environment's wiki front page, rendered by Trac, with every link under the mount."""
    response = site.client.get(site.url("/"))
    assert response.status_code == 200, response.text[:2000]
    assert "Welcome to Trac" in response.text
    assert f'href="{site.url("/wiki")}' in response.text
    assert f'href="{site.url("/chrome/common/css/trac.css")}' in response.text
    stylesheet = site.client.get(site.url("/chrome/common/css/trac.css"))
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")
