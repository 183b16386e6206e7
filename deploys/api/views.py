from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deploys import services
from deploys.api.serializers import (
    DeployBulkInputSerializer,
    DeployBulkResultSerializer,
    DeployInputSerializer,
    DeploySerializer,
    to_deploy_input,
)
from deploys.filters import DeployFilter
from deploys.models import Deploy, DeployCommit


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
        deploy, created = services.deploy_record(data=serializer.to_deploy_input())
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
        result = services.deploy_record_bulk(
            items=[to_deploy_input(item) for item in serializer.validated_data["deploys"]]
        )
        ids = [deploy.pk for deploy in result.deploys]
        by_id = _deploys_with_commits().in_bulk(ids)
        output = DeployBulkResultSerializer(
            {"created": result.created, "existing": result.existing, "deploys": [by_id[i] for i in ids]},
            context=self.get_serializer_context(),
        )
        return Response(output.data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ChangeRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """Being written."""

    queryset = Deploy.objects.none()
