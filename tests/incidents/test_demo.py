import datetime as dt

import pytest
from django.db.models import Count
from django.db.models.functions import TruncMonth

from incidents.demo import seed_incidents
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from tests.support.demo import NOW, seed_deploys_and_incidents

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return seed_deploys_and_incidents()


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


def test_some_deploy_caused_incidents_are_left_unlinked_for_the_inferred_rule_to_find(demo):
    from reports.selectors import Filters, monthly_report

    # The demo's months (240 days up to NOW).
    first, last = dt.date(2025, 10, 1), NOW.date()
    linked = monthly_report(first=first, last=last, filters=Filters(), include_partial=True).totals
    inferred = monthly_report(
        first=first, last=last, filters=Filters(attribution="inferred"), include_partial=True
    ).totals

    # The demo shows what the inferred rule adds: several incidents, not one or two.
    assert linked.deploy_related_incidents >= 5
    assert inferred.deploy_related_incidents >= linked.deploy_related_incidents + 4
    assert inferred.change_failure_rate > linked.change_failure_rate


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


def test_some_caused_incidents_have_a_remediating_deploy(demo):
    fixes = IncidentDeploy.objects.filter(relation="remediation").select_related("deploy", "incident")

    assert fixes.exists()
    for link in fixes:
        assert link.deploy.deployed_at > link.incident.detected_at
        assert link.incident.deploy_links.filter(relation="cause").exists()


def test_some_have_all_three_roles_and_some_a_lead_handed_over(demo):
    assert Incident.objects.exclude(commander="").exclude(comms_lead="").exclude(scribe="").exists()
    handovers = TimelineEntry.objects.filter(kind=TimelineEntry.Kind.HANDOVER).select_related("incident")
    assert handovers.exists()
    for entry in handovers:
        if "commander" not in entry.changes:
            continue  # the incident worked from Slack hands its communications lead over
        change = entry.changes["commander"]
        # The page and the API agree with the timeline: the last holder is the incident's lead.
        assert change["new"] == entry.incident.commander != change["old"]
        assert entry.text == f"Incident lead handed over from {change['old']} to {change['new']}."
        assert entry.incident.acknowledged_at <= entry.at <= entry.incident.mitigated_at


def test_the_latest_months_first_incident_is_worked_from_slack_by_real_people(demo):
    last_month = Incident.objects.order_by("-started_at").first().started_at.strftime("%Y-%m")
    incident = Incident.objects.get(external_id=f"demo-{last_month}-0")
    from_slack = incident.timeline.filter(source=TimelineEntry.Source.SLACK)
    kinds = set(from_slack.values_list("kind", flat=True))
    assert {"status", "note", "handover"} <= kinds
    assert not from_slack.filter(author=None).exists()
    assert {e.author.username for e in from_slack} == {"priya.raman", "tomas.novak"}
    assert from_slack.filter(kind="status", text__startswith="Acknowledged").exists() == bool(incident.acknowledged_at)
    assert from_slack.filter(kind="status", text__startswith="Resolved").exists() == bool(incident.resolved_at)
    handover = from_slack.get(kind="handover")
    assert handover.changes["comms_lead"]["new"] == incident.comms_lead == "tomas.novak"
    # The others are not.
    assert not TimelineEntry.objects.exclude(incident=incident).filter(source="slack").exists()
    assert seed_incidents(days=240, now=NOW).created == 0
    assert incident.timeline.filter(source="slack").count() == from_slack.count()
