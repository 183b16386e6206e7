"""The monthly summary email: last month's numbers next to the month before's."""

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from plumbing.fields import MONTH_RE, this_month
from reports import selectors, services
from reports.models import SummarySent
from reports.selectors import Figures
from reports.templatetags.reports import for_people as duration

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    label: str
    now: float | None
    before: float | None
    kind: str  # "count", "rate" (a fraction) or "seconds"

    def show(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.kind == "rate":
            return f"{value * 100:.1f} %"
        if self.kind == "seconds":
            return duration(value)
        return str(value)

    def __str__(self) -> str:
        text = f"{self.label} {self.show(self.now)}"
        if self.now is None:
            return text
        if self.before is None:
            return f"{text} (none the month before)"
        change = self.now - self.before
        if change == 0:
            return f"{text} (= the month before)"
        arrow = "▲" if change > 0 else "▼"
        if self.kind == "rate":
            by = f"{abs(change) * 100:.1f} points"
        elif self.kind == "seconds":
            by = duration(abs(change))
        else:
            by = str(abs(change))
        return f"{text} ({arrow} {by} from {self.show(self.before)})"


def summary_lines(now: Figures, before: Figures) -> list[Line]:
    """The email's lines, in the dashboard's order. Medians for durations, as the dashboard's charts."""
    pairs = [
        ("Deploys", "deploys", "count"),
        ("Deployers", "deployers", "count"),
        ("Incidents", "incidents", "count"),
        ("Deploy-related incidents", "deploy_related_incidents", "count"),
        ("Unresolved incidents", "unresolved_incidents", "count"),
        ("Incident rate", "incident_rate", "rate"),
        ("Change failure rate", "change_failure_rate", "rate"),
        ("Rework rate", "rework_rate", "rate"),
    ]
    lines = [Line(label, getattr(now, name), getattr(before, name), kind) for label, name, kind in pairs]
    durations = [
        ("MTTD", "mttd_seconds"),
        ("MTTA", "mtta_seconds"),
        ("MTTR", "mttr_seconds"),
        ("Time to restore", "time_to_restore_seconds"),
    ]
    for label, name in durations:
        lines.append(Line(f"{label} (mean)", getattr(now, name).mean, getattr(before, name).mean, "seconds"))
        lines.append(Line(f"{label} (median)", getattr(now, name).median, getattr(before, name).median, "seconds"))
    lines.append(Line("Lead time (median)", now.lead_time_seconds.median, before.lead_time_seconds.median, "seconds"))
    # DORA's recovery metric, in the level since 2023 (time to restore above is the earlier one).
    recovery, recovery_before = now.failed_deployment_recovery_seconds, before.failed_deployment_recovery_seconds
    lines += [
        Line("Failed deployment recovery time (mean)", recovery.mean, recovery_before.mean, "seconds"),
        Line("Failed deployment recovery time (median)", recovery.median, recovery_before.median, "seconds"),
        Line("Unrecovered failed deploys", now.unrecovered_failed_deploys, before.unrecovered_failed_deploys, "count"),
    ]
    return lines


def summary_email(month: dt.date) -> tuple[str, str]:
    """(subject, body) for `month`, compared with the month before. Four to eight queries."""
    report = selectors.monthly_report(first=selectors.add_months(month, -1), last=month)
    before, now = report.periods
    label = f"{month:%Y-%m}"
    subject = (
        f"[Opslog] {month:%B %Y}: {now.deploys} deploy{'s' if now.deploys != 1 else ''}, "
        f"{now.deploy_related_incidents} deploy-related incident{'s' if now.deploy_related_incidents != 1 else ''}"
    )
    body = [f"Opslog's numbers for {month:%B %Y} ({report.time_zone}), compared with {before.start:%B %Y}:", ""]
    body += [f"  {line}" for line in summary_lines(now, before)]
    dora = f"  DORA level {now.dora.overall or '— (no data)'}"
    if now.dora.overall and before.dora.overall:
        same = before.dora.overall == now.dora.overall
        dora += " (= the month before)" if same else f" (was {before.dora.overall})"
    if now.dora.left_out:
        dora += f"; left out: {now.dora.left_out_text()}"
    body += [
        "",
        dora,
        "",
        "MTTD, MTTA, MTTR and time to restore are over the month's incidents; rates are shares of the month's "
        "production deploys. How each number is counted: " + _url(reverse("reports:how_we_count")),
        "The dashboard: " + _url(f"{reverse('reports:dashboard')}?{urlencode({'from': label, 'to': label})}"),
    ]
    return subject, "\n".join(body) + "\n"


def _url(path: str) -> str:
    return settings.OPSLOG_BASE_URL.rstrip("/") + path if settings.OPSLOG_BASE_URL else path


@shared_task(acks_late=True)
def send_monthly_summary(month: str | None = None) -> int:
    """Email last month's numbers (or `month`, "YYYY-MM"), compared with the month before, to
    OPSLOG_SUMMARY_EMAILS. Returns how many addresses it was sent to (0 when the list is empty).

    Celery beat runs it once, on the 1st of each month (CELERY_BEAT_SCHEDULE); "last month" is
    the month before the current one in the reporting time zone. Without `month` it sends each
    month's summary once (reports.SummarySent): a beat task delivered twice, or re-queued after a
    worker died, sends nothing the second time. The mark is made in the same transaction as the
    send, so a failed send leaves none and the retry sends; a worker killed between the mail
    server's answer and the commit sends again (at least once, never lost). With `month` — by
    hand — it always sends, with the numbers as they are then (an incident filed late changes them).
    """
    recipients = list(settings.OPSLOG_SUMMARY_EMAILS)
    if not recipients:
        logger.info("monthly summary: OPSLOG_SUMMARY_EMAILS is empty, nothing sent")
        return 0
    if month is None:
        first = selectors.add_months(this_month(), -1)
    else:
        match = MONTH_RE.match(month)
        if not match or not 1 <= int(match[2]) <= 12:
            raise ValueError(f"month must be YYYY-MM, not {month!r}")
        first = dt.date(int(match[1]), int(match[2]), 1)
    if month is not None:
        _send(first, recipients)
        return len(recipients)
    with transaction.atomic():
        # A second run for the month waits here for the first to commit, then finds its mark.
        _, created = SummarySent.objects.select_for_update().get_or_create(
            month=first, defaults={"sent_at": timezone.now(), "recipients": len(recipients)}
        )
        if not created:
            logger.info("monthly summary for %s: already sent, nothing sent again", f"{first:%Y-%m}")
            return 0
        _send(first, recipients)
    return len(recipients)


def _send(month: dt.date, recipients: list[str]) -> None:
    subject, body = summary_email(month)
    send_mail(subject, body, None, recipients)


@shared_task
def refresh_rollback_times() -> int:
    """The kept rollback times and recoveries of the changed services and environments recomputed
    (reports.services.refresh_rollback_times); beat runs it every minute."""
    return services.refresh_rollback_times()
