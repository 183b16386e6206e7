import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from postmortems.api.serializers import RemediationInputSerializer, RemediationUpdateSerializer
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import Remediation
from postmortems.services import REMEDIATION_EDITABLE
from tests.support.times import iso

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


@pytest.fixture
def postmortem(web):
    return PostMortemFactory(incident=IncidentFactory(title="Checkout returns 502", services=[web]))


def payload(pm, **overrides):
    data = {"postmortem": pm.pk, "description": "Alert on the checkout error rate", "kind": "ops"}
    data.update(overrides)
    return data


# --- Create -------------------------------------------------------------------------------------


def test_post_adds_a_remediation_and_returns_every_field(api, user, postmortem, settings):
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    user.first_name, user.last_name = "Erin", "Kastner"
    user.save()

    response = api.post(
        "/api/remediations/",
        payload(
            postmortem,
            description="Alert on 502s, see OPS-9 <b>now</b>",
            kind="dev",
            owner="ekastner",
            due_date=days(14).isoformat(),
            status="in_progress",
            tracker_ref="OPS-123",
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    remediation = Remediation.objects.get()
    assert list(body) == [
        "id",
        "url",
        "postmortem",
        "postmortem_url",
        "incident",
        "incident_title",
        "services",
        "description",
        "description_html",
        "kind",
        "kind_label",
        "owner",
        "owner_name",
        "owner_display",
        "due_date",
        "status",
        "status_label",
        "wont_do_reason",
        "tracker_ref",
        "tracker_url",
        "is_overdue",
        "done_on_time",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    assert body["id"] == remediation.pk
    assert body["url"] == f"http://testserver/api/remediations/{remediation.pk}/"
    assert body["postmortem"] == postmortem.pk
    assert body["postmortem_url"] == f"http://testserver/api/postmortems/{postmortem.pk}/"
    assert (body["incident"], body["incident_title"], body["services"]) == (
        postmortem.incident_id,
        "Checkout returns 502",
        ["web"],
    )
    assert body["description"] == "Alert on 502s, see OPS-9 <b>now</b>"
    assert body["description_html"] == (
        'Alert on 502s, see <a href="https://tracker.example.com/browse/OPS-9" rel="noopener noreferrer nofollow">'
        "OPS-9</a> &lt;b&gt;now&lt;/b&gt;"
    )
    assert (body["kind"], body["kind_label"]) == ("dev", "Dev")
    assert (body["owner"], body["owner_name"], body["owner_display"]) == ("ekastner", "", "Erin Kastner")
    assert body["due_date"] == days(14).isoformat()
    assert (body["status"], body["status_label"]) == ("in_progress", "In progress")
    assert (body["tracker_ref"], body["tracker_url"]) == ("OPS-123", "https://tracker.example.com/browse/OPS-123")
    assert (body["is_overdue"], body["done_on_time"], body["completed_at"]) == (False, None, None)
    assert body["created_at"] == iso(remediation.created_at)
    assert (remediation.owner, remediation.kind, remediation.postmortem) == (user, "dev", postmortem)


def test_defaults_and_an_owner_who_is_just_a_name(api, postmortem):
    response = api.post("/api/remediations/", payload(postmortem, owner_name="Sam from the DBA team"), format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["owner"], body["owner_name"], body["owner_display"]) == (
        None,
        "Sam from the DBA team",
        "Sam from the DBA team",
    )
    assert (body["status"], body["due_date"], body["tracker_ref"], body["tracker_url"]) == ("open", None, "", None)
    assert body["is_overdue"] is False


def test_tracker_url_needs_the_template_unless_the_reference_is_a_web_address(api, postmortem, settings):
    settings.OPSLOG_TRACKER_URL = ""
    key = api.post("/api/remediations/", payload(postmortem, tracker_ref="OPS-1"), format="json").json()
    link = api.post(
        "/api/remediations/", payload(postmortem, tracker_ref="https://github.com/acme/web/issues/7"), format="json"
    ).json()

    assert key["tracker_url"] is None
    assert link["tracker_url"] == "https://github.com/acme/web/issues/7"


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"postmortem": 999999}, "postmortem", "No post-mortem with id 999999."),
        ({"postmortem": "abc"}, "postmortem", "Give the post-mortem's id, a number."),
        ({"description": ""}, "description", "may not be blank"),
        ({"description": "   "}, "description", "may not be blank"),
        ({"kind": "qa"}, "kind", "not a valid choice"),
        ({"owner": "nobody"}, "owner", 'No user with username "nobody".'),
        ({"owner_name": "Sam\nBcc: x@example.com"}, "owner_name", "single line"),
        ({"due_date": "18/05/2024"}, "due_date", "YYYY-MM-DD"),
        ({"due_date": "2024-05-18T10:00:00Z"}, "due_date", "YYYY-MM-DD"),
        ({"due_date": "9999-01-01"}, "due_date", "between 1970 and 2999"),
        ({"status": "finished"}, "status", "not a valid choice"),
        ({"status": "wont_do"}, "wont_do_reason", "Say why it won't be done."),
        ({"status": "wont_do", "wont_do_reason": "  "}, "wont_do_reason", "Say why it won't be done."),
        ({"tracker_ref": "x" * 101}, "tracker_ref", "no more than 100"),
        ({"tracker_ref": "OPS-1\r\nX"}, "tracker_ref", "single line"),
        ({"is_overdue": False}, "is_overdue", "read-only"),
        ({"completed_at": "2024-07-01T10:00:00Z"}, "completed_at", "stamped when the status becomes done"),
        ({"tracker_url": "https://x"}, "tracker_url", "read-only"),
        ({"id": 7}, "id", "read-only"),
        ({"ownr": "x"}, "ownr", "Unknown field."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, postmortem, overrides, field, fragment):
    response = api.post("/api/remediations/", payload(postmortem, **overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in str(response.json()[field])
    assert Remediation.objects.count() == 0


def test_missing_fields_are_a_400(api):
    response = api.post("/api/remediations/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "postmortem": ["This field is required."],
        "description": ["This field is required."],
        "kind": ["This field is required."],
    }


def test_malformed_bodies_are_a_400_not_a_500(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem)

    assert api.post("/api/remediations/", "{not json", content_type="application/json").status_code == 400
    assert api.post("/api/remediations/", [payload(postmortem)], format="json").status_code == 400
    assert api.patch(f"/api/remediations/{remediation.pk}/", [1], format="json").status_code == 400


def test_input_takes_exactly_the_fields_the_service_can_write():
    assert set(RemediationInputSerializer().fields) == set(REMEDIATION_EDITABLE) | {"postmortem"}
    assert set(RemediationUpdateSerializer().fields) == set(REMEDIATION_EDITABLE)


# --- Change and delete --------------------------------------------------------------------------


def test_marking_done_stamps_completed_at_and_reopening_clears_it(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem, due_date=days(3))
    before = timezone.now()

    done = api.patch(f"/api/remediations/{remediation.pk}/", {"status": "done"}, format="json")

    assert done.status_code == 200, done.content
    remediation.refresh_from_db()
    assert before <= remediation.completed_at <= timezone.now()
    assert (done.json()["status"], done.json()["done_on_time"]) == ("done", True)
    assert done.json()["completed_at"] == iso(remediation.completed_at)
    reopened = api.patch(f"/api/remediations/{remediation.pk}/", {"status": "open"}, format="json").json()
    assert (reopened["completed_at"], reopened["done_on_time"]) == (None, None)


def test_done_after_the_due_date_is_late(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem, due_date=days(-3))
    assert api.get(f"/api/remediations/{remediation.pk}/").json()["is_overdue"] is True

    body = api.patch(f"/api/remediations/{remediation.pk}/", {"status": "done"}, format="json").json()

    assert (body["done_on_time"], body["is_overdue"]) == (False, False)


def test_patch_changes_only_the_fields_sent(api, user, postmortem):
    remediation = RemediationFactory(postmortem=postmortem, kind="dev", owner_name="sam", due_date=days(5))

    body = api.patch(
        f"/api/remediations/{remediation.pk}/", {"owner": "ekastner", "due_date": days(9).isoformat()}, format="json"
    ).json()

    remediation.refresh_from_db()
    # A user as owner replaces the name; the fields not sent stay.
    assert (remediation.owner, remediation.owner_name, remediation.kind) == (user, "", "dev")
    assert body["due_date"] == days(9).isoformat()
    cleared = api.patch(f"/api/remediations/{remediation.pk}/", {"owner": None, "due_date": None}, format="json")
    assert (cleared.json()["owner"], cleared.json()["due_date"]) == (None, None)


def test_wont_do_keeps_its_reason_until_reopened(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem)

    refused = api.patch(f"/api/remediations/{remediation.pk}/", {"status": "wont_do"}, format="json")
    wont = api.patch(
        f"/api/remediations/{remediation.pk}/",
        {"status": "wont_do", "wont_do_reason": "The service is retired."},
        format="json",
    )

    assert refused.status_code == 400 and list(refused.json()) == ["wont_do_reason"]
    assert wont.status_code == 200
    assert (wont.json()["status"], wont.json()["wont_do_reason"]) == ("wont_do", "The service is retired.")
    reopened = api.patch(f"/api/remediations/{remediation.pk}/", {"status": "open"}, format="json").json()
    assert reopened["wont_do_reason"] == ""


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"postmortem": 1}, "postmortem", "stays with its post-mortem"),
        ({"description": ""}, "description", "may not be blank"),
        ({"kind": "both"}, "kind", "not a valid choice"),
        ({"owner": "nobody"}, "owner", "No user with username"),
        ({"due_date": "tomorrow"}, "due_date", "YYYY-MM-DD"),
        ({"completed_at": None}, "completed_at", "read-only"),
    ],
)
def test_bad_patch_is_a_400_and_saves_nothing(api, postmortem, changes, field, fragment):
    remediation = RemediationFactory(postmortem=postmortem, description="Before")

    response = api.patch(f"/api/remediations/{remediation.pk}/", {"description": "After", **changes}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in str(response.json()[field])
    assert Remediation.objects.get().description == "Before"


def test_delete(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem)

    assert api.delete(f"/api/remediations/{remediation.pk}/").status_code == 204
    assert Remediation.objects.count() == 0
    assert api.delete(f"/api/remediations/{remediation.pk}/").status_code == 404


def test_unknown_remediation_is_a_404_and_put_is_not_offered(api, postmortem):
    remediation = RemediationFactory(postmortem=postmortem)

    assert api.get("/api/remediations/999999/").status_code == 404
    assert api.patch("/api/remediations/999999/", {"status": "done"}, format="json").status_code == 404
    assert api.put(f"/api/remediations/{remediation.pk}/", payload(postmortem), format="json").status_code == 405


# --- List and follow-through --------------------------------------------------------------------


@pytest.fixture
def varied(web, user, django_user_model):
    user.first_name, user.last_name = "Erin", "Kastner"
    user.save()
    search = ServiceFactory(slug="search")
    on_web = PostMortemFactory(incident=IncidentFactory(services=[web]))
    on_search = PostMortemFactory(incident=IncidentFactory(services=[search, web]))
    on_nothing = PostMortemFactory(incident=IncidentFactory())
    due_late = timezone.now() - dt.timedelta(days=1)
    return {
        "overdue-old": RemediationFactory(postmortem=on_web, kind="dev", owner=user, due_date=days(-10)),
        "overdue": RemediationFactory(
            postmortem=on_search, kind="ops", owner_name="Sam", due_date=days(-1), status="in_progress"
        ),
        "open-soon": RemediationFactory(postmortem=on_web, kind="ops", owner_name="sam", due_date=days(2)),
        "open-later": RemediationFactory(postmortem=on_nothing, kind="dev", owner_name="", due_date=days(30)),
        "open-undated": RemediationFactory(postmortem=on_search, kind="dev", owner=user, due_date=None),
        "done-on-time": RemediationFactory(
            postmortem=on_web,
            kind="dev",
            owner_name="sam",
            due_date=days(-5),
            status="done",
            completed_at=timezone.now() - dt.timedelta(days=6),
        ),
        "done-late": RemediationFactory(
            postmortem=on_search, kind="ops", owner=user, due_date=days(-3), status="done", completed_at=due_late
        ),
        "wont-do": RemediationFactory(
            postmortem=on_nothing,
            kind="ops",
            owner_name="sam",
            due_date=days(-20),
            status="wont_do",
            wont_do_reason="Retired.",
        ),
    }


def _names(varied, api, query=""):
    response = api.get(f"/api/remediations/?{query}")
    assert response.status_code == 200, response.content
    by_id = {r.pk: name for name, r in varied.items()}
    return [by_id[item["id"]] for item in response.json()["results"]]


def test_list_shows_open_ones_first_overdue_first(api, varied):
    names = _names(varied, api)

    assert names[:5] == ["overdue-old", "overdue", "open-soon", "open-later", "open-undated"]
    assert set(names[5:]) == {"done-on-time", "done-late", "wont-do"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=dev", {"overdue-old", "open-later", "open-undated", "done-on-time"}),
        ("kind=ops", {"overdue", "open-soon", "done-late", "wont-do"}),
        ("status=open", {"overdue-old", "open-soon", "open-later", "open-undated"}),
        ("status=wont_do", {"wont-do"}),
        ("service=search", {"overdue", "open-undated", "done-late"}),
        ("service=web", {"overdue-old", "overdue", "open-soon", "open-undated", "done-on-time", "done-late"}),
        ("overdue=true", {"overdue-old", "overdue"}),
        ("overdue=false", {"open-soon", "open-later", "open-undated", "done-on-time", "done-late", "wont-do"}),
        ("owner=ekastner", {"overdue-old", "open-undated", "done-late"}),
        ("owner=EKASTNER", {"overdue-old", "open-undated", "done-late"}),
        ("owner=erin%20kastner", {"overdue-old", "open-undated", "done-late"}),
        ("owner=sam", {"overdue", "open-soon", "done-on-time", "wont-do"}),
        ("owner=%20Sam%20", {"overdue", "open-soon", "done-on-time", "wont-do"}),
        ("owner=nobody", set()),
        ("kind=ops&overdue=true&service=web", {"overdue"}),
    ],
)
def test_list_filters(api, varied, query, expected):
    names = _names(varied, api, query)

    assert len(names) == len(set(names))
    assert set(names) == expected


