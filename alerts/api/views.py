from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors
from alerts.api.serializers import AlertReviewSerializer
from alerts.forms import AlertReviewRangeForm


class AlertReviewView(APIView):
    """Etsy's monthly alerts review: signal and noise per alert name."""

    @extend_schema(
        summary="The monthly alert review: per month and alert name, times fired, signal, noise",
        description=(
            "For each month from `from` to `to` (YYYY-MM, in the reporting time zone; an alert counts in the month "
            "it started firing): per alert name, how many times it fired, how many of those were promoted to an "
            "incident (signal) and how many not (noise), and the median time firing in seconds over the resolved "
            "ones. Noisiest first: most noise, then most fired. Every month of the range is present."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.STR, description="The first month, YYYY-MM. Default: `to`."),
            OpenApiParameter(
                "to", OpenApiTypes.STR, description="The last month, included, YYYY-MM. Default: this month."
            ),
        ],
        responses={
            200: AlertReviewSerializer,
            400: OpenApiResponse(
                description='A bad month, or `from` after `to`: {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."]}.'
            ),
        },
    )
    def get(self, request):
        form = AlertReviewRangeForm(request.query_params)
        if not form.is_valid():
            return Response(form.errors_by_parameter(), status=status.HTTP_400_BAD_REQUEST)
        first, last = form.cleaned_data["first"], form.cleaned_data["last"]
        review = selectors.alert_review(first=first, last=last)
        return Response(
            AlertReviewSerializer(
                {
                    "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
                    "from": f"{first:%Y-%m}",
                    "to": f"{last:%Y-%m}",
                    "months": review,
                }
            ).data
        )
