"""/api/annotations/ and its Graphite alias /events/get_data: deploys (and incidents) as Graphite events."""

import base64
import datetime as dt

import pytest
from django.utils import timezone

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# 2010-05-18T22:20:50Z is epoch 1274221250 (14747 days × 86400 + 80450 seconds).
AT = dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC)
AT_EPOCH = 1274221250


def window(seconds_before: int = 3600, seconds_after: int = 3600) -> str:
    return f"from={AT_EPOCH - seconds_before}&to={AT_EPOCH + seconds_after}"


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


@pytest.fixture
def deploy(web):
    return DeployFactory(
        service=web,
        version="25145",
        previous_version="25134",
        deployer="sandrews",
        deployed_at=AT,
        diff_url="https://github.com/acme/web/compare/25134...25145",
    )


def test_a_deploy_is_a_graphite_event(api, deploy):
    response = api.get(f"/api/annotations/?{window()}")

    assert response.status_code == 200
    assert response.json() == [
        {
            "when": AT_EPOCH,
            "what": "web 25145 to production",
            "tags": ["deploy", "web", "production"],
            "data": "sandrews: old 25134, new 25145, https://github.com/acme/web/compare/25134...25145",
        }
    ]


def test_fractional_seconds_stay_and_missing_fields_read_plainly(api, web):
    DeployFactory(
        service=web,
        version="v2",
        previous_version="",
        deployer="ci",
        diff_url="",
        deployed_at=AT + dt.timedelta(milliseconds=250),
        environment=EnvironmentFactory(slug="staging"),
        status="failed",
    )

    [event] = api.get(f"/api/annotations/?{window()}").json()

    assert event["when"] == AT_EPOCH + 0.25
    assert event["what"] == "web v2 to staging (failed)"
    assert event["data"] == "ci: old —, new v2"


def test_events_come_oldest_first_and_the_window_includes_both_ends(api, web):
    for minutes, version in [(0, "a"), (-60, "b"), (60, "c"), (61, "outside"), (-61, "outside-too")]:
        DeployFactory(service=web, version=version, deployed_at=AT + dt.timedelta(minutes=minutes))

    events = api.get(f"/api/annotations/?{window()}").json()

    assert [e["what"].split()[1] for e in events] == ["b", "a", "c"]


def test_the_default_window_is_the_last_24_hours(api, web):
    now = timezone.now()
    DeployFactory(service=web, version="recent", deployed_at=now - dt.timedelta(hours=23))
    DeployFactory(service=web, version="old", deployed_at=now - dt.timedelta(hours=25))

    events = api.get("/api/annotations/").json()

    assert [e["what"] for e in events] == ["web recent to production"]


@pytest.mark.parametrize(
    "query",
    [
        "from=-2d&until=now",  # what Grafana's Graphite data source sends for "Last 2 days"
        "from=-48h&to=now",
        "from=-2880min",
        "from=now-2d",  # Grafana's own notation
        "from=-172800s",
        "from=-2days&until=-0h",
    ],
)
def test_relative_times(api, web, query):
    now = timezone.now()
    DeployFactory(service=web, version="in", deployed_at=now - dt.timedelta(hours=47))
    DeployFactory(service=web, version="out", deployed_at=now - dt.timedelta(hours=49))

    response = api.get(f"/api/annotations/?{query}")

    assert response.status_code == 200, response.json()
    assert [e["what"] for e in response.json()] == ["web in to production"]


def test_a_month_is_30_days_and_a_week_7(api, web):
    now = timezone.now()
    DeployFactory(service=web, version="29d", deployed_at=now - dt.timedelta(days=29))
    DeployFactory(service=web, version="31d", deployed_at=now - dt.timedelta(days=31))
    DeployFactory(service=web, version="6d", deployed_at=now - dt.timedelta(days=6))

    month = [e["what"].split()[1] for e in api.get("/api/annotations/?from=-1mon").json()]
    month_grafana = [e["what"].split()[1] for e in api.get("/api/annotations/?from=now-1M").json()]
    week = [e["what"].split()[1] for e in api.get("/api/annotations/?from=-1w").json()]

    assert month == month_grafana == ["29d", "6d"]
    assert week == ["6d"]


def test_iso_8601_times(api, deploy):
    inside = api.get("/api/annotations/?from=2010-05-18T22:00:00Z&to=2010-05-19T00:20:50%2B02:00").json()
    before = api.get("/api/annotations/?from=2010-05-18T22:20:51Z&to=2010-05-18T23:00:00Z").json()

    assert [e["when"] for e in inside] == [AT_EPOCH]
    assert before == []


