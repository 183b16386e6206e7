"""The weekly and quarterly report API: shape, known answers, CSV, errors, defaults, query counts."""

import csv
import io
import unicodedata

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.reports.test_api import EMPTY_MONTH
from tests.support.reports import build_march
from tests.support.times import at

pytestmark = pytest.mark.django_db

EMPTY = {key: value for key, value in EMPTY_MONTH.items() if key != "month"}


@pytest.fixture
def march():
    return build_march()


def test_shape_of_an_empty_week_and_quarter(api):
    week = api.get("/api/reports/weekly/?from=2024-W05&to=2024-W05").json()
    quarter = api.get("/api/reports/quarterly/?from=2024-Q1&to=2024-Q1").json()

    assert list(week) == ["time_zone", "from", "to", "attribution", "window_seconds", "weeks", "totals"]
    assert (week["from"], week["to"]) == ("2024-W05", "2024-W05")
    # 2024-W05: Monday 29 January to Sunday 4 February; `end` is the Monday after, excluded.
    assert week["weeks"] == [{"week": "2024-W05", "start": "2024-01-29", "end": "2024-02-05", **EMPTY}]
    assert list(week["weeks"][0])[:4] == ["week", "start", "end", "deploys"]
    assert week["totals"] == EMPTY
    assert list(quarter) == ["time_zone", "from", "to", "attribution", "window_seconds", "quarters", "totals"]
    assert quarter["quarters"] == [{"quarter": "2024-Q1", "start": "2024-01-01", "end": "2024-04-01", **EMPTY}]


def test_known_numbers_per_week_for_one_service(api, march):
    body = api.get("/api/reports/weekly/?from=2024-W10&to=2024-W14&service=web").json()
    weeks = {w["week"]: w for w in body["weeks"]}

    assert list(weeks) == ["2024-W10", "2024-W11", "2024-W12", "2024-W13", "2024-W14"]
    # d1 (5 Mar), d2 rolled back (12 Mar), d3 (20 Mar, caused i1 and i2), nothing, d5 (2 Apr).
    assert [w["deploys"] for w in body["weeks"]] == [1, 1, 1, 0, 1]
    assert [w["change_failure_rate"] for w in body["weeks"]] == [0.0, 1.0, 1.0, None, 0.0]
    assert [w["incidents"] for w in body["weeks"]] == [0, 0, 2, 1, 0]  # i1 i2 (20, 21 Mar); i3 (28 Mar)
    w12 = weeks["2024-W12"]
    assert (w12["start"], w12["end"]) == ("2024-03-18", "2024-03-25")
    assert w12["mttd_seconds"] == {"mean": 90.0, "median": 90.0}  # 120 60
    assert weeks["2024-W10"]["lead_time_seconds"] == {"median": 7200.0}
    # One deploy in 7 days is weekly: high; 2 failures of 1: low.
    assert weeks["2024-W10"]["dora"]["deploy_frequency"] == "high"
    assert weeks["2024-W14"]["rework_rate"] == 1.0  # d5 remediates i2
    assert body["totals"]["deploys"] == 4 and body["totals"]["incidents"] == 3


def test_known_numbers_per_quarter(api, march):
    body = api.get("/api/reports/quarterly/?from=2023-Q4&to=2024-Q2&service=web").json()
    monthly = api.get("/api/reports/monthly/?from=2024-01&to=2024-03&service=web").json()

    assert [q["quarter"] for q in body["quarters"]] == ["2023-Q4", "2024-Q1", "2024-Q2"]
    q4, q1, q2 = body["quarters"]
    assert q4 == {"quarter": "2023-Q4", "start": "2023-10-01", "end": "2024-01-01", **EMPTY}
    # Q1 is January to March: the monthly report's totals over them, exactly.
    assert {k: v for k, v in q1.items() if k not in ("quarter", "start", "end", "dora")} == {
        k: v for k, v in monthly["totals"].items() if k != "dora"
    }
    assert (q1["deploys"], q1["deploy_related_incidents"], q2["deploys"]) == (3, 2, 1)


