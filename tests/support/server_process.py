"""A real Opslog server process for tests that must see what production sees: gunicorn with
DEBUG off, in its own process, on its own throwaway SQLite file (the test database lives in the
test process's memory, or in a transaction no other process can see).

    with ServerProcess(tmp_path) as server:
        server.manage("shell", "-c", "...")   # set up data in the server's database
        server.start()
        session = server.logged_in_session("alice", "password")
        session.get(server.url + "/incidents/")
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, directory: Path, **env):
        self.directory = Path(directory)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = self.directory / "gunicorn.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "OPSLOG_", "CELERY_", "DATABASE_URL"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=f"sqlite:///{self.directory / 'server.sqlite3'}",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            OPSLOG_LOG_LEVEL="WARNING",
            **env,
        )

    def __enter__(self) -> "ServerProcess":
        self.manage("migrate", "-v0")
        # Production serves the hashed names collectstatic writes (whitenoise's manifest).
        self.manage("collectstatic", "--no-input", "-v0")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--timeout",
                    "60",
                ],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its worker
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or too busy starting to answer
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer in {START_TIMEOUT} s: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def logged_in_session(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.url}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = session.post(
            f"{self.url}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
            headers={"Referer": f"{self.url}/accounts/login/"},
            timeout=10,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]
        return session
