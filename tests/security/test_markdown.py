"""#14.1: Markdown that can't stall a worker — rendering linear in its input whatever its shape, the
HTML rendered once when the text is saved, and a length limit on every Markdown field.

Times are never compared with a fixed budget alone: each is a ratio against prose of the same
length measured in the same test (the fastest of a few runs), so a slow or busy machine slows both.
"""

import datetime as dt
import textwrap

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Alert
from alerts.services import alert_promote
from deploys.factories import ChangeRecordFactory, ServiceFactory
from incidents.factories import IncidentFactory, TimelineEntryFactory
from incidents.models import Incident
from plumbing.markdown import (
    CHANGE_DESCRIPTION_MAX_LENGTH,
    INCIDENT_SUMMARY_MAX_LENGTH,
    POSTMORTEM_SECTION_MAX_LENGTH,
    TIMELINE_NOTE_MAX_LENGTH,
    render_markdown,
)
from postmortems.factories import PostMortemFactory
from tests.support.adversarial_markdown import PATTERNS, best_times, plain_prose, write_up
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.django_db

LENGTH = 100_000
# Against a write-up of the same length (headings, lists, links, a table, code): the worst shapes
# make ~5 times its HTML (every "[*" an escaped "[" and an <em>), so twice that is a generous bound.
# Python-Markdown took 1.4 s on 4,000 "[" — 50 times such a write-up of 25 times the length.
RENDER_FACTOR = 10
# A page or an API list that shows stored HTML: within 3 times of the same page with plain prose.
PAGE_FACTOR = 3


@pytest.fixture
def tracker(settings):
    # Tracker links are the one step after the renderer that walks the HTML: keep it in the run.
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    settings.OPSLOG_TRACKER_PROJECTS = []


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_adversarial_markdown_renders_in_time_linear_in_its_length(tracker, pattern):
    """#14.1: 100,000 characters of any shape render in well under a second, within a few times a
    write-up of the same length (Python-Markdown: 13 s for 10,000 "[")."""
    text = PATTERNS[pattern](LENGTH)
    assert len(text) == LENGTH

    prose = write_up(LENGTH)
    baseline, took = best_times(lambda: render_markdown(prose), lambda: render_markdown(text))

    assert took <= RENDER_FACTOR * baseline or took < 0.05, f"{pattern!r}: {took:.3f} s vs {baseline:.3f} s"
    assert took < 1.0
    # And small enough that a page or an API list holding it costs about what prose costs.
    assert len(render_markdown(text)) <= 5 * LENGTH + 1000


def test_deep_nesting_is_shown_as_written_not_fed_to_the_sanitizer():
    """#14.1: nh3's parser is quadratic in nesting depth; 5,000 nested <div> come out as text."""
    html = render_markdown("<div>" * 5000)

    assert html.startswith("<pre>&lt;div&gt;")
    assert "<div>" not in html


def test_a_wide_table_over_one_character_rows_is_not_padded_into_megabytes():
    """#14.1: cmark-gfm pads short rows with empty cells; 1,000 columns over 48,000 rows would be 5 MB."""
    text = PATTERNS["wide table"](LENGTH)

    assert len(render_markdown(text)) < 5 * LENGTH


def test_write_ups_keep_tables_code_lists_links_and_tracker_keys(tracker):
    """#14.1: the linear renderer keeps what write-ups use."""
    html = render_markdown(
        textwrap.dedent(
            """\
            | step | time |
            |---|---|
            | detect | 3 min |

            ```
            kubectl rollout undo deploy/checkout
            ```

            1. rolled back
            2. ~~paged~~ OPS-12 [runbook](https://wiki.example.com/run) `OPS-13`
            """
        )
    )

    assert "<table>" in html and "<td>detect</td>" in html
    assert "<pre><code>kubectl rollout undo deploy/checkout\n</code></pre>" in html
    assert "<ol>" in html and "<del>paged</del>" in html
    assert '<a href="https://tracker.example.com/browse/OPS-12" rel="noopener noreferrer nofollow">OPS-12</a>' in html
    assert '<a href="https://wiki.example.com/run" rel="noopener noreferrer nofollow">runbook</a>' in html
    assert "<code>OPS-13</code>" in html


# --- Pages and lists read the stored HTML ---------------------------------------------------------


def _page_times(client, *urls: str) -> list[float]:
    def getter(url):
        def get():
            response = client.get(url)
            assert response.status_code == 200

        return get

    return best_times(*[getter(url) for url in urls])


@pytest.mark.parametrize("pattern", ["[", "[*", "![", "tracker keys", "wide table", "mix"])
def test_an_incident_page_with_an_adversarial_summary_costs_about_what_plain_prose_costs(logged_in, tracker, pattern):
    """#14.1: GET /incidents/<id>/ with 10,000 "[" took 13 s; now within 3x of plain prose."""
    plain = IncidentFactory(summary=plain_prose(LENGTH))
    adversarial = IncidentFactory(summary=PATTERNS[pattern](LENGTH))

    baseline, took = _page_times(logged_in, f"/incidents/{plain.pk}/", f"/incidents/{adversarial.pk}/")

    assert took <= PAGE_FACTOR * baseline, f"{pattern!r}: {took:.3f} s vs {baseline:.3f} s"


def test_the_incident_list_api_with_adversarial_summaries_costs_about_what_plain_prose_costs(api, tracker):
    """#14.1: GET /api/incidents/ rendered summary_html per incident (12.8 s); now it reads it."""
    plain, adversarial = ServiceFactory(slug="plain"), ServiceFactory(slug="adversarial")
    for _ in range(3):
        IncidentFactory(summary=plain_prose(LENGTH), services=[plain])
        IncidentFactory(summary=PATTERNS["[*"](LENGTH), services=[adversarial])

    baseline, took = _page_times(api, "/api/incidents/?service=plain", "/api/incidents/?service=adversarial")
    assert len(api.get("/api/incidents/?service=adversarial").json()["results"]) == 3

    assert took <= PAGE_FACTOR * baseline, f"{took:.3f} s vs {baseline:.3f} s"


def test_pages_and_the_api_show_the_stored_html_without_rendering_again(logged_in, api):
    """#14.1: the HTML is rendered when the text is saved, not on a read."""
    incident = IncidentFactory(summary="**bold**")
    assert incident.summary_html == "<p><strong>bold</strong></p>"
    Incident.objects.filter(pk=incident.pk).update(summary_html="<p>stored</p>")

    assert "<p>stored</p>" in logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert api.get(f"/api/incidents/{incident.pk}/").json()["summary_html"] == "<p>stored</p>"


def test_saving_renders_only_a_changed_text():
    """#14.1: every Markdown field's HTML is stored with it; saving other fields keeps it."""
    incident = IncidentFactory(summary="one")
    note = TimelineEntryFactory(incident=incident, text="*note*")
    record = ChangeRecordFactory(description="`SQL`")
    postmortem = PostMortemFactory(incident=incident, impact="**half** of checkouts")

    assert note.text_html == "<p><em>note</em></p>"
    assert record.description_html == "<p><code>SQL</code></p>"
    assert postmortem.impact_html == "<p><strong>half</strong> of checkouts</p>"

    # Marked, to see whether a save renders it again.
    Incident.objects.filter(pk=incident.pk).update(summary_html="<p>kept</p>")
    incident = Incident.objects.get(pk=incident.pk)
    incident.title = "Renamed"
    incident.save()
    incident.refresh_from_db()
    assert incident.summary_html == "<p>kept</p>"

    incident.summary = "two"
    incident.save(update_fields=["summary"])
    incident.refresh_from_db()
    assert incident.summary_html == "<p>two</p>"


