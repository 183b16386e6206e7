"""A worker killed in the middle of a task loses nothing and doubles nothing (issue 7, point 5).

Tasks are acknowledged late (CELERY_TASK_ACKS_LATE), so a message taken by a worker stays on the
broker until its task has run. On Redis, a message whose worker was killed outright is handed out
again once it is older than the broker's visibility timeout (OPSLOG_CELERY_VISIBILITY_TIMEOUT):
kombu's Redis transport keeps each unacknowledged message in the `unacked` hash, indexed by the
time it was taken in the `unacked_index` sorted set, and a worker sweeps the ones older than the
timeout back onto their queue when it starts, and every so often after.

The broker tests here run real `celery worker` processes (prefork pool) against CELERY_BROKER_URL
and the test database (so PostgreSQL: a worker process can't see pytest's SQLite test database),
SIGKILL a worker's whole process group while its task is blocked half-way, start another worker,
and check the effect happened once. One more kills only the pool process, which the surviving
worker puts back on the queue at once (CELERY_TASK_REJECT_ON_WORKER_LOST).
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.db import connection

from config.celery import app
from deploys.models import Deploy, OutboxMessage
from deploys.services import DeployInput, deploy_record
from integrations.factories import DeliveryFactory, IntegrationFactory
from integrations.models import Delivery
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT
from tests.support.workers import BASE_DIR, TIMEOUT, VISIBILITY_TIMEOUT, Workers, wait_for

# The tasks that must not be lost, by the name the worker knows them.
MUST_NOT_BE_LOST = [
    "deploys.tasks.send_outbox_message",
    "deploys.tasks.send_due_outbox_messages",
    "integrations.tasks.process_delivery",
    "postmortems.tasks.send_remediation_reminders",
    "reports.tasks.send_monthly_summary",
]


def test_every_task_that_must_not_be_lost_is_acknowledged_late_and_requeued_on_a_lost_worker():
    app.loader.import_default_modules()  # what a worker does on start: autodiscover the tasks
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    for name in MUST_NOT_BE_LOST:
        task = app.tasks[name]
        assert (name, task.acks_late, task.reject_on_worker_lost) == (name, True, True)


@pytest.mark.parametrize(("value", "expected"), [(None, 3600), ("42", 42)])
def test_the_redis_visibility_timeout_is_configurable(value, expected):
    env = {key: val for key, val in os.environ.items() if key != "OPSLOG_CELERY_VISIBILITY_TIMEOUT"}
    if value is not None:
        env["OPSLOG_CELERY_VISIBILITY_TIMEOUT"] = value
    shown = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS)"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == str({"visibility_timeout": expected})


# --- Real workers ---------------------------------------------------------------------------


class Broker:
    """A look inside kombu's Redis transport: the queue, and the messages taken but not acked."""

    QUEUE = "celery"

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)

    def clear(self) -> None:
        self.client.delete(self.QUEUE, "unacked", "unacked_index", "unacked_mutex")

    def queued(self) -> int:
        return self.client.llen(self.QUEUE)

    def unacked(self) -> list[tuple[str, dict, float]]:
        """(delivery tag, task name, time taken) of each message taken by a worker and not acked."""
        rows = []
        for tag, taken_at in self.client.zrange("unacked_index", 0, -1, withscores=True):
            raw = self.client.hget("unacked", tag)
            message = json.loads(raw)[0] if raw else {}
            rows.append((tag.decode(), message.get("headers", {}).get("task"), taken_at))
        return rows


