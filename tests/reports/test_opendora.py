"""The OpenDORA API: opendora's answer shapes, each figure against the report API, auth, bad input."""

import datetime as dt
import uuid

import jsonschema
import pytest
from rest_framework.test import APIClient

from config.roles import ADMIN, RESPONDER, VIEWER, RolePermission, role_set
from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from reports.api.opendora import OpenDoraBenchmarkView, OpenDoraMetricView
from tests.support.reports import build_march
from tests.support.times import at
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db

# Written from DevoteamNL/opendora's published OpenAPI file, dora-api-mock/src/main/resources/openapi.yaml
# (openapi 3.0.3, info.version v1) at commit 7b131a0bab11259ddb69fcfec180ce95ed9d7bef (2024-06-03):
# components.schemas MetricResponse, DataPoint, BenchmarkResponse and ErrorResponse, with their
# `required` lists and types. The file allows extra properties; Opslog's answers are checked to have
# none beyond `errors` on a 400 (its per-parameter messages).
DATA_POINT = {
    "type": "object",
    "required": ["key", "value"],
    "properties": {"key": {"type": "string"}, "value": {"type": "number"}},
    "additionalProperties": False,
}
METRIC_RESPONSE = {
    "type": "object",
    "required": ["aggregation", "dataPoints"],
    "properties": {
        "aggregation": {"type": "string", "enum": ["weekly", "monthly", "quarterly"]},
        "dataPoints": {"type": "array", "items": DATA_POINT},
    },
    "additionalProperties": False,
}
BENCHMARK_RESPONSE = {
    "type": "object",
    "required": ["key"],
    "properties": {"key": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}
ERROR_RESPONSE = {
    "type": "object",
    "required": ["message", "reference"],
    "properties": {
        "message": {"type": "string", "minLength": 1},
        "reference": {"type": "string", "format": "uuid"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "additionalProperties": False,
}
METRIC = "/dora/api/metric"
BENCHMARK = "/dora/api/benchmark"
HOUR = 3600


def valid(instance, schema):
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())
    return instance


@pytest.fixture
def march():
    return build_march()


@pytest.fixture
def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    return client


def points(response) -> dict[str, float]:
    assert response.status_code == 200, response.content
    body = valid(response.json(), METRIC_RESPONSE)
    return {point["key"]: point["value"] for point in body["dataPoints"]}


def hours(seconds):
    return 0 if seconds is None else seconds / HOUR


# --- Each figure is the report API's --------------------------------------------------------------

MONTHLY_CASES = [
    ("", ""),
    ("service=web", "&project=web"),
    ("team=Platform", "&team=Platform"),
    ("service=api", "&project=API"),  # Backstage's lower/upper case: the slug matched without case
]


@pytest.mark.parametrize(("report_filter", "dora_filter"), MONTHLY_CASES)
def test_monthly_figures_are_the_report_apis(march, api, bearer, report_filter, dora_filter):
    report = api.get(f"/api/reports/monthly/?from=2024-02&to=2024-04&{report_filter}").json()["months"]
    dora_range = "&from=2024-02-01T00:00:00Z&to=2024-04-30T23:59:59Z" + dora_filter

    def metric(kind):
        return points(bearer.get(f"{METRIC}?type={kind}&aggregation=monthly{dora_range}"))

    assert list(metric("df_count")) == ["24/02", "24/03", "24/04"]
    assert list(metric("df_count").values()) == [m["deploys"] for m in report]
    assert list(metric("mltc").values()) == [hours(m["lead_time_seconds"]["median"]) for m in report]
    assert list(metric("cfr").values()) == [m["change_failure_rate"] or 0 for m in report]
    assert list(metric("mttr").values()) == [hours(m["time_to_restore_seconds"]["median"]) for m in report]


def test_monthly_figures_worked_by_hand(march, bearer, report_path):
    """March 2024 (tests.support.reports.build_march): 4 counted deploys (d1, d2, d3, api's), lead
    times 7200 s and 86400 s (median 46800 s = 13 h), failures d2 (rolled back) and d3 (caused i1, i2):
    2 of 4; restore times 720, 1860, 20 s: median 720 s = 0.2 h. On PostgreSQL, from the rollups and
    from a scan alike."""
    report_path()
    dora_range = "&aggregation=monthly&from=2024-03-01T00:00:00Z&to=2024-03-31T00:00:00Z"
    assert points(bearer.get(f"{METRIC}?type=df_count{dora_range}")) == {"24/03": 4}
    assert points(bearer.get(f"{METRIC}?type=mltc{dora_range}")) == {"24/03": 13}
    assert points(bearer.get(f"{METRIC}?type=cfr{dora_range}")) == {"24/03": 0.5}
    assert points(bearer.get(f"{METRIC}?type=mttr{dora_range}")) == {"24/03": 0.2}


def test_quarterly_figures_are_the_report_apis_over_the_quarters_months(march, api, bearer, report_path):
    report_path()  # on PostgreSQL quarters are read from the per-month rollups too
    dora = "&aggregation=quarterly&from=2024-01-15T00:00:00Z&to=2024-05-01T00:00:00Z"
    for months, key in (("from=2024-01&to=2024-03", "2024-01-01"), ("from=2024-04&to=2024-06", "2024-04-01")):
        totals = api.get(f"/api/reports/monthly/?{months}").json()["totals"]
        assert points(bearer.get(f"{METRIC}?type=df_count{dora}"))[key] == totals["deploys"]
        assert points(bearer.get(f"{METRIC}?type=mltc{dora}"))[key] == hours(totals["lead_time_seconds"]["median"])
        assert points(bearer.get(f"{METRIC}?type=cfr{dora}"))[key] == (totals["change_failure_rate"] or 0)
        assert points(bearer.get(f"{METRIC}?type=mttr{dora}"))[key] == hours(
            totals["time_to_restore_seconds"]["median"]
        )
    assert list(points(bearer.get(f"{METRIC}?type=df_count{dora}"))) == ["2024-01-01", "2024-04-01"]


def test_weekly_figures_are_isoweeks_of_the_same_figures(march, api, bearer, report_path):
    """Weeks start on Monday: d1 (Tue 5 March) in the week of the 4th, d2 (12th) of the 11th, d3 (20th)
    of the 18th, api's (27th) of the 25th, d5 (2 April) of 1 April. The weeks add up to the months
    (weeks always scan: the rollups are per month)."""
    report_path()
    dora = "&from=2024-03-04T00:00:00Z&to=2024-04-07T23:00:00Z"  # aggregation defaults to weekly
    body = bearer.get(f"{METRIC}?type=df_count{dora}").json()
    assert body["aggregation"] == "weekly"
    counts = points(bearer.get(f"{METRIC}?type=df_count{dora}"))
    assert counts == {"2024-03-04": 1, "2024-03-11": 1, "2024-03-18": 1, "2024-03-25": 1, "2024-04-01": 1}
    report = api.get("/api/reports/monthly/?from=2024-03&to=2024-04").json()["months"]
    assert sum(counts.values()) == sum(m["deploys"] for m in report)
    # d2 was rolled back; d3 caused two incidents: each week of one deploy is all or nothing.
    assert points(bearer.get(f"{METRIC}?type=cfr{dora}")) == {
        "2024-03-04": 0,
        "2024-03-11": 1,
        "2024-03-18": 1,
        "2024-03-25": 0,
        "2024-04-01": 0,
    }
    # i1 (720 s) and i2 (1860 s) start in the week of the 18th, i4 (20 s) in that of the 25th.
    assert points(bearer.get(f"{METRIC}?type=mttr{dora}"))["2024-03-18"] == pytest.approx(1290 / HOUR)
    assert points(bearer.get(f"{METRIC}?type=mttr{dora}"))["2024-03-25"] == pytest.approx(20 / HOUR)


def test_a_week_across_two_months_counts_both_months_deploys(bearer):
    service, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    for when in ("2024-01-30T10:00:00Z", "2024-02-02T10:00:00Z", "2024-02-05T10:00:00Z"):
        DeployFactory(service=service, environment=production, deployed_at=at(when))
    dora = "&from=2024-01-29T00:00:00Z&to=2024-02-05T12:00:00Z"
    assert points(bearer.get(f"{METRIC}?type=df_count{dora}")) == {"2024-01-29": 2, "2024-02-05": 1}


def test_df_average_is_the_running_mean_of_df_count(march, bearer):
    dora = "&aggregation=monthly&from=2024-02-01T00:00:00Z&to=2024-05-31T00:00:00Z"
    counts = list(points(bearer.get(f"{METRIC}?type=df_count{dora}")).values())
    assert counts == [0, 4, 1, 0]
    assert list(points(bearer.get(f"{METRIC}?type=df_average{dora}")).values()) == [0, 2, 5 / 3, 1.25]


def test_without_from_and_to_the_last_six_months_up_to_now(bearer):
    monthly = points(bearer.get(f"{METRIC}?type=df_count&aggregation=monthly"))
    assert len(monthly) == 7  # six whole months back and this one, so far
    weekly = points(bearer.get(f"{METRIC}?type=df_count"))
    assert 26 <= len(weekly) <= 28
    keys = [dt.date.fromisoformat(key) for key in weekly]
    assert all(key.weekday() == 0 for key in keys) and keys == sorted(keys)


@pytest.mark.parametrize("kind", ["df", "mltc", "cfr", "mttr"])
@pytest.mark.parametrize("filters", [("", ""), ("&service=web", "&project=web"), ("&team=Platform", "&team=Platform")])
def test_benchmark_is_the_report_apis_dora_level_over_the_range(march, api, bearer, kind, filters):
    report_filter, dora_filter = filters
    dora = api.get(f"/api/reports/monthly/?from=2024-03&to=2024-04&include_partial=1{report_filter}").json()
    level = dora["totals"]["dora"][
        {"df": "deploy_frequency", "mltc": "lead_time", "cfr": "change_failure_rate", "mttr": "time_to_restore"}[kind]
    ]
    response = bearer.get(f"{BENCHMARK}?type={kind}&from=2024-03-01T00:00:00Z&to=2024-04-30T00:00:00Z{dora_filter}")
    assert response.status_code == 200
    body = valid(response.json(), BENCHMARK_RESPONSE)
    # api (team Platform) has no commits: no lead time to rate, and opendora's key saying so.
    expected = level or {"mltc": "na-deployments-pullrequests"}[kind]
    assert body == {"key": expected}


def test_benchmark_with_nothing_to_rate_says_what_is_missing(bearer):
    dora = "&from=2024-03-01T00:00:00Z&to=2024-04-30T00:00:00Z"
    answers = {kind: bearer.get(f"{BENCHMARK}?type={kind}{dora}").json() for kind in ("df", "mltc", "cfr", "mttr")}
    assert answers == {
        # No deploys is measured (Opslog's level: frequency 0 is low), not missing data.
        "df": {"key": "low"},
        "mltc": {"key": "na-deployments-pullrequests"},
        "cfr": {"key": "na-deployments"},
        "mttr": {"key": "na-incidents"},
    }


def test_a_constant_number_of_queries_whatever_the_range(march, bearer, django_assert_max_num_queries):
    for aggregation in ("weekly", "monthly", "quarterly"):
        with django_assert_max_num_queries(16):  # PostgreSQL: the report transaction's savepoint and settings
            dora = f"aggregation={aggregation}&from=2020-01-01T00:00:00Z&to=2024-12-31T00:00:00Z"
            assert sum(points(bearer.get(f"{METRIC}?type=df_count&{dora}")).values()) == 5


# --- Auth ------------------------------------------------------------------------------------------


def test_without_a_token_401_asking_for_a_bearer_token(client):
    response = client.get(f"{METRIC}?type=df_count")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"' or response["WWW-Authenticate"].startswith("Bearer")
    valid(response.json(), ERROR_RESPONSE)


def test_a_logged_in_browser_session_is_not_enough(logged_in):
    # Only tokens: the answers carry Access-Control-Allow-Origin: *, so cookies must not authenticate.
    assert logged_in.get(f"{METRIC}?type=df_count").status_code == 401


@pytest.mark.parametrize("header", ["Bearer not-a-key", "Token not-a-key", "Bearer", "Basic dXNlcjpwYXNz"])
def test_a_wrong_token_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    for path in (f"{METRIC}?type=df_count", f"{BENCHMARK}?type=df"):
        response = client.get(path)
        assert response.status_code == 401, header
        assert "not-a-key" not in response.content.decode()
        valid(response.json(), ERROR_RESPONSE)


def test_a_token_of_an_inactive_user_is_401(bearer, user):
    user.is_active = False
    user.save()
    assert bearer.get(f"{METRIC}?type=df_count").status_code == 401


@pytest.mark.parametrize("role", [VIEWER, RESPONDER, ADMIN])
def test_every_role_reads_with_a_bearer_token(role, django_user_model):
    user = django_user_model.objects.create_user(username=f"a-{role}", password="a-long-test-password")
    role_set(user=user, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(user).key}")
    assert client.get(f"{METRIC}?type=df_count").status_code == 200
    assert client.get(f"{BENCHMARK}?type=df").status_code == 200


def test_the_token_keyword_works_too_and_the_role_check_applies(api):
    # Outside tests/config/test_roles.py's walk (its answers are opendora's): the same permission.
    assert OpenDoraMetricView.permission_classes == OpenDoraBenchmarkView.permission_classes == [RolePermission]
    assert api.get(f"{BENCHMARK}?type=df").status_code == 200


def test_an_ingest_token_may_not_read(ingest_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    response = client.get(f"{METRIC}?type=df_count")
    assert response.status_code == 401
    valid(response.json(), ERROR_RESPONSE)


def test_correlation_id_echoed_and_cors_open(bearer):
    given = str(uuid.uuid4())
    response = bearer.get(f"{METRIC}?type=df_count", HTTP_X_CORRELATION_ID=given)
    assert response["X-Correlation-Id"] == given
    assert response["Access-Control-Allow-Origin"] == "*"
    bad = bearer.get(f"{METRIC}?type=nope", HTTP_X_CORRELATION_ID=given)
    assert bad.json()["reference"] == given
    # Not a UUID: a new one, never the caller's text.
    odd = bearer.get(f"{METRIC}?type=nope", HTTP_X_CORRELATION_ID="<script>")
    assert uuid.UUID(odd["X-Correlation-Id"]) and odd.json()["reference"] == odd["X-Correlation-Id"]


# --- Bad input -------------------------------------------------------------------------------------

BAD = [
    (METRIC, "", "type", "type should be provided as one of the following: df_average, df_count, mltc, cfr, mttr."),
    (METRIC, "type=df", "type", "type should be provided as one of the following"),
    (BENCHMARK, "type=df_count", "type", "type should be provided as one of the following: df, mltc, cfr, mttr."),
    (METRIC, "type=cfr&aggregation=daily", "aggregation", "aggregation should be provided as one of the following"),
    (METRIC, "type=cfr&from=2024-01-01T00:00:00Z", "to", "both to and from should be provided"),
    (METRIC, "type=cfr&to=2024-01-01T00:00:00Z", "from", "both to and from should be provided"),
    (METRIC, "type=cfr&from=yesterday&to=2024-01-01T00:00:00Z", "from", "from should be an RFC 3339 date-time"),
    (METRIC, "type=cfr&from=2024-01-01T00:00:00&to=2024-02-01T00:00:00Z", "from", "from should give its offset"),
    (METRIC, "type=cfr&from=2024-01-01T00:00:00Z&to=2024-02-30T00:00:00Z", "to", "to should be an RFC 3339"),
    (METRIC, "type=cfr&from=2024-03-01T00:00:00Z&to=2024-02-01T00:00:00Z", "from", "from should be a date before to"),
    (METRIC, "type=cfr&project=serach", "project", "unknown service “serach”"),
    (BENCHMARK, "type=cfr&team=Nobody", "team", "unknown team “Nobody”"),
    (METRIC, "type=cfr&from=1990-01-01T00:00:00Z&to=2024-02-01T00:00:00Z", "to", "at most 265 periods"),
    (
        METRIC,
        "type=cfr&aggregation=monthly&from=1990-01-01T00:00:00Z&to=2024-02-01T00:00:00Z",
        "to",
        "at most 240 periods",
    ),
    (METRIC, f"type=cfr&project={'x' * 5000}", "project", "at most 200 characters"),
    (METRIC, "type=cfr&project=%00", "project", "Null characters are not allowed"),
    (METRIC, "type=cfr&team=%F0%9F%92%A5%E2%80%AE", "team", "unknown team “💥\u202e”"),
    (METRIC, "type=cfr&type=mttr", "type", "type should be given once."),
    (BENCHMARK, "type=cfr&project=web&project=api", "project", "project should be given once."),
]


@pytest.mark.parametrize(("path", "query", "field", "message"), BAD)
def test_bad_parameters_are_a_400_naming_the_field(march, bearer, path, query, field, message):
    response = bearer.get(f"{path}?{query}")
    assert response.status_code == 400
    body = valid(response.json(), ERROR_RESPONSE)
    assert message in body["message"]
    assert list(body["errors"]) == [field]
    assert message in body["errors"][field][0]


def test_periods_are_in_the_reporting_time_zone(settings, bearer):
    settings.OPSLOG_REPORT_TIME_ZONE = "Europe/Amsterdam"
    service, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    # 23:30 UTC on Sunday 31 March is 01:30 on Monday 1 April in Amsterdam (summer time).
    DeployFactory(service=service, environment=production, deployed_at=at("2024-03-31T23:30:00Z"))
    # `to` 22:30 UTC on 31 March is 00:30 on 1 April there: the range reaches April.
    dora = "from=2024-03-01T00:00:00%2B01:00&to=2024-03-31T22:30:00Z"
    assert points(bearer.get(f"{METRIC}?type=df_count&aggregation=monthly&{dora}")) == {"24/03": 0, "24/04": 1}
    assert points(bearer.get(f"{METRIC}?type=df_count&{dora}"))["2024-04-01"] == 1
    assert points(bearer.get(f"{METRIC}?type=df_count&aggregation=quarterly&{dora}")) == {
        "2024-01-01": 0,
        "2024-04-01": 1,
    }
