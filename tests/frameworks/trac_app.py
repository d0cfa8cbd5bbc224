"""Trac: a real environment (``TRAC_ENV``, created by the test with ``trac-admin initenv``)
served by ``trac.web.main.dispatch_request``, plus the contract routes as a Trac plugin: a
``Component`` implementing ``IRequestHandler``, enabled in the environment's ``trac.ini``.

Trac's request object does the work: ``req.args`` (query and form, UTF-8 decoded, POSTs
checked against Trac's CSRF form token), ``req.read()``, ``req.write()`` for the stream and
``req.href`` (which starts from ``SCRIPT_NAME``) for the link.
"""

import hashlib
import json

from trac.core import Component, implements
from trac.web.api import IRequestHandler, RequestDone
from trac.web.main import dispatch_request

ROUTES = ("/hello", "/query", "/form", "/upload", "/stream", "/links")


def send_json(req, value) -> None:
    req.send(json.dumps(value).encode(), "application/json")


class ContractRoutes(Component):
    """The routes every app in tests/frameworks answers."""

    implements(IRequestHandler)

    def match_request(self, req):
        return req.path_info in ROUTES

    def process_request(self, req):
        route = req.path_info
        if route == "/hello":
            req.send(b"Hello from Trac", "text/plain")
        elif route == "/query":
            send_json(req, {"name": req.args.getfirst("name"), "city": req.args.getfirst("city")})
        elif route == "/form":
            send_json(req, {"name": req.args.getfirst("name"), "message": req.args.getfirst("message")})
        elif route == "/upload":
            data = req.read()
            send_json(req, {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        elif route == "/stream":
            req.send_response(200)
            req.send_header("Content-Type", "text/plain")
            req.end_headers()
            for i in range(10):
                req.write(f"line {i}\n".encode())
            raise RequestDone
        elif route == "/links":
            send_json(req, {"hello": req.href("hello")})


app = dispatch_request
