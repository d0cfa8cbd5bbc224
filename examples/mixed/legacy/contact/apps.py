from django.apps import AppConfig


class ContactConfig(AppConfig):
    name = "legacy.contact"
    label = "contact"
