"""Pages for incidents. Every page needs a login (LoginRequiredMiddleware); every change is one
service call from a POST, then a redirect."""

import datetime as dt
import json
from dataclasses import dataclass
from itertools import groupby

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST, require_safe

from config.roles import ADMIN, RESPONDER, role_required
from incidents import blame, selectors, services
from incidents.filters import IncidentFilter, PostMortemFilter
from incidents.forms import (
    DeployLinkForm,
    DeploySearchForm,
    IncidentForm,
    MarkdownPreviewForm,
    NoteForm,
    PostMortemForm,
    PostMortemStatusForm,
    RemediationFilterForm,
    RemediationForm,
    RevisionCompareForm,
    add_service_errors,
    comparable,
    editable_state,
)
from incidents.models import Incident, IncidentDeploy, PostMortem, PostMortemRevision, Remediation, TimelineEntry
from plumbing.markdown import render_markdown
from plumbing.paging import page_of

STAGE_BUTTONS = [("acknowledged", "Acknowledge"), ("mitigated", "Mitigated"), ("resolved", "Resolved")]


@require_safe
def incident_list(request):
    filterset = IncidentFilter(request.GET or None, queryset=selectors.incident_list())
    # Unfiltered, the list still hides archived incidents (IncidentFilter's `archived` default).
    incidents = selectors.incident_list().not_archived()
    if filterset.is_bound:
        incidents = filterset.qs if filterset.is_valid() else incidents.none()
    page, query = page_of(request, incidents)
    return render(
        request,
        "incidents/incident_list.html",
        {"filter": filterset, "page": page, "query": query},
    )


