import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import IncidentDeploy
from postmortems import services
from postmortems.api.serializers import PostMortemUpdateSerializer
from postmortems.blame import find_blame
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import PostMortem, PostMortemRevision
from postmortems.services import POSTMORTEM_EDITABLE
from tests.support.concurrency import api_at_once
from tests.support.roles import responder
from tests.support.times import iso
from tests.support.xss import DANGEROUS, VECTORS

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
SECTIONS = PostMortem.SECTION_FIELDS


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


@pytest.fixture
def incident(web):
    incident = IncidentFactory(
        title="Checkout returns 502",
        started_at=T0,
        detected_at=T0 + dt.timedelta(minutes=6),
        resolved_at=T0 + dt.timedelta(minutes=52),
        summary="A third of checkouts fail.",
        commander="Priya Raman",
        services=[web],
    )
    TimelineEntryFactory(incident=incident, at=T0 + dt.timedelta(minutes=6), text="Incident filed (SEV2).")
    TimelineEntryFactory(incident=incident, at=T0 + dt.timedelta(minutes=40), text="Rolled web back to 25134.")
    return incident


def start(api, incident) -> dict:
    response = api.post("/api/postmortems/", {"incident": incident.pk}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def patch(api, postmortem_id, **body):
    return api.patch(f"/api/postmortems/{postmortem_id}/", body, format="json")


# --- Start --------------------------------------------------------------------------------------


def test_post_starts_a_draft_with_the_timeline_prefilled_and_returns_every_field(api, user, incident):
    body = start(api, incident)

    postmortem = PostMortem.objects.get()
    assert list(body) == [
        "id",
        "url",
        "html_url",
        "incident",
        "incident_url",
        "incident_title",
        "archived",
        "services",
        "status",
        "status_label",
        "version",
        "facilitator",
        "meeting_date",
        *SECTIONS,
        "html",
        "blame_hints",
        "no_action_needed",
        "no_action_reason",
        "no_cause_reason",
        "factors",
        "remediations",
        "change_records",
        "published_at",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ]
    assert body["id"] == postmortem.pk
    assert body["url"] == f"http://testserver/api/postmortems/{postmortem.pk}/"
    assert body["html_url"] == f"http://testserver/incidents/{incident.pk}/postmortem/"
    assert (body["incident"], body["incident_title"]) == (incident.pk, "Checkout returns 502")
    assert body["incident_url"] == f"http://testserver/api/incidents/{incident.pk}/"
    assert body["services"] == ["web"]
    assert (body["status"], body["status_label"], body["version"]) == ("draft", "Draft", 1)
    assert (body["facilitator"], body["meeting_date"]) == ("Priya Raman", None)
    assert body["summary"] == "A third of checkouts fail."
    assert "Incident filed (SEV2)." in body["timeline_narrative"]
    assert "- 10:40 — Rolled web back to 25134." in body["timeline_narrative"]
    assert set(body["html"]) == set(body["blame_hints"]) == set(SECTIONS)
    assert body["html"]["summary"] == "<p>A third of checkouts fail.</p>"
    assert all(hints == [] for hints in body["blame_hints"].values())
    assert (body["no_action_needed"], body["no_action_reason"]) == (False, "")
    assert (body["remediations"], body["change_records"], body["published_at"]) == ([], [], None)
    assert body["created_at"] == body["updated_at"] == iso(postmortem.created_at)
    assert (body["created_by"], body["updated_by"]) == ("ekastner", "ekastner")
    revision = PostMortemRevision.objects.get()
    assert (revision.version, revision.saved_by, revision.content["summary"]) == (1, user, "A third of checkouts fail.")


def test_starting_again_returns_the_existing_postmortem(api, incident):
    first = start(api, incident)
    patch(api, first["id"], version=1, summary="Edited.")

    again = api.post("/api/postmortems/", {"incident": incident.pk}, format="json")

    assert again.status_code == 200
    assert (again.json()["id"], again.json()["summary"], again.json()["version"]) == (first["id"], "Edited.", 2)
    assert PostMortem.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"incident": 999999}, "incident", "No incident with id 999999."),
        ({"incident": "abc"}, "incident", "Give the incident's id, a number."),
        ({}, "incident", "This field is required."),
        ({"incident": None}, "incident", "This field may not be null."),
        ({"summary": "x"}, "summary", "Start the post-mortem first, then write it with PATCH"),
        ({"status": "published"}, "status", "POST /api/postmortems/{id}/status/"),
        ({"version": 3}, "version", "read-only"),
        ({"incidnet": 1}, "incidnet", "Unknown field."),
    ],
)
def test_bad_start_is_a_400_naming_the_field(api, incident, body, field, message):
    if field not in ("incident",):
        body = {"incident": incident.pk, **body}

    response = api.post("/api/postmortems/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert PostMortem.objects.count() == 0


def test_malformed_bodies_are_a_400_not_a_500(api, incident):
    postmortem = PostMortemFactory(incident=incident)

    assert api.post("/api/postmortems/", "{not json", content_type="application/json").status_code == 400
    assert api.post("/api/postmortems/", [{"incident": incident.pk}], format="json").status_code == 400
    assert api.patch(f"/api/postmortems/{postmortem.pk}/", [1], format="json").status_code == 400
    status_url = f"/api/postmortems/{postmortem.pk}/status/"
    assert api.post(status_url, "[]", content_type="application/json").status_code == 400


# --- Read ---------------------------------------------------------------------------------------


def test_retrieve_shows_remediations_dev_and_ops_and_change_records_of_causing_deploys(api, incident, web):
    postmortem = PostMortemFactory(incident=incident)
    today = timezone.localdate()
    ops = RemediationFactory(postmortem=postmortem, kind="ops", description="Page on 502s", due_date=today)
    dev_late = RemediationFactory(postmortem=postmortem, kind="dev", due_date=today + dt.timedelta(days=9))
    dev_soon = RemediationFactory(postmortem=postmortem, kind="dev", due_date=today + dt.timedelta(days=1))
    record = ChangeRecordFactory(title="New cache keys", service=web, kind="feature")
    cause = DeployFactory(service=web, change_record=record)
    IncidentDeployFactory(incident=incident, deploy=cause, relation=IncidentDeploy.Relation.CAUSE)
    # A fix with a change record of its own is not what went wrong.
    fix_record = ChangeRecordFactory(title="Rollback")
    IncidentDeployFactory(
        incident=incident,
        deploy=DeployFactory(service=web, change_record=fix_record),
        relation=IncidentDeploy.Relation.REMEDIATION,
    )
    # Another incident's cause doesn't show either.
    IncidentDeployFactory(deploy=DeployFactory(change_record=ChangeRecordFactory()))

    body = api.get(f"/api/postmortems/{postmortem.pk}/").json()

    assert [r["id"] for r in body["remediations"]] == [dev_soon.pk, dev_late.pk, ops.pk]
    assert body["remediations"][2]["kind"] == "ops" and body["remediations"][2]["postmortem"] == postmortem.pk
    assert body["remediations"][2]["services"] == ["web"]
    assert [c["id"] for c in body["change_records"]] == [record.pk]
    change = body["change_records"][0]
    assert (change["title"], change["kind"], change["service"]) == ("New cache keys", "feature", "web")
    assert change["done_before"] == record.done_before
    assert change["failure_impact"] == record.failure_impact
    assert change["failure_response"] == record.failure_response
    assert change["url"] == f"http://testserver/api/changes/{record.pk}/"
    assert [d["id"] for d in change["deploys"]] == [cause.pk]
    assert change["deploys"][0]["url"] == f"http://testserver/api/deploys/{cause.pk}/"


def test_blame_hints_mark_blame_language_per_section(api, incident):
    postmortem = PostMortemFactory(
        incident=incident, contributing_factors="The cache was cold.\n\nBob should have checked the config."
    )

    hints = api.get(f"/api/postmortems/{postmortem.pk}/").json()["blame_hints"]

    expected = [
        {"start": h.start, "end": h.end, "text": h.text, "message": h.message}
        for h in find_blame(postmortem.contributing_factors)
    ]
    assert hints["contributing_factors"] == expected
    assert {h["text"] for h in expected} == {"Bob should have", "should have"}
    assert all(hints[name] == [] for name in SECTIONS if name != "contributing_factors")


@pytest.mark.parametrize("vector", VECTORS)
def test_no_markdown_xss_reaches_the_html_of_any_section(api, incident, settings, vector):
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    response = api.post("/api/postmortems/", {"incident": incident.pk}, format="json")
    changes = dict.fromkeys(SECTIONS, f"OPS-1 {vector}")

    body = patch(api, response.json()["id"], version=1, **changes).json()

    for name in SECTIONS:
        assert body[name] == f"OPS-1 {vector}"
        assert not DANGEROUS.search(body["html"][name]), (name, body["html"][name])


def test_tracker_keys_in_sections_become_links(api, incident, settings):
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    postmortem = PostMortemFactory(incident=incident, went_poorly="See OPS-123.")

    html = api.get(f"/api/postmortems/{postmortem.pk}/").json()["html"]["went_poorly"]

    assert '<a href="https://tracker.example.com/browse/OPS-123"' in html


@pytest.fixture
def varied_postmortems(web):
    search = ServiceFactory(slug="search")
    return {
        "draft-web": PostMortemFactory(incident=IncidentFactory(started_at=T0, services=[web])),
        "review-search": PostMortemFactory(
            incident=IncidentFactory(started_at=T0 - dt.timedelta(days=1), services=[search]), status="in_review"
        ),
        "published-both": PostMortemFactory(
            incident=IncidentFactory(started_at=T0 - dt.timedelta(days=10), services=[web, search]),
            status="published",
        ),
    }


def _ids(api, query=""):
    response = api.get(f"/api/postmortems/?{query}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"draft-web", "review-search", "published-both"}),
        ("status=draft", {"draft-web"}),
        ("status=in_review", {"review-search"}),
        ("status=published", {"published-both"}),
        ("service=web", {"draft-web", "published-both"}),
        ("service=search", {"review-search", "published-both"}),
        ("since=2024-06-30", {"draft-web", "review-search"}),
        ("until=2024-06-30", {"review-search", "published-both"}),
        ("since=2024-06-30T10:00:01Z", {"draft-web"}),
        ("until=2024-06-30T10:00:00Z", {"published-both"}),
        ("service=search&status=published", {"published-both"}),
    ],
)
def test_list_filters(api, varied_postmortems, query, expected):
    ids = _ids(api, query)

    assert len(ids) == len(set(ids))
    assert set(ids) == {varied_postmortems[name].pk for name in expected}


