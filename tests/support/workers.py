"""Real `celery worker` processes for the broker tests (PostgreSQL: a worker process can't see
pytest's SQLite test database), each in its own process group so it can be killed outright."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings as django_settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT = 5  # seconds, for the workers started here
TIMEOUT = 30.0  # the most any one step may take before the test fails


def wait_for(predicate, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Workers:
    """`celery -A config worker` processes on the test database, each in its own process group."""

    def __init__(self, broker_url: str, log_dir: Path):
        self.broker_url = broker_url
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def database_url(self) -> str:
        db = connection.settings_dict  # the test database's, after pytest-django renamed it
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = f"{credentials}@" if credentials else ""
        host += (db["HOST"] or "localhost") + (f":{db['PORT']}" if db["PORT"] else "")
        return f"postgres://{host}/{quote(db['NAME'], safe='')}"

    def start(self, **env) -> subprocess.Popen:
        number = len(self.started) + 1
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OPSLOG_", "CELERY_", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"))
        }
        environ.update(
            DJANGO_SETTINGS_MODULE="config.settings",  # the production settings: not eager
            DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
            DATABASE_URL=self.database_url(),
            CELERY_BROKER_URL=self.broker_url,
            OPSLOG_CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            **env,
        )
        log = open(self.log_dir / f"worker{number}.log", "wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "--loglevel=INFO",
                f"--hostname=crash-test-{number}@%h",
            ],
            cwd=BASE_DIR,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the pool children die with it
        )
        log.close()
        process.number = number
        self.started.append(process)
        return process

    def pool_processes(self, process) -> list[int]:
        return [pid for pid, ppid in _group(process.pid) if ppid == process.pid]

    def log(self, process) -> str:
        return (self.log_dir / f"worker{process.number}.log").read_text(errors="replace")

    def kill(self, process) -> None:
        """SIGKILL the worker and its pool children: nothing gets a chance to clean up."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        wait_for(lambda: not _group_alive(process.pid), f"worker {process.number}'s pool to die")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # warm shutdown
        for process in self.started:
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)


def _group(pgid: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of the live processes in a process group (zombies don't count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after it.
        state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append((int(entry.name), int(ppid)))
    return found


def _group_alive(pgid: int) -> bool:
    return bool(_group(pgid))
