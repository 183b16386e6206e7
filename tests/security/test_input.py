"""Issue #14, findings 4, 5, 9, 11 and 14: bad input gets a 400 (or a failed delivery, or an import
line with an error), never a 500, and the same rules hold on every path."""

import datetime as dt
import json

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.models import Alert
from deploys.factories import ChangeRecordFactory, DeployFactory, ServiceFactory
from deploys.models import Deploy
from incidents.factories import IncidentFactory
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.selectors import content_diff
from tests.support.deploys import run_import
from tests.support.hooks import post_alertmanager
from tests.support.incidents import edit_data_from_page
from tests.support.payloads import alertmanager as am
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db

UTC = dt.UTC
DEEP = "[" * 5000 + "]" * 5000  # 10 KB
DEPLOY = {"service": "web", "environment": "production", "version": "1.0", "deployer": "ana"}


@pytest.fixture
def superuser_api(django_user_model):
    from rest_framework.test import APIClient

    admin = django_user_model.objects.create_superuser(username="root", password="a-long-test-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(admin).key}")
    return client


@pytest.fixture
def alertmanager():
    ServiceFactory(slug="web")
    return IntegrationFactory(kind="alertmanager", name="Alertmanager prod")


def _write_urls() -> list[tuple[str, str]]:
    incident = IncidentFactory()
    postmortem = PostMortemFactory()
    remediation = RemediationFactory(postmortem=postmortem)
    deploy = DeployFactory()
    return [
        ("post", "/api/deploys/"),
        ("post", "/api/deploys/bulk/"),
        ("post", f"/api/deploys/{deploy.pk}/change-record/"),
        ("post", "/api/incidents/"),
        ("patch", f"/api/incidents/{incident.pk}/"),
        ("post", f"/api/incidents/{incident.pk}/timeline/"),
        ("post", "/api/postmortems/"),
        ("patch", f"/api/postmortems/{postmortem.pk}/"),
        ("post", "/api/remediations/"),
        ("patch", f"/api/remediations/{remediation.pk}/"),
        ("post", "/api/changes/"),
    ]


# --- #14.4: nesting depth ---------------------------------------------------------------------------


def test_deeply_nested_json_is_a_json_400_on_every_api_write(superuser_api):
    """#14.4: `[`×5000 + `]`×5000 (10 KB) was an HTML 500 (RecursionError) on every API write."""
    for method, url in _write_urls():
        response = getattr(superuser_api, method)(url, data=DEEP, content_type="application/json")

        assert response.status_code == 400, (url, response.status_code)
        assert response["Content-Type"].startswith("application/json"), url
        assert response.json() == {"detail": "JSON nested deeper than 64 levels."}, url


