"""A small real Django project served as ``django_project.wsgi:application`` (cwd=tests)."""
