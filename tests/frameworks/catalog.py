"""The rows of README's compatibility table: the frameworks that run here, and those that cannot.

``FRAMEWORKS`` are served and checked by ``tests/test_frameworks.py`` (one app each in this
package). ``UNAVAILABLE`` are frameworks that do not install or import on current Python: they
are data, not tests. Their evidence (the error that ``pip install`` or ``import`` gave, recorded
by hand, since the requirements file must install on a fresh machine and so cannot list them)
goes into the results file next to the checked rows, and from there into the table;
``tests/test_framework_catalog.py`` fails when one of them starts to import here.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    """One row of the compatibility table whose app runs here."""

    name: str
    interface: str
    #: The app spec, importable from tests/ (``module:attribute``).
    app: str
    #: The distributions whose versions the table shows (space separated).
    distribution: str
    #: False when the framework has no streaming response of its own.
    streams: bool = True
    #: Set up before the server starts: "trac" creates a Trac environment.
    prepare: str = ""
    #: A limit of the framework itself that makes its prefix row fail: those checks are strict
    #: xfails with this reason (and the table shows it).
    prefix_limit: str = ""
    #: Checks that fail at both placements because of a bug of the framework's own:
    #: ``(check name, reason)`` pairs, run as strict xfails.
    known_bugs: tuple[tuple[str, str], ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Unavailable:
    """One row of the compatibility table for a framework that cannot run on current Python."""

    name: str
    interface: str
    #: The distribution whose version the table shows, if it ever gets installed.
    distribution: str
    #: The version that was tried ("" when pip found none) and the module it would be imported as.
    tried: str
    module: str
    #: Why it cannot run here: the pip or import error, as recorded.
    evidence: str


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` ("A 1 + B 2" for several), None if one is missing."""
    try:
        names = distribution.split()
        if len(names) == 1:
            return importlib.metadata.version(names[0])
        return " + ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    except importlib.metadata.PackageNotFoundError:
        return None


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
]

UNAVAILABLE = [
    Unavailable(
        "Pylons",
        "WSGI",
        distribution="Pylons",
        tried="1.0.3",
        module="pylons",
        evidence="installs, but `import pylons` fails: pylons/controllers/core.py line 108 "
        "`except HTTPException, httpe:` SyntaxError: multiple exception types must be parenthesized "
        "(Python 2 only; superseded by Pyramid)",
    ),
    Unavailable(
        "restlite",
        "WSGI",
        distribution="restlite",
        tried="",
        module="restlite",
        evidence="`pip install restlite`: ERROR: Could not find a version that satisfies the requirement "
        "restlite (from versions: none)",
    ),
    Unavailable(
        "weblayer",
        "WSGI",
        distribution="weblayer",
        tried="0.4.3",
        module="weblayer",
        evidence="`pip install weblayer`: it pins Mako==0.3.6 and WebOb==1.0.1; building Mako 0.3.6 fails with "
        "'error in Mako setup command: use_2to3 is invalid.'",
    ),
    Unavailable(
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
