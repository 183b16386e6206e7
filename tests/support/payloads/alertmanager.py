"""Prometheus Alertmanager webhook notifications, as Alertmanager documents them.

Followed exactly: prometheus.io/docs/alerting/latest/configuration/#webhook_config (the source is
github.com/prometheus/alertmanager, docs/configuration.md, `<webhook_config>`): "The Alertmanager
will send HTTP POST requests in the following JSON format" — version "4", groupKey,
truncatedAlerts, status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL, and
alerts, each with status, labels, annotations, startsAt, endsAt, generatorURL and fingerprint. The
token is sent as `Authorization: Bearer <credentials>` (`http_config: authorization: credentials:`,
the `<http_config>` section of the same page; Bearer is the default type).

Times are what Alertmanager (Go) writes: RFC 3339 with nanoseconds (time.RFC3339Nano, e.g.
`2024-01-15T10:00:00.123456789Z`), and Go's zero time `0001-01-01T00:00:00Z` as the endsAt of an
alert still firing. `groupKey` is built as Alertmanager builds it: the route's matchers, then the
group labels.
"""

import copy

ZERO = "0001-01-01T00:00:00Z"
EXTERNAL_URL = "http://alertmanager.example.org:9093"


def alert(
    *,
    alertname: str = "HighErrorRate",
    fingerprint: str = "1a30ba71cca2921f",
    starts_at: str = "2024-01-15T10:00:00.123456789Z",
    ends_at: str = ZERO,
    status: str = "firing",
    severity: str = "critical",
    service: str | None = "web",
    summary: str = "High 5xx rate on web",
    extra_labels: dict | None = None,
) -> dict:
    labels = {"alertname": alertname, "instance": "web-1:9100", "job": "web", "severity": severity}
    if service is not None:
        labels["service"] = service
    labels.update(extra_labels or {})
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": f"{alertname} on {labels['instance']}: more than 5% of requests failed for 5 minutes.",
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=job%3Aerrors%3Arate5m+%3E+0.05&g0.tab=1",
        "fingerprint": fingerprint,
    }


def _common(alerts: list[dict], key: str) -> dict:
    # Alertmanager's commonLabels / commonAnnotations: the pairs every alert of the group shares.
    if not alerts:
        return {}
    shared = dict(alerts[0][key])
    for other in alerts[1:]:
        shared = {name: value for name, value in shared.items() if other[key].get(name) == value}
    return shared


def notification(alerts: list[dict], *, receiver: str = "opslog", group_by: tuple[str, ...] = ("alertname",)) -> dict:
    """The webhook body for one group of alerts. Its status is "firing" while any alert fires."""
    alerts = copy.deepcopy(alerts)
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    group_labels = {name: alerts[0]["labels"][name] for name in group_by if alerts and name in alerts[0]["labels"]}
    group_key = "{}:{" + ", ".join(f'{name}="{value}"' for name, value in group_labels.items()) + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common(alerts, "labels"),
        "commonAnnotations": _common(alerts, "annotations"),
        "externalURL": EXTERNAL_URL,
        "alerts": alerts,
    }
