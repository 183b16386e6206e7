"""Incident roles on the web pages (#16.3): shown at the top, handed over from there or the edit
form, handovers in the timeline, the list filtered by lead."""

import html as html_lib
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from incidents.factories import IncidentFactory
from incidents.models import TimelineEntry
from tests.support.incidents import incident_edit_data

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _roles_bar(html: str) -> str:
    return re.search(r'<ul class="roles".*?</ul>', html, re.S).group(0)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_top_of_the_page_shows_each_holder_with_a_change_form(logged_in):
    incident = IncidentFactory(commander="ana", comms_lead="Bob Lee", scribe="")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    bar = _roles_bar(html)
    # Before the facts and the timeline: at the top, beside severity and status.
    assert html.index('class="roles"') < html.index('class="facts"')
    text = _text(bar)
    assert "Incident lead (commander) ana" in text
    assert "Communications lead Bob Lee" in text
    assert "Scribe nobody" in text
    assert bar.count(f'action="/incidents/{incident.pk}/roles/"') == 3
    assert bar.count("csrfmiddlewaretoken") == 3
    assert 'name="name" id="role-lead" value="ana"' in bar


def test_a_viewer_sees_the_holders_but_no_change_form(client, viewer):
    incident = IncidentFactory(commander="ana")
    client.force_login(viewer)

    html = client.get(f"/incidents/{incident.pk}/").content.decode()

    assert "ana" in _text(_roles_bar(html))
    assert "/roles/" not in html


def test_assigning_from_the_page_hands_the_role_over_and_the_timeline_shows_old_and_new(logged_in, user):
    incident = IncidentFactory(commander="ana")

    response = logged_in.post(f"/incidents/{incident.pk}/roles/", {"role": "lead", "name": " bob "})

    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    incident.refresh_from_db()
    assert incident.commander == "bob"
    entry = TimelineEntry.objects.get(incident=incident, kind=TimelineEntry.Kind.HANDOVER)
    assert (entry.text, entry.author) == ("Incident lead handed over from ana to bob.", user)
    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    timeline = _text(re.search(r'<section id="timeline".*?</section>', html, re.S).group(0))
    assert "Role handover Incident lead: ana → bob ekastner" in timeline
    assert "Incident lead (commander) bob" in _text(_roles_bar(html))


def test_an_empty_name_from_the_page_clears_the_role(logged_in):
    incident = IncidentFactory(scribe="carol")

    logged_in.post(f"/incidents/{incident.pk}/roles/", {"role": "scribe", "name": ""})

    incident.refresh_from_db()
    assert incident.scribe == ""
    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Scribe: carol → —" in _text(html)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"role": "lead", "name": "x" * 201}, "Incident lead not changed: Keep a name under 200 characters (201 now)."),
        ({"role": "lead", "name": "bob\nalice"}, "Incident lead not changed: Use a single line of text"),
        ({"role": "boss", "name": "bob"}, "Role not changed: There is no such role."),
        ({"name": "bob"}, "Role not changed: This field is required."),
    ],
)
def test_bad_input_says_why_and_changes_nothing(logged_in, data, words):
    incident = IncidentFactory(commander="ana")

    response = logged_in.post(f"/incidents/{incident.pk}/roles/", data, follow=True)

    assert response.status_code == 200
    assert any(message.startswith(words) for message in _messages(response)), _messages(response)
    incident.refresh_from_db()
    assert incident.commander == "ana"
    assert not incident.timeline.exists()


def test_a_viewer_is_refused(client, viewer):
    incident = IncidentFactory(commander="ana")
    client.force_login(viewer)

    response = client.post(f"/incidents/{incident.pk}/roles/", {"role": "lead", "name": "bob"})

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.commander == "ana"


def test_anonymous_is_sent_to_log_in(client):
    incident = IncidentFactory(commander="ana")

    response = client.post(f"/incidents/{incident.pk}/roles/", {"role": "lead", "name": "bob"})

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    incident.refresh_from_db()
    assert incident.commander == "ana"


def test_a_post_without_the_csrf_token_is_refused(user):
    incident = IncidentFactory(commander="ana")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(f"/incidents/{incident.pk}/roles/", {"role": "lead", "name": "bob"})

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.commander == "ana"


def test_get_is_not_allowed(logged_in):
    incident = IncidentFactory()

    assert logged_in.get(f"/incidents/{incident.pk}/roles/").status_code == 405


def test_an_unknown_incident_is_a_404(logged_in):
    assert logged_in.post("/incidents/999999/roles/", {"role": "lead", "name": "bob"}).status_code == 404


