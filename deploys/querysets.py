from datetime import datetime

from django.db import models


class DeployQuerySet(models.QuerySet):
    def production(self):
        return self.filter(environment__is_production=True)

    def counted(self):
        """Production deploys that went live (succeeded or rolled back): what the monthly numbers count."""
        return self.filter(environment__is_production=True, status__in=self.model.COUNTED_STATUSES)

    def live(self):
        """Deploys whose version went live and stayed (not failed, not rolled back)."""
        return self.filter(status=self.model.Status.SUCCEEDED)

    def of_versions(self, service, versions):
        """A service's deploys of any of these versions (served by deploy_service_version_idx)."""
        return self.filter(service=service, version__in=versions)

    def for_service(self, slug: str):
        return self.filter(service__slug=slug)

    def in_environment(self, slug: str):
        return self.filter(environment__slug=slug)

    def between(self, since: datetime | None = None, until: datetime | None = None):
        qs = self
        if since is not None:
            qs = qs.filter(deployed_at__gte=since)
        if until is not None:
            qs = qs.filter(deployed_at__lt=until)
        return qs

    def newest_first(self):
        return self.order_by("-deployed_at", "-id")

    def with_related(self):
        return self.select_related("service", "environment")


class ServiceQuerySet(models.QuerySet):
    def active(self):
        """Not archived: the services offered for new records."""
        return self.filter(archived_at__isnull=True)

    def offered(self, *, keeping=()):
        """What a picker offers: the active services, and the archived ones among `keeping` (those a
        record being edited has already, so that saving it doesn't drop them)."""
        return self.filter(models.Q(archived_at__isnull=True) | models.Q(pk__in=[s.pk for s in keeping if s]))
