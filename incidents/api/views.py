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
    StampInputSerializer,
    SuspectQuerySerializer,
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


# --- Post-mortems -----------------------------------------------------------------------------------

from django.db.models import F  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from drf_spectacular.types import OpenApiTypes  # noqa: E402
from rest_framework import renderers  # noqa: E402

from incidents.api.serializers import (  # noqa: E402
    EditConflictSerializer,
    FollowThroughSerializer,
    PostMortemCreateSerializer,
    PostMortemDiffQuerySerializer,
    PostMortemDiffSerializer,
    PostMortemRevisionSerializer,
    PostMortemSerializer,
    PostMortemStatusSerializer,
    PostMortemUpdateSerializer,
    RemediationInputSerializer,
    RemediationSerializer,
    RemediationUpdateSerializer,
    unified_diffs,
)
from incidents.filters import PostMortemFilter, RemediationFilter  # noqa: E402
from incidents.models import PostMortem, Remediation  # noqa: E402


def _remediations_of_a_postmortem():
    # Dev and ops side by side: by kind, then soonest due.
    return Remediation.objects.select_related("owner").order_by("kind", F("due_date").asc(nulls_last=True), "id")


def _postmortems():
    """Post-mortems with everything the output shows, in a fixed number of queries however many rows:
    the incident and its services, the remediations, and the change records of the causing deploys
    with the deploys that shipped them."""
    causes = IncidentDeploy.objects.filter(relation=CAUSE).select_related("deploy__change_record__service")
    return PostMortem.objects.select_related("incident", "created_by", "updated_by").prefetch_related(
        "incident__services",
        Prefetch("incident__deploy_links", queryset=causes, to_attr="cause_links"),
        Prefetch(
            "incident__cause_links__deploy__change_record__deploys",
            queryset=Deploy.objects.with_related().newest_first(),
        ),
        Prefetch("remediations", queryset=_remediations_of_a_postmortem()),
    )


