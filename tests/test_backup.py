"""The documented PostgreSQL backup and restore (docs/operations/backup.md), run for real (issue #7, data safety).

pg_dump the test database in the custom format, pg_restore it into a scratch database on the same
server (twice: the second time over the first, which is what `--clean --if-exists` is for), then
`migrate` and `recompute_lead_times` against the copy as the docs say, and compare the counts.
"""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from deploys.factories import DeployFactory
from incidents import services
from incidents.factories import IncidentDeployFactory, IncidentFactory
from postmortems import services as postmortem_services

pytestmark = [
    # Committed rows: pg_dump reads them from its own connection.
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only(reason="backs up PostgreSQL (CI's second pass runs it)"),
]

TABLES = [
    "deploys_deploy",
    "deploys_deploycommit",
    "incidents_incident",
    "incidents_incidentdeploy",
    "incidents_timelineentry",
    "incidents_postmortem",
    "incidents_postmortemrevision",
]


@pytest.fixture(autouse=True)
def _client_tools():
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (postgresql-client)")


def _libpq_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    for name, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if db.get(key):
            env[name] = str(db[key])
    return env


def _url(name: str) -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _counts(dbname: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(_url(dbname)) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
        counts["archived"] = conn.execute(
            "SELECT count(*) FROM incidents_incident WHERE archived_at IS NOT NULL"
        ).fetchone()[0]
    return counts


def _run(*command: str, env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"


def test_a_custom_format_dump_restores_into_an_empty_database_with_every_row(tmp_path: Path, user):
    deploys = DeployFactory.create_batch(5)
    incidents = IncidentFactory.create_batch(3)
    IncidentDeployFactory(incident=incidents[0], deploy=deploys[0])
    postmortem_services.postmortem_start(incident=incidents[0])
    services.incident_archive(incident=incidents[2], reason="duplicate of #1", by=user)
    source = connection.settings_dict["NAME"]
    scratch = f"opslog_restore_{uuid.uuid4().hex[:12]}"
    dump = tmp_path / "opslog.dump"
    env = _libpq_env()
    expected = _counts(source)
    assert expected["incidents_incident"] == 3 and expected["deploys_deploy"] == 5 and expected["archived"] == 1

    # As the docs write them: DATABASE_URL-style addresses.
    _run("pg_dump", "--format=custom", f"--file={dump}", _url(source), env=env)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        _run("pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_url(scratch)}", str(dump), env=env)
        assert _counts(scratch) == expected
        # Again, over the copy: --clean drops what is there first, so nothing doubles.
        _run("pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_url(scratch)}", str(dump), env=env)
        assert _counts(scratch) == expected

        # Then the docs' two commands against the restored copy.
        app_env = {
            **env,
            "DATABASE_URL": _url(scratch),
            "DJANGO_DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        _run(sys.executable, manage, "migrate", "--no-input", "-v", "0", env=app_env)
        _run(sys.executable, manage, "recompute_lead_times", env=app_env)
        assert _counts(scratch) == expected
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