def test_rerender_markdown_renders_every_stored_field_again(settings):
    """#14.1: after OPSLOG_TRACKER_URL changes, `rerender_markdown` links the keys already written."""
    settings.OPSLOG_TRACKER_URL = ""
    incident = IncidentFactory(summary="See OPS-7.")
    note = TimelineEntryFactory(incident=incident, text="OPS-8 rolled back")
    record = ChangeRecordFactory(description="OPS-9")
    postmortem = PostMortemFactory(incident=incident, surprised="OPS-10")
    assert "<a" not in incident.summary_html

    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    call_command("rerender_markdown", stdout=open("/dev/null", "w"))

    for row, field, key in [
        (incident, "summary_html", "OPS-7"),
        (note, "text_html", "OPS-8"),
        (record, "description_html", "OPS-9"),
        (postmortem, "surprised_html", "OPS-10"),
    ]:
        row.refresh_from_db()
        assert f'href="https://tracker.example.com/browse/{key}"' in getattr(row, field)


# --- Writes and the preview return quickly ----------------------------------------------------------


def test_filing_an_incident_with_an_adversarial_summary_returns_quickly(api, tracker):
    """#14.1: the write that stores (and renders) the summary costs about what plain prose costs."""
    limit = INCIDENT_SUMMARY_MAX_LENGTH

    def post(summary):
        def call():
            response = api.post(
                "/api/incidents/",
                {"title": "Checkout down", "started_at": "2024-07-01T10:00:00Z", "summary": summary},
                format="json",
            )
            assert response.status_code == 201, response.content

        return call

    baseline, took = best_times(post(write_up(limit)), post(PATTERNS["[*"](limit)))

    # A write is mostly fixed costs (a transaction, a timeline entry): the floor keeps a loaded machine
    # from failing it, and is still far below the seconds the quadratic renderer took.
    assert took <= PAGE_FACTOR * baseline or took < 0.25, f"{took:.3f} s vs {baseline:.3f} s"
    assert took < 1.0
    assert Incident.objects.filter(summary_html__startswith="<p>[<em>[").count() == 5


def test_the_preview_of_100000_adversarial_characters_returns_quickly(logged_in, tracker):
    """#14.1: POST /incidents/preview/ with 25,000 "[" held a gunicorn worker until it was killed."""

    def preview(text):
        def call():
            response = logged_in.post("/incidents/preview/", {"text": text})
            assert response.status_code == 200

        return call

    baseline, took = best_times(preview(write_up(LENGTH)), preview(PATTERNS["["](LENGTH)))

    assert took <= RENDER_FACTOR * baseline or took < 0.05, f"{took:.3f} s vs {baseline:.3f} s"
    assert took < 1.0


# --- A length limit on every Markdown field -------------------------------------------------------


def _too_long(limit: int) -> str:
    return "a" * (limit + 1)


def test_an_incident_summary_over_the_limit_is_a_400_naming_the_field_and_the_limit(api):
    """#14.1: a 1 MB summary was stored."""
    body = {"title": "x", "started_at": "2024-07-01T10:00:00Z", "summary": _too_long(INCIDENT_SUMMARY_MAX_LENGTH)}

    response = api.post("/api/incidents/", body, format="json")

    assert response.status_code == 400
    assert "20000" in response.json()["summary"][0]
    assert not Incident.objects.exists()

    incident = IncidentFactory()
    response = api.patch(f"/api/incidents/{incident.pk}/", {"summary": body["summary"]}, format="json")
    assert response.status_code == 400
    assert "20000" in response.json()["summary"][0]


def test_a_change_record_description_over_the_limit_is_a_400_naming_the_field_and_the_limit(api):
    """#14.1: a 5 MB change record description was stored."""
    ServiceFactory(slug="web")
    body = {
        "title": "Add an index",
        "owner": "sandrews",
        "service": "web",
        "description": _too_long(CHANGE_DESCRIPTION_MAX_LENGTH),
        "done_before": "Yes.",
        "failure_impact": "Writes lock.",
        "failure_response": "Cancel it.",
    }

    response = api.post("/api/changes/", body, format="json")

    assert response.status_code == 400
    assert "20000" in response.json()["description"][0]