def test_list_filters_by_incident(api, varied_postmortems):
    wanted = varied_postmortems["review-search"]

    assert _ids(api, f"incident={wanted.incident_id}") == [wanted.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "status"),
        ("service=nope", "service"),
        ("incident=999999", "incident"),
        ("incident=abc", "incident"),
        ("since=last-tuesday", "since"),
        ("until=2024-07-01T10:00:00", "until"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, varied_postmortems, query, field):
    response = api.get(f"/api/postmortems/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def _postmortem_with_everything(user, n):
    services_ = [ServiceFactory(), ServiceFactory()]
    incident = IncidentFactory(services=services_)
    postmortem = PostMortemFactory(incident=incident, created_by=user, updated_by=user)
    RemediationFactory(postmortem=postmortem, kind="dev", owner=user)
    RemediationFactory(postmortem=postmortem, kind="ops", owner_name="sam")
    for relation in ("cause", "cause", "remediation"):
        record = ChangeRecordFactory(service=services_[0])
        deploy = DeployFactory(
            service=services_[n % 2], environment=EnvironmentFactory(slug=f"env{n % 3}"), change_record=record
        )
        DeployFactory(service=services_[0], change_record=record)
        IncidentDeployFactory(incident=incident, deploy=deploy, relation=relation)
    return postmortem


def _queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(api, user, django_assert_max_num_queries):
    for n in range(2):
        _postmortem_with_everything(user, n)
    few = _queries(api, "/api/postmortems/?page_size=100")
    for n in range(20):
        _postmortem_with_everything(user, n)
    many = _queries(api, "/api/postmortems/?page_size=100")
    filtered = _queries(api, "/api/postmortems/?page_size=100&status=draft&service=" + ServiceFactory().slug)

    assert many == few
    assert filtered <= few
    # Token, count, post-mortems (with incidents and users), services, causing links (with deploys and
    # change records), the change records' deploys, remediations (with owners), contributing factors.
    with django_assert_max_num_queries(8):
        body = api.get("/api/postmortems/?page_size=100").json()
    assert body["count"] == 22
    assert all(len(item["remediations"]) == 2 and len(item["change_records"]) == 2 for item in body["results"])
    assert all(len(c["deploys"]) == 2 for item in body["results"] for c in item["change_records"])


def test_retrieve_query_count_is_fixed(api, user, django_assert_max_num_queries):
    postmortem = _postmortem_with_everything(user, 0)

    with django_assert_max_num_queries(7):
        assert api.get(f"/api/postmortems/{postmortem.pk}/").status_code == 200


def test_unknown_postmortem_is_a_404(api):
    assert api.get("/api/postmortems/999999/").status_code == 404
    assert api.get("/api/postmortems/abc/").status_code == 404
    assert patch(api, 999999, version=1, summary="x").status_code == 404
    for action in ("revisions", "diff", "export"):
        assert api.get(f"/api/postmortems/999999/{action}/").status_code == 404
    assert api.post("/api/postmortems/999999/status/", {"status": "draft"}, format="json").status_code == 404


# --- Edit ---------------------------------------------------------------------------------------


def test_patch_saves_the_fields_sent_and_keeps_a_revision(api, user, incident):
    created = start(api, incident)

    response = patch(
        api,
        created["id"],
        version=1,
        impact="About **1,200** customers could not pay.",
        meeting_date="2024-07-03",
        facilitator="Sam Okafor",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2
    assert body["impact"] == "About **1,200** customers could not pay."
    assert body["html"]["impact"] == "<p>About <strong>1,200</strong> customers could not pay.</p>"
    assert (body["meeting_date"], body["facilitator"]) == ("2024-07-03", "Sam Okafor")
    assert body["summary"] == created["summary"]  # not sent, not changed
    assert body["updated_by"] == "ekastner"
    postmortem = PostMortem.objects.get()
    assert (postmortem.version, postmortem.meeting_date) == (2, dt.date(2024, 7, 3))
    revision = postmortem.revisions.get(version=2)
    assert revision.saved_by == user
    assert revision.content["impact"] == "About **1,200** customers could not pay."
    assert revision.content["meeting_date"] == "2024-07-03"


def test_sections_are_kept_exactly_as_written(api, incident):
    created = start(api, incident)
    text = "  indented code\n\n- a\n- b\n\n"

    body = patch(api, created["id"], version=1, detection=text).json()

    assert body["detection"] == text


def test_patch_with_nothing_changed_keeps_the_version(api, incident):
    created = start(api, incident)

    response = patch(api, created["id"], version=1, summary=created["summary"])

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert PostMortemRevision.objects.count() == 1


def test_patch_needs_the_version_edited(api, incident):
    created = start(api, incident)

    response = patch(api, created["id"], summary="Changed")

    assert response.status_code == 400
    assert list(response.json()) == ["version"]
    assert "Send the version you edited" in response.json()["version"][0]
    assert PostMortem.objects.get().summary == "A third of checkouts fail."


def test_a_stale_version_is_a_409_with_the_current_text_and_the_diff_and_saves_nothing(
    api, incident, django_user_model
):
    created = start(api, incident)
    colleague = responder(django_user_model.objects.create_user(username="jallen"))
    services.postmortem_save(
        postmortem=PostMortem.objects.get(),
        changes={"summary": "A third of checkouts fail.\nCard payments only."},
        base_version=1,
        by=colleague,
    )

    response = patch(api, created["id"], version=1, summary="Checkouts fail.", impact="1,200 customers.")

    assert response.status_code == 409
    body = response.json()
    assert "jallen saved this post-mortem (version 2)" in body["detail"]
    assert "Nothing of yours was saved" in body["detail"]
    assert (body["current_version"], body["your_version"], body["saved_by"]) == (2, 1, "jallen")
    assert body["saved_at"] == iso(PostMortem.objects.get().updated_at)
    assert body["current"] == PostMortem.objects.get().content()
    assert body["current"]["summary"] == "A third of checkouts fail.\nCard payments only."
    assert set(body["diff"]) == {"summary", "impact"}
    assert body["diff"]["summary"] == (
        "--- summary (version 2)\n"
        "+++ summary (yours)\n"
        "@@ -1,2 +1 @@\n"
        "-A third of checkouts fail.\n"
        "-Card payments only.\n"
        "+Checkouts fail.\n"
    )
    assert body["diff"]["impact"].endswith("@@ -0,0 +1 @@\n+1,200 customers.\n")
    assert body["changes_since_your_version"] == {
        "summary": "--- summary (version 1)\n"
        "+++ summary (version 2)\n"
        "@@ -1 +1,2 @@\n"
        " A third of checkouts fail.\n"
        "+Card payments only.\n"
    }
    postmortem = PostMortem.objects.get()
    assert (postmortem.version, postmortem.impact) == (2, "")
    assert PostMortemRevision.objects.count() == 2

    # Merged and sent again on top of the current version: saved.
    merged = patch(api, created["id"], version=2, summary="Checkouts fail.\nCard payments only.")
    assert merged.status_code == 200 and merged.json()["version"] == 3


def test_the_later_of_two_concurrent_edits_is_refused(api, incident, django_user_model):
    created = start(api, incident)
    other = APIClient()
    other.force_authenticate(responder(django_user_model.objects.create_user(username="jallen")))

    first = patch(other, created["id"], version=1, went_well="Rollback took two minutes.")
    second = patch(api, created["id"], version=1, went_well="The alert fired at once.")

    assert (first.status_code, second.status_code) == (200, 409)
    assert PostMortem.objects.get().went_well == "Rollback took two minutes."
    assert "jallen saved" in second.json()["detail"]


def test_blame_language_never_blocks_a_save(api, incident):
    created = start(api, incident)

    response = patch(api, created["id"], version=1, contributing_factors="Bob should have checked. Human error.")

    assert response.status_code == 200
    assert [h["text"] for h in response.json()["blame_hints"]["contributing_factors"]] == [
        "Bob should have",
        "should have",
        "Human error",
    ]


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"version": "abc"}, "version", "valid integer"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"meeting_date": "03/07/2024"}, "meeting_date", "YYYY-MM-DD"),
        ({"meeting_date": "9999-01-01"}, "meeting_date", "between 1970 and 2999"),
        ({"facilitator": "Sam\nBcc: x@example.com"}, "facilitator", "single line"),
        ({"facilitator": "x" * 201}, "facilitator", "no more than 200"),
        ({"no_action_needed": "perhaps"}, "no_action_needed", "valid boolean"),
        ({"summary": None}, "summary", "may not be null"),
        ({"status": "published"}, "status", "POST /api/postmortems/{id}/status/"),
        ({"incident": 3}, "incident", "stays with its incident"),
        ({"remediations": []}, "remediations", "/api/remediations/"),
        ({"change_records": []}, "change_records", "/change-record/"),
        ({"html": {}}, "html", "read-only"),
        ({"published_at": "2024-07-01T10:00:00Z"}, "published_at", "read-only"),
        ({"sumary": "typo"}, "sumary", "Unknown field."),
    ],
)
def test_bad_patch_is_a_400_naming_the_field_and_saves_nothing(api, incident, changes, field, fragment):
    created = start(api, incident)

    response = patch(api, created["id"], **{"version": 1, **changes})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in str(response.json()[field])
    assert PostMortem.objects.get().version == 1


