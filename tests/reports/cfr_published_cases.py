"""The change-failure-rate test cases Apache DevLake and Middleware publish, transcribed as data.

Used by tests/reports/test_cfr_published_cases.py, which explains the rules and the numbers. Each
block names the file, the commit and the lines it was transcribed from; nothing here is their code.

Apache DevLake: https://github.com/apache/incubator-devlake at 420e494b4ede9a16c4bfb59de099c797bcd7f5f1
(the e2e fixtures were last changed in 198d193e9143b1b0945788ccf8e91ec2971f0d7b, 2024-07-31).
Middleware: https://github.com/middlewarehq/middleware at 5471e35d0ccf30997a05dd370dc42d714ac55416
(the test file was last changed in 2aabd6e6fbc447652ef007020c63f3db24fdd194, 2024-04-22).
"""

import datetime as dt
from dataclasses import dataclass, field

from tests.support.times import at

DEVLAKE_COMMIT = "420e494b4ede9a16c4bfb59de099c797bcd7f5f1"
MIDDLEWARE_COMMIT = "5471e35d0ccf30997a05dd370dc42d714ac55416"

# --- Apache DevLake: TestConnectIncidentToDeploymentDataFlow -----------------------------------
# backend/plugins/dora/e2e/connect_incident_to_deploy_test.go lines 32-53 load the three CSVs below
# for project "project1", run the ConnectIncidentToDeployment subtask
# (backend/plugins/dora/tasks/incident_deploy_connector.go lines 48-143) and compare its output with
# the snapshot CSV.

DEVLAKE_DIR = "backend/plugins/dora/e2e/connect_incident_to_deployment"


@dataclass(frozen=True)
class DevLakeDeploymentCommit:
    """A row of cicd_deployment_commits: one repo's commit deployed by one pipeline."""

    id: str
    result: str  # SUCCESS | FAILURE
    finished_date: dt.datetime
    cicd_deployment_id: str  # the pipeline: DevLake's "deployment"
    cicd_scope_id: str
    repo_url: str
    environment: str  # PRODUCTION | STAGING | "" (none)


def _commit(id, result, finished, pipeline, scope, repo, environment):
    return DevLakeDeploymentCommit(id, result, at(finished), pipeline, scope, repo, environment)


# {DEVLAKE_DIR}/prev_success_deployment_commit/cicd_deployment_commits_after.csv lines 2-17, in the
# file's order (id, result, finished_date, cicd_deployment_id, cicd_scope_id, repo_url, environment;
# started_date, commit_sha and prev_success_deployment_commit_id play no part in the rule).
DEVLAKE_DEPLOYMENT_COMMITS = [
    _commit("1", "SUCCESS", "2022-09-11T06:51:47Z", "pipeline1", "cicd1", "REPO111", "PRODUCTION"),  # line 2
    _commit("10", "SUCCESS", "2022-09-21T06:51:47Z", "pipeline6", "cicd1", "REPO222", "PRODUCTION"),  # line 3
    _commit("11", "FAILURE", "2022-09-22T06:51:47Z", "pipeline7", "cicd2", "REPO111", "PRODUCTION"),  # line 4
    _commit("12", "SUCCESS", "2022-09-23T06:51:47Z", "pipeline7", "cicd2", "REPO333", "PRODUCTION"),  # line 5
    _commit("13", "SUCCESS", "2022-09-24T06:51:47Z", "pipeline7", "cicd2", "REPO111", "PRODUCTION"),  # line 6
    _commit("14", "FAILURE", "2022-09-20T06:51:47Z", "pipeline8", "cicd3", "REPO111", "PRODUCTION"),  # line 7
    _commit("15", "SUCCESS", "2022-09-14T06:51:47Z", "pipeline9", "cicd3", "REPO111", "PRODUCTION"),  # line 8
    _commit("16", "SUCCESS", "2022-09-15T06:51:47Z", "pipeline10", "cicd3", "REPO333", ""),  # line 9
    _commit("2", "SUCCESS", "2022-09-12T06:51:47Z", "pipeline1", "cicd1", "REPO222", "PRODUCTION"),  # line 10
    _commit("3", "SUCCESS", "2022-09-14T06:51:47Z", "pipeline2", "cicd2", "REPO111", "PRODUCTION"),  # line 11
    _commit("4", "SUCCESS", "2022-09-15T06:51:47Z", "pipeline2", "cicd2", "REPO333", "PRODUCTION"),  # line 12
    _commit("5", "SUCCESS", "2022-09-16T06:51:47Z", "pipeline4", "cicd1", "REPO111", "PRODUCTION"),  # line 13
    _commit("6", "SUCCESS", "2022-09-17T06:51:47Z", "pipeline4", "cicd1", "REPO222", "PRODUCTION"),  # line 14
    _commit("7", "SUCCESS", "2022-09-18T06:51:47Z", "pipeline5", "cicd1", "REPO111", "STAGING"),  # line 15
    _commit("8", "SUCCESS", "2022-09-19T06:51:47Z", "pipeline5", "cicd1", "REPO111", "STAGING"),  # line 16
    _commit("9", "SUCCESS", "2022-09-20T06:51:47Z", "pipeline6", "cicd1", "REPO111", "PRODUCTION"),  # line 17
]