def test_a_note_and_a_post_mortem_section_over_their_limits_are_400s_naming_them(api):
    """#14.1: timeline notes (10,000) and post-mortem sections (100,000) are bounded too."""
    incident = IncidentFactory()
    response = api.post(
        f"/api/incidents/{incident.pk}/timeline/", {"text": _too_long(TIMELINE_NOTE_MAX_LENGTH)}, format="json"
    )
    assert response.status_code == 400
    assert "10000" in response.json()["text"][0]

    postmortem = api.post("/api/postmortems/", {"incident": incident.pk}, format="json").json()
    response = api.patch(
        f"/api/postmortems/{postmortem['id']}/",
        {"version": postmortem["version"], "impact": _too_long(POSTMORTEM_SECTION_MAX_LENGTH)},
        format="json",
    )
    assert response.status_code == 400
    assert "100000" in response.json()["impact"][0]


def test_the_incident_form_shows_the_limit_and_an_error_over_it(logged_in):
    """#14.1: the form says the limit next to the field, and refuses more with a message."""
    page = logged_in.get("/incidents/new/").content.decode()
    assert "Markdown, at most 20,000 characters." in page
    assert 'maxlength="20000"' in page

    response = logged_in.post(
        "/incidents/new/",
        {
            "title": "Checkout returns 502",
            "severity": "2",
            "summary": _too_long(INCIDENT_SUMMARY_MAX_LENGTH),
            "started_at": "2024-07-01T10:00",
            "detected_by": "monitoring",
        },
    )

    assert response.status_code == 200
    assert "Ensure this value has at most 20000 characters" in response.content.decode()
    assert not Incident.objects.exists()


def test_a_promoted_alert_with_a_huge_description_is_filed_with_its_summary_cut():
    """#14.1: an Alertmanager description becomes the summary; cut to the limit, saying so."""
    ServiceFactory(slug="web")
    alert = Alert.objects.create(
        name="HighErrorRate",
        fingerprint="1a30ba71cca2921f",
        starts_at=timezone.now() - dt.timedelta(minutes=5),
        status=Alert.Status.FIRING,
        labels={"alertname": "HighErrorRate", "service": "web"},
        annotations={"summary": "Errors", "description": "[" * 1_000_000},
    )

    incident, created = alert_promote(alert=alert)

    assert created
    assert len(incident.summary) == INCIDENT_SUMMARY_MAX_LENGTH
    assert incident.summary.endswith("see the alert)")
    assert incident.summary_html.startswith("<p>[[[")


# --- Against a real server process ----------------------------------------------------------------

SETUP = """
from django.contrib.auth import get_user_model
from config.roles import RESPONDER, role_set
from incidents.factories import IncidentFactory
from tests.support.adversarial_markdown import PATTERNS, plain_prose
user = get_user_model().objects.create_user(username="alice", password="a-long-test-password")
role_set(user=user, role=RESPONDER)
print("ids", IncidentFactory(summary=plain_prose(100_000)).pk, IncidentFactory(summary=PATTERNS["[*"](100_000)).pk)
"""


def test_a_real_server_serves_an_adversarial_incident_page_about_as_fast_as_plain_prose(tmp_path):
    """#14.1: against gunicorn with DEBUG off, as the attack was made: the page with 100,000 "[*"
    costs within 3x of the page with plain prose (10,000 "[" took 13 s)."""
    with ServerProcess(tmp_path) as server:
        plain, adversarial = server.manage("shell", "-c", SETUP).split("ids ")[-1].split()
        server.start()
        session = server.logged_in_session("alice", "a-long-test-password")

        def page(pk):
            def get():
                response = session.get(f"{server.url}/incidents/{pk}/", timeout=60)
                assert response.status_code == 200
                assert "<main" in response.text

            return get

        baseline, took = best_times(page(plain), page(adversarial))

    assert took <= PAGE_FACTOR * baseline, f"{took:.3f} s vs {baseline:.3f} s"
