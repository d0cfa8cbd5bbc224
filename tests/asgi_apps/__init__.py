"""ASGI test apps served by the end-to-end tests in ``tests/test_asgi_*.py`` (cwd is ``tests/``)."""
