"""CDEvents out (integrations/cdevents_out): deploys and incident stages posted to CDEvents sinks as
binary-mode CloudEvents, each once, in order per record, retried with backoff; checked against the
CDEvents v0.4.1 schemas (written below from the spec's files) and Opslog's own customData schemas."""

import datetime as dt
import hashlib
import hmac
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.conf import settings as django_settings
from django.db import connection

from deploys.contract import DeployInput
from deploys.factories import ServiceFactory
from deploys.services import deploy_record
from incidents.services import IncidentInput, incident_create, incident_link_deploy, incident_stamp
from integrations.admin import CDEventSinkForm, CDEventSinkHostForm
from integrations.cdevents_out import services as cdevents_out
from integrations.models import CDEventSink, CDEventSinkHost, Delivery
from integrations.tasks import cdevents_retry_countdown
from tests.support.fake_cdevents_sink import FakeCDEventsSink

pytestmark = pytest.mark.django_db

UTC = dt.UTC
ALL_EVENTS = [choice for choice, _ in CDEventSink.Event.choices]
STATIC = Path(django_settings.BASE_DIR) / "static" / "opslog" / "cdevents"

# --- The CDEvents v0.4.1 schemas, written from github.com/cdevents/spec at tag v0.4.1:
# schemas/servicedeployed.json, serviceupgraded.json, servicerolledback.json (type version 0.2.0)
# and incidentdetected.json, incidentreported.json, incidentresolved.json (0.2.0). The same
# context and subject rules, additionalProperties false as there; `links` left out (Opslog sends none).
_NON_EMPTY = {"type": "string", "minLength": 1}
_REF = {
    "type": "object",
    "properties": {"id": _NON_EMPTY, "source": _NON_EMPTY},
    "required": ["id"],
    "additionalProperties": False,
}


def cdevents_schema(type_: str, subject_type: str, content: dict, required: list[str]) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["context", "subject"],
        "properties": {
            "context": {
                "type": "object",
                "additionalProperties": False,
                "required": ["version", "id", "source", "type", "timestamp"],
                "properties": {
                    "version": _NON_EMPTY,
                    "id": _NON_EMPTY,
                    "source": {**_NON_EMPTY, "format": "uri-reference"},
                    "type": {"type": "string", "enum": [type_]},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "schemaUri": {**_NON_EMPTY, "format": "uri"},
                    "chainId": _NON_EMPTY,
                },
            },
            "subject": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "type", "content"],
                "properties": {
                    "id": _NON_EMPTY,
                    "source": {**_NON_EMPTY, "format": "uri-reference"},
                    "type": {"type": "string", "minLength": 1, "enum": [subject_type]},
                    "content": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": required,
                        "properties": content,
                    },
                },
            },
            "customData": {"oneOf": [{"type": "object"}, {"type": "string", "contentEncoding": "base64"}]},
            "customDataContentType": {"type": "string"},
        },
    }


_SERVICE = {"environment": _REF, "artifactId": _NON_EMPTY}
_INCIDENT = {"description": {"type": "string"}, "environment": _REF, "service": _REF, "artifactId": _NON_EMPTY}
SCHEMAS = {
    f"dev.cdevents.service.{p}.0.2.0": cdevents_schema(
        f"dev.cdevents.service.{p}.0.2.0", "service", _SERVICE, ["environment", "artifactId"]
    )
    for p in ("deployed", "upgraded", "rolledback")
}
SCHEMAS |= {
    f"dev.cdevents.incident.{p}.0.2.0": cdevents_schema(
        f"dev.cdevents.incident.{p}.0.2.0", "incident", _INCIDENT, ["environment"]
    )
    for p in ("detected", "resolved")
}
SCHEMAS["dev.cdevents.incident.reported.0.2.0"] = cdevents_schema(
    "dev.cdevents.incident.reported.0.2.0",
    "incident",
    {**_INCIDENT, "ticketURI": {**_NON_EMPTY, "format": "uri"}},
    ["environment", "ticketURI"],
)
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def assert_formats(cdevent: dict) -> None:
    """The schemas' `format`s, checked here: jsonschema checks date-time and uri only when optional
    packages are installed, which they aren't."""
    dt.datetime.fromisoformat(cdevent["context"]["timestamp"])
    content = cdevent["subject"]["content"]
    for uri in (cdevent["context"].get("schemaUri"), content.get("ticketURI")):
        if uri is not None:
            parts = urlsplit(uri)
            assert parts.scheme and (parts.netloc or parts.path), uri  # absolute


