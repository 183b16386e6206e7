import datetime as dt
import html as html_lib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from postmortems import services as postmortem_services
from tests.support.incidents import edit_data_from_page, incident_edit_data
from tests.support.xss import XSS, assert_no_live_script

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _form(**overrides):
    data = {
        "title": "Checkout returns 502",
        "severity": "2",
        "summary": "Customers **can't** pay.",
        "started_at": "2024-07-01T10:00",
        "detected_by": "monitoring",
        "detection_source": "HighErrorRate",
    }
    data.update(overrides)
    return data


def _field_errors(html: str, field: str) -> str:
    """The text of the error list rendered next to `field` ('' when there is none)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/incidents/", "/incidents/new/", "/incidents/{pk}/", "/incidents/{pk}/edit/"])
def test_every_incident_page_requires_login(client, url):
    incident = IncidentFactory()

    response = client.get(url.format(pk=incident.pk))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "url", ["/incidents/{pk}/stamp/resolved/", "/incidents/{pk}/notes/", "/incidents/{pk}/deploys/link/"]
)
def test_anonymous_posts_change_nothing(client, url):
    incident = IncidentFactory()
    deploy = DeployFactory()

    response = client.post(url.format(pk=incident.pk), {"text": "hi", "deploy": deploy.pk, "relation": "cause"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    incident.refresh_from_db()
    assert incident.resolved_at is None
    assert not incident.timeline.exists()
    assert not incident.deploy_links.exists()


# --- Filing ---------------------------------------------------------------------------------


def test_the_form_asks_for_the_urgent_fields_first(logged_in):
    ServiceFactory(slug="checkout")

    html = logged_in.get("/incidents/new/").content.decode()

    urgent = ("title", "severity", "services", "summary", "started_at", "detected_by")
    order = [html.index(f'name="{name}"') for name in urgent]
    assert order == sorted(order)
    assert html.index('name="detected_by"') < html.index('name="commander"')
    for description in Incident.SEVERITY_DESCRIPTIONS.values():
        assert html_lib.escape(description) in html
    assert 'type="checkbox" name="services" value="checkout"' in html
    assert 'type="datetime-local" name="started_at"' in html


def test_filing_creates_the_incident_and_a_timeline_entry_then_shows_it(logged_in, user):
    web = ServiceFactory(slug="web")

    response = logged_in.post("/incidents/new/", _form(services=["web"], commander="dana", participants="alice, bob"))

    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.title == "Checkout returns 502"
    assert incident.severity == 2
    assert list(incident.services.all()) == [web]
    assert incident.started_at == dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert incident.detection_source == "HighErrorRate"
    assert incident.commander == "dana"
    assert incident.participants == ["alice", "bob"]
    assert incident.created_by == user
    entry = incident.timeline.get()
    assert entry.kind == TimelineEntry.Kind.STATUS
    assert entry.text.startswith("Incident filed")
    assert entry.author == user


def test_a_blank_detection_time_means_now(logged_in):
    before = timezone.now()

    logged_in.post("/incidents/new/", _form(detected_at=""))

    assert before <= Incident.objects.get().detected_at <= timezone.now()


def test_form_times_are_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    logged_in.post("/incidents/new/", _form(started_at="2024-07-01T10:00"))

    assert Incident.objects.get().started_at == dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC)


def test_a_missing_title_is_an_error_next_to_it(logged_in):
    response = logged_in.post("/incidents/new/", _form(title=""))

    assert response.status_code == 200
    assert "required" in _field_errors(response.content.decode(), "title")
    assert not Incident.objects.exists()


ORDER_VIOLATIONS = [
    # (field with the error, form values)
    ("detected_at", {"started_at": "2024-07-01T10:00", "detected_at": "2024-07-01T09:59"}),
    ("acknowledged_at", {"detected_at": "2024-07-01T10:05", "acknowledged_at": "2024-07-01T10:04"}),
    ("mitigated_at", {"acknowledged_at": "2024-07-01T10:10", "mitigated_at": "2024-07-01T10:09"}),
    ("resolved_at", {"mitigated_at": "2024-07-01T10:20", "resolved_at": "2024-07-01T10:19"}),
    ("resolved_at", {"resolved_at": "2024-07-01T09:00"}),
]


@pytest.mark.parametrize("field, values", ORDER_VIOLATIONS)
def test_filing_out_of_order_times_shows_the_error_next_to_the_field_and_saves_nothing(logged_in, field, values):
    response = logged_in.post("/incidents/new/", _form(**values))

    assert response.status_code == 200
    assert "can't be before" in _field_errors(response.content.decode(), field)
    assert not Incident.objects.exists()
    assert not TimelineEntry.objects.exists()


def test_filing_a_start_in_the_future_is_an_error_next_to_it(logged_in):
    future = timezone.localtime() + dt.timedelta(hours=2)

    response = logged_in.post("/incidents/new/", _form(started_at=future.strftime("%Y-%m-%dT%H:%M")))

    assert "can't be in the future" in _field_errors(response.content.decode(), "started_at")
    assert not Incident.objects.exists()


# --- The incident's page --------------------------------------------------------------------


def test_the_page_shows_the_incident_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    incident = IncidentFactory(
        title="Search is slow",
        severity=Incident.Severity.SEV1,
        services=[ServiceFactory(slug="search"), ServiceFactory(slug="web")],
        started_at=dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        detected_at=dt.datetime(2024, 7, 1, 8, 5, tzinfo=UTC),
        acknowledged_at=dt.datetime(2024, 7, 1, 8, 6, tzinfo=UTC),
        resolved_at=dt.datetime(2024, 7, 1, 10, 35, tzinfo=UTC),
        detection_source="p99 latency",
        commander="dana",
        participants=["alice", "bob"],
    )

    response = logged_in.get(f"/incidents/{incident.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "Search is slow" in html
    assert "SEV1 · critical" in html
    assert '<span class="incident-status resolved">Resolved</span>' in html
    assert "search, web" in html
    assert "2024-07-01 10:00:00 CEST" in html  # started, in Berlin
    assert "2024-07-01 12:35:00 CEST" in html  # resolved
    assert "5 min" in html  # time to detect
    assert "2 h 30 min" in html  # time to repair: detected → resolved
    assert "2 h 35 min" in html  # time to restore: started → resolved
    assert "p99 latency" in html and "dana" in html and "alice, bob" in html
    assert f'href="/incidents/{incident.pk}/edit/"' in html


def test_the_buttons_show_only_the_stages_not_yet_stamped(logged_in):
    incident = IncidentFactory(acknowledged_at=timezone.now())

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert f'action="/incidents/{incident.pk}/stamp/acknowledged/"' not in html
    assert f'action="/incidents/{incident.pk}/stamp/mitigated/"' in html
    assert f'action="/incidents/{incident.pk}/stamp/resolved/"' in html
    assert "ongoing" in html


def test_once_resolved_no_earlier_stage_can_be_stamped_from_a_button(logged_in):
    # Acknowledging now would come after the resolution: out of order.
    incident = IncidentFactory(resolved_at=timezone.now())

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "/stamp/" not in html
    assert f'href="/incidents/{incident.pk}/edit/"' in html


def test_the_summary_is_rendered_as_markdown(logged_in):
    incident = IncidentFactory(summary="Checkout **fails** for `EU` users.\n\n- one\n- two")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "<strong>fails</strong>" in html
    assert "<code>EU</code>" in html
    assert "<li>one</li>" in html


def test_the_summary_never_brings_a_script_to_the_page(logged_in):
    incident = IncidentFactory(
        summary=(
            "<script>alert('x')</script>\n\n"
            '<img src="x" onerror="alert(1)">\n\n'
            "[click me](javascript:alert(1))\n\n"
            '<a href="javascript:alert(2)">or me</a>'
        )
    )

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    summary = html[html.index('<div class="markdown">') :]

    assert "<script" not in summary
    assert "onerror" not in summary
    assert "javascript:" not in summary
    assert "click me" in summary


def test_the_timeline_is_in_order_with_a_date_heading_when_the_day_changes(logged_in, user):
    incident = IncidentFactory(
        started_at=dt.datetime(2024, 7, 1, 22, 0, tzinfo=UTC), detected_at=dt.datetime(2024, 7, 1, 22, 5, tzinfo=UTC)
    )
    TimelineEntryFactory(
        incident=incident, at=dt.datetime(2024, 7, 2, 1, 0, tzinfo=UTC), text="Still broken", author=user
    )
    TimelineEntryFactory(incident=incident, at=dt.datetime(2024, 7, 1, 22, 10, tzinfo=UTC), text="Paged the DBA")
    TimelineEntryFactory(incident=incident, at=dt.datetime(2024, 7, 2, 3, 0, tzinfo=UTC), text="Fixed the index")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert html.index("Mon 1 Jul 2024") < html.index("Paged the DBA") < html.index("Tue 2 Jul 2024")
    assert html.index("Tue 2 Jul 2024") < html.index("Still broken") < html.index("Fixed the index")
    assert html.count('<h3 class="day">') == 2
    assert "ekastner" in html


def test_timeline_days_are_days_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    incident = IncidentFactory(started_at=dt.datetime(2024, 7, 1, 20, 0, tzinfo=UTC))
    TimelineEntryFactory(incident=incident, at=dt.datetime(2024, 7, 1, 21, 0, tzinfo=UTC))
    TimelineEntryFactory(incident=incident, at=dt.datetime(2024, 7, 1, 23, 0, tzinfo=UTC))

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    # 21:00 UTC is 23:00 in Berlin on the 1st; 23:00 UTC is already the 2nd there.
    assert "Mon 1 Jul 2024" in html and "Tue 2 Jul 2024" in html
    assert ">23:00:00<" in html and ">01:00:00<" in html


def test_a_missing_incident_is_404(logged_in):
    assert logged_in.get("/incidents/424242/").status_code == 404
    assert logged_in.get("/incidents/424242/edit/").status_code == 404
    assert logged_in.post("/incidents/424242/stamp/resolved/").status_code == 404


# --- Stamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["acknowledged", "mitigated", "resolved"])
def test_a_stamp_records_the_time_and_a_timeline_entry(logged_in, user, stage):
    incident = IncidentFactory()
    before = timezone.now()

    response = logged_in.post(f"/incidents/{incident.pk}/stamp/{stage}/")

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    incident.refresh_from_db()
    assert before <= getattr(incident, f"{stage}_at") <= timezone.now()
    assert incident.status == stage
    entry = incident.timeline.get()
    assert entry.kind == TimelineEntry.Kind.STATUS
    assert entry.author == user


def test_a_stamp_needs_a_post(logged_in):
    incident = IncidentFactory()

    response = logged_in.get(f"/incidents/{incident.pk}/stamp/resolved/")

    assert response.status_code == 405
    incident.refresh_from_db()
    assert incident.resolved_at is None


def test_stamping_twice_keeps_the_first_time(logged_in):
    incident = IncidentFactory()
    logged_in.post(f"/incidents/{incident.pk}/stamp/resolved/")
    incident.refresh_from_db()
    first = incident.resolved_at

    logged_in.post(f"/incidents/{incident.pk}/stamp/resolved/")

    incident.refresh_from_db()
    assert incident.resolved_at == first
    assert incident.timeline.count() == 1


def test_an_unknown_stage_is_404(logged_in):
    incident = IncidentFactory()

    assert logged_in.post(f"/incidents/{incident.pk}/stamp/exploded/").status_code == 404


def test_a_stamp_that_would_be_out_of_order_is_a_message_not_a_500(logged_in):
    # Detected "in the future" within the allowed clock skew: acknowledging now would come before it.
    soon = timezone.now() + dt.timedelta(seconds=40)
    incident = IncidentFactory(started_at=soon, detected_at=soon)

    response = logged_in.post(f"/incidents/{incident.pk}/stamp/acknowledged/", follow=True)

    assert response.status_code == 200
    assert "can&#x27;t be before" in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


# --- Editing --------------------------------------------------------------------------------


def test_the_edit_form_is_prefilled_including_the_lifecycle_times(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    incident = IncidentFactory(
        title="Queue backlog",
        started_at=dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        detected_at=dt.datetime(2024, 7, 1, 8, 5, tzinfo=UTC),
        mitigated_at=dt.datetime(2024, 7, 1, 9, 0, tzinfo=UTC),
        services=[ServiceFactory(slug="worker")],
    )

    html = logged_in.get(f"/incidents/{incident.pk}/edit/").content.decode()

    assert 'value="Queue backlog"' in html
    assert 'name="started_at" value="2024-07-01T10:00:00"' in html
    assert 'name="detected_at" value="2024-07-01T10:05:00"' in html
    assert 'name="mitigated_at" value="2024-07-01T11:00:00"' in html
    assert 'value="worker" id="id_services_0" checked' in html


def test_an_edit_records_old_and_new_values_in_the_timeline(logged_in, user):
    web = ServiceFactory(slug="web")
    ServiceFactory(slug="api")
    incident = IncidentFactory(
        started_at=dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        detected_at=dt.datetime(2024, 7, 1, 8, 5, 30, 250000, tzinfo=UTC),
        services=[web],
    )

    response = logged_in.post(
        f"/incidents/{incident.pk}/edit/",
        incident_edit_data(incident, severity="1", services=["web", "api"], resolved_at="2024-07-01T11:00:00"),
    )

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    incident.refresh_from_db()
    assert incident.severity == 1
    assert incident.resolved_at == dt.datetime(2024, 7, 1, 11, 0, tzinfo=UTC)
    assert incident.detected_at == dt.datetime(2024, 7, 1, 8, 5, 30, 250000, tzinfo=UTC)  # untouched
    assert set(incident.services.values_list("slug", flat=True)) == {"web", "api"}
    changes = {name: change for entry in incident.timeline.all() for name, change in entry.changes.items()}
    assert set(changes) == {"severity", "services", "resolved_at"}
    assert changes["severity"] == {"old": 3, "new": 1}
    assert changes["services"] == {"old": ["web"], "new": ["api", "web"]}
    assert changes["resolved_at"] == {"old": None, "new": "2024-07-01T11:00:00Z"}
    assert all(entry.author == user for entry in incident.timeline.all())
    texts = " ".join(incident.timeline.values_list("text", flat=True))
    assert "SEV3" in texts and "SEV1" in texts


def test_an_edit_that_changes_nothing_records_nothing(logged_in):
    incident = IncidentFactory(
        started_at=dt.datetime(2024, 7, 1, 8, 0, 0, 999999, tzinfo=UTC),
        summary="Line one\nline two",
        participants=["alice"],
        services=[ServiceFactory(slug="web")],
    )

    data = incident_edit_data(incident, summary="Line one\r\nline two")
    response = logged_in.post(f"/incidents/{incident.pk}/edit/", data)

    assert response.status_code == 302
    assert not incident.timeline.exists()


EDIT_VIOLATIONS = [
    ("detected_at", {"detected_at": "2024-07-01T07:59:00"}),
    ("acknowledged_at", {"acknowledged_at": "2024-07-01T08:04:00"}),
    ("mitigated_at", {"acknowledged_at": "2024-07-01T08:10:00", "mitigated_at": "2024-07-01T08:09:00"}),
    ("resolved_at", {"mitigated_at": "2024-07-01T08:20:00", "resolved_at": "2024-07-01T08:19:00"}),
    ("resolved_at", {"resolved_at": "2024-07-01T07:00:00"}),
]


@pytest.mark.parametrize("field, values", EDIT_VIOLATIONS)
def test_an_out_of_order_edit_shows_the_error_next_to_the_field_and_saves_nothing(logged_in, field, values):
    incident = IncidentFactory(
        started_at=dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC), detected_at=dt.datetime(2024, 7, 1, 8, 5, tzinfo=UTC)
    )

    response = logged_in.post(
        f"/incidents/{incident.pk}/edit/", incident_edit_data(incident, title="Renamed", **values)
    )

    assert response.status_code == 200
    assert "can't be before" in _field_errors(response.content.decode(), field)
    incident.refresh_from_db()
    assert incident.title != "Renamed"
    assert incident.acknowledged_at is None and incident.resolved_at is None
    assert not incident.timeline.exists()


# --- Notes ----------------------------------------------------------------------------------


def test_a_note_is_added_to_the_timeline(logged_in, user):
    incident = IncidentFactory()

    response = logged_in.post(f"/incidents/{incident.pk}/notes/", {"text": "  Rolled back web to 41.  "})

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/#timeline"
    entry = incident.timeline.get()
    assert (entry.kind, entry.text, entry.author) == (TimelineEntry.Kind.NOTE, "Rolled back web to 41.", user)
    assert "Rolled back web to 41." in logged_in.get(f"/incidents/{incident.pk}/").content.decode()


def test_an_empty_note_is_an_error_and_adds_nothing(logged_in):
    incident = IncidentFactory()

    response = logged_in.post(f"/incidents/{incident.pk}/notes/", {"text": "   "}, follow=True)

    assert "A note needs some text." in response.content.decode()
    assert not incident.timeline.exists()


def test_a_note_needs_a_post(logged_in):
    incident = IncidentFactory()

    assert logged_in.get(f"/incidents/{incident.pk}/notes/").status_code == 405


# --- Deploys --------------------------------------------------------------------------------


def _incident_with_suspects():
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    started = dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    incident = IncidentFactory(started_at=started, detected_at=started + dt.timedelta(minutes=10), services=[web])
    suspects = {
        "older": DeployFactory(
            service=web, environment=production, version="w1", deployed_at=started - dt.timedelta(hours=3)
        ),
        "newer": DeployFactory(
            service=web,
            environment=production,
            version="w2",
            previous_version="w1",
            deployed_at=started - dt.timedelta(minutes=30),
        ),
    }
    others = [
        DeployFactory(service=web, environment=staging, version="s1", deployed_at=started - dt.timedelta(minutes=20)),
        DeployFactory(
            service=api, environment=production, version="a1", deployed_at=started - dt.timedelta(minutes=20)
        ),
        DeployFactory(service=web, environment=production, version="w0", deployed_at=started - dt.timedelta(hours=5)),
    ]
    return incident, suspects, others


def test_the_page_lists_suspect_deploys_newest_first_with_link_buttons(logged_in):
    incident, suspects, others = _incident_with_suspects()

    response = logged_in.get(f"/incidents/{incident.pk}/")
    html = response.content.decode()

    assert [d.pk for d in response.context["suspects"]] == [suspects["newer"].pk, suspects["older"].pk]
    section = html[html.index('id="suspects"') : html.index("Find another deploy")]
    assert "w1 → w2" in section
    assert 'href="https://git.example.com/acme/web/compare/w1...w2"' in section
    assert section.count(">Link as cause</button>") == 2
    assert section.count(">Mark as remediating</button>") == 2
    for other in others:
        assert f'data-deploy="{other.pk}"' not in section


def test_linking_a_deploy_as_the_cause_records_it(logged_in, user):
    incident, suspects, _ = _incident_with_suspects()
    deploy = suspects["newer"]

    response = logged_in.post(f"/incidents/{incident.pk}/deploys/link/", {"deploy": deploy.pk, "relation": "cause"})

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/#deploys"
    link = incident.deploy_links.get()
    assert (link.deploy, link.relation, link.created_by) == (deploy, IncidentDeploy.Relation.CAUSE, user)
    entry = incident.timeline.get()
    assert entry.kind == TimelineEntry.Kind.DEPLOY_LINKED
    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    causes = html[html.index("Caused by") : html.index("Remediated by")]
    assert "w1 → w2" in causes
    assert ">Unlink</button>" in causes
    assert "Linked as cause" in html  # instead of the suspect's button


def test_a_deploy_can_be_marked_as_remediating(logged_in):
    incident, suspects, _ = _incident_with_suspects()

    logged_in.post(
        f"/incidents/{incident.pk}/deploys/link/", {"deploy": suspects["older"].pk, "relation": "remediation"}
    )

    assert incident.deploy_links.get().relation == IncidentDeploy.Relation.REMEDIATION
    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    remediations = html[html.index("Remediated by") : html.index("Suspect deploys")]
    assert "→ w1" in remediations


def test_unlinking_removes_the_link_and_records_it(logged_in, user):
    incident = IncidentFactory()
    link = IncidentDeployFactory(incident=incident)

    response = logged_in.post(
        f"/incidents/{incident.pk}/deploys/unlink/", {"deploy": link.deploy.pk, "relation": "cause"}
    )

    assert response.status_code == 302
    assert not incident.deploy_links.exists()
    entry = incident.timeline.get()
    assert (entry.kind, entry.author) == (TimelineEntry.Kind.DEPLOY_UNLINKED, user)


def test_linking_an_unknown_deploy_is_an_error_and_links_nothing(logged_in):
    incident = IncidentFactory()

    response = logged_in.post(
        f"/incidents/{incident.pk}/deploys/link/", {"deploy": 424242, "relation": "cause"}, follow=True
    )

    assert "No deploy has that id." in response.content.decode()
    assert not incident.deploy_links.exists()
    assert not incident.timeline.exists()


def test_link_and_unlink_need_a_post(logged_in):
    incident = IncidentFactory()

    assert logged_in.get(f"/incidents/{incident.pk}/deploys/link/").status_code == 405
    assert logged_in.get(f"/incidents/{incident.pk}/deploys/unlink/").status_code == 405


def test_any_deploy_can_be_found_by_id_or_by_service_and_version(logged_in):
    incident = IncidentFactory()
    far_away = DeployFactory(
        service=ServiceFactory(slug="billing"), version="b-77", deployed_at=dt.datetime(2023, 1, 1, tzinfo=UTC)
    )
    DeployFactory(service=ServiceFactory(slug="billing"), version="b-78")

    by_id = logged_in.get(f"/incidents/{incident.pk}/?deploy={far_away.pk}")
    by_version = logged_in.get(f"/incidents/{incident.pk}/?service=billing&version=77")

    assert by_id.context["found"] == [far_away]
    assert by_version.context["found"] == [far_away]
    html = by_version.content.decode()
    found = html[html.index('id="found"') :]
    assert ">Link as cause</button>" in found and ">Mark as remediating</button>" in found


def test_a_search_that_finds_nothing_says_so(logged_in):
    incident = IncidentFactory()

    html = logged_in.get(f"/incidents/{incident.pk}/?version=nothing-like-this").content.decode()

    assert "No deploy matches." in html


def test_the_deploy_page_lists_the_incidents_it_caused_and_fixed(logged_in):
    deploy = DeployFactory()
    caused = IncidentFactory(title="Checkout down")
    fixed = IncidentFactory(title="Search slow")
    IncidentDeployFactory(incident=caused, deploy=deploy, relation=IncidentDeploy.Relation.CAUSE)
    IncidentDeployFactory(incident=fixed, deploy=deploy, relation=IncidentDeploy.Relation.REMEDIATION)

    html = logged_in.get(f"/deploys/{deploy.pk}/").content.decode()

    section = html[html.index('id="incidents-heading"') :]
    caused_part, fixed_part = section.split("<h3>Remediated</h3>")
    assert f'href="/incidents/{caused.pk}/"' in caused_part and "Checkout down" in caused_part
    assert f'href="/incidents/{fixed.pk}/"' in fixed_part and "Search slow" in fixed_part
    assert "Search slow" not in caused_part


def test_a_deploy_page_without_incidents_says_so(logged_in):
    deploy = DeployFactory()

    html = logged_in.get(f"/deploys/{deploy.pk}/").content.decode()

    assert "No incident linked to this deploy as its cause." in html


def test_the_deploy_page_query_count_does_not_grow_with_linked_incidents(logged_in):
    deploy = DeployFactory()
    IncidentDeployFactory(deploy=deploy)
    few = _page_queries(logged_in, f"/deploys/{deploy.pk}/")
    for n in range(10):
        IncidentDeployFactory(deploy=deploy, relation="cause" if n % 2 else "remediation")

    assert _page_queries(logged_in, f"/deploys/{deploy.pk}/") == few


# --- The list -------------------------------------------------------------------------------


def _ids(response):
    return [incident.pk for incident in response.context["page"]]


def test_the_list_shows_each_incident_in_a_row(logged_in):
    incident = IncidentFactory(
        title="Checkout down",
        severity=Incident.Severity.SEV2,
        services=[ServiceFactory(slug="web"), ServiceFactory(slug="api")],
        started_at=dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        detected_at=dt.datetime(2024, 7, 1, 8, 5, tzinfo=UTC),
        resolved_at=dt.datetime(2024, 7, 1, 9, 30, tzinfo=UTC),
    )
    IncidentDeployFactory(incident=incident)
    IncidentFactory(title="Still burning")

    html = logged_in.get("/incidents/").content.decode()

    row = html[html.index(f'href="/incidents/{incident.pk}/"') :].split("</tr>")[0]
    assert "Checkout down" in row
    assert "SEV2 · major" in row
    assert "Resolved" in row
    assert "api, web" in row
    assert "2024-07-01 08:00" in row
    assert "1 h 30 min" in row
    assert "deploy-marker" in row
    burning = html[html.index("Still burning") :].split("</tr>")[0]
    assert "ongoing" in burning and "deploy-marker" not in burning
    assert 'href="/incidents/new/"' in html


def test_open_incidents_come_first_then_newest(logged_in):
    now = timezone.now()
    old_open = IncidentFactory(started_at=now - dt.timedelta(days=3), detected_at=now - dt.timedelta(days=3))
    new_resolved = IncidentFactory(started_at=now - dt.timedelta(hours=3), resolved_at=now - dt.timedelta(hours=1))
    new_open = IncidentFactory(started_at=now - dt.timedelta(hours=2), acknowledged_at=now - dt.timedelta(hours=1))
    old_resolved = IncidentFactory(started_at=now - dt.timedelta(days=5), resolved_at=now - dt.timedelta(days=4))

    assert _ids(logged_in.get("/incidents/")) == [new_open.pk, old_open.pk, new_resolved.pk, old_resolved.pk]


def test_the_list_filters_by_status_severity_and_service(logged_in):
    now = timezone.now()
    web = ServiceFactory(slug="web")
    wanted = IncidentFactory(severity=1, services=[web, ServiceFactory(slug="api")], acknowledged_at=now)
    IncidentFactory(severity=1, services=[web])  # open
    IncidentFactory(severity=2, services=[web], acknowledged_at=now)
    IncidentFactory(severity=1, services=[ServiceFactory(slug="search")], acknowledged_at=now)

    response = logged_in.get("/incidents/?status=acknowledged&severity=1&service=web")

    assert _ids(response) == [wanted.pk]


def test_the_list_filters_by_start_date_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 23:30 UTC on 30 June is 1 July in Berlin.
    first_of_july = IncidentFactory(started_at=dt.datetime(2024, 6, 30, 23, 30, tzinfo=UTC))
    IncidentFactory(started_at=dt.datetime(2024, 6, 30, 21, 30, tzinfo=UTC))
    IncidentFactory(started_at=dt.datetime(2024, 7, 1, 22, 30, tzinfo=UTC))

    response = logged_in.get("/incidents/?since=2024-07-01&until=2024-07-01")

    assert _ids(response) == [first_of_july.pk]
    assert 'name="since" value="2024-07-01"' in response.content.decode()


def test_the_list_filters_deploy_related_or_not(logged_in):
    related = IncidentFactory()
    IncidentDeployFactory(incident=related)
    remediated_only = IncidentFactory()
    IncidentDeployFactory(incident=remediated_only, relation=IncidentDeploy.Relation.REMEDIATION)
    unrelated = IncidentFactory()

    assert _ids(logged_in.get("/incidents/?deploy_related=true")) == [related.pk]
    assert set(_ids(logged_in.get("/incidents/?deploy_related=false"))) == {remediated_only.pk, unrelated.pk}
    html = logged_in.get("/incidents/?deploy_related=true").content.decode()
    assert '<option value="true" selected>Yes</option>' in html


def test_the_list_searches_title_and_summary(logged_in):
    by_title = IncidentFactory(title="Payment gateway timeouts", summary="")
    by_summary = IncidentFactory(title="Checkout errors", summary="The payment provider returned 503s.")
    IncidentFactory(title="Search slow", summary="Index rebuild.")

    assert set(_ids(logged_in.get("/incidents/?q=payment"))) == {by_title.pk, by_summary.pk}
    assert _ids(logged_in.get("/incidents/?q=gateway")) == [by_title.pk]


def test_the_list_is_paginated_by_50_and_pages_keep_the_filter(logged_in):
    now = timezone.now()
    for n in range(55):
        IncidentFactory(severity=2, started_at=now - dt.timedelta(hours=n + 1))

    first = logged_in.get("/incidents/?severity=2")
    second = logged_in.get("/incidents/?severity=2&page=2")

    assert len(first.context["page"]) == 50
    assert len(second.context["page"]) == 5
    html = first.content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?severity=2&amp;page=2"' in html


@pytest.mark.parametrize(
    "query, message",
    [
        ("status=exploded", "Select a valid choice"),
        ("severity=9", "Select a valid choice"),
        ("service=does-not-exist", "Select a valid choice"),
        ("since=yesterday", "Enter a date"),
        ("until=2024-13-45", "Enter a date"),
    ],
)
def test_an_invalid_filter_shows_an_error_not_a_500(logged_in, query, message):
    IncidentFactory()

    response = logged_in.get(f"/incidents/?{query}")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert list(response.context["page"]) == []


def _page_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _incident_with_services_and_links(n):
    incident = IncidentFactory(
        services=[ServiceFactory(slug=f"svc-{n}-a"), ServiceFactory(slug=f"svc-{n}-b"), ServiceFactory(slug="shared")]
    )
    IncidentDeployFactory(incident=incident)
    IncidentDeployFactory(incident=incident, relation=IncidentDeploy.Relation.REMEDIATION)
    TimelineEntryFactory(incident=incident)
    return incident


def test_list_query_count_does_not_grow_with_rows(logged_in, django_assert_max_num_queries):
    for n in range(2):
        _incident_with_services_and_links(n)
    few = _page_queries(logged_in, "/incidents/")
    few_filtered = _page_queries(logged_in, "/incidents/?service=shared&deploy_related=true&q=Checkout")
    for n in range(2, 60):
        _incident_with_services_and_links(n)

    assert _page_queries(logged_in, "/incidents/") == few
    assert _page_queries(logged_in, "/incidents/?service=shared&deploy_related=true&q=Checkout") == few_filtered
    # The tags prefetch and the factor choices are one query each.
    with django_assert_max_num_queries(11):
        logged_in.get("/incidents/?status=open&severity=3&service=shared&page=2")


def test_detail_query_count_does_not_grow_with_timeline_links_or_suspects(logged_in):
    incident, _, _ = _incident_with_suspects()
    IncidentDeployFactory(incident=incident)
    TimelineEntryFactory(incident=incident)
    few = _page_queries(logged_in, f"/incidents/{incident.pk}/")
    web = incident.services.get()
    for n in range(10):
        IncidentDeployFactory(incident=incident, relation="cause" if n % 2 else "remediation")
        TimelineEntryFactory(incident=incident, author=incident.created_by)
        DeployFactory(
            service=web,
            environment=EnvironmentFactory(slug="production"),
            deployed_at=incident.started_at - dt.timedelta(minutes=n + 1),
        )

    assert _page_queries(logged_in, f"/incidents/{incident.pk}/") == few


def test_a_stale_edit_keeps_what_others_changed_meanwhile(logged_in, user):
    from incidents.services import incident_stamp, incident_update

    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    incident = IncidentFactory(title="Checkout slow", severity=3, services=[web])
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")
    # Meanwhile, someone else resolves it and raises the severity.
    incident_stamp(incident=incident, stage="resolved", by=user)
    incident_update(incident=incident, changes={"severity": 1, "services": [web, api]}, by=user)

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, title="Checkout down"))

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Checkout down"
    assert incident.resolved_at is not None
    assert incident.severity == 1
    assert set(incident.services.values_list("slug", flat=True)) == {"web", "api"}


def test_a_stale_edit_of_a_field_someone_else_changed_is_refused(logged_in, user):
    from incidents.services import incident_update

    incident = IncidentFactory(severity=3)
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")
    incident_update(incident=incident, changes={"severity": 1}, by=user)

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, severity="2"))

    assert response.status_code == 200
    assert "Someone changed Severity after you opened this form" in response.content.decode()
    incident.refresh_from_db()
    assert incident.severity == 1
    # Saving again from the refreshed form keeps this person's value, deliberately.
    again = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(response, severity="2"))
    assert again.status_code == 302
    incident.refresh_from_db()
    assert incident.severity == 2


def test_times_in_the_hour_repeated_by_dst_can_be_filed_and_left_alone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 2025-10-26: clocks go back from 03:00 CEST to 02:00 CET, so 02:00–03:00 happens twice.
    incident = IncidentFactory(
        started_at=dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first 02:30
        detected_at=dt.datetime(2025, 10, 26, 1, 10, tzinfo=UTC),  # 02:10 CET, the second 02:10
    )
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, title="Renamed"))

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Renamed"
    assert incident.started_at == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert incident.detected_at == dt.datetime(2025, 10, 26, 1, 10, tzinfo=UTC)

    filed = logged_in.post(
        "/incidents/new/",
        {
            "title": "Night trouble",
            "severity": "3",
            "started_at": "2025-10-26T02:30",
            "detected_by": "monitoring",
            "detected_at": "2025-10-26T02:40",
        },
    )
    assert filed.status_code == 302
    new = Incident.objects.get(title="Night trouble")
    assert new.started_at == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # the first 02:30


# --- Timeline notes -------------------------------------------------------------------------------


def test_a_note_is_rendered_as_sanitized_markdown_on_the_incident_page(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text="Rolled back **web** to 41.\n\n<script>alert(1)</script>")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "Rolled back <strong>web</strong> to 41." in html
    assert "**web**" not in html
    assert "<script>alert" not in html


def test_a_note_renders_the_same_on_the_incident_page_and_in_the_postmortem_timeline(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text="Paged *the DBA*.")
    postmortem_services.postmortem_start(incident=incident)

    incident_page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    postmortem_page = logged_in.get(f"/incidents/{incident.pk}/postmortem/").content.decode()

    assert "Paged <em>the DBA</em>." in incident_page
    assert "Paged <em>the DBA</em>." in postmortem_page


def test_no_xss_vector_in_a_note_runs_on_the_incident_page(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text=XSS)

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert_no_live_script(html)


def test_entries_other_than_notes_stay_plain_text(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, kind="edit", text="Title: **old** → new")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "Title: **old** → new" in html
