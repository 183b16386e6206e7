"""The demo's tracker data: a demo connection Opslog never calls, remediations linked and synced,
timeline entries from the tracker."""

import pytest

from incidents.models import TimelineEntry
from integrations.demo import DEMO_ISSUES, seed_trackers
from integrations.models import TrackerConnection, TrackerLink
from postmortems.demo import seed_postmortems
from postmortems.models import Remediation
from tests.support.demo import NOW, seed_deploys_and_incidents

pytestmark = pytest.mark.django_db


def test_demo_links_published_remediations_to_a_demo_connection_and_is_safe_twice():
    seed_deploys_and_incidents()
    seed_postmortems(now=NOW)
    made = seed_trackers()
    assert made > 3
    [connection] = TrackerConnection.objects.all()
    assert connection.is_demo and connection.kind == "github"
    links = TrackerLink.objects.select_related("remediation")
    assert all(link.state == "linked" and link.url.startswith(DEMO_ISSUES) for link in links)
    for link in links:
        assert link.remediation.tracker_ref == link.url
    done = Remediation.objects.filter(tracker_link__isnull=False, status="done").count()
    assert TimelineEntry.objects.filter(source="tracker").count() == done > 0
    before = TrackerLink.objects.count()
    seed_trackers(limit=0)
    assert TrackerLink.objects.count() == before and TrackerConnection.objects.count() == 1
