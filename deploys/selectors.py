"""Reads for deploys."""

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from deploys.models import Deploy, Service


def deploy_log() -> QuerySet[Deploy]:
    """Every deploy, newest first, with what the log shows of its service and environment, and
    the incidents each one caused as `causing_links` (one query per page, not per row)."""
    # The incidents app links incidents to deploys; deploys doesn't import it, so through the
    # reverse relation: its model, and its "cause" value, by name.
    links = Deploy._meta.get_field("incident_links").related_model
    causing = links.objects.filter(relation="cause").select_related("incident").order_by("incident_id")
    return (
        Deploy.objects.with_related()
        .newest_first()
        .prefetch_related(Prefetch("incident_links", queryset=causing, to_attr="causing_links"))
    )


def current_production_deploys() -> list[Deploy]:
    """The live production deploy of each service: its latest successful production deploy.

    Two queries whatever the number of services or deploys.
    """
    latest = Deploy.objects.production().live().filter(service=OuterRef("pk")).newest_first().values("pk")[:1]
    ids = [
        pk
        for pk in Service.objects.annotate(live_deploy_id=Subquery(latest)).values_list("live_deploy_id", flat=True)
        if pk is not None
    ]
    return list(Deploy.objects.with_related().filter(pk__in=ids).order_by("service__slug"))


def deploy_neighbours(deploy: Deploy) -> tuple[Deploy | None, Deploy | None]:
    """The deploys just before and after this one of the same service in the same environment."""
    stream = Deploy.objects.filter(service_id=deploy.service_id, environment_id=deploy.environment_id)
    earlier = (
        (
            stream.filter(deployed_at__lt=deploy.deployed_at)
            | stream.filter(deployed_at=deploy.deployed_at, pk__lt=deploy.pk)
        )
        .newest_first()
        .first()
    )
    later = (
        (
            stream.filter(deployed_at__gt=deploy.deployed_at)
            | stream.filter(deployed_at=deploy.deployed_at, pk__gt=deploy.pk)
        )
        .order_by("deployed_at", "id")
        .first()
    )
    return earlier, later
