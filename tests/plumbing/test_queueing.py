import socket
import time

import pytest

from config.celery import app
from deploys.tasks import send_outbox_message
from plumbing.queueing import publish


@pytest.fixture
def silent_broker():
    """A 'Redis' that accepts connections and never answers: the worst broker outage."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_publishing_gives_up_within_the_configured_timeout(broker, silent_broker, settings, monkeypatch, caplog):
    settings.OPSLOG_BROKER_PUBLISH_TIMEOUT = 0.3
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to its configuration
    url = silent_broker if broker == "silent" else "redis://127.0.0.1:1/0"
    app.conf.update(task_always_eager=False, broker_url=url)
    try:
        started = time.monotonic()
        queued = publish(send_outbox_message, 42)
        elapsed = time.monotonic() - started
    finally:
        app.conf.update(task_always_eager=True)

    assert queued is False
    # Connecting and one try at publishing, each bounded by the timeout; Celery's own retries
    # took about two seconds for a refused connection and forever for a silent one.
    assert elapsed < 2 * 0.3 + 0.5
    assert "could not queue deploys.tasks.send_outbox_message(42,)" in caplog.text


def test_without_a_broker_the_task_runs_in_process(db):
    assert publish(send_outbox_message, 42) is True  # no such message: nothing to send, no error
