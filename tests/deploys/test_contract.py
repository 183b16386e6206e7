"""One deploy contract (deploys.contract): every way a deploy comes in refuses the same bad values with
the contract's message, each in its own form of error — a 400 naming the field (single and bulk), a
failed delivery with the reason (GitHub, GitLab), an import line number, an admin form error — and
stores nothing. A change of limit is one edit in deploys.limits; this table follows it."""

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deploys import contract
from deploys.contract import CommitInput, DeployInput
from deploys.factories import EnvironmentFactory, ServiceFactory
from deploys.limits import MAX_DEPLOY_DURATION_SECONDS, MAX_DEPLOY_MESSAGE_LENGTH
from deploys.models import Deploy, Service
from deploys.services import deploy_record, deploy_record_bulk, deploy_record_from_hook, pushed_commits_record
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from tests.support.deploys import fast, run_import
from tests.support.hooks import github_example, post_github, post_gitlab
from tests.support.payloads.deploys import valid_deploy
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT, derive

pytestmark = pytest.mark.django_db

FUTURE = "2999-01-01T00:00:00Z"
TOO_LONG = "m" * (MAX_DEPLOY_MESSAGE_LENGTH + 1)
LINE_BREAK = "ci-run\n2"
SINGLE_LINE = "Use a single line of text, without line breaks or control characters."
WEEK_PLUS = MAX_DEPLOY_DURATION_SECONDS + 1

# (field, bad value, the contract's message for the API's rules, for the webhooks' rules). Values are
# the deploy's; each path below writes them its own way (JSON, a payload field, a CSV cell, a form).
BAD = [
    pytest.param(
        "message",
        TOO_LONG,
        f"Ensure this field has no more than {MAX_DEPLOY_MESSAGE_LENGTH} characters.",
        None,
        id="message-too-long",
    ),
    pytest.param("deployed_at", FUTURE, "A deploy can't have gone live in the future.", None, id="in-the-future"),
    pytest.param("external_id", LINE_BREAK, SINGLE_LINE, None, id="external-id-on-two-lines"),
    pytest.param(
        "duration_seconds",
        WEEK_PLUS,
        f"Ensure this value is less than or equal to {MAX_DEPLOY_DURATION_SECONDS}.",
        None,
        id="duration-over-a-week",
    ),
    # The one rule the paths differ on for these fields (deploys.contract.HOOKS): a hook's link need
    # only be http(s); the API's must be a valid URL.
    pytest.param("diff_url", "javascript:alert(1)", "Enter a valid URL.", "Enter an http(s) URL.", id="diff-url"),
]


# GitHub and GitLab send no duration: test_the_services_refuse_it holds the hook path to that rule.
BAD_FROM_SENDERS = [param for param in BAD if param.values[0] != "duration_seconds"]