def test_a_bare_date_to_includes_the_whole_day(api, deploy):
    events = api.get("/api/annotations/?from=2010-05-18&to=2010-05-18").json()

    assert [e["when"] for e in events] == [AT_EPOCH]


def test_epoch_milliseconds_as_grafana_variables_send_them(api, deploy):
    events = api.get(f"/api/annotations/?from={(AT_EPOCH - 60) * 1000}&to={(AT_EPOCH + 60) * 1000}").json()

    assert [e["when"] for e in events] == [AT_EPOCH]


def test_filters_by_service_and_environment_repeated_or_comma_separated(api, web):
    api_service = ServiceFactory(slug="api")
    search = ServiceFactory(slug="search")
    staging = EnvironmentFactory(slug="staging")
    DeployFactory(service=web, version="w-prod", deployed_at=AT)
    DeployFactory(service=web, version="w-stag", deployed_at=AT, environment=staging)
    DeployFactory(service=api_service, version="a-prod", deployed_at=AT)
    DeployFactory(service=search, version="s-prod", deployed_at=AT)

    def versions(query):
        return sorted(e["what"].split()[1] for e in api.get(f"/api/annotations/?{window()}&{query}").json())

    assert versions("service=web") == ["w-prod", "w-stag"]
    assert versions("service=web&service=api") == versions("service=web,api") == ["a-prod", "w-prod", "w-stag"]
    assert versions("environment=staging") == ["w-stag"]
    assert versions("service=web&environment=production") == ["w-prod"]


def test_incidents_when_asked(api, deploy, web):
    incident = IncidentFactory(
        title="Checkout errors",
        severity=2,
        started_at=AT + dt.timedelta(minutes=5),
        services=[web, ServiceFactory(slug="api")],
    )
    IncidentFactory(title="Other", started_at=AT - dt.timedelta(days=3))

    without = api.get(f"/api/annotations/?{window()}").json()
    with_incidents = api.get(f"/api/annotations/?{window()}&incidents=true").json()

    assert [e["tags"][0] for e in without] == ["deploy"]
    assert with_incidents[1] == {
        "when": AT_EPOCH + 300,
        "what": f"SEV2 incident #{incident.pk}: Checkout errors",
        "tags": ["incident", "sev2", "api", "web"],
        "data": f"Open: /incidents/{incident.pk}/",
    }


def test_incident_links_are_absolute_with_a_base_url(api, settings, web):
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    incident = IncidentFactory(started_at=AT, resolved_at=AT + dt.timedelta(hours=1))

    [event] = api.get(f"/api/annotations/?{window()}&incidents=true").json()

    assert event["data"] == f"Resolved: https://opslog.example.com/incidents/{incident.pk}/"


def test_the_service_filter_applies_to_incidents_and_environment_does_not(api, web):
    other = ServiceFactory(slug="search")
    mine = IncidentFactory(started_at=AT, services=[web])
    IncidentFactory(started_at=AT, services=[other])

    events = api.get(f"/api/annotations/?{window()}&incidents=true&service=web&environment=staging").json()

    assert [e["what"].split(":")[0] for e in events] == [f"SEV3 incident #{mine.pk}"]


def test_graphite_tags_must_all_match(api, web):
    staging = EnvironmentFactory(slug="staging")
    DeployFactory(service=web, version="w-prod", deployed_at=AT)
    DeployFactory(service=web, version="w-stag", deployed_at=AT, environment=staging)
    DeployFactory(service=ServiceFactory(slug="api"), version="a-prod", deployed_at=AT)
    sev1 = IncidentFactory(started_at=AT, severity=1, services=[web])
    IncidentFactory(started_at=AT, severity=3, services=[web])

    def whats(tags):
        return sorted(e["what"] for e in api.get(f"/api/annotations/?{window()}&tags={tags}").json())

    assert whats("deploy") == ["api a-prod to production", "web w-prod to production", "web w-stag to staging"]
    assert whats("deploy%20production%20web") == ["web w-prod to production"]
    assert whats("web,staging") == ["web w-stag to staging"]
    # `incident` among the tags brings incidents in, and they must carry every other tag too.
    assert whats("incident%20sev1") == [f"SEV1 incident #{sev1.pk}: {sev1.title}"]
    assert len(whats("incident%20web")) == 2
    assert whats("nothing-has-this") == []


