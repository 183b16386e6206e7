from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render

from deploys import selectors
from deploys.filters import DeployFilter
from deploys.models import Deploy, DeployCommit

PAGE_SIZE = 50


def deploy_list(request):
    filterset = DeployFilter(request.GET or None, queryset=selectors.deploy_log())
    deploys = filterset.qs if filterset.is_bound and filterset.is_valid() else selectors.deploy_log()
    if filterset.is_bound and not filterset.is_valid():
        deploys = deploys.none()
    page = Paginator(deploys, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "deploys/deploy_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query.urlencode(),
            "current": selectors.current_production_deploys(),
        },
    )


def deploy_detail(request, pk: int):
    deploy = get_object_or_404(
        Deploy.objects.with_related().prefetch_related(
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
        },
    )


def change_detail(request, pk: int):
    """Being written."""
    from django.http import HttpResponse

    return HttpResponse("")