def assert_valid(event: dict) -> None:
    """Valid against its type's CDEvents schema and, by its schemaUri, Opslog's customData schema."""
    cdevent = event["data"]
    jsonschema.Draft202012Validator(SCHEMAS[event["type"]], format_checker=FORMATS).validate(cdevent)
    assert_formats(cdevent)
    assert cdevent["context"]["version"] == "0.4.1"
    schema_uri = cdevent["context"]["schemaUri"]
    name = schema_uri.rsplit("/", 1)[1]
    assert schema_uri == f"https://opslog.example.com/static/opslog/cdevents/{name}"
    own = json.loads((STATIC / name).read_text())
    jsonschema.Draft202012Validator(own, format_checker=FORMATS).validate(cdevent)
    # Binary mode: the CloudEvent's attributes are the CDEvent's context.
    assert event["id"] == cdevent["context"]["id"]
    assert event["source"] == cdevent["context"]["source"]
    assert event["headers"]["ce-specversion"] == "1.0"
    assert event["headers"]["content-type"] == "application/json"


@pytest.fixture
def sink_server(settings):
    fake = FakeCDEventsSink().start()
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = [fake.host]
    settings.OPSLOG_CDEVENTS_RETRY_DELAY = 0
    settings.OPSLOG_CDEVENTS_TIMEOUT = 0.5
    yield fake
    fake.stop()
    assert fake.problems == [], fake.problems


@pytest.fixture
def sink(sink_server):
    return CDEventSink.objects.create(name="CDviz", url=sink_server.url, events=ALL_EVENTS)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what a block queued for after commit, as a real commit would (tasks run in-process)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def deploy(commit, version: str, *, status: str = "succeeded", environment: str = "production", at=None):
    with commit():
        made, _ = deploy_record(
            data=DeployInput(
                service="web",
                environment=environment,
                version=version,
                deployer="ekastner",
                status=status,
                deployed_at=at,
            )
        )
    return made


def file_incident(commit, **fields):
    now = dt.datetime.now(UTC)
    data = {
        "title": "Checkout down",
        "started_at": now - dt.timedelta(minutes=20),
        "detected_at": now - dt.timedelta(minutes=15),
    }
    with commit():
        incident, _ = incident_create(data=IncidentInput(**(data | fields)))
    return incident


def outgoing(sink) -> list[Delivery]:
    return list(Delivery.objects.filter(sink=sink).order_by("id"))


# --- Deploys ------------------------------------------------------------------------------------


def test_deploys_are_sent_as_deployed_then_upgraded_then_rolledback(sink_server, sink, commit):
    now = dt.datetime.now(UTC)
    first = deploy(commit, "25134", at=now - dt.timedelta(hours=2))
    deploy(commit, "25145", at=now - dt.timedelta(hours=1))
    deploy(commit, "25150", status="rolled_back", at=now)

    types = [e["type"] for e in sink_server.events]
    assert types == [
        "dev.cdevents.service.deployed.0.2.0",
        "dev.cdevents.service.upgraded.0.2.0",
        "dev.cdevents.service.rolledback.0.2.0",
    ]
    for event in sink_server.events:
        assert_valid(event)
    content = [e["data"]["subject"]["content"] for e in sink_server.events]
    assert [c["artifactId"] for c in content] == [
        "pkg:generic/web@25134",
        "pkg:generic/web@25145",
        # Rolled back: the version running again is the one before.
        "pkg:generic/web@25145",
    ]
    assert {c["environment"]["id"] for c in content} == {"production"}
    assert sink_server.events[0]["data"]["subject"]["id"] == "web"
    opslog = sink_server.events[0]["data"]["customData"]["opslog"]
    assert opslog["deploy"] == first.pk and opslog["deployer"] == "ekastner"
    assert opslog["url"] == f"https://opslog.example.com/deploys/{first.pk}/"
    assert all(d.status == Delivery.Status.PROCESSED and d.attempts == 1 for d in outgoing(sink))


