"""Finished webhook deliveries are deleted after OPSLOG_DELIVERY_RETENTION_DAYS; what they made stays."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from deploys.factories import DeployFactory
from deploys.models import Deploy
from integrations.factories import DeliveryFactory
from integrations.models import Delivery
from integrations.tasks import purge_old_deliveries

pytestmark = pytest.mark.django_db


def aged(days: float, status: str) -> Delivery:
    return DeliveryFactory(status=status, received_at=timezone.now() - dt.timedelta(days=days))


def test_finished_deliveries_past_the_retention_go_and_the_rest_stay(settings):
    settings.OPSLOG_DELIVERY_RETENTION_DAYS = 30
    old = [aged(31, status) for status in ("processed", "ignored", "failed")]
    kept = [aged(29, "processed"), aged(29, "failed"), aged(400, "received")]
    deploy = DeployFactory()

    assert purge_old_deliveries.delay().get() == 3

    assert not Delivery.objects.filter(pk__in=[d.pk for d in old]).exists()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert Deploy.objects.filter(pk=deploy.pk).exists()


def test_zero_keeps_every_delivery(settings):
    settings.OPSLOG_DELIVERY_RETENTION_DAYS = 0
    aged(5000, "processed")

    assert purge_old_deliveries.delay().get() == 0
    assert Delivery.objects.count() == 1


def test_beat_runs_it_daily_with_a_90_day_default():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-deliveries"]
    assert entry["task"] == purge_old_deliveries.name and entry["schedule"] == 24 * 3600
    assert settings.OPSLOG_DELIVERY_RETENTION_DAYS == 90


def test_a_negative_retention_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_int

    monkeypatch.setenv("OPSLOG_DELIVERY_RETENTION_DAYS", "-1")
    with pytest.raises(ImproperlyConfigured):
        env_int("OPSLOG_DELIVERY_RETENTION_DAYS", 90, minimum=0)
