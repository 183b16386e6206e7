"""POST /api/deploys/bulk/ checks plainly valid items without DRF's per-field machinery and answers from
the rows it stored instead of reading them back (deploys.api.serializers). These tests hold both to what
DRF and DeploySerializer give: the same validated data, the same errors, the same answer."""

import datetime as dt
import json
import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from deploys.api.serializers import CommitInputSerializer, DeployInputSerializer, _Defer
from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.limits import MAX_DEPLOY_COMMITS, MAX_DEPLOY_DURATION_SECONDS, MAX_DEPLOY_MESSAGE_LENGTH
from deploys.models import Deploy, DeployCommit, Service
from tests.support.deploys import fast
from tests.support.payloads.deploys import valid_deploy

pytestmark = pytest.mark.django_db

UTC = dt.UTC


# --- Validation: the fast path never takes what DRF refuses, and gives what DRF gives -------------

ODD_TEXT = [
    "",
    " ",
    "web",
    " Web ",
    "WEB",
    "web app!",
    "-web",
    "web.1_a-b",
    "a\nb",
    "a\tb",
    "a\x7fb",
    "trailing\n",
    "nul\x00",
    "lone \ud800",
    "\u212a",
    "İ",
    "café",
    "12",
    "x" * 64,
    "x" * 65,
    "y" * 100,
    "y" * 101,
    "z" * 200,
    "z" * 201,
    "\u00a0padded\u00a0",
]
ODD_TIMES = [
    "2010-05-18T22:20:50Z",
    "2010-05-18T22:20:50+02:00",
    "2010-05-18T22:20:50.123456-05:30",
    "2010-05-18T22:20:50",
    "2010-05-18 22:20:50Z",
    " 2010-05-18T22:20:50Z",
    "2010-05-18T22:20:50Z ",
    "2010-02-30T10:00:00Z",
    "yesterday-ish",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2999-12-31T23:59:59+00:00",
    "9999-12-31T23:30:00Z",
    "2999-01-01T00:00:00Z",
    "2010-05-18",
    "20100518T222050Z",
    "2010-05-18T22:20:50+25:00",
]
# Each limit's both sides (deploys.limits).
LONG_MESSAGES = [
    "m" * MAX_DEPLOY_MESSAGE_LENGTH,
    " " + "m" * MAX_DEPLOY_MESSAGE_LENGTH + "\n",
    "m" * (MAX_DEPLOY_MESSAGE_LENGTH + 1),
]
WEEK = MAX_DEPLOY_DURATION_SECONDS
DURATIONS_AT_THE_LIMIT = [WEEK, float(WEEK), WEEK - 0.5]
DURATIONS_OVER_THE_LIMIT = [WEEK + 1, math.nextafter(WEEK, math.inf), 10**6, 1e308]
SHAS = ["a" * 40, " abc1234 ", "x" * 64, "abcd", "ABCD", "r1234", "v1.2_3-x", "0" * 64]
ODD_SHAS = [
    "abc",
    "zz",
    "a",
    "abc d",
    "a" * 65,
    " " + "b" * 64 + " ",
    "abc/def",
    "ab:cd",
    "abc+",
    "ÄBCD",
    "\u0661\u0662\u0663\u0664",
    "abcd\x00",
    "ab\ncd",
    1234567,
    12.5,
]
# A list of commits at the limit and one over it.
MOST_COMMITS = [{"sha": f"{n:040x}"} for n in range(MAX_DEPLOY_COMMITS)]
TOO_MANY_COMMITS = MOST_COMMITS + [{"sha": "f" * 40}]
URLS = [
    "",
    "https://git.example.com/acme/web/compare/1...2",
    "http://example.com",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "not a url",
    "https://exa mple.com",
    "https://" + "a" * 995 + ".com",
]


def odd(*values):
    return st.one_of(
        st.sampled_from(values),
        st.text(max_size=8),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


SOME_TEXT = st.text(max_size=12)
VALID_TIMES = st.sampled_from(
    ["2010-05-18T22:20:50Z", "2010-05-18T22:20:50+02:00", "2010-05-18T22:20:50.123456-05:30", "1970-01-01T00:00:00Z"]
)


def with_one_odd(valid: st.SearchStrategy, odd_values: dict) -> st.SearchStrategy:
    """Valid items, and valid items with one field (present or not) set to an odd value."""

    @st.composite
    def build(draw):
        data = draw(valid)
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(odd_values)))
            data[name] = draw(odd_values[name])
        return data

    return build()


