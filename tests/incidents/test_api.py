import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.api.serializers import IncidentUpdateSerializer
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.filters import IncidentFilter
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from incidents.services import EDITABLE
from tests.support.times import iso

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def at(minutes=0, seconds=0, hours=0):
    return T0 + dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def payload(**overrides):
    data = {"title": "Checkout is failing", "started_at": "2024-07-01T10:00:00Z"}
    data.update(overrides)
    return data


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


@pytest.fixture
def production():
    return EnvironmentFactory(slug="production")


@pytest.fixture
def staging():
    return EnvironmentFactory(slug="staging")


# --- Create -------------------------------------------------------------------------------------


def test_post_files_an_incident_and_returns_every_field(api, web):
    ServiceFactory(slug="api")
    response = api.post(
        "/api/incidents/",
        payload(
            severity=2,
            services=["web", "api"],
            detected_at="2024-07-01T12:07:30.250+02:00",
            acknowledged_at="2024-07-01T10:10:00Z",
            mitigated_at="2024-07-01T10:40:00Z",
            resolved_at="2024-07-01T11:30:15Z",
            detected_by="customer",
            detection_source="Ticket 4411",
            summary="**Checkout** returns 502 <script>alert(1)</script>",
            commander="ekastner",
            participants=["alice", "bob"],
            source="pagerduty",
            external_id="PD-1",
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get()
    assert list(body) == [
        "id",
        "url",
        "html_url",
        "title",
        "severity",
        "severity_label",
        "status",
        "services",
        "tags",
        "started_at",
        "detected_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "detected_by",
        "detection_source",
        "summary",
        "summary_html",
        "commander",
        "comms_lead",
        "scribe",
        "roles",
        "participants",
        "source",
        "external_id",
        "deploy_related",
        "causes",
        "remediations",
        "time_to_detect_seconds",
        "time_to_repair_seconds",
        "time_to_restore_seconds",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "archived",
        "archived_at",
        "archived_by",
        "archive_reason",
    ]
    assert body["id"] == incident.pk
    assert body["url"] == f"http://testserver/api/incidents/{incident.pk}/"
    assert body["html_url"] == f"http://testserver/incidents/{incident.pk}/"
    assert body["title"] == "Checkout is failing"
    assert (body["severity"], body["severity_label"]) == (2, "SEV2 · major")
    assert body["status"] == "resolved"
    assert body["services"] == ["api", "web"]
    assert body["started_at"] == "2024-07-01T10:00:00Z"
    assert body["detected_at"] == "2024-07-01T10:07:30.250000Z"
    assert body["acknowledged_at"] == "2024-07-01T10:10:00Z"
    assert body["mitigated_at"] == "2024-07-01T10:40:00Z"
    assert body["resolved_at"] == "2024-07-01T11:30:15Z"
    assert (body["detected_by"], body["detection_source"]) == ("customer", "Ticket 4411")
    assert body["summary"] == "**Checkout** returns 502 <script>alert(1)</script>"
    assert "<strong>Checkout</strong>" in body["summary_html"] and "<script" not in body["summary_html"]
    assert (body["commander"], body["participants"]) == ("ekastner", ["alice", "bob"])
    assert (body["source"], body["external_id"]) == ("pagerduty", "PD-1")
    assert (body["deploy_related"], body["causes"], body["remediations"]) == (False, [], [])
    # Worked out by hand: 10:00:00 → 10:07:30.25 → 11:30:15.
    assert body["time_to_detect_seconds"] == 450.25
    assert body["time_to_repair_seconds"] == 4964.75
    assert body["time_to_restore_seconds"] == 5415.0
    assert all(isinstance(body[k], float) for k in ("time_to_detect_seconds", "time_to_restore_seconds"))
    assert body["created_at"] == body["updated_at"] == iso(incident.created_at)
    assert (body["created_by"], body["updated_by"]) == ("ekastner", "ekastner")
    assert incident.detected_at == dt.datetime(2024, 7, 1, 10, 7, 30, 250000, tzinfo=UTC)
    assert incident.created_by.username == "ekastner"
    assert list(incident.timeline.values_list("kind", flat=True)) == ["status"] * 4


@pytest.mark.parametrize(
    ("stamps", "status"),
    [
        ({}, "open"),
        ({"acknowledged_at": "2024-07-01T10:10:00Z"}, "acknowledged"),
        ({"mitigated_at": "2024-07-01T10:20:00Z"}, "mitigated"),
        ({"acknowledged_at": "2024-07-01T10:10:00Z", "resolved_at": "2024-07-01T10:30:00Z"}, "resolved"),
    ],
)
def test_status_is_derived_from_the_timestamps(api, stamps, status):
    body = api.post("/api/incidents/", payload(detected_at="2024-07-01T10:05:00Z", **stamps), format="json").json()

    assert body["status"] == status


def test_defaults(api):
    before = timezone.now()
    response = api.post("/api/incidents/", payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    incident = Incident.objects.get()
    assert before <= incident.detected_at <= timezone.now()
    assert body["detected_at"] == iso(incident.detected_at)
    assert (body["severity"], body["severity_label"]) == (3, "SEV3 · moderate")
    assert (body["status"], body["services"], body["detected_by"]) == ("open", [], "monitoring")
    assert (body["source"], body["external_id"], body["summary"], body["summary_html"]) == ("", "", "", "")
    assert (body["participants"], body["commander"]) == ([], "")
    assert body["time_to_detect_seconds"] == (incident.detected_at - T0).total_seconds()
    assert body["time_to_repair_seconds"] is None and body["time_to_restore_seconds"] is None
    assert body["acknowledged_at"] is None and body["resolved_at"] is None


def test_repeat_with_same_source_and_external_id_returns_the_existing_incident(api):
    first = api.post("/api/incidents/", payload(source="pagerduty", external_id="PD-7"), format="json")
    again = api.post(
        "/api/incidents/", payload(source="pagerduty", external_id="PD-7", title="Something else"), format="json"
    )
    other_source = api.post("/api/incidents/", payload(source="grafana", external_id="PD-7"), format="json")

    assert (first.status_code, again.status_code, other_source.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["title"] == "Checkout is failing"
    assert Incident.objects.count() == 2
    assert TimelineEntry.objects.count() == 2


def test_incidents_without_external_id_are_never_merged(api):
    api.post("/api/incidents/", payload(), format="json")
    response = api.post("/api/incidents/", payload(), format="json")

    assert response.status_code == 201
    assert Incident.objects.count() == 2


@pytest.mark.parametrize(
    ("stamps", "field", "fragment"),
    [
        ({"detected_at": "2024-07-01T09:59:59Z"}, "detected_at", "before the started time"),
        (
            {"detected_at": "2024-07-01T10:05:00Z", "acknowledged_at": "2024-07-01T10:04:00Z"},
            "acknowledged_at",
            "before the detected time",
        ),
        (
            {
                "detected_at": "2024-07-01T10:05:00Z",
                "acknowledged_at": "2024-07-01T10:10:00Z",
                "mitigated_at": "2024-07-01T10:09:00Z",
            },
            "mitigated_at",
            "before the acknowledged time",
        ),
        (
            {
                "detected_at": "2024-07-01T10:05:00Z",
                "mitigated_at": "2024-07-01T10:20:00Z",
                "resolved_at": "2024-07-01T10:19:00Z",
            },
            "resolved_at",
            "before the mitigated time",
        ),
        # No acknowledged or mitigated time: resolved is still checked against started.
        (
            {"detected_at": "2024-07-01T10:05:00Z", "resolved_at": "2024-07-01T09:00:00Z"},
            "resolved_at",
            "before the started time",
        ),
    ],
)
def test_out_of_order_timestamps_are_a_400_naming_the_field(api, stamps, field, fragment):
    response = api.post("/api/incidents/", payload(**stamps), format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert fragment in body[field][0]
    assert Incident.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


def test_a_timestamp_in_the_future_is_a_400(api):
    tomorrow = iso(timezone.now() + dt.timedelta(days=1))
    response = api.post(
        "/api/incidents/", payload(detected_at="2024-07-01T10:05:00Z", resolved_at=tomorrow), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"resolved_at": ["Resolved time can't be in the future."]}
    assert Incident.objects.count() == 0


def test_a_start_in_the_future_is_a_400_naming_it(api):
    later = iso(timezone.now() + dt.timedelta(hours=2))
    response = api.post("/api/incidents/", payload(started_at=later), format="json")

    assert response.status_code == 400
    assert response.json()["started_at"] == ["Started time can't be in the future."]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"started_at": "2024-07-01T10:00:00"}, "started_at", "UTC offset"),
        ({"started_at": "2024-07-01 10:00"}, "started_at", "UTC offset"),
        ({"detected_at": "2024-07-01T10:05:00"}, "detected_at", "UTC offset"),
        ({"started_at": "last tuesday"}, "started_at", "wrong format"),
        ({"started_at": None}, "started_at", "may not be null"),
        ({"title": ""}, "title", "may not be blank"),
        ({"title": "x" * 201}, "title", "no more than 200"),
        ({"severity": 5}, "severity", "not a valid choice"),
        ({"detected_by": "psychic"}, "detected_by", "not a valid choice"),
        ({"services": "web"}, "services", "Expected a list"),
        ({"participants": "alice"}, "participants", "Expected a list"),
        ({"external_id": "x" * 201}, "external_id", "no more than 200"),
        ({"title": "Down\nBcc: x@example.com"}, "title", "single line"),
        ({"participants": ["alice", "bo\rb"]}, "participants", "single line"),
        ({"started_at": "9999-12-31T23:30:00Z"}, "started_at", "between 1970 and 2999"),
        ({"status": "resolved"}, "status", "derived from the timestamps"),
        ({"id": 7}, "id", "read-only"),
        ({"deploy_related": True}, "deploy_related", "read-only"),
        ({"causes": [1]}, "causes", "/causes/"),
        ({"acknowleged_at": "2024-07-01T10:05:00Z"}, "acknowleged_at", "Unknown field"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, overrides, field, fragment):
    response = api.post("/api/incidents/", payload(**overrides), format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert fragment in str(body[field])
    assert Incident.objects.count() == 0


def test_missing_title_and_start_are_a_400(api):
    response = api.post("/api/incidents/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {"title": ["This field is required."], "started_at": ["This field is required."]}


def test_unknown_service_is_a_400_naming_it(api, web):
    response = api.post("/api/incidents/", payload(services=["web", "nope", "gone"]), format="json")

    assert response.status_code == 400
    assert response.json() == {"services": ['No service with slug "nope".', 'No service with slug "gone".']}
    assert Incident.objects.count() == 0


def test_service_slugs_are_matched_case_insensitively(api, web):
    response = api.post("/api/incidents/", payload(services=[" Web ", "web"]), format="json")

    assert response.status_code == 201
    assert response.json()["services"] == ["web"]


def test_malformed_bodies_are_a_400_not_a_500(api):
    assert api.post("/api/incidents/", "{not json", content_type="application/json").status_code == 400
    assert api.post("/api/incidents/", [payload()], format="json").status_code == 400


# --- List and retrieve ----------------------------------------------------------------------------


@pytest.fixture
def varied_incidents(web, production):
    search = ServiceFactory(slug="search")
    incidents = {
        "open-web": IncidentFactory(
            title="Checkout is down", summary="Payments fail.", severity=1, started_at=at(hours=-2), services=[web]
        ),
        "acked-search": IncidentFactory(
            title="Slow results",
            summary="The database ran out of connections.",
            started_at=at(hours=-26),
            acknowledged_at=at(hours=-25),
            services=[search],
        ),
        "mitigated-both": IncidentFactory(
            title="Errors on login",
            started_at=at(hours=-50),
            mitigated_at=at(hours=-49),
            services=[web, search],
        ),
        "resolved-web": IncidentFactory(
            title="Images missing",
            severity=4,
            started_at=at(hours=-1),
            resolved_at=at(minutes=-10),
            services=[web],
        ),
    }
    IncidentDeployFactory(incident=incidents["resolved-web"], deploy=DeployFactory(service=web, environment=production))
    IncidentDeployFactory(
        incident=incidents["open-web"], deploy=DeployFactory(service=web), relation=IncidentDeploy.Relation.REMEDIATION
    )
    return incidents


def _ids(api, query=""):
    response = api.get(f"/api/incidents/?{query}")
    assert response.status_code == 200, response.content
    return [incident["id"] for incident in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", {"open-web"}),
        ("status=acknowledged", {"acked-search"}),
        ("status=mitigated", {"mitigated-both"}),
        ("status=resolved", {"resolved-web"}),
        ("severity=1", {"open-web"}),
        ("severity=4", {"resolved-web"}),
        ("service=web", {"open-web", "mitigated-both", "resolved-web"}),
        ("service=search", {"acked-search", "mitigated-both"}),
        ("since=2024-07-01T08:00:00Z", {"open-web", "resolved-web"}),
        ("until=2024-07-01T08:00:00Z", {"acked-search", "mitigated-both"}),
        ("since=2024-06-30&until=2024-06-30", {"acked-search"}),
        ("deploy_related=true", {"resolved-web"}),
        ("deploy_related=false", {"open-web", "acked-search", "mitigated-both"}),
        ("service=web&status=mitigated", {"mitigated-both"}),
        ("q=checkout", {"open-web"}),
        ("q=database", {"acked-search"}),
        ("q=login&service=search", {"mitigated-both"}),
        ("q=nothing-like-this", set()),
    ],
)
def test_list_filters(api, varied_incidents, query, expected):
    ids = _ids(api, query)

    assert len(ids) == len(set(ids))
    assert set(ids) == {varied_incidents[name].pk for name in expected}


def test_search_matches_title_and_summary(api):
    by_title = IncidentFactory(title="Checkout returns 502", summary="")
    by_summary = IncidentFactory(title="Payments", summary="Checkout returns 502 for some card types.")
    IncidentFactory(title="Search is slow", summary="Queries time out.")

    assert set(_ids(api, "q=checkout")) == {by_title.pk, by_summary.pk}
    assert _ids(api, "q=card") == [by_summary.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("severity=9", "severity"),
        ("service=nope", "service"),
        ("since=last-tuesday", "since"),
        ("until=2024-07-01T10:00:00", "until"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, varied_incidents, query, field):
    response = api.get(f"/api/incidents/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_list_shows_open_incidents_first_then_newest_first(api, varied_incidents):
    old_open = IncidentFactory(started_at=at(hours=-500))

    assert _ids(api) == [
        varied_incidents["open-web"].pk,
        varied_incidents["acked-search"].pk,
        varied_incidents["mitigated-both"].pk,
        old_open.pk,
        varied_incidents["resolved-web"].pk,  # the newest, but resolved
    ]


def test_list_is_paginated(api):
    for hour in range(55):
        IncidentFactory(started_at=at(hours=-hour))

    first = api.get("/api/incidents/").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50 and len(second["results"]) == 5
    assert second["next"] is None
    assert len(api.get("/api/incidents/?page_size=7").json()["results"]) == 7


def test_list_items_show_links_and_deploy_relation(api, varied_incidents):
    results = {item["id"]: item for item in api.get("/api/incidents/").json()["results"]}

    resolved = results[varied_incidents["resolved-web"].pk]
    opened = results[varied_incidents["open-web"].pk]
    assert resolved["deploy_related"] is True and len(resolved["causes"]) == 1
    assert opened["deploy_related"] is False and len(opened["remediations"]) == 1 and opened["causes"] == []


def test_retrieve_one_incident(api, varied_incidents):
    incident = varied_incidents["mitigated-both"]

    body = api.get(f"/api/incidents/{incident.pk}/").json()

    assert body["id"] == incident.pk
    assert body["services"] == ["search", "web"]
    assert body["status"] == "mitigated"
    assert body["created_by"] is None
    assert api.get("/api/incidents/999999/").status_code == 404
    assert api.get("/api/incidents/abc/").status_code == 404


def _list_queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def _incident_with_links(user, n):
    services = [ServiceFactory(), ServiceFactory(), ServiceFactory()]
    incident = IncidentFactory(services=services, created_by=user, updated_by=user)
    for relation in ("cause", "cause", "remediation"):
        deploy = DeployFactory(service=services[n % 3], environment=EnvironmentFactory(slug=f"env{n % 3}"))
        DeployCommitFactory(deploy=deploy)
        IncidentDeployFactory(incident=incident, deploy=deploy, relation=relation, created_by=user)
    return incident


def test_list_query_count_does_not_grow_with_rows(api, user, django_assert_max_num_queries):
    for n in range(2):
        _incident_with_links(user, n)
    few = _list_queries(api, "/api/incidents/?page_size=100")
    for n in range(30):
        _incident_with_links(user, n)
    many = _list_queries(api, "/api/incidents/?page_size=100")
    filtered = _list_queries(api, "/api/incidents/?page_size=100&status=open&deploy_related=true&q=checkout")

    assert many == few
    assert filtered <= few + 1
    with django_assert_max_num_queries(6):
        body = api.get("/api/incidents/?page_size=100").json()
    assert body["count"] == 32
    assert all(len(item["services"]) == 3 and len(item["causes"]) == 2 for item in body["results"])


# --- Partial update ------------------------------------------------------------------------------


def test_patch_changes_fields_and_records_old_and_new_values_in_the_timeline(api, user, web):
    search = ServiceFactory(slug="search")
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5), services=[web])

    response = api.patch(
        f"/api/incidents/{incident.pk}/",
        {
            "severity": 1,
            "services": ["search", "web"],
            "acknowledged_at": "2024-07-01T12:10:00+02:00",
            "title": "Checkout down",
            "summary": "Rolled *back*.",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["severity"], body["status"], body["title"]) == (1, "acknowledged", "Checkout down")
    assert body["services"] == ["search", "web"]
    assert body["acknowledged_at"] == "2024-07-01T10:10:00Z"
    assert body["summary_html"] == "<p>Rolled <em>back</em>.</p>"
    assert body["updated_by"] == "ekastner"
    incident.refresh_from_db()
    assert incident.severity == 1 and incident.acknowledged_at == at(minutes=10)
    assert set(incident.services.all()) == {web, search}
    entries = {next(iter(entry.changes)): entry for entry in TimelineEntry.objects.filter(incident=incident)}
    assert set(entries) == {"severity", "services", "acknowledged_at", "title", "summary"}
    assert entries["severity"].changes == {"severity": {"old": 3, "new": 1}}
    assert entries["severity"].kind == TimelineEntry.Kind.EDIT
    assert entries["severity"].text == "Severity changed from SEV3 to SEV1."
    assert entries["services"].changes == {"services": {"old": ["web"], "new": ["search", "web"]}}
    assert entries["acknowledged_at"].changes == {"acknowledged_at": {"old": None, "new": "2024-07-01T10:10:00Z"}}
    assert entries["acknowledged_at"].kind == TimelineEntry.Kind.STATUS
    assert entries["title"].text == "Title edited."
    assert all(entry.author == user for entry in entries.values())


def test_patch_can_clear_a_stamp_and_the_timeline_keeps_the_old_value(api):
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5), acknowledged_at=at(minutes=8))

    body = api.patch(f"/api/incidents/{incident.pk}/", {"acknowledged_at": None}, format="json").json()

    assert (body["acknowledged_at"], body["status"]) == (None, "open")
    entry = TimelineEntry.objects.get(incident=incident)
    assert entry.changes == {"acknowledged_at": {"old": "2024-07-01T10:08:00Z", "new": None}}


def test_patch_with_nothing_changed_records_nothing(api):
    incident = IncidentFactory(severity=3)

    response = api.patch(f"/api/incidents/{incident.pk}/", {"severity": 3}, format="json")

    assert response.status_code == 200
    assert TimelineEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"detected_at": "2024-07-01T09:00:00Z"}, "detected_at", "before the started time"),
        ({"acknowledged_at": "2024-07-01T10:01:00Z"}, "acknowledged_at", "before the detected time"),
        ({"started_at": "2024-07-01T10:06:00Z"}, "detected_at", "before the started time"),
        ({"resolved_at": iso(timezone.now() + dt.timedelta(days=1))}, "resolved_at", "future"),
        ({"started_at": None}, "started_at", "may not be null"),
        ({"started_at": "2024-07-01T10:00:00"}, "started_at", "UTC offset"),
        ({"severity": 0}, "severity", "not a valid choice"),
        ({"commander": "a\tb"}, "commander", "single line"),
        ({"services": ["nope"]}, "services", 'No service with slug "nope".'),
        ({"status": "resolved"}, "status", "derived from the timestamps"),
        ({"id": 5}, "id", "read-only"),
        ({"time_to_repair_seconds": 5}, "time_to_repair_seconds", "read-only"),
        ({"external_id": "x"}, "external_id", "can't be changed after filing"),
        ({"source": "x"}, "source", "can't be changed after filing"),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_patch_is_a_400_naming_the_field_and_saves_nothing(api, changes, field, fragment):
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5), title="Before")

    response = api.patch(f"/api/incidents/{incident.pk}/", {"title": "After", **changes}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert fragment in str(body[field])
    incident.refresh_from_db()
    assert incident.title == "Before" and incident.started_at == T0 and incident.detected_at == at(minutes=5)
    assert TimelineEntry.objects.count() == 0


def test_patch_resolved_before_started_when_the_middle_ones_are_missing_is_a_400(api):
    incident = IncidentFactory(started_at=T0, detected_at=None)

    response = api.patch(f"/api/incidents/{incident.pk}/", {"resolved_at": "2024-07-01T09:59:00Z"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "resolved_at": ["Resolved time can't be before the started time (started_at ≤ resolved_at)."]
    }


def test_put_is_not_offered(api):
    incident = IncidentFactory()

    assert api.put(f"/api/incidents/{incident.pk}/", payload(), format="json").status_code == 405
    assert api.delete(f"/api/incidents/{incident.pk}/").status_code == 405


# --- Stamps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "path", "field", "status"),
    [
        ("acknowledged", "acknowledge", "acknowledged_at", "acknowledged"),
        ("mitigated", "mitigate", "mitigated_at", "mitigated"),
        ("resolved", "resolve", "resolved_at", "resolved"),
    ],
)
def test_stamping_defaults_to_now_and_a_second_call_keeps_the_first_time(api, user, stage, path, field, status):
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5))
    before = timezone.now()

    first = api.post(f"/api/incidents/{incident.pk}/{path}/")
    second = api.post(f"/api/incidents/{incident.pk}/{path}/", {"at": "2024-07-01T11:00:00Z"}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)
    incident.refresh_from_db()
    stamped = getattr(incident, field)
    assert before <= stamped <= timezone.now()
    assert first.json()[field] == second.json()[field] == iso(stamped)
    assert first.json()["status"] == status
    entry = TimelineEntry.objects.get(incident=incident)
    assert (entry.kind, entry.author, entry.at) == ("status", user, stamped)
    assert entry.changes == {field: {"old": None, "new": iso(stamped)}}


