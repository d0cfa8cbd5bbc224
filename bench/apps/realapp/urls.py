"""One route. Django resolves PATH_INFO, so ``/fortunes`` works at the root and under a mount
prefix alike (the server puts the prefix in SCRIPT_NAME)."""

from django.urls import path

from realapp import views

urlpatterns = [path("fortunes", views.fortunes)]
