"""WSGI entry point: ``legacy.wsgi:application`` (the ``/`` mount in amphicorn.toml)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy.settings")

application = get_wsgi_application()