def nothing_stored() -> None:
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_the_api_refuses_it_with_a_400_naming_the_field(api, field, value, message, hook_message):
    response = api.post("/api/deploys/", valid_deploy(**{field: value}), format="json")

    assert response.status_code == 400
    assert response.json() == {field: [message]}
    nothing_stored()
    assert not Service.objects.exists()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_the_bulk_endpoint_refuses_it_under_the_items_index(api, field, value, message, hook_message):
    bad = valid_deploy(external_id="bad")
    bad[field] = value

    response = api.post("/api/deploys/bulk/", {"deploys": [valid_deploy(external_id="fine"), bad]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"deploys": {"1": {field: [message]}}}
    nothing_stored()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_the_bulk_fast_path_leaves_it_to_drf(field, value, message, hook_message):
    # The fast path asks the same contract; what it refuses, DRF words.
    assert fast(valid_deploy(**{field: value})) is None


def _github_payload(field: str, value) -> dict:
    payload = github_example("deployment_status", state="success")
    if field == "message":
        payload["deployment"]["description"] = value
    elif field == "deployed_at":
        payload["deployment_status"]["updated_at"] = value
    elif field == "external_id":
        payload["deployment_status"]["id"] = value  # external_id is "github-deployment-status:<id>"
    else:
        payload["repository"]["html_url"] = value  # the diff link is "<html_url>/commit/<sha>"
    return payload


def _gitlab_payload(field: str, value) -> dict:
    changes = {
        "message": {"commit_title": value},
        "deployed_at": {"status_changed_at": "2999-01-01 00:00:00 +0000"},
        "external_id": {"deployment_id": value},  # external_id is "gitlab-deployment:<id>:<status>"
        "diff_url": {"commit_url": f"{value}//-/commit/{'a' * 40}"},
    }[field]
    return derive(DEPLOYMENT, **changes)


@pytest.mark.parametrize("field, value, message, hook_message", BAD_FROM_SENDERS)
@pytest.mark.parametrize("sender", ["github", "gitlab"])
def test_a_webhook_fails_the_delivery_with_the_reason(client, sender, field, value, message, hook_message):
    IntegrationFactory(kind=sender)
    if sender == "github":
        post_github(client, "deployment_status", _github_payload(field, value))
    else:
        post_gitlab(client, DEPLOYMENT_EVENT, _gitlab_payload(field, value))

    [delivery] = Delivery.objects.all()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome == f"The deploy's {field}: {hook_message or message}"
    nothing_stored()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_import_deploys_reports_the_line(tmp_path, field, value, message, hook_message):
    row = {
        "service": "web",
        "environment": "production",
        "deployed_at": "2010-05-18T22:20:50Z",
        "deployer": "sandrews",
        "version": "25145",
        field: value,
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(row), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    path = tmp_path / "history.csv"
    path.write_text(text.getvalue(), encoding="utf-8")

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == [f"line 2: {field}: {message}"]
    nothing_stored()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_the_admin_shows_it_under_the_field(admin_client, field, value, message, hook_message):
    service, environment = ServiceFactory(slug="web"), EnvironmentFactory(slug="prod")
    form = {
        "service": service.pk,
        "environment": environment.pk,
        "version": "25145",
        "previous_version": "",
        "deployer": "sandrews",
        "message": "",
        "deployed_at_0": "2010-05-18",
        "deployed_at_1": "22:20:50",
        "duration_seconds": "",
        "status": "succeeded",
        "diff_url": "",
        "external_id": "",
        "change_record": "",
        "commits-TOTAL_FORMS": "0",
        "commits-INITIAL_FORMS": "0",
        "commits-MIN_NUM_FORMS": "0",
        "commits-MAX_NUM_FORMS": "1000",
    }
    if field == "deployed_at":
        form.update({"deployed_at_0": "2999-01-01", "deployed_at_1": "00:00:00"})
    else:
        form[field] = value

    response = admin_client.post("/admin/deploys/deploy/add/", form)

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors[field] == [message]
    nothing_stored()


@pytest.mark.parametrize("field, value, message, hook_message", BAD)
def test_the_services_refuse_it(field, value, message, hook_message):
    """The services check the contract whose rules they are given and refuse with Django's
    ValidationError naming the field; deploy_record_from_hook always checks the webhooks' rules."""
    if field == "deployed_at":
        value = timezone.now() + dt.timedelta(days=1)
    data = DeployInput(service="web", environment="production", version="a" * 40, deployer="sandrews")
    setattr(data, field, value)

    for record, expected in [
        (lambda: deploy_record(data=data, rules=contract.API), message),
        (lambda: deploy_record_bulk(items=[data], rules=contract.API), message),
        (lambda: deploy_record_from_hook(data=data, source="integration:1"), hook_message or message),
    ]:
        with pytest.raises(ValidationError) as refusal:
            record()
        messages = refusal.value.message_dict
        assert list(messages.values()) == [[expected]]
        assert list(messages)[0].endswith(field)  # "0.message" in bulk
    nothing_stored()
    assert not Service.objects.exists()


def test_a_commit_id_follows_each_paths_rule():
    # The API takes any version control's ids (4 to 64 of letters, digits, '.', '_', '-'); webhooks
    # git's own (7 to 64 lowercase hex digits): one parameter of the contract, not two validators.
    for sha in ("r1234", "ABCDEF0", "abcd"):
        assert contract.deploy_problems({"commits": [CommitInput(sha=sha)]}) == {}
    for sha in ("r1234", "abcd"):
        assert contract.deploy_problems({"commits": [CommitInput(sha=sha)]}, rules=contract.HOOKS) == {
            "commits.0.sha": ["Enter a git commit sha: 7 to 64 lowercase hex digits."]
        }
    # A commit id is stored stripped and in lowercase, whichever path it came by: git's capital hex
    # is the same commit, so it passes the webhooks' rule once normalised.
    assert CommitInput(sha=" ABCDEF0 ").sha == "abcdef0"
    assert contract.deploy_problems({"commits": [CommitInput(sha="ABCDEF0")]}, rules=contract.HOOKS) == {}
    with pytest.raises(ValidationError) as refusal:
        pushed_commits_record(service="web", commits=[CommitInput(sha="r1234")])
    assert refusal.value.message_dict == {"commits.0.sha": ["Enter a git commit sha: 7 to 64 lowercase hex digits."]}
