"""Known answers for every insight: random incidents, factors, tags and remediations (seeded), the
figures recomputed here with plain loops over the generated rows, in two reporting time zones."""

import datetime as dt
import statistics
import zoneinfo
from collections import Counter, defaultdict

import pytest
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from postmortems.factories import (
    ContributingFactorFactory,
    PostMortemFactorFactory,
    PostMortemFactory,
    RemediationFactory,
)
from postmortems.models import PostMortem, Remediation
from reports.insights import InsightFilters, insights
from tests.support.insights import generate

pytestmark = pytest.mark.django_db

START, END = dt.date(2025, 1, 15), dt.date(2025, 12, 31)
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
STAGES = [
    ("detect", "started_at", "detected_at"),
    ("acknowledge", "detected_at", "acknowledged_at"),
    ("mitigate", "acknowledged_at", "mitigated_at"),
    ("resolve", "mitigated_at", "resolved_at"),
]


@pytest.fixture(params=["America/Los_Angeles", "Asia/Kolkata"])
def zone(request, settings):
    settings.OPSLOG_REPORT_TIME_ZONE = request.param
    settings.TIME_ZONE = request.param
    settings.OPSLOG_WORKING_HOURS_TIME_ZONE = request.param
    settings.OPSLOG_WORKING_HOURS = (9 * 60, 18 * 60)
    settings.OPSLOG_WORKING_DAYS = frozenset(range(5))
    settings.OPSLOG_INSIGHTS_REPEAT_DAYS = 30
    settings.OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS = 5
    return zoneinfo.ZoneInfo(request.param)


def month(value: dt.datetime, zone) -> str:
    return f"{value.astimezone(zone):%Y-%m}"


def median(values):
    return statistics.median(values) if values else None


def expected(rows, zone, filters: InsightFilters) -> dict:
    since = dt.datetime.combine(START, dt.time.min, tzinfo=zone)
    until = dt.datetime.combine(END + dt.timedelta(days=1), dt.time.min, tzinfo=zone)

    def matches(row, *, timed=True) -> bool:
        if row["archived"]:
            return False
        if timed and not since <= row["started_at"] < until:
            return False
        if filters.severities and row["severity"] not in filters.severities:
            return False
        if filters.services or filters.teams:
            if not any(
                (not filters.services or slug in filters.services) and (not filters.teams or team in filters.teams)
                for slug, team in row["services"]
            ):
                return False
        if filters.factors and not set(row["factors"]) & set(filters.factors):
            return False
        if filters.tags and not set(row["tags"]) & set(filters.tags):
            return False
        return True

    def allowed(slug, team) -> bool:
        return (not filters.services or slug in filters.services) and (not filters.teams or team in filters.teams)

    scope = [r for r in rows if matches(r)]
    out = {"count": len(scope)}

    factor_months, factor_services, factor_teams = defaultdict(Counter), defaultdict(Counter), defaultdict(Counter)
    by_service, by_team = defaultdict(Counter), defaultdict(Counter)
    for r in scope:
        teams = {team for slug, team in r["services"] if allowed(slug, team)}
        for slug, team in r["services"]:
            if allowed(slug, team):
                by_service[slug][r["severity"]] += 1
        for team in teams:
            by_team[team][r["severity"]] += 1
        # Under a factor filter, only the filtered factors are charted.
        for f in [f for f in r["factors"] if not filters.factors or f in filters.factors]:
            factor_months[f][month(r["started_at"], zone)] += 1
            for slug, team in r["services"]:
                if allowed(slug, team):
                    factor_services[f][slug] += 1
            for team in teams:
                factor_teams[f][team] += 1
    out["factor_months"] = {f: dict(c) for f, c in factor_months.items()}
    out["factor_services"] = {f: dict(c) for f, c in factor_services.items()}
    out["factor_teams"] = {f: dict(c) for f, c in factor_teams.items()}
    out["by_service"] = {s: dict(c) for s, c in by_service.items()}
    out["by_team"] = {t: dict(c) for t, c in by_team.items()}

    live = [r for r in rows if not r["archived"]]
    repeats = []
    for r in scope:
        for other in live:
            gap = r["started_at"] - other["started_at"]
            if (
                dt.timedelta(0) < gap <= dt.timedelta(days=30)
                and {s for s, _ in r["services"]} & {s for s, _ in other["services"]}
                and set(r["factors"]) & set(other["factors"])
            ):
                repeats.append(r)
                break
    out["repeats"] = len(repeats)

    stages = {}
    for severity in [1, 2, 3, 4, None]:
        for name, first, last in STAGES:
            values = [
                (r[last] - r[first]).total_seconds()
                for r in scope
                if (severity is None or r["severity"] == severity) and r[first] and r[last]
            ]
            stages[(severity, name)] = (median(values), len(values))
    out["stages"] = stages

    today = timezone.now().astimezone(zone).date()
    remediation = {}
    for kind in ("dev", "ops", None):
        items = [
            m
            for r in rows
            if matches(r, timed=False)
            for m in r["remediations"]
            if since <= m["created_at"] < until and (kind is None or m["kind"] == kind)
        ]
        open_ = [m for m in items if m["status"] in ("open", "in_progress")]
        done = [m for m in items if m["status"] == "done"]
        due = [m for m in items if m["due_date"] and (m not in open_ or m["due_date"] < today)]
        on_time = [m for m in done if m["due_date"] and m["completed_at"].astimezone(zone).date() <= m["due_date"]]
        remediation[kind] = {
            "opened": len(items),
            "done": len(done),
            "wont_do": len([m for m in items if m["status"] == "wont_do"]),
            "overdue": len([m for m in open_ if m["due_date"] and m["due_date"] < today]),
            "median": median([(m["completed_at"] - m["created_at"]).total_seconds() for m in done]),
            "share": len(on_time) / len(due) if due else None,
        }
    out["remediations"] = remediation

    published = [r for r in scope if r["resolved_at"] and r["postmortem"] and r["postmortem"]["published_at"]]
    out["review_median"] = median(
        [(r["postmortem"]["published_at"] - r["resolved_at"]).total_seconds() for r in published]
    )
    due = on_time = 0
    for r in scope:
        if r["severity"] not in (1, 2) or not r["resolved_at"]:
            continue
        day, left = r["resolved_at"].astimezone(zone).date(), 5
        while left:
            day += dt.timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        deadline = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        published_at = r["postmortem"]["published_at"] if r["postmortem"] else None
        in_time = published_at is not None and published_at < deadline
        if in_time or deadline <= timezone.now():
            due += 1
            on_time += in_time
    out["review_share"] = on_time / due if due else None

    load, outside = defaultdict(Counter), Counter()
    for r in scope:
        names = {n.strip() for n in [*r["roles"].values(), *r["participants"]] if n.strip()}
        for name in names:
            load[name][month(r["started_at"], zone)] += 1
        local = r["started_at"].astimezone(zone)
        if local.weekday() >= 5 or not 9 <= local.hour < 18:
            outside[month(r["started_at"], zone)] += 1
    out["load"] = {n: dict(c) for n, c in load.items()}
    out["outside"] = dict(outside)
    return out