commit_items = with_one_odd(
    st.fixed_dictionaries(
        {"sha": st.one_of(st.sampled_from(SHAS), st.text("0123456789abcdefXYZ._-", min_size=4, max_size=64))},
        optional={
            "authored_at": st.one_of(st.none(), VALID_TIMES),
            "message": st.one_of(st.sampled_from(["Fix", "", "Fix\n\nLonger body\n", *LONG_MESSAGES]), SOME_TEXT),
        },
    ),
    {
        "sha": st.one_of(odd(*ODD_TEXT, *ODD_SHAS), st.sampled_from(ODD_SHAS), st.text(min_size=3, max_size=6)),
        "authored_at": odd(*ODD_TIMES),
        "message": odd(*ODD_TEXT),
        # Keys the API doesn't take.
        "unknown": st.integers(),
        "author": st.text(max_size=3),
    },
)

deploy_items = with_one_odd(
    st.fixed_dictionaries(
        {
            "service": st.sampled_from(["web", "Search", " api ", "\u212a", "web.1_a-b", "y" * 100]),
            "environment": st.sampled_from(["production", "staging", "Princess"]),
            "version": st.one_of(st.sampled_from(["25145", " v1.2.3 ", "z" * 200]), SOME_TEXT),
            "deployer": st.one_of(st.sampled_from(["sandrews", "ci bot"]), SOME_TEXT),
        },
        optional={
            "previous_version": st.one_of(st.sampled_from(["", "  ", "25134"]), SOME_TEXT),
            "message": st.one_of(
                st.sampled_from(["", "Production Deploy", "two\nlines", *LONG_MESSAGES[:2]]), SOME_TEXT
            ),
            "deployed_at": VALID_TIMES,
            "duration_seconds": st.one_of(
                st.none(),
                st.integers(0, WEEK),
                st.floats(min_value=0, max_value=WEEK),
                st.sampled_from(DURATIONS_AT_THE_LIMIT),
            ),
            "status": st.sampled_from(["succeeded", "failed", "rolled_back"]),
            "diff_url": st.sampled_from(URLS[:4]),
            "external_id": st.one_of(st.sampled_from(["", "ci-run-1"]), SOME_TEXT),
            "commits": st.one_of(st.lists(commit_items, max_size=3), st.just(MOST_COMMITS)),
            "change_record": st.sampled_from([None, "record"]),
        },
    ),
    {
        "service": odd(*ODD_TEXT),
        "environment": odd(*ODD_TEXT),
        "version": odd(*ODD_TEXT),
        "deployer": odd(*ODD_TEXT),
        "previous_version": odd(*ODD_TEXT),
        "message": odd(*ODD_TEXT, *LONG_MESSAGES),
        "deployed_at": odd(*ODD_TIMES),
        "duration_seconds": st.one_of(
            odd(-1, "30", "1e400", -0.0, 10**400, "604800", *DURATIONS_OVER_THE_LIMIT),
            st.floats(min_value=WEEK, exclude_min=True),
            st.integers(min_value=WEEK + 1),
        ),
        "status": odd("exploded", "Failed", ""),
        "diff_url": odd(*URLS),
        "external_id": odd(*ODD_TEXT),
        "commits": odd(*ODD_TEXT, TOO_MANY_COMMITS, MOST_COMMITS[:1] + ["abc"]),
        "change_record": odd(424242, "record-as-text", 1.0, True),
        # Keys the API doesn't take: what GET shows and can't be sent, a misspelling, the browsable
        # API's CSRF token (DRF drops it; the fast path leaves it to DRF).
        "unknown": st.integers(),
        "id": st.integers(),
        "created_at": VALID_TIMES,
        "deployed": VALID_TIMES,
        "csrfmiddlewaretoken": st.text(max_size=3),
    },
)


@pytest.fixture
def record():
    return ChangeRecordFactory()


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=deploy_items)
def test_the_fast_path_takes_only_what_drf_takes_and_gives_the_same_data(data, record):
    if data.get("change_record") == "record":
        data["change_record"] = record.pk
    elif data.get("change_record") == "record-as-text":
        data["change_record"] = str(record.pk)

    drf = DeployInputSerializer(data=data)
    valid = drf.is_valid()
    try:
        taken = DeployInputSerializer(many=True).child.fast_internal_value(data)
    except _Defer:
        event(f"left to DRF, which {'takes' if valid else 'refuses'} it")
        return
    except serializers.ValidationError:
        # A validate_* method (shared with DRF's path) refused it: DRF refuses it too.
        assert not valid
        return

    event("taken by the fast path")
    assert valid, (data, drf.errors)
    assert taken == drf.validated_data


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=commit_items)
def test_the_commit_fast_path_takes_only_what_drf_takes_and_gives_the_same_data(data):
    # A commit's own rules (the sha's above all) more often than one commit in an item's list gets them.
    drf = CommitInputSerializer(data=data)
    valid = drf.is_valid()
    try:
        taken = CommitInputSerializer().fast_internal_value(data)
    except _Defer:
        event(f"left to DRF, which {'takes' if valid else 'refuses'} it")
        return

    event("taken by the fast path")
    assert valid, (data, drf.errors)
    assert taken == drf.validated_data


