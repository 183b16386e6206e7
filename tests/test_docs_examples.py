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
from reports import selectors
from reports.selectors import Filters
from tests.support.factors import seed_default_factors

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS = ROOT / "mkdocs.yml"
MARKER = "@@@ end of example @@@"
# An example is a ```sh block that runs curl against one of these: the API, the webhooks, Graphite's
# events path, the Prometheus endpoint or the OpenDORA API, at the address in $OPSLOG (set once, as
# docs/api/index.md says).
EXAMPLE_URL = re.compile(r"\$OPSLOG/(?:api/|hooks/|events/|metrics|dora/api/)")
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
# #15.19: the examples are set yesterday, from the variables docs/api/index.md sets with `date`, so
# what a reader posts lands on the first page of the lists and in the dashboard's range. A literal
# date in an example of the API would set it years back again.
LITERAL_DATE = re.compile(r"\b(?:19|20)\d\d-\d\d")
# The webhooks' bodies are the vendors' documented payloads, kept with the vendors' own dates.
VENDOR_PAYLOADS = re.compile(r"\$OPSLOG/hooks/")
# Queries that must find what a vendor payload recorded, with the reason.
ALLOWED_LITERAL_DATES = {
    "/api/alerts/review/?from=2024-01&to=2024-02": "reviews the alerts of Alertmanager's payload, dated January 2024",
}
# In the answers the docs show, "$DAY", "$MONTH" and "$YEAR" stand for the variables' values, and
# two epoch seconds (2010-05-18 at 22:20:50 and 22:25:00 UTC, as grafana.md says) for those times
# yesterday.
SHOWN_EPOCHS = {"1274221250": "22:20:50", "1274221500": "22:25:00"}

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


def date_variables() -> str:
    """The block of docs/api/index.md that sets DAY, MONTH and the others, as written."""
    blocks = [body for lang, body in blocks_of("api/index.md") if lang == "sh" and "DAY=$(" in body]
    assert len(blocks) == 1, blocks
    return blocks[0]


def story_values() -> dict[str, str]:
    """What the date block sets, run by bash as the examples' shell runs it."""
    names = ("DAY", "TODAY", "NEXT_WEEK", "MONTH", "YEAR")
    script = "set -euo pipefail\n" + date_variables() + "\n" + "".join(f'echo "${name}"\n' for name in names)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True)
    return dict(zip(names, result.stdout.split()))


def as_shown(text: str, values: dict[str, str]) -> str:
    """A shown answer with the placeholders replaced by what this run's date block set."""
    for name in ("MONTH", "YEAR", "DAY"):
        text = text.replace(f'"${name}', f'"{values[name]}').replace(f"\n${name},", f"\n{values[name]},")
    for epoch, time in SHOWN_EPOCHS.items():
        at = dt.datetime.fromisoformat(f"{values['DAY']}T{time}+00:00")
        text = text.replace(epoch, str(int(at.timestamp())))
    if values["MONTH"] != dt.datetime.now(dt.UTC).strftime("%Y-%m"):
        # Run on the first of a month (UTC), yesterday's month has ended, as reports.md says.
        text = text.replace('"partial": true', '"partial": false').replace(",True\n", ",False\n")
    return text


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
    script = (
        "set -euo pipefail\n" + date_variables() + "\n" + "\n".join(f"{body}\necho\necho '{MARKER}'" for body in bodies)
    )
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
    return [
        output if "/metrics" in body or "format=csv" in body else json.loads(output)
        for body, output in zip(bodies, outputs)
    ]


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
        "/api/factors/",
        "?factor=",
        "/api/changes/ ",
        "/change-record/",
        "/hooks/github/",
        "/hooks/gitlab/",
        "/hooks/pagerduty/",
        "/hooks/alertmanager/",
        "/api/alerts/review/",
        "/api/insights/",
        "/api/annotations/",
        "/events/get_data",
        "/metrics",
        "/dora/api/metric",
        "/dora/api/benchmark",
        "/api/reports/weekly/",
        "/api/reports/quarterly/",
    ):
        assert path in text, path