def test_json_nested_just_within_the_limit_is_parsed():
    """#14.4: the limit refuses only what is deeper than it."""
    from plumbing.jsoninput import MAX_DEPTH, JSONInputError, loads

    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert loads('{"a": "' + "[" * 1000 + '"}') == {"a": "[" * 1000}  # brackets inside a string don't nest
    assert loads(r'["\"[[[[", {"b": "\\"}]') == ['"[[[[', {"b": "\\"}]
    with pytest.raises(JSONInputError, match="nested deeper than 64 levels"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(JSONInputError, match="nested deeper"):
        loads('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))


def _counting_steps(monkeypatch) -> list[int]:
    """Counts the brackets the depth check walks one by one (its only per-character Python-level
    work): the rest is str and bytes methods, each one pass over the text."""
    from plumbing import jsoninput

    walked = [0]
    real = jsoninput.accumulate

    def accumulate(steps, **kwargs):
        for step in real(steps, **kwargs):
            walked[0] += 1
            yield step

    monkeypatch.setattr(jsoninput, "accumulate", accumulate)
    return walked


def test_the_depth_check_walks_each_bracket_once_and_stops_a_deep_body_at_its_first_chunk(monkeypatch):
    """#14.4: the depth check is linear: a 2 MB body of shallow arrays and strings full of brackets
    walks each bracket outside strings once, and a body as long of `[` is refused after one chunk.
    (The cost against json.loads is measured in bench/json_input.py.)"""
    from plumbing.jsoninput import _CHUNK, JSONInputError, loads

    walked = _counting_steps(monkeypatch)
    shallow = json.dumps([[["[{" * 20, i, {"k": [1, 2, 3]}]] for i in range(30_000)])
    assert len(loads(shallow)) == 30_000
    brackets_outside_strings = 2 + 30_000 * 8  # the outer pair; per item [[ ]], { } and [ ]
    # One initial value per chunk, then one step per bracket: the 1.2 M brackets inside strings are never walked.
    assert walked[0] == brackets_outside_strings + -(-brackets_outside_strings // _CHUNK)

    walked[0] = 0
    with pytest.raises(JSONInputError, match="nested deeper than 64 levels"):
        loads("[" * len(shallow))
    assert walked[0] <= _CHUNK + 1


def test_a_huge_deep_body_is_refused_by_the_api_after_one_chunk(api, settings, monkeypatch):
    """#14.4: 2 MB of `[` is a 400 after the first chunk of the depth check; 2 MB of `[]` (shallow,
    all brackets) is walked once and refused by the serializer, never a 500."""
    from plumbing.jsoninput import _CHUNK

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
    size = 2 * 1024 * 1024
    walked = _counting_steps(monkeypatch)

    response = api.post("/api/deploys/", data="[" * size, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 64 levels."}
    assert walked[0] <= _CHUNK + 1

    walked[0] = 0
    brackets = "[" + "[]," * (size // 3) + "[]]"
    response = api.post("/api/deploys/", data=brackets, content_type="application/json")
    assert response.status_code == 400
    count = brackets.count("[") + brackets.count("]")
    assert walked[0] == count + -(-count // _CHUNK)


def test_a_deeply_nested_webhook_fails_with_the_reason_and_is_not_retried(client, alertmanager):
    """#14.4: a hook body nested too deep fails its delivery with the reason, once; its page shows it."""
    body = json.dumps({"version": "4", "alerts": [am.alert()], "x": json.loads("[" * 100 + "]" * 100)}).encode()

    response = post_alertmanager(client, body)

    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert "nested deeper than 64 levels" in delivery.outcome
    assert delivery_replay(delivery=delivery).retry is False
    assert not Alert.objects.exists()


def test_a_deeply_nested_incident_edit_state_is_not_a_500(logged_in):
    """#14.4: the incident editor's hidden `base_state` JSON, nested 5000 deep, was a 500."""

    incident = IncidentFactory(title="Checkout down")
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")

    response = logged_in.post(
        f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, title="Checkout is down", base_state=DEEP)
    )

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Checkout is down"


# --- #14.5: lone surrogates -------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_signed_webhook_fails_the_delivery_and_its_page_shows(client, alertmanager):
    """#14.5: `\\ud800` in a signed webhook made the delivery's page a 500 and was retried as transient."""
    alert = am.alert(extra_labels={"team": "web\ud800"})
    body = json.dumps(am.notification([alert])).encode()
    assert b"\\ud800" in body

    post_alertmanager(client, body)

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert "lone surrogate" in delivery.outcome and "alerts.0.labels.team" in delivery.outcome
    assert delivery_replay(delivery=delivery).retry is False
    assert not Alert.objects.exists()
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser(username="opsadmin", password="a-long-test-password")
    client.force_login(admin)
    page = client.get(f"/integrations/deliveries/{delivery.pk}/")
    assert page.status_code == 200
    assert "\\ud800" in page.content.decode()


def test_a_lone_surrogate_in_a_pagerduty_event_id_is_stored_and_fails_not_a_500(client):
    """#14.5: the PagerDuty event id names the delivery; a lone surrogate there can't be stored."""
    from tests.incidents.test_hooks_pagerduty import post
    from tests.support.payloads import pagerduty as pd

    IntegrationFactory(kind="pagerduty", name="PagerDuty")

    response = post(client, pd.triggered(event_id="01BZX6\udc00"))

    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert "lone surrogate" in delivery.outcome and "event.id" in delivery.outcome


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/incidents/", '{"title": "Down", "\\ud800": 1}'),
        ("/api/incidents/", '{"title": "Down \\udfff", "severity": 2, "started_at": "2024-01-01T00:00:00Z"}'),
        ("/api/deploys/", '{"service": "web", "environment": "production", "version": "1", "deployer": "a\\ud800"}'),
    ],
)
def test_a_lone_surrogate_in_an_api_body_is_a_400_naming_where(api, url, body):
    """#14.5: a lone surrogate anywhere in an API body (a key too) is a 400 naming where it is."""
    response = api.post(url, data=body, content_type="application/json")

    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]


def test_a_surrogate_pair_is_text_not_a_problem(api):
    """#14.5: an escaped emoji (a valid surrogate pair) is fine."""
    body = '{"service": "web", "environment": "production", "version": "1", "deployer": "ana \\ud83d\\ude80"}'

    response = api.post("/api/deploys/", data=body, content_type="application/json")

    assert response.status_code == 201
    assert Deploy.objects.get().deployer == "ana \U0001f680"


# --- #14.9: Alertmanager times ------------------------------------------------------------------------


def test_an_alert_starting_in_the_future_fails_the_delivery(client, alertmanager):
    """#14.9: a `startsAt` in 2999 was stored and counted as fired in that month's review."""
    post_alertmanager(client, am.notification([am.alert(starts_at="2999-01-01T00:00:00Z")]))

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome == "alerts[0].startsAt is in the future: 2999-01-01T00:00:00Z."
    assert delivery_replay(delivery=delivery).retry is False
    assert not Alert.objects.exists()


def test_an_alert_starting_a_minute_ahead_is_clock_drift(client, alertmanager):
    """#14.9: the deploys' slack for a sender's clock running ahead holds for alerts too."""
    soon = (timezone.now() + dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z")

    post_alertmanager(client, am.notification([am.alert(starts_at=soon)]))

    assert Delivery.objects.get().status == Delivery.Status.PROCESSED


def test_an_alert_ending_before_it_starts_fails_the_delivery(client, alertmanager):
    """#14.9: an `endsAt` before `startsAt` was stored and made median_firing_seconds negative."""
    alert = am.alert(status="resolved", starts_at="2024-01-15T10:00:00Z", ends_at="2024-01-15T09:00:00Z")

    post_alertmanager(client, am.notification([alert]))

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome == (
        "alerts[0].endsAt (2024-01-15T09:00:00Z) is before alerts[0].startsAt (2024-01-15T10:00:00Z)."
    )
    assert not Alert.objects.exists()


# --- #14.11: import_deploys ---------------------------------------------------------------------------


def test_import_deploys_refuses_a_future_time_on_its_line(tmp_path):
    """#14.11: `import_deploys` accepted a deploy dated 2999, which the API and the webhooks refuse."""
    path = tmp_path / "deploys.log"
    path.write_text(
        "[web] | 2010-05-18 09:00:00 | PRODUCTION | alice | Production Deploy: old 1, new: 2\n"
        "[web] | 2999-05-18 09:00:00 | PRODUCTION | bob | Production Deploy: old 2, new: 3\n"
    )
    csv = tmp_path / "deploys.csv"
    csv.write_text("service,environment,deployed_at,deployer,version\nweb,production,2999-01-01T00:00:00Z,carol,9\n")

    out, err, error = run_import(path)
    out_csv, err_csv, _ = run_import(csv)

    assert error is not None
    assert err.splitlines() == ["line 2: deployed_at: A deploy can't have gone live in the future."]
    assert err_csv.splitlines() == ["line 2: deployed_at: A deploy can't have gone live in the future."]
    assert list(Deploy.objects.values_list("version", flat=True)) == ["2"]


def test_a_deployinator_line_without_its_new_version_is_an_error(tmp_path):
    """#14.11: "Princess Deploy: old: 25134, new:" was imported with the version `:`."""
    path = tmp_path / "deploys.log"
    path.write_text("[web] | 2010-05-18 09:00:00 | PRINCESS | alice | Princess Deploy: old: 25134, new:\n")

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == ["line 1: no new version after 'new' in the message"]
    assert not Deploy.objects.exists()


# --- #14.14: types, tracker_url, the history diff, the browsable API's CSP ---------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration_seconds": True}, "duration_seconds"),
        ({"duration_seconds": "12"}, "duration_seconds"),
        ({"message": 1}, "message"),
        ({"external_id": 5}, "external_id"),
        ({"diff_url": False}, "diff_url"),
        ({"commits": [{"sha": "abcdef1", "message": 1}]}, "commits"),
        ({"change_record": True}, "change_record"),
        ({"change_record": "RECORD"}, "change_record"),
    ],
)
def test_booleans_and_numbers_are_refused_where_a_number_or_text_is_expected(api, changes, field):
    """#14.14: `duration_seconds: true` was stored as 1.0 and `"12"` accepted; `message: 1` stored as "1"."""
    if changes.get("change_record") == "RECORD":
        changes = {"change_record": str(ChangeRecordFactory().pk)}
    single = api.post("/api/deploys/", {**DEPLOY, **changes}, format="json")
    bulk = api.post("/api/deploys/bulk/", {"deploys": [{**DEPLOY, **changes}]}, format="json")

    assert single.status_code == 400, single.json()
    assert field in single.json()
    assert bulk.status_code == 400
    assert field in bulk.json()["deploys"]["0"]
    assert not Deploy.objects.exists()


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/incidents/", {"title": 5, "severity": 2}, "title"),
        ("/api/incidents/", {"title": "Down", "severity": True}, "severity"),
        ("/api/incidents/", {"title": "Down", "severity": "2"}, "severity"),
        ("/api/incidents/", {"title": "Down", "severity": 2, "participants": ["ana", 7]}, "participants"),
        (
            "/api/changes/",
            {"title": 1, "owner": "ana", "done_before": "y", "failure_impact": "x", "failure_response": "z"},
            "title",
        ),
        (
            "/api/changes/",
            {"title": "t", "owner": "ana", "done_before": True, "failure_impact": "x", "failure_response": "z"},
            "done_before",
        ),
    ],
)
def test_other_apis_refuse_booleans_and_numbers_too(api, url, body, field):
    """#14.14: the same strictness on the other write APIs."""
    response = api.post(url, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()


@override_settings(OPSLOG_TRACKER_URL="https://tracker.example.com/browse/{key}")
@pytest.mark.parametrize(
    ("ref", "url"),
    [
        ("OPS-123", "https://tracker.example.com/browse/OPS-123"),
        ('OPS-1"<script>', None),
        ('"><img src=x>', None),
        ("https://tracker.example.com/OPS-1", "https://tracker.example.com/OPS-1"),
        ('https://x.example/"><script>', None),
        ("not a key", None),
    ],
)
def test_tracker_url_is_built_only_from_a_valid_key(api, ref, url):
    """#14.14: the API's tracker_url echoed a tracker_ref containing `"` and `<`."""
    remediation = RemediationFactory(tracker_ref=ref)

    response = api.get(f"/api/remediations/{remediation.pk}/")

    assert response.json()["tracker_url"] == url


def test_the_history_diff_shows_control_characters_without_breaking_its_markup():
    """#14.14: a `\\x01` in post-mortem text left a stray `</span>` in the history diff."""
    [summary] = [
        diff for diff in content_diff({"summary": "one\x01two\x00"}, {"summary": "one\x01three"}) if diff.changed
    ]

    assert summary.html.count("<span") == summary.html.count("</span>")
    assert "\x01" not in summary.html and "\x00" not in summary.html
    assert "one\u2401" in summary.html


def test_the_browsable_api_has_no_inline_style(superuser_api):
    """#14.14: the browsable API pages broke the CSP (style-src 'self') with inline styles."""
    incident = IncidentFactory()
    remediation = RemediationFactory()
    pages = ["/api/", "/api/deploys/", f"/api/deploys/{DeployFactory().pk}/", "/api/incidents/"]
    pages += [f"/api/incidents/{incident.pk}/", f"/api/incidents/{incident.pk}/timeline/", "/api/changes/"]
    pages += ["/api/postmortems/", "/api/remediations/", f"/api/remediations/{remediation.pk}/"]
    for page in pages:
        response = superuser_api.get(page, HTTP_ACCEPT="text/html")

        html = response.content.decode()
        assert response.status_code == 200, page
        assert response["Content-Type"].startswith("text/html"), page
        assert "style-src 'self'" in response["Content-Security-Policy"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "<style" not in html, page
        assert " style=" not in html, page


def test_alerts_stored_with_a_lone_surrogate_are_made_printable_by_the_migration(
    client, alertmanager, django_user_model
):
    """#14.5: before the fix an alert could be stored with `\\ud800` in a label (SQLite keeps the
    escape; PostgreSQL's jsonb refuses it, so there is nothing to fix there), and its page was a 500."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("alerts.migrations.0003_input_printable_alert_labels")
    team = "web\ud800" if connection.vendor == "sqlite" else "web"
    alert = Alert.objects.create(
        fingerprint="f00d",
        starts_at=dt.datetime(2024, 1, 15, tzinfo=UTC),
        status="firing",
        labels={"alertname": "HighErrorRate", "team": team},
        annotations={"summary": team},
        integration=alertmanager,
    )

    # What RunPython hands it, less the schema editor's DDL (SQLite's can't open in a test's transaction).
    migration.printable_labels(apps, SimpleNamespace(connection=connection))

    alert.refresh_from_db()
    expected = "web\\ud800" if connection.vendor == "sqlite" else "web"
    assert alert.labels == {"alertname": "HighErrorRate", "team": expected}
    assert alert.annotations == {"summary": expected}
    client.force_login(django_user_model.objects.create_superuser(username="root2", password="a-long-test-password"))
    assert client.get(f"/alerts/{alert.pk}/").status_code == 200