def test_a_deploy_to_another_environment_is_deployed_there_first(sink_server, sink, commit):
    deploy(commit, "1", environment="production")
    deploy(commit, "1", environment="staging")
    assert [e["type"].split(".")[3] for e in sink_server.events] == ["deployed", "deployed"]
    assert [e["data"]["subject"]["content"]["environment"]["id"] for e in sink_server.events] == [
        "production",
        "staging",
    ]


def test_a_failed_deploy_sends_nothing(sink_server, sink, commit):
    deploy(commit, "1", status="failed")
    assert sink_server.requests == [] and outgoing(sink) == []


def test_a_repeated_deploy_is_sent_once(sink_server, sink, commit):
    with commit():
        for _ in range(3):
            deploy_record(
                data=DeployInput(service="web", environment="production", version="7", deployer="a", external_id="b-7")
            )
    assert len(sink_server.events) == 1


def test_a_sink_gets_only_the_events_it_chose(sink_server, sink, commit):
    sink.events = ["incident.resolved"]
    sink.save()
    deploy(commit, "1")
    incident = file_incident(commit)
    with commit():
        incident_stamp(incident=incident, stage="resolved")
    assert [e["type"] for e in sink_server.events] == ["dev.cdevents.incident.resolved.0.2.0"]


def test_a_disabled_sink_gets_nothing(sink_server, sink, commit):
    sink.is_active = False
    sink.save()
    deploy(commit, "1")
    assert sink_server.requests == [] and outgoing(sink) == []


# --- Incidents ----------------------------------------------------------------------------------


def test_incident_stages_arrive_once_in_order_with_opslog_stages_in_custom_data(sink_server, sink, commit):
    cause = deploy(commit, "25145")
    service = cause.service
    incident = file_incident(commit, services=[service])
    with commit():
        incident_link_deploy(incident=incident, deploy=cause, relation="cause")
    for stage in ("acknowledged", "mitigated", "resolved"):
        with commit():
            incident_stamp(incident=incident, stage=stage)

    events = [e for e in sink_server.events if ".incident." in e["type"]]
    assert [(e["type"].split(".")[3], e["data"]["customData"]["opslog"]["stage"]) for e in events] == [
        ("detected", "detected"),
        ("reported", "reported"),
        ("reported", "acknowledged"),
        ("reported", "mitigated"),
        ("resolved", "resolved"),
    ]
    for event in events:
        assert_valid(event)
        assert event["data"]["subject"]["id"] == str(incident.pk)
    reported = events[1]["data"]["subject"]["content"]
    assert reported["ticketURI"] == f"https://opslog.example.com/incidents/{incident.pk}/"
    assert reported["service"]["id"] == "web"
    resolved = events[-1]["data"]
    # Linked after filing: the later events name the causing deploy's artifact.
    assert resolved["subject"]["content"]["artifactId"] == "pkg:generic/web@25145"
    assert resolved["customData"]["opslog"]["status"] == "resolved"
    assert resolved["customData"]["opslog"]["mitigated_at"] is not None
    assert len(sink_server.ids()) == len(set(sink_server.ids()))

    # Recorded again (another change, a beat requeue): nothing new goes out.
    before = len(sink_server.requests)
    cdevents_out.record_incident(incident_id=incident.pk)
    assert len(sink_server.requests) == before


def test_event_ids_are_stable_for_a_record_and_its_stage(sink_server, sink, commit):
    incident = file_incident(commit)
    first = outgoing(sink)
    CDEventSink.objects.create(name="second", url=sink_server.url, events=ALL_EVENTS)
    cdevents_out.record_incident(incident_id=incident.pk)
    ids = sorted(d.delivery_id for d in Delivery.objects.filter(direction="out"))
    # The second sink got the same events, with the same ids.
    assert ids == sorted([d.delivery_id for d in first] * 2)


