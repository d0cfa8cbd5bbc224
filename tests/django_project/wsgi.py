"""WSGI entry point: ``amphicorn django_project.wsgi:application`` (run from tests/)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

application = get_wsgi_application()
