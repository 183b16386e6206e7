"""The monthly summary email."""

import datetime as dt

import pytest
from celery.schedules import crontab
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from reports.tasks import Line, refresh_rollback_times, send_monthly_summary
from tests.support.times import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipients(settings):
    settings.OPSLOG_SUMMARY_EMAILS = ["ops@example.com", "cto@example.com"]
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    return settings.OPSLOG_SUMMARY_EMAILS


@pytest.fixture
def in_may_2024(monkeypatch):
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-05-01T12:00:00Z"))


@pytest.fixture
def two_months():
    """March: 2 deploys (bob's rolled back), 1 incident (detected after 60 s, acknowledged 120 s
    later, repaired in 600 s from detection). April: 3 deploys, 2 incidents (detected after 30 s,
    acknowledged after 60 s, repaired after 300 s; 90 s, 240 s, 1500 s), one caused by an April deploy."""
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")

    def deploy(when, deployer, status="succeeded"):
        return DeployFactory(
            service=web, environment=production, deployed_at=at(when), deployer=deployer, status=status
        )

    def incident(started, detect, acknowledge, repair):
        started = at(started)
        detected = started + dt.timedelta(seconds=detect)
        return IncidentFactory(
            started_at=started,
            detected_at=detected,
            acknowledged_at=detected + dt.timedelta(seconds=acknowledge),
            resolved_at=detected + dt.timedelta(seconds=repair),
            services=[web],
        )

    deploy("2024-03-04T10:00:00Z", "alice")
    deploy("2024-03-05T10:00:00Z", "bob", status="rolled_back")
    incident("2024-03-06T10:00:00Z", 60, 120, 600)
    deploy("2024-04-02T10:00:00Z", "alice")
    cause = deploy("2024-04-03T10:00:00Z", "carol")
    deploy("2024-04-04T10:00:00Z", "dave")
    IncidentDeployFactory(incident=incident("2024-04-03T11:00:00Z", 30, 60, 300), deploy=cause, relation="cause")
    incident("2024-04-10T10:00:00Z", 90, 240, 1500)
    deploy("2024-05-01T08:00:00Z", "erin")  # this month: not in the summary


def test_emails_last_months_numbers_compared_with_the_month_before(recipients, in_may_2024, two_months):
    sent = send_monthly_summary()

    assert sent == 2
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ops@example.com", "cto@example.com"]
    assert email.subject == "[Opslog] April 2024: 3 deploys, 1 deploy-related incident"
    lines = [line.strip() for line in email.body.splitlines()]
    assert lines[0] == "Opslog's numbers for April 2024 (UTC), compared with March 2024:"
    assert lines[2:19] == [
        "Deploys 3 (▲ 1 from 2)",
        "Deployers 3 (▲ 1 from 2)",
        "Incidents 2 (▲ 1 from 1)",
        "Deploy-related incidents 1 (▲ 1 from 0)",
        "Unresolved incidents 0 (= the month before)",
        "Incident rate 33.3 % (▲ 33.3 points from 0.0 %)",
        "Change failure rate 33.3 % (▼ 16.7 points from 50.0 %)",
        "Rework rate 0.0 % (= the month before)",
        "MTTD (mean) 1 min (= the month before)",  # (30 + 90) / 2
        "MTTD (median) 1 min (= the month before)",
        "MTTA (mean) 2 min 30 s (▲ 30 s from 2 min)",  # (60 + 240) / 2 = 150; March 120
        "MTTA (median) 2 min 30 s (▲ 30 s from 2 min)",
        "MTTR (mean) 15 min (▲ 5 min from 10 min)",  # (300 + 1500) / 2 = 900
        "MTTR (median) 15 min (▲ 5 min from 10 min)",
        "Time to restore (mean) 16 min (▲ 5 min from 11 min)",  # (330 + 1590) / 2 = 960; March 660
        "Time to restore (median) 16 min (▲ 5 min from 11 min)",
        "Lead time (median) —",  # no commits
    ]
    # April: carol's deploy (3 April 10:00) caused an incident resolved at 11:05:30: 3930 s. March:
    # bob's (5 March 10:00) was rolled back by the next deploy, 2 April 10:00: 28 days.
    assert lines[19:22] == [
        "Failed deployment recovery time (mean) 1 h 6 min (▼ 27 d 23 h from 28 d)",
        "Failed deployment recovery time (median) 1 h 6 min (▼ 27 d 23 h from 28 d)",
        "Unrecovered failed deploys 0 (= the month before)",
    ]
    assert "DORA level low (= the month before); left out: lead time (no commits)" in lines
    assert "The dashboard: https://opslog.example.com/reports/?from=2024-04&to=2024-04" in lines
    assert any(line.endswith("https://opslog.example.com/reports/how-we-count/") for line in lines)


