import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deploys.factories import DeployFactory, ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from incidents.services import (
    IncidentInput,
    incident_add_note,
    incident_create,
    incident_link_deploy,
    incident_stamp,
    incident_unlink_deploy,
    incident_update,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def minutes(n):
    return T0 + dt.timedelta(minutes=n)


def file(**overrides):
    values = dict(title="Checkout is failing", started_at=T0)
    values.update(overrides)
    return incident_create(data=IncidentInput(**values))


def test_filing_defaults_detection_to_now_and_starts_the_timeline(user):
    before = timezone.now()
    incident, created = incident_create(
        data=IncidentInput(title="Search is slow", started_at=T0, services=[ServiceFactory(slug="search")]),
        by=user,
    )

    assert created
    assert before <= incident.detected_at <= timezone.now()
    assert incident.status == "open"
    assert list(incident.services.values_list("slug", flat=True)) == ["search"]
    entry = incident.timeline.get()
    assert entry.kind == TimelineEntry.Kind.STATUS
    assert entry.author == user
    assert entry.text.startswith("Incident filed (SEV3")
    assert incident.created_by == user


@pytest.mark.parametrize(
    ("stamps", "status"),
    [
        ({}, "open"),
        ({"acknowledged_at": minutes(10)}, "acknowledged"),
        ({"acknowledged_at": minutes(10), "mitigated_at": minutes(20)}, "mitigated"),
        ({"mitigated_at": minutes(20)}, "mitigated"),
        ({"acknowledged_at": minutes(10), "resolved_at": minutes(30)}, "resolved"),
    ],
)
def test_status_is_derived_from_the_timestamps(stamps, status):
    incident, _ = file(detected_at=minutes(5), **stamps)

    assert incident.status == status
    assert Incident.objects.with_status(status).get() == incident


def test_durations_are_exact_seconds():
    incident, _ = file(
        detected_at=T0 + dt.timedelta(minutes=6, seconds=30),
        resolved_at=T0 + dt.timedelta(minutes=12, seconds=30, microseconds=500000),
    )

    assert incident.time_to_detect_seconds == 390.0
    assert incident.time_to_repair_seconds == 360.5
    assert incident.time_to_restore_seconds == 750.5


@pytest.mark.parametrize(
    ("stamps", "field"),
    [
        ({"detected_at": minutes(-1)}, "detected_at"),
        ({"detected_at": minutes(10), "acknowledged_at": minutes(9)}, "acknowledged_at"),
        ({"detected_at": minutes(1), "acknowledged_at": minutes(10), "mitigated_at": minutes(9)}, "mitigated_at"),
        ({"detected_at": minutes(1), "mitigated_at": minutes(10), "resolved_at": minutes(9)}, "resolved_at"),
        ({"detected_at": minutes(1), "resolved_at": minutes(0)}, "resolved_at"),
    ],
)
def test_out_of_order_timestamps_are_refused_naming_the_field(stamps, field):
    with pytest.raises(ValidationError) as error:
        file(**stamps)

    assert list(error.value.message_dict) == [field]
    assert "can't be before" in error.value.message_dict[field][0]
    assert Incident.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


def test_a_timestamp_in_the_future_is_refused():
    later = timezone.now() + dt.timedelta(hours=1)

    with pytest.raises(ValidationError) as error:
        file(started_at=later, detected_at=later)

    assert set(error.value.message_dict) == {"started_at", "detected_at"}
    assert "future" in error.value.message_dict["started_at"][0]


def test_a_few_seconds_of_clock_skew_is_tolerated():
    soon = timezone.now() + dt.timedelta(seconds=20)

    incident, _ = file(started_at=T0, detected_at=soon)

    assert incident.detected_at == soon


def test_same_source_and_external_id_files_once():
    first, created = file(source="pagerduty", external_id="PD123")
    again, created_again = file(source="pagerduty", external_id="PD123", title="Different")
    other, created_other = file(source="api", external_id="PD123")

    assert (created, created_again, created_other) == (True, False, True)
    assert again.pk == first.pk and again.title == "Checkout is failing"
    assert other.pk != first.pk


def test_update_records_old_and_new_values_for_tracked_fields(user):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    incident, _ = file(detected_at=minutes(5), services=[web])

    incident_update(
        incident=incident,
        changes={"severity": 1, "services": [web, api], "detected_at": minutes(3), "title": "Checkout down"},
        by=user,
    )

    incident.refresh_from_db()
    assert (incident.severity, incident.title, incident.detected_at) == (1, "Checkout down", minutes(3))
    edits = {next(iter(entry.changes)): entry for entry in incident.timeline.filter(kind=TimelineEntry.Kind.EDIT)}
    assert edits["severity"].changes == {"severity": {"old": 3, "new": 1}}
    assert edits["severity"].text == "Severity changed from SEV3 to SEV1."
    assert edits["services"].changes == {"services": {"old": ["web"], "new": ["api", "web"]}}
    assert edits["detected_at"].changes == {
        "detected_at": {"old": "2024-07-01T10:05:00Z", "new": "2024-07-01T10:03:00Z"}
    }
    assert edits["title"].text == "Title edited."
    assert all(entry.author == user for entry in edits.values())


def test_update_with_nothing_changed_writes_nothing():
    incident, _ = file(detected_at=minutes(5))

    incident_update(incident=incident, changes={"severity": 3, "title": "Checkout is failing"})

    assert incident.timeline.count() == 1


def test_an_invalid_update_saves_nothing():
    incident, _ = file(detected_at=minutes(5))

    with pytest.raises(ValidationError) as error:
        incident_update(incident=incident, changes={"resolved_at": minutes(1), "severity": 1})

    assert list(error.value.message_dict) == ["resolved_at"]
    incident.refresh_from_db()
    assert (incident.resolved_at, incident.severity) == (None, 3)
    assert incident.timeline.count() == 1


def test_stamping_adds_a_status_entry_and_twice_keeps_the_first_time(user):
    incident, _ = file(detected_at=minutes(5))

    incident_stamp(incident=incident, stage="acknowledged", at=minutes(7), by=user)
    incident_stamp(incident=incident, stage="resolved", at=minutes(20), by=user)
    incident_stamp(incident=incident, stage="resolved", at=minutes(25), by=user)

    incident.refresh_from_db()
    assert incident.acknowledged_at == minutes(7)
    assert incident.resolved_at == minutes(20)
    assert incident.status == "resolved"
    texts = list(incident.timeline.filter(kind="status").values_list("text", flat=True))
    assert texts[1:] == ["Acknowledged. Status Open → Acknowledged.", "Resolved. Status Acknowledged → Resolved."]


def test_stamping_before_detection_is_refused():
    incident, _ = file(detected_at=minutes(5))

    with pytest.raises(ValidationError) as error:
        incident_stamp(incident=incident, stage="acknowledged", at=minutes(4))

    assert list(error.value.message_dict) == ["acknowledged_at"]
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_notes_need_text(user):
    incident, _ = file()

    note = incident_add_note(incident=incident, text="  Rolled back web to 25134 ", by=user)

    assert (note.kind, note.text, note.author) == ("note", "Rolled back web to 25134", user)
    with pytest.raises(ValidationError):
        incident_add_note(incident=incident, text="   ")


def test_linking_and_unlinking_deploys_is_recorded(user):
    incident = IncidentFactory()
    deploy = DeployFactory(service=ServiceFactory(slug="web"), version="25145")

    link, created = incident_link_deploy(
        incident=incident, deploy=deploy, relation=IncidentDeploy.Relation.CAUSE, by=user, note="Bad cache key"
    )
    _, created_again = incident_link_deploy(incident=incident, deploy=deploy, relation="cause", by=user)
    incident_link_deploy(incident=incident, deploy=deploy, relation="remediation", by=user)
    removed = incident_unlink_deploy(incident=incident, deploy=deploy, relation="cause", by=user)
    removed_again = incident_unlink_deploy(incident=incident, deploy=deploy, relation="cause", by=user)

    assert (created, created_again, removed, removed_again) == (True, False, True, False)
    assert list(incident.deploy_links.values_list("relation", flat=True)) == ["remediation"]
    entries = list(incident.timeline.values_list("kind", "text"))
    assert entries == [
        ("deploy_linked", f"Linked web 25145 to production (deploy #{deploy.pk}) as a cause. Bad cache key"),
        ("deploy_linked", f"Linked web 25145 to production (deploy #{deploy.pk}) as remediating."),
        ("deploy_unlinked", f"Unlinked web 25145 to production (deploy #{deploy.pk}) as a cause."),
    ]
    assert Incident.objects.deploy_related().count() == 0


def test_deploy_related_means_at_least_one_causing_deploy():
    caused, fixed, plain = IncidentFactory(), IncidentFactory(), IncidentFactory()
    incident_link_deploy(incident=caused, deploy=DeployFactory(), relation="cause")
    incident_link_deploy(incident=caused, deploy=DeployFactory(), relation="cause")
    incident_link_deploy(incident=fixed, deploy=DeployFactory(), relation="remediation")

    assert list(Incident.objects.deploy_related()) == [caused]
    assert set(Incident.objects.deploy_related(False)) == {fixed, plain}


def test_notes_and_links_touch_the_incident(user):
    incident = IncidentFactory()
    before = incident.updated_at

    incident_add_note(incident=incident, text="Looking at the cache", by=user)
    incident.refresh_from_db()
    assert incident.updated_by == user and incident.updated_at > before

    with pytest.raises(ValidationError) as error:
        incident_add_note(incident=incident, text="From the future", at=timezone.now() + dt.timedelta(hours=1))
    assert list(error.value.message_dict) == ["at"]


def test_filed_after_the_fact_the_detection_time_is_asked_for_not_invented():
    """#15.2: a later stage given without a detection time is refused, naming detected_at."""
    with pytest.raises(ValidationError) as error:
        file(acknowledged_at=minutes(10), resolved_at=minutes(30))

    assert error.value.message_dict == {"detected_at": ["You gave a later stage; when was it detected?"]}
    assert not Incident.objects.exists()


def test_detection_time_can_be_corrected_not_removed():
    incident, _ = file(detected_at=minutes(5))

    with pytest.raises(ValidationError) as error:
        incident_update(incident=incident, changes={"detected_at": None})

    assert list(error.value.message_dict) == ["detected_at"]


def test_acknowledging_after_the_resolution_names_the_stamp_and_explains(user):
    incident, _ = file(detected_at=minutes(5), resolved_at=minutes(20))

    with pytest.raises(ValidationError) as error:
        incident_stamp(incident=incident, stage="acknowledged", at=minutes(25), by=user)

    assert list(error.value.message_dict) == ["acknowledged_at"]
    assert "already resolved" in error.value.message_dict["acknowledged_at"][0]


def test_notes_have_a_length_limit():
    incident = IncidentFactory()

    with pytest.raises(ValidationError) as error:
        incident_add_note(incident=incident, text="x" * 10_001)

    assert "under 10,000 characters" in error.value.message_dict["text"][0]
