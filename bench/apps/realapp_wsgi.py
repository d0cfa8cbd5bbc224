"""The real-app WSGI scenario: a Django site whose one view, ``…/fortunes``, reads a SQLite
table through the ORM, adds a row in memory, sorts, and renders an HTML table with a Django
template (autoescaped). The same bytes every request.

Settings are configured here, in code, and kept to what the view needs: no admin, sessions
or auth; ``CommonMiddleware`` (a default project's, which sets Content-Length); DEBUG off
(so templates are cached); persistent database connections (one per thread). Mounted under a
prefix (``/legacy``), the view still answers at ``/legacy/fortunes``: Django routes on
PATH_INFO and takes the prefix from SCRIPT_NAME.
"""

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from realapp import db

DB_PATH = db.ensure(db.path())

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        SECRET_KEY="benchmark-only, not a secret",
        ROOT_URLCONF="realapp.urls",
        INSTALLED_APPS=["realapp"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_PATH), "CONN_MAX_AGE": None}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        USE_TZ=True,
    )

app = get_wsgi_application()  # django.setup() included
application = app
