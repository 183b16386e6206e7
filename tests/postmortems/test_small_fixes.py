"""#15.7: the remediation form promises tracker links only when there is a tracker; demo alert names
read like alert names; the Markdown export's file name keeps "1/3" apart."""

import re

import pytest
from django.urls import reverse

from alerts.demo import alert_name
from incidents.demo import TROUBLES
from incidents.factories import IncidentFactory
from postmortems.factories import PostMortemFactory, RemediationFactory

pytestmark = pytest.mark.django_db

HINT = "Tracker keys such as OPS-123 become links"


def test_the_tracker_hint_shows_only_when_a_tracker_url_is_set(logged_in, settings):
    postmortem = PostMortemFactory()
    remediation = RemediationFactory(postmortem=postmortem)
    pages = [
        reverse("postmortems:detail", args=[postmortem.incident_id]),
        reverse("postmortems:remediation_edit", args=[remediation.pk]),
    ]
    settings.OPSLOG_TRACKER_URL = ""
    for url in pages:
        assert HINT not in logged_in.get(url).content.decode(), url

    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    for url in pages:
        assert HINT in logged_in.get(url).content.decode(), url


def test_demo_alert_names_read_like_alert_names():
    names = {source: alert_name(source) for _, _, source in TROUBLES}

    assert names["p99 latency > 2 s"] == "P99Latency"
    assert names["cache-staleness check"] == "CacheStalenessCheck"
    assert names["api-5xx-rate"] == "Api5xxRate"
    for name in names.values():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name


def test_the_export_file_name_keeps_numbers_apart(logged_in):
    incident = IncidentFactory(title="Deploy 1/3 of checkout: 50% errors")
    PostMortemFactory(incident=incident)

    response = logged_in.get(reverse("postmortems:export", args=[incident.pk]))

    assert response["Content-Disposition"] == (
        f'attachment; filename="postmortem-{incident.pk}-deploy-1-3-of-checkout-50-errors.md"'
    )