@pytest.fixture
def workers(tmp_path):
    broker_url = django_settings.OPSLOG_TEST_BROKER_URL
    if not broker_url:
        pytest.skip("set CELERY_BROKER_URL (Redis) to run real workers against a real broker (CI does)")
    if not broker_url.startswith(("redis://", "rediss://")):
        pytest.skip("shows Redis's redelivery of a killed worker's messages; CELERY_BROKER_URL is not Redis")
    if connection.vendor != "postgresql":
        pytest.skip("a worker process can't see the SQLite test database: set DATABASE_URL to PostgreSQL (CI does)")
    broker = Broker(broker_url)
    broker.clear()
    app.conf.update(task_always_eager=False, broker_url=broker_url)
    pool = Workers(broker_url, tmp_path)
    try:
        yield pool, broker
    finally:
        pool.stop_all()
        app.conf.update(task_always_eager=True)
        broker.clear()
        for process in pool.started:  # shown when the test fails
            print(f"--- worker {process.number} ---\n{pool.log(process)}")


def redelivery_due(broker: Broker) -> None:
    """Wait until the one unacked message is older than the visibility timeout (by the broker's
    clock, which kombu's `time()` matches on this machine), so a worker starting now restores it."""
    [(_, _, taken_at)] = broker.unacked()
    wait_for(
        lambda: time.time() > taken_at + VISIBILITY_TIMEOUT + 0.5,
        "the visibility timeout to pass",
        timeout=VISIBILITY_TIMEOUT + TIMEOUT,
    )


