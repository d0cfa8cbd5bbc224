"""Framework compatibility: one small real app per framework (``tests/frameworks/``), served by a
real amphicorn process at ``/`` and under a mount prefix, every route checked end to end.

Each (framework, placement) gets one server, shared by the tests of that row (a module-scoped
parametrized fixture). The outcomes are written to ``tests/.results/frameworks.json`` by the
``framework_results`` plugin, and ``scripts/compat_table.py`` turns that file into the table in
README.md (``make compat``).

Frameworks that do not install or import on current Python stay as rows: the test skips with
the error that ``pip install`` or ``import`` gave (recorded by hand, since the requirements
file must install on a fresh machine and so cannot list them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import start_server
from support import TESTS_DIR, server_env

PREFIX = "/mounted/here"
PLACEMENTS = {"root": "", "prefix": PREFIX}

QUERY = {"name": "Zoë & Åsa", "city": "København/Łódź?x=1+1"}
FORM = {"name": "Ünïcödé Ñame", "message": "line 1\nline 2 + 100% ✓ = ok&more"}
UPLOAD = random.Random(20261123).randbytes(1024 * 1024)
STREAM = "".join(f"line {i}\n" for i in range(10))


@dataclass(frozen=True)
class Framework:
    """One row of the compatibility table."""

    name: str
    interface: str
    #: The app spec, importable from tests/ (``module:attribute``).
    app: str = ""
    #: The distributions whose versions the table shows (space separated).
    distribution: str = ""
    #: False when the framework has no streaming response of its own.
    streams: bool = True
    #: Set up before the server starts: "trac" creates a Trac environment.
    prepare: str = ""
    #: Why it cannot run here: the pip or import error, as recorded (then the row is skipped).
    evidence: str = ""
    #: A limit of the framework itself that makes its prefix row fail: those checks are strict
    #: xfails with this reason (and the table shows it).
    prefix_limit: str = ""
    #: Checks that fail at both placements because of a bug of the framework's own:
    #: ``(check name, reason)`` pairs, run as strict xfails.
    known_bugs: tuple[tuple[str, str], ...] = ()
    #: The version that was tried, for rows with evidence, and the module it would be imported as.
    tried: str = ""
    module: str = ""
    notes: str = ""


PRESTANS_CONTENT_LENGTH = (
    "prestans sets Content-Length to the length of the JSON text, not of its UTF-8 bytes, so a "
    "non-ASCII answer is cut short (the server must honour Content-Length; gunicorn does the same)"
)

FRAMEWORKS = [
    Framework("Django", "WSGI", "frameworks.django_app:application", "Django"),
    Framework("Flask", "WSGI", "frameworks.flask_app:app", "Flask"),
    Framework("Werkzeug", "WSGI", "frameworks.werkzeug_app:app", "Werkzeug"),
    Framework("Bottle", "WSGI", "frameworks.bottle_app:app", "bottle"),
    Framework("CherryPy", "WSGI", "frameworks.cherrypy_app:app", "CherryPy"),
    Framework("Pyramid", "WSGI", "frameworks.pyramid_app:app", "pyramid"),
    Framework(
        "Falcon", "WSGI", "frameworks.falcon_app:app", "falcon", notes="no reverse routing: link from `req.prefix`"
    ),
    Framework("bobo", "WSGI", "frameworks.bobo_app:app", "bobo", notes="link from WebOb's `application_url`"),
    Framework("web.py", "WSGI", "frameworks.webpy_app:app", "web.py"),
    Framework("TurboGears2", "WSGI", "frameworks.turbogears_app:app", "TurboGears2"),
    Framework(
        "Trac",
        "WSGI",
        "frameworks.trac_app:app",
        "Trac",
        prepare="trac",
        notes="a real environment (`trac-admin initenv`); the routes are a plugin component",
    ),
    Framework(
        "BlueBream",
        "WSGI",
        "frameworks.bluebream_app:app",
        "zope.app.wsgi zope.publisher",
        notes="bluebream 1.0 installs but its project template no longer loads (bluebream_base/__init__.py "
        "`import paste_script_patch`: ModuleNotFoundError, a Python 2 relative import), so the app is the "
        "project it generates, by hand, on today's Zope Toolkit: ZCML views, `getWSGIApplication`",
    ),
    Framework("Uliweb3", "WSGI", "frameworks.uliweb_app:app", "Uliweb3", notes="a project folder with one app"),
    Framework(
        "webapp2",
        "WSGI",
        "frameworks.webapp2_app:app",
        "webapp2",
        notes="3.0.0b1, the Python 3 port (a pre-release)",
        prefix_limit="webapp2 matches routes against `request.path` (SCRIPT_NAME + PATH_INFO), so a mounted "
        "app 404s unless its routes repeat the prefix (`PathPrefixRoute`)",
    ),
    Framework(
        "prestans",
        "WSGI",
        "frameworks.prestans_app:app",
        "prestans",
        streams=False,
        notes="JSON REST only, no URL building (link from WebOb's `application_url`)",
        known_bugs=tuple(
            (check, PRESTANS_CONTENT_LENGTH)
            for check in ("test_query_string_with_non_ascii_values", "test_urlencoded_form_post")
        ),
    ),
    Framework("FastAPI", "ASGI", "frameworks.fastapi_app:app", "fastapi"),
    Framework("Starlette", "ASGI", "frameworks.starlette_app:app", "starlette"),
    Framework(
        "Django ASGI + Channels",
        "ASGI",
        "frameworks.django_asgi:application",
        "Django channels",
        notes="Channels' `URLRouter` and `AsyncHttpConsumer` (the stream) in front of Django's ASGI handler",
    ),
    Framework("Litestar", "ASGI", "frameworks.litestar_app:app", "litestar"),
    Framework("Quart", "ASGI", "frameworks.quart_app:app", "quart"),
    Framework(
        "Pylons",
        "WSGI",
        distribution="Pylons",
        tried="1.0.3",
        module="pylons",
        evidence="installs, but `import pylons` fails: pylons/controllers/core.py line 108 "
        "`except HTTPException, httpe:` SyntaxError: multiple exception types must be parenthesized "
        "(Python 2 only; superseded by Pyramid)",
    ),
    Framework(
        "restlite",
        "WSGI",
        distribution="restlite",
        tried="",
        module="restlite",
        evidence="`pip install restlite`: ERROR: Could not find a version that satisfies the requirement "
        "restlite (from versions: none)",
    ),
    Framework(
        "weblayer",
        "WSGI",
        distribution="weblayer",
        tried="0.4.3",
        module="weblayer",
        evidence="`pip install weblayer`: it pins Mako==0.3.6 and WebOb==1.0.1; building Mako 0.3.6 fails with "
        "'error in Mako setup command: use_2to3 is invalid.'",
    ),
    Framework(
        "web2py",
        "WSGI",
        distribution="web2py",
        tried="2.1.1",
        module="gluon",
        evidence="`pip install web2py` (2.1.1, the version pip picks from PyPI): getting build requirements "
        "fails in gluon/__init__.py `from globals import current` ModuleNotFoundError: No module named "
        "'globals' (a Python 2 implicit relative import)",
    ),
]


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


def framework_version(framework: Framework) -> str | None:
    try:
        names = framework.distribution.split()
        if len(names) == 1:
            return importlib.metadata.version(names[0])
        return " + ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    except importlib.metadata.PackageNotFoundError:
        return None


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


def _check_still_broken(framework: Framework) -> None:
    """A skipped row's evidence goes stale if the framework becomes importable here: then fail,
    so somebody writes its app (the import runs in a child, its warnings are not ours)."""
    if importlib.util.find_spec(framework.module.split(".")[0]) is None:
        return
    proc = subprocess.run(
        [sys.executable, "-c", f"import {framework.module}"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode != 0, f"{framework.name} imports now: its row needs an app instead of a skip"


@pytest.fixture(scope="module", params=ROWS, ids=lambda row: row.id)
def site(request, tmp_path_factory):
    """One server per (framework, placement), shared by the tests of that row."""
    placement: Placement = request.param
    framework = placement.framework
    if framework.evidence:
        _check_still_broken(framework)
        label = f"{framework.name} {framework.tried}".strip()
        pytest.skip(f"{label}: {framework.evidence}")
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
    at collection, so even a row whose fixture skips is tagged)."""
    placement: Placement = item.callspec.params["site"]
    framework = placement.framework
    return [
        ("framework", framework.name),
        ("interface", framework.interface),
        ("version", framework_version(framework) or framework.tried),
        ("placement", placement.name),
        ("prefix", placement.prefix),
        ("notes", framework.notes),
        ("order", FRAMEWORKS.index(framework)),
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