def test_stamp_at_a_given_time(api):
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5))

    response = api.post(f"/api/incidents/{incident.pk}/resolve/", {"at": "2024-07-01T13:30:00+02:00"}, format="json")

    body = response.json()
    assert (body["resolved_at"], body["status"]) == ("2024-07-01T11:30:00Z", "resolved")
    assert body["time_to_repair_seconds"] == 5100.0
    assert body["time_to_restore_seconds"] == 5400.0
    assert TimelineEntry.objects.get().text == "Resolved. Status Open → Resolved."


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"at": "2024-07-01T10:04:00Z"}, "acknowledged_at", "before the detected time"),
        ({"at": "2099-01-01T00:00:00Z"}, "acknowledged_at", "future"),
        ({"at": "2024-07-01T10:30:00"}, "at", "UTC offset"),
        ({"at": "soon"}, "at", "wrong format"),
        ({"when": "2024-07-01T10:30:00Z"}, "when", "Unknown field"),
    ],
)
def test_bad_stamp_is_a_400_and_stamps_nothing(api, body, field, fragment):
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=5))

    response = api.post(f"/api/incidents/{incident.pk}/acknowledge/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in response.json()[field][0]
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert TimelineEntry.objects.count() == 0


def test_stamping_an_unknown_incident_is_a_404(api):
    assert api.post("/api/incidents/999999/resolve/").status_code == 404


# --- Timeline and notes ---------------------------------------------------------------------------


def test_timeline_lists_entries_in_order(api, user):
    incident = IncidentFactory()
    later = TimelineEntryFactory(incident=incident, at=at(minutes=30), text="Later", author=user)
    earlier = TimelineEntryFactory(incident=incident, at=at(minutes=10), text="Earlier", kind="status")
    TimelineEntryFactory(at=at(minutes=20))  # another incident's

    body = api.get(f"/api/incidents/{incident.pk}/timeline/").json()

    assert body["count"] == 2
    assert [entry["id"] for entry in body["results"]] == [earlier.pk, later.pk]
    assert body["results"][1] == {
        "id": later.pk,
        "at": "2024-07-01T10:30:00Z",
        "kind": "note",
        "kind_label": "Note",
        "text": "Later",
        "changes": {},
        "author": "ekastner",
        "source": "",
        "created_at": iso(later.created_at),
    }
    assert body["results"][0]["author"] is None


def test_filing_and_changing_over_the_api_shows_in_the_timeline(api):
    incident_id = api.post("/api/incidents/", payload(detected_at="2024-07-01T10:05:00Z"), format="json").json()["id"]
    api.post(f"/api/incidents/{incident_id}/acknowledge/", {"at": "2024-07-01T10:07:00Z"}, format="json")
    note = {"text": "Paged the DB team", "at": "2024-07-01T10:06:00Z"}
    api.post(f"/api/incidents/{incident_id}/timeline/", note, format="json")

    entries = api.get(f"/api/incidents/{incident_id}/timeline/").json()["results"]

    assert [(e["at"], e["kind"]) for e in entries] == [
        ("2024-07-01T10:05:00Z", "status"),
        ("2024-07-01T10:06:00Z", "note"),
        ("2024-07-01T10:07:00Z", "status"),
    ]


def test_post_a_note(api, user):
    incident = IncidentFactory()
    before = timezone.now()

    response = api.post(f"/api/incidents/{incident.pk}/timeline/", {"text": "  Rolled back web  "}, format="json")

    assert response.status_code == 201, response.content
    entry = TimelineEntry.objects.get()
    assert (entry.incident, entry.kind, entry.text, entry.author) == (incident, "note", "Rolled back web", user)
    assert before <= entry.at <= timezone.now()
    assert response.json()["id"] == entry.pk
    assert response.json()["text"] == "Rolled back web"
    assert response.json()["author"] == "ekastner"


def test_post_a_note_at_a_given_time(api):
    incident = IncidentFactory()

    response = api.post(
        f"/api/incidents/{incident.pk}/timeline/",
        {"text": "Saw errors", "at": "2024-07-01T12:03:00+02:00"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["at"] == "2024-07-01T10:03:00Z"
    assert TimelineEntry.objects.get().at == at(minutes=3)


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"text": "   "}, "text", "A note needs some text."),
        ({}, "text", "required"),
        ({"text": "x", "at": "2024-07-01T10:03:00"}, "at", "UTC offset"),
        ({"text": "x", "at": "2099-07-01T10:03:00Z"}, "at", "future"),
        ({"text": "x", "kind": "status"}, "kind", "Unknown field"),
    ],
)
def test_bad_note_is_a_400(api, body, field, fragment):
    incident = IncidentFactory()

    response = api.post(f"/api/incidents/{incident.pk}/timeline/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in response.json()[field][0]
    assert TimelineEntry.objects.count() == 0


def test_timeline_of_an_unknown_incident_is_a_404(api):
    assert api.get("/api/incidents/999999/timeline/").status_code == 404
    assert api.post("/api/incidents/999999/timeline/", {"text": "x"}, format="json").status_code == 404


# --- Suspect deploys ----------------------------------------------------------------------------


@pytest.fixture
def suspects(settings, web, production, staging):
    settings.OPSLOG_SUSPECT_WINDOW_HOURS = 4
    incident = IncidentFactory(started_at=T0, detected_at=at(minutes=30), services=[web])
    window_start = T0 - dt.timedelta(hours=4)
    deploy = lambda **kw: DeployFactory(**{"service": web, "environment": production, **kw})  # noqa: E731
    return incident, {
        "at-window-start": deploy(deployed_at=window_start),
        "minute-before-window": deploy(deployed_at=window_start - dt.timedelta(minutes=1)),
        "staging": deploy(environment=staging, deployed_at=at(hours=-1)),
        "other-service": deploy(service=ServiceFactory(slug="search"), deployed_at=at(hours=-1)),
        "between-start-and-detection": deploy(deployed_at=at(minutes=10)),
        "at-detection": deploy(deployed_at=at(minutes=30)),
        "after-detection": deploy(deployed_at=at(minutes=31)),
    }


def test_suspect_deploys_are_production_deploys_of_its_services_in_the_window_newest_first(api, suspects):
    incident, deploys = suspects

    response = api.get(f"/api/incidents/{incident.pk}/suspect-deploys/")

    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["results"]] == [
        deploys["at-detection"].pk,
        deploys["between-start-and-detection"].pk,
        deploys["at-window-start"].pk,
    ]
    first = body["results"][0]
    assert (first["service"], first["environment"], first["production"]) == ("web", "production", True)
    assert first["url"].endswith(f"/api/deploys/{deploys['at-detection'].pk}/")