# --- Failures, retries, order -------------------------------------------------------------------


def test_500_429_and_a_timeout_are_retried_and_each_event_arrives_once_in_order(sink_server, sink, commit):
    sink_server.fail(500)
    sink_server.fail(429, retry_after="0")
    sink_server.hang(1.0)  # longer than OPSLOG_CDEVENTS_TIMEOUT
    incident = file_incident(commit)
    with commit():
        incident_stamp(incident=incident, stage="resolved")

    stages = [e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events]
    assert stages == ["detected", "reported", "resolved"]
    assert len(sink_server.ids()) == len(set(sink_server.ids()))
    [detected, reported, resolved] = outgoing(sink)
    # The first was tried four times: 500, 429, timeout, then taken; the others never overtook it.
    assert detected.attempts == 4 and detected.status == Delivery.Status.PROCESSED
    assert (reported.attempts, resolved.attempts) == (1, 1)
    # 500, 429, the one left hanging (answered after the client gave up), then 3 taken.
    assert [r.status for r in sink_server.requests][:2] == [500, 429]
    assert len(sink_server.requests) == 6


def test_after_the_last_retry_the_event_is_given_up_and_later_ones_are_sent(sink_server, sink, commit, settings):
    settings.OPSLOG_CDEVENTS_MAX_RETRIES = 1
    sink_server.fail(503, times=2)
    incident = file_incident(commit)
    [detected, reported] = outgoing(sink)
    detected.refresh_from_db()
    assert detected.status == Delivery.Status.FAILED
    assert detected.outcome == "Given up: HTTP 503 after 2 tries."
    assert [e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events] == ["reported"]
    assert incident.pk


def test_a_sink_refusing_an_event_is_not_retried(sink_server, sink, commit):
    sink_server.fail(400)
    file_incident(commit)
    [detected, reported] = outgoing(sink)
    assert (detected.status, detected.attempts) == (Delivery.Status.FAILED, 1)
    assert "refused" in detected.outcome
    assert reported.status == Delivery.Status.PROCESSED


def test_retry_countdown_doubles_and_honours_retry_after(settings):
    settings.OPSLOG_CDEVENTS_RETRY_DELAY = 10
    assert [cdevents_retry_countdown(n) for n in range(4)] == [10, 20, 40, 80]
    assert cdevents_retry_countdown(0, retry_after=120) == 120
    assert cdevents_retry_countdown(3, retry_after=5) == 80


def test_the_stale_requeue_sends_what_was_never_queued(sink_server, sink, commit):
    from integrations.services import delivery_requeue_stale

    sink_server.fail(500, times=10)
    settings_retries = django_settings.OPSLOG_CDEVENTS_MAX_RETRIES
    assert settings_retries >= 0
    incident = file_incident(commit)
    Delivery.objects.filter(sink=sink).update(
        status=Delivery.Status.RECEIVED, received_at=incident.created_at - dt.timedelta(hours=1)
    )
    sink_server._answers.clear()
    assert delivery_requeue_stale(older_than=dt.timedelta(minutes=10)) == 2
    assert [e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events][-2:] == ["detected", "reported"]
    assert all(d.status == Delivery.Status.PROCESSED for d in outgoing(sink))


# --- Signature, allowlist, redirects ------------------------------------------------------------


def test_a_sink_with_a_secret_gets_each_body_signed(sink_server, sink, commit):
    secret = "a-sink-secret-of-some-length"
    sink.set_secret(secret)
    sink.save()
    deploy(commit, "1")
    [request] = sink_server.requests
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Opslog-Signature"] == expected
    assert secret not in json.dumps(outgoing(sink)[0].headers)


def test_without_a_secret_no_signature_is_sent(sink_server, sink, commit):
    deploy(commit, "1")
    assert "X-Opslog-Signature" not in sink_server.requests[0].headers


def test_a_host_not_allowed_is_sent_nothing(sink_server, sink, commit, settings):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = ["events.example.com"]
    deploy(commit, "1")
    assert sink_server.requests == []
    [delivery] = outgoing(sink)
    assert delivery.status == Delivery.Status.FAILED and "allowed host" in delivery.outcome


