"""Shared by bench/load.py and bench/ingest.py: a throwaway PostgreSQL database with the demo data,
and the app served on it by gunicorn the way production serves it (DEBUG off, a throwaway secret key,
static files from whitenoise after collectstatic, Celery tasks in-process as without a broker), with
the API write throttle off so the benchmark measures the app, not the limiter.

The database is dropped and created again on every run; gunicorn is stopped on exit, also on Ctrl-C,
SIGTERM or an error (`with App(...) as app:`), and the database dropped unless --keep-db.
"""

import atexit
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/opslog_load"
BENCH_USER = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def admin_url(database_url: str) -> tuple[str, str]:
    """(URL of the server's `postgres` database, the benchmark database's name)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise SystemExit(f"DATABASE_URL must name a database of letters, digits and _ (got {name!r})")
    return urlunsplit(parts._replace(path="/postgres")), name


def psycopg_url(database_url: str) -> str:
    # libpq takes postgresql:// and postgres://; Django's URL may say postgresql+psycopg or pgsql.
    return re.sub(r"^[a-z+]+://", "postgresql://", database_url)


class App:
    """`with App(database_url, workers=4) as app:` creates and loads the database, starts gunicorn on
    a free port (app.url), and tears both down on the way out."""

    def __init__(self, database_url: str, *, workers: int, seed_days: int = 730, keep_db: bool = False):
        self.database_url = database_url
        self.workers = workers
        self.seed_days = seed_days
        self.keep_db = keep_db
        self.password = secrets.token_urlsafe(16)
        self.token = ""
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="opslog-gunicorn-", suffix=".log", delete=False)
        self.created_db = False
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "CELERY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=database_url,
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            OPSLOG_API_WRITE_RATE="off",
            OPSLOG_LOG_LEVEL="WARNING",
            BENCH_PASSWORD=self.password,
        )
        self.env = env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self):
        atexit.register(self.close)
        # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, through the finally blocks.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            self.create_database()
            self.prepare()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.stop()
        if self.created_db and not self.keep_db:
            self.drop_database()
        self.created_db = False

    # --- database ----------------------------------------------------------------------------------

    def _admin(self):
        url, name = admin_url(self.database_url)
        return psycopg.connect(psycopg_url(url), autocommit=True), name

    def create_database(self) -> None:
        conn, name = self._admin()
        with conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created_db = True

    def drop_database(self) -> None:
        try:
            conn, name = self._admin()
            with conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as error:
            print(f"could not drop the benchmark database: {error}", file=sys.stderr)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if result.returncode:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"manage.py {' '.join(args)} failed")
        return result.stdout

    def prepare(self) -> None:
        started = time.perf_counter()
        self.manage("migrate", "--no-input", "-v", "0")
        print(self.manage("seed_demo", "--no-login", "--days", str(self.seed_days)).strip())
        print(f"migrated and seeded in {time.perf_counter() - started:.0f} s", flush=True)
        self.manage("collectstatic", "--no-input", "-v", "0")
        # A superuser (allowed everywhere) with a known password for the login form, and its API token.
        self.token = (
            self.manage(
                "shell",
                "-c",
                "import os\n"
                "from django.contrib.auth import get_user_model\n"
                "from deploys.services import api_token_create\n"
                f"user, _ = get_user_model().objects.get_or_create(username={BENCH_USER!r}, "
                "defaults={'is_staff': True, 'is_superuser': True})\n"
                "user.set_password(os.environ['BENCH_PASSWORD'])\n"
                "user.save()\n"
                "print(api_token_create(user=user)[1])\n",
            )
            .strip()
            .splitlines()[-1]
        )
        print(f"database ready in {time.perf_counter() - started:.0f} s")

    # --- gunicorn ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-tmp-dir",
                "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                "--error-logfile",
                "-",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C reaches this script, which then stops gunicorn in order.
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        import requests

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=10).status_code == 200:
                    print(f"gunicorn: {self.workers} workers on {self.url}")
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise SystemExit(f"gunicorn did not answer /healthz within 60 s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # the master stops its workers gracefully
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    # --- helpers -----------------------------------------------------------------------------------

    def login_cookies(self) -> dict[str, str]:
        """Log in through the login form, as a person would; returns the session's cookies."""
        import requests

        with requests.Session() as session:
            page = session.get(f"{self.url}/accounts/login/", timeout=30)
            page.raise_for_status()
            match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if not match:
                raise SystemExit("no CSRF token on the login page")
            answer = session.post(
                f"{self.url}/accounts/login/",
                data={"username": BENCH_USER, "password": self.password, "csrfmiddlewaretoken": match[1]},
                headers={"Referer": f"{self.url}/accounts/login/"},
                allow_redirects=False,
                timeout=30,
            )
            if answer.status_code != 302 or "sessionid" not in session.cookies:
                raise SystemExit(f"login failed: {answer.status_code}")
            return session.cookies.get_dict()


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt
