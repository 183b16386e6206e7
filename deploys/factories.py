"""factory-boy factories for deploys: used by the tests and by `seed_demo`."""

import datetime as dt

import factory
from django.utils import timezone

from deploys.models import Deploy, DeployCommit, Environment, Service
from deploys.services import commit_deliveries_refresh


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"service-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    dev_team = factory.LazyAttribute(lambda o: f"{o.slug} team")
    ops_contact = "ops-oncall"


class EnvironmentFactory(factory.django.DjangoModelFactory):
    """`production`, `staging` and `qa` exist from the first migration; get_or_create reuses them."""

    class Meta:
        model = Environment
        django_get_or_create = ("slug",)

    slug = "production"
    name = factory.LazyAttribute(lambda o: o.slug.title())
    is_production = factory.LazyAttribute(lambda o: o.slug == "production")


class DeployFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deploy

    service = factory.SubFactory(ServiceFactory)
    environment = factory.SubFactory(EnvironmentFactory)
    version = factory.Sequence(lambda n: str(25000 + n))
    previous_version = ""
    deployer = factory.Sequence(lambda n: f"dev{n % 20}")
    message = factory.LazyAttribute(lambda o: f"{o.environment.slug.title()} deploy of {o.version}")
    deployed_at = factory.LazyFunction(timezone.now)
    duration_seconds = 34.9
    status = Deploy.Status.SUCCEEDED
    diff_url = factory.LazyAttribute(
        lambda o: (
            f"https://git.example.com/acme/{o.service.slug}/compare/{o.previous_version or 'HEAD~1'}...{o.version}"
        )
    )
    external_id = ""


class DeployCommitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeployCommit

    deploy = factory.SubFactory(DeployFactory)
    sha = factory.Sequence(lambda n: f"{n:040x}")
    authored_at = factory.LazyAttribute(lambda o: o.deploy.deployed_at - dt.timedelta(hours=3))
    message = factory.Sequence(lambda n: f"Change number {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # As deploys.services does on every ingest: keep the sha's first-delivery fields right.
        commit = super()._create(model_class, *args, **kwargs)
        commit_deliveries_refresh(shas=[commit.sha])
        commit.refresh_from_db()
        return commit


class ChangeRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "deploys.ChangeRecord"

    title = factory.Sequence(lambda n: f"Add an index to orders #{n}")
    kind = "schema"
    owner = "sandrews"
    planned_at = factory.LazyFunction(timezone.now)
    done_before = "Yes, on the listings table last quarter."
    failure_impact = "Writes to orders lock for the duration; checkout stalls."
    failure_response = "Cancel the migration and drop the half-built index."