def test_the_forms_suggest_known_people_and_names_used_before(logged_in, django_user_model):
    django_user_model.objects.create_user(username="pr", first_name="Priya", last_name="Raman")
    django_user_model.objects.create_user(username="gone", is_active=False)
    incident = IncidentFactory(commander="Tomas Novak", scribe="the payments team")
    IncidentFactory(comms_lead="aiko")

    for url in (f"/incidents/{incident.pk}/", f"/incidents/{incident.pk}/edit/", "/incidents/new/"):
        html = logged_in.get(url).content.decode()
        datalist = re.search(r'<datalist id="known-people">(.*?)</datalist>', html, re.S).group(1)
        offered = re.findall(r'<option value="([^"]*)">', datalist)
        assert offered == ["aiko", "ekastner", "pr", "Priya Raman", "the payments team", "Tomas Novak"], url
        assert 'list="known-people"' in html


def test_the_edit_form_changes_roles_as_handovers(logged_in, user):
    incident = IncidentFactory(commander="ana", comms_lead="", scribe="carol")

    response = logged_in.post(
        f"/incidents/{incident.pk}/edit/", incident_edit_data(incident, commander="bob", comms_lead="dana", scribe="")
    )

    assert response.status_code == 302, response.context["form"].errors
    incident.refresh_from_db()
    assert incident.roles == {"lead": "bob", "comms": "dana", "scribe": ""}
    texts = set(incident.timeline.filter(kind="handover").values_list("text", flat=True))
    assert texts == {
        "Incident lead handed over from ana to bob.",
        "Communications lead taken by dana.",
        "Scribe left (was carol).",
    }
    assert not incident.timeline.filter(kind="edit").exists()


def test_the_edit_form_refuses_a_multi_line_role_name(logged_in):
    incident = IncidentFactory(commander="ana")

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", incident_edit_data(incident, scribe="a\nb"))

    assert response.status_code == 200
    assert "single line" in " ".join(response.context["form"].errors["scribe"])
    incident.refresh_from_db()
    assert incident.scribe == ""


def test_filing_from_the_form_takes_the_three_roles(logged_in):
    response = logged_in.post(
        "/incidents/new/",
        {
            "title": "Checkout returns 502",
            "severity": "2",
            "started_at": "2024-07-01T10:00",
            "detected_by": "monitoring",
            "commander": "ana",
            "comms_lead": "bob",
            "scribe": "carol",
        },
    )

    assert response.status_code == 302
    from incidents.models import Incident

    assert Incident.objects.get().roles == {"lead": "ana", "comms": "bob", "scribe": "carol"}


def test_the_list_filters_by_lead_in_any_case_with_the_other_filters(logged_in):
    ana = IncidentFactory(title="Ana's open one", commander="Ana")
    IncidentFactory(
        title="Ana's resolved one", commander="ana", acknowledged_at=ana.detected_at, resolved_at=ana.detected_at
    )
    IncidentFactory(title="Bob's", commander="bob", scribe="ana")

    response = logged_in.get("/incidents/", {"lead": "ANA", "resolved": "false"})

    assert [incident.pk for incident in response.context["page"]] == [ana.pk]
    html = response.content.decode()
    assert 'name="lead" value="ANA"' in html
    assert "1 incident " in _text(html)


def test_a_too_long_lead_filter_is_a_clear_error_not_a_500(logged_in):
    IncidentFactory(commander="ana")

    response = logged_in.get("/incidents/", {"lead": "x" * 201})

    assert response.status_code == 200
    assert list(response.context["page"]) == []
    assert "lead" in response.context["filter"].errors


def test_the_list_query_count_does_not_grow_with_leads(logged_in):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get("/incidents/", {"lead": "ana"}).status_code == 200
        return len(ctx.captured_queries)

    for n in range(2):
        IncidentFactory(commander="ana", comms_lead=f"c{n}", scribe=f"s{n}")
    few = queries()
    for n in range(40):
        IncidentFactory(commander="ana" if n % 2 else f"lead {n}", comms_lead=f"c{n}", scribe=f"s{n}")

    assert queries() == few


def test_the_page_query_count_does_not_grow_with_people(logged_in, django_user_model):
    incident = IncidentFactory(commander="ana")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(f"/incidents/{incident.pk}/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for n in range(30):
        django_user_model.objects.create_user(username=f"user{n}", first_name="U", last_name=str(n))
        IncidentFactory(commander=f"lead {n}", comms_lead=f"c{n}", scribe=f"s{n}")

    assert queries() == few
