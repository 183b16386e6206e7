"""#15.10 and #15.16: open incidents by severity; a re-submitted or duplicate filing doesn't
silently make a twin."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident
from incidents.selectors import incident_list

pytestmark = pytest.mark.django_db


def test_open_incidents_come_most_severe_first_then_most_recent(logged_in):
    """#15.10: an ongoing SEV1 sits above newer SEV2/SEV3s; resolved ones follow, newest first."""
    now = timezone.now()
    old_sev1 = IncidentFactory(severity=1, started_at=now - dt.timedelta(hours=5))
    new_sev3 = IncidentFactory(severity=3, started_at=now - dt.timedelta(hours=1))
    new_sev2 = IncidentFactory(severity=2, started_at=now - dt.timedelta(hours=2))
    older_sev2 = IncidentFactory(severity=2, started_at=now - dt.timedelta(hours=4))
    resolved_sev1 = IncidentFactory(
        severity=1, started_at=now - dt.timedelta(hours=3), resolved_at=now - dt.timedelta(minutes=5)
    )
    resolved_sev4 = IncidentFactory(
        severity=4, started_at=now - dt.timedelta(minutes=50), resolved_at=now - dt.timedelta(minutes=5)
    )
    expected = [old_sev1, new_sev2, older_sev2, new_sev3, resolved_sev4, resolved_sev1]

    assert list(incident_list()) == expected
    html = logged_in.get("/incidents/").content.decode()
    shown = [int(pk) for pk in re.findall(r'<tr class="incident[^"]*"[^>]*>.*?href="/incidents/(\d+)/"', html, re.S)]
    assert shown == [i.pk for i in expected]


def _form(**overrides):
    data = {
        "title": "Checkout returns 502",
        "severity": "2",
        "services": ["checkout"],
        "started_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "detected_by": "monitoring",
        "filing_key": "5b0f7d5e-4c8e-4f8f-9d0c-2f3a1c1d2e3f",
    }
    data.update(overrides)
    return data


def test_the_form_carries_a_fresh_filing_key(logged_in):
    """#15.16: each rendering of the form has its own key."""
    keys = [
        re.search(r'name="filing_key" value="([0-9a-f-]{36})"', logged_in.get("/incidents/new/").content.decode())
        for _ in range(2)
    ]
    assert all(keys)
    assert keys[0].group(1) != keys[1].group(1)


def test_submitting_the_same_form_twice_files_one_incident(logged_in):
    """#15.16: Back + submit again leads to the incident already filed, not a twin."""
    ServiceFactory(slug="checkout")

    first = logged_in.post("/incidents/new/", _form())
    second = logged_in.post("/incidents/new/", _form(), follow=True)

    incident = Incident.objects.get()
    assert first["Location"] == f"/incidents/{incident.pk}/"
    assert second.redirect_chain[-1][0] == f"/incidents/{incident.pk}/"
    assert "already filed" in second.content.decode()


def test_a_matching_open_incident_is_offered_before_filing_another(logged_in):
    """#15.16: same service, started within the hour: warn, link to it, file only when asked."""
    checkout = ServiceFactory(slug="checkout")
    open_one = IncidentFactory(title="Payments failing", started_at=timezone.now() - dt.timedelta(minutes=40))
    open_one.services.set([checkout])

    warned = logged_in.post("/incidents/new/", _form())

    assert warned.status_code == 200
    html = warned.content.decode()
    assert f'href="/incidents/{open_one.pk}/"' in html
    assert "Payments failing" in html
    assert 'name="file_anyway"' in html
    assert Incident.objects.count() == 1

    filed = logged_in.post("/incidents/new/", _form(file_anyway="on"))

    assert filed.status_code == 302
    assert Incident.objects.count() == 2


def test_no_warning_for_other_services_older_or_resolved_incidents(logged_in):
    checkout = ServiceFactory(slug="checkout")
    search = ServiceFactory(slug="search")
    now = timezone.now()
    other = IncidentFactory(started_at=now - dt.timedelta(minutes=10))
    other.services.set([search])
    old = IncidentFactory(started_at=now - dt.timedelta(hours=2))
    old.services.set([checkout])
    done = IncidentFactory(started_at=now - dt.timedelta(minutes=10), resolved_at=now)
    done.services.set([checkout])

    response = logged_in.post("/incidents/new/", _form())

    assert response.status_code == 302
    assert Incident.objects.count() == 4


def test_the_same_title_without_services_is_offered_too(logged_in):
    """#15.16: a form sent again without services (Back, then submit, with a fresh key) still warns."""
    IncidentFactory(title="Checkout returns 502", started_at=timezone.now() - dt.timedelta(minutes=5))

    response = logged_in.post("/incidents/new/", _form(services=[], title="checkout returns 502 "))

    assert response.status_code == 200
    assert 'name="file_anyway"' in response.content.decode()
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("key", ["", "not-a-uuid", "x" * 5000, "\x00", "é" * 40])
def test_a_missing_or_malformed_filing_key_still_files_once(logged_in, key):
    response = logged_in.post("/incidents/new/", _form(services=[], filing_key=key))

    assert response.status_code == 302
    assert Incident.objects.get().filing_key is None
