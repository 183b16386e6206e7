"""The README's curl examples, run as written against a live server."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploys.models import Deploy

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.django_db(transaction=True)


def readme_blocks():
    return re.findall(r"```(\w*)\n(.*?)```", README.read_text(), flags=re.S)


def curl_examples():
    blocks = readme_blocks()
    examples = []
    for index, (lang, body) in enumerate(blocks):
        if lang == "sh" and body.lstrip().startswith("curl"):
            following = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
            examples.append((body, following[1] if following[0] == "json" else None))
    return examples


def run(example, live_server, token):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    command = example.replace("http://127.0.0.1:8000", live_server.url)
    result = subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, "OPSLOG_TOKEN": token.key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def test_there_are_curl_examples_for_each_endpoint():
    text = "\n".join(body for body, _ in curl_examples())

    assert "/api/deploys/ " in text and "/api/deploys/bulk/" in text and "/api/deploys/?" in text


def test_curl_examples_work_as_written(live_server, token):
    examples = curl_examples()
    outputs = []
    for body, expected_json in examples:
        result = run(body, live_server, token)
        assert result.returncode == 0, (body, result.stdout, result.stderr)
        answer = json.loads(result.stdout)
        if expected_json is not None:
            assert answer == json.loads(expected_json)
        outputs.append(answer)

    created = outputs[0]
    assert created["version"] == "25145" and created["commits"][0]["authored_at"] == "2010-05-18T18:02:11Z"
    assert outputs[2]["created"] == 2
    assert [d["id"] for d in outputs[3]["results"]] == [created["id"]]
    assert {d["version"] for d in outputs[4]["results"]} == {"700", "701"}

    again = run(examples[0][0], live_server, token)
    assert json.loads(again.stdout)["id"] == created["id"]
    assert Deploy.objects.count() == 3
