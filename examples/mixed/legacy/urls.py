"""URLs of the legacy site. FastAPI owns ``/api/``: amphicorn routes that prefix before Django sees it."""

from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import path, re_path

from legacy.contact import views

urlpatterns = [
    path("", views.home, name="home"),
    path("contact/", views.contact, name="contact"),
    path("admin/", admin.site.urls),
    # The admin's CSS and JS, served by Django for the demo; a real deployment would use
    # WhiteNoise, a CDN or the proxy in front.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]