def test_patch_takes_exactly_the_fields_the_service_can_edit():
    assert set(PostMortemUpdateSerializer().fields) == set(POSTMORTEM_EDITABLE) | {"version", services.FACTORS}


def test_put_and_delete_are_not_offered(api, incident):
    created = start(api, incident)

    assert api.put(f"/api/postmortems/{created['id']}/", {"version": 1}, format="json").status_code == 405
    assert api.delete(f"/api/postmortems/{created['id']}/").status_code == 405
    assert PostMortem.objects.count() == 1


# --- Status -------------------------------------------------------------------------------------


def status(api, postmortem_id, **body):
    return api.post(f"/api/postmortems/{postmortem_id}/status/", body, format="json")


def test_publishing_needs_a_remediation(api, incident):
    created = start(api, incident)
    assert status(api, created["id"], status="in_review").json()["status"] == "in_review"

    refused = status(api, created["id"], status="published")

    assert refused.status_code == 400
    assert refused.json() == {
        "status": [
            "A post-mortem is published with at least one remediation, or marked “no action needed” with a reason."
        ]
    }
    assert PostMortem.objects.get().status == "in_review"
    RemediationFactory(postmortem=PostMortem.objects.get())

    # Its empty sections are on the publish checklist (#15.8): publishing over them is confirmed.
    published = status(api, created["id"], status="published", confirm=True)

    assert published.status_code == 200
    body = published.json()
    assert (body["status"], body["status_label"], body["version"]) == ("published", "Published", 3)
    assert body["published_at"] == iso(PostMortem.objects.get().published_at)


