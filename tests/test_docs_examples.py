"""The documentation's curl examples, run as written, in order, in one shell, against a live server.

The pages are taken in the order of mkdocs.yml's nav (the API pages, then the Integrations pages),
and each page's examples in the order they appear: an example may use what an earlier one created.
"""

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from alerts.models import Alert
from deploys.models import Deploy
from deploys.services import ingest_token_create
from incidents.models import Incident
from incidents.selectors import suspect_deploys
from integrations.factories import IntegrationFactory
from integrations.models import Delivery

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS = ROOT / "mkdocs.yml"
MARKER = "@@@ end of example @@@"
# An example is a ```sh block that runs curl against one of these: the API, the webhooks, Graphite's
# events path or the Prometheus endpoint, at the address in $OPSLOG (set once, as docs/api/index.md says).
EXAMPLE_URL = re.compile(r"\$OPSLOG/(?:api/|hooks/|events/|metrics)")
# The integrations the webhook examples assume (docs/integrations/index.md, "Setting up an
# integration"), and the variables the examples read their secrets from.
INTEGRATIONS = {
    "OPSLOG_GITHUB_SECRET": {
        "kind": "github",
        "secret": "docs-github-secret-0123456789",
        "service_mapping": {"acme/web-app": "web"},
    },
    "OPSLOG_GITLAB_SECRET": {"kind": "gitlab", "secret": "docs-gitlab-secret-0123456789"},
    "OPSLOG_PAGERDUTY_SECRET": {
        "kind": "pagerduty",
        "secret": "docs-pagerduty-secret-0123456789",
        "service_mapping": {"API Service": "api"},
    },
    "OPSLOG_ALERTMANAGER_SECRET": {
        "kind": "alertmanager",
        "secret": "docs-alertmanager-secret-0123456789",
        "options": {"promote_labels": {"severity": "critical"}},
    },
}
METRICS_TOKEN = "docs-metrics-token-0123456789"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integrations(settings):
    settings.OPSLOG_METRICS_TOKEN = METRICS_TOKEN
    return {variable: IntegrationFactory(**fields) for variable, fields in INTEGRATIONS.items()}


def is_example(lang: str, body: str) -> bool:
    return lang == "sh" and "curl" in body and EXAMPLE_URL.search(body) is not None


class _NavLoader(yaml.SafeLoader):
    """Reads mkdocs.yml without importing what its `!!python/name:` tags name."""


_NavLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def nav_pages(nav=None) -> list[str]:
    """The Markdown files of mkdocs.yml's nav, in its order (paths relative to docs/)."""
    if nav is None:
        nav = yaml.load(MKDOCS.read_text(), Loader=_NavLoader)["nav"]
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def blocks_of(page: str) -> list[tuple[str, str]]:
    """Every fenced block of a page as (lang, text), in order."""
    return re.findall(r"```(\w*)\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def curl_examples():
    """(shell block, the block right after it as (lang, text)) for each example, page by page in nav order."""
    examples = []
    for page in nav_pages():
        blocks = blocks_of(page)
        for index, (lang, body) in enumerate(blocks):
            if is_example(lang, body):
                examples.append((body, blocks[index + 1] if index + 1 < len(blocks) else ("", "")))
    return examples


def expected_json(following):
    lang, text = following
    return text if lang == "json" else None


def run_script(live_server, token, bodies, **env):
    if not shutil.which("curl") or not shutil.which("openssl"):
        pytest.skip("curl or openssl is not installed")
    script = "set -euo pipefail\n" + "\n".join(f"{body}\necho\necho '{MARKER}'" for body in bodies)
    secrets = {variable: fields["secret"] for variable, fields in INTEGRATIONS.items()}
    return subprocess.run(
        ["bash", "-c", script],
        env={
            **os.environ,
            "OPSLOG": live_server.url,
            "OPSLOG_TOKEN": token.key,
            "OPSLOG_INGEST_TOKEN": ingest_token_create(name=f"docs-{uuid.uuid4().hex}", may_create_services=True)[1],
            **secrets,
            "OPSLOG_METRICS_TOKEN": METRICS_TOKEN,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_all(live_server, token, bodies, **env):
    """Each example's output: parsed JSON, or the text for /metrics (Prometheus' format)."""
    result = run_script(live_server, token, bodies, **env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    outputs = result.stdout.split(MARKER)[: len(bodies)]
    return [output if "/metrics" in body else json.loads(output) for body, output in zip(bodies, outputs)]


def the_one(examples, outputs, needle):
    """The output of the one example containing `needle`."""
    found = [answer for (body, _), answer in zip(examples, outputs) if needle in body]
    assert len(found) == 1, needle
    return found[0]


def test_every_page_with_examples_is_in_the_nav():
    in_nav = set(nav_pages())
    assert all((DOCS / page).is_file() for page in in_nav), in_nav
    with_examples = {
        str(path.relative_to(DOCS))
        for path in DOCS.rglob("*.md")
        if any(is_example(lang, body) for lang, body in blocks_of(str(path.relative_to(DOCS))))
    }
    assert with_examples and with_examples <= in_nav, with_examples - in_nav


def test_the_examples_take_the_address_from_a_variable():
    """#15.19: a reader whose Opslog runs elsewhere (make run PORT=8080) sets $OPSLOG once; no example
    hard-codes a port."""
    examples = [body for body, _ in curl_examples()]
    hard_coded = [
        (page, body)
        for page in nav_pages()
        for lang, body in blocks_of(page)
        if lang == "sh" and "curl" in body and re.search(r"https?://(?:127\.0\.0\.1|localhost):\d+", body)
    ]

    assert len(examples) >= 40
    assert hard_coded == []


def test_there_are_examples_for_each_endpoint():
    text = "\n".join(body for body, _ in curl_examples())

    for path in (
        "/api/deploys/ ",
        "/api/deploys/bulk/",
        "/api/deploys/?",
        "/api/incidents/ ",
        "/acknowledge/",
        "/causes/",
        "/timeline/",
        "/api/incidents/?",
        "/api/postmortems/ ",
        "/status/",
        "/diff/",
        "/export/",
        "/api/remediations/ ",
        "/follow-through/",
        "/api/changes/ ",
        "/change-record/",
        "/hooks/github/",
        "/hooks/gitlab/",
        "/hooks/pagerduty/",
        "/hooks/alertmanager/",
        "/api/alerts/review/",
        "/api/annotations/",
        "/events/get_data",
        "/metrics",
    ):
        assert path in text, path


def test_curl_examples_work_as_written(live_server, token, integrations):
    examples = curl_examples()
    bodies = [body for body, _ in examples]
    outputs = run_all(live_server, token, bodies)

    for (body, following), answer in zip(examples, outputs):
        if expected_json(following) is not None:
            assert answer == json.loads(expected_json(following)), body
    created = outputs[0]
    assert created["version"] == "25145" and created["commits"][0]["authored_at"] == "2010-05-18T18:02:11Z"
    assert outputs[2]["created"] == 2
    assert [d["id"] for d in outputs[3]["results"]] == [created["id"]]
    assert {d["version"] for d in outputs[4]["results"]} == {"700", "701"}
    # 3 from the API with the user's token, 1 with an ingest token, 1 each from GitHub and GitLab
    assert Deploy.objects.count() == 6
    from_ci = the_one(examples, outputs, "OPSLOG_INGEST_TOKEN")
    assert (from_ci["version"], from_ci["deployer"], from_ci["environment"]) == ("25146", "jenkins", "staging")

    incident = Incident.objects.get(source="pagerduty", external_id="PD-4711")
    # The API's one, PagerDuty's and the promoted alert's: the error examples stored nothing.
    assert Incident.objects.count() == 3
    assert incident.acknowledged_at.isoformat() == "2010-05-18T22:33:00+00:00"
    assert (incident.severity, incident.commander) == (1, "ekastner")
    assert list(incident.deploy_links.values_list("deploy_id", "relation")) == [(created["id"], "cause")]
    assert incident.timeline.filter(kind="note", text__startswith="Rolled web back").exists()
    # Roles: the comms lead handed over, the handover on the timeline, the incident found by its lead.
    handed = the_one(examples, outputs, '"comms", "name": "sandrews"')
    assert handed["roles"] == {"lead": "ekastner", "comms": "sandrews", "scribe": ""}
    assert incident.timeline.filter(kind="handover", text="Communications lead taken by sandrews.").exists()
    assert [i["id"] for i in the_one(examples, outputs, "lead=EKastner")["results"]] == [incident.pk]
    assert outputs[15]["count"] == 0  # the list of not-yet-acknowledged incidents: it was acknowledged

    # Post-mortems: start, edit (with a blame hint), a refused stale edit, remediations, a change
    # record attached to the causing deploy, publish, diff.
    postmortem = incident.postmortem
    assert (outputs[16]["incident"], outputs[16]["version"], outputs[16]["status"]) == (incident.pk, 1, "draft")
    assert "Rolled web back" in outputs[16]["timeline_narrative"]
    assert outputs[17]["version"] == 2
    assert [h["text"] for h in outputs[17]["blame_hints"]["contributing_factors"]] == ["Bob should have", "should have"]
    assert outputs[18]["version"] == 3 and outputs[18]["blame_hints"]["contributing_factors"] == []
    assert (outputs[19]["current_version"], outputs[19]["your_version"], list(outputs[19]["diff"])) == (
        3,
        2,
        ["went_well"],
    )
    assert postmortem.went_well == ""  # the 409 saved nothing
    assert (outputs[21]["kind"], outputs[22]["kind"]) == ("dev", "ops")
    assert (outputs[23]["status"], outputs[23]["done_on_time"]) == ("done", False)
    assert outputs[26]["id"] == created["id"] and outputs[26]["change_record"] == outputs[25]["id"]
    # The publish checklist's dry run, publishing refused over it, then confirmed (#15.8).
    assert outputs[27]["ready"] is False
    assert [(p["code"], p["field"]) for p in outputs[27]["problems"]] == [
        ("empty_section", name) for name in ("detection", "went_well", "got_lucky", "surprised")
    ], outputs[27]
    assert [p["code"] for p in outputs[28]["checklist"]] == ["empty_section"] * 4 and "confirm" in outputs[28]
    assert (outputs[29]["status"], outputs[29]["version"]) == ("published", 4)
    assert [c["id"] for c in outputs[29]["change_records"]] == [outputs[25]["id"]]
    assert list(outputs[30]["diff"]) == ["contributing_factors"]
    assert postmortem.revisions.count() == 4 and postmortem.remediations.count() == 2
    assert Deploy.objects.get(pk=created["id"]).change_record_id == outputs[25]["id"]

    # Integrations: every webhook example was accepted once and processed.
    hooks = [answer for body, answer in zip(bodies, outputs) if "/hooks/" in body]
    assert len(hooks) == 5
    for answer in hooks:
        assert set(answer) == {"delivery", "duplicate"} and answer["duplicate"] is False, answer
    assert list(Delivery.objects.order_by("id").values_list("pk", "kind", "status")) == [
        (answer["delivery"], kind, "processed")
        for answer, kind in zip(hooks, ["github", "github", "gitlab", "pagerduty", "alertmanager"])
    ], list(Delivery.objects.values_list("kind", "status", "outcome"))

    # GitHub: the push's two commits shipped with the deployment of its head, with their lead times.
    github = Deploy.objects.get(external_id="github-deployment-status:1001")
    assert (github.service.slug, github.environment.slug, github.version, github.deployer, github.status) == (
        "web",
        "production",
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        "octocat",
        "succeeded",
    )
    assert github.deployed_at == dt.datetime(2024, 1, 15, 9, 40, tzinfo=dt.UTC)
    assert github.previous_version == "25145"
    assert list(github.commits.order_by("authored_at").values_list("sha", "lead_seconds")) == [
        ("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", (2 * 60 + 35) * 60.0),
        ("f95f852bd8fca8fcc58a9a2d6c842781e32a215e", (1 * 60 + 53) * 60.0),
    ]
    # GitLab: the full sha from commit_url, GitLab's time format, the unmapped project's name.
    gitlab = Deploy.objects.get(service__slug="search")
    assert (gitlab.version, gitlab.deployer, gitlab.environment.slug) == (
        "279484c09fbe69ededfced8c1bb6e6d24616b468",
        "root",
        "production",
    )
    assert gitlab.deployed_at == dt.datetime(2024, 1, 15, 10, 0, tzinfo=dt.UTC)
    # PagerDuty: filed, SEV2 from the high urgency (no priority), the mapped service.
    paged = Incident.objects.get(source="pagerduty", external_id="PGR0VU2")
    assert (paged.title, paged.severity, [s.slug for s in paged.services.all()]) == (
        "A little bump in the road",
        2,
        ["api"],
    )
    assert paged.started_at == paged.detected_at == dt.datetime(2020, 4, 9, 15, 16, 27, tzinfo=dt.UTC)
    # Alertmanager: both alerts; the critical one promoted by the label rule, the warning not.
    firing, resolved = Alert.objects.get(name="HighErrorRate"), Alert.objects.get(name="HighLatency")
    assert (firing.status, firing.ends_at) == ("firing", None)
    assert firing.starts_at == dt.datetime(2024, 1, 15, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert (resolved.status, resolved.incident) == ("resolved", None)
    promoted = firing.incident
    assert (promoted.title, promoted.source, [s.slug for s in promoted.services.all()]) == (
        "High 5xx rate on web",
        "alertmanager",
        ["web"],
    )
    assert list(suspect_deploys(promoted)) == [github]

    # Deploy markers: the incidents=true example adds the docs' incident as the docs say.
    with_incidents = the_one(examples, outputs, "incidents=true")
    assert with_incidents == [
        *the_one(examples, outputs, "/api/annotations/?from=2010-05-18T00:00:00Z"),
        {
            "when": 1274221500,
            "what": f"SEV1 incident #{incident.pk}: Checkout returns 502",
            "tags": ["incident", "sev1", "web"],
            "data": f"Acknowledged: /incidents/{incident.pk}/",
        },
    ]
    # Metrics: every line the docs show (but "…") is in the scrape.
    index = next(i for i, (body, _) in enumerate(examples) if "/metrics" in body)
    lang, shown = examples[index][1]
    assert lang == "text"
    scraped = outputs[index].splitlines()
    for line in shown.splitlines():
        if line != "…":
            assert line in scraped, (line, scraped)


def test_sending_the_same_deploy_again_returns_the_first(live_server, token):
    first_example = curl_examples()[0][0]

    first, again = run_all(live_server, token, [first_example, first_example])

    assert again["id"] == first["id"]
    assert Deploy.objects.count() == 1


def test_a_webhook_sent_again_is_a_duplicate_and_a_wrong_secret_is_refused(live_server, token, integrations):
    deployment = next(body for body, _ in curl_examples() if "X-GitHub-Event: deployment_status" in body)

    first, again = run_all(live_server, token, [deployment, deployment])

    assert (again["delivery"], first["duplicate"], again["duplicate"]) == (first["delivery"], False, True)
    assert Deploy.objects.count() == 1 and Delivery.objects.count() == 1

    refused = run_script(live_server, token, [deployment], OPSLOG_GITHUB_SECRET="not-the-secret-0123456789")
    assert refused.returncode != 0 and "does not match any active integration" in refused.stdout
    assert Delivery.objects.count() == 1


def test_metrics_are_off_without_a_token(live_server, token, settings):
    settings.OPSLOG_METRICS_TOKEN = ""
    scrape = next(body for body, _ in curl_examples() if "/metrics" in body)

    result = run_script(live_server, token, [scrape])

    assert result.returncode != 0 and "404" in result.stderr + result.stdout
