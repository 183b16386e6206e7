from django.urls import path

from reports.api.markers import AnnotationsView, GraphiteEventsView, metrics

app_name = "markers"

urlpatterns = [
    path("api/annotations/", AnnotationsView.as_view(), name="annotations"),
    # Graphite's events API path: Grafana's Graphite data source, pointed at Opslog, asks here.
    path("events/get_data", GraphiteEventsView.as_view(), name="graphite-events"),
    path("metrics", metrics, name="metrics"),
]
