"""The README's curl examples, run as written, in order, in one shell, against a live server."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploys.models import Deploy
from incidents.models import Incident

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "@@@ end of example @@@"

pytestmark = pytest.mark.django_db(transaction=True)


def curl_examples():
    """(shell block, the ```json block right after it or None) for each example that calls the API."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", README.read_text(), flags=re.S)
    examples = []
    for index, (lang, body) in enumerate(blocks):
        if lang == "sh" and "curl" in body and "http://127.0.0.1:8000/api/" in body:
            following = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
            examples.append((body, following[1] if following[0] == "json" else None))
    return examples


def run_all(live_server, token, examples):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    script = "set -euo pipefail\n" + "\n".join(f"{body}\necho\necho '{MARKER}'" for body, _ in examples)
    result = subprocess.run(
        ["bash", "-c", script.replace("http://127.0.0.1:8000", live_server.url)],
        env={**os.environ, "OPSLOG_TOKEN": token.key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    outputs = result.stdout.split(MARKER)[: len(examples)]
    return [json.loads(output) for output in outputs]


def test_there_are_examples_for_each_endpoint():
    text = "\n".join(body for body, _ in curl_examples())

    for path in ("/api/deploys/ ", "/api/deploys/bulk/", "/api/deploys/?", "/api/incidents/ ", "/acknowledge/",
                 "/causes/", "/timeline/", "/api/incidents/?", "/api/postmortems/ ", "/status/", "/diff/", "/export/",
                 "/api/remediations/ ", "/follow-through/", "/api/changes/ ", "/change-record/"):
        assert path in text, path


def test_curl_examples_work_as_written(live_server, token):
    examples = curl_examples()
    outputs = run_all(live_server, token, examples)

    for (body, expected_json), answer in zip(examples, outputs):
        if expected_json is not None:
            assert answer == json.loads(expected_json), body
    created = outputs[0]
    assert created["version"] == "25145" and created["commits"][0]["authored_at"] == "2010-05-18T18:02:11Z"
    assert outputs[2]["created"] == 2
    assert [d["id"] for d in outputs[3]["results"]] == [created["id"]]
    assert {d["version"] for d in outputs[4]["results"]} == {"700", "701"}
    assert Deploy.objects.count() == 3

    incident = Incident.objects.get(source="pagerduty", external_id="PD-4711")
    assert Incident.objects.count() == 1  # the error examples stored nothing
    assert incident.acknowledged_at.isoformat() == "2010-05-18T22:33:00+00:00"
    assert (incident.severity, incident.commander) == (1, "ekastner")
    assert list(incident.deploy_links.values_list("deploy_id", "relation")) == [(created["id"], "cause")]
    assert incident.timeline.filter(kind="note", text__startswith="Rolled web back").exists()
    assert outputs[12]["count"] == 0  # the list of not-yet-acknowledged incidents: it was acknowledged

    # Post-mortems: start, edit (with a blame hint), a refused stale edit, remediations, a change
    # record attached to the causing deploy, publish, diff.
    postmortem = incident.postmortem
    assert (outputs[13]["incident"], outputs[13]["version"], outputs[13]["status"]) == (incident.pk, 1, "draft")
    assert "Rolled web back" in outputs[13]["timeline_narrative"]
    assert outputs[14]["version"] == 2
    assert [h["text"] for h in outputs[14]["blame_hints"]["contributing_factors"]] == ["Bob should have", "should have"]
    assert outputs[15]["version"] == 3 and outputs[15]["blame_hints"]["contributing_factors"] == []
    assert (outputs[16]["current_version"], outputs[16]["your_version"], list(outputs[16]["diff"])) == (3, 2, ["went_well"])
    assert postmortem.went_well == ""  # the 409 saved nothing
    assert (outputs[18]["kind"], outputs[19]["kind"]) == ("dev", "ops")
    assert (outputs[20]["status"], outputs[20]["done_on_time"]) == ("done", False)
    assert outputs[23]["id"] == created["id"] and outputs[23]["change_record"] == outputs[22]["id"]
    assert (outputs[24]["status"], outputs[24]["version"]) == ("published", 4)
    assert [c["id"] for c in outputs[24]["change_records"]] == [outputs[22]["id"]]
    assert list(outputs[25]["diff"]) == ["contributing_factors"]
    assert postmortem.revisions.count() == 4 and postmortem.remediations.count() == 2
    assert Deploy.objects.get(pk=created["id"]).change_record_id == outputs[22]["id"]


def test_sending_the_same_deploy_again_returns_the_first(live_server, token):
    first_example = curl_examples()[0][0]

    first, again = run_all(live_server, token, [(first_example, None), (first_example, None)])

    assert again["id"] == first["id"]
    assert Deploy.objects.count() == 1
