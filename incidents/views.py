"""Pages for incidents. Every page needs a login (LoginRequiredMiddleware); every change is one
service call from a POST, then a redirect."""

import datetime as dt
import json
from itertools import groupby

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.utils import pretty_name
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from config.roles import ADMIN, RESPONDER, role_required
from incidents import selectors, services
from incidents.filters import IncidentFilter
from incidents.forms import (
    DeployLinkForm,
    DeploySearchForm,
    IncidentForm,
    NewIncidentForm,
    NoteForm,
    RoleForm,
    StampForm,
    comparable,
    editable_state,
)
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from plumbing import jsoninput
from plumbing.forms import add_service_errors
from plumbing.paging import page_of

# Verbs: each button does something; the badge beside them says the state.
STAGE_BUTTONS = [("acknowledged", "Acknowledge"), ("mitigated", "Mark mitigated"), ("resolved", "Mark resolved")]


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
        {"filter": filterset, "page": page, "query": query, "people": selectors.lead_names()},
    )


@role_required(RESPONDER)
def incident_new(request):
    form = NewIncidentForm(request.POST or None)
    duplicates = []
    if form.is_valid():
        data = form.to_input()
        already = selectors.filed_with_key(data.filing_key)
        if already is not None:
            # The same form sent again (Back, then submit): show what it filed, don't file a twin.
            messages.info(request, f"This form was already filed as incident #{already.pk}; here it is.")
            return redirect(already)
        if not form.cleaned_data["file_anyway"]:
            duplicates = selectors.possible_duplicates(
                title=data.title, services=data.services, started_at=data.started_at
            )
        if not duplicates:
            try:
                incident, created = services.incident_create(data=data, by=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if not created:
                    messages.info(request, f"This form was already filed as incident #{incident.pk}; here it is.")
                return redirect(incident)
    return render(
        request,
        "incidents/incident_new.html",
        {"form": form, "duplicates": duplicates, "people": selectors.known_people()},
    )


def _get_incident(pk: int) -> Incident:
    try:
        return selectors.incident_detail(pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


def _with_change_rows(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Give each field edit its (label, old, new) rows as the edit form names the fields, so the
    page shows what changed for every field, as the API's `changes` does."""
    for entry in entries:
        entry.change_rows = []
        if entry.kind not in (TimelineEntry.Kind.EDIT, TimelineEntry.Kind.HANDOVER):
            continue
        for name, change in (entry.changes or {}).items():
            if not isinstance(change, dict) or not {"old", "new"} <= set(change):
                continue
            field = IncidentForm.base_fields.get(name)
            label = field.label if field is not None and field.label else pretty_name(name)
            label = services.ROLE_LABELS.get(name, label)
            entry.change_rows.append(
                (label, services.display_change(name, change["old"]), services.display_change(name, change["new"]))
            )
    return entries


def _by_day(entries: list[TimelineEntry]) -> list[tuple[dt.date, list[TimelineEntry]]]:
    """Timeline entries grouped by their day in the reporting time zone, in order."""
    return [(day, list(group)) for day, group in groupby(entries, key=lambda entry: timezone.localdate(entry.at))]


@require_safe
def incident_detail(request, pk: int):
    incident = _get_incident(pk)
    links = list(incident.deploy_links.all())
    linked = {(link.deploy_id, link.relation) for link in links}
    search = DeploySearchForm(request.GET or None)
    timeline = _with_change_rows(list(incident.timeline.all()))
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
            "people": selectors.known_people(),
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
    incident = get_object_or_404(Incident.objects.prefetch_related("services", "tags"), pk=pk)
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
        {"form": form, "incident": incident, "base_state": json.dumps(current), "people": selectors.known_people()},
    )


def _seen_state(raw: str | None) -> dict | None:
    try:
        seen = jsoninput.loads(raw or "")
    except ValueError:  # JSONInputError too: nested too deep to be a state this page wrote
        return None
    return seen if isinstance(seen, dict) else None


@require_POST
@role_required(RESPONDER)
def incident_stamp(request, pk: int, stage: str):
    if stage not in services.STAMPS:
        raise Http404("No such stage.")
    incident = get_object_or_404(Incident, pk=pk)
    form = StampForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(incident)
    try:
        services.incident_stamp(incident=incident, stage=stage, by=request.user, at=form.cleaned_data["at"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(incident)


@require_POST
@role_required(RESPONDER)
def incident_role(request, pk: int):
    """Hand a role over (lead, communications lead, scribe); an empty name clears it."""
    incident = get_object_or_404(Incident, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        role = dict(Incident.Role.choices).get(request.POST.get("role"), "Role")
        messages.error(
            request, f"{role} not changed: " + " ".join(e for errors in form.errors.values() for e in errors)
        )
        return redirect(incident)
    try:
        services.incident_assign_role(
            incident=incident, role=form.cleaned_data["role"], name=form.cleaned_data["name"], by=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(incident)


@require_POST
@role_required(RESPONDER)
def incident_reopen(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_reopen(incident=incident, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Reopened: the resolution time is cleared; the timeline keeps it.")
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
