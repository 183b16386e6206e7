from django.urls import path

from reports import views
from reports.api.markers import AnnotationsView, GraphiteEventsView, metrics

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("how-we-count/", views.how_we_count, name="how_we_count"),
    path("deployers/", views.deployers, name="deployers"),
]

# Read by other tools (Grafana, Prometheus), at the paths they expect: mounted at the site root
# under the "markers" namespace (config.urls).
marker_urlpatterns = [
    path("api/annotations/", AnnotationsView.as_view(), name="annotations"),
    # Graphite's events API path: Grafana's Graphite data source, pointed at Opslog, asks here.
    path("events/get_data", GraphiteEventsView.as_view(), name="graphite-events"),
    path("metrics", metrics, name="metrics"),
]