def test_last_month_is_in_the_reporting_time_zone(recipients, settings, monkeypatch):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    # 22:30 UTC on 31 May is already 1 June in Berlin: the month just ended is May.
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-05-31T22:30:00Z"))

    send_monthly_summary()

    assert mail.outbox[0].subject.startswith("[Opslog] May 2024:")


def test_a_given_month(recipients, two_months):
    send_monthly_summary("2024-03")

    assert mail.outbox[0].subject == "[Opslog] March 2024: 2 deploys, 0 deploy-related incidents"
    body = mail.outbox[0].body
    assert "Deploys 2 (▲ 2 from 0)" in body
    assert "MTTD (mean) 1 min (none the month before)" in body
    assert "Incident rate 0.0 % (none the month before)" in body


def test_a_bad_month_is_refused(recipients):
    with pytest.raises(ValueError, match="YYYY-MM"):
        send_monthly_summary("2024-13")
    assert mail.outbox == []


def test_an_empty_list_sends_nothing_and_reads_nothing(settings):
    settings.OPSLOG_SUMMARY_EMAILS = []

    with CaptureQueriesContext(connection) as ctx:
        assert send_monthly_summary.delay().get() == 0

    assert mail.outbox == []
    assert ctx.captured_queries == []


def test_runs_through_celery(recipients, in_may_2024):
    assert send_monthly_summary.delay().get() == 2
    assert mail.outbox[0].subject == "[Opslog] April 2024: 0 deploys, 0 deploy-related incidents"
    # No deploys in either month: measured, low; what had nothing to measure is named.
    assert (
        "DORA level low (= the month before); left out: lead time (no commits); change failure rate (no deploys); "
        "failed deployment recovery time (no failed deploys)"
    ) in mail.outbox[0].body


def test_beat_sends_it_on_the_first_of_each_month(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["monthly-summary"]

    assert entry["task"] == send_monthly_summary.name == "reports.tasks.send_monthly_summary"
    assert entry["schedule"] == crontab(minute=0, hour=12, day_of_month=1)


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (Line("Deploys", 204, 192, "count"), "Deploys 204 (▲ 12 from 192)"),
        (Line("Deploys", 180, 192, "count"), "Deploys 180 (▼ 12 from 192)"),
        (Line("MTTD (mean)", 390.0, 420.0, "seconds"), "MTTD (mean) 6 min 30 s (▼ 30 s from 7 min)"),
        (Line("MTTR (mean)", None, 420.0, "seconds"), "MTTR (mean) —"),
        (Line("Change failure rate", 0.0032, 0.0012, "rate"), "Change failure rate 0.3 % (▲ 0.2 points from 0.1 %)"),
    ],
)
def test_lines(line, text):
    assert str(line) == text


# --- Once per month ------------------------------------------------------------------------------


def test_beat_sends_each_months_summary_once(recipients, in_may_2024):
    from reports.models import SummarySent

    assert send_monthly_summary.delay().get() == 2
    assert send_monthly_summary.delay().get() == 0  # the same beat task delivered again

    assert len(mail.outbox) == 1
    sent = SummarySent.objects.get()
    assert (sent.month, sent.recipients) == (dt.date(2024, 4, 1), 2)


def test_a_failed_send_leaves_no_mark_so_the_retry_sends(recipients, in_may_2024, monkeypatch):
    from reports.models import SummarySent

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("reports.tasks.send_mail", refuse)
    with pytest.raises(ConnectionRefusedError):
        send_monthly_summary()
    assert not SummarySent.objects.exists()

    monkeypatch.undo()
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-05-01T12:05:00Z"))
    assert send_monthly_summary() == 2
    assert len(mail.outbox) == 1


def test_a_month_given_by_hand_is_sent_again(recipients, two_months):
    send_monthly_summary("2024-03")
    send_monthly_summary("2024-03")

    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_the_rollback_time_refresh_task(settings):
    """Beat runs it every minute. On PostgreSQL it refreshes the pairs the deploys' writes logged
    (tests/reports/test_rollback_times.py); SQLite keeps no rollback times, so it changes nothing."""
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-rollback-times"]
    assert entry["task"] == refresh_rollback_times.name == "reports.tasks.refresh_rollback_times"
    assert entry["schedule"] == 60.0
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, deployed_at=at("2024-03-03T09:00:00Z"), status="rolled_back")
    DeployFactory(service=web, environment=production, deployed_at=at("2024-03-04T09:00:00Z"))
    assert refresh_rollback_times.delay().get() == (1 if connection.vendor == "postgresql" else 0)
    assert refresh_rollback_times.delay().get() == 0