def test_list_filters_by_postmortem(api, varied):
    postmortem = varied["open-later"].postmortem

    assert _names(varied, api, f"postmortem={postmortem.pk}") == ["open-later", "wont-do"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=qa", "kind"),
        ("status=closed", "status"),
        ("service=nope", "service"),
        ("overdue=perhaps", "overdue"),
        ("overdue=1", "overdue"),
        ("postmortem=999999", "postmortem"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, varied, query, field):
    for path in ("/api/remediations/", "/api/remediations/follow-through/"):
        response = api.get(f"{path}?{query}")

        assert response.status_code == 400
        assert list(response.json()) == [field]


def test_follow_through_counts_open_overdue_and_done_on_time(api, varied):
    body = api.get("/api/remediations/follow-through/").json()

    assert body == {"open": 5, "overdue": 2, "done": 2, "done_on_time": 1, "done_late": 1, "on_time_rate": 0.5}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=ops", {"open": 2, "overdue": 1, "done": 1, "done_on_time": 0, "done_late": 1, "on_time_rate": 0.0}),
        (
            "service=search",
            {"open": 2, "overdue": 1, "done": 1, "done_on_time": 0, "done_late": 1, "on_time_rate": 0.0},
        ),
        ("owner=sam", {"open": 2, "overdue": 1, "done": 1, "done_on_time": 1, "done_late": 0, "on_time_rate": 1.0}),
        (
            "kind=dev&status=open",
            {"open": 3, "overdue": 1, "done": 0, "done_on_time": 0, "done_late": 0, "on_time_rate": None},
        ),
    ],
)
def test_follow_through_takes_the_list_filters(api, varied, query, expected):
    assert api.get(f"/api/remediations/follow-through/?{query}").json() == expected


