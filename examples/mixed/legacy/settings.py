"""Settings of the legacy Django site.

Production-like on purpose (DEBUG off, CSRF on) so the example shows what a real deployment
sees. Nothing the example shows needs a migrated database: sessions and messages live in signed
cookies, and the pages below never query the database. The admin's login page renders without
one; to actually log in, run ``python manage.py migrate`` and ``python manage.py
createsuperuser`` first (from ``examples/mixed/``).

``MIXED_EXAMPLE_DB`` names the sqlite file (default: in the system temp directory).
"""

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# An example key; set DJANGO_SECRET_KEY for anything beyond a local demo.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "amphicorn-mixed-example-not-a-secret-0123456789abcdefghijklmn")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "legacy.contact",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "legacy.urls"
WSGI_APPLICATION = "legacy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MIXED_EXAMPLE_DB", str(Path(tempfile.gettempdir()) / "amphicorn-mixed.sqlite3")),
    }
}

# No database table needed for anonymous visitors.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# `python manage.py collectstatic` copies every app's static files (the admin's CSS and JS)
# to STATIC_ROOT, where amphicorn's static mount serves them from Rust (amphicorn.toml), no
# Python involved. The manifest storage also writes a copy of each file with a hash of its
# content in the name (admin/css/base.<hash>.css) and makes {% static %} link to it: those
# names never change, so the static mount tells browsers to keep them for a year.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR.parent / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