def test_suspect_deploys_window_can_be_widened(api, suspects):
    incident, deploys = suspects

    body = api.get(f"/api/incidents/{incident.pk}/suspect-deploys/?window_hours=4.5").json()

    oldest_two = [d["id"] for d in body["results"]][-2:]
    assert oldest_two == [deploys["at-window-start"].pk, deploys["minute-before-window"].pk]
    narrow = api.get(f"/api/incidents/{incident.pk}/suspect-deploys/?window_hours=0.25").json()
    in_narrow = [d["id"] for d in narrow["results"]]
    assert in_narrow == [deploys["at-detection"].pk, deploys["between-start-and-detection"].pk]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "1e30"])
def test_suspect_deploys_window_must_be_a_positive_number(api, suspects, value):
    incident, _ = suspects

    response = api.get(f"/api/incidents/{incident.pk}/suspect-deploys/?window_hours={value}")

    assert response.status_code == 400
    assert list(response.json()) == ["window_hours"]


def test_suspect_deploys_show_their_commits(api, suspects):
    incident, deploys = suspects
    DeployCommitFactory(deploy=deploys["at-detection"], sha="e" * 40)

    body = api.get(f"/api/incidents/{incident.pk}/suspect-deploys/").json()

    assert [c["sha"] for c in body["results"][0]["commits"]] == ["e" * 40]


