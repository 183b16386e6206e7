from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents import adapters  # noqa: F401  (registers the PagerDuty webhook sender)
