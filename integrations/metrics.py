"""Webhook delivery counts for /metrics (reports.metrics), counted from the database per scrape."""

from collections import Counter
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from integrations.models import Delivery


class DeliveryCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        # Received ones only: the events sent to CDEvents sinks are not webhooks anyone sent us.
        rows = list(
            Delivery.objects.filter(direction=Delivery.Direction.IN)
            .order_by()
            .values_list("kind", "status")
            .annotate(n=Count("id"))
        )
        deliveries = CounterMetricFamily(
            "opslog_webhook_deliveries", "Webhook deliveries received, by sender kind.", labels=["kind"]
        )
        by_kind: Counter = Counter()
        for kind, _, n in rows:
            by_kind[kind] += n
        for kind, n in sorted(by_kind.items()):
            deliveries.add_metric([kind], n)
        yield deliveries

        states = GaugeMetricFamily(
            "opslog_webhook_deliveries_by_status",
            "Webhook deliveries now in each status (received, processed, ignored, failed), by sender kind.",
            labels=["kind", "status"],
        )
        for kind, status, n in rows:
            states.add_metric([kind, status], n)
        yield states