def test_plain_items_take_the_fast_path(record):
    with_everything = valid_deploy(
        previous_version="25134",
        status="rolled_back",
        diff_url="https://git.example.com/acme/web/compare/25134...25145",
        change_record=record.pk,
        commits=[{"sha": "a" * 40, "authored_at": "2010-05-18T20:00:00+02:00", "message": "Fix\n"}, {"sha": "b" * 7}],
    )

    assert fast(valid_deploy()) == DeployInputSerializer(data=valid_deploy()).run_validation(valid_deploy())
    assert fast(with_everything) == DeployInputSerializer(data=with_everything).run_validation(with_everything)
    assert fast(valid_deploy(duration_seconds="34.9")) is None  # DRF's to read a number from a string


@pytest.mark.parametrize(
    "at_the_limit, over_it",
    [
        ({"message": "m" * MAX_DEPLOY_MESSAGE_LENGTH}, {"message": "m" * (MAX_DEPLOY_MESSAGE_LENGTH + 1)}),
        ({"duration_seconds": WEEK}, {"duration_seconds": WEEK + 0.001}),
        ({"duration_seconds": float(WEEK)}, {"duration_seconds": 1e308}),
        ({"commits": MOST_COMMITS}, {"commits": TOO_MANY_COMMITS}),
        ({"commits": [{"sha": "abcd"}]}, {"commits": [{"sha": "abc"}]}),
        ({"commits": [{"sha": "x" * 64}]}, {"commits": [{"sha": "x" * 65}]}),
        ({"commits": [{"sha": "r1234.hg_x-Y"}]}, {"commits": [{"sha": "r1234 hg"}]}),
        ({"commits": [{"sha": "abcdef"}]}, {"commits": [{"sha": "abc/def"}]}),
        ({"commits": [{"sha": "ABCDEF"}]}, {"commits": [{"sha": "ÄBCDEF"}]}),
        ({"commits": [{"sha": "1234"}]}, {"commits": [{"sha": "\u0661\u0662\u0663\u0664"}]}),
        ({"commits": [{"sha": "abcd"}]}, {"commits": [{"sha": "ab\x7fcd"}]}),
        ({"commits": [{"sha": "a" * 40}]}, {"commits": [{"sha": "a" * 40, "author": "sandrews"}]}),
        ({"version": "25145"}, {"version": 25145}),
        ({"service": "web"}, {"service": 5}),
        ({"environment": "production"}, {"environment": True}),
        ({"deployer": "sandrews"}, {"deployer": 1.5}),
        ({"external_id": "ci-run-1"}, {"id": 1}),
        ({"external_id": "ci-run-1"}, {"foo": 1}),
    ],
)
def test_the_fast_path_takes_each_limit_and_leaves_what_is_past_it_to_drf(at_the_limit, over_it):
    """Past a limit DRF refuses the item, with its message; at the limit both take it, alike."""
    assert fast(valid_deploy(**at_the_limit)) == DeployInputSerializer(
        data=valid_deploy(**at_the_limit)
    ).run_validation(valid_deploy(**at_the_limit))
    assert fast(valid_deploy(**over_it)) is None
    assert not DeployInputSerializer(data=valid_deploy(**over_it)).is_valid()