# --- Causes and remediating deploys -------------------------------------------------------------

LINKS = [
    ("causes", IncidentDeploy.Relation.CAUSE, "as a cause"),
    ("remediating-deploys", IncidentDeploy.Relation.REMEDIATION, "as remediating"),
]


@pytest.mark.parametrize(("path", "relation", "words"), LINKS)
def test_link_and_unlink_a_deploy(api, user, web, production, path, relation, words):
    incident = IncidentFactory(services=[web])
    deploy = DeployFactory(service=web, environment=production, version="25145", previous_version="25134")
    base = f"/api/incidents/{incident.pk}/{path}/"

    linked = api.post(base, {"deploy": deploy.pk, "note": "Bad cache key"}, format="json")
    again = api.post(base, {"deploy": deploy.pk, "note": "Ignored"}, format="json")

    assert (linked.status_code, again.status_code) == (201, 200), linked.content
    link = IncidentDeploy.objects.get()
    assert (link.incident, link.deploy, link.relation, link.note, link.created_by) == (
        incident,
        deploy,
        relation,
        "Bad cache key",
        user,
    )
    expected = {
        "deploy": deploy.pk,
        "url": f"http://testserver/api/deploys/{deploy.pk}/",
        "service": "web",
        "environment": "production",
        "version": "25145",
        "previous_version": "25134",
        "deployed_at": iso(deploy.deployed_at),
        "note": "Bad cache key",
        "linked_at": iso(link.created_at),
        "linked_by": "ekastner",
    }
    assert linked.json() == again.json() == expected
    assert api.get(base).json() == [expected]
    shown = api.get(f"/api/incidents/{incident.pk}/").json()
    assert shown["causes" if relation == "cause" else "remediations"] == [expected]
    assert shown["deploy_related"] is (relation == "cause")

    unlinked = api.delete(f"{base}{deploy.pk}/")
    unlinked_again = api.delete(f"{base}{deploy.pk}/")

    assert (unlinked.status_code, unlinked_again.status_code) == (204, 404)
    assert "not linked" in unlinked_again.json()["detail"]
    assert IncidentDeploy.objects.count() == 0
    assert api.get(base).json() == []
    entries = list(TimelineEntry.objects.filter(incident=incident).values_list("kind", "text", "author"))
    words_for = f"web 25145 to production (deploy #{deploy.pk}) {words}"
    assert entries == [
        ("deploy_linked", f"Linked {words_for}. Bad cache key", user.pk),
        ("deploy_unlinked", f"Unlinked {words_for}.", user.pk),
    ]