class MarkdownRenderer(renderers.BaseRenderer):
    """Lets a client ask for `Accept: text/markdown`; errors are still rendered as text."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        if isinstance(data, dict) and "detail" in data:
            return str(data["detail"]).encode(self.charset)
        return renderers.JSONRenderer().render(data)


CONFLICT = OpenApiResponse(
    EditConflictSerializer,
    description="Someone saved since the version you sent: nothing was saved. The answer has the current text "
    "and the diffs to merge; send it again with `version` set to `current_version`.",
)


def _saved_by(user) -> str | None:
    return user.get_username() if user is not None else None


@extend_schema_view(
    list=extend_schema(summary="List post-mortems, newest first"),
    retrieve=extend_schema(summary="One post-mortem, with its remediations and the change records of causing deploys"),
)
class PostMortemViewSet(NeverDeletedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Blameless post-mortems, one per incident. Every save keeps a revision; `version` guards against
    one person's save silently overwriting another's."""

    queryset = _postmortems()
    serializer_class = PostMortemSerializer
    filterset_class = PostMortemFilter
    lookup_value_regex = "[0-9]+"

    def never_deleted(self, pk: str | None) -> str:
        incident = PostMortem.objects.filter(pk=pk).values_list("incident_id", flat=True).first() if pk else None
        return (
            "Post-mortems are never deleted. A post-mortem is archived with its incident: "
            f"POST /api/incidents/{incident or '{id}'}/archive/ with a reason."
        )

    def _postmortem(self) -> PostMortem:
        # The post-mortem an action works on: not filtered by the list's query parameters.
        postmortem = get_object_or_404(PostMortem.objects.select_related("incident"), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, postmortem)
        return postmortem

    def _answer(self, postmortem: PostMortem, status_code=status.HTTP_200_OK) -> Response:
        postmortem = _postmortems().get(pk=postmortem.pk)
        return Response(
            PostMortemSerializer(postmortem, context=self.get_serializer_context()).data, status=status_code
        )

    def _conflict(self, exc: services.EditConflict, base_version: int | None) -> Response:
        current = exc.current
        content = current.content()
        base = current.revisions.filter(version=base_version).first() if base_version else None
        body = {
            "detail": str(exc),
            "current_version": current.version,
            "your_version": base_version,
            "saved_by": _saved_by(current.updated_by),
            "saved_at": current.updated_at,
            "current": content,
            "diff": unified_diffs(
                content,
                exc.submitted,
                old_label=f"version {current.version}",
                new_label="yours",
                fields=set(exc.submitted),
            ),
            "changes_since_your_version": unified_diffs(
                base.content, content, old_label=f"version {base_version}", new_label=f"version {current.version}"
            )
            if base is not None
            else {},
        }
        return Response(EditConflictSerializer(body).data, status=status.HTTP_409_CONFLICT)

    @extend_schema(
        summary="Start the post-mortem of an incident (its timeline prefilled), or get the one it has",
        request=PostMortemCreateSerializer,
        responses={
            201: OpenApiResponse(PostMortemSerializer, description="Started, as a draft."),
            200: OpenApiResponse(PostMortemSerializer, description="The incident already has one: here it is."),
            400: OpenApiResponse(description='An unknown incident: {"incident": ["No incident with id 999."]}.'),
        },
    )
    def create(self, request):
        serializer = PostMortemCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        postmortem, created = services.postmortem_start(incident=serializer.validated_data["incident"], by=request.user)
        return self._answer(postmortem, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Save an edit made on top of `version`",
        description="Send `version` — the version you edited — and the fields you changed. Blame language never "
        "blocks a save; `blame_hints` in the answer points it out. A published post-mortem stays publishable: "
        "a change that would break the rule (remediations, or “no action needed” with a reason) is a 400.",
        request=PostMortemUpdateSerializer,
        responses={
            200: PostMortemSerializer,
            400: OpenApiResponse(description="A message per invalid or read-only field; nothing was saved."),
            409: CONFLICT,
        },
    )
    def partial_update(self, request, pk=None):
        postmortem = self._postmortem()
        serializer = PostMortemUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        base_version = serializer.validated_data["version"]
        try:
            services.postmortem_save(
                postmortem=postmortem, changes=serializer.changes(), base_version=base_version, by=request.user
            )
        except services.EditConflict as exc:
            return self._conflict(exc, base_version)
        return self._answer(postmortem)

    @extend_schema(
        summary="Move it to draft, in review or published",
        description="Publishing needs at least one remediation (not counting won't-do ones), or "
        "`no_action_needed` with a `no_action_reason`.",
        request=PostMortemStatusSerializer,
        responses={
            200: PostMortemSerializer,
            400: OpenApiResponse(description="An unknown status, or why it can't be published."),
            409: CONFLICT,
        },
    )
    @action(detail=True, methods=["post"], url_path="status", url_name="status", filter_backends=[])
    def set_status(self, request, pk=None):
        postmortem = self._postmortem()
        serializer = PostMortemStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        base_version = serializer.validated_data.get("version")
        try:
            services.postmortem_set_status(
                postmortem=postmortem,
                status=serializer.validated_data["status"],
                base_version=base_version,
                by=request.user,
            )
        except services.EditConflict as exc:
            return self._conflict(exc, base_version)
        return self._answer(postmortem)

    @extend_schema(
        summary="Every saved version, newest first, with who saved it and when",
        responses=PostMortemRevisionSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request, pk=None):
        revisions = self._postmortem().revisions.select_related("saved_by").order_by("-version")
        page = self.paginate_queryset(revisions)
        return self.get_paginated_response(PostMortemRevisionSerializer(page, many=True).data)

    @extend_schema(
        summary="What changed between two versions, field by field (unified diffs)",
        parameters=[
            OpenApiParameter("from", int, description="The earlier version; default the one before `to`."),
            OpenApiParameter("to", int, description="The later version; default the current one."),
        ],
        responses={
            200: PostMortemDiffSerializer,
            400: OpenApiResponse(description="A version that isn't a number, or that this post-mortem doesn't have."),
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def diff(self, request, pk=None):
        postmortem = self._postmortem()
        query = PostMortemDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        to = query.validated_data.get("to", postmortem.version)
        since = query.validated_data.get("from", max(to - 1, 1))
        found = {r.version: r for r in postmortem.revisions.filter(version__in=[since, to]).select_related("saved_by")}
        missing = {name: number for name, number in (("from", since), ("to", to)) if number not in found}
        if missing:
            versions = sorted(postmortem.revisions.values_list("version", flat=True))
            has = f"it has versions {versions[0]} to {versions[-1]}" if versions else "it has no saved versions"
            raise ValidationError(
                {name: [f"No version {number} of this post-mortem: {has}."] for name, number in missing.items()}
            )
        old, new = found[since], found[to]
        body = {
            "from_version": since,
            "to_version": to,
            "from_saved_at": old.saved_at,
            "to_saved_at": new.saved_at,
            "from_saved_by": _saved_by(old.saved_by),
            "to_saved_by": _saved_by(new.saved_by),
            "diff": unified_diffs(old.content, new.content, old_label=f"version {since}", new_label=f"version {to}"),
        }
        return Response(PostMortemDiffSerializer(body).data)

    @extend_schema(
        summary="The post-mortem as one Markdown file",
        responses={(200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The Markdown document.")},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        renderer_classes=[renderers.JSONRenderer, MarkdownRenderer],
    )
    def export(self, request, pk=None):
        postmortem = self._postmortem()
        response = HttpResponse(selectors.postmortem_markdown(postmortem), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="postmortem-incident-{postmortem.incident_id}.md"'
        return response


# --- Remediations -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List remediations: open ones first, overdue first among them"),
    retrieve=extend_schema(summary="One remediation"),
)
class RemediationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Follow-up actions from post-mortems, for dev or for ops, tracked to done."""

    queryset = Remediation.objects.all()
    serializer_class = RemediationSerializer
    filterset_class = RemediationFilter
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        # Built per request: "overdue" depends on today's date.
        return selectors.remediation_list()

    def _remediation(self) -> Remediation:
        remediation = get_object_or_404(Remediation.objects.all(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, remediation)
        return remediation

    def _answer(self, remediation: Remediation, status_code=status.HTTP_200_OK) -> Response:
        remediation = selectors.remediation_list().get(pk=remediation.pk)
        return Response(
            RemediationSerializer(remediation, context=self.get_serializer_context()).data, status=status_code
        )

    @extend_schema(
        summary="Add a dev or ops remediation to a post-mortem",
        request=RemediationInputSerializer,
        responses={
            201: RemediationSerializer,
            400: OpenApiResponse(
                description="A message per invalid or read-only field, an unknown post-mortem or user, or a "
                "won't-do without a reason; nothing was saved."
            ),
        },
    )
    def create(self, request):
        serializer = RemediationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        remediation = services.remediation_create(
            postmortem=serializer.validated_data["postmortem"], data=serializer.data_for_service(), by=request.user
        )
        return self._answer(remediation, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a remediation (marking it done stamps completed_at)",
        request=RemediationUpdateSerializer,
        responses={
            200: RemediationSerializer,
            400: OpenApiResponse(
                description="A message per invalid or read-only field, or under `status` when it would mark won't "
                "do the last remediation that will be done of a published post-mortem; nothing was saved."
            ),
        },
    )
    def partial_update(self, request, pk=None):
        remediation = self._remediation()
        serializer = RemediationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.remediation_update(remediation=remediation, changes=serializer.data_for_service(), by=request.user)
        return self._answer(remediation)

    @extend_schema(
        summary="Delete a remediation added by mistake (one still open, of a post-mortem not published)",
        responses={
            204: OpenApiResponse(description="Deleted."),
            400: OpenApiResponse(
                description="Under `remediation`, why it is kept: it is done or won't do, or its post-mortem is "
                "published (mark it won't do with a reason instead). Nothing changed."
            ),
        },
    )
    def destroy(self, request, pk=None):
        services.remediation_delete(remediation=self._remediation(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Follow-through: how many remediations are open, overdue, and done on time",
        description="Takes the list's filters (owner, kind, status, service, overdue, postmortem).",
        filters=True,
        responses={200: FollowThroughSerializer, 400: OpenApiResponse(description="A bad filter, named.")},
    )
    @action(detail=False, methods=["get"], url_path="follow-through", url_name="follow-through", pagination_class=None)
    def follow_through(self, request):
        stats = selectors.follow_through(self.filter_queryset(self.get_queryset()))
        return Response(
            FollowThroughSerializer(
                {
                    "open": stats.open,
                    "overdue": stats.overdue,
                    "done": stats.done,
                    "done_on_time": stats.done_on_time,
                    "done_late": stats.done_late,
                    "on_time_rate": stats.on_time_rate,
                }
            ).data
        )


# --- The monthly alert review ------------------------------------------------------------------

from django.conf import settings  # noqa: E402
from drf_spectacular.types import OpenApiTypes  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from incidents.api.serializers import AlertReviewSerializer  # noqa: E402
from incidents.forms_alerts import AlertReviewRangeForm  # noqa: E402


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