def test_wont_do_remediations_dont_count_for_publishing(api, incident):
    created = start(api, incident)
    RemediationFactory(postmortem=PostMortem.objects.get(), status="wont_do", wont_do_reason="Too costly.")

    assert status(api, created["id"], status="published").status_code == 400


def test_publishing_with_no_action_needed_needs_a_reason(api, incident):
    created = start(api, incident)
    patch(api, created["id"], version=1, no_action_needed=True)

    refused = status(api, created["id"], status="published")

    assert refused.status_code == 400
    assert refused.json() == {"no_action_reason": ["Say why no action is needed."]}
    patch(api, created["id"], version=2, no_action_reason="A one-off: the vendor's outage.")
    assert status(api, created["id"], status="published", confirm=True).json()["status"] == "published"


def test_a_published_postmortem_stays_publishable(api, incident):
    created = start(api, incident)
    patch(api, created["id"], version=1, no_action_needed=True, no_action_reason="Vendor outage.")
    status(api, created["id"], status="published", confirm=True)

    response = patch(api, created["id"], version=3, no_action_needed=False)

    assert response.status_code == 400
    assert "status" in response.json()
    assert PostMortem.objects.get().no_action_needed is True


def test_status_with_a_stale_version_is_a_409(api, incident):
    created = start(api, incident)
    patch(api, created["id"], version=1, summary="Changed.")

    response = status(api, created["id"], status="in_review", version=1)

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert response.json()["diff"] == {
        "status": "--- status (version 2)\n+++ status (yours)\n@@ -1 +1 @@\n-draft\n+in_review\n"
    }
    assert PostMortem.objects.get().status == "draft"
    assert status(api, created["id"], status="in_review", version=2).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "finished"}, "status"),
        ({}, "status"),
        ({"status": "draft", "version": "x"}, "version"),
        ({"status": "draft", "summary": "x"}, "summary"),
    ],
)
def test_bad_status_is_a_400(api, incident, body, field):
    created = start(api, incident)

    response = status(api, created["id"], **body)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_back_to_draft_to_correct_a_published_one(api, incident):
    created = start(api, incident)
    RemediationFactory(postmortem=PostMortem.objects.get())
    status(api, created["id"], status="published", confirm=True)

    response = status(api, created["id"], status="draft")

    assert response.status_code == 200 and response.json()["status"] == "draft"


