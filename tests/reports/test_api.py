"""The report API: the shape from issue 5, known answers worked out by hand, CSV, errors."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory
from tests.support.reports import build_march
from tests.support.times import at

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def march():
    return build_march()


EMPTY_MONTH = {
    "month": "2024-02",
    "deploys": 0,
    "deployers": 0,
    "incidents": 0,
    "deploy_related_incidents": 0,
    "unresolved_incidents": 0,
    "incident_rate": None,
    "change_failure_rate": None,
    "rework_rate": None,
    "mttd_seconds": {"mean": None, "median": None},
    "mttr_seconds": {"mean": None, "median": None},
    "time_to_restore_seconds": {"mean": None, "median": None},
    "mtta_seconds": {"mean": None, "median": None},
    "lead_time_seconds": {"median": None},
    # No deploys is measured: frequency 0 rates low. The rest had nothing to measure.
    "dora": {
        "deploy_frequency": "low",
        "lead_time": None,
        "change_failure_rate": None,
        "time_to_restore": None,
        "overall": "low",
        "left_out": [
            {"metric": "lead_time", "reason": "no commits"},
            {"metric": "change_failure_rate", "reason": "no deploys"},
            {"metric": "failed_deployment_recovery_time", "reason": "no failed deploys"},
        ],
        "failed_deployment_recovery_time": None,
    },
    "partial": False,
    "failed_deployment_recovery_seconds": {"mean": None, "median": None},
    "unrecovered_failed_deploys": 0,
}


def test_shape_of_an_empty_month_is_exactly_the_issues(api):
    response = api.get("/api/reports/monthly/?from=2024-02&to=2024-02")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    # Issue 19 added which attribution rule the figures follow, and its window (null: linked).
    assert list(body) == ["time_zone", "from", "to", "attribution", "window_seconds", "months", "totals"]
    assert (body["attribution"], body["window_seconds"]) == ("linked", None)
    assert body == {
        "time_zone": "UTC",
        "from": "2024-02",
        "to": "2024-02",
        "attribution": "linked",
        "window_seconds": None,
        "months": [EMPTY_MONTH],
        "totals": {key: value for key, value in EMPTY_MONTH.items() if key != "month"},
    }
    assert list(body["months"][0]) == list(EMPTY_MONTH)


def test_known_numbers_for_one_service(api, march):
    body = api.get("/api/reports/monthly/?from=2024-02&to=2024-04&service=web").json()
    feb, mar, apr = body["months"]

    assert [m["month"] for m in body["months"]] == ["2024-02", "2024-03", "2024-04"]
    assert feb == EMPTY_MONTH
    assert mar == {
        "month": "2024-03",
        "deploys": 3,  # d1 d2 d3; d4 failed, the staging deploy and api's don't count
        "deployers": 2,  # alice bob
        "incidents": 3,  # i1 i2 i3
        "deploy_related_incidents": 2,  # i1 i2
        "unresolved_incidents": 1,  # i3
        "incident_rate": 2 / 3,
        "change_failure_rate": 2 / 3,  # d2 rolled back, d3 caused two incidents: counts once
        "rework_rate": 0.0,
        "mttd_seconds": {"mean": 70.0, "median": 60.0},  # 120 60 30
        "mttr_seconds": {"mean": 1200.0, "median": 1200.0},  # 600 1800
        "time_to_restore_seconds": {"mean": 1290.0, "median": 1290.0},  # 720 1860
        "mtta_seconds": {"mean": 195.0, "median": 195.0},  # 300 90; i3 never acknowledged
        "lead_time_seconds": {"median": 46800.0},  # 7200 86400
        # 3 deploys in 31 days: monthly. Lead 13 h: elite. 67 % failures: low. Failed deployment
        # recovery 4.3 days: medium. Restore 21.5 min: elite (for reference, not in overall).
        "dora": {
            "deploy_frequency": "medium",
            "lead_time": "elite",
            "change_failure_rate": "low",
            "time_to_restore": "elite",
            "overall": "low",
            "left_out": [],
            "failed_deployment_recovery_time": "medium",
        },
        "partial": False,
        # d2 (rolled back, 12 March 10:00) → its rollback deploy, the next counted one of web to
        # production: d3 on 20 March 10:00, 691200 s. d3 caused i1 (resolved 20 March 10:42) and i2
        # (resolved 21 March 00:31): the last resolution, 52260 s (d5's remediation comes later).
        "failed_deployment_recovery_seconds": {"mean": 371730.0, "median": 371730.0},
        "unrecovered_failed_deploys": 0,
    }
    assert apr == {
        **EMPTY_MONTH,
        "month": "2024-04",
        "deploys": 1,
        "deployers": 1,
        "incident_rate": 0.0,
        "change_failure_rate": 0.0,
        "rework_rate": 1.0,  # d5 remediates i2
        "dora": {
            "deploy_frequency": "medium",
            "lead_time": None,
            "change_failure_rate": "elite",
            "time_to_restore": None,
            "overall": "medium",
            "left_out": [
                {"metric": "lead_time", "reason": "no commits"},
                {"metric": "failed_deployment_recovery_time", "reason": "no failed deploys"},
            ],
            "failed_deployment_recovery_time": None,
        },
        "partial": False,
    }
    assert body["totals"] == {
        "deploys": 4,
        "deployers": 2,
        "incidents": 3,
        "deploy_related_incidents": 2,
        "unresolved_incidents": 1,
        "incident_rate": 0.5,
        "change_failure_rate": 0.5,
        "rework_rate": 0.25,
        "mttd_seconds": {"mean": 70.0, "median": 60.0},
        "mttr_seconds": {"mean": 1200.0, "median": 1200.0},
        "time_to_restore_seconds": {"mean": 1290.0, "median": 1290.0},
        "mtta_seconds": {"mean": 195.0, "median": 195.0},
        "lead_time_seconds": {"median": 46800.0},
        # 4 deploys in 91 days (Feb 29 + Mar 31 + Apr 30): monthly.
        "dora": {
            "deploy_frequency": "medium",
            "lead_time": "elite",
            "change_failure_rate": "low",
            "time_to_restore": "elite",
            "overall": "low",
            "left_out": [],
            "failed_deployment_recovery_time": "medium",
        },
        "partial": False,
        "failed_deployment_recovery_seconds": {"mean": 371730.0, "median": 371730.0},
        "unrecovered_failed_deploys": 0,
    }


def test_every_service_and_even_count_median(api, march):
    mar = api.get("/api/reports/monthly/?from=2024-03&to=2024-03").json()["months"][0]

    assert (mar["deploys"], mar["deployers"], mar["incidents"]) == (4, 3, 4)
    assert mar["mttd_seconds"] == {"mean": 55.0, "median": 45.0}  # 120 60 30 10: between 30 and 60
    assert mar["mttr_seconds"]["median"] == 600.0  # 600 1800 10
    # 300 90 0 (i4 acknowledged at detection counts as 0; i3 never acknowledged is left out).
    assert mar["mtta_seconds"] == {"mean": 130.0, "median": 90.0}


@pytest.mark.parametrize(
    "query",
    ["service=web&service=api", "service=web,api", "service=web, api&service=web", "team=Storefront,Platform"],
)
def test_several_services_or_teams_repeated_or_comma_separated(api, march, query):
    mar = api.get(f"/api/reports/monthly/?from=2024-03&to=2024-03&{query}").json()["months"][0]

    assert (mar["deploys"], mar["incidents"]) == (4, 4)


def test_team_and_severity_filters(api, march):
    platform = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&team=Platform").json()["months"][0]
    sev1 = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&service=web&severity=1").json()["months"][0]
    sev12 = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&severity=1,2").json()["months"][0]

    assert (platform["deploys"], platform["deployers"], platform["incidents"]) == (1, 1, 1)
    assert (sev1["incidents"], sev1["mttr_seconds"]["median"]) == (1, 1800.0)
    assert sev1["mtta_seconds"] == {"mean": 90.0, "median": 90.0}  # i2 only
    assert platform["mtta_seconds"] == {"mean": 0.0, "median": 0.0}  # i4 only
    assert sev1["deploys"] == 3  # severity narrows incidents only
    assert sev12["incidents"] == 2


def test_defaults_to_the_last_12_months_in_the_reporting_time_zone(api, settings, monkeypatch):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    # 23:30 UTC on 31 March is already April in Berlin.
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-03-31T23:30:00Z"))

    body = api.get("/api/reports/monthly/").json()
    only_to = api.get("/api/reports/monthly/?to=2010-12").json()
    only_from = api.get("/api/reports/monthly/?from=2024-01").json()

    assert (body["time_zone"], body["from"], body["to"]) == ("Europe/Berlin", "2023-05", "2024-04")
    assert len(body["months"]) == 12
    assert (only_to["from"], only_to["to"]) == ("2010-01", "2010-12")
    assert (only_from["from"], only_from["to"]) == ("2024-01", "2024-04")


def test_csv_has_one_flat_row_per_month(api, march):
    response = api.get("/api/reports/monthly/?from=2024-02&to=2024-04&service=web&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="opslog-monthly-2024-02-to-2024-04.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == [
        "month",
        "deploys",
        "deployers",
        "incidents",
        "deploy_related_incidents",
        "unresolved_incidents",
        "incident_rate",
        "change_failure_rate",
        "rework_rate",
        "mttd_seconds_mean",
        "mttd_seconds_median",
        "mttr_seconds_mean",
        "mttr_seconds_median",
        "time_to_restore_seconds_mean",
        "time_to_restore_seconds_median",
        "lead_time_seconds_median",
        "dora_deploy_frequency",
        "dora_lead_time",
        "dora_change_failure_rate",
        "dora_time_to_restore",
        "dora_overall",
        "partial",
        # Added later: appended, so the earlier columns keep their positions.
        "mtta_seconds_mean",
        "mtta_seconds_median",
        "dora_left_out",
        "failed_deployment_recovery_seconds_mean",
        "failed_deployment_recovery_seconds_median",
        "unrecovered_failed_deploys",
        "dora_failed_deployment_recovery_time",
    ]
    assert [row["month"] for row in rows] == ["2024-02", "2024-03", "2024-04"]
    feb, mar, _ = rows
    # February had no deploys: measured, low; what had nothing to measure is named.
    assert (feb["deploys"], feb["incident_rate"], feb["mttd_seconds_mean"], feb["dora_overall"]) == ("0", "", "", "low")
    assert feb["dora_left_out"] == (
        "lead time (no commits); change failure rate (no deploys); failed deployment recovery time (no failed deploys)"
    )
    assert mar["dora_left_out"] == ""
    assert (mar["deploys"], mar["change_failure_rate"], mar["mttd_seconds_median"]) == ("3", repr(2 / 3), "60.0")
    assert (mar["lead_time_seconds_median"], mar["dora_overall"]) == ("46800.0", "low")
    assert (mar["mtta_seconds_mean"], mar["mtta_seconds_median"], feb["mtta_seconds_mean"]) == ("195.0", "195.0", "")
    assert (mar["failed_deployment_recovery_seconds_median"], mar["unrecovered_failed_deploys"]) == ("371730.0", "0")
    assert (mar["dora_failed_deployment_recovery_time"], feb["failed_deployment_recovery_seconds_mean"]) == (
        "medium",
        "",
    )


def test_csv_by_accept_header(api, march):
    response = api.get("/api/reports/monthly/?from=2024-03&to=2024-03", HTTP_ACCEPT="text/csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines()[1].startswith("2024-03,4,3,4,")


def test_yearly_report(api, march):
    by_year = api.get("/api/reports/yearly/?from=2023&to=2024&service=web").json()
    by_month = api.get("/api/reports/yearly/?from=2024-03&to=2024-04&service=web").json()
    rows = list(csv.reader(io.StringIO(api.get("/api/reports/yearly/?from=2024&to=2024&format=csv").content.decode())))

    assert list(by_year) == ["time_zone", "from", "to", "attribution", "window_seconds", "years", "totals"]
    assert (by_year["from"], by_year["to"]) == ("2023", "2024")
    y2023, y2024 = by_year["years"]
    assert y2023 == {**{k: v for k, v in EMPTY_MONTH.items() if k != "month"}, "year": "2023"}
    assert list(y2024)[0] == "year"
    assert (y2024["year"], y2024["deploys"], y2024["deploy_related_incidents"]) == ("2024", 4, 2)
    assert y2024["mttd_seconds"] == {"mean": 70.0, "median": 60.0}
    assert y2024["mttr_seconds"] == {"mean": 1200.0, "median": 1200.0}
    assert y2024["mtta_seconds"] == {"mean": 195.0, "median": 195.0}
    assert by_year["totals"]["deploys"] == 4
    assert (by_month["from"], by_month["to"], [y["year"] for y in by_month["years"]]) == ("2024", "2024", ["2024"])
    assert rows[0][0] == "year" and rows[1][:2] == ["2024", "5"]
    # Every service: 300 90 0.
    assert dict(zip(rows[0], rows[1]))["mtta_seconds_mean"] == "130.0" and rows[0][-6:] == [
        "mtta_seconds_median",
        "dora_left_out",
        "failed_deployment_recovery_seconds_mean",
        "failed_deployment_recovery_seconds_median",
        "unrecovered_failed_deploys",
        "dora_failed_deployment_recovery_time",
    ]


def test_yearly_defaults_to_the_years_of_the_last_12_months(api, monkeypatch):
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-03-15T12:00:00Z"))

    body = api.get("/api/reports/yearly/").json()

    assert [y["year"] for y in body["years"]] == ["2023", "2024"]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=2024-13", {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."]}),
        (
            "from=May%202024&to=2024-5",
            {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."], "to": ["Enter a month as YYYY-MM, e.g. 2010-05."]},
        ),
        ("from=0999-01", {"from": ["Enter a month between 1970 and 2999."]}),
        ("from=2024-05&to=2024-04", {"from": ["The first month (2024-05) is after the last one (2024-04)."]}),
        (
            "from=2000-01&to=2020-01",
            {"to": ["A report covers at most 240 months (20 years); 2000-01 to 2020-01 is 241."]},
        ),
        ("service=web,serach", {"service": ["Unknown service: “serach”."]}),
        ("team=Nobody", {"team": ["Unknown team: “Nobody”."]}),
        ("severity=7&severity=sev1", {"severity": ["Unknown severity: “7”, “sev1”. Use 1, 2, 3 or 4."]}),
    ],
)
def test_bad_parameters_are_a_400_with_a_message_per_parameter(api, march, query, errors):
    response = api.get(f"/api/reports/monthly/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


def test_errors_are_json_when_csv_was_asked_for(api):
    response = api.get("/api/reports/monthly/?from=nope&format=csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."]}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=2010-13", {"from": ["Enter a year as YYYY (e.g. 2010) or a month as YYYY-MM."]}),
        ("from=2012&to=2010", {"from": ["The first year (2012) is after the last one (2010)."]}),
        ("from=2000&to=2020", {"to": ["A report covers at most 20 calendar years; 2000 to 2020 is 21."]}),
    ],
)
def test_yearly_errors(api, query, errors):
    response = api.get(f"/api/reports/yearly/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


def test_240_months_is_fine(api):
    body = api.get("/api/reports/monthly/?from=2000-01&to=2019-12").json()

    assert len(body["months"]) == 240


@pytest.mark.parametrize("path", ["/api/reports/monthly/", "/api/reports/yearly/", "/api/reports/monthly/?format=csv"])
def test_anonymous_requests_are_refused(path):
    response = APIClient().get(path)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_a_wrong_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")

    assert client.get("/api/reports/monthly/").status_code == 401


def monthly_queries(api, query: str) -> int:
    """How many queries the monthly report API makes for `query`."""
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(f"/api/reports/monthly/?{query}").status_code == 200
    return len(ctx.captured_queries)


def test_query_count_is_constant_and_small(api, march):
    def count(query):
        return monthly_queries(api, query)

    one = count("from=2024-03&to=2024-03&service=web&severity=1")
    many = count("from=2015-01&to=2024-12&service=web&severity=1")  # 120 months
    widest = count("from=2005-01&to=2024-12")

    assert one == many == widest <= 15


def test_schema_documents_the_parameters_and_both_formats(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path in ("/api/reports/monthly/", "/api/reports/yearly/"):
        operation = schema["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} == {
            "from",
            "to",
            "service",
            "team",
            "environment",  # issue 19
            "severity",
            "include_partial",
            "attribution",  # issue 19
            "window",  # issue 19
            "format",
        }
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
        assert "400" in operation["responses"]
    months = schema["components"]["schemas"]["MonthlyReport"]["properties"]
    assert list(months) == ["time_zone", "from", "to", "attribution", "window_seconds", "months", "totals"]
    figures = schema["components"]["schemas"]["ReportFigures"]["properties"]
    assert figures["mtta_seconds"]["description"] == "acknowledged_at − detected_at, over acknowledged incidents."
    durations = schema["components"]["schemas"]["ReportDurations"]["properties"]
    assert set(durations) == {"mean", "median"}


@pytest.fixture
def eu(march):
    """march, plus production-eu: web ships commit a there the next day, api a rolled-back deploy."""
    production_eu = EnvironmentFactory(slug="production-eu", is_production=True)
    e1 = DeployFactory(
        service=march["web"], environment=production_eu, deployed_at=at("2024-03-06T10:00:00Z"), deployer="erin"
    )
    e2 = DeployFactory(
        service=march["api"],
        environment=production_eu,
        deployed_at=at("2024-03-15T10:00:00Z"),
        deployer="frank",
        status="rolled_back",
    )
    # a reached production on 03-05 10:00 (authored 08:00): 26 h later to production-eu.
    DeployCommitFactory(deploy=e1, sha="a" * 40, authored_at=at("2024-03-05T08:00:00Z"))
    DeployCommitFactory(deploy=e2, sha="c" * 40, authored_at=at("2024-03-15T09:00:00Z"))  # 3600 s
    return march


@pytest.mark.parametrize(
    "query, deploys, deployers, failure_rate, lead_median",
    [
        # d1 d2 d3 api + e1 e2 (d2, d3, e2 failed); a 7200 (production first), b 86400, c 3600.
        ("", 6, 5, 3 / 6, 7200.0),
        # d1 d2 d3 api; a 7200, b 86400.
        ("environment=production", 4, 3, 2 / 4, 46800.0),
        # e1 e2 (rolled back); a 93600 from its first delivery to production-eu, c 3600.
        ("environment=production-eu", 2, 2, 1 / 2, 48600.0),
        ("environment=production,production-eu", 6, 5, 3 / 6, 7200.0),
        ("environment=production-eu&service=web", 1, 1, 0.0, 93600.0),
    ],
)
def test_the_environment_filter_narrows_deploys_and_lead_time_not_incidents(
    api, eu, query, deploys, deployers, failure_rate, lead_median
):
    mar = api.get(f"/api/reports/monthly/?from=2024-03&to=2024-03&{query}").json()["months"][0]

    assert (mar["deploys"], mar["deployers"]) == (deploys, deployers)
    assert mar["change_failure_rate"] == pytest.approx(failure_rate)
    assert mar["lead_time_seconds"]["median"] == lead_median
    if "service" not in query:
        assert mar["incidents"] == 4


@pytest.mark.parametrize(
    "path, period",
    [("weekly", "2024-W10"), ("quarterly", "2024-Q1"), ("yearly", "2024"), ("monthly", "2024-03")],
)
def test_every_period_and_the_csv_take_the_environment_filter(api, eu, path, period):
    query = f"from={period}&to={period}&environment=production-eu&include_partial=1"
    body = api.get(f"/api/reports/{path}/?{query}").json()
    rows = list(csv.DictReader(io.StringIO(api.get(f"/api/reports/{path}/?{query}&format=csv").content.decode())))

    # Week 10 (4–10 March) holds e1 only; the others both production-eu deploys.
    expected = 1 if path == "weekly" else 2
    assert body["totals"]["deploys"] == expected
    assert [row["deploys"] for row in rows] == [str(expected)]


@pytest.mark.parametrize(
    "query, message",
    [
        (
            "environment=nope",
            "Unknown environment: “nope”. Only deploys to production environments count: use production, production-eu.",
        ),
        # Staging exists but its deploys never count: said as such.
        (
            "environment=production,staging",
            "Not a production environment: “staging”. Only deploys to production environments count: use "
            "production, production-eu.",
        ),
        (
            "environment=qa,nope,staging,nope",
            "Unknown environment: “nope”. Not a production environment: “qa”, “staging”. Only deploys to "
            "production environments count: use production, production-eu.",
        ),
    ],
)
def test_an_unknown_or_non_production_environment_is_a_400_naming_it(api, eu, query, message):
    for path in ("monthly/", "weekly/", "monthly/?format=csv"):
        separator = "&" if "?" in path else "?"
        response = api.get(f"/api/reports/{path}{separator}{query}")

        assert response.status_code == 400
        assert response.json() == {"environment": [message]}


def test_hostile_environment_values_are_a_400_not_a_500(api, eu):
    for value in ("🚀" * 3000, "\x00", "production\u202e", "Production", "a," * 2000):
        response = api.get("/api/reports/monthly/", {"environment": value})

        assert response.status_code == 400
        assert list(response.json()) == ["environment"]
    # Only separators: nothing asked for, the unfiltered report.
    assert api.get("/api/reports/monthly/?environment=,,").status_code == 200


def test_the_environment_filter_keeps_the_query_count_constant(api, eu):
    def count(query):
        return monthly_queries(api, query)

    for environments in ("production-eu", "production,production-eu"):
        one = count(f"from=2024-03&to=2024-03&environment={environments}")
        assert one == count(f"from=2015-01&to=2024-12&environment={environments}&service=web&severity=1")
        assert one == count(f"from=2005-01&to=2024-12&environment={environments}")


@pytest.mark.parametrize(
    "edition, deploy_frequency, change_failure_rate",
    [
        ("2023", "Bands (2023): elite ≥ 1 a day, high ≥ 1 a week, medium ≥ 1 a month, low less.", "≤ 15 %"),
        (
            "2024",
            "Bands (2024): elite ≥ 1 a day, high ≥ 1 a week, medium ≥ 1 a month, low less.",
            "Always null under the 2024 bands (not banded in the 2024 edition)",
        ),
    ],
)
def test_the_schema_gives_the_bands_of_the_edition_in_use(
    api, settings, edition, deploy_frequency, change_failure_rate
):
    settings.OPSLOG_DORA_BANDS = edition
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    dora = schema["components"]["schemas"]["ReportDora"]["properties"]
    assert deploy_frequency in dora["deploy_frequency"]["description"]
    assert change_failure_rate in dora["change_failure_rate"]["description"]
    # 2024's recovery bands differ from 2023's: medium shares high's "under a day".
    recovery = dora["failed_deployment_recovery_time"]["description"]
    assert ("medium < 1 week" in recovery) == (edition == "2023")
    assert ("medium < 1 day (as high: none of its own)" in recovery) == (edition == "2024")
    # One enum for every level.
    assert (
        dora["overall"]["oneOf"][0]["$ref"]
        == dora["lead_time"]["oneOf"][0]["$ref"]
        == "#/components/schemas/DoraLevelEnum"
    )
