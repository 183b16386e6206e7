"""factory-boy factories for incidents: used by the tests and by `seed_demo`."""

import datetime as dt

import factory
from django.utils import timezone

from incidents.models import Incident, IncidentDeploy, TimelineEntry


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Checkout errors #{n}")
    severity = Incident.Severity.SEV3
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=2))
    detected_at = factory.LazyAttribute(lambda o: o.started_at + dt.timedelta(minutes=5))
    detected_by = Incident.DetectedBy.MONITORING
    summary = "Some customers see errors."

    @factory.post_generation
    def services(self, create, extracted, **kwargs):
        if create and extracted:
            self.services.set(extracted)


class IncidentDeployFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IncidentDeploy

    incident = factory.SubFactory(IncidentFactory)
    deploy = factory.SubFactory("deploys.factories.DeployFactory")
    relation = IncidentDeploy.Relation.CAUSE


class TimelineEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimelineEntry

    incident = factory.SubFactory(IncidentFactory)
    kind = TimelineEntry.Kind.NOTE
    text = factory.Sequence(lambda n: f"Note {n}")