# --- History ------------------------------------------------------------------------------------


def test_revisions_list_every_save_newest_first(api, user, incident, django_user_model):
    created = start(api, incident)
    patch(api, created["id"], version=1, summary="Second.")
    other = APIClient()
    other.force_authenticate(responder(django_user_model.objects.create_user(username="jallen")))
    patch(other, created["id"], version=2, summary="Third.")

    body = api.get(f"/api/postmortems/{created['id']}/revisions/").json()

    assert body["count"] == 3
    assert [r["version"] for r in body["results"]] == [3, 2, 1]
    assert [r["saved_by"] for r in body["results"]] == ["jallen", "ekastner", "ekastner"]
    assert [r["content"]["summary"] for r in body["results"]] == ["Third.", "Second.", "A third of checkouts fail."]
    assert list(body["results"][0]) == ["version", "saved_at", "saved_by", "content"]
    stored = PostMortemRevision.objects.get(version=3)
    assert body["results"][0]["saved_at"] == iso(stored.saved_at)
    assert set(body["results"][0]["content"]) == set(PostMortem.objects.get().content())


def test_diff_between_two_versions(api, incident):
    created = start(api, incident)
    patch(api, created["id"], version=1, summary="Line one.\nLine two.")
    patch(api, created["id"], version=2, impact="Many.", meeting_date="2024-07-03")

    body = api.get(f"/api/postmortems/{created['id']}/diff/?from=1&to=3").json()

    assert (body["from_version"], body["to_version"]) == (1, 3)
    assert (body["from_saved_by"], body["to_saved_by"]) == ("ekastner", "ekastner")
    assert list(body["diff"]) == ["summary", "impact", "meeting_date"]  # the write-up's order
    assert body["diff"]["summary"] == (
        "--- summary (version 1)\n+++ summary (version 3)\n@@ -1 +1,2 @@\n"
        "-A third of checkouts fail.\n+Line one.\n+Line two.\n"
    )
    assert body["diff"]["meeting_date"].endswith("@@ -0,0 +1 @@\n+2024-07-03\n")


