import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from postmortems import selectors
from postmortems.models import Remediation

logger = logging.getLogger(__name__)
REMINDER_HOUR = 8


@shared_task(acks_late=True)
def send_remediation_reminders() -> int:
    """Email each owner of a remediation due within two days or overdue; once a day at most each.

    Safe to run often and from several workers at once: a remediation is claimed for today
    before its email goes out. Returns how many emails were sent.
    """
    now = timezone.localtime()
    # Beat runs this hourly; the day's reminders wait for the working day in the reporting zone.
    if now.hour < REMINDER_HOUR:
        return 0
    today = now.date()
    sent = 0
    for remediation in selectors.remediations_due_for_reminder(today=today):
        claimed = (
            Remediation.objects.filter(pk=remediation.pk)
            .filter(Q(last_reminded_on__isnull=True) | Q(last_reminded_on__lt=today))
            .update(last_reminded_on=today)
        )
        if not claimed:
            continue
        try:
            _remind(remediation, today)
            sent += 1
        except Exception as exc:
            # Give the claim back so the next run tries again.
            Remediation.objects.filter(pk=remediation.pk).update(last_reminded_on=remediation.last_reminded_on)
            logger.warning("reminder for remediation %s failed: %s", remediation.pk, exc)
    return sent


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
