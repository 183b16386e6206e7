from django.urls import path

from reports import attribution_views, views
from reports.api.markers import AnnotationsView, GraphiteEventsView, metrics
from reports.api.opendora import OpenDoraBenchmarkView, OpenDoraMetricView

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("how-we-count/", views.how_we_count, name="how_we_count"),
    path("deployers/", views.deployers, name="deployers"),
    path("attributed/", attribution_views.attributed, name="attributed"),
]

# Read by other tools (Grafana, Prometheus), at the paths they expect: mounted at the site root
# under the "markers" namespace (config.urls).
marker_urlpatterns = [
    path("api/annotations/", AnnotationsView.as_view(), name="annotations"),
    # Graphite's events API path: Grafana's Graphite data source, pointed at Opslog, asks here.
    path("events/get_data", GraphiteEventsView.as_view(), name="graphite-events"),
    path("metrics", metrics, name="metrics"),
]

# The OpenDORA API, at the paths its Backstage plug-in asks (it replaces the base URL's path):
# mounted at the site root under the "opendora" namespace (config.urls).
opendora_urlpatterns = [
    path("dora/api/metric", OpenDoraMetricView.as_view(), name="metric"),
    path("dora/api/benchmark", OpenDoraBenchmarkView.as_view(), name="benchmark"),
]