def test_diff_defaults_to_the_last_save_and_can_run_backwards(api, incident):
    created = start(api, incident)
    patch(api, created["id"], version=1, summary="Second.")
    patch(api, created["id"], version=2, impact="Third.")

    latest = api.get(f"/api/postmortems/{created['id']}/diff/").json()
    backwards = api.get(f"/api/postmortems/{created['id']}/diff/?from=3&to=2").json()
    same = api.get(f"/api/postmortems/{created['id']}/diff/?from=2&to=2").json()

    assert (latest["from_version"], latest["to_version"], list(latest["diff"])) == (2, 3, ["impact"])
    assert list(backwards["diff"]) == ["impact"] and "-Third." in backwards["diff"]["impact"]
    assert same["diff"] == {}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=1&to=9", {"to": ["No version 9 of this post-mortem: it has versions 1 to 2."]}),
        (
            "from=7&to=8",
            {
                "from": ["No version 7 of this post-mortem: it has versions 1 to 2."],
                "to": ["No version 8 of this post-mortem: it has versions 1 to 2."],
            },
        ),
        ("from=one", {"from": ["A valid integer is required."]}),
        ("to=0", {"to": ["Ensure this value is greater than or equal to 1."]}),
    ],
)
def test_diff_of_unknown_versions_is_a_400_naming_them(api, incident, query, errors):
    created = start(api, incident)
    patch(api, created["id"], version=1, summary="Second.")

    response = api.get(f"/api/postmortems/{created['id']}/diff/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


# --- Export -------------------------------------------------------------------------------------


def test_export_is_a_markdown_file(api, incident, web):
    created = start(api, incident)
    RemediationFactory(postmortem=PostMortem.objects.get(), kind="ops", description="Alert on 502s")
    record = ChangeRecordFactory(title="New cache keys")
    IncidentDeployFactory(incident=incident, deploy=DeployFactory(service=web, change_record=record))

    response = api.get(f"/api/postmortems/{created['id']}/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="postmortem-incident-{incident.pk}.md"'
    text = response.content.decode()
    assert text.startswith("# Post-mortem: Checkout returns 502\n")
    for _, heading, _ in PostMortem.SECTIONS:
        assert f"\n## {heading}\n" in text
    assert f"Change record CR-{record.pk}: New cache keys" in text
    assert "| Ops | Alert on 502s |" in text


def test_export_answers_a_client_that_asks_for_markdown_or_json(api, incident):
    created = start(api, incident)

    as_markdown = api.get(f"/api/postmortems/{created['id']}/export/", HTTP_ACCEPT="text/markdown")
    as_json = api.get(f"/api/postmortems/{created['id']}/export/", HTTP_ACCEPT="application/json")
    missing = api.get("/api/postmortems/999999/export/", HTTP_ACCEPT="application/json")

    assert as_markdown.status_code == as_json.status_code == 200
    assert as_json["Content-Type"] == "text/markdown; charset=utf-8"
    assert missing.status_code == 404 and "detail" in missing.json()


# --- Access and schema --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/postmortems/"),
        ("post", "/api/postmortems/"),
        ("get", "/api/postmortems/{id}/"),
        ("patch", "/api/postmortems/{id}/"),
        ("post", "/api/postmortems/{id}/status/"),
        ("get", "/api/postmortems/{id}/revisions/"),
        ("get", "/api/postmortems/{id}/diff/"),
        ("get", "/api/postmortems/{id}/export/"),
    ],
)
def test_the_api_needs_a_token(incident, method, path):
    postmortem = PostMortemFactory(incident=incident, summary="Before")

    response = getattr(APIClient(), method)(
        path.format(id=postmortem.pk), {"version": 1, "summary": "After", "status": "in_review"}, format="json"
    )

    assert response.status_code == 401
    assert PostMortem.objects.get().summary == "Before"
    assert PostMortem.objects.get().status == "draft"


