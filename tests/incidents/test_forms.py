import datetime as dt

import pytest
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from incidents.forms import DeploySearchForm, IncidentForm
from incidents.models import Incident

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _data(**overrides):
    data = {
        "title": "Checkout returns 502",
        "severity": "2",
        "summary": "Customers can't pay.",
        "started_at": "2024-07-01T10:00",
        "detected_by": "monitoring",
        "detection_source": "HighErrorRate",
    }
    data.update(overrides)
    return data


def test_a_time_is_read_in_the_reporting_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    form = IncidentForm(_data(started_at="2024-07-01T10:00"))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["started_at"] == dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC)


def test_a_time_with_seconds_is_accepted():
    form = IncidentForm(_data(started_at="2024-07-01T10:00:30"))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["started_at"] == dt.datetime(2024, 7, 1, 10, 0, 30, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_an_error_not_a_guess(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    form = IncidentForm(_data(started_at="2024-03-31T02:30"))

    assert not form.is_valid()
    assert "started_at" in form.errors


@pytest.mark.parametrize("value", ["0001-01-01T00:30", "1900-01-01T00:00", "9999-12-31T23:59"])
def test_a_time_out_of_any_plausible_range_is_an_error_not_a_500(settings, value):
    # Year 1 in Berlin can't even be converted to UTC.
    settings.TIME_ZONE = "Europe/Berlin"
    form = IncidentForm(_data(started_at=value))

    assert not form.is_valid()
    assert form.errors["started_at"] == ["Enter a time between 1970 and 2999."]


def test_participants_are_split_on_commas_trimmed_and_deduplicated():
    form = IncidentForm(_data(participants=" alice, bob ,, alice,carol "))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["participants"] == ["alice", "bob", "carol"]


def test_the_input_for_the_service_carries_every_field():
    web = ServiceFactory(slug="web")
    form = IncidentForm(_data(services=["web"], commander="dana", participants="alice, bob"))

    assert form.is_valid(), form.errors
    data = form.to_input()
    assert data.title == "Checkout returns 502"
    assert data.severity == 2
    assert list(data.services) == [web]
    assert data.detected_at is None
    assert data.detection_source == "HighErrorRate"
    assert data.commander == "dana"
    assert data.participants == ["alice", "bob"]


def test_title_and_start_are_required():
    form = IncidentForm(_data(title="", started_at=""))

    assert not form.is_valid()
    assert set(form.errors) == {"title", "started_at"}


def test_an_unknown_service_or_severity_is_a_field_error():
    form = IncidentForm(_data(services=["nope"], severity="9"))

    assert not form.is_valid()
    assert set(form.errors) == {"services", "severity"}


def test_each_severity_is_offered_with_its_description():
    options = IncidentForm().severity_options

    assert [int(radio.data["value"]) for radio, _ in options] == [1, 2, 3, 4]
    assert [description for _, description in options] == [Incident.SEVERITY_DESCRIPTIONS[n] for n in (1, 2, 3, 4)]


def test_the_start_defaults_to_now():
    before = timezone.now().replace(second=0, microsecond=0)

    initial = IncidentForm()["started_at"].initial

    assert before <= initial <= timezone.now()


def test_windows_line_endings_in_the_summary_are_stored_as_newlines():
    form = IncidentForm(_data(summary="line one\r\nline two\r\n"))

    assert form.is_valid()
    assert form.cleaned_data["summary"] == "line one\nline two"


def test_an_edit_form_is_prefilled_from_the_incident(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    web = ServiceFactory(slug="web")
    incident = IncidentFactory(
        started_at=dt.datetime(2024, 7, 1, 8, 0, 15, 123456, tzinfo=UTC),
        resolved_at=dt.datetime(2024, 7, 1, 9, 30, tzinfo=UTC),
        participants=["alice", "bob"],
        services=[web],
    )

    form = IncidentForm(incident=incident)
    html = str(form["started_at"])

    assert 'type="datetime-local"' in html
    assert 'value="2024-07-01T10:00:15"' in html
    assert 'value="2024-07-01T11:30:00"' in str(form["resolved_at"])
    assert form["participants"].value() == "alice, bob"
    assert form["services"].value() == ["web"]


def test_an_edit_leaves_untouched_times_out_of_the_changes():
    # Stored with microseconds; the form shows (and sends back) whole seconds.
    incident = IncidentFactory(started_at=dt.datetime(2024, 7, 1, 8, 0, 15, 123456, tzinfo=UTC))
    data = _data(
        title=incident.title,
        severity="3",
        started_at="2024-07-01T08:00:15",
        detected_at="2024-07-01T08:05:15",
        resolved_at="2024-07-01T12:00:00",
    )

    form = IncidentForm(data, incident=incident)

    assert form.is_valid(), form.errors
    changes = form.changes()
    assert changes["resolved_at"] == dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert "started_at" not in changes
    assert "detected_at" not in changes
    assert changes["title"] == incident.title


def test_deploy_search_finds_by_id_or_by_service_and_version():
    from deploys.factories import DeployFactory

    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    wanted = DeployFactory(service=web, version="v1.2.3")
    DeployFactory(service=api, version="v1.2.3")
    DeployFactory(service=web, version="v2.0.0")

    assert DeploySearchForm({"deploy": str(wanted.pk)}).results() == [wanted]
    assert DeploySearchForm({"service": "web", "version": "1.2"}).results() == [wanted]
    assert DeploySearchForm({}).results() == []
    assert DeploySearchForm({"deploy": "abc"}).results() == []