@pytest.mark.parametrize(
    ("path", "query", "bounds"),
    [
        # A day stands for its period; so, for quarters, does a month.
        ("weekly", "from=2024-03-05&to=2024-03-31", ("2024-W10", "2024-W13")),
        ("weekly", "from=2024-w10&to=2024-W10", ("2024-W10", "2024-W10")),
        ("weekly", "from=2020-W53&to=2021-W01", ("2020-W53", "2021-W01")),  # 2020 has 53 ISO weeks
        ("weekly", "from=2027-01-01&to=2027-01-04", ("2026-W53", "2027-W01")),  # 1 January 2027: ISO 2026-W53
        ("quarterly", "from=2024-02-29&to=2024-12", ("2024-Q1", "2024-Q4")),
        ("quarterly", "from=2024-q2&to=2024-Q2", ("2024-Q2", "2024-Q2")),
    ],
)
def test_from_and_to_in_the_periods_notation_or_a_day(api, path, query, bounds):
    body = api.get(f"/api/reports/{path}/?{query}").json()

    assert (body["from"], body["to"]) == bounds


@pytest.mark.parametrize(
    ("path", "query", "errors"),
    [
        ("weekly", "from=2026-W54", {"from": ["2026 has no week W54: its ISO weeks are W01 to W53."]}),
        ("weekly", "to=2025-W53", {"to": ["2025 has no week W53: its ISO weeks are W01 to W52."]}),
        ("weekly", "from=2026-W00", {"from": ["2026 has no week W00: its ISO weeks are W01 to W53."]}),
        (
            "weekly",
            "from=2026-05&to=2026-02-30",
            {
                "from": ["Enter an ISO week as YYYY-Www (e.g. 2026-W05) or a day as YYYY-MM-DD."],
                "to": ["Enter an ISO week as YYYY-Www (e.g. 2026-W05) or a day as YYYY-MM-DD."],
            },
        ),
        ("weekly", "from=1969-W10", {"from": ["Enter a week between 1970 and 2999."]}),
        (
            "weekly",
            "from=2024-W10&to=2024-W09",
            {"from": ["The first week (2024-W10) is after the last one (2024-W09)."]},
        ),
        (
            "weekly",
            "from=2000-W01&to=2020-W02",
            {"to": ["A weekly report covers at most 1044 weeks (20 years); 2000-W01 to 2020-W02 is 1045."]},
        ),
        ("quarterly", "from=2026-Q5", {"from": ["A year has quarters Q1 to Q4, not Q5."]}),
        (
            "quarterly",
            "to=Q1-2026",
            {
                "to": [
                    "Enter a quarter as YYYY-Qn (e.g. 2026-Q1, n from 1 to 4), a month as YYYY-MM or a day as "
                    "YYYY-MM-DD."
                ]
            },
        ),
        (
            "quarterly",
            "from=2024-Q3&to=2024-Q2",
            {"from": ["The first quarter (2024-Q3) is after the last one (2024-Q2)."]},
        ),
        (
            "quarterly",
            "from=2000-Q1&to=2020-Q1",
            {"to": ["A quarterly report covers at most 80 quarters (20 years); 2000-Q1 to 2020-Q1 is 81."]},
        ),
        ("quarterly", "service=nope", {"service": ["Unknown service: “nope”."]}),
    ],
)
def test_bad_values_are_a_400_per_parameter(api, path, query, errors):
    response = api.get(f"/api/reports/{path}/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # Arabic-Indic, fullwidth and Devanagari digits: int() reads them all as 2026, which the
        # notation (ASCII digits, as <input type="week|month"> sends) doesn't allow.
        ("weekly", "\u0662\u0660\u0662\u0666-W05"),
        ("weekly", "2026-W\uff10\uff15"),
        ("quarterly", "\u0968\u0966\u0968\u096c-Q1"),
        ("quarterly", "\u0662\u0660\u0662\u0666-01"),
        ("monthly", "\u0662\u0660\u0662\u0666-01"),
        ("yearly", "\u0662\u0660\u0662\u0666"),
        ("weekly", "\u0662\u0660\u0662\u0666-01-05"),
    ],
)
def test_digits_other_than_ascii_are_refused(api, path, value):
    ascii_value = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in value)
    plain = api.get(f"/api/reports/{path}/", {"to": ascii_value})
    response = api.get(f"/api/reports/{path}/", {"to": value})

    assert plain.status_code == 200
    assert response.status_code == 400
    assert list(response.json()) == ["to"]


