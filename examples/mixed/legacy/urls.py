"""URLs of the legacy site. FastAPI owns ``/api/`` and the static mount ``/static/``: amphicorn
routes those prefixes before Django sees them. ``api/reports/`` is the exception being
migrated: Django answers it only when amphicorn's fallback replays FastAPI's 404 here
(``migration/1-fallback.toml``)."""

from django.contrib import admin
from django.urls import path

from legacy.contact import views

urlpatterns = [
    path("", views.home, name="home"),
    path("contact/", views.contact, name="contact"),
    path("admin/", admin.site.urls),
    path("api/reports/<int:report_id>", views.report, name="report"),
    # No static/ pattern: the admin's CSS and JS are amphicorn's static mount's (amphicorn.toml).
]
