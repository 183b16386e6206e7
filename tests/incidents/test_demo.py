import datetime as dt

import pytest
from django.db.models import Count
from django.db.models.functions import TruncMonth

from deploys.demo import seed_deploys
from deploys.models import ChangeRecord
from incidents.demo import seed_incidents
from incidents.models import Incident, IncidentDeploy
from postmortems.demo import seed_postmortems
from postmortems.models import PostMortem, Remediation
from postmortems.selectors import follow_through

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 4, 17, 0, tzinfo=dt.UTC)  # a Thursday in the past


@pytest.fixture
def demo():
    seed_deploys(days=240, now=NOW)
    return seed_incidents(days=240, now=NOW)


def test_a_few_incidents_a_month(demo):
    per_month = list(
        Incident.objects.annotate(month=TruncMonth("started_at"))
        .values("month")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )

    assert len(per_month) >= 8
    assert 1 <= sum(per_month) / len(per_month) <= 5


def test_some_are_caused_by_deploys_most_not(demo):
    related = Incident.objects.deploy_related().count()

    assert 0.1 <= related / Incident.objects.count() < 0.5
    for link in IncidentDeploy.objects.filter(relation="cause").select_related("deploy__environment", "incident"):
        assert link.deploy.environment.is_production
        assert link.deploy.deployed_at <= link.incident.started_at
        assert link.deploy.service in link.incident.services.all()


def test_detection_and_repair_times_are_realistic(demo):
    detect = [i.time_to_detect_seconds for i in Incident.objects.all()]
    repair = [i.time_to_repair_seconds for i in Incident.objects.resolved()]

    assert min(detect) < 600 and max(detect) > 3600  # seconds to hours
    assert min(repair) < 3600 and max(repair) <= 26 * 3600  # minutes to about a day


def test_a_few_are_still_open_and_all_timestamps_are_ordered(demo):
    unresolved = Incident.objects.unresolved().count()

    assert 1 <= unresolved <= 6
    for incident in Incident.objects.all():
        incident.full_clean(exclude=["services", "deploys"])  # raises on any ordering violation


def test_detection_gets_faster_over_time(demo):
    incidents = list(Incident.objects.order_by("started_at"))
    half = len(incidents) // 2
    early = sum(i.time_to_detect_seconds for i in incidents[:half]) / half
    late = sum(i.time_to_detect_seconds for i in incidents[half:]) / (len(incidents) - half)

    assert late < early / 2


def test_running_it_twice_duplicates_nothing(demo):
    again = seed_incidents(days=240, now=NOW)

    assert (again.created, again.existing) == (0, demo.created)
    assert Incident.objects.count() == demo.created


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


def test_some_caused_incidents_have_a_remediating_deploy(demo):
    fixes = IncidentDeploy.objects.filter(relation="remediation").select_related("deploy", "incident")

    assert fixes.exists()
    for link in fixes:
        assert link.deploy.deployed_at > link.incident.detected_at
        assert link.incident.deploy_links.filter(relation="cause").exists()


def test_demo_alerts_give_the_review_noise_and_signal(demo):
    from alerts.demo import seed_alerts
    from alerts.models import Alert
    from alerts.selectors import alert_review

    created = seed_alerts(days=240, now=NOW)

    assert created == Alert.objects.count() > 0
    assert seed_alerts(days=240, now=NOW) == 0  # safe to run twice
    monitored = Incident.objects.filter(detected_by="monitoring")
    # Every incident monitoring caught was promoted from an alert: the review's signal.
    assert set(Alert.objects.exclude(incident=None).values_list("incident", flat=True)) == set(
        monitored.values_list("pk", flat=True)
    )
    months = alert_review(first=dt.date(2026, 1, 1), last=dt.date(2026, 5, 1))
    rows = [row for month in months for row in month.rows]
    noisy = {row.name for row in rows if row.signal == 0}
    assert {"DiskSpaceLow", "HighLatencyP99"} <= noisy
    # The noisiest alert of a month comes first.
    for month in months:
        assert [row.noise for row in month.rows] == sorted((row.noise for row in month.rows), reverse=True)