def test_the_longest_ranges_are_fine(api):
    weeks = api.get("/api/reports/weekly/?from=2000-W01&to=2020-W01").json()
    quarters = api.get("/api/reports/quarterly/?from=2000-Q1&to=2019-Q4").json()

    assert len(weeks["weeks"]) == 1044
    assert len(quarters["quarters"]) == 80


def test_defaults_are_the_last_12_weeks_and_8_quarters_in_the_reporting_time_zone(api, settings, monkeypatch):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    # 23:30 UTC on Sunday 31 March 2024 is Monday 1 April in Berlin: 2024-W14 and 2024-Q2 there.
    monkeypatch.setattr("django.utils.timezone.now", lambda: at("2024-03-31T23:30:00Z"))

    weeks = api.get("/api/reports/weekly/").json()
    quarters = api.get("/api/reports/quarterly/").json()
    only_to = api.get("/api/reports/weekly/?to=2024-W02").json()

    assert (weeks["from"], weeks["to"], len(weeks["weeks"])) == ("2024-W03", "2024-W14", 12)
    assert weeks["weeks"][-1]["partial"] is True and weeks["weeks"][-2]["partial"] is False
    assert (quarters["from"], quarters["to"], len(quarters["quarters"])) == ("2022-Q3", "2024-Q2", 8)
    assert (only_to["from"], only_to["to"]) == ("2023-W43", "2024-W02")


def test_csv_first_column_is_the_period_and_the_bounds_come_last(api, march):
    response = api.get("/api/reports/weekly/?from=2024-W10&to=2024-W11&service=web&format=csv")
    monthly = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&format=csv")
    quarterly = api.get("/api/reports/quarterly/?from=2024-Q1&to=2024-Q1&format=csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="opslog-weekly-2024-W10-to-2024-W11.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    header = list(rows[0])
    month_header = monthly.content.decode().splitlines()[0].split(",")
    # The same columns at the same places as the monthly CSV, the week's bounds appended.
    assert header == ["week", *month_header[1:], "start", "end"]
    assert [(r["week"], r["deploys"], r["start"], r["end"]) for r in rows] == [
        ("2024-W10", "1", "2024-03-04", "2024-03-11"),
        ("2024-W11", "1", "2024-03-11", "2024-03-18"),
    ]
    quarter = quarterly.content.decode().splitlines()
    assert quarter[0].startswith("quarter,deploys,") and quarter[1].startswith("2024-Q1,4,")


def test_query_count_is_constant_whatever_the_range(api, march):
    def count(path, query):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(f"/api/reports/{path}/?{query}").status_code == 200
        return len(ctx.captured_queries)

    monthly = count("monthly", "from=2024-03&to=2024-03&service=web&severity=1")
    assert (
        count("weekly", "from=2024-W10&to=2024-W10&service=web&severity=1")
        == count("weekly", "from=2005-W01&to=2024-W52&service=web&severity=1")
        == count("weekly", "from=2005-W01&to=2024-W52")
        == monthly
    )
    assert (
        count("quarterly", "from=2024-Q1&to=2024-Q1&service=web&severity=1")
        == count("quarterly", "from=2005-Q1&to=2024-Q4")
        == monthly
    )


@pytest.mark.parametrize("path", ["/api/reports/weekly/", "/api/reports/quarterly/?format=csv"])
def test_anonymous_requests_are_refused(path):
    from rest_framework.test import APIClient

    response = APIClient().get(path)

    assert response.status_code == 401


def test_schema_documents_both(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path, name, component in (
        ("/api/reports/weekly/", "weeks", "WeeklyReport"),
        ("/api/reports/quarterly/", "quarters", "QuarterlyReport"),
    ):
        operation = schema["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "service", "format"}
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
        assert list(schema["components"]["schemas"][component]["properties"]) == [
            "time_zone",
            "from",
            "to",
            "attribution",
            "window_seconds",
            name,
            "totals",
        ]
    weeks = schema["components"]["schemas"]["ReportWeek"]["properties"]
    assert list(weeks)[:3] == ["week", "start", "end"]
    assert "2026-W05" in weeks["week"]["description"]
    assert "1044 weeks (20 years)" in str(schema["paths"]["/api/reports/weekly/"]["get"]["parameters"])
