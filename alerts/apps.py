from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import adapters  # noqa: F401  (registers the Alertmanager webhook sender)
