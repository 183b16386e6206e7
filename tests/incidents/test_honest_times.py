"""#15.2, #15.5 and #15.13: times nobody typed are asked for, not invented; the web timeline shows
what each edit changed; the action bar's stamps take a time, a resolved incident reopens, Archive
sits apart behind a confirmation."""

import datetime as dt
import html as html_lib
import re

import pytest
from django.utils import timezone

from incidents import services
from incidents.factories import IncidentFactory
from incidents.models import Incident, TimelineEntry
from tests.support.incidents import incident_edit_data

pytestmark = pytest.mark.django_db

UTC = dt.UTC
ASK = "You gave a later stage; when was it detected?"


def _form(**overrides):
    data = {
        "title": "Checkout returns 502",
        "severity": "2",
        "summary": "",
        "started_at": "2024-07-01T10:00",
        "detected_by": "monitoring",
        "detection_source": "",
    }
    data.update(overrides)
    return data


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


# --- #15.2 ------------------------------------------------------------------------------------


def test_filing_after_the_fact_asks_for_the_detection_time_instead_of_inventing_it(logged_in):
    """#15.2: started 10:00, resolved 11:00, detected blank → asked for, nothing filed."""
    response = logged_in.post("/incidents/new/", _form(resolved_at="2024-07-01T11:00", detected_at=""))

    assert response.status_code == 200
    assert not Incident.objects.exists()
    assert ASK in _field_errors(response.content.decode(), "detected_at")


def test_errors_go_only_on_fields_the_person_filled(logged_in):
    """#15.2: resolved before started, detected blank: the resolved field carries the order error;
    the blank detected field only asks for its time, it doesn't claim a value nobody typed is wrong."""
    response = logged_in.post(
        "/incidents/new/", _form(started_at="2024-07-01T10:00", resolved_at="2024-07-01T09:00", detected_at="")
    )

    html = response.content.decode()
    assert not Incident.objects.exists()
    assert "before the started time" in _field_errors(html, "resolved_at")
    assert _field_errors(html, "detected_at").strip() == ASK


def test_a_live_incident_still_takes_now_as_its_detection_time(logged_in):
    """#15.2: no later stage given: blank detected still means now."""
    before = timezone.now()

    logged_in.post("/incidents/new/", _form(started_at=timezone.localtime().strftime("%Y-%m-%dT%H:%M")))

    assert before <= Incident.objects.get().detected_at <= timezone.now()


def test_filing_after_the_fact_with_every_time_keeps_them(logged_in):
    logged_in.post("/incidents/new/", _form(detected_at="2024-07-01T10:05", resolved_at="2024-07-01T11:00"))

    incident = Incident.objects.get()
    assert incident.time_to_detect_seconds == 300
    assert incident.time_to_repair_seconds == 55 * 60


def test_the_api_asks_for_detected_at_when_resolved_at_is_given(api):
    """#15.2: the API doesn't invent it either: a 400 naming detected_at."""
    response = api.post(
        "/api/incidents/",
        {"title": "Late entry", "started_at": "2024-07-01T10:00:00Z", "resolved_at": "2024-07-01T11:00:00Z"},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert response.json()["detected_at"] == [ASK]
    assert not Incident.objects.exists()


# --- #15.5 ------------------------------------------------------------------------------------


def test_the_web_timeline_shows_old_and_new_values_of_every_edit(logged_in):
    """#15.5: commander and participants edits show what changed, as severity changes do."""
    incident = IncidentFactory(commander="alice", participants=["bob"])
    logged_in.post(
        f"/incidents/{incident.pk}/edit/", incident_edit_data(incident, commander="dana", participants="bob, carol")
    )

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    timeline = html[html.index('id="timeline"') :]
    text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", timeline)).split())
    assert "Incident lead: alice → dana" in text
    assert "Participants: bob → bob, carol" in text


# --- #15.13 -----------------------------------------------------------------------------------


def test_the_action_bar_says_verbs(logged_in):
    """#15.13: every button is something to do, not a state."""
    incident = IncidentFactory()

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    buttons = [" ".join(b.split()) for b in re.findall(r'class="stamp [a-z]+">(.*?)</button>', html, re.S)]
    assert buttons == ["Acknowledge", "Mark mitigated", "Mark resolved"]
    assert 'type="datetime-local" name="at"' in html


def test_a_stamp_takes_an_earlier_time_typed_in_the_reporting_zone(logged_in, settings):
    """#15.13: "Resolved at …" records the time given, not now."""
    settings.TIME_ZONE = "Europe/Berlin"
    incident = IncidentFactory(started_at=timezone.now() - dt.timedelta(hours=3))
    incident.refresh_from_db()
    at = (incident.detected_at + dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    local = timezone.localtime(at, timezone.get_current_timezone()).strftime("%Y-%m-%dT%H:%M")

    response = logged_in.post(f"/incidents/{incident.pk}/stamp/resolved/", {"at": local})

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.resolved_at == at


@pytest.mark.parametrize(
    ("at", "message"),
    [("2999-01-01T10:00", "can't be in the future"), ("2000-01-01T10:00", "can't be before the started time")],
)
def test_an_implausible_stamp_time_is_refused_with_a_message(logged_in, at, message):
    incident = IncidentFactory()

    response = logged_in.post(f"/incidents/{incident.pk}/stamp/resolved/", {"at": at}, follow=True)

    incident.refresh_from_db()
    assert incident.resolved_at is None
    assert message in html_lib.unescape(response.content.decode())


def test_a_resolved_incident_can_be_reopened_and_the_timeline_says_so(logged_in, user):
    """#15.13: Reopen clears the resolution and writes a timeline entry."""
    incident = IncidentFactory()
    services.incident_stamp(incident=incident, stage="resolved")
    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert ">Reopen</button>" in html

    response = logged_in.post(f"/incidents/{incident.pk}/reopen/")

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.resolved_at is None
    entry = incident.timeline.order_by("-id").first()
    assert entry.kind == TimelineEntry.Kind.STATUS
    assert entry.text.startswith("Reopened")
    assert entry.author == user
    assert entry.changes["resolved_at"]["new"] is None


def test_the_api_reopens_a_resolved_incident(api):
    incident = IncidentFactory()
    services.incident_stamp(incident=incident, stage="resolved")

    response = api.post(f"/api/incidents/{incident.pk}/reopen/", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["resolved_at"] is None


def test_archive_sits_apart_behind_a_confirmation(client, admin_user):
    """#15.13: Archive isn't an everyday button: it is in its own disclosure, after the actions."""
    client.force_login(admin_user)
    incident = IncidentFactory()

    html = client.get(f"/incidents/{incident.pk}/").content.decode()

    actions = html[html.index('<div class="actions">') : html.index("</div>", html.index('<div class="actions">'))]
    assert "archive" not in actions.lower()
    assert re.search(r'<details class="archive-confirm">\s*<summary>Archive…</summary>', html)


@pytest.mark.parametrize("at", ["yesterday", "9" * 100_000, "2024-13-45T99:99", "\x00", "0001-01-01T00:00"])
def test_a_malformed_stamp_time_is_a_message_not_a_500(logged_in, at):
    incident = IncidentFactory()

    response = logged_in.post(f"/incidents/{incident.pk}/stamp/resolved/", {"at": at})

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.resolved_at is None
