"""BlueBream, by hand: its project template no longer loads on Python 3, so this is the
project it would generate, on today's Zope Toolkit. ``zope.app.wsgi.getWSGIApplication`` reads
a ``zope.conf`` (``site.zcml`` and an in-memory ZODB), as the template's ``startup.py`` does;
the routes are browser views (``browser:page``) of the root folder, registered in ZCML.

Zope's own objects do the work: ``request.form`` (query and form, decoded), the request's body
stream (``getCacheStream``), an ``IResult`` iterable for streaming and ``absoluteURL`` (which starts from the
application URL, ``SCRIPT_NAME`` included).
"""

import hashlib
import json
import tempfile
from pathlib import Path

import zope.app.wsgi
from zope.interface import implementer
from zope.publisher.browser import BrowserView
from zope.publisher.interfaces.http import IResult
from zope.traversing.browser import absoluteURL

SITE = Path(__file__).resolve().parent / "bluebream_site"


class JsonView(BrowserView):
    def send_json(self, value) -> str:
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(value)


class Hello(BrowserView):
    def __call__(self):
        self.request.response.setHeader("Content-Type", "text/plain")
        return "Hello from BlueBream"


class Query(JsonView):
    def __call__(self):
        return self.send_json({"name": self.request.form["name"], "city": self.request.form["city"]})


class Form(JsonView):
    def __call__(self):
        return self.send_json({"name": self.request.form["name"], "message": self.request.form["message"]})


class Upload(JsonView):
    def __call__(self):
        # The publisher keeps a copy of the body as it is read; this reads the rest and rewinds.
        data = self.request.bodyStream.getCacheStream().read()
        return self.send_json({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})


@implementer(IResult)
class Lines:
    """A streamed body: the publisher iterates it after the view returns."""

    def __iter__(self):
        return (f"line {i}\n".encode() for i in range(10))


class Stream(BrowserView):
    def __call__(self):
        self.request.response.setHeader("Content-Type", "text/plain")
        return Lines()


class Links(JsonView):
    def __call__(self):
        return self.send_json({"hello": absoluteURL(self.context, self.request) + "/hello"})


def _zope_conf() -> str:
    conf = Path(tempfile.mkdtemp(prefix="amphicorn-bluebream-")) / "zope.conf"
    conf.write_text(
        f"site-definition {SITE / 'site.zcml'}\n"
        "<zodb>\n  <mappingstorage/>\n</zodb>\n"
        "<eventlog>\n  <logfile>\n    path STDERR\n  </logfile>\n</eventlog>\n"
    )
    return str(conf)


app = zope.app.wsgi.getWSGIApplication(_zope_conf())
