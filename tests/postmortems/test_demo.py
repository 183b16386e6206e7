"""The post-mortems, remediations and change records seed_demo adds to the demo incidents."""

import pytest

from deploys.models import ChangeRecord
from postmortems.demo import seed_postmortems
from postmortems.models import PostMortem, Remediation
from postmortems.selectors import follow_through
from tests.support.demo import NOW, seed_deploys_and_incidents

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return seed_deploys_and_incidents()


@pytest.fixture
def demo_postmortems(demo):
    return seed_postmortems(now=NOW)


def test_postmortems_published_and_drafts_with_dev_and_ops_remediations(demo_postmortems):
    statuses = set(PostMortem.objects.values_list("status", flat=True))
    published = PostMortem.objects.filter(status="published")

    assert demo_postmortems == PostMortem.objects.count() > 5
    assert {"published", "draft", "in_review"} <= statuses
    for postmortem in published:
        kinds = set(postmortem.remediations.values_list("kind", flat=True))
        if postmortem.no_action_needed:
            assert kinds == set() and postmortem.no_action_reason
        else:
            assert kinds == {"dev", "ops"}
    # History to compare: every post-mortem has its writing steps as revisions.
    for postmortem in PostMortem.objects.all():
        assert postmortem.revisions.count() == postmortem.version >= 2
    # Some remediations have a user as owner, who gets reminders.
    assert Remediation.objects.filter(owner__isnull=False).exclude(owner__email="").exists()


def test_remediations_some_overdue_some_done_on_time_and_late(demo_postmortems):
    today = NOW.date()
    stats = follow_through(Remediation.objects.all(), today=today)

    assert stats.overdue > 0
    assert stats.done_on_time > 0 and stats.done_late > 0
    assert Remediation.objects.filter(status="wont_do").exclude(wont_do_reason="").exists()
    for remediation in Remediation.objects.filter(status="done"):
        assert remediation.completed_at <= NOW


def test_a_few_change_records_on_causing_deploys(demo_postmortems):
    records = ChangeRecord.objects.all()

    assert 1 <= records.count() <= 10
    for record in records:
        deploy = record.deploys.get()
        assert deploy.incident_links.filter(relation="cause").exists()


def test_postmortems_are_not_seeded_twice(demo_postmortems):
    assert seed_postmortems(now=NOW) == 0
