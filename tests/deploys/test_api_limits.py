"""POST /api/deploys/ and /api/deploys/bulk/ refuse what no real deploy carries (a message of a
build log's length, a duration of 1e308 seconds, ten thousand commits, a sha that isn't one token,
keys the API doesn't take, a number for a name), with a message per field, and store nothing.
The bulk endpoint's fast path keeps the same rules: tests/deploys/test_bulk_fast_path.py."""

import pytest

from deploys.limits import MAX_DEPLOY_COMMITS, MAX_DEPLOY_DURATION_SECONDS, MAX_DEPLOY_MESSAGE_LENGTH
from deploys.models import Deploy, DeployCommit, Service
from tests.support.payloads.deploys import valid_deploy

pytestmark = pytest.mark.django_db

SHA_MESSAGE = "Enter a commit id of letters, digits, '.', '_' and '-' only, e.g. a git sha."


# One valid deploy, the same as the bulk fast-path tests post.
payload = valid_deploy


def refused(response, errors: dict) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == errors
    assert not Deploy.objects.exists()
    assert not Service.objects.exists()


# --- message ---------------------------------------------------------------------------------------


def test_a_message_of_10000_characters_is_stored_and_one_more_is_a_400(api):
    longest = "m" * MAX_DEPLOY_MESSAGE_LENGTH

    refused(
        api.post("/api/deploys/", payload(message=longest + "m"), format="json"),
        {"message": ["Ensure this field has no more than 10000 characters."]},
    )
    # Counted once the spaces around it are dropped, as they are when it is stored.
    response = api.post("/api/deploys/", payload(message=f"  {longest}\n"), format="json")

    assert response.status_code == 201, response.content
    assert Deploy.objects.get().message == longest


def test_a_200000_character_message_is_a_400(api):
    refused(
        api.post("/api/deploys/", payload(message="x" * 200_000), format="json"),
        {"message": ["Ensure this field has no more than 10000 characters."]},
    )


# --- duration_seconds ------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1e308, MAX_DEPLOY_DURATION_SECONDS + 0.5, 10**9])
def test_a_duration_over_a_week_is_a_400(api, seconds):
    refused(
        api.post("/api/deploys/", payload(duration_seconds=seconds), format="json"),
        {"duration_seconds": ["Ensure this value is less than or equal to 604800."]},
    )