def test_the_fast_path_knows_every_field():
    """A field added to DeployInputSerializer or CommitInputSerializer needs a line in their
    fast_internal_value: DRF would validate it and the fast path would drop it."""
    fields = DeployInputSerializer().fields

    assert set(fields) == {
        "service",
        "environment",
        "version",
        "previous_version",
        "deployer",
        "message",
        "deployed_at",
        "duration_seconds",
        "status",
        "diff_url",
        "external_id",
        "commits",
        "change_record",
    }
    assert set(fields["commits"].child.fields) == {"sha", "authored_at", "message"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "exploded"},
        {"deployed_at": "yesterday-ish"},
        {"deployed_at": "2010-05-18T22:20:50"},
        {"deployed_at": "2010-02-30T10:00:00Z"},
        {"deployed_at": "9999-12-31T23:30:00Z"},
        {"deployed_at": "2999-01-01T00:00:00Z"},
        {"deployed_at": None},
        {"version": ""},
        {"version": "   "},
        {"version": "1\r2"},
        {"version": "x" * 201},
        {"version": ["1"]},
        {"deployer": None},
        {"deployer": "a\nBcc: x@example.com"},
        {"duration_seconds": -3},
        {"duration_seconds": "fast"},
        {"diff_url": "not a url"},
        {"diff_url": "javascript:alert(1)"},
        {"service": "web app!"},
        {"service": "x" * 101},
        {"environment": ""},
        {"message": None},
        {"message": "nul\x00"},
        {"external_id": "x" * 201},
        {"previous_version": None},
        {"change_record": 424242},
        {"change_record": "abc"},
        {"commits": "lots"},
        {"commits": [{"authored_at": "2010-05-18T22:20:50Z"}]},
        {"commits": [{"sha": "abc", "authored_at": "2010-05-18 22:20"}]},
        {"commits": [{"sha": "abc", "message": None}]},
        {"commits": [{"sha": "a\nb"}]},
        {"commits": [{"sha": "x" * 65}]},
        {"commits": [{"sha": "zz"}, {"sha": "a" * 40}, {"sha": "abc def"}, {"sha": "abc/def"}]},
        {"commits": [{"sha": 1234567}]},
        {"commits": [{"sha": "a" * 40, "author": "sandrews"}]},
        {"commits": [{"sha": f"{n:040x}"} for n in range(MAX_DEPLOY_COMMITS + 1)]},
        {"message": "m" * (MAX_DEPLOY_MESSAGE_LENGTH + 1)},
        {"duration_seconds": 1e308},
        {"duration_seconds": MAX_DEPLOY_DURATION_SECONDS + 1},
        {"foo": 1},
        {"id": 1, "url": "https://opslog.example.com/api/deploys/1/"},
        {"service": 5},
        {"environment": 5},
        {"version": 25145},
        {"previous_version": 25134},
        {"deployer": False},
    ],
)
def test_a_bad_item_gets_the_single_posts_errors_under_its_index(api, overrides):
    single = api.post("/api/deploys/", valid_deploy(**overrides), format="json")
    bulk = api.post(
        "/api/deploys/bulk/", {"deploys": [valid_deploy(external_id="fine"), valid_deploy(**overrides)]}, format="json"
    )

    assert single.status_code == 400
    assert bulk.status_code == 400
    assert bulk.json() == {"deploys": {"1": single.json()}}
    assert Deploy.objects.count() == 0
    assert Service.objects.count() == 0


def test_an_overflowing_number_is_refused_as_in_a_single_post(api):
    # JSON's 1e400 reads as infinity.
    body = json.dumps(valid_deploy()).replace("34.9", "1e400")
    single = api.post("/api/deploys/", body, content_type="application/json")
    bulk = api.post("/api/deploys/bulk/", f'{{"deploys": [{body}]}}', content_type="application/json")

    assert single.status_code == bulk.status_code == 400
    assert single.json() == {"duration_seconds": ["A valid number is required."]}
    assert bulk.json() == {"deploys": {"0": single.json()}}


def test_items_drf_reads_leniently_are_stored_as_drf_reads_them(api):
    items = [
        valid_deploy(external_id="a", duration_seconds=34.5, version=" 7 ", service=" Web "),
        valid_deploy(external_id="25146", version="8", change_record=None, commits=[{"sha": " " + "c" * 40 + " "}]),
    ]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 201, response.content
    stored = [(d["version"], d["duration_seconds"], d["service"], d["external_id"]) for d in response.json()["deploys"]]
    assert stored == [("7", 34.5, "web", "a"), ("8", 34.9, "web", "25146")]
    assert response.json()["deploys"][1]["commits"][0]["sha"] == "c" * 40


@pytest.mark.parametrize(
    "overrides",
    [{"duration_seconds": "34.5"}, {"duration_seconds": True}, {"external_id": 25146}, {"change_record": "1"}],
)
def test_numbers_as_text_and_text_as_numbers_are_refused_as_in_a_single_post(api, overrides):
    # DRF would read them as 34.5, 1.0 and "25146" (issue #14.14); both paths refuse them alike.
    single = api.post("/api/deploys/", valid_deploy(**overrides), format="json")
    bulk = api.post("/api/deploys/bulk/", {"deploys": [valid_deploy(**overrides)]}, format="json")

    assert single.status_code == bulk.status_code == 400
    assert bulk.json() == {"deploys": {"0": single.json()}}
    assert Deploy.objects.count() == 0


