from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from deploys import services
from deploys.api.serializers import (
    ChangeRecordInputSerializer,
    ChangeRecordSerializer,
    ChangeRecordUpdateSerializer,
    DeployBulkInputSerializer,
    DeployBulkResultSerializer,
    DeployChangeRecordSerializer,
    DeployInputSerializer,
    DeploySerializer,
    deploy_answers,
    to_deploy_input,
)
from deploys.filters import ChangeRecordFilter, DeployFilter
from deploys.models import ChangeRecord, Deploy, DeployCommit, IngestToken


def _deploys_with_commits():
    return Deploy.objects.with_related().prefetch_related(
        Prefetch("commits", queryset=DeployCommit.objects.order_by("authored_at", "id"))
    )


@extend_schema_view(
    list=extend_schema(summary="List deploys, newest first"),
    retrieve=extend_schema(summary="One deploy"),
)
class DeployViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = _deploys_with_commits().newest_first()
    serializer_class = DeploySerializer
    filterset_class = DeployFilter
    # config.roles lets an ingest token (a CI system's `Token oli_…` key) do these actions and
    # nothing else: on every other action and API it is a 403.
    ingest_actions = ("create", "bulk")

    def _check_ingest_scope(self, request, items) -> None:
        """What an ingest token may post: deploys of its services only (a 403) and the change records
        of those services only (a 403 naming change_record); a deploy of a service Opslog doesn't know
        yet only with the "may create services" scope (a 400 naming the service, as any other field
        the sender can fix). `items` are the validated deploys."""
        token = request.auth if isinstance(request.auth, IngestToken) else None
        if token is None:
            return
        refused = token.refused_services(item["service"] for item in items)
        if refused:
            raise PermissionDenied(
                f"This ingest token may not post deploys of {', '.join(refused)}; it is for "
                f"{', '.join(sorted(s.slug for s in token.services.all()))}."
            )
        refused_records = token.refused_change_records(
            item["change_record"] for item in items if item.get("change_record") is not None
        )
        if refused_records:
            raise PermissionDenied(
                f"This ingest token may not attach change_record {', '.join(refused_records)}: a token limited "
                f"to {', '.join(sorted(s.slug for s in token.services.all()))} may only attach their change records."
            )
        unknown = token.uncreatable_services(item["service"] for item in items)
        if unknown:
            errors = {
                str(index): {"service": [services.UNKNOWN_SERVICE_MESSAGE.format(slug=item["service"])]}
                for index, item in enumerate(items)
                if item["service"] in unknown
            }
            raise ValidationError(errors["0"] if self.action == "create" else {"deploys": errors})

    @extend_schema(
        summary="Record a deploy",
        request=DeployInputSerializer,
        responses={
            201: OpenApiResponse(DeploySerializer, description="Recorded."),
            200: OpenApiResponse(DeploySerializer, description="Already recorded under this external_id."),
            400: OpenApiResponse(description="A message per invalid field."),
        },
    )
    def create(self, request):
        serializer = DeployInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._check_ingest_scope(request, [serializer.validated_data])
        # The serializer ran the deploy contract's rules (as its fields' validators).
        # rules=None: the serializer has just checked the deploy contract.
        deploy, created = services.deploy_record(data=serializer.to_deploy_input(), rules=None)
        deploy = _deploys_with_commits().get(pk=deploy.pk)
        output = DeploySerializer(deploy, context=self.get_serializer_context())
        return Response(output.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Record up to 1,000 deploys at once (backfill), all or nothing",
        request=DeployBulkInputSerializer,
        responses={
            201: OpenApiResponse(DeployBulkResultSerializer, description="At least one was new."),
            200: OpenApiResponse(DeployBulkResultSerializer, description="All were already recorded."),
            400: OpenApiResponse(description="Errors per item and field; nothing was stored."),
        },
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        serializer = DeployBulkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._check_ingest_scope(request, serializer.validated_data["deploys"])
        result = services.deploy_record_bulk(
            items=[to_deploy_input(item) for item in serializer.validated_data["deploys"]],
            rules=None,  # the serializer and its fast path have just checked every item
        )
        # The answer comes from the rows just stored (and those found already there), not a reload.
        deploys = deploy_answers(result.deploys, result.commits, request=request, format=self.format_kwarg)
        return Response(
            {"created": result.created, "existing": result.existing, "deploys": deploys},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Attach a change record to a deploy, or detach it with null",
        request=DeployChangeRecordSerializer,
        responses={
            200: DeploySerializer,
            400: OpenApiResponse(
                description='An unknown change record: {"change_record": ["No change record with id 999."]}.'
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="change-record", url_name="change-record", filter_backends=[])
    def change_record(self, request, pk=None):
        deploy = get_object_or_404(Deploy.objects.all(), pk=pk)
        self.check_object_permissions(request, deploy)
        serializer = DeployChangeRecordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.deploy_attach_change_record(deploy=deploy, record=serializer.validated_data["change_record"])
        deploy = _deploys_with_commits().get(pk=deploy.pk)
        return Response(DeploySerializer(deploy, context=self.get_serializer_context()).data)


# --- Change records ----------------------------------------------------------------------------------


def _change_records():
    return ChangeRecord.objects.select_related("service", "created_by").prefetch_related(
        Prefetch("deploys", queryset=Deploy.objects.with_related().newest_first())
    )


@extend_schema_view(
    list=extend_schema(summary="List change records, latest planned first"),
    retrieve=extend_schema(summary="One change record, with the deploys that shipped it"),
)
class ChangeRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Risky changes (schema, new features, storage…) and Etsy's four questions: who, what and when;
    have you done this before; what will happen when it goes wrong; what will you do when it does."""

    queryset = _change_records()
    serializer_class = ChangeRecordSerializer
    filterset_class = ChangeRecordFilter
    lookup_value_regex = "[0-9]+"

    def _answer(self, record: ChangeRecord, status_code=status.HTTP_200_OK) -> Response:
        record = _change_records().get(pk=record.pk)
        return Response(ChangeRecordSerializer(record, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        summary="Record a risky change and the answers to the four questions",
        request=ChangeRecordInputSerializer,
        responses={
            201: ChangeRecordSerializer,
            400: OpenApiResponse(description="A message per invalid, missing or read-only field."),
        },
    )
    def create(self, request):
        serializer = ChangeRecordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.change_record_create(data=dict(serializer.validated_data), by=request.user)
        return self._answer(record, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change some fields of a change record",
        request=ChangeRecordUpdateSerializer,
        responses={
            200: ChangeRecordSerializer,
            400: OpenApiResponse(description="A message per invalid or read-only field; nothing was saved."),
        },
    )
    def partial_update(self, request, pk=None):
        record = get_object_or_404(ChangeRecord.objects.all(), pk=pk)
        self.check_object_permissions(request, record)
        serializer = ChangeRecordUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.change_record_update(record=record, changes=dict(serializer.validated_data), by=request.user)
        return self._answer(record)
