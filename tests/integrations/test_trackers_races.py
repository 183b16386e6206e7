"""Create issue under concurrency (PostgreSQL: SQLite serialises every write anyway): many clicks at
once, and many workers running the same link's task at once, make one issue."""

import pytest
from django.db import transaction

from integrations.models import TrackerConnection, TrackerLink
from integrations.trackers.services import tracker_create_attempt, tracker_issue_request
from postmortems.factories import RemediationFactory
from postmortems.models import Remediation
from tests.support.concurrency import at_once
from tests.support.trackers import github

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
]

CONCURRENCY = 10


def test_clicks_at_once_make_one_link_and_one_issue(fake):
    connection = github(fake)
    remediation = RemediationFactory()

    def click(index):
        with transaction.atomic():
            return tracker_issue_request(
                remediation=Remediation.objects.get(pk=remediation.pk),
                connection=TrackerConnection.objects.get(pk=connection.pk),
            )[1]

    created = at_once(CONCURRENCY, click)
    assert created.count(True) == 1
    assert TrackerLink.objects.filter(remediation=remediation).count() == 1
    assert len(fake.called("POST issue")) == 1


def test_workers_running_one_link_at_once_create_one_issue(fake):
    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)

    at_once(CONCURRENCY, lambda index: tracker_create_attempt(link_id=link.pk, last_chance=False))

    assert len(fake.called("POST issue")) == 1
    link.refresh_from_db()
    assert (link.state, link.attempts) == ("linked", 1)