class HoldingChatReceiver:
    """A chat webhook on localhost that holds its first request open, unanswered, until the
    client goes away; it answers the others at once. `completed` are the requests answered."""

    def __init__(self):
        self.held = threading.Event()  # the first request has arrived and is being held
        self.abandoned = threading.Event()  # its client hung up without an answer
        self.closing = threading.Event()
        self.attempts: list[dict] = []
        self.completed: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.attempts.append(body)
                    first = len(receiver.attempts) == 1
                if first:
                    receiver.held.set()
                    receiver.hold(self.connection)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
                self.wfile.flush()
                with receiver.lock:
                    receiver.completed.append(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chat"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self, sock: socket.socket) -> None:
        while not self.closing.is_set():
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                try:
                    gone = sock.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    self.abandoned.set()
                    return

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def holding_chat_receiver():
    receiver = HoldingChatReceiver()
    yield receiver
    receiver.close()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_chat_notification_cut_off_by_a_killed_worker_is_sent_once_by_the_next(
    workers, holding_chat_receiver, settings
):
    pool, broker = workers
    receiver = holding_chat_receiver
    settings.OPSLOG_CHAT_WEBHOOK_URL = receiver.url  # the deploy's outbox gets a chat message
    first = pool.start(OPSLOG_CHAT_WEBHOOK_URL=receiver.url)

    deploy = deploy_record(
        data=DeployInput(service="web", environment="production", version="36790", deployer="ekastner")
    )[0]  # on commit: send_outbox_message, on the worker

    # The worker is in the middle of posting the chat line: the request is out, no answer yet.
    wait_for(receiver.held.is_set, "the first worker to post the chat line")
    [(_, task, _)] = broker.unacked()
    assert task == "deploys.tasks.send_outbox_message"
    pool.kill(first)
    wait_for(receiver.abandoned.is_set, "the killed worker's request to be cut off")

    # Nothing restores the message while no worker runs: it is taken, not acked, not queued.
    record = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")
    assert (record.status, record.sent_at, record.attempts) == ("pending", None, 0)
    assert broker.queued() == 0 and len(broker.unacked()) == 1

    redelivery_due(broker)
    second = pool.start(OPSLOG_CHAT_WEBHOOK_URL=receiver.url)

    wait_for(lambda: receiver.completed, "the second worker to post the chat line")
    wait_for(lambda: not broker.unacked() and not broker.queued(), "the second worker to ack the task")
    pool.stop_all()  # a warm shutdown: anything else it was going to do, it has done
    assert second.returncode == 0, pool.log(second)

    line = {"text": "[web] PRODUCTION deployed by ekastner build: 36790"}
    assert receiver.attempts == [line, line]  # the cut-off request and the one that went through
    assert receiver.completed == [line]
    record.refresh_from_db()
    assert record.sent_at is not None
    assert (record.attempts, record.last_error) == (1, "")
    assert OutboxMessage.objects.filter(key__startswith=f"deploy:{deploy.pk}:").count() == 1


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_webhook_delivery_cut_off_by_a_killed_worker_is_processed_once_by_the_next(workers):
    import psycopg

    from integrations.tasks import process_delivery

    pool, broker = workers
    delivery = DeliveryFactory(
        integration=IntegrationFactory(kind="gitlab"),
        event=DEPLOYMENT_EVENT,
        headers={"Content-Type": "application/json", "X-Gitlab-Event": DEPLOYMENT_EVENT},
        body=json.dumps(DEPLOYMENT),
    )
    db = connection.settings_dict
    params = dict(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    )
    # An autocommit session to watch from: pg_stat_activity is a snapshot taken once per transaction.
    with psycopg.connect(**params, autocommit=True) as observer, psycopg.connect(**params) as blocker:
        # Hold writes to the deploy table: the worker gets half-way (the delivery row locked, the
        # adapter running) and waits there.
        blocker.execute(f'LOCK TABLE "{Deploy._meta.db_table}" IN EXCLUSIVE MODE')
        first = pool.start()
        process_delivery.delay(delivery.pk)

        def waiting_backend():
            row = observer.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                [blocker.info.backend_pid],
            ).fetchone()
            return row and row[0]

        try:
            backend = wait_for(waiting_backend, "the first worker to block on the deploy table")
            [(_, task, _)] = broker.unacked()
            assert task == "integrations.tasks.process_delivery"
            pool.kill(first)
        finally:
            blocker.rollback()  # the dead worker's session goes on, finds its client gone, rolls back

        wait_for(
            lambda: not observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]).fetchone(),
            "the killed worker's database session to end",
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.RECEIVED, 0)
    assert not Deploy.objects.exists()
    assert broker.queued() == 0 and len(broker.unacked()) == 1

    redelivery_due(broker)
    second = pool.start()

    wait_for(
        lambda: Delivery.objects.get(pk=delivery.pk).status != Delivery.Status.RECEIVED,
        "the second worker to process the delivery",
    )
    wait_for(lambda: not broker.unacked() and not broker.queued(), "the second worker to ack its tasks")
    pool.stop_all()
    assert second.returncode == 0, pool.log(second)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PROCESSED, 1), delivery.outcome
    assert Deploy.objects.count() == 1


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_chat_notification_whose_pool_process_is_killed_is_requeued_at_once(workers, holding_chat_receiver, settings):
    # Only the pool process dies (out of memory, say): the worker sees it lost, and with
    # reject_on_worker_lost puts the message back on the queue rather than failing the task.
    pool, broker = workers
    receiver = holding_chat_receiver
    settings.OPSLOG_CHAT_WEBHOOK_URL = receiver.url
    worker = pool.start(OPSLOG_CHAT_WEBHOOK_URL=receiver.url)

    deploy = deploy_record(
        data=DeployInput(service="web", environment="production", version="36791", deployer="ekastner")
    )[0]

    wait_for(receiver.held.is_set, "the worker to post the chat line")
    [child] = pool.pool_processes(worker)
    os.kill(child, signal.SIGKILL)
    wait_for(receiver.abandoned.is_set, "the killed pool process's request to be cut off")

    wait_for(lambda: receiver.completed, "the worker to post the chat line again")
    wait_for(lambda: not broker.unacked() and not broker.queued(), "the worker to ack the task")
    pool.stop_all()
    assert worker.returncode == 0, pool.log(worker)

    line = {"text": "[web] PRODUCTION deployed by ekastner build: 36791"}
    assert (receiver.attempts, receiver.completed) == ([line, line], [line])
    record = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")
    assert record.status == "sent" and record.sent_at is not None
    assert (record.attempts, record.last_error) == (1, "")
    assert "WorkerLostError" in pool.log(worker)
