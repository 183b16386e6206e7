"""postmortems.tasks.send_remediation_reminders: the owner of a remediation due within two days or
overdue gets one email a day about it, and a failed send is tried again on the next run."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from incidents.factories import IncidentFactory
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import Remediation
from postmortems.tasks import send_remediation_reminders
from tests.support.roles import responder

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# Noon in the reporting time zone (UTC in the tests): the same date everywhere in the world that matters here.
NOON = dt.datetime(2024, 7, 10, 12, 0, tzinfo=UTC)
TODAY = NOON.date()


@pytest.fixture
def clock(monkeypatch):
    """Sets "now" for the code under test; starts at NOON."""

    class Clock:
        def __init__(self):
            self.now = NOON

        def advance(self, **kwargs):
            self.now += dt.timedelta(**kwargs)

    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def owner(django_user_model):
    return responder(
        django_user_model.objects.create_user(
            username="sandrews", email="sandrews@example.com", first_name="Sam", last_name="Andrews"
        )
    )


@pytest.fixture
def postmortem():
    incident = IncidentFactory(title="Checkout returns 502", started_at=NOON - dt.timedelta(days=9))
    return PostMortemFactory(incident=incident)


def remediation(postmortem, owner, *, due_in: int | None, **kwargs) -> Remediation:
    due = TODAY + dt.timedelta(days=due_in) if due_in is not None else None
    kwargs.setdefault("owner_name", "")
    return RemediationFactory(postmortem=postmortem, owner=owner, due_date=due, **kwargs)


def test_due_in_two_days_sends_one_email_to_the_owner(clock, postmortem, owner, settings):
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    item = remediation(postmortem, owner, due_in=2, kind="ops", description="Page on 502s", tracker_ref="OPS-12")

    sent = send_remediation_reminders()

    assert sent == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["sandrews@example.com"]
    assert message.subject == "[Opslog] Remediation is due on 2024-07-12: Page on 502s"
    assert "Hello Sam Andrews," in message.body
    assert f"ops remediation from the post-mortem of incident #{postmortem.incident_id} “Checkout returns 502”" in (
        message.body
    )
    assert "    Page on 502s" in message.body and "Tracker: OPS-12" in message.body
    assert f"https://opslog.example.com/incidents/{postmortem.incident_id}/postmortem/" in message.body
    item.refresh_from_db()
    assert item.last_reminded_on == TODAY


@pytest.mark.parametrize(
    ("due_in", "status", "fragment"),
    [
        (-3, "open", "was due on 2024-07-07 (3 days ago)"),
        (-1, "in_progress", "was due on 2024-07-09"),
        (0, "open", "is due today"),
        (1, "in_progress", "is due on 2024-07-11"),
    ],
)
def test_overdue_and_due_soon_send_an_email(clock, postmortem, owner, due_in, status, fragment):
    remediation(postmortem, owner, due_in=due_in, status=status)

    assert send_remediation_reminders() == 1
    assert fragment in mail.outbox[0].body


@pytest.mark.parametrize(
    ("due_in", "extra"),
    [
        (3, {}),
        (30, {}),
        (None, {}),
        (-2, {"status": "done"}),
        (1, {"status": "wont_do", "wont_do_reason": "Retired."}),
    ],
)
def test_nothing_is_sent_for_later_undated_or_settled_remediations(clock, postmortem, owner, due_in, extra):
    remediation(postmortem, owner, due_in=due_in, **extra)

    assert send_remediation_reminders() == 0
    assert mail.outbox == []


def test_nothing_is_sent_to_an_owner_without_an_email_or_one_who_is_just_a_name(clock, postmortem, django_user_model):
    no_email = responder(django_user_model.objects.create_user(username="jallen", email=""))
    remediation(postmortem, no_email, due_in=-1)
    remediation(postmortem, None, due_in=-1, owner_name="Sam from the DBA team")

    assert send_remediation_reminders() == 0
    assert mail.outbox == []
    assert not Remediation.objects.filter(last_reminded_on__isnull=False).exists()


def test_at_most_one_email_a_day_per_remediation(clock, postmortem, owner):
    remediation(postmortem, owner, due_in=-1)

    assert send_remediation_reminders() == 1
    clock.advance(hours=6)
    assert send_remediation_reminders() == 0
    assert len(mail.outbox) == 1

    clock.advance(days=1)
    assert send_remediation_reminders() == 1
    assert len(mail.outbox) == 2
    assert "was due on 2024-07-09 (2 days ago)" in mail.outbox[1].body


def test_each_remediation_gets_its_own_email(clock, postmortem, owner):
    remediation(postmortem, owner, due_in=-1)
    remediation(postmortem, owner, due_in=2)
    remediation(postmortem, owner, due_in=3)

    assert send_remediation_reminders() == 2
    assert [m.to for m in mail.outbox] == [["sandrews@example.com"]] * 2


def test_the_day_is_the_reporting_time_zones(clock, postmortem, owner, settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+12 in July: 20:30 UTC is 08:30 on the 11th there
    clock.now = dt.datetime(2024, 7, 10, 20, 30, tzinfo=UTC)
    remediation(postmortem, owner, due_in=3)  # due on the 13th: within two days of the 11th

    assert send_remediation_reminders() == 1
    assert Remediation.objects.get().last_reminded_on == dt.date(2024, 7, 11)


def test_a_failed_send_gives_the_claim_back_so_a_later_run_retries(clock, postmortem, owner, settings, caplog):
    item = remediation(postmortem, owner, due_in=1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2

    assert send_remediation_reminders() == 0

    item.refresh_from_db()
    assert item.last_reminded_on is None
    assert f"reminder for remediation {item.pk} failed" in caplog.text

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert send_remediation_reminders() == 1
    assert len(mail.outbox) == 1
    item.refresh_from_db()
    assert item.last_reminded_on == TODAY


def test_a_failed_send_keeps_the_previous_days_reminder_date(clock, postmortem, owner, settings):
    item = remediation(postmortem, owner, due_in=-1, last_reminded_on=TODAY - dt.timedelta(days=1))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    send_remediation_reminders()

    item.refresh_from_db()
    assert item.last_reminded_on == TODAY - dt.timedelta(days=1)


def test_a_reminder_claimed_by_another_worker_is_not_sent_twice(clock, postmortem, owner, monkeypatch):
    from postmortems import selectors

    item = remediation(postmortem, owner, due_in=1)
    real = selectors.remediations_due_for_reminder

    reads = []

    def stale_read(**kwargs):
        reads.append(kwargs)
        if len(reads) > 1:
            return real(**kwargs)  # the read under the row's lock sees the other worker's stamp
        # The list was read just before another worker reminded the owner and stamped the day.
        listed = list(real(**kwargs).values_list("pk", flat=True))
        Remediation.objects.filter(pk=item.pk).update(last_reminded_on=TODAY)
        return Remediation.objects.filter(pk__in=listed)

    monkeypatch.setattr(selectors, "remediations_due_for_reminder", stale_read)

    assert send_remediation_reminders() == 0
    assert mail.outbox == []


def test_a_description_with_a_line_break_still_sends_its_reminder(clock, postmortem, owner):
    remediation(postmortem, owner, due_in=1, description="Alert on 502s\nand on slow checkouts")

    assert send_remediation_reminders() == 1
    assert "\n" not in mail.outbox[0].subject


def test_reminders_wait_for_the_working_day(clock, postmortem, owner, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    clock.now = dt.datetime(2024, 7, 10, 4, 30, tzinfo=UTC)  # 06:30 in Berlin
    remediation(postmortem, owner, due_in=1)

    assert send_remediation_reminders() == 0
    clock.now = dt.datetime(2024, 7, 10, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert send_remediation_reminders() == 1


def test_inactive_owners_get_no_reminders(clock, postmortem, owner):
    remediation(postmortem, owner, due_in=1)
    owner.is_active = False
    owner.save()

    assert send_remediation_reminders() == 0