# {DEVLAKE_DIR}/raw_tables/project_mapping.csv lines 2-9: (project_name, table, row_id).
DEVLAKE_PROJECT_MAPPING = [
    ("project1", "cicd_scopes", "cicd1"),
    ("project1", "cicd_scopes", "cicd2"),
    ("project1", "repos", "repo1"),
    ("project1", "repos", "repo2"),
    ("project2", "cicd_scopes", "cicd3"),
    ("project1", "boards", "board1"),
    ("project1", "boards", "board2"),
    ("project2", "boards", "board3"),
]


@dataclass(frozen=True)
class DevLakeIncident:
    id: str
    created_date: dt.datetime  # DevLake stores UTC; the CSV has no zone
    table: str
    scope_id: str


# {DEVLAKE_DIR}/raw_tables/incidents.csv lines 2-8 (id, created_date, table, scope_id; updated_date
# plays no part).
DEVLAKE_INCIDENTS = [
    DevLakeIncident("github:GithubIssue:1:1367714738", at("2022-11-13T23:37:21Z"), "repos", "repo1"),  # line 2
    DevLakeIncident("github:GithubIssue:1:1370816458", at("2022-11-13T01:07:21Z"), "repos", "repo1"),  # line 3
    DevLakeIncident("github:GithubIssue:1:1371320153", at("2022-11-02T08:21:09Z"), "repos", "repo1"),  # line 4
    DevLakeIncident("github:GithubIssue:1:1372381019", at("2022-11-28T01:46:47Z"), "repos", "repo2"),  # line 5
    DevLakeIncident("github:GithubIssue:1:1372644519", at("2022-11-16T21:34:01Z"), "repos", "repo2"),  # line 6
    DevLakeIncident("github:GithubIssue:1:1373792477", at("2022-09-15T01:56:06Z"), "repos", "repo3"),  # line 7
    DevLakeIncident("github:GithubIssue:1:1373792478", at("2022-09-15T01:56:16Z"), "boards", "board1"),  # line 8
]

# The published expected answer: {DEVLAKE_DIR}/snapshot_tables/project_incident_deployment_relationships.csv
# lines 2-7, incident id -> the deployment (pipeline) it is attributed to, all in project1. The repo3
# incident (incidents.csv line 7) is in no project, so it has no row.
DEVLAKE_PUBLISHED_RELATIONSHIPS = {
    "github:GithubIssue:1:1367714738": "pipeline7",
    "github:GithubIssue:1:1370816458": "pipeline7",
    "github:GithubIssue:1:1371320153": "pipeline7",
    "github:GithubIssue:1:1372381019": "pipeline7",
    "github:GithubIssue:1:1372644519": "pipeline7",
    "github:GithubIssue:1:1373792478": "pipeline2",
}

# --- Middleware: tests/service/Incidents/test_change_failure_rate.py -------------------------------
# backend/analytics_server/tests/service/Incidents/test_change_failure_rate.py. Its cases place
# deployments (conducted_at) and incidents (creation_date) either relative to time_now() or at fixed
# instants in January 2024 (UTC); each expects the set of failed deployments, the set of all
# deployments, and for the single-period cases the rate in percent.

