"""One small real app per framework, each written with that framework's own idioms.

Every app answers the same routes, relative to wherever it is mounted, so
``tests/test_frameworks.py`` can check them all the same way at ``/`` and under a prefix:

- ``GET /hello``: ``text/plain`` ``Hello from <Framework>``.
- ``GET /query?name=…&city=…``: JSON ``{"name": …, "city": …}``, parsed by the framework's
  query-string parser (the tests send non-ASCII values with ``&``, ``/`` and ``+`` in them).
- ``POST /form`` (``application/x-www-form-urlencoded``, fields ``name`` and ``message``):
  JSON ``{"name": …, "message": …}``, parsed by the framework's form parser.
- ``POST /upload`` (a raw ``application/octet-stream`` body): JSON ``{"length": …,
  "sha256": …}`` of the body as the framework's request object hands it over.
- ``GET /stream``: ``line 0\\n`` … ``line 9\\n`` through the framework's streaming response,
  where it has one (so it goes out chunked).
- ``GET /links``: JSON ``{"hello": …}``, the URL of the hello route as the framework builds it
  (``url_for``, ``route_url``, ``reverse``…), which must carry the mount prefix.

Trac is the exception: it is a whole application, so ``trac_app`` serves a real environment
(created by the test in a temporary folder) and adds these routes as a Trac plugin component.
"""
