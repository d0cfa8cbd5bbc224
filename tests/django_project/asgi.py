"""ASGI entry point: ``amphicorn asgi:django_project.asgi:application`` (run from tests/)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

application = get_asgi_application()
