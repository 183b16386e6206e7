from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, IntegerField, Prefetch, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.roles import RESPONDER, role_of, role_required
from deploys import selectors, services
from deploys.filters import DeployFilter
from deploys.forms import ChangeRecordForm, DeployChangeRecordForm
from deploys.models import ApiToken, ChangeRecord, Deploy, DeployCommit
from plumbing.forms import add_service_errors
from plumbing.paging import page_of


@require_safe
def deploy_list(request):
    filterset = DeployFilter(request.GET or None, queryset=selectors.deploy_log())
    deploys = filterset.qs if filterset.is_bound and filterset.is_valid() else selectors.deploy_log()
    if filterset.is_bound and not filterset.is_valid():
        deploys = deploys.none()
    page, query = page_of(request, deploys)
    return render(
        request,
        "deploys/deploy_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query,
            "current": selectors.current_production_deploys(),
        },
    )


@require_safe
def deploy_detail(request, pk: int):
    deploy = get_object_or_404(
        Deploy.objects.with_related()
        .select_related("change_record__service")
        .prefetch_related(
            Prefetch("commits", queryset=DeployCommit.objects.order_by("authored_at", "id")),
            # The incidents app links incidents to deploys; deploys doesn't import it, so by name.
            "incident_links__incident",
        ),
        pk=pk,
    )
    earlier, later = selectors.deploy_neighbours(deploy)
    # "cause" and "remediation": the IncidentDeploy.Relation values (deploys doesn't import incidents).
    links = deploy.incident_links.all()
    caused = [link.incident for link in links if link.relation == "cause"]
    remediated = [link.incident for link in links if link.relation == "remediation"]
    return render(
        request,
        "deploys/deploy_detail.html",
        {
            "deploy": deploy,
            "earlier": earlier,
            "later": later,
            "incident_groups": [
                ("Caused", caused, "No incident linked to this deploy as its cause."),
                ("Remediated", remediated, "Not linked as a rollback or hotfix for any incident."),
            ],
            "recent_change_records": _recent_change_records(deploy),
        },
    )


# How many change records the deploy page offers to attach.
RECENT_CHANGE_RECORDS = 30


def _recent_change_records(deploy: Deploy) -> list[ChangeRecord]:
    """The latest change records, those of the deploy's service first."""
    same_service = Case(
        When(service_id=deploy.service_id, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return list(
        ChangeRecord.objects.select_related("service")
        .annotate(other_service=same_service)
        .order_by("other_service", "-planned_at", "-id")[:RECENT_CHANGE_RECORDS]
    )


@require_POST
@role_required(RESPONDER)
def deploy_change_record(request, pk: int):
    """Attach a change record to a deploy, or detach it (a blank choice)."""
    deploy = get_object_or_404(Deploy.objects.select_related("change_record"), pk=pk)
    form = DeployChangeRecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    else:
        previous = deploy.change_record
        record = form.cleaned_data["change_record"]
        services.deploy_attach_change_record(deploy=deploy, record=record)
        if record is not None:
            messages.success(request, f"Attached CR-{record.pk} {record.title}.")
        elif previous is not None:
            messages.success(request, f"Detached CR-{previous.pk} {previous.title}.")
    return redirect(f"{deploy.get_absolute_url()}#change-record")


# --- Change records ---------------------------------------------------------------------------


@require_safe
def change_list(request):
    records = (
        ChangeRecord.objects.select_related("service")
        .annotate(deploy_count=Count("deploys"))
        .order_by("-planned_at", "-id")
    )
    page, _ = page_of(request, records)
    return render(request, "deploys/changerecord_list.html", {"page": page})


@role_required(RESPONDER)
def change_new(request):
    form = ChangeRecordForm(request.POST or None, initial={"owner": request.user.get_username()})
    if form.is_valid():
        try:
            record = services.change_record_create(data=form.data_for_service(), by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Change record CR-{record.pk} saved.")
            return redirect(record)
    return render(request, "deploys/changerecord_form.html", {"form": form})


@role_required(RESPONDER)
def change_edit(request, pk: int):
    record = get_object_or_404(ChangeRecord.objects.select_related("service"), pk=pk)
    form = ChangeRecordForm(request.POST or None, record=record)
    if form.is_valid():
        try:
            services.change_record_update(record=record, changes=form.data_for_service(), by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect(record)
    return render(request, "deploys/changerecord_form.html", {"form": form, "record": record})


@require_safe
def change_detail(request, pk: int):
    record = get_object_or_404(ChangeRecord.objects.select_related("service", "created_by"), pk=pk)
    deploys = record.deploys.with_related().newest_first()
    return render(request, "deploys/changerecord_detail.html", {"record": record, "deploys": deploys})


@require_http_methods(["GET", "HEAD", "POST"])
def api_token(request):
    """Your own API token: it acts with your role. Making one (or a new one, which ends the old)
    shows the key once; only its digest is stored, so afterwards the page says only that you have
    one, since when, and how its key starts."""
    if request.method == "POST":
        _, key = services.api_token_create(user=request.user)
        messages.warning(
            request,
            f"Your API token is {key} — copy it now: this page won't show it again. "
            "The previous one, if any, no longer works.",
        )
        return redirect("api_token")
    token = ApiToken.objects.filter(user=request.user).first()
    return render(request, "registration/api_token.html", {"token": token, "role": role_of(request.user)})