def test_a_deploy_can_be_both_cause_and_remediation_and_unlinking_one_keeps_the_other(api, web):
    incident = IncidentFactory()
    deploy = DeployFactory(service=web)
    api.post(f"/api/incidents/{incident.pk}/causes/", {"deploy": deploy.pk}, format="json")
    api.post(f"/api/incidents/{incident.pk}/remediating-deploys/", {"deploy": deploy.pk}, format="json")

    assert api.delete(f"/api/incidents/{incident.pk}/remediating-deploys/{deploy.pk}/").status_code == 204

    body = api.get(f"/api/incidents/{incident.pk}/").json()
    assert ([c["deploy"] for c in body["causes"]], body["remediations"]) == ([deploy.pk], [])


@pytest.mark.parametrize(("path", "relation", "words"), LINKS)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"deploy": 999}, "No deploy with id 999."),
        ({"deploy": "abc"}, "Give the deploy's id, a number."),
        ({"deploy": None}, "This field may not be null."),
        ({}, "This field is required."),
    ],
)
def test_linking_an_unknown_deploy_is_a_400(api, path, relation, words, body, message):
    incident = IncidentFactory()

    response = api.post(f"/api/incidents/{incident.pk}/{path}/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"deploy": [message]}
    assert IncidentDeploy.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


@pytest.mark.parametrize(("path", "relation", "words"), LINKS)
def test_unlinking_an_unknown_deploy_is_a_400_and_an_unknown_incident_a_404(api, web, path, relation, words):
    incident = IncidentFactory()
    deploy = DeployFactory(service=web)

    unknown = api.delete(f"/api/incidents/{incident.pk}/{path}/999999/")
    assert unknown.status_code == 400
    assert unknown.json() == {"deploy": ["No deploy with id 999999."]}
    assert api.delete(f"/api/incidents/999999/{path}/{deploy.pk}/").status_code == 404
    assert api.post(f"/api/incidents/999999/{path}/", {"deploy": deploy.pk}, format="json").status_code == 404
    assert TimelineEntry.objects.count() == 0


@pytest.mark.parametrize("value", [1.5, 1.0, True, "1.5", "one"])
def test_a_deploy_id_must_be_a_whole_number(api, web, value):
    incident = IncidentFactory()
    DeployFactory(service=web)

    response = api.post(f"/api/incidents/{incident.pk}/causes/", {"deploy": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["deploy"]
    assert IncidentDeploy.objects.count() == 0


# --- Authentication and schema ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/incidents/"),
        ("post", "/api/incidents/"),
        ("get", "/api/incidents/{id}/"),
        ("patch", "/api/incidents/{id}/"),
        ("post", "/api/incidents/{id}/resolve/"),
        ("get", "/api/incidents/{id}/timeline/"),
        ("post", "/api/incidents/{id}/timeline/"),
        ("get", "/api/incidents/{id}/suspect-deploys/"),
        ("post", "/api/incidents/{id}/causes/"),
        ("delete", "/api/incidents/{id}/causes/1/"),
    ],
)
def test_the_api_needs_a_token(method, path):
    incident = IncidentFactory(title="Before")

    response = getattr(APIClient(), method)(path.format(id=incident.pk), {"title": "After"}, format="json")

    assert response.status_code == 401
    assert Incident.objects.get().title == "Before"
    assert TimelineEntry.objects.count() == 0


def test_schema_describes_the_incident_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {
        "/api/incidents/",
        "/api/incidents/{id}/",
        "/api/incidents/{id}/acknowledge/",
        "/api/incidents/{id}/timeline/",
        "/api/incidents/{id}/suspect-deploys/",
        "/api/incidents/{id}/causes/",
        "/api/incidents/{id}/causes/{deploy_id}/",
        "/api/incidents/{id}/remediating-deploys/{deploy_id}/",
    } <= set(schema["paths"])
    assert set(schema["paths"]["/api/incidents/{id}/"]) - {"parameters"} == {"get", "patch"}  # no PUT
    assert {"201", "200", "400"} <= set(schema["paths"]["/api/incidents/"]["post"]["responses"])


def test_incident_filter_builds_its_form():
    assert IncidentFilter(data={"severity": "1"}, queryset=Incident.objects.all()).is_valid()


@pytest.mark.parametrize("query", ["deploy_related=perhaps", "deploy_related=1", "severity=5", "status=closed"])
def test_bad_incident_filters_are_a_400(api, query):
    response = api.get(f"/api/incidents/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [query.split("=")[0]]


def test_patch_takes_exactly_the_fields_the_service_can_edit():
    assert set(IncidentUpdateSerializer().fields) == set(EDITABLE)
