"""Deploy markers for Grafana (/api/annotations/ and its Graphite alias /events/get_data) and the
Prometheus endpoint (/metrics)."""

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import exceptions, serializers
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from deploys.auth import ApiTokenAuthentication, IngestTokenAuthentication, user_of_api_key
from deploys.models import IngestToken
from reports.markers import MAX_LIMIT, TIME_HELP, AnnotationForm, annotations
from reports.metrics import metrics_text


class TokenBasicAuthentication(BasicAuthentication):
    """HTTP Basic auth whose password is the user's API token, for clients that can only send Basic
    auth (Grafana's "Basic auth" data source setting). The user's own password is never accepted here:
    a token can be revoked without locking the person out."""

    def authenticate_credentials(self, userid, password, request=None):
        if password.startswith(IngestToken.KEY_PREFIX):
            # An ingest token given as the password: refused with the same 403 as everywhere.
            return IngestTokenAuthentication().authenticate_credentials(password)
        try:
            user, token = user_of_api_key(password)
        except exceptions.AuthenticationFailed:
            user = token = None
        if user is None or not hmac.compare_digest(user.get_username().encode(), userid.encode()):
            raise exceptions.AuthenticationFailed("Invalid user name or API token.")
        return user, token


class TokenBasicScheme(OpenApiAuthenticationExtension):
    target_class = TokenBasicAuthentication
    name = "tokenBasicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "User name and API token (not the password), for Grafana's Basic auth setting.",
        }


ANNOTATION = inline_serializer(
    "Annotation",
    {
        "when": serializers.FloatField(help_text="Epoch seconds (Graphite's events API)."),
        "what": serializers.CharField(help_text="`web 25145 to production`; `SEV2 incident #12: Checkout errors`."),
        "tags": serializers.ListField(
            child=serializers.CharField(),
            help_text='`["deploy", service, environment]`, or `["incident", "sev<N>", services…]`.',
        ),
        "data": serializers.CharField(
            help_text="`sandrews: old 25134, new 25145, <diff url>`; an incident's status and link."
        ),
    },
    many=True,
)


class AnnotationsView(APIView):
    # An ingest token is known here too, to be refused with the same 403 as on every API.
    authentication_classes = [
        IngestTokenAuthentication,
        ApiTokenAuthentication,
        TokenBasicAuthentication,
        SessionAuthentication,
    ]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Deploy markers for graphs",
        description=(
            "Deploys, and incidents if asked, as Graphite events (`/events/get_data`'s answer), oldest first: "
            "Grafana draws them as vertical lines on metric graphs. The window includes both ends; at most "
            f"`limit` (default and most {MAX_LIMIT}), the newest ones."
        ),
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.STR, description=f"Start. {TIME_HELP} Default: 24 hours before `to`."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.STR, description=f"End. {TIME_HELP} Default: now. `until` is its Graphite name."
            ),
            OpenApiParameter(
                "service",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                description="Only these services' deploys and incidents (repeat or comma-separate).",
            ),
            OpenApiParameter(
                "environment",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                description="Only deploys to these environments (incidents have none).",
            ),
            OpenApiParameter(
                "incidents",
                OpenApiTypes.STR,
                enum=["true", "false"],
                description="`true`: incidents too, at their start, tagged incident, sev<N> and their services.",
            ),
            OpenApiParameter(
                "tags",
                OpenApiTypes.STR,
                description="Graphite's filter: space-separated tags an event must all carry (`deploy production`, "
                "`incident sev1`). `incident` among them includes incidents.",
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"1 to {MAX_LIMIT}; default {MAX_LIMIT}."),
        ],
        responses={200: ANNOTATION, 400: OpenApiResponse(description="A message per parameter at fault.")},
    )
    def get(self, request):
        form = AnnotationForm(request.query_params)
        if not form.is_valid():
            return Response(form.errors_by_parameter(), status=400)
        return Response(annotations(**form.query()))


@extend_schema(exclude=True)
class GraphiteEventsView(AnnotationsView):
    """/events/get_data: where Grafana's Graphite data source asks for annotations (see docs/integrations/grafana.md)."""

    def get(self, request):
        return super().get(request)


def _bearer(request) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


@login_not_required  # Prometheus has no session: it proves itself with the bearer token.
@require_GET
def metrics(request):
    expected = settings.OPSLOG_METRICS_TOKEN
    if not expected:
        # Off unless configured: answering as if the path didn't exist says nothing about the data.
        raise Http404("Metrics are off: set OPSLOG_METRICS_TOKEN.")
    given = _bearer(request)
    if not given:
        response = HttpResponse(
            "Send Authorization: Bearer <OPSLOG_METRICS_TOKEN>.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="opslog-metrics"'
        return response
    # Constant time: the response's timing says nothing about how much of the token was right.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse("Wrong metrics token.\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