@role_required(RESPONDER)
def incident_new(request):
    form = IncidentForm(request.POST or None)
    if form.is_valid():
        try:
            incident, _ = services.incident_create(data=form.to_input(), by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect(incident)
    return render(request, "incidents/incident_new.html", {"form": form})


def _get_incident(pk: int) -> Incident:
    try:
        return selectors.incident_detail(pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


def _by_day(entries: list[TimelineEntry]) -> list[tuple[dt.date, list[TimelineEntry]]]:
    """Timeline entries grouped by their day in the reporting time zone, in order."""
    return [(day, list(group)) for day, group in groupby(entries, key=lambda entry: timezone.localdate(entry.at))]


@require_safe
def incident_detail(request, pk: int):
    incident = _get_incident(pk)
    links = list(incident.deploy_links.all())
    linked = {(link.deploy_id, link.relation) for link in links}
    search = DeploySearchForm(request.GET or None)
    timeline = list(incident.timeline.all())
    return render(
        request,
        "incidents/incident_detail.html",
        {
            "incident": incident,
            "stages": _stage_buttons(incident),
            "causes": [link for link in links if link.relation == IncidentDeploy.Relation.CAUSE],
            "remediations": [link for link in links if link.relation == IncidentDeploy.Relation.REMEDIATION],
            "suspects": _with_link_state(selectors.suspect_deploys(incident), linked),
            "suspect_window_hours": selectors.suspect_window().total_seconds() / 3600,
            "search": search,
            "found": _with_link_state(search.results(), linked),
            "timeline_days": _by_day(timeline),
            "note_form": NoteForm(label_suffix=""),
        },
    )


def _stage_buttons(incident: Incident) -> list[tuple[str, str]]:
    """(stage, label) for each stage not stamped yet. Stages before the latest stamped one are left
    out too: stamping them now would put them after it, which the lifecycle forbids (the edit form
    can still fill them in)."""
    buttons = []
    for stage, label in STAGE_BUTTONS:
        if getattr(incident, services.STAMPS[stage]) is not None:
            buttons = []
        else:
            buttons.append((stage, label))
    return buttons


def _with_link_state(deploys, linked: set) -> list:
    """Mark each deploy with whether it is already linked as a cause or as remediating."""
    deploys = list(deploys)
    for deploy in deploys:
        deploy.is_cause = (deploy.pk, IncidentDeploy.Relation.CAUSE) in linked
        deploy.is_remediation = (deploy.pk, IncidentDeploy.Relation.REMEDIATION) in linked
    return deploys


@role_required(RESPONDER)
def incident_edit(request, pk: int):
    incident = get_object_or_404(Incident.objects.prefetch_related("services"), pk=pk)
    form = IncidentForm(request.POST or None, incident=incident)
    current = editable_state(incident)
    if form.is_valid():
        seen = _seen_state(request.POST.get("base_state"))
        if seen is None:
            changes = form.changes()
            clashes = []
        else:
            # Only what this person changed; what others changed meanwhile stays.
            changes = {
                name: value for name, value in form.cleaned_data.items() if comparable(name, value) != seen.get(name)
            }
            clashes = [name for name in changes if current.get(name) != seen.get(name)]
        if clashes:
            labels = ", ".join(form[name].label for name in clashes)
            form.add_error(
                None,
                f"Someone changed {labels} after you opened this form (see the timeline). Nothing was saved. "
                "The fields show your values; check them against the incident's page and save again to keep yours.",
            )
        else:
            try:
                services.incident_update(incident=incident, changes=changes, by=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Saved.")
                return redirect(incident)
    return render(
        request,
        "incidents/incident_edit.html",
        {"form": form, "incident": incident, "base_state": json.dumps(current)},
    )


def _seen_state(raw: str | None) -> dict | None:
    try:
        seen = json.loads(raw or "")
    except ValueError:
        return None
    return seen if isinstance(seen, dict) else None


@require_POST
@role_required(RESPONDER)
def incident_stamp(request, pk: int, stage: str):
    if stage not in services.STAMPS:
        raise Http404("No such stage.")
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_stamp(incident=incident, stage=stage, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(incident)


@require_POST
@role_required(RESPONDER)
def incident_note(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.incident_add_note(incident=incident, text=form.cleaned_data["text"], by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, "A note needs some text.")
    return redirect(f"{incident.get_absolute_url()}#timeline")


@require_POST
@role_required(ADMIN)
def incident_archive(request, pk: int):
    """Archive, never delete: the incident leaves the lists and the numbers, its page stays."""
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_archive(incident=incident, reason=request.POST.get("reason", ""), by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Archived: it no longer shows in the lists or counts in the numbers.")
    return redirect(incident)


@require_POST
@role_required(ADMIN)
def incident_unarchive(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_unarchive(incident=incident, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Restored: it shows in the lists and counts in the numbers again.")
    return redirect(incident)


def _deploy_link_view(request, pk: int, *, link: bool):
    incident = get_object_or_404(Incident, pk=pk)
    form = DeployLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    elif link:
        services.incident_link_deploy(
            incident=incident,
            deploy=form.cleaned_data["deploy"],
            relation=form.cleaned_data["relation"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
    else:
        services.incident_unlink_deploy(
            incident=incident,
            deploy=form.cleaned_data["deploy"],
            relation=form.cleaned_data["relation"],
            by=request.user,
        )
    return redirect(f"{incident.get_absolute_url()}#deploys")


@require_POST
@role_required(RESPONDER)
def incident_link(request, pk: int):
    return _deploy_link_view(request, pk, link=True)


@require_POST
@role_required(RESPONDER)
def incident_unlink(request, pk: int):
    return _deploy_link_view(request, pk, link=False)


# --- Post-mortems -----------------------------------------------------------------------------

# The buttons each status offers: (status to move to, label).
STATUS_BUTTONS = {
    PostMortem.Status.DRAFT: [
        (PostMortem.Status.IN_REVIEW, "Submit for review"),
        (PostMortem.Status.PUBLISHED, "Publish"),
    ],
    PostMortem.Status.IN_REVIEW: [(PostMortem.Status.PUBLISHED, "Publish"), (PostMortem.Status.DRAFT, "Back to draft")],
    PostMortem.Status.PUBLISHED: [(PostMortem.Status.DRAFT, "Back to draft")],
}


def _find_postmortem(pk: int) -> PostMortem | None:
    """The post-mortem of incident `pk`, or None if it has none yet. 404 if there is no such incident."""
    postmortem = (
        PostMortem.objects.select_related("incident", "incident__archived_by", "updated_by")
        .prefetch_related("incident__services")
        .filter(incident_id=pk)
        .first()
    )
    if postmortem is None and not Incident.objects.filter(pk=pk).exists():
        raise Http404("No such incident.")
    return postmortem


def _get_postmortem(pk: int) -> PostMortem:
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        raise Http404("This incident has no post-mortem yet.")
    return postmortem


def _not_started(request, pk: int):
    messages.info(request, "This incident has no post-mortem yet: start it first.")
    return redirect("incidents:postmortem", pk)


def _saved_by_words(postmortem: PostMortem) -> str:
    who = postmortem.updated_by.get_username() if postmortem.updated_by else "Someone"
    when = timezone.localtime(postmortem.updated_at).strftime("%Y-%m-%d %H:%M %Z")
    return f"{who} saved version {postmortem.version} at {when}"


def _postmortem_context(postmortem: PostMortem) -> dict:
    """What the post-mortem page and its printable version show. A fixed number of queries."""
    remediations = list(
        postmortem.remediations.select_related("owner").order_by(F("due_date").asc(nulls_last=True), "id")
    )
    return {
        "postmortem": postmortem,
        "incident": postmortem.incident,
        "sections": [
            {"name": name, "heading": heading, "text": getattr(postmortem, name)}
            for name, heading, _ in PostMortem.SECTIONS
        ],
        # Shown next to "What went poorly": the four questions asked before the causing deploys shipped.
        "change_records": list(selectors.postmortem_change_records(postmortem)),
        "columns": [
            {"kind": kind, "label": label, "items": [r for r in remediations if r.kind == kind]}
            for kind, label in Remediation.Kind.choices
        ],
        "remediation_counts": {
            "all": len(remediations),
            "open": sum(1 for r in remediations if r.is_open),
            "overdue": sum(1 for r in remediations if r.is_overdue()),
            "done": sum(1 for r in remediations if r.status == Remediation.Status.DONE),
        },
    }


def _render_postmortem(request, postmortem: PostMortem, *, adding: RemediationForm | None = None):
    context = _postmortem_context(postmortem)
    for column in context["columns"]:
        if adding is not None and adding.prefix == column["kind"]:
            column["form"] = adding
        else:
            column["form"] = RemediationForm(prefix=column["kind"], adding=True)
    context["status_buttons"] = STATUS_BUTTONS[postmortem.status]
    return render(request, "incidents/postmortem_detail.html", context)


@require_safe
def postmortem(request, pk: int):
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        incident = get_object_or_404(Incident.objects.prefetch_related("services"), pk=pk)
        return render(request, "incidents/postmortem_start.html", {"incident": incident})
    return _render_postmortem(request, postmortem)


@require_POST
@role_required(RESPONDER)
def postmortem_start(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    postmortem, created = services.postmortem_start(incident=incident, by=request.user)
    if not created:
        return redirect(postmortem)
    messages.success(request, "Post-mortem started as a draft, with the incident's timeline and summary filled in.")
    return redirect("incidents:postmortem_edit", pk)


@dataclass(frozen=True)
class EditorConflict:
    """Someone saved while this editor was open. `diffs`: what saving this person's changes would
    change in the current version. `both_changed`: field → the current text, for the fields both
    people changed differently (those need merging by hand)."""

    message: str
    diffs: list
    both_changed: dict


def _as_content(changes: dict) -> dict:
    """Form values in the shape of PostMortem.content() (dates as ISO strings)."""
    return {name: value.isoformat() if isinstance(value, dt.date) else value for name, value in changes.items()}


def _merge_after_conflict(error: services.EditConflict, *, base_version: int) -> tuple[dict, EditorConflict]:
    """The editor's new starting point after a refused save, and what to tell its user.

    A three-way merge, field by field, against the version the editor was opened on: a field only
    this person changed keeps their text, a field only the other person changed takes theirs (so
    saving again doesn't quietly undo it), and a field both changed keeps this person's text with
    the other's shown beside it to merge by hand. Nothing is saved here.
    """
    current = error.current
    theirs = current.content()
    mine = _as_content(error.submitted)
    base = (
        PostMortemRevision.objects.filter(postmortem=current, version=base_version)
        .values_list("content", flat=True)
        .first()
    ) or {}

    def changed(content: dict, name: str) -> bool:
        # Without the base revision every field counts as changed: nothing is taken for granted.
        return name not in base or content.get(name) != base[name]

    mine_changed = {name: value for name, value in mine.items() if changed(mine, name)}
    both_changed = {
        name: theirs.get(name)
        for name, value in mine_changed.items()
        if changed(theirs, name) and theirs.get(name) != value
    }
    merged = {**theirs, **mine_changed}
    diffs = [diff for diff in selectors.content_diff(theirs, merged) if diff.changed]
    if not mine_changed:
        advice = "You hadn't changed anything: the editor now shows the current version."
    elif both_changed:
        headings = ", ".join(selectors.FIELD_HEADINGS[name] for name in both_changed)
        advice = (
            f"You both changed {headings}: your text is in the box and theirs is under it — merge them, "
            "then save again. Your other changes are kept in the editor, on top of theirs."
        )
    else:
        advice = "Your changes are kept in the editor, on top of theirs: check the differences below, then save again."
    message = f"{_saved_by_words(current)} after you opened the editor. Nothing of yours has been saved yet. {advice}"
    initial = {name: merged.get(name) for name in services.POSTMORTEM_EDITABLE}
    initial["base_version"] = current.version
    return initial, EditorConflict(message=message, diffs=diffs, both_changed=both_changed)


@role_required(RESPONDER)
def postmortem_edit(request, pk: int):
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        return _not_started(request, pk)
    conflict = None
    if request.method == "POST":
        form = PostMortemForm(request.POST)
        if form.is_valid():
            base_version = form.cleaned_data["base_version"]
            try:
                saved = services.postmortem_save(
                    postmortem=postmortem, changes=form.changes(), base_version=base_version, by=request.user
                )
            except services.EditConflict as error:
                initial, conflict = _merge_after_conflict(error, base_version=base_version)
                form = PostMortemForm(initial=initial)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if saved.version == base_version:
                    messages.info(request, "Nothing had changed.")
                else:
                    messages.success(request, f"Saved as version {saved.version}.")
                return redirect(saved)
    else:
        form = PostMortemForm(initial=PostMortemForm.initial_from(postmortem))
    sections = [
        {"field": form[name], "theirs": conflict.both_changed.get(name) if conflict else None}
        for name in PostMortem.SECTION_FIELDS
    ]
    return render(
        request,
        "incidents/postmortem_edit.html",
        {
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "form": form,
            "sections": sections,
            "conflict": conflict,
            # The phrases live in incidents/blame.py; the editor's script reads them from here.
            "blame_patterns": blame.patterns_for_browser(),
        },
        status=409 if conflict else 200,
    )


@require_POST
@role_required(RESPONDER)
def markdown_preview(request):
    """Sanitized HTML for the editor's live preview (plumbing.markdown.render_markdown)."""
    form = MarkdownPreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Too long to preview.", status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(render_markdown(form.cleaned_data["text"]), content_type="text/html; charset=utf-8")


@require_POST
@role_required(RESPONDER)
def postmortem_status(request, pk: int):
    postmortem = _get_postmortem(pk)
    form = PostMortemStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose draft, in review or published.")
        return redirect(postmortem)
    try:
        saved = services.postmortem_set_status(
            postmortem=postmortem,
            status=form.cleaned_data["status"],
            base_version=form.cleaned_data["base_version"],
            by=request.user,
        )
    except services.EditConflict as error:
        messages.error(
            request, f"{_saved_by_words(error.current)} after you opened this page. Check it, then try again."
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The post-mortem is now {saved.get_status_display().lower()}.")
    return redirect(postmortem)


@require_safe
def postmortem_history(request, pk: int):
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        return _not_started(request, pk)
    revisions = list(postmortem.revisions.select_related("saved_by").defer("content").order_by("-version"))
    form = RevisionCompareForm(request.GET or None, revisions=revisions)
    pair = diffs = None
    if len(revisions) >= 2:
        if not form.is_bound:
            # Default: what the latest save changed.
            form = RevisionCompareForm(
                initial={"a": revisions[1].version, "b": revisions[0].version}, revisions=revisions
            )
            a, b = revisions[1].version, revisions[0].version
        elif form.is_valid():
            a, b = form.cleaned_data["a"], form.cleaned_data["b"]
        else:
            a = b = None
        if a is not None:
            pair = selectors.revision_pair(postmortem, a, b)
            diffs = selectors.content_diff(pair[0].content, pair[1].content)
    return render(
        request,
        "incidents/postmortem_history.html",
        {
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "revisions": revisions,
            "form": form,
            "pair": pair,
            "diffs": diffs,
            "any_changed": any(diff.changed for diff in diffs or []),
            "unchanged": [diff.heading for diff in diffs or [] if not diff.changed],
        },
    )


@require_safe
def postmortem_export(request, pk: int):
    postmortem = _get_postmortem(pk)
    response = HttpResponse(selectors.postmortem_markdown(postmortem), content_type="text/markdown; charset=utf-8")
    slug = slugify(postmortem.incident.title)[:60].strip("-")
    filename = f"postmortem-{pk}-{slug}.md" if slug else f"postmortem-{pk}.md"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
def postmortem_print(request, pk: int):
    postmortem = _get_postmortem(pk)
    return render(request, "incidents/postmortem_print.html", _postmortem_context(postmortem))


@require_safe
def postmortem_list(request):
    """Every post-mortem, newest incident first: morgue's front page. Filters: status, service,
    incident start dates; those of archived incidents are hidden unless asked for."""
    filterset = PostMortemFilter(request.GET or None, queryset=selectors.postmortem_list())
    postmortems = selectors.postmortem_list().filter(incident__archived_at__isnull=True)
    if filterset.is_bound:
        postmortems = filterset.qs if filterset.is_valid() else postmortems.none()
    page, query = page_of(request, postmortems)
    return render(
        request,
        "incidents/postmortem_list.html",
        {"filter": filterset, "page": page, "query": query},
    )


# --- Remediations -----------------------------------------------------------------------------


@require_POST
@role_required(RESPONDER)
def remediation_new(request, pk: int):
    """Add a dev or ops remediation from its column on the post-mortem page."""
    postmortem = _get_postmortem(pk)
    kind = request.POST.get("kind")
    if kind not in Remediation.Kind.values:
        messages.error(request, "A remediation is for dev or for ops.")
        return redirect(f"{postmortem.get_absolute_url()}#remediations")
    form = RemediationForm(request.POST, prefix=kind, adding=True)
    if form.is_valid():
        try:
            remediation = services.remediation_create(
                postmortem=postmortem, data={**form.changes(), "kind": kind}, by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{remediation.get_kind_display()} remediation added.")
            return redirect(f"{postmortem.get_absolute_url()}#remediation-{remediation.pk}")
    return _render_postmortem(request, postmortem, adding=form)


def _get_remediation(pk: int) -> Remediation:
    return get_object_or_404(Remediation.objects.select_related("owner", "postmortem__incident"), pk=pk)


@role_required(RESPONDER)
def remediation_edit(request, pk: int):
    remediation = _get_remediation(pk)
    postmortem = remediation.postmortem
    form = RemediationForm(request.POST or None, remediation=remediation)
    if form.is_valid():
        try:
            services.remediation_update(remediation=remediation, changes=form.changes(), by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Remediation saved.")
            return redirect(f"{postmortem.get_absolute_url()}#remediation-{remediation.pk}")
    return render(
        request,
        "incidents/remediation_edit.html",
        {
            "remediation": remediation,
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "form": form,
            # The delete button only where deleting is allowed; otherwise, why not.
            "delete_refusal": services.remediation_delete_refusal(remediation=remediation, postmortem=postmortem),
        },
    )


@require_POST
@role_required(RESPONDER)
def remediation_delete(request, pk: int):
    remediation = _get_remediation(pk)
    postmortem = remediation.postmortem
    try:
        services.remediation_delete(remediation=remediation, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Remediation deleted.")
    return redirect(f"{postmortem.get_absolute_url()}#remediations")


@require_safe
def remediation_list(request):
    """Follow-through: open remediations first, overdue first among them."""
    form = RemediationFilterForm(request.GET or None)
    remediations = selectors.remediation_list()
    figures = None
    if form.is_bound and not form.is_valid():
        remediations = remediations.none()
    else:
        scoped = form.scope(remediations)
        # Follow-through counts every status, so "done on time" means something on the open list too.
        figures = selectors.follow_through(scoped)
        remediations = form.by_status(scoped)
    page, query = page_of(request, remediations)
    on_time = figures.on_time_rate if figures else None
    return render(
        request,
        "incidents/remediation_list.html",
        {
            "filter": form,
            "page": page,
            "query": query,
            "figures": figures,
            "on_time_percent": round(on_time * 100) if on_time is not None else None,
        },
    )