MIDDLEWARE_FILE = "backend/analytics_server/tests/service/Incidents/test_change_failure_rate.py"

# The relative cases' time_now(): any instant whose cases fall in one month in every reporting zone the
# tests use. A Monday noon, so now - 10 days .. now stays in May 2024.
MIDDLEWARE_NOW = at("2024-05-20T12:00:00Z")

# Weeks of January 2024 (Mondays, UTC), as the weekly cases name them.
JAN_1, JAN_8, JAN_15, JAN_22 = (at(f"2024-01-{day:02d}T00:00:00Z") for day in (1, 8, 15, 22))


@dataclass(frozen=True)
class MiddlewareCase:
    """One published case: deployments by name, incidents by name, and the published answer."""

    name: str
    line: int  # where the test function starts in MIDDLEWARE_FILE
    deployments: dict[str, dt.datetime]
    incidents: dict[str, dt.datetime]
    failed: frozenset[str]  # the published failed deployments (over all weeks for weekly cases)
    # Single period: the published rate in percent. Weekly: None (see weeks).
    rate_percent: float | None = None
    # Weekly cases: the interval asked for, and per week start, (failed, total) deployment names.
    interval: tuple[dt.datetime, dt.datetime] | None = None
    weeks: dict[dt.datetime, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)


def _ago(**delta) -> dt.datetime:
    return MIDDLEWARE_NOW - dt.timedelta(**delta)


_F = frozenset
_EMPTY = (_F(), _F())

