"""URLs of the test project."""

from django.contrib import admin
from django.urls import path

from django_project.shop import shadow_views, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("order/", views.order, name="order"),
    path("orders/", views.orders, name="orders"),
    path("stream/", views.stream, name="stream"),
    path("file/", views.download, name="download"),
    path("where/", views.where, name="where"),
    path("compare/<str:case>/", shadow_views.compare, name="compare"),
]
