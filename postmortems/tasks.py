import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from postmortems import selectors
from postmortems.models import Remediation

logger = logging.getLogger(__name__)
REMINDER_HOUR = 8


@shared_task(acks_late=True)
def send_remediation_reminders() -> int:
    """Email each owner of a remediation due within two days or overdue; once a day at most each.

    Sent, then marked: each remediation in its own transaction that locks its row (PostgreSQL), sends
    the email and only then stamps the day (_mark_reminded). A worker that dies in between takes the
    transaction with it, so the day's reminder is never skipped: the next run (acks_late: the same
    task, retried) sends it, at most once more. A second worker waits on the lock, then finds the day
    stamped and sends nothing. Returns how many emails were sent.
    """
    now = timezone.localtime()
    # Beat runs this hourly; the day's reminders wait for the working day in the reporting zone.
    if now.hour < REMINDER_HOUR:
        return 0
    today = now.date()
    sent = 0
    for remediation_id in selectors.remediations_due_for_reminder(today=today).values_list("pk", flat=True):
        with transaction.atomic():
            remediation = (
                selectors.remediations_due_for_reminder(today=today)
                .select_for_update(of=("self",))
                .filter(pk=remediation_id)
                .first()
            )
            if remediation is None:
                continue  # reminded meanwhile by another worker, done, or no longer due
            try:
                _remind(remediation, today)
            except Exception as exc:
                # Not stamped: the next run tries again.
                logger.warning("reminder for remediation %s failed: %s", remediation_id, exc)
                continue
            _mark_reminded(remediation_id, today)
        sent += 1
    return sent


def _mark_reminded(remediation_id: int, today) -> None:
    Remediation.objects.filter(pk=remediation_id).update(last_reminded_on=today)


def _remind(remediation: Remediation, today) -> None:
    incident = remediation.postmortem.incident
    if remediation.due_date < today:
        when = f"was due on {remediation.due_date:%Y-%m-%d} ({(today - remediation.due_date).days} days ago)"
    elif remediation.due_date == today:
        when = "is due today"
    else:
        when = f"is due on {remediation.due_date:%Y-%m-%d}"
    # One line: a line break in an email header is refused (and would be a header injection).
    headline = " ".join(remediation.description.split())[:60]
    subject = f"[Opslog] Remediation {when.split(' (')[0]}: {headline}"
    body = [
        f"Hello {remediation.owner.get_full_name() or remediation.owner.get_username()},",
        "",
        f"This {remediation.get_kind_display().lower()} remediation from the post-mortem of "
        f"incident #{incident.pk} “{incident.title}” {when}:",
        "",
        f"    {remediation.description}",
    ]
    if remediation.tracker_ref:
        body.append(f"    Tracker: {remediation.tracker_ref}")
    if settings.OPSLOG_BASE_URL:
        body += ["", settings.OPSLOG_BASE_URL.rstrip("/") + remediation.postmortem.get_absolute_url()]
    body += ["", "Mark it done, or won't do with a reason, when it is settled."]
    send_mail(subject, "\n".join(body), None, [remediation.owner.email])