def test_follow_through_of_nothing(api):
    assert api.get("/api/remediations/follow-through/").json() == {
        "open": 0,
        "overdue": 0,
        "done": 0,
        "done_on_time": 0,
        "done_late": 0,
        "on_time_rate": None,
    }


def _queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(api, user, django_assert_max_num_queries):
    def add(n):
        postmortem = PostMortemFactory(incident=IncidentFactory(services=[ServiceFactory(), ServiceFactory()]))
        RemediationFactory(postmortem=postmortem, owner=user, due_date=days(n - 5))
        RemediationFactory(postmortem=postmortem, owner_name="sam", kind="ops")

    for n in range(2):
        add(n)
    few = _queries(api, "/api/remediations/?page_size=100")
    for n in range(25):
        add(n)
    many = _queries(api, "/api/remediations/?page_size=100")
    filtered = _queries(api, "/api/remediations/?page_size=100&owner=sam&overdue=false&kind=ops")

    assert many == few
    assert filtered <= few
    # Token, count, remediations (with owners, post-mortems and incidents), the incidents' services.
    with django_assert_max_num_queries(4):
        body = api.get("/api/remediations/?page_size=100").json()
    assert body["count"] == 54
    assert all(len(item["services"]) == 2 for item in body["results"])
    with django_assert_max_num_queries(2):
        api.get("/api/remediations/follow-through/?owner=sam")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/remediations/"),
        ("post", "/api/remediations/"),
        ("get", "/api/remediations/{id}/"),
        ("patch", "/api/remediations/{id}/"),
        ("delete", "/api/remediations/{id}/"),
        ("get", "/api/remediations/follow-through/"),
    ],
)
def test_the_api_needs_a_token(postmortem, method, path):
    remediation = RemediationFactory(postmortem=postmortem, description="Before")

    response = getattr(APIClient(), method)(
        path.format(id=remediation.pk),
        {"postmortem": postmortem.pk, "description": "After", "kind": "dev"},
        format="json",
    )

    assert response.status_code == 401
    assert list(Remediation.objects.values_list("description", flat=True)) == ["Before"]


def test_schema_describes_the_remediation_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {"/api/remediations/", "/api/remediations/{id}/", "/api/remediations/follow-through/"} <= set(
        schema["paths"]
    )
    assert set(schema["paths"]["/api/remediations/{id}/"]) - {"parameters"} == {"get", "patch", "delete"}
    parameters = {p["name"] for p in schema["paths"]["/api/remediations/follow-through/"]["get"]["parameters"]}
    assert {"owner", "kind", "status", "service", "overdue", "postmortem"} <= parameters
