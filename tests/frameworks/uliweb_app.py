"""Uliweb3: a project folder (``uliweb_project/apps`` with its ``settings.ini`` and the
``contract`` app) made into a WSGI application the way Uliweb's own ``wsgi_handler.py`` does."""

from pathlib import Path

from uliweb.manage import make_simple_application

app = make_simple_application(project_dir=str(Path(__file__).resolve().parent / "uliweb_project"))
