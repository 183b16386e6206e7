from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from alerts.api.views import AlertReviewView
from config import views
from config.roles import admin_site_permission
from deploys import views as deploy_views
from deploys.api.views import ChangeRecordViewSet, DeployViewSet
from incidents.api.views import IncidentViewSet, TagViewSet
from integrations.api import CDEventsView
from postmortems.api.views import ContributingFactorViewSet, PostMortemViewSet, RemediationViewSet
from reports import urls as report_urls
from reports import views as report_views
from reports.api.insights import InsightsView
from reports.api.views import MonthlyReportView, QuarterlyReportView, WeeklyReportView, YearlyReportView

# No `.json` URL suffixes: `?format=` chooses a format, and the viewsets' actions take no `format` argument.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("deploys", DeployViewSet, basename="deploy")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("postmortems", PostMortemViewSet, basename="postmortem")
router.register("remediations", RemediationViewSet, basename="remediation")
router.register("factors", ContributingFactorViewSet, basename="factor")
router.register("changes", ChangeRecordViewSet, basename="changerecord")
router.register("tags", TagViewSet, basename="tag")

handler404 = "config.api.not_found"

# The admin site is the admin role's (config.roles), not every staff account's: Django's default
# would let a staff user who isn't a superuser write with whatever model permissions they hold.
admin.site.has_permission = admin_site_permission

urlpatterns = [
    path("", report_views.dashboard, name="home"),
    path("reports/", include("reports.urls")),
    path("insights/", report_views.insights_page, name="insights"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/token/", deploy_views.api_token, name="api_token"),
    path("admin/", admin.site.urls),
    path("alerts/", include("alerts.urls")),
    path("", include("integrations.urls")),
    path("", include((report_urls.marker_urlpatterns, "markers"))),
    path("", include((report_urls.opendora_urlpatterns, "opendora"))),
    path("deploys/", include("deploys.urls")),
    path("incidents/", include("incidents.urls")),
    path("", include("postmortems.urls")),
    path("api/reports/weekly/", WeeklyReportView.as_view(), name="api-report-weekly"),
    path("api/reports/monthly/", MonthlyReportView.as_view(), name="api-report-monthly"),
    path("api/reports/quarterly/", QuarterlyReportView.as_view(), name="api-report-quarterly"),
    path("api/reports/yearly/", YearlyReportView.as_view(), name="api-report-yearly"),
    path("api/insights/", InsightsView.as_view(), name="api-insights"),
    path("api/cdevents/", CDEventsView.as_view(), name="api-cdevents"),
    path("api/alerts/review/", AlertReviewView.as_view(), name="api-alert-review"),
    path("api/", include((router.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # A person opening the docs logged out is sent to the login page rather than shown a 403.
    # Its start-up script is served from the same URL (?script), not inline, so the page runs under
    # the app's CSP; only Swagger UI's inline styles need a relaxed style-src.
    path(
        "api/docs/",
        login_required(
            csp_update({"style-src": "'unsafe-inline'"})(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
]
