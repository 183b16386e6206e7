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
            Prefetch("commits", queryset=DeployCommit.objects.order_by("authored_at", "id"))
        ),
        pk=pk,
    )
    earlier, later = selectors.deploy_neighbours(deploy)
    return render(
        request, "deploys/deploy_detail.html", {"deploy": deploy, "earlier": earlier, "later": later}
    )