MIDDLEWARE_CASES = [
    # Lines 12-21: no incidents, no deployments -> 0 %.
    MiddlewareCase("no_incidents_no_deployments", 12, {}, {}, _F(), rate_percent=0),
    # Lines 25-43: no incidents, two deployments -> nothing failed, 0 %.
    MiddlewareCase(
        "no_incidents_some_deployments", 25, {"d1": _ago(days=2), "d2": _ago(hours=6)}, {}, _F(), rate_percent=0
    ),
    # Lines 47-56: an incident, no deployments -> 0 %.
    MiddlewareCase("some_incidents_no_deployments", 47, {}, {"i1": _ago(days=3)}, _F(), rate_percent=0),
    # Lines 60-79: one incident between two deployments -> the earlier one failed, 50 %.
    MiddlewareCase(
        "one_incident_between_two_deployments",
        60,
        {"d1": _ago(days=2), "d2": _ago(hours=6)},
        {"i1": _ago(days=1)},
        _F({"d1"}),
        rate_percent=50,
    ),
    # Lines 83-102: one incident before both deployments -> nothing failed, 0 %.
    MiddlewareCase(
        "one_incident_before_two_deployments",
        83,
        {"d1": _ago(days=2), "d2": _ago(hours=6)},
        {"i1": _ago(days=3)},
        _F(),
        rate_percent=0,
    ),
    # Lines 106-124: one incident after both deployments -> the later one failed, 50 %.
    MiddlewareCase(
        "one_incident_after_two_deployments",
        106,
        {"d1": _ago(days=2), "d2": _ago(hours=6)},
        {"i1": _ago(hours=1)},
        _F({"d2"}),
        rate_percent=50,
    ),
    # Lines 128-189: seven incidents around six deployments -> d2, d3, d4, d5 failed, 4 / 6 * 100 %.
    MiddlewareCase(
        "multi_incidents_multi_deployments",
        128,
        {
            "d1": _ago(days=7),  # line 134
            "d2": _ago(days=6),  # line 136
            "d3": _ago(days=4),  # line 139
            "d4": _ago(days=2),  # line 142
            "d5": _ago(hours=6),  # line 145
            "d6": _ago(minutes=30),  # line 150
        },
        {
            "i0": _ago(days=10),  # line 132
            "i1": _ago(days=5),  # line 137
            "i2": _ago(days=3),  # line 140
            "i3": _ago(hours=20),  # line 143
            "i4": _ago(hours=4),  # line 146
            "i5": _ago(hours=2),  # line 147
            "i6": _ago(hours=1),  # line 148
        },
        _F({"d2", "d3", "d4", "d5"}),
        rate_percent=4 / 6 * 100,
    ),
    # Lines 193-215: weekly, nothing at all -> three empty weeks.
    MiddlewareCase(
        "weekly_no_incidents_no_deployments",
        193,
        {},
        {},
        _F(),
        interval=(JAN_1 + dt.timedelta(days=1), JAN_15 + dt.timedelta(days=2)),
        weeks={JAN_1: _EMPTY, JAN_8: _EMPTY, JAN_15: _EMPTY},
    ),
    # Lines 219-247: weekly, one deployment a week, no incidents.
    MiddlewareCase(
        "weekly_no_incidents_some_deployments",
        219,
        {
            "d1": JAN_1 + dt.timedelta(days=1) + dt.timedelta(days=2),  # line 228: from_time + 2 d
            "d2": JAN_8 + dt.timedelta(days=2),  # line 229
            "d3": JAN_15 + dt.timedelta(days=2) - dt.timedelta(hours=2),  # line 230: to_time - 2 h
        },
        {},
        _F(),
        interval=(JAN_1 + dt.timedelta(days=1), JAN_15 + dt.timedelta(days=2)),
        weeks={JAN_1: (_F(), _F({"d1"})), JAN_8: (_F(), _F({"d2"})), JAN_15: (_F(), _F({"d3"}))},
    ),
    # Lines 251-281: weekly, six incidents, no deployments -> three empty weeks.
    MiddlewareCase(
        "weekly_incidents_no_deployments",
        251,
        {},
        {
            "i1": JAN_15 + dt.timedelta(days=2) - dt.timedelta(days=14),  # line 260: to_time - 14 d
            "i2": JAN_15 + dt.timedelta(days=2) - dt.timedelta(days=10),  # line 261
            "i3": JAN_15 + dt.timedelta(days=2) - dt.timedelta(days=7),  # line 262
            "i4": JAN_15 + dt.timedelta(days=2) - dt.timedelta(days=3),  # line 263
            "i5": JAN_15 + dt.timedelta(days=2) - dt.timedelta(hours=2),  # line 264
            "i6": JAN_15 + dt.timedelta(days=2) - dt.timedelta(hours=1),  # line 265
        },
        _F(),
        interval=(JAN_1 + dt.timedelta(days=1), JAN_15 + dt.timedelta(days=2)),
        weeks={JAN_1: _EMPTY, JAN_8: _EMPTY, JAN_15: _EMPTY},
    ),
    # Lines 284-352: weekly, seven incidents around six deployments over four weeks.
    MiddlewareCase(
        "weekly_incidents_and_deployments",
        284,
        {
            "d1": JAN_1 + dt.timedelta(days=1, hours=12),  # line 297: from_time + 12 h
            "d2": JAN_1 + dt.timedelta(days=1, hours=24),  # line 299
            "d3": JAN_22 - dt.timedelta(days=4),  # line 304
            "d4": JAN_22 - dt.timedelta(days=2),  # line 308
            "d5": JAN_22 - dt.timedelta(hours=6),  # line 310
            "d6": JAN_22 - dt.timedelta(minutes=30),  # line 314
        },
        {
            "i0": JAN_1 + dt.timedelta(days=1, hours=10),  # line 295
            "i1": JAN_1 + dt.timedelta(days=1, hours=28),  # line 300
            "i2": JAN_1 + dt.timedelta(days=1, hours=29),  # line 301
            "i3": JAN_22 - dt.timedelta(days=3),  # line 305
            "i4": JAN_22 - dt.timedelta(days=3),  # line 306
            "i5": JAN_22 - dt.timedelta(hours=3),  # line 311
            "i6": JAN_22 - dt.timedelta(hours=2),  # line 312
        },
        _F({"d2", "d3", "d5"}),
        interval=(JAN_1 + dt.timedelta(days=1), JAN_22 + dt.timedelta(days=2)),
        weeks={
            JAN_1: (_F({"d2"}), _F({"d1", "d2"})),  # lines 343-345
            JAN_8: _EMPTY,  # line 346
            JAN_15: (_F({"d3", "d5"}), _F({"d3", "d4", "d5", "d6"})),  # lines 347-350
            JAN_22: _EMPTY,  # line 351
        },
    ),
]

MIDDLEWARE_CASES_BY_NAME = {case.name: case for case in MIDDLEWARE_CASES}