def test_an_empty_allowlist_allows_no_host(settings):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = []
    assert not cdevents_out.host_allowed("https://events.example.com/")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://events.example.com/in", True),
        ("http://EVENTS.example.com:8080/in", True),
        ("https://cdviz.internal:8080/", True),
        ("https://cdviz.internal:9090/", False),
        ("ftp://events.example.com/", False),
        ("file:///etc/passwd", False),
        ("https://events.example.com.evil.test/", False),
        ("https://user@evil.test/#@events.example.com", False),
        ("https://169.254.169.254/latest/meta-data", False),
        ("https://events.example.com:99999/", False),
    ],
)
def test_only_http_urls_to_allowed_hosts(settings, url, allowed):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = ["events.example.com", "cdviz.internal:8080"]
    assert cdevents_out.host_allowed(url) is allowed


def test_admins_allow_hosts_beside_the_operators_setting(settings, admin_client):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = ["cdviz.internal:8080"]
    assert not cdevents_out.host_allowed("https://events.example.com/in")

    added = admin_client.post(
        "/admin/integrations/cdeventsinkhost/add/", {"host": "  Events.Example.com ", "note": "CDviz, platform"}
    )

    assert added.status_code == 302, added.content
    assert CDEventSinkHost.objects.get().host == "events.example.com"
    assert cdevents_out.host_allowed("https://events.example.com/in")
    assert cdevents_out.host_allowed("https://cdviz.internal:8080/")  # the operator's still count
    assert not cdevents_out.host_allowed("https://events.example.com.evil.test/")
    listing = admin_client.get("/admin/integrations/cdeventsinkhost/").content.decode()
    assert "events.example.com" in listing and "cdviz.internal:8080" in listing
    # Removing it stops the sinks there: checked again when sending.
    CDEventSinkHost.objects.all().delete()
    assert not cdevents_out.host_allowed("https://events.example.com/in")


@pytest.mark.parametrize(
    ("host", "saved"),
    [
        ("cdviz.internal:8080", "cdviz.internal:8080"),
        ("10.0.0.7", "10.0.0.7"),
        ("[::1]:9000", "::1:9000"),
        ("https://events.example.com/", None),
        ("user@events.example.com", None),
        ("events.example.com/path", None),
        ("events.example.com:99999", None),
        ("evil test", None),
        ("évents.example.com", None),
        ("a" * 64 + ".example.com", None),
        ("events.example.com\u202e", None),
        ("x" * 5000, None),
    ],
)
def test_the_sink_host_form_takes_a_host_and_port_only(host, saved):
    form = CDEventSinkHostForm(data={"host": host, "note": ""})
    if saved is None:
        assert not form.is_valid() and form.errors["host"]
    else:
        assert form.is_valid(), form.errors
        assert form.cleaned_data["host"] == saved


def test_a_redirect_is_not_followed(sink_server, sink, commit):
    elsewhere = FakeCDEventsSink().start()
    try:
        sink_server.redirect(elsewhere.url)
        deploy(commit, "1")
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()
    [delivery] = outgoing(sink)
    assert delivery.status == Delivery.Status.FAILED and "redirect" in delivery.outcome


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/events", "https://"),
        ("https://events.example.com/", "Add it under CDEvents sink hosts first"),
    ],
)
def test_the_admin_form_refuses_other_schemes_and_hosts(settings, url, message):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = ["127.0.0.1"]
    form = CDEventSinkForm(data={"name": "x", "url": url, "events": ["incident.resolved"], "is_active": "on"})
    assert not form.is_valid()
    assert message in " ".join(form.errors["url"])


