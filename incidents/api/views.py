import datetime as dt

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from deploys.api.serializers import DeploySerializer
from deploys.models import Deploy, DeployCommit
from incidents import selectors, services
from incidents.api.serializers import (
    ArchiveInputSerializer,
    DeployLinkSerializer,
    IncidentInputSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    LinkInputSerializer,
    NoteInputSerializer,
    ReopenInputSerializer,
    RoleInputSerializer,
    StampInputSerializer,
    SuspectQuerySerializer,
    TagQuerySerializer,
    TagSerializer,
    TimelineEntrySerializer,
    UnarchiveInputSerializer,
)
from incidents.filters import IncidentFilter
from incidents.models import Incident, IncidentDeploy

CAUSE = IncidentDeploy.Relation.CAUSE
REMEDIATION = IncidentDeploy.Relation.REMEDIATION
RELATION_WORDS = {CAUSE: "as a cause of", REMEDIATION: "as remediating"}


def _links():
    return IncidentDeploy.objects.select_related("deploy__service", "deploy__environment", "created_by")


def _incidents():
    """Incidents with everything the output shows, in a fixed number of queries however many rows."""
    return (
        selectors.incident_list()
        .select_related("created_by", "updated_by")
        .prefetch_related(Prefetch("deploy_links", queryset=_links()))
    )


STAMP_RESPONSES = {
    200: OpenApiResponse(IncidentSerializer, description="Stamped, or already stamped: the first time is kept."),
    400: OpenApiResponse(
        description="The time is out of order, or in the future (also when already stamped); the message names the "
        "field."
    ),
}
LINK_RESPONSES = {
    201: OpenApiResponse(DeployLinkSerializer, description="Linked."),
    200: OpenApiResponse(DeployLinkSerializer, description="Already linked; nothing changed."),
    400: OpenApiResponse(description='An unknown deploy: {"deploy": ["No deploy with id 999."]}.'),
}
UNLINK_RESPONSES = {
    204: OpenApiResponse(description="Unlinked."),
    400: OpenApiResponse(description='An unknown deploy: {"deploy": ["No deploy with id 999."]}.'),
    404: OpenApiResponse(description="Not linked."),
}

NEVER_DELETED = (
    "Incidents are never deleted. Archive it instead with POST /api/incidents/{id}/archive/ and a reason "
    "(e.g. “duplicate of #12”): it leaves the lists and the numbers, and POST /api/incidents/{id}/unarchive/ "
    "restores it."
)


