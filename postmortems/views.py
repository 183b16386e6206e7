"""Post-mortem and remediation pages."""

import re
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST, require_safe

from config.roles import RESPONDER, role_required
from incidents.models import Incident
from plumbing.forms import add_service_errors
from plumbing.markdown import render_markdown
from plumbing.paging import page_of
from postmortems import blame, selectors, services
from postmortems.filters import PostMortemFilter
from postmortems.forms import (
    MarkdownPreviewForm,
    PostMortemForm,
    PostMortemStatusForm,
    RemediationFilterForm,
    RemediationForm,
    RevisionCompareForm,
    factor_choices,
)
from postmortems.models import PostMortem, Remediation

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
    return redirect("postmortems:detail", pk)


def _saved_by_words(postmortem: PostMortem) -> str:
    who = postmortem.updated_by.get_username() if postmortem.updated_by else "Someone"
    when = timezone.localtime(postmortem.updated_at).strftime("%Y-%m-%d %H:%M %Z")
    return f"{who} saved version {postmortem.version} at {when}"


def _postmortem_context(postmortem: PostMortem) -> dict:
    """What the post-mortem page and its printable version show. A fixed number of queries."""
    remediations = list(
        # tracker_link: the issue each remediation has in a tracker (integrations' model, named only
        # here so the row's tracker part costs no query of its own).
        postmortem.remediations.select_related("owner", "tracker_link__connection").order_by(
            F("due_date").asc(nulls_last=True), "id"
        )
    )
    return {
        "postmortem": postmortem,
        "incident": postmortem.incident,
        "sections": [
            {
                "name": name,
                "heading": heading,
                "text": getattr(postmortem, name),
                "html": getattr(postmortem, f"{name}_html"),
            }
            for name, heading, _ in PostMortem.SECTIONS
        ],
        # Shown above the "Contributing factors" narrative.
        "factor_links": postmortem.ordered_factor_links(),
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
    if postmortem.status != PostMortem.Status.PUBLISHED:
        # Shown before publishing only: a published page carries no hints.
        context["checklist"] = selectors.publish_checklist(postmortem)
    return render(request, "postmortems/postmortem_detail.html", context)


@require_safe
def postmortem(request, pk: int):
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        incident = get_object_or_404(Incident.objects.prefetch_related("services"), pk=pk)
        return render(request, "postmortems/postmortem_start.html", {"incident": incident})
    return _render_postmortem(request, postmortem)


@require_POST
@role_required(RESPONDER)
def postmortem_start(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    postmortem, created = services.postmortem_start(incident=incident, by=request.user)
    if not created:
        return redirect(postmortem)
    messages.success(request, "Post-mortem started as a draft, with the incident's timeline and summary filled in.")
    return redirect("postmortems:edit", pk)


@dataclass(frozen=True)
class EditorConflict:
    """Someone saved while this editor was open. `diffs`: what saving this person's changes would
    change in the current version. `both_changed`: field → the current text, for the fields both
    people changed differently (those need merging by hand)."""

    message: str
    diffs: list
    both_changed: dict


def _merge_after_conflict(error: services.EditConflict, *, base_version: int) -> tuple[dict, EditorConflict]:
    """The editor's new starting point after a refused save (the merge of selectors.edit_conflict),
    and what to tell its user. Nothing is saved here."""
    answer = selectors.edit_conflict(current=error.current, submitted=error.submitted, your_version=base_version)
    diffs = [diff for diff in selectors.content_diff(answer.theirs, answer.merged) if diff.changed]
    if not answer.mine_changed:
        advice = "You hadn't changed anything: the editor now shows the current version."
    elif answer.both_changed:
        headings = ", ".join(selectors.FIELD_HEADINGS[name] for name in answer.both_changed)
        advice = (
            f"You both changed {headings}: your text is in the box and theirs is under it — merge them, "
            "then save again. Your other changes are kept in the editor, on top of theirs."
        )
    else:
        advice = "Your changes are kept in the editor, on top of theirs: check the differences below, then save again."
    message = (
        f"{_saved_by_words(answer.current)} after you opened the editor. Nothing of yours has been saved yet. {advice}"
    )
    initial = {name: answer.merged.get(name) for name in [*services.POSTMORTEM_EDITABLE, services.FACTORS]}
    initial["base_version"] = answer.current.version
    return initial, EditorConflict(message=message, diffs=diffs, both_changed=answer.both_changed)


@role_required(RESPONDER)
def postmortem_edit(request, pk: int):
    postmortem = _find_postmortem(pk)
    if postmortem is None:
        return _not_started(request, pk)
    conflict = None
    factors = factor_choices(postmortem)
    if request.method == "POST":
        form = PostMortemForm(request.POST, factors=factors)
        if form.is_valid():
            base_version = form.cleaned_data["base_version"]
            try:
                saved = services.postmortem_save(
                    postmortem=postmortem, changes=form.changes(), base_version=base_version, by=request.user
                )
            except services.EditConflict as error:
                initial, conflict = _merge_after_conflict(error, base_version=base_version)
                form = PostMortemForm(initial=initial, factors=factors)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if saved.version == base_version:
                    messages.info(request, "Nothing had changed.")
                else:
                    messages.success(request, f"Saved as version {saved.version}.")
                return redirect(saved)
    else:
        form = PostMortemForm(initial=PostMortemForm.initial_from(postmortem), factors=factors)
    sections = [
        {
            "field": form[name],
            "theirs": conflict.both_changed.get(name) if conflict else None,
            # The stored HTML while the text is the stored one; a form sent back is rendered anew.
            "html": None if form.is_bound else getattr(postmortem, f"{name}_html"),
        }
        for name in PostMortem.SECTION_FIELDS
    ]
    return render(
        request,
        "postmortems/postmortem_edit.html",
        {
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "form": form,
            "sections": sections,
            "conflict": conflict,
            "factor_note_max": services.FACTOR_NOTE_MAX_LENGTH,
            # Their factors, when both people changed the factors differently.
            "factors_conflict": "\n".join(
                f"{entry['factor']}: {entry['note']}" if entry.get("note") else entry["factor"]
                for entry in conflict.both_changed[services.FACTORS]
            )
            if conflict and services.FACTORS in conflict.both_changed
            else None,
            # The phrases live in postmortems/blame.py; the editor's script reads them from here.
            "blame_patterns": blame.patterns_for_browser(),
        },
        status=409 if conflict else 200,
    )


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
            publish_anyway=form.cleaned_data["publish_anyway"],
        )
    except services.PublishNotConfirmed as error:
        messages.error(
            request,
            f"Not published: {len(error.problems)} point{'s' if len(error.problems) != 1 else ''} of the checklist "
            "to look at. Tick “Publish anyway” to publish with them open, or fix them first.",
        )
        return redirect(f"{postmortem.get_absolute_url()}#publish-checklist")
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
        "postmortems/postmortem_history.html",
        {
            "postmortem": postmortem,
            "incident": postmortem.incident,
            "revisions": revisions,
            "history": selectors.postmortem_history(postmortem, revisions=revisions),
            "current_version": revisions[0].version if revisions else None,
            "first_version": revisions[-1].version if revisions else None,
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
    # Any run of punctuation or spaces is a hyphen: "Deploy 1/3" is deploy-1-3, not deploy-13.
    slug = slugify(re.sub(r"[\W_]+", "-", postmortem.incident.title))[:60].strip("-")
    filename = f"postmortem-{pk}-{slug}.md" if slug else f"postmortem-{pk}.md"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
def postmortem_print(request, pk: int):
    postmortem = _get_postmortem(pk)
    return render(request, "postmortems/postmortem_print.html", _postmortem_context(postmortem))


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
        "postmortems/postmortem_list.html",
        {"filter": filterset, "page": page, "query": query},
    )


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
        except Remediation.DoesNotExist:
            raise Http404("The remediation was deleted meanwhile.") from None
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Remediation saved.")
            return redirect(f"{postmortem.get_absolute_url()}#remediation-{remediation.pk}")
    return render(
        request,
        "postmortems/remediation_edit.html",
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
    except Remediation.DoesNotExist:
        raise Http404("The remediation was deleted meanwhile.") from None
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
        "postmortems/remediation_list.html",
        {
            "filter": form,
            "page": page,
            "query": query,
            "figures": figures,
            "on_time_percent": round(on_time * 100) if on_time is not None else None,
            # The filters the form has no field for (the insights' links set them), kept as it is sent.
            "kept": [
                (name, value)
                for name in ("since", "until", "overdue", "severity", "team", "archived")
                for value in request.GET.getlist(name)
            ]
            if form.is_bound and form.is_valid()
            else [],
        },
    )


@require_POST
@role_required(RESPONDER)
def markdown_preview(request):
    """Sanitized HTML for the editor's live preview (plumbing.markdown.render_markdown)."""
    form = MarkdownPreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Too long to preview.", status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(render_markdown(form.cleaned_data["text"]), content_type="text/html; charset=utf-8")