def test_the_admin_form_saves_an_allowed_sink_with_its_secret_encrypted(settings, admin_client):
    settings.OPSLOG_CDEVENTS_SINK_HOSTS = ["events.example.com"]
    response = admin_client.post(
        "/admin/integrations/cdeventsink/add/",
        {
            "name": "CDviz",
            "url": "https://events.example.com/in",
            "events": ["service.deployed", "incident.resolved"],
            "secret": "a-sink-secret-of-some-length",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    sink = CDEventSink.objects.get()
    assert sink.events == ["service.deployed", "incident.resolved"]
    assert sink.secret == "a-sink-secret-of-some-length"
    assert "a-sink-secret" not in sink.secret_encrypted
    page = admin_client.get(f"/admin/integrations/cdeventsink/{sink.pk}/change/")
    assert b"a-sink-secret-of-some-length" not in page.content


# --- The deliveries page ------------------------------------------------------------------------


def test_outgoing_deliveries_are_listed_and_replayed(sink_server, sink, commit, admin_client):
    deploy(commit, "1")
    [delivery] = outgoing(sink)
    page = admin_client.get("/integrations/deliveries/?direction=out")
    assert page.status_code == 200
    text = page.content.decode()
    assert "CDviz" in text and "Sent" in text and "dev.cdevents.service.deployed.0.2.0" in text
    detail = admin_client.get(f"/integrations/deliveries/{delivery.pk}/").content.decode()
    assert "Sent to" in detail and "ce-type" in detail

    response = admin_client.post(f"/integrations/deliveries/{delivery.pk}/replay/")
    assert response.status_code == 302
    assert sink_server.ids() == [delivery.delivery_id, delivery.delivery_id]  # the receiver dedupes on the id
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.status == Delivery.Status.PROCESSED


def test_incoming_filter_leaves_outgoing_out(sink_server, sink, commit, admin_client):
    deploy(commit, "1")
    page = admin_client.get("/integrations/deliveries/?direction=in").content.decode()
    assert "CDviz" not in page


# --- Races (PostgreSQL) -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_recordings_send_each_event_once(sink_server):
    if connection.vendor != "postgresql":
        pytest.skip("a race needs PostgreSQL's concurrent writers")
    from tests.support.factors import seed_default_factors

    seed_default_factors()
    CDEventSink.objects.create(name="CDviz", url=sink_server.url, events=ALL_EVENTS)
    ServiceFactory(slug="web")
    now = dt.datetime.now(UTC)
    incident, _ = incident_create(
        data=IncidentInput(title="t", started_at=now - dt.timedelta(minutes=5), detected_at=now)
    )
    errors = []
    start = threading.Barrier(20)

    def record():
        try:
            start.wait()
            cdevents_out.record_incident(incident_id=incident.pk)
        except Exception as exc:  # pragma: no cover - shown below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events) == ["detected", "reported"]
    assert Delivery.objects.filter(direction="out").count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_record_send_each_event_once_in_order(sink_server):
    if connection.vendor != "postgresql":
        pytest.skip("a race needs PostgreSQL's row locks")
    from tests.support.factors import seed_default_factors

    seed_default_factors()
    sink = CDEventSink.objects.create(name="CDviz", url=sink_server.url, events=ALL_EVENTS)
    now = dt.datetime.now(UTC)
    incident, _ = incident_create(
        data=IncidentInput(
            title="t",
            started_at=now - dt.timedelta(minutes=5),
            detected_at=now - dt.timedelta(minutes=4),
            resolved_at=now,
        )
    )
    # Recorded without sending (as if the broker were down), then two workers at once.
    Delivery.objects.all().delete()
    sink_server.events.clear()
    sink_server.fail(503, times=1)  # one worker's try fails: it stops there, the other goes on
    from integrations.cdevents_out import events as cdevents

    cdevents_out._record([sink], cdevents.incident_events(incident))
    start = threading.Barrier(2)

    def work():
        start.wait()
        while cdevents_out.send_pending(sink_id=sink.pk, ordering_key=f"incident:{incident.pk}") is not None:
            pass
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stages = [e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events]
    assert stages == ["detected", "reported", "resolved"]
    assert [d.status for d in outgoing(sink)] == [Delivery.Status.PROCESSED] * 3


def test_a_bulk_of_deploys_is_sent_in_order(sink_server, sink, commit):
    from deploys.services import deploy_record_bulk

    now = dt.datetime.now(UTC)
    with commit():
        deploy_record_bulk(
            items=[
                DeployInput(
                    service="web",
                    environment="production",
                    version=str(n),
                    deployer="a",
                    deployed_at=now - dt.timedelta(minutes=10 - n),
                )
                for n in range(3)
            ]
        )
    assert [e["data"]["subject"]["content"]["artifactId"] for e in sink_server.events] == [
        "pkg:generic/web@0",
        "pkg:generic/web@1",
        "pkg:generic/web@2",
    ]
    assert [e["type"].split(".")[3] for e in sink_server.events] == ["deployed", "upgraded", "upgraded"]


def test_a_history_import_sends_nothing(sink_server, sink, commit):
    with commit():
        deploy_record(
            data=DeployInput(service="web", environment="production", version="1", deployer="a"), notify=False
        )
    assert sink_server.requests == [] and outgoing(sink) == []


def test_recording_a_bulk_for_a_sink_takes_a_few_queries_whatever_its_size(
    sink_server, sink, django_assert_max_num_queries
):
    from deploys.services import deploy_record_bulk

    now = dt.datetime.now(UTC)
    result = deploy_record_bulk(
        items=[
            DeployInput(
                service="web",
                environment="production",
                version=str(n),
                deployer="a",
                deployed_at=now - dt.timedelta(minutes=n),
            )
            for n in range(50)
        ]
    )
    # The bulk's after-commit work is not run here: the recording alone is counted, not the sending.
    with django_assert_max_num_queries(6):
        cdevents_out._record(
            [sink],
            [cdevents_event for d in result.deploys if (cdevents_event := _deploy_event(d)) is not None],
        )
    assert Delivery.objects.filter(sink=sink).count() == 50


def _deploy_event(deploy):
    from integrations.cdevents_out import events as cdevents

    return cdevents.deploy_event(deploy, first=False)


def test_a_secret_that_cant_be_decrypted_fails_the_event_unsent(sink_server, sink, commit, settings):
    sink.set_secret("a-sink-secret-of-some-length")
    sink.save()
    settings.OPSLOG_SECRETS_KEY = "another-key-since-the-secret-was-stored"
    deploy(commit, "1")
    assert sink_server.requests == []
    [delivery] = outgoing(sink)
    assert delivery.status == Delivery.Status.FAILED and "decrypted" in delivery.outcome


def test_a_deploy_posted_to_the_api_reaches_the_sink(sink_server, sink, api, commit):
    body = {"service": "web", "environment": "production", "version": "36790", "deployer": "ekastner"}
    with commit():
        response = api.post("/api/deploys/", body, format="json")
    assert response.status_code == 201, response.content
    [event] = sink_server.events
    assert event["type"] == "dev.cdevents.service.deployed.0.2.0"
    assert event["data"]["subject"]["content"]["artifactId"] == "pkg:generic/web@36790"
    assert_valid(event)


def test_an_incident_filed_through_the_api_reaches_the_sink(sink_server, sink, api, commit):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    body = {"title": "Checkout down", "started_at": (now - dt.timedelta(minutes=9)).isoformat()}
    with commit():
        response = api.post("/api/incidents/", body, format="json")
    assert response.status_code == 201, response.content
    assert [e["data"]["customData"]["opslog"]["stage"] for e in sink_server.events] == ["detected", "reported"]


def test_without_a_base_url_events_are_still_valid_cdevents(sink_server, sink, commit, settings):
    settings.OPSLOG_BASE_URL = ""
    deploy(commit, "1")
    file_incident(commit)
    for event in sink_server.events:
        jsonschema.Draft202012Validator(SCHEMAS[event["type"]], format_checker=FORMATS).validate(event["data"])
        assert_formats(event["data"])
        assert "schemaUri" not in event["data"]["context"]  # an absolute URI or none
        assert event["source"] == "/opslog"
    reported = [e for e in sink_server.events if e["type"].startswith("dev.cdevents.incident.reported")]
    assert reported[0]["data"]["subject"]["content"]["ticketURI"].startswith("urn:opslog:incident:")
