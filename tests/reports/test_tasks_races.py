"""Two beat deliveries of the monthly summary at the same moment send it once (real connections)."""

import threading

import pytest
from django.core import mail
from django.db import connection

from reports.models import SummarySent
from reports.tasks import send_monthly_summary
from tests.reports.test_api import at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's real concurrency (CI's second pass runs it)")


def test_two_deliveries_at_once_send_one_email(settings, monkeypatch):
    settings.OPSLOG_SUMMARY_EMAILS = ["ops@example.com"]
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-05-01T12:00:00Z"))
    start = threading.Barrier(2)
    results = []

    def run():
        start.wait()
        try:
            results.append(send_monthly_summary())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [0, 1]
    assert len(mail.outbox) == 1
    assert SummarySent.objects.count() == 1
