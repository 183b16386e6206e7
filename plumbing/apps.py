from django.apps import AppConfig


class PlumbingConfig(AppConfig):
    # An app only so that Django finds its template tags ({% load opslog %}); it has no models.
    name = "plumbing"
