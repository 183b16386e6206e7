"""Issue #14, findings 2 and 7: login throttling on both login pages, and user API tokens stored hashed."""

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-test-password"
LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def attempt(page: str, username: str, password: str, address: str):
    return Client(REMOTE_ADDR=address).post(page, {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


# --- #14.2: login throttling, in-process --------------------------------------------------------------


@pytest.fixture(params=["DatabaseHandler", "CacheHandler"])
def handler(request, settings):
    """Each test below runs with the counts in the database (no OPSLOG_CACHE_URL) and in the cache
    (this process's memory here; Redis in production)."""
    from axes.handlers.proxy import AxesProxyHandler
    from django.core.cache import cache

    settings.AXES_HANDLER = f"config.login_throttle.{request.param}"
    AxesProxyHandler.get_implementation(force=True)
    cache.clear()
    yield request.param
    cache.clear()
    settings.AXES_HANDLER = django_settings.AXES_HANDLER
    AxesProxyHandler.get_implementation(force=True)


@pytest.mark.django_db
@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_twenty_wrong_passwords_from_one_address_are_throttled_and_another_address_still_logs_in(
    page, admin_user, handler
):
    """#14.2: 60 wrong passwords in 20 s all got 200, then the right one logged in. Now the address is
    locked out (429, Retry-After, a page saying why and for how long); the account is not."""
    answers = [attempt(page, "admin", "wrong", "203.0.113.7") for _ in range(20)]

    assert answers[0].status_code == 200  # the form again, with its error
    locked = answers[-1]
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    body = locked.content.decode()
    assert "Too many failed logins" in body and "15 minutes" in body
    assert '<link rel="stylesheet"' in body  # the project's page, not a bare line of text
    # The right password from the locked address is refused too: the lock is not a password check.
    assert attempt(page, "admin", "password", "203.0.113.7").status_code == 429
    # From another address the account logs in.
    assert logged_in(attempt(page, "admin", "password", "198.51.100.4"))


@pytest.mark.django_db
def test_a_few_wrong_passwords_do_not_stop_the_right_one(user, handler):
    """#14.2: successful logins are unaffected below the limit."""
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("/accounts/login/", "ekastner", "wrong", "203.0.113.8").status_code == 200

    assert logged_in(attempt("/accounts/login/", "ekastner", PASSWORD, "203.0.113.8"))


@pytest.mark.django_db
def test_one_account_tried_from_many_addresses_is_locked_at_its_own_higher_limit(user, handler):
    """#14.2: guessing one account's password from many addresses (a botnet) is throttled per account,
    at a higher limit than per address, so a person mistyping from one place never locks the account."""
    limit = django_settings.OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT
    for n in range(limit):
        assert attempt("/accounts/login/", "ekastner", "wrong", f"10.1.{n // 200}.{n % 200 + 1}").status_code in (
            200,
            429,
        )

    assert attempt("/accounts/login/", "ekastner", PASSWORD, "192.0.2.99").status_code == 429
    # Another account from a fresh address is not affected.
    other = attempt("/accounts/login/", "someone-else", "wrong", "192.0.2.100")
    assert other.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_odd_and_huge_usernames_are_counted_not_a_500(page, user, handler):
    """#14.2: axes stores the account name tried in a 255-character column; a longer one was a 500 on
    PostgreSQL. Names longer than any account's are counted under their first 150 characters (a name
    with a NUL is refused by the form before it is tried, so it isn't counted)."""
    names = ["x" * 1000, "é" * 300, "nul\x00name", "\u202eright-to-left" * 20]
    answers = [attempt(page, name, "wrong", "203.0.113.9") for name in names]
    answers.append(attempt(page, "ekastner", "p" * 1_000_000, "203.0.113.9"))

    assert [answer.status_code for answer in answers] == [200] * 5
    # And they are counted: wrong passwords for a 1,000-character name reach the address's limit.
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        attempt(page, "y" * 1000, "wrong", "203.0.113.10")
    assert attempt(page, "ekastner", PASSWORD, "203.0.113.10").status_code == 429


# --- #14.2: against a real server process ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scratch_database(tmp_path: Path):
    """A database for the server process, migrated by it: the test database's kind (a scratch database
    beside it on PostgreSQL, a file on SQLite), since the server can't see this test's transaction."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{tmp_path / 'live.sqlite3'}", lambda: None
    name = f"{db['NAME']}_live"
    credentials = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
    host = (
        (f"{credentials}@" if credentials else "")
        + (db["HOST"] or "localhost")
        + (f":{db['PORT']}" if db["PORT"] else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgres://{host}/{name}", drop


def _server_env(tmp_path: Path, database_url: str, **extra) -> dict[str, str]:
    """The production settings (DJANGO_DEBUG off), but for static file names without collectstatic's manifest."""
    (tmp_path / "live_settings.py").write_text(
        "from config.settings import *  # noqa: F403\n"
        "STORAGES = {**STORAGES, 'staticfiles': {'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}}\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "CELERY_", "DATABASE_"))}
    environ.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
        DJANGO_SETTINGS_MODULE="live_settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=database_url,
        **extra,
    )
    return environ


def _manage(environ, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _redis_url() -> str | None:
    url = django_settings.OPSLOG_TEST_BROKER_URL
    return url if url.startswith(("redis://", "rediss://")) else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared_by", ["database", "cache"])
def test_a_real_server_throttles_wrong_passwords_across_its_workers(tmp_path, shared_by):
    """#14.2 against gunicorn with two workers (production settings, DJANGO_DEBUG off): the counts are
    shared by the workers, in the database or, with OPSLOG_CACHE_URL, in Redis. Behind one proxy
    (OPSLOG_TRUSTED_PROXIES=1) the client's address is the one the proxy appended to X-Forwarded-For."""
    extra = {"OPSLOG_TRUSTED_PROXIES": "1"}
    if shared_by == "cache":
        redis_url = _redis_url()
        if redis_url is None:
            pytest.skip("needs Redis: set CELERY_BROKER_URL=redis://…")
        extra["OPSLOG_CACHE_URL"] = redis_url
    database_url, drop = _scratch_database(tmp_path)
    environ = _server_env(tmp_path, database_url, **extra)
    port = _free_port()
    server = None
    # Fresh names and addresses each run: Redis keeps the counts of an earlier run for 15 minutes.
    username = f"ops-{secrets.token_hex(4)}"
    here, there = f"203.0.113.{secrets.randbelow(250) + 1}", f"198.51.100.{secrets.randbelow(250) + 1}"
    try:
        _manage(environ, "migrate", "--no-input", "-v0")
        _manage(
            environ,
            "shell",
            "-c",
            f"from django.contrib.auth import get_user_model; get_user_model().objects.create_user('{username}', password='{PASSWORD}')",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting its workers
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)

        def post(password, address):
            # A new session per attempt: each request may land on either worker.
            session = requests.Session()
            session.headers["X-Forwarded-For"] = address
            session.get(f"{base}/accounts/login/", timeout=10)
            return session.post(
                f"{base}/accounts/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                headers={"Referer": f"{base}/accounts/login/"},
                allow_redirects=False,
                timeout=10,
            )

        statuses = [post("wrong", here).status_code for _ in range(20)]

        # Locked at the 10th however the attempts were spread over the two workers: one count.
        assert statuses == [200] * 9 + [429] * 11
        locked = post(PASSWORD, here)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert "Too many failed logins" in locked.text
        other = post(PASSWORD, there)
        assert other.status_code == 302 and "sessionid" in other.cookies
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop()


# --- #14.7: user API tokens hashed ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_token_is_stored_only_as_a_digest_and_shown_once(logged_in, user):
    """#14.7: user API tokens were stored in plain text; now only their SHA-256 digest is kept, and the
    key is shown once, when it is made."""
    response = logged_in.post("/accounts/token/", follow=True)
    key = str(list(response.context["messages"])[0]).split("Your API token is ")[1].split(" ")[0]

    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                assert not any(isinstance(value, str) and key in value for value in row), table
    assert hashlib.sha256(key.encode()).hexdigest() in str(user.api_token.key_digest)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/incidents/").status_code == 200
    assert key not in logged_in.get("/accounts/token/").content.decode()


@pytest.mark.django_db
def test_the_admin_lists_no_user_token_keys(client, admin_user, user):
    """#14.7: /admin/authtoken/tokenproxy/ listed every key, admins' included."""
    made = client.post("/accounts/login/", {"username": "admin", "password": "password"})
    assert made.status_code == 302
    client.post("/accounts/token/")
    key = client.post("/accounts/token/", follow=True).context["messages"]
    key = str(list(key)[0]).split("Your API token is ")[1].split(" ")[0]

    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404
    listing = client.get("/admin/deploys/apitoken/")
    assert listing.status_code == 200
    assert key not in listing.content.decode()
    assert "admin" in listing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_existing_plain_text_tokens_are_hashed_in_place_and_keep_working(django_user_model):
    """#14.7: tokens made before the change keep authenticating (no one is logged out of the API), and
    the plain-text keys are gone from the database."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    # Every app's last migration: going back in deploys also takes back what depends on it elsewhere.
    before = executor.loader.graph.leaf_nodes()
    # By name, not number: migrations are renumbered when branches merge.
    [name] = [name for app, name in executor.loader.graph.nodes if app == "deploys" and "auth_hash_user_tokens" in name]
    target = executor.loader.get_migration("deploys", name)
    previous = [parent for parent in target.dependencies if parent[0] == "deploys"]
    executor.migrate(previous)
    user = django_user_model.objects.create_user(username="ci-old", password=PASSWORD)
    from config.roles import RESPONDER, role_set

    role_set(user=user, role=RESPONDER)
    key = secrets.token_hex(20)  # DRF's authtoken key: 40 hex digits
    with connection.cursor() as cursor:
        if "authtoken_token" not in connection.introspection.table_names(cursor):
            # As rest_framework.authtoken made it, on a database that had it.
            cursor.execute(
                "CREATE TABLE authtoken_token (key varchar(40) NOT NULL PRIMARY KEY, "
                "created timestamp with time zone NOT NULL, user_id integer NOT NULL UNIQUE)"
            )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2024-07-01 10:00:00+00:00" if connection.vendor == "postgresql" else "2024-07-01 10:00:00", user.pk],
        )

    MigrationExecutor(connection).migrate(before)

    with connection.cursor() as cursor:
        assert "authtoken_token" not in connection.introspection.table_names(cursor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/incidents/").status_code == 200
    created = client.post(
        "/api/deploys/", {"service": "web", "environment": "qa", "version": "1", "deployer": "x"}, format="json"
    )
    assert created.status_code == 201
    from deploys.models import ApiToken

    token = ApiToken.objects.get(user=user)
    assert token.key_digest == hashlib.sha256(key.encode()).hexdigest()
    assert token.created_at.year == 2024 and key not in token.key_start + str(token)


# --- #14.2: the settings ----------------------------------------------------------------------------


def _manage_check(**env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "CELERY_", "DATABASE_"))}
    environ.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(40), **env)
    script = (
        "from django.conf import settings as s;"
        "print(s.AXES_FAILURE_LIMIT, s.OPSLOG_LOGIN_LIMITS, s.AXES_LOCKOUT_PARAMETERS, s.AXES_COOLOFF_TIME,"
        " s.AXES_HANDLER, s.REST_FRAMEWORK['NUM_PROXIES'], sep='|')"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_login_throttle_follows_the_environment():
    """#14.2: limits, cool-off, where the counts live and the trusted proxies come from the environment."""
    default = _manage_check()
    custom = _manage_check(
        OPSLOG_LOGIN_FAILURE_LIMIT="5",
        OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT="0",
        OPSLOG_LOGIN_COOLOFF_MINUTES="60",
        OPSLOG_CACHE_URL="redis://127.0.0.1:6379/2",
        OPSLOG_TRUSTED_PROXIES="2",
    )

    assert default.stdout.strip().split("|") == [
        "10",
        "[10, 50]",
        "['ip_address', 'username']",
        "0:15:00",
        "config.login_throttle.DatabaseHandler",
        "0",
    ], default.stderr
    assert custom.stdout.strip().split("|") == [
        "5",
        "[5]",
        "['ip_address']",
        "1:00:00",
        "config.login_throttle.CacheHandler",
        "2",
    ], custom.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPSLOG_LOGIN_FAILURE_LIMIT", "0"),
        ("OPSLOG_LOGIN_FAILURE_LIMIT", "ten"),
        ("OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT", "5"),  # below the per-address limit
        ("OPSLOG_LOGIN_COOLOFF_MINUTES", "0"),
        ("OPSLOG_TRUSTED_PROXIES", "-1"),
    ],
)
def test_a_malformed_login_throttle_setting_stops_start_up_naming_it(variable, value):
    result = _manage_check(**{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr.strip().splitlines()[-1]


@pytest.mark.django_db
def test_x_forwarded_for_counts_only_behind_trusted_proxies(user, settings, handler):
    """#14.2: without trusted proxies a client can't dodge the throttle by sending X-Forwarded-For;
    behind one, the address the proxy appended is the client's."""

    def wrong(forwarded_for: str):
        return Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for).post(
            "/accounts/login/", {"username": "ekastner", "password": "wrong"}
        )

    answers = [wrong(f"192.0.2.{n}").status_code for n in range(1, 11)]
    assert answers[-1] == 429  # all one client: the proxy-less connection's address

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Behind the proxy at 10.0.0.1: a client forging the header still gets its real address appended.
    answers = [wrong(f"forged, 198.51.100.{n}").status_code for n in range(1, 11)]
    assert set(answers) == {200}
    assert [wrong("192.0.2.77, 198.51.100.200").status_code for _ in range(10)][-1] == 429
    ok = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.201").post(
        "/accounts/login/", {"username": "ekastner", "password": PASSWORD}
    )
    assert logged_in(ok)


@pytest.mark.django_db
def test_hammering_a_locked_login_writes_nothing(user, django_assert_max_num_queries):
    """#14.2: attempts during a lockout are refused without a password check or a database write."""
    from axes.models import AccessAttempt

    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        attempt("/accounts/login/", "ekastner", "wrong", "203.0.113.9")
    rows = list(AccessAttempt.objects.values_list("failures_since_start", "post_data"))
    assert rows[0][0] == django_settings.AXES_FAILURE_LIMIT and "wrong" not in rows[0][1]

    for _ in range(20):
        assert attempt("/accounts/login/", "ekastner", "wrong", "203.0.113.9").status_code == 429

    assert list(AccessAttempt.objects.values_list("failures_since_start", "post_data")) == rows
