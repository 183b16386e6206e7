"""Prometheus metrics, counted from the database when Prometheus scrapes.

Values come from the database rather than from in-process counters, so every gunicorn worker (and
a restart) answers the same numbers. Four GROUP BY queries per scrape, whatever the data's size.
"""

from collections import Counter
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from deploys.models import Deploy
from incidents.models import Incident


class OpslogCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        deploys = CounterMetricFamily(
            "opslog_deploys",
            "Deploys recorded, by service, environment and status (all of them, not only the counted ones).",
            labels=["service", "environment", "status"],
        )
        rows = (
            Deploy.objects.order_by()
            .values_list("service__slug", "environment__slug", "status")
            .annotate(n=Count("id"))
        )
        for service, environment, status, n in rows:
            deploys.add_metric([service, environment, status], n)
        yield deploys

        # Counters carry only labels a record never changes, or Prometheus would see a counter go
        # down (a reset) when an incident's severity is raised or a delivery gets processed.
        incidents = CounterMetricFamily(
            "opslog_incidents",
            "Incidents recorded, by affected service. An incident affecting two services counts under each; "
            'one affecting none has service="".',
            labels=["service"],
        )
        by_service: Counter = Counter()
        for service, n in Incident.objects.order_by().values_list("services__slug").annotate(n=Count("id")):
            by_service[service or ""] += n
        for service, n in sorted(by_service.items()):
            incidents.add_metric([service], n)
        yield incidents

        open_incidents = GaugeMetricFamily(
            "opslog_incidents_open",
            "Incidents not resolved yet (open, acknowledged or mitigated), by severity.",
            labels=["severity"],
        )
        counts = dict(Incident.objects.unresolved().order_by().values_list("severity").annotate(n=Count("id")))
        # Every severity, 0 included: an alert on a series that vanishes at zero never resolves.
        for severity in Incident.Severity.values:
            open_incidents.add_metric([str(severity)], counts.get(severity, 0))
        yield open_incidents


# Collectors that apps above this one add (integrations: webhook deliveries), in their ready().
_COLLECTORS: list[Collector] = []


def register_collector(collector: Collector) -> None:
    _COLLECTORS.append(collector)


def metrics_text() -> bytes:
    """The Prometheus text exposition of OpslogCollector and the registered collectors, built per
    request (a registry of its own: the process-wide default one would add this process's Python
    and GC metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpslogCollector())
    for collector in _COLLECTORS:
        registry.register(collector)
    return generate_latest(registry)