class NeverDeletedMixin:
    """DELETE is a 405 whose message says what to do instead (archive), not DRF's bare one."""

    def never_deleted(self, pk: str | None) -> str:
        return NEVER_DELETED.replace("{id}", pk or "{id}")

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.method == "DELETE":
            raise MethodNotAllowed(request.method, detail=self.never_deleted(kwargs.get("pk")))
        return super().http_method_not_allowed(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        # One record by id is found archived or not, whatever the list's filters say.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)


@extend_schema_view(
    list=extend_schema(summary="List incidents, open ones first, then newest first"),
    retrieve=extend_schema(summary="One incident"),
)
class IncidentViewSet(NeverDeletedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents. Every write goes through incidents.services, so the timeline records it."""

    queryset = _incidents()
    # config.roles: archiving takes an incident out of the numbers, so it is for admins.
    admin_actions = ("archive", "unarchive")
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    lookup_value_regex = "[0-9]+"

    def _incident(self) -> Incident:
        # The incident an action works on: not filtered by the list's query parameters.
        incident = get_object_or_404(Incident.objects.all(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, incident)
        return incident

    def _answer(self, incident: Incident, status_code=status.HTTP_200_OK) -> Response:
        incident = _incidents().get(pk=incident.pk)
        return Response(IncidentSerializer(incident, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        summary="File an incident",
        request=IncidentInputSerializer,
        responses={
            201: OpenApiResponse(IncidentSerializer, description="Filed."),
            200: OpenApiResponse(IncidentSerializer, description="Already filed under this source and external_id."),
            400: OpenApiResponse(
                description="A message per invalid field, out-of-order or future timestamps included."
            ),
        },
    )
    def create(self, request):
        serializer = IncidentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident, created = services.incident_create(data=serializer.to_incident_input(), by=request.user)
        return self._answer(incident, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Change some fields of an incident (each change is recorded in its timeline)",
        description="Setting `acknowledged_at`, `mitigated_at` or `resolved_at` stamps that stage; "
        "`status` is derived from them and can't be set.",
        request=IncidentUpdateSerializer,
        responses={
            200: IncidentSerializer,
            400: OpenApiResponse(description="A message per invalid or read-only field; nothing was saved."),
        },
    )
    def partial_update(self, request, pk=None):
        incident = self._incident()
        serializer = IncidentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.incident_update(incident=incident, changes=dict(serializer.validated_data), by=request.user)
        return self._answer(incident)

    # --- Stamps ---------------------------------------------------------------------------------

    def _stamp(self, request, stage: str) -> Response:
        incident = self._incident()
        serializer = StampInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_stamp(incident=incident, stage=stage, by=request.user, at=serializer.validated_data.get("at"))
        return self._answer(incident)

    @extend_schema(summary="Acknowledge (default now)", request=StampInputSerializer, responses=STAMP_RESPONSES)
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        return self._stamp(request, "acknowledged")

    @extend_schema(summary="Mark mitigated (default now)", request=StampInputSerializer, responses=STAMP_RESPONSES)
    @action(detail=True, methods=["post"], filter_backends=[])
    def mitigate(self, request, pk=None):
        return self._stamp(request, "mitigated")

    @extend_schema(summary="Resolve (default now)", request=StampInputSerializer, responses=STAMP_RESPONSES)
    @action(detail=True, methods=["post"], filter_backends=[])
    def resolve(self, request, pk=None):
        return self._stamp(request, "resolved")

    @extend_schema(
        summary="Reopen a resolved incident",
        description="Clears `resolved_at`; the timeline keeps the resolution time it had.",
        request=ReopenInputSerializer,
        responses={
            200: OpenApiResponse(IncidentSerializer, description="Reopened."),
            400: OpenApiResponse(
                description='It isn\'t resolved: {"resolved_at": ["Incident #12 isn\'t resolved, …"]}.'
            ),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reopen(self, request, pk=None):
        incident = self._incident()
        ReopenInputSerializer(data=request.data).is_valid(raise_exception=True)
        services.incident_reopen(incident=incident, by=request.user)
        return self._answer(incident)

    # --- Roles ----------------------------------------------------------------------------------

    @extend_schema(
        summary="Hand a role over (incident lead, communications lead, scribe)",
        description='`{"role": "lead", "name": "bob"}` gives the role to bob; `"name": ""` clears it. The timeline '
        "records the handover with the old and new holder; assigning the current holder changes nothing.",
        request=RoleInputSerializer,
        responses={
            200: OpenApiResponse(IncidentSerializer, description="Assigned (or already held by that name)."),
            400: OpenApiResponse(
                description='An unknown role or a bad name: {"role": [""boss" is not a role: use lead, comms or '
                'scribe."]}.'
            ),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def roles(self, request, pk=None):
        incident = self._incident()
        serializer = RoleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_assign_role(
            incident=incident,
            role=serializer.validated_data["role"],
            name=serializer.validated_data["name"],
            by=request.user,
        )
        return self._answer(incident)

    # --- Archiving (never deleting) ---------------------------------------------------------------

    @extend_schema(
        summary="Archive an incident, saying why (its post-mortem goes with it)",
        description="Archived incidents are never deleted: they leave the lists (unless `archived=true|all`) and "
        "the monthly numbers, keep their page and timeline, and can be restored.",
        request=ArchiveInputSerializer,
        responses={
            200: OpenApiResponse(IncidentSerializer, description="Archived."),
            400: OpenApiResponse(description='No reason, or already archived: {"archived": ["Incident #12 is …"]}.'),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def archive(self, request, pk=None):
        incident = self._incident()
        serializer = ArchiveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_archive(incident=incident, reason=serializer.validated_data["reason"], by=request.user)
        return self._answer(incident)

    @extend_schema(
        summary="Restore an archived incident to the lists and the numbers",
        request=UnarchiveInputSerializer,
        responses={
            200: OpenApiResponse(IncidentSerializer, description="Restored."),
            400: OpenApiResponse(description='It isn\'t archived: {"archived": ["Incident #12 isn\'t archived."]}.'),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def unarchive(self, request, pk=None):
        incident = self._incident()
        UnarchiveInputSerializer(data=request.data).is_valid(raise_exception=True)
        services.incident_unarchive(incident=incident, by=request.user)
        return self._answer(incident)

    # --- Timeline -------------------------------------------------------------------------------

    @extend_schema(summary="The incident's timeline, oldest first", responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def timeline(self, request, pk=None):
        entries = self._incident().timeline.select_related("author").order_by("at", "id")
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(TimelineEntrySerializer(page, many=True).data)

    @extend_schema(
        summary="Add a note to the timeline",
        request=NoteInputSerializer,
        responses={201: TimelineEntrySerializer, 400: OpenApiResponse(description="No text, or a time in the future.")},
    )
    @timeline.mapping.post
    def add_note(self, request, pk=None):
        incident = self._incident()
        serializer = NoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.incident_add_note(
            incident=incident,
            text=serializer.validated_data["text"],
            by=request.user,
            at=serializer.validated_data.get("at"),
        )
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    # --- Deploys --------------------------------------------------------------------------------

    @extend_schema(
        summary="Suspect deploys: production deploys of the affected services from a window before the "
        "impact began up to its detection, newest first",
        parameters=[
            OpenApiParameter(
                "window_hours",
                float,
                description="Hours before started_at to look back; default 4 (OPSLOG_SUSPECT_WINDOW_HOURS).",
            )
        ],
        responses={
            200: DeploySerializer(many=True),
            400: OpenApiResponse(description="window_hours isn't a positive number."),
        },
    )
    @action(detail=True, methods=["get"], url_path="suspect-deploys", filter_backends=[])
    def suspect_deploys(self, request, pk=None):
        incident = self._incident()
        query = SuspectQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        hours = query.validated_data.get("window_hours")
        window = dt.timedelta(hours=hours) if hours is not None else None
        deploys = selectors.suspect_deploys(incident, window=window).prefetch_related(
            Prefetch("commits", queryset=DeployCommit.objects.order_by("authored_at", "id"))
        )
        page = self.paginate_queryset(deploys)
        return self.get_paginated_response(
            DeploySerializer(page, many=True, context=self.get_serializer_context()).data
        )

    def _list_links(self, request, relation: str) -> Response:
        links = _links().filter(incident=self._incident(), relation=relation).order_by("created_at", "id")
        return Response(DeployLinkSerializer(links, many=True, context=self.get_serializer_context()).data)

    def _link(self, request, relation: str) -> Response:
        incident = self._incident()
        serializer = LinkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link, created = services.incident_link_deploy(
            incident=incident,
            deploy=serializer.validated_data["deploy"],
            relation=relation,
            by=request.user,
            note=serializer.validated_data["note"],
        )
        link = _links().get(pk=link.pk)
        return Response(
            DeployLinkSerializer(link, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _unlink(self, request, relation: str, deploy_id: str) -> Response:
        incident = self._incident()
        deploy = Deploy.objects.with_related().filter(pk=deploy_id).first()
        if deploy is None:
            # An unknown id is bad input, as when linking; a known deploy that isn't linked is a 404.
            raise ValidationError({"deploy": [f"No deploy with id {deploy_id}."]})
        if not services.incident_unlink_deploy(incident=incident, deploy=deploy, relation=relation, by=request.user):
            raise NotFound(f"Deploy {deploy.pk} is not linked {RELATION_WORDS[relation]} this incident.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Deploys linked as causes", responses=DeployLinkSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def causes(self, request, pk=None):
        return self._list_links(request, CAUSE)

    @extend_schema(summary="Link a deploy as a cause", request=LinkInputSerializer, responses=LINK_RESPONSES)
    @causes.mapping.post
    def link_cause(self, request, pk=None):
        return self._link(request, CAUSE)

    @extend_schema(summary="Unlink a causing deploy (the timeline keeps the record)", responses=UNLINK_RESPONSES)
    @action(
        detail=True, methods=["delete"], url_path=r"causes/(?P<deploy_id>[0-9]+)", url_name="cause", filter_backends=[]
    )
    def unlink_cause(self, request, pk=None, deploy_id=None):
        return self._unlink(request, CAUSE, deploy_id)

    @extend_schema(
        summary="Deploys linked as remediating (rollbacks, hotfixes)", responses=DeployLinkSerializer(many=True)
    )
    @action(detail=True, methods=["get"], url_path="remediating-deploys", filter_backends=[], pagination_class=None)
    def remediating_deploys(self, request, pk=None):
        return self._list_links(request, REMEDIATION)

    @extend_schema(summary="Link a deploy as remediating", request=LinkInputSerializer, responses=LINK_RESPONSES)
    @remediating_deploys.mapping.post
    def link_remediating_deploy(self, request, pk=None):
        return self._link(request, REMEDIATION)

    @extend_schema(summary="Unlink a remediating deploy (the timeline keeps the record)", responses=UNLINK_RESPONSES)
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"remediating-deploys/(?P<deploy_id>[0-9]+)",
        url_name="remediating-deploy",
        filter_backends=[],
    )
    def unlink_remediating_deploy(self, request, pk=None, deploy_id=None):
        return self._unlink(request, REMEDIATION, deploy_id)


@extend_schema_view(
    list=extend_schema(
        summary="Tags in use, most used first, with how many incidents carry each (archived ones left out)",
        parameters=[TagQuerySerializer],
        responses={200: TagSerializer(many=True), 400: OpenApiResponse(description="q is over 50 characters.")},
    )
)
class TagViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The tags the incident form suggests (static/opslog/tags.js) and an overview of their use."""

    serializer_class = TagSerializer
    filter_backends = []

    def get_queryset(self):
        query = TagQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.tag_usage(prefix=query.validated_data.get("q", "").strip())
