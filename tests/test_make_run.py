"""#15.19: `make run`, the README's demo, shows the app's own error pages (DEBUG off) and still
serves its stylesheets (WhiteNoise, from the collected static files).

Runs `make run` itself, on a throwaway SQLite file, a free port and a few days of demo data.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from tests.support.server_process import BASE_DIR, free_port

START_TIMEOUT = 180


@pytest.fixture
def make_run(tmp_path):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OPSLOG_", "CELERY_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "run", f"PORT={port}", "DEMO_DAYS=3", f"PYTHON={BASE_DIR / '.venv/bin/python'}"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, runserver and its reloader stop together
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # not SIGINT: a background job may inherit it ignored
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_run_shows_the_apps_404_page_and_serves_its_stylesheet(make_run):
    """#15.19: Django's debug 404 (every URL pattern) is not what a demo shows; the demo login still works."""
    missing = requests.get(f"{make_run}/nope", timeout=10)

    assert missing.status_code == 404
    assert "There is nothing at <code>/nope</code>" in missing.text
    assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text  # not Django's debug page

    login = requests.get(f"{make_run}/accounts/login/", timeout=10)
    stylesheets = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', login.text)
    assert stylesheets
    for href in stylesheets:
        css = requests.get(make_run + href, timeout=10)
        assert (css.status_code, css.headers["Content-Type"].split(";")[0]) == (200, "text/css"), href

    session = requests.Session()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(f"{make_run}/accounts/login/").text)
    logged_in = session.post(
        f"{make_run}/accounts/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": "demo", "password": "opslog-demo"},
        headers={"Referer": f"{make_run}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert logged_in.status_code == 302  # the README's demo login
    assert session.get(f"{make_run}/nope", timeout=10).text.count("There is nothing at") == 1
