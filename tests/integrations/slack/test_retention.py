"""Stored Slack requests are deleted after OPSLOG_SLACK_REQUEST_RETENTION_DAYS; what they did stays."""

import datetime as dt

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from incidents.factories import IncidentFactory, TimelineEntryFactory
from incidents.models import TimelineEntry
from integrations.factories import SlackRequestFactory
from integrations.models import SlackPin, SlackRequest
from integrations.tasks import purge_old_slack_requests

pytestmark = pytest.mark.django_db


def aged(days: float, status: str = "done") -> SlackRequest:
    return SlackRequestFactory(status=status, received_at=timezone.now() - dt.timedelta(days=days))


def test_requests_past_the_retention_go_whatever_their_status_and_the_rest_stay(settings):
    settings.OPSLOG_SLACK_REQUEST_RETENTION_DAYS = 7
    old = [aged(7.01, status) for status in ("done", "failed", "received")]
    kept = [aged(6.9), aged(0, "received")]
    entry = TimelineEntryFactory(incident=IncidentFactory(), kind="note", text="pinned")
    SlackPin.objects.create(workspace=old[0].workspace, channel="C1", message_ts="1.1", entry=entry)

    assert purge_old_slack_requests.delay().get() == 3

    assert set(SlackRequest.objects.values_list("pk", flat=True)) == {r.pk for r in kept}
    assert not SlackRequest.objects.filter(pk__in=[r.pk for r in old]).exists()
    assert TimelineEntry.objects.filter(pk=entry.pk).exists() and SlackPin.objects.count() == 1


def test_zero_keeps_every_request(settings):
    settings.OPSLOG_SLACK_REQUEST_RETENTION_DAYS = 0
    aged(5000)

    assert purge_old_slack_requests.delay().get() == 0
    assert SlackRequest.objects.count() == 1


def test_beat_runs_it_daily_with_a_7_day_default():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-slack-requests"]
    assert entry["task"] == purge_old_slack_requests.name and entry["schedule"] == 24 * 3600
    assert settings.OPSLOG_SLACK_REQUEST_RETENTION_DAYS == 7


@pytest.mark.parametrize("value", ["-1", "a week"])
def test_a_bad_retention_is_refused(monkeypatch, value):
    from config.env import env_int

    monkeypatch.setenv("OPSLOG_SLACK_REQUEST_RETENTION_DAYS", value)
    with pytest.raises(ImproperlyConfigured):
        env_int("OPSLOG_SLACK_REQUEST_RETENTION_DAYS", 7, minimum=0)