def test_curl_examples_work_as_written(live_server, token, integrations):
    # A live server's database was flushed by the tests before: the default factors the examples name.
    seed_default_factors()
    examples = curl_examples()
    bodies = [body for body, _ in examples]
    outputs = run_all(live_server, token, bodies)
    values = story_values()
    day = values["DAY"]

    for (body, following), answer in zip(examples, outputs):
        if expected_json(following) is not None:
            assert answer == json.loads(as_shown(expected_json(following), values)), body
    # The CSV the docs show is the monthly report's, with this run's month.
    csv_index = next(i for i, body in enumerate(bodies) if "format=csv" in body)
    lang, shown_csv = examples[csv_index][1]
    assert lang == "text" and outputs[csv_index].strip() == as_shown(shown_csv, values).strip()
    assert f"{values['MONTH']},3,2,1,1,1," in outputs[csv_index]
    created = outputs[0]
    assert created["version"] == "25145" and created["commits"][0]["authored_at"] == f"{day}T18:02:11Z"
    assert outputs[2]["created"] == 2
    assert [d["id"] for d in outputs[3]["results"]] == [created["id"]]
    assert {d["version"] for d in outputs[4]["results"]} == {"700", "701"}
    # 3 from the API with the user's token, 1 with an ingest token, 1 each from GitHub and GitLab,
    # 2 CDEvents (a deploy, its rollback) and 1 PagerDuty change event
    assert Deploy.objects.count() == 9
    from_ci = the_one(examples, outputs, "25146")
    assert (from_ci["version"], from_ci["deployer"], from_ci["environment"]) == ("25146", "jenkins", "staging")

    incident = Incident.objects.get(source="pagerduty", external_id="PD-4711")
    # The API's one, PagerDuty's and the promoted alert's: the error examples stored nothing.
    assert Incident.objects.count() == 3
    assert incident.acknowledged_at.isoformat() == f"{day}T22:33:00+00:00"
    assert (incident.severity, incident.commander) == (1, "ekastner")
    assert list(incident.deploy_links.values_list("deploy_id", "relation")) == [(created["id"], "cause")]
    assert incident.timeline.filter(kind="note", text__startswith="Rolled web back").exists()
    # Roles: the comms lead handed over, the handover on the timeline, the incident found by its lead.
    handed = the_one(examples, outputs, '"comms", "name": "sandrews"')
    assert handed["roles"] == {"lead": "ekastner", "comms": "sandrews", "scribe": ""}
    assert incident.timeline.filter(kind="handover", text="Communications lead taken by sandrews.").exists()
    assert [i["id"] for i in the_one(examples, outputs, "lead=EKastner")["results"]] == [incident.pk]
    # Tags: set in any case with a repeat, the tags in use, the list filtered by any of them.
    assert the_one(examples, outputs, '"third-party", "payments"')["tags"] == ["checkout", "Payments", "third-party"]
    used = the_one(examples, outputs, "/api/tags/?q=pay")
    assert [(t["name"], t["incident_count"]) for t in used["results"]] == [("Payments", 1)]
    assert [i["id"] for i in the_one(examples, outputs, "?tag=payments&tag=dns")["results"]] == [incident.pk]
    assert outputs[19]["count"] == 0  # the list of not-yet-acknowledged incidents: it was acknowledged

    # Post-mortems: start, edit (with a blame hint), a refused stale edit, remediations, a change
    # record attached to the causing deploy, publish, diff.
    postmortem = incident.postmortem
    assert (outputs[20]["incident"], outputs[20]["version"], outputs[20]["status"]) == (incident.pk, 1, "draft")
    assert "Rolled web back" in outputs[20]["timeline_narrative"]
    assert outputs[21]["version"] == 2
    assert [h["text"] for h in outputs[21]["blame_hints"]["contributing_factors"]] == ["Bob should have", "should have"]
    assert outputs[22]["version"] == 3 and outputs[22]["blame_hints"]["contributing_factors"] == []
    assert (outputs[23]["current_version"], outputs[23]["your_version"], list(outputs[23]["diff"])) == (
        3,
        2,
        ["went_well"],
    )
    assert postmortem.went_well == ""  # the 409 saved nothing
    assert (outputs[25]["kind"], outputs[26]["kind"]) == ("dev", "ops")
    # Due today and done today: on time.
    assert (outputs[27]["status"], outputs[27]["done_on_time"]) == ("done", True)
    assert outputs[30]["id"] == created["id"] and outputs[30]["change_record"] == outputs[29]["id"]
    # The publish checklist's dry run, publishing refused over it, then confirmed (#15.8).
    assert outputs[31]["ready"] is False
    assert [(p["code"], p["field"]) for p in outputs[31]["problems"]] == [
        ("empty_section", name) for name in ("detection", "went_well", "got_lucky", "surprised")
    ], outputs[31]
    assert [p["code"] for p in outputs[32]["checklist"]] == ["empty_section"] * 4 and "confirm" in outputs[32]
    assert (outputs[33]["status"], outputs[33]["version"]) == ("published", 4)
    assert [c["id"] for c in outputs[33]["change_records"]] == [outputs[29]["id"]]
    assert list(outputs[34]["diff"]) == ["contributing_factors"]
    assert postmortem.revisions.count() == 4 and postmortem.remediations.count() == 2
    assert Deploy.objects.get(pk=created["id"]).change_record_id == outputs[29]["id"]
    # The insights of yesterday's SEV1 incidents: the checkout incident, led by ekastner.
    insights = the_one(examples, outputs, "/api/insights/")
    assert (insights["start"], insights["end"], insights["incidents"]["count"]) == (day, day, 1), insights
    assert "ekastner" in [r["responder"] for r in insights["on_call"]["responders"]]
    # The OpenDORA API: the report's own figures for web, yesterday's month and the six months to now.
    yesterday = dt.date.fromisoformat(day)
    web = Filters(services=("web",))
    month = selectors.monthly_report(first=yesterday, last=yesterday, filters=web).periods[0]
    assert the_one(examples, outputs, "/dora/api/metric") == {
        "aggregation": "monthly",
        "dataPoints": [{"key": f"{yesterday:%y/%m}", "value": month.deploys}],
    }
    assert month.deploys > 0
    benchmark = the_one(examples, outputs, "/dora/api/benchmark")
    now = selectors.today()
    rated = selectors.monthly_report(
        first=selectors.add_months(now, -6), last=now, filters=web, include_partial=True
    ).totals.dora.change_failure_rate
    assert benchmark == {"key": rated} and rated is not None
    # Environments: every deploy so far went to production, so its report is the unfiltered one.
    production = the_one(examples, outputs, "environment=production&include_partial=1")["months"][0]
    assert (production["deploys"], production["deployers"], production["lead_time_seconds"]) == (
        3,
        2,
        {"median": 15519.0},
    )
    # Weeks and quarters: a day stands for its ISO week, a month for its quarter; the figures are the report's.
    week = selectors.weekly_report(first=yesterday, last=yesterday, filters=web, include_partial=True).periods[0]
    weekly = the_one(examples, outputs, "/api/reports/weekly/?from=$DAY&to=$DAY&service=web")
    iso = yesterday.isocalendar()
    assert (weekly["from"], weekly["to"]) == (f"{iso.year}-W{iso.week:02d}",) * 2
    assert weekly["weeks"][0]["start"] == (yesterday - dt.timedelta(days=yesterday.weekday())).isoformat()
    assert weekly["weeks"][0]["deploys"] == weekly["totals"]["deploys"] == week.deploys > 0
    quarter = selectors.quarterly_report(first=yesterday, last=yesterday, filters=web, include_partial=True)
    quarterly = the_one(examples, outputs, "/api/reports/quarterly/")
    assert quarterly["quarters"][0]["quarter"] == f"{yesterday.year}-Q{(yesterday.month - 1) // 3 + 1}"
    assert quarterly["quarters"][0]["deploys"] == quarter.periods[0].deploys >= week.deploys
    weekly_csv = the_one(examples, outputs, "/api/reports/weekly/?from=$DAY&to=$DAY&include_partial=1&format=csv")
    # Every service's deploys and deployers at the time (later examples add more): counts, the week first.
    header, row = weekly_csv.split()
    assert header == "week,deploys,deployers" and re.fullmatch(rf"{weekly['from']},[1-9]\d*,[1-9]\d*", row), row

    # Integrations: every webhook example was accepted once and processed.
    hooks = [answer for body, answer in zip(bodies, outputs) if "/hooks/" in body and "/change/enqueue" not in body]
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
    # GitHub's payload dates it January 2024, before the examples' deploy of yesterday: nothing before it.
    assert github.previous_version == ""
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

    # CDEvents: the deploy of payments 3.2.0, rolled back to 3.1.9 an hour later; nothing stored for
    # the ignored type or the malformed event. PagerDuty change events: the deploy of 3.2.1.
    payments = {d.version: d for d in Deploy.objects.filter(service__slug="payments")}
    assert sorted(payments) == ["3.1.9", "3.2.0", "3.2.1"]
    assert (payments["3.2.0"].status, payments["3.1.9"].status) == ("rolled_back", "succeeded")
    assert payments["3.2.0"].deployed_at.isoformat() == f"{day}T21:00:00+00:00"
    assert (payments["3.2.1"].deployer, payments["3.2.1"].environment.slug) == ("github-actions", "production")

    # Deploy markers: the incidents=true example adds the docs' incident as the docs say.
    with_incidents = the_one(examples, outputs, "incidents=true")
    assert with_incidents == [
        *the_one(examples, outputs, 'T00:00:00Z&service=web"'),
        {
            "when": int(dt.datetime.fromisoformat(f"{day}T22:25:00+00:00").timestamp()),
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


def test_the_api_examples_take_their_dates_from_the_variables():
    """#15.19: an example of the API that posts a time, or lists by one, takes it from $DAY and the
    others; only the webhooks' vendor payloads keep the vendors' dates."""
    dated = [
        (body, LITERAL_DATE.findall(body))
        for body, _ in curl_examples()
        if not VENDOR_PAYLOADS.search(body)
        and LITERAL_DATE.search(body)
        and not any(allowed in body for allowed in ALLOWED_LITERAL_DATES)
    ]
    posting = [body for body, _ in curl_examples() if re.search(r"-X (?:POST|PATCH)|-d ", body)]
    time_fields = ("deployed_at", "authored_at", "started_at", "detected_at", "at", "planned_at", "meeting_date")

    assert dated == []
    # The check looks at what it should: the examples that post the story's times.
    for field in (*time_fields, "due_date"):
        assert any(re.search(rf'\\?"{field}\\?": \\?"\$', body) for body in posting), field


def test_the_date_check_catches_a_literal_date():
    body = 'curl -sS -X POST $OPSLOG/api/deploys/ -d \'{"deployed_at": "2010-05-18T22:20:50Z"}\''

    assert LITERAL_DATE.search(body) and not VENDOR_PAYLOADS.search(body)


def test_the_date_variables_are_yesterday_and_its_month():
    values = story_values()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)

    assert values["DAY"] == yesterday.isoformat()
    assert values["TODAY"] == (yesterday + dt.timedelta(days=1)).isoformat()
    assert values["NEXT_WEEK"] == (yesterday + dt.timedelta(days=8)).isoformat()
    assert (values["MONTH"], values["YEAR"]) == (f"{yesterday:%Y-%m}", f"{yesterday:%Y}")


def test_what_the_reader_posts_is_on_the_first_page_and_in_the_dashboards_range(live_server, token, api):
    """#15.19: on a database with two years of history (as `make run`'s demo), the deploy and the
    incident of the examples are on the first page of their lists, and their month is in the
    dashboard's default range."""
    from deploys.factories import DeployFactory
    from incidents.factories import IncidentFactory
    from reports.forms import ReportForm

    now = dt.datetime.now(dt.UTC)
    for days in range(2, 62):
        at = now - dt.timedelta(days=days * 12)
        DeployFactory(deployed_at=at)
        # Unresolved, as many of a real history's stragglers are: the list puts them first.
        IncidentFactory(started_at=at, detected_at=at + dt.timedelta(minutes=5))
    examples = [body for body, _ in curl_examples()]
    deploy = examples[0]
    incident = next(body for body in examples if '"external_id\\": \\"PD-4711' in body)

    created_deploy, filed = run_all(live_server, token, [deploy, incident])

    deploys = api.get("/api/deploys/").json()
    assert deploys["count"] == 61 and created_deploy["id"] in [d["id"] for d in deploys["results"]]
    incidents = api.get("/api/incidents/").json()
    assert incidents["count"] == 61 and incidents["results"][0]["id"] == filed["id"]
    form = ReportForm({})
    assert form.is_valid(), form.errors
    # first and last are the first days of the range's first and last months.
    assert form.first <= dt.date.fromisoformat(story_values()["DAY"]).replace(day=1) <= form.last
    month = story_values()["MONTH"]
    # The report example's month is this month, but on the first of a month (UTC) the last one.
    assert month in {f"{now:%Y-%m}", f"{now - dt.timedelta(days=1):%Y-%m}"}
    assert month == f"{now:%Y-%m}" or now.day == 1