def test_schema_describes_the_postmortem_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {
        "/api/postmortems/",
        "/api/postmortems/{id}/",
        "/api/postmortems/{id}/status/",
        "/api/postmortems/{id}/revisions/",
        "/api/postmortems/{id}/diff/",
        "/api/postmortems/{id}/export/",
    } <= set(schema["paths"])
    assert set(schema["paths"]["/api/postmortems/{id}/"]) - {"parameters"} == {"get", "patch"}
    assert {"200", "400", "409"} <= set(schema["paths"]["/api/postmortems/{id}/"]["patch"]["responses"])
    assert "text/markdown" in schema["paths"]["/api/postmortems/{id}/export/"]["get"]["responses"]["200"]["content"]


# --- Races (PostgreSQL) -------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_racing_starts_make_one_postmortem(live_server, token, incident):
    results = api_at_once("POST", [(f"{live_server.url}/api/postmortems/", {"incident": incident.pk})] * 10, token)

    assert sorted(status for status, _ in results) == [200] * 9 + [201], results
    assert len({answer["id"] for _, answer in results}) == 1
    assert PostMortem.objects.count() == 1 and PostMortemRevision.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_racing_edits_of_one_version_save_one_and_refuse_the_others(live_server, token, incident):
    postmortem, _ = services.postmortem_start(incident=incident)
    url = f"{live_server.url}/api/postmortems/{postmortem.pk}/"

    results = api_at_once("PATCH", [(url, {"version": 1, "summary": f"Edit {n}"}) for n in range(10)], token)

    assert sorted(status for status, _ in results) == [200] + [409] * 9, results
    winner = next(answer for status, answer in results if status == 200)
    postmortem.refresh_from_db()
    assert (postmortem.version, postmortem.summary) == (2, winner["summary"])
    assert all(answer["current_version"] == 2 for status, answer in results if status == 409)
    assert PostMortemRevision.objects.count() == 2