def test_a_duration_of_a_week_is_stored(api):
    response = api.post("/api/deploys/", payload(duration_seconds=604800), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["duration_seconds"] == 604800.0


# --- commits ---------------------------------------------------------------------------------------


def commits(n: int) -> list[dict]:
    return [{"sha": f"{i:040x}", "authored_at": "2010-05-18T20:00:00Z"} for i in range(n)]


def test_more_than_1000_commits_is_a_400_naming_the_limit(api):
    refused(
        api.post("/api/deploys/", payload(commits=commits(10_000)), format="json"),
        {"commits": ["A deploy may list up to 1,000 commits; this one lists 10,000."]},
    )


def test_1000_commits_are_stored(api):
    response = api.post("/api/deploys/", payload(commits=commits(MAX_DEPLOY_COMMITS)), format="json")

    assert response.status_code == 201, response.content
    assert DeployCommit.objects.count() == 1000


@pytest.mark.parametrize(
    "sha, message",
    [
        ("zz", "Ensure this field has at least 4 characters."),
        ("abc", "Ensure this field has at least 4 characters."),
        ("a" * 65, "Ensure this field has no more than 64 characters."),
        ("abc def", SHA_MESSAGE),
        ("abc/def", SHA_MESSAGE),
        ("9fceb02\u200b", SHA_MESSAGE),
        ("9fceb02\x7f", SHA_MESSAGE),
        ("ÄBCDEF1", SHA_MESSAGE),
        (1234567, "Not a valid string."),
        ("", "This field may not be blank."),
    ],
)
def test_a_sha_that_is_not_one_token_is_a_400_under_the_commits_index(api, sha, message):
    body = payload(commits=[{"sha": "a" * 40}, {"sha": sha}])

    refused(api.post("/api/deploys/", body, format="json"), {"commits": {"1": {"sha": [message]}}})


@pytest.mark.parametrize(
    "sha",
    [
        "9fceb02",  # git, abbreviated
        "9fceb02d0ae598e95dc970b74767f19372d61af8",  # git, SHA-1
        "9fceb02d" * 8,  # git, SHA-256
        "abcd",  # git's shortest abbreviation
        "r1234",  # Subversion
        "4f2b3c1d9e8a",  # Mercurial, short
        "release-2010.05_18",
        "  9fceb02  ",  # spaces around it are dropped
    ],
)
def test_commit_ids_of_git_and_other_version_control_are_stored(api, sha):
    response = api.post("/api/deploys/", payload(commits=[{"sha": sha}]), format="json")

    assert response.status_code == 201, response.content
    assert DeployCommit.objects.get().sha == sha.strip()


# --- Unknown keys ----------------------------------------------------------------------------------


def test_unknown_and_read_only_keys_are_refused_as_the_incidents_api_refuses_them(api):
    response = api.post("/api/deploys/", payload(foo=1, id=1, production=True), format="json")
    incident = api.post(
        "/api/incidents/", {"title": "Checkout down", "started_at": "2010-05-18T22:30:00Z", "foo": 1}, format="json"
    )

    refused(
        response,
        {"foo": ["Unknown field."], "id": ["This field is read-only."], "production": ["This field is read-only."]},
    )
    assert incident.status_code == 400
    assert incident.json()["foo"] == response.json()["foo"]


def test_unknown_keys_come_with_the_other_errors(api):
    refused(
        api.post("/api/deploys/", payload(deployed="2010-05-18T22:20:50Z", status="exploded"), format="json"),
        {"status": ['"exploded" is not a valid choice.'], "deployed": ["Unknown field."]},
    )


def test_an_unknown_key_in_a_commit_is_refused_under_its_index(api):
    # A misspelt authored_at would otherwise drop the commit's lead time without a word.
    body = payload(commits=[{"sha": "a" * 40}, {"sha": "b" * 40, "authored": "2010-05-18T20:00:00Z"}])

    refused(api.post("/api/deploys/", body, format="json"), {"commits": {"1": {"authored": ["Unknown field."]}}})


# --- Strings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["service", "environment", "version", "previous_version", "deployer"])
@pytest.mark.parametrize("value", [5, 25145.5, True, ["web"], {"slug": "web"}])
def test_a_name_must_be_a_string_not_a_number(api, field, value):
    refused(api.post("/api/deploys/", payload(**{field: value}), format="json"), {field: ["Not a valid string."]})


# --- The bulk endpoint: the same rules, the errors under the item's index ------------------------


def test_bulk_refuses_each_rule_under_the_items_index_and_stores_nothing(api):
    items = [
        payload(external_id="fine"),
        payload(external_id="long", message="m" * (MAX_DEPLOY_MESSAGE_LENGTH + 1)),
        payload(external_id="slow", duration_seconds=1e308),
        payload(external_id="many", commits=commits(MAX_DEPLOY_COMMITS + 1)),
        payload(external_id="sha", commits=[{"sha": "zz"}]),
        payload(external_id="unknown", foo=1),
        payload(external_id="number", service=5),
        payload(external_id="fine too", commits=commits(MAX_DEPLOY_COMMITS), message="m" * MAX_DEPLOY_MESSAGE_LENGTH),
    ]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    refused(
        response,
        {
            "deploys": {
                "1": {"message": ["Ensure this field has no more than 10000 characters."]},
                "2": {"duration_seconds": ["Ensure this value is less than or equal to 604800."]},
                "3": {"commits": ["A deploy may list up to 1,000 commits; this one lists 1,001."]},
                "4": {"commits": {"0": {"sha": ["Ensure this field has at least 4 characters."]}}},
                "5": {"foo": ["Unknown field."]},
                "6": {"service": ["Not a valid string."]},
            }
        },
    )
    assert not DeployCommit.objects.exists()


def test_bulk_stores_items_at_every_limit(api):
    items = [
        payload(
            external_id="at the limits",
            message="m" * MAX_DEPLOY_MESSAGE_LENGTH,
            duration_seconds=MAX_DEPLOY_DURATION_SECONDS,
            commits=commits(MAX_DEPLOY_COMMITS),
        ),
        payload(external_id="another vcs", version="1235", commits=[{"sha": "r1235"}]),
    ]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 201, response.content
    assert [len(d["commits"]) for d in response.json()["deploys"]] == [1000, 1]
    assert response.json()["deploys"][0]["duration_seconds"] == 604800.0


# --- The schema says so ------------------------------------------------------------------------------


def test_the_schema_describes_the_limits(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"]["schemas"]
    deploy, commit = schema["DeployInputRequest"]["properties"], schema["CommitInputRequest"]["properties"]

    assert deploy["message"]["maxLength"] == 10_000
    assert (deploy["duration_seconds"]["minimum"], deploy["duration_seconds"]["maximum"]) == (0, 604_800)
    assert deploy["commits"]["maxItems"] == 1000
    assert (commit["sha"]["minLength"], commit["sha"]["maxLength"], commit["sha"]["pattern"]) == (
        4,
        64,
        "^[0-9A-Za-z._-]+$",
    )
    bulk = schema["DeployBulkInputRequest"]["properties"]["deploys"]
    assert (bulk["minItems"], bulk["maxItems"]) == (1, 1000)
