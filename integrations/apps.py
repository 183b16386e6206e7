from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        # The webhook counts join /metrics (reports) from here: reports knows nothing of deliveries.
        from integrations.metrics import DeliveryCollector
        from reports.metrics import register_collector

        register_collector(DeliveryCollector())
