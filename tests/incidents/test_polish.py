"""What a user walkthrough found: edit links viewers can't follow, raw Markdown in the timeline,
difflib's navigation links, wording."""

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command

from deploys.factories import DeployFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import IncidentDeploy
from postmortems import services
from postmortems.factories import RemediationFactory
from reports.selectors import Filters, monthly_report
from tests.support.xss import XSS, assert_no_live_script

pytestmark = pytest.mark.django_db

UTC = dt.UTC


# --- Remediations list ----------------------------------------------------------------------------


def test_a_viewer_gets_no_edit_links_on_the_remediation_list(client, viewer):
    remediation = RemediationFactory(description="Alert on checkout errors")
    client.force_login(viewer)

    html = client.get("/remediations/").content.decode()

    assert "Alert on checkout errors" in html
    assert "/edit/" not in html
    # The incident column still takes them to the remediation on its post-mortem.
    assert f'href="/incidents/{remediation.postmortem.incident_id}/postmortem/#remediation-{remediation.pk}"' in html


def test_a_responder_gets_edit_links_on_the_remediation_list(logged_in):
    remediation = RemediationFactory(description="Alert on checkout errors")

    html = logged_in.get("/remediations/").content.decode()

    assert f'<a href="/remediations/{remediation.pk}/edit/">Alert on checkout errors</a>' in html


# --- Timeline notes -------------------------------------------------------------------------------


def test_a_note_is_rendered_as_sanitized_markdown_on_the_incident_page(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text="Rolled back **web** to 41.\n\n<script>alert(1)</script>")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "Rolled back <strong>web</strong> to 41." in html
    assert "**web**" not in html
    assert "<script>alert" not in html


def test_a_note_renders_the_same_on_the_incident_page_and_in_the_postmortem_timeline(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text="Paged *the DBA*.")
    services.postmortem_start(incident=incident)

    incident_page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    postmortem_page = logged_in.get(f"/incidents/{incident.pk}/postmortem/").content.decode()

    assert "Paged <em>the DBA</em>." in incident_page
    assert "Paged <em>the DBA</em>." in postmortem_page


def test_no_xss_vector_in_a_note_runs_on_the_incident_page(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, text=XSS)

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert_no_live_script(html)


def test_entries_other_than_notes_stay_plain_text(logged_in):
    incident = IncidentFactory()
    TimelineEntryFactory(incident=incident, kind="edit", text="Title: **old** → new")

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert "Title: **old** → new" in html


# --- Post-mortem start page -----------------------------------------------------------------------


def test_a_viewer_is_told_there_is_no_postmortem_not_how_to_start_one(client, viewer):
    incident = IncidentFactory()
    client.force_login(viewer)

    html = client.get(f"/incidents/{incident.pk}/postmortem/").content.decode()

    assert "No post-mortem yet." in html
    assert "The draft starts with" not in html and "Start the post-mortem" not in html


def test_a_responder_is_shown_how_to_start_the_postmortem(logged_in):
    incident = IncidentFactory()

    html = logged_in.get(f"/incidents/{incident.pk}/postmortem/").content.decode()

    assert "The draft starts with the incident's timeline" in html
    assert ">Start the post-mortem</button>" in html


# --- History diffs --------------------------------------------------------------------------------


def test_the_compare_view_has_no_difflib_navigation_links(logged_in):
    postmortem, _ = services.postmortem_start(incident=IncidentFactory())
    postmortem = services.postmortem_save(
        postmortem=postmortem, changes={"summary": "One.\nTwo.\nThree.\nFour.\nFive.\nSix.\nSeven."}, base_version=1
    )
    services.postmortem_save(
        postmortem=postmortem, changes={"summary": "One.\nTWO.\nThree.\nFour.\nFive.\nSix.\nSEVEN."}, base_version=2
    )

    html = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/history/?a=2&b=3").content.decode()

    table = re.search(r'<table class="diff".*?</table>', html, re.S).group(0)
    assert "TWO." in table and "SEVEN." in table
    assert 'href="#difflib_chg' not in html
    assert "diff_next" not in table
    # Two cells a side, line number and text, in every row.
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert rows and all(row.count("<td") == 4 for row in rows[1:])


# --- Wording --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "said"), [("admin", "an admin"), ("responder", "a responder"), ("viewer", "a viewer")]
)
def test_set_role_says_the_role_with_the_right_article(django_user_model, role, said):
    django_user_model.objects.create_user(username="adam")
    out = io.StringIO()

    call_command("set_role", "adam", role, stdout=out)

    assert out.getvalue() == f"adam is now {said}.\n"


def test_the_severity_filter_leaves_change_failure_and_rework_as_how_we_count_says(logged_in):
    started = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    cause = DeployFactory(deployed_at=started - dt.timedelta(hours=1))
    fix = DeployFactory(deployed_at=started + dt.timedelta(hours=1), service=cause.service)
    DeployFactory(deployed_at=started + dt.timedelta(days=1), service=cause.service)
    incident = IncidentFactory(
        severity=3, started_at=started, detected_at=started, resolved_at=started + dt.timedelta(hours=2)
    )
    IncidentDeployFactory(incident=incident, deploy=cause, relation=IncidentDeploy.Relation.CAUSE)
    IncidentDeployFactory(incident=incident, deploy=fix, relation=IncidentDeploy.Relation.REMEDIATION)
    march = dict(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1))

    everything = monthly_report(**march).periods[0]
    sev1 = monthly_report(**march, filters=Filters(severities=(1,))).periods[0]
    html = logged_in.get("/reports/how-we-count/").content.decode()

    assert (everything.incidents, sev1.incidents) == (1, 0)
    assert everything.mttr_seconds.mean is not None and sev1.mttr_seconds.mean is None
    assert (sev1.deploys, sev1.change_failure_rate, sev1.rework_rate) == (3, 1 / 3, 1 / 3)
    assert (everything.change_failure_rate, everything.rework_rate) == (1 / 3, 1 / 3)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert (
        "does not change the change failure rate or the rework rate: the first counts a deploy that caused "
        "any incident, the second a deploy made to fix any incident, whatever that incident's severity"
    ) in text
