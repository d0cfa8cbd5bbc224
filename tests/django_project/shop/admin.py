from django.contrib import admin

from django_project.shop.models import Order

admin.site.register(Order)
