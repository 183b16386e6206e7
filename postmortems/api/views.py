from django.db.models import (
    Count,
    F,
    Prefetch,
)
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import (
    mixins,
    renderers,
    status,
    viewsets,
)
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from config.roles import ADMIN
from deploys.models import Deploy
from incidents.api.views import CAUSE, NeverDeletedMixin
from incidents.models import IncidentDeploy
from postmortems import selectors, services
from postmortems.api.serializers import (
    ChecklistProblemSerializer,
    ContributingFactorInputSerializer,
    ContributingFactorSerializer,
    ContributingFactorUpdateSerializer,
    EditConflictSerializer,
    FollowThroughSerializer,
    PostMortemCreateSerializer,
    PostMortemDiffQuerySerializer,
    PostMortemDiffSerializer,
    PostMortemRevisionSerializer,
    PostMortemSerializer,
    PostMortemStatusSerializer,
    PostMortemUpdateSerializer,
    PublishChecklistSerializer,
    RemediationInputSerializer,
    RemediationSerializer,
    RemediationUpdateSerializer,
)
from postmortems.filters import ContributingFactorFilter, PostMortemFilter, RemediationFilter
from postmortems.models import ContributingFactor, PostMortem, PostMortemFactor, Remediation


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
        Prefetch("factor_links", queryset=PostMortemFactor.objects.select_related("factor")),
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
        answer = selectors.edit_conflict(current=exc.current, submitted=exc.submitted, your_version=base_version)
        current = answer.current
        body = {
            "detail": str(exc),
            "current_version": current.version,
            "your_version": base_version,
            "saved_by": _saved_by(current.updated_by),
            "saved_at": current.updated_at,
            "current": answer.theirs,
            "diff": selectors.unified_diffs(
                answer.theirs,
                answer.mine,
                old_label=f"version {current.version}",
                new_label="yours",
                fields=set(answer.mine),
            ),
            "changes_since_your_version": selectors.unified_diffs(
                answer.base, answer.theirs, old_label=f"version {base_version}", new_label=f"version {current.version}"
            )
            if answer.base is not None
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
        "`no_action_needed` with a `no_action_reason`. When the publish checklist (`GET …/checklist/`) has "
        'problems, publishing also needs `"confirm": true`; without it the answer is a 400 with `confirm` and '
        "`checklist`, and nothing changes.",
        request=PostMortemStatusSerializer,
        responses={
            200: PostMortemSerializer,
            400: OpenApiResponse(
                description="An unknown status, why it can't be published, or the checklist's problems to confirm."
            ),
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
                publish_anyway=serializer.validated_data["confirm"],
            )
        except services.PublishNotConfirmed as exc:
            problems = ChecklistProblemSerializer(exc.problems, many=True, context=self.get_serializer_context())
            return Response(
                {"confirm": [f'{exc} Send "confirm": true to publish anyway.'], "checklist": problems.data},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except services.EditConflict as exc:
            return self._conflict(exc, base_version)
        return self._answer(postmortem)

    @extend_schema(
        summary="The publish checklist: what to look at before publishing (a dry run of publishing)",
        description="Blame language in the saved sections, empty sections, remediations to be done without an "
        "owner or a due date, and no deploy linked as the cause with no `no_cause_reason`. Each problem has a "
        "`code`, a `message`, the `field` it is about, the `remediation` (its id, or null) and a `fix_url`.",
        responses=PublishChecklistSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def checklist(self, request, pk=None):
        problems = selectors.publish_checklist(self._postmortem())
        body = {"ready": not problems, "problems": problems}
        return Response(PublishChecklistSerializer(body, context=self.get_serializer_context()).data)

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
            "diff": selectors.unified_diffs(
                old.content, new.content, old_label=f"version {since}", new_label=f"version {to}"
            ),
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


@extend_schema_view(
    list=extend_schema(summary="List the contributing factors, in the taxonomy's order"),
    retrieve=extend_schema(summary="One contributing factor, by slug"),
)
class ContributingFactorViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The contributing-factor taxonomy: what a post-mortem's `factors` may name. Every role reads it;
    admins keep it (add, change, archive, restore, delete one nobody named), here or in the admin."""

    queryset = ContributingFactor.objects.annotate(postmortem_count=Count("postmortem_links")).order_by(
        "position", "name", "slug"
    )
    serializer_class = ContributingFactorSerializer
    filterset_class = ContributingFactorFilter
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    write_role = ADMIN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _answer(self, factor: ContributingFactor, status_code=status.HTTP_200_OK) -> Response:
        factor = self.get_queryset().get(pk=factor.pk)
        return Response(
            ContributingFactorSerializer(factor, context=self.get_serializer_context()).data, status=status_code
        )

    def _factor(self) -> ContributingFactor:
        factor = get_object_or_404(ContributingFactor.objects.all(), slug=self.kwargs["slug"])
        self.check_object_permissions(self.request, factor)
        return factor

    @extend_schema(
        summary="Add a contributing factor (admins)",
        request=ContributingFactorInputSerializer,
        responses={
            201: ContributingFactorSerializer,
            400: OpenApiResponse(description="A message per invalid field: a slug or name another factor has."),
        },
    )
    def create(self, request):
        serializer = ContributingFactorInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(services.factor_save(data=serializer.validated_data), status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rename, describe or move a contributing factor (admins; the slug stays)",
        request=ContributingFactorUpdateSerializer,
        responses={200: ContributingFactorSerializer, 400: OpenApiResponse(description="A message per field.")},
    )
    def partial_update(self, request, slug=None):
        factor = self._factor()
        serializer = ContributingFactorUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(services.factor_save(factor=factor, data=serializer.validated_data))

    @extend_schema(
        summary="Delete a contributing factor nobody named (admins)",
        responses={
            204: OpenApiResponse(description="Deleted."),
            400: OpenApiResponse(description="Under `factor`: post-mortems name it, archive it instead."),
        },
    )
    def destroy(self, request, slug=None):
        services.factor_delete(factor=self._factor())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Archive a contributing factor (admins): no longer offered, kept where named",
        request=None,
        responses={200: ContributingFactorSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def archive(self, request, slug=None):
        factor = self._factor()
        services.factor_archive(factor=factor)
        return self._answer(factor)

    @extend_schema(
        summary="Restore an archived contributing factor (admins): offered again",
        request=None,
        responses={200: ContributingFactorSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def restore(self, request, slug=None):
        factor = self._factor()
        services.factor_restore(factor=factor)
        return self._answer(factor)
