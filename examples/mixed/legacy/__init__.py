"""The "legacy" Django project of the mixed example, served as WSGI at ``/``."""