def check(result: dict, want: dict) -> None:
    assert result["months"] == MONTHS
    assert result["incidents"]["count"] == want["count"]
    got = {f["slug"]: {m["month"]: m["count"] for m in f["months"] if m["count"]} for f in result["factors"]}
    assert got == want["factor_months"]
    assert {f["slug"]: {s["service"]: s["count"] for s in f["services"]} for f in result["factors"]} == {
        f: want["factor_services"].get(f, {}) for f in got
    }
    assert {f["slug"]: {t["team"]: t["count"] for t in f["teams"]} for f in result["factors"]} == {
        f: want["factor_teams"].get(f, {}) for f in got
    }
    for f in result["factors"]:
        assert f["total"]["count"] == sum(want["factor_months"][f["slug"]].values())
    mix = {
        r["service"]: {s["severity"]: s["count"] for s in r["severities"] if s["count"]} for r in result["by_service"]
    }
    assert mix == want["by_service"]
    mix = {r["team"]: {s["severity"]: s["count"] for s in r["severities"] if s["count"]} for r in result["by_team"]}
    assert mix == want["by_team"]
    assert result["repeats"]["count"] == want["repeats"]
    for row in result["stages"]:
        for name, _, _ in STAGES:
            median_seconds, count = want["stages"][(row["severity"], name)]
            assert row[name]["count"] == count, (row["severity"], name)
            assert row[name]["median_seconds"] == pytest.approx(median_seconds), (row["severity"], name)
    for kind, key in (("dev", "dev"), ("ops", "ops"), (None, "all")):
        got, expect = result["remediations"][key], want["remediations"][kind]
        for name in ("opened", "done", "wont_do", "overdue"):
            assert got[name]["count"] == expect[name], (kind, name)
        assert got["median_seconds_to_done"] == pytest.approx(expect["median"]), kind
        assert got["share_done_by_due_date"] == pytest.approx(expect["share"]), kind
    assert result["reviews"]["median_seconds_to_published"] == pytest.approx(want["review_median"])
    assert result["reviews"]["sev12_share_on_time"] == pytest.approx(want["review_share"])
    load = {
        r["responder"]: {m["month"]: m["count"] for m in r["months"] if m["count"]}
        for r in result["on_call"]["responders"]
    }
    assert load == want["load"]
    outside = {m["month"]: m["count"] for m in result["on_call"]["outside_hours"]["months"] if m["count"]}
    assert outside == want["outside"]


