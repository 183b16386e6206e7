"""Incident roles (#16.3): lead, communications lead and scribe, handed over through one service."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from incidents.factories import IncidentFactory
from incidents.models import Incident, TimelineEntry
from incidents.services import IncidentInput, incident_assign_role, incident_create, incident_update

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)


def handovers(incident):
    return list(TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.HANDOVER).order_by("id"))


def test_taking_a_free_role_records_who_took_it_who_assigned_it_and_when(user):
    incident = IncidentFactory()
    at = T0 + dt.timedelta(hours=1)

    incident_assign_role(incident=incident, role="lead", name="bob", by=user, now=at)

    incident.refresh_from_db()
    assert incident.commander == "bob"
    assert (incident.updated_at, incident.updated_by) == (at, user)
    [entry] = handovers(incident)
    assert entry.text == "Incident lead taken by bob."
    assert entry.changes == {"commander": {"old": "", "new": "bob"}}
    assert (entry.at, entry.author) == (at, user)


def test_a_handover_names_the_old_and_the_new_holder():
    incident = IncidentFactory(comms_lead="ana")

    incident_assign_role(incident=incident, role="comms", name="Bob Lee")

    incident.refresh_from_db()
    assert incident.comms_lead == "Bob Lee"
    [entry] = handovers(incident)
    assert entry.text == "Communications lead handed over from ana to Bob Lee."
    assert entry.changes == {"comms_lead": {"old": "ana", "new": "Bob Lee"}}


def test_an_empty_name_clears_the_role_and_says_who_left():
    incident = IncidentFactory(scribe="ana")

    incident_assign_role(incident=incident, role="scribe", name="  ")

    incident.refresh_from_db()
    assert incident.scribe == ""
    [entry] = handovers(incident)
    assert entry.text == "Scribe left (was ana)."
    assert entry.changes == {"scribe": {"old": "ana", "new": ""}}


def test_assigning_the_current_holder_changes_nothing(user):
    incident = IncidentFactory(commander="ana", updated_at=T0)

    incident_assign_role(incident=incident, role="lead", name=" ana ", by=user)
    incident_assign_role(incident=incident, role="scribe", name="")

    incident.refresh_from_db()
    assert (incident.commander, incident.scribe) == ("ana", "")
    assert (incident.updated_at, incident.updated_by) == (T0, None)
    assert handovers(incident) == []


def test_each_role_has_its_own_holder():
    incident = IncidentFactory()

    incident_assign_role(incident=incident, role=Incident.Role.LEAD, name="ana")
    incident_assign_role(incident=incident, role=Incident.Role.COMMS, name="bob")
    incident_assign_role(incident=incident, role=Incident.Role.SCRIBE, name="carol")

    incident.refresh_from_db()
    assert incident.roles == {"lead": "ana", "comms": "bob", "scribe": "carol"}
    assert [entry.text for entry in handovers(incident)] == [
        "Incident lead taken by ana.",
        "Communications lead taken by bob.",
        "Scribe taken by carol.",
    ]


@pytest.mark.parametrize("role", ["commander", "Lead", "", None, ["lead"]])
def test_an_unknown_role_is_refused_by_name(role):
    incident = IncidentFactory(commander="ana")

    with pytest.raises(ValidationError) as error:
        incident_assign_role(incident=incident, role=role, name="bob")

    assert list(error.value.message_dict) == ["role"]
    assert "lead, comms, scribe" in error.value.message_dict["role"][0]
    incident.refresh_from_db()
    assert incident.commander == "ana"
    assert handovers(incident) == []


@pytest.mark.parametrize(
    "name, words",
    [("ana\nbob", "single line"), ("ana\tbob", "single line"), ("x" * 201, "200 characters"), (None, "as text")],
)
def test_a_bad_name_is_refused_and_nothing_is_written(name, words):
    incident = IncidentFactory(commander="ana")

    with pytest.raises(ValidationError) as error:
        incident_assign_role(incident=incident, role="lead", name=name)

    assert list(error.value.message_dict) == ["name"]
    assert words in error.value.message_dict["name"][0]
    incident.refresh_from_db()
    assert incident.commander == "ana"
    assert handovers(incident) == []


def test_a_name_of_exactly_200_characters_and_any_script_is_kept():
    incident = IncidentFactory()
    name = "Zoë Ødegård 李娜 " + "x" * (200 - len("Zoë Ødegård 李娜 "))

    incident_assign_role(incident=incident, role="lead", name=name)

    incident.refresh_from_db()
    assert incident.commander == name


def test_editing_a_role_field_records_a_handover_not_a_plain_edit(user):
    incident = IncidentFactory(commander="ana", scribe="carol")

    incident_update(
        incident=incident, changes={"commander": "bob", "scribe": "", "comms_lead": "dana", "title": "New"}, by=user
    )

    incident.refresh_from_db()
    assert incident.roles == {"lead": "bob", "comms": "dana", "scribe": ""}
    entries = {entry.text: entry for entry in handovers(incident)}
    assert set(entries) == {
        "Incident lead handed over from ana to bob.",
        "Communications lead taken by dana.",
        "Scribe left (was carol).",
    }
    assert entries["Incident lead handed over from ana to bob."].changes == {"commander": {"old": "ana", "new": "bob"}}
    assert all(entry.author == user for entry in entries.values())
    # The other field is an edit as before.
    edits = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.EDIT)
    assert [list(edit.changes) for edit in edits] == [["title"]]


def test_editing_with_a_multi_line_role_name_saves_nothing():
    incident = IncidentFactory(commander="ana", title="Old")

    with pytest.raises(ValidationError) as error:
        incident_update(incident=incident, changes={"commander": "bob\nrm", "title": "New"})

    assert list(error.value.message_dict) == ["commander"]
    incident.refresh_from_db()
    assert (incident.commander, incident.title) == ("ana", "Old")
    assert not incident.timeline.exists()


def test_filing_stores_all_three_roles_trimmed():
    incident, _ = incident_create(
        data=IncidentInput(title="Checkout down", started_at=T0, commander=" ana ", comms_lead="bob", scribe="carol")
    )

    incident.refresh_from_db()
    assert incident.roles == {"lead": "ana", "comms": "bob", "scribe": "carol"}
