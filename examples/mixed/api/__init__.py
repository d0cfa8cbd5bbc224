"""The new FastAPI service of the mixed example, served as ASGI at ``/api``."""
