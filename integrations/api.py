"""POST /api/cdevents/: CDEvents over CloudEvents HTTP, binary or structured (integrations.cdevents).

An API view like the deploy API's, with its tokens, its role rules, its body limits and its answers:
an ingest token (`Token oli_…`) or a person's API token or session with the responder role.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deploys.models import IngestToken
from integrations import cdevents


class RawBodyParser(parsers.BaseParser):
    """The body as bytes, whatever its media type: the CloudEvents SDK reads it with the headers
    (binary mode: application/json; structured mode: application/cloudevents+json). Refused over
    DATA_UPLOAD_MAX_MEMORY_SIZE (a 413), as the API's own parsers refuse it."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") or "0" if request is not None else "0"
        if not str(length).isdigit() or int(length) > limit:
            raise RequestDataTooBig()
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestDataTooBig()
        return body


class CDEventsView(APIView):
    parser_classes = [RawBodyParser]
    # config.roles: an ingest token may do this one write.
    action = "create"
    ingest_actions = ("create",)

    @extend_schema(
        summary="Record a CDEvent (CloudEvents binary or structured mode)",
        request={"application/cloudevents+json": dict, "application/json": dict},
        responses={
            201: OpenApiResponse(description="Recorded (a deploy, an incident or a commit)."),
            200: OpenApiResponse(description="Already recorded: the same event (source and id) again."),
            202: OpenApiResponse(description="A CloudEvent of a type Opslog doesn't record: ignored."),
            400: OpenApiResponse(description="A malformed CloudEvent or CDEvent: a message per field."),
        },
    )
    def post(self, request):
        body = request.data if isinstance(request.data, bytes) else b""
        try:
            event = cdevents.parse(dict(request.headers), body)
        except cdevents.Ignored as ignored:
            return Response(
                {
                    "ignored": True,
                    "detail": f"{ignored} events are not recorded.",
                    "supported": cdevents.SUPPORTED,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        token = request.auth if isinstance(request.auth, IngestToken) else None
        result = cdevents.record(event, token=token)
        return Response(result, status=status.HTTP_201_CREATED if result["created"] else status.HTTP_200_OK)