def test_the_limit_keeps_the_newest(api, web):
    for minutes in range(5):
        DeployFactory(service=web, version=f"v{minutes}", deployed_at=AT + dt.timedelta(minutes=minutes))
    IncidentFactory(started_at=AT + dt.timedelta(minutes=3, seconds=30))

    events = api.get(f"/api/annotations/?{window()}&limit=3&incidents=true").json()

    assert [e["what"].split(":")[0].split()[1] for e in events] == ["v3", "incident", "v4"]


def test_the_default_limit_is_1000(api, web):
    from deploys.models import Deploy

    Deploy.objects.bulk_create(
        DeployFactory.build(
            service=web, environment=EnvironmentFactory(), version=f"v{n}", deployed_at=AT + dt.timedelta(seconds=n)
        )
        for n in range(1001)
    )

    events = api.get(f"/api/annotations/?{window()}").json()

    assert len(events) == 1000
    assert events[0]["what"] == "web v1 to production"


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("from=yesterday", "from", "Enter epoch seconds"),
        ("from=-5ms", "from", "Unknown time unit “ms”"),
        ("to=2010-05-18T22:20:50", "to", "Include a UTC offset"),
        ("from=1274221250&to=1274221249", "from", "is after `to`"),
        ("to=now&until=now", "until", "not both"),
        ("service=nope", "service", "Unknown service: “nope”."),
        ("environment=mars", "environment", "Unknown environment: “mars”."),
        ("incidents=yes", "incidents", "Use true or false."),
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=1001", "limit", "less than or equal to 1000"),
        ("from=99999999999999999", "from", "between 1970 and 2999"),
        # Offsets too large for a timedelta are out of range too, not an OverflowError.
        ("from=-999999999y", "from", "between 1970 and 2999"),
        ("to=%2B999999999w", "to", "between 1970 and 2999"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(api, web, query, field, message):
    response = api.get(f"/api/annotations/?{query}")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()


def test_several_bad_parameters_are_all_named(api):
    response = api.get("/api/annotations/?from=x&limit=x&incidents=x")

    assert response.status_code == 400
    assert set(response.json()) == {"from", "limit", "incidents"}


def test_the_query_count_is_constant(api, web, django_assert_num_queries):
    for _n in range(5):
        DeployFactory(service=web, deployed_at=AT)
        IncidentFactory(started_at=AT, services=[web, ServiceFactory()])

    # token auth, the service check, deploys, incidents and their services
    with django_assert_num_queries(5):
        response = api.get(f"/api/annotations/?{window()}&incidents=true&service=web")
    assert len(response.json()) == 10


# --- Authentication -----------------------------------------------------------------------------


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/annotations/").status_code == 401
    assert client.get("/events/get_data").status_code == 401


def test_a_session_works_too(logged_in, deploy):
    assert logged_in.get(f"/api/annotations/?{window()}").status_code == 200


def test_the_graphite_alias_answers_what_grafana_asks(client, token, deploy):
    # Grafana's Graphite data source: GET <url>/events/get_data?from=<epoch or -6h>&until=<epoch or now>&tags=<a b>,
    # with the custom header Authorization: Token <key>.
    response = client.get(
        f"/events/get_data?from={AT_EPOCH - 60}&until={AT_EPOCH + 60}&tags=deploy web",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()[0]["what"] == "web 25145 to production"


def test_basic_auth_with_the_api_token_as_password(client, user, token, deploy):
    good = base64.b64encode(f"{user.username}:{token.key}".encode()).decode()
    password = base64.b64encode(f"{user.username}:a-long-test-password".encode()).decode()
    other_user = base64.b64encode(f"someone:{token.key}".encode()).decode()

    ok = client.get(f"/events/get_data?from={AT_EPOCH - 60}&until={AT_EPOCH + 60}", HTTP_AUTHORIZATION=f"Basic {good}")

    assert ok.status_code == 200 and len(ok.json()) == 1
    # The user's password is not a token; a token with another user name is refused.
    assert client.get("/events/get_data", HTTP_AUTHORIZATION=f"Basic {password}").status_code == 401
    assert client.get("/events/get_data", HTTP_AUTHORIZATION=f"Basic {other_user}").status_code == 401


def test_the_annotations_are_in_the_api_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert "/api/annotations/" in schema["paths"]
    assert "/events/get_data" not in schema["paths"]
