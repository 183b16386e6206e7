"""Two beat deliveries of the monthly summary at the same moment send it once (real connections)."""

import pytest
from django.core import mail

from reports.models import SummarySent
from reports.tasks import send_monthly_summary
from tests.support.concurrency import at_once
from tests.support.times import at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def test_two_deliveries_at_once_send_one_email(settings, monkeypatch):
    settings.OPSLOG_SUMMARY_EMAILS = ["ops@example.com"]
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-05-01T12:00:00Z"))

    results = at_once(2, lambda _: send_monthly_summary())

    assert sorted(results) == [0, 1]
    assert len(mail.outbox) == 1
    assert SummarySent.objects.count() == 1