# --- The answer: the rows stored, as GET /api/deploys/{id}/ shows them, without reading them back ---


def test_the_answer_is_what_get_shows_for_new_and_existing_deploys(api, record):
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, version="A", deployed_at=dt.datetime(2010, 1, 1, tzinfo=UTC))
    at = "2010-05-18T20:00:00Z"
    first = [
        valid_deploy(
            external_id="1",
            version="B",
            deployed_at="2010-01-02T00:00:00Z",
            duration_seconds=None,
            commits=[
                {"sha": "e" * 40, "authored_at": at, "message": "Tied, later id"},
                {"sha": "d" * 40, "message": "No time"},
                {"sha": "f" * 40, "authored_at": "2010-05-18T23:00:00+02:00"},
                {"sha": "c" * 40, "authored_at": at},
                {"sha": "d" * 40, "message": "A repeat, dropped"},
            ],
        ),
        valid_deploy(
            external_id="2",
            version="C",
            deployed_at="2010-01-03T00:00:00+05:00",
            status="failed",
            diff_url="https://git.example.com/acme/web/compare/B...C",
            change_record=record.pk,
            duration_seconds=3,
        ),
        valid_deploy(external_id="3", version="D", service="Search", environment="Princess", message="  spaced  "),
    ]

    created = api.post("/api/deploys/bulk/", {"deploys": first}, format="json")
    resent = api.post(
        "/api/deploys/bulk/", {"deploys": [valid_deploy(external_id="4", version="E")] + first}, format="json"
    )

    assert created.status_code == 201, created.content
    assert (created.json()["created"], created.json()["existing"]) == (3, 0)
    assert (resent.json()["created"], resent.json()["existing"]) == (1, 3)
    assert resent.json()["deploys"][1:] == created.json()["deploys"]
    shown = resent.json()["deploys"]
    assert shown == [api.get(f"/api/deploys/{d['id']}/").json() for d in shown]
    assert [d["previous_version"] for d in shown] == ["B", "A", "B", ""]
    assert [c["sha"][0] for c in shown[1]["commits"] if c["authored_at"]] == ["e", "c", "f"]
    assert DeployCommit.objects.count() == 4


def _batch(n: int, prefix: str) -> list[dict]:
    start = dt.datetime(2012, 1, 1, tzinfo=UTC)
    return [
        {
            "service": ("web", "api")[i % 2],
            "environment": ("production", "staging")[i // 2 % 2],
            "version": f"{prefix}{i}",
            "deployer": "ci",
            "deployed_at": (start + dt.timedelta(minutes=i)).isoformat(),
            "external_id": f"{prefix}{i}",
            "commits": [
                {"sha": f"{prefix}{i:08x}{c:02x}".ljust(40, "0"), "authored_at": start.isoformat()} for c in range(2)
            ],
        }
        for i in range(n)
    ]


def test_a_batch_of_1000_needs_no_query_per_deploy(api, django_assert_max_num_queries):
    # Bounded, far from one per deploy: one INSERT per table on PostgreSQL (SQLite splits them at
    # its 999-parameter limit, ~27 here), commit_deliveries_refresh's reads and updates 500 shas at
    # a time (on SQLite bulk_update's batches, fewer rows each for its five delivery columns), and
    # the fixed rest (token, services and environments, lookups, previous versions).
    with django_assert_max_num_queries(80):
        response = api.post("/api/deploys/bulk/", {"deploys": _batch(1000, "b")}, format="json")

    assert response.status_code == 201
    assert Deploy.objects.count() == 1000
    assert DeployCommit.objects.count() == 2000


def test_a_resent_batch_is_answered_in_as_many_queries_for_1000_deploys_as_for_4(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = {}
    for n, prefix in ((4, "a"), (1000, "b")):
        first[n] = api.post("/api/deploys/bulk/", {"deploys": _batch(n, prefix)}, format="json").json()
    again = {}
    queries = {}
    for n, prefix in ((4, "a"), (1000, "b")):
        with CaptureQueriesContext(connection) as context:
            again[n] = api.post("/api/deploys/bulk/", {"deploys": _batch(n, prefix)}, format="json").json()
        queries[n] = len(context.captured_queries)

    assert queries[1000] == queries[4]
    assert (again[1000]["created"], again[1000]["existing"]) == (0, 1000)
    assert again[1000]["deploys"] == first[1000]["deploys"]
    assert all(len(d["commits"]) == 2 for d in again[1000]["deploys"])
