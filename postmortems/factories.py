import datetime as dt

import factory
from django.utils import timezone

from incidents.factories import IncidentFactory


class PostMortemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "postmortems.PostMortem"

    incident = factory.SubFactory(IncidentFactory)
    summary = "Checkout failed for a third of card payments for 40 minutes."
    impact = "About 1,200 customers could not pay."
    facilitator = "Priya Raman"


class RemediationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "postmortems.Remediation"

    postmortem = factory.SubFactory(PostMortemFactory)
    description = factory.Sequence(lambda n: f"Add an alert on checkout error rate #{n}")
    kind = "dev"
    owner_name = "sam"
    due_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=14))


class ContributingFactorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "postmortems.ContributingFactor"
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"factor-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").capitalize())


class PostMortemFactorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "postmortems.PostMortemFactor"

    postmortem = factory.SubFactory(PostMortemFactory)
    factor = factory.SubFactory(ContributingFactorFactory)
    note = ""