FILTERS = [
    InsightFilters(),
    InsightFilters(services=("web", "search")),
    InsightFilters(teams=("platform",), severities=(1, 2)),
    InsightFilters(factors=("f-config", "f-retired")),
    InsightFilters(tags=("dns",), services=("api",)),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_every_figure_matches_a_plain_recomputation(zone, seed):
    data = generate(seed, 90)
    for filters in FILTERS:
        check(insights(start=START, end=END, filters=filters), expected(data["rows"], zone, filters))


def test_no_data_gives_every_month_and_no_medians(zone):
    result = insights(start=START, end=END)
    assert result["months"] == MONTHS
    assert result["incidents"]["count"] == 0
    assert result["factors"] == [] and result["by_service"] == [] and result["by_team"] == []
    assert result["repeats"]["count"] == 0
    assert all(row[name]["median_seconds"] is None for row in result["stages"] for name, _, _ in STAGES)
    assert result["remediations"]["all"]["opened"]["count"] == 0
    assert result["remediations"]["all"]["share_done_by_due_date"] is None
    assert result["reviews"]["median_seconds_to_published"] is None
    assert result["reviews"]["sev12_share_on_time"] is None
    assert result["on_call"]["responders"] == []
    assert [m["count"] for m in result["on_call"]["outside_hours"]["months"]] == [0] * 12


def test_one_incident(zone):
    web = ServiceFactory(slug="web", dev_team="storefront")
    # A Saturday, 10:00 local: out of hours.
    # In UTC, so adding days adds elapsed time across a summer-time change (Los Angeles, 9 March).
    started = dt.datetime(2025, 3, 8, 10, 0, tzinfo=zone).astimezone(dt.UTC)
    incident = IncidentFactory(
        severity=1,
        services=[web],
        started_at=started,
        detected_at=started + dt.timedelta(minutes=4),
        acknowledged_at=started + dt.timedelta(minutes=10),
        mitigated_at=started + dt.timedelta(minutes=40),
        resolved_at=started + dt.timedelta(hours=2),
        commander="ana",
        participants=["bo", "ana"],
    )
    factor = ContributingFactorFactory(slug="f-config")
    pm = PostMortemFactory(
        incident=incident, status=PostMortem.Status.PUBLISHED, published_at=started + dt.timedelta(days=3)
    )
    PostMortemFactorFactory(postmortem=pm, factor=factor)
    result = insights(start=START, end=END)
    assert result["incidents"]["count"] == 1
    [f] = result["factors"]
    assert (f["slug"], f["total"]["count"], f["services"][0]["service"], f["teams"][0]["team"]) == (
        "f-config",
        1,
        "web",
        "storefront",
    )
    assert [m["count"] for m in f["months"]] == [0, 0, 1] + [0] * 9
    sev1 = result["stages"][0]
    assert sev1["severity"] == 1
    assert [sev1[s]["median_seconds"] for s, _, _ in STAGES] == [240, 360, 1800, 4800]
    assert result["reviews"]["median_seconds_to_published"] == 3 * 86400 - 7200
    assert result["reviews"]["sev12_share_on_time"] == 1.0
    assert [(r["responder"], r["total"]["count"]) for r in result["on_call"]["responders"]] == [("ana", 1), ("bo", 1)]
    assert result["on_call"]["outside_hours"]["count"] == 1
    assert result["repeats"]["count"] == 0


def test_archived_incidents_are_left_out_and_archived_factors_still_count(zone):
    web = ServiceFactory(slug="web", dev_team="storefront")
    factor = ContributingFactorFactory(slug="f-old")
    started = dt.datetime(2025, 5, 5, 10, 0, tzinfo=zone)
    kept = IncidentFactory(services=[web], started_at=started)
    PostMortemFactorFactory(postmortem=PostMortemFactory(incident=kept), factor=factor)
    gone = IncidentFactory(services=[web], started_at=started + dt.timedelta(days=2), archived_at=timezone.now())
    PostMortemFactorFactory(postmortem=PostMortemFactory(incident=gone), factor=factor)
    RemediationFactory(postmortem=gone.postmortem, created_at=started)
    factor.archived_at = timezone.now()
    factor.save()
    result = insights(start=START, end=END)
    assert result["incidents"]["count"] == 1
    assert [(f["slug"], f["archived"], f["total"]["count"]) for f in result["factors"]] == [("f-old", True, 1)]
    assert result["remediations"]["all"]["opened"]["count"] == 0
    # The archived one was earlier to nothing: no repeat either way.
    assert result["repeats"]["count"] == 0


def test_a_repeat_needs_the_same_service_and_factor_within_the_window(zone, settings):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    factor, other = ContributingFactorFactory(slug="f-a"), ContributingFactorFactory(slug="f-b")
    first = dt.datetime(2025, 6, 1, 12, tzinfo=zone).astimezone(dt.UTC)

    def incident(days, services, factors):
        i = IncidentFactory(services=services, started_at=first + dt.timedelta(days=days))
        pm = PostMortemFactory(incident=i)
        for f in factors:
            PostMortemFactorFactory(postmortem=pm, factor=f)
        return i

    incident(0, [web], [factor])
    incident(30, [web, api], [factor, other])  # 30 days later exactly: within
    incident(31, [api], [factor])  # same factor, service api was hit the day before: a repeat
    incident(45, [web], [other])  # the 30-day one had `other` 15 days before: a repeat
    incident(100, [web], [factor])  # too late
    result = insights(start=START, end=END)
    assert result["repeats"]["count"] == 3
    settings.OPSLOG_INSIGHTS_REPEAT_DAYS = 10
    # Only the one a day after the 30-day one is left.
    assert insights(start=START, end=END)["repeats"]["count"] == 1


def test_links_lead_to_the_lists_with_the_filters(zone):
    web = ServiceFactory(slug="web", dev_team="storefront")
    factor = ContributingFactorFactory(slug="f-config")
    i = IncidentFactory(services=[web], started_at=dt.datetime(2025, 3, 8, 10, tzinfo=zone), commander="ana")
    PostMortemFactorFactory(postmortem=PostMortemFactory(incident=i), factor=factor)
    RemediationFactory(postmortem=i.postmortem, created_at=dt.datetime(2025, 3, 9, tzinfo=zone), kind="ops")
    result = insights(start=START, end=END, filters=InsightFilters(severities=(3,), tags=("dns",)))
    assert result["incidents"]["link"] == "/incidents/?since=2025-01-15&until=2025-12-31&severity=3&tag=dns"
    result = insights(start=START, end=END)
    [f] = result["factors"]
    assert f["months"][2]["link"] == "/incidents/?since=2025-03-01&until=2025-03-31&factor=f-config"
    assert f["months"][0]["link"] == "/incidents/?since=2025-01-15&until=2025-01-31&factor=f-config"
    assert f["services"][0]["link"] == "/incidents/?since=2025-01-15&until=2025-12-31&service=web&factor=f-config"
    assert result["remediations"]["ops"]["overdue"]["link"] == (
        "/remediations/?since=2025-01-15&until=2025-12-31&kind=ops&status=all&overdue=true&archived=false"
    )
    assert result["on_call"]["responders"][0]["months"][2]["link"] == (
        "/incidents/?since=2025-03-01&until=2025-03-31&responder=ana"
    )


def test_remediation_kinds_and_statuses(zone):
    created = dt.datetime(2025, 4, 1, 12, tzinfo=zone).astimezone(dt.UTC)
    pm = PostMortemFactory(incident=IncidentFactory(started_at=created))
    RemediationFactory(
        postmortem=pm, created_at=created, kind="dev", status=Remediation.Status.OPEN, due_date=dt.date(2025, 4, 5)
    )
    RemediationFactory(
        postmortem=pm,
        created_at=created,
        kind="ops",
        status=Remediation.Status.DONE,
        completed_at=created + dt.timedelta(days=2),
        due_date=dt.date(2025, 4, 3),
    )
    RemediationFactory(
        postmortem=pm,
        created_at=created,
        kind="ops",
        status=Remediation.Status.DONE,
        completed_at=created + dt.timedelta(days=4),
        due_date=dt.date(2025, 4, 3),
    )
    result = insights(start=START, end=END)["remediations"]
    assert result["dev"]["overdue"]["count"] == 1
    assert result["dev"]["share_done_by_due_date"] == 0.0
    assert result["ops"]["done"]["count"] == 2
    assert result["ops"]["median_seconds_to_done"] == 3 * 86400
    assert result["ops"]["share_done_by_due_date"] == 0.5
    assert result["all"]["opened"]["count"] == 3
