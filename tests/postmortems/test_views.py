"""The post-mortem pages: start, read, edit (live preview, blame hints, edit conflicts), status,
remediations on the page, history, export and print."""

import datetime as dt
import html as html_lib
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deploys.factories import ChangeRecordFactory, DeployFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from postmortems import blame, selectors, services
from postmortems.factories import RemediationFactory
from postmortems.models import PostMortem, PostMortemRevision, Remediation
from tests.support.roles import responder
from tests.support.xss import VECTORS, XSS, assert_no_live_script

pytestmark = pytest.mark.django_db

UTC = dt.UTC
TRACKER = "https://tracker.example.com/browse/{key}"


# --- Helpers --------------------------------------------------------------------------------


def _started(incident=None, *, by=None, **content) -> PostMortem:
    """A post-mortem started the way the page starts one (with its first revision), then saved
    with `content` if any."""
    postmortem, _ = services.postmortem_start(incident=incident or IncidentFactory(), by=by)
    if content:
        postmortem = services.postmortem_save(
            postmortem=postmortem, changes=content, base_version=postmortem.version, by=by
        )
    return postmortem


def _url(postmortem_or_incident, page: str = "") -> str:
    pk = getattr(postmortem_or_incident, "incident_id", None) or postmortem_or_incident.pk
    return f"/incidents/{pk}/postmortem/{page}"


def _editor_data(postmortem: PostMortem, **overrides) -> dict:
    """What the editor posts back when nothing is touched, plus `overrides`."""
    data = {name: getattr(postmortem, name) for name in PostMortem.SECTION_FIELDS}
    data.update(
        facilitator=postmortem.facilitator,
        meeting_date=postmortem.meeting_date.isoformat() if postmortem.meeting_date else "",
        no_action_reason=postmortem.no_action_reason,
        base_version=postmortem.version,
    )
    if postmortem.no_action_needed:
        data["no_action_needed"] = "on"
    data.update(overrides)
    return data


def _form_as_posted(form) -> dict:
    """What a browser posts for an unbound form as rendered (its initial values)."""
    data = {}
    for field in form:
        value = field.value()
        if field.name == "no_action_needed":
            if value:
                data[field.name] = "on"
            continue
        data[field.name] = "" if value is None else str(value)
    return data


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["", "edit/", "history/", "export.md", "print/"])
def test_every_postmortem_page_requires_login(client, page):
    postmortem = _started()

    response = client.get(_url(postmortem, page))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("page", ["start/", "status/", "edit/", "remediations/new/"])
def test_anonymous_posts_change_nothing(client, page):
    postmortem = _started()

    response = client.post(
        _url(postmortem, page),
        _editor_data(postmortem, summary="changed", status="published") | {"kind": "dev", "dev-description": "x"},
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    postmortem.refresh_from_db()
    assert postmortem.version == 1 and postmortem.summary != "changed"
    assert postmortem.status == PostMortem.Status.DRAFT
    assert not postmortem.remediations.exists()


def test_the_preview_requires_login(client):
    response = client.post("/incidents/preview/", {"text": "**hi**"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("page", ["start/", "status/", "remediations/new/"])
def test_state_changes_need_a_post(logged_in, page):
    postmortem = _started()

    assert logged_in.get(_url(postmortem, page)).status_code == 405


def test_the_preview_needs_a_post(logged_in):
    assert logged_in.get("/incidents/preview/?text=hi").status_code == 405


@pytest.mark.parametrize("page", ["start/", "status/", "edit/", "remediations/new/"])
def test_posts_without_the_csrf_token_are_refused(user, page):
    postmortem = _started()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(
        _url(postmortem, page),
        _editor_data(postmortem, summary="changed") | {"status": "in_review", "kind": "dev", "dev-description": "x"},
    )

    assert response.status_code == 403
    postmortem.refresh_from_db()
    assert postmortem.version == 1 and postmortem.status == PostMortem.Status.DRAFT
    assert not postmortem.remediations.exists()


def test_the_preview_without_the_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.post("/incidents/preview/", {"text": "**hi**"}).status_code == 403


def test_a_missing_incident_is_404(logged_in):
    for page in ["", "edit/", "history/", "export.md", "print/"]:
        assert logged_in.get(f"/incidents/999999/postmortem/{page}").status_code == 404, page
    assert logged_in.post("/incidents/999999/postmortem/start/").status_code == 404


# --- Starting -------------------------------------------------------------------------------


def test_without_a_postmortem_the_page_offers_to_start_one(logged_in):
    incident = IncidentFactory(title="Checkout down")

    response = logged_in.get(_url(incident))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'action="/incidents/{incident.pk}/postmortem/start/"' in html
    assert ">Start the post-mortem</button>" in html
    assert not PostMortem.objects.exists()


def test_starting_creates_a_draft_with_the_timeline_prefilled_and_opens_the_editor(logged_in, user):
    incident = IncidentFactory(summary="Card payments fail.", commander="dana")
    TimelineEntryFactory(incident=incident, text="Pager went off", at=timezone.now() - dt.timedelta(minutes=50))

    response = logged_in.post(_url(incident, "start/"))

    postmortem = PostMortem.objects.get(incident=incident)
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/postmortem/edit/"
    assert postmortem.status == PostMortem.Status.DRAFT
    assert "Pager went off" in postmortem.timeline_narrative
    assert postmortem.summary == "Card payments fail."
    assert postmortem.facilitator == "dana"
    assert postmortem.created_by == user
    assert postmortem.revisions.get().version == 1


def test_starting_twice_keeps_the_first_postmortem(logged_in):
    postmortem = _started(summary="Written already.")

    response = logged_in.post(_url(postmortem, "start/"))

    assert response["Location"] == f"/incidents/{postmortem.incident_id}/postmortem/"
    assert PostMortem.objects.get().summary == "Written already."


def test_the_incident_page_links_to_its_postmortem(logged_in):
    incident = IncidentFactory()

    html = logged_in.get(f"/incidents/{incident.pk}/").content.decode()

    assert f'href="/incidents/{incident.pk}/postmortem/">Post-mortem</a>' in html


def test_the_editor_without_a_postmortem_leads_to_the_start_button(logged_in):
    incident = IncidentFactory()

    response = logged_in.get(_url(incident, "edit/"))

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/postmortem/"


# --- The page -------------------------------------------------------------------------------


def test_the_page_shows_each_section_rendered_with_status_and_facilitator(logged_in):
    postmortem = _started(
        summary="Checkout **failed** for card payments.",
        went_poorly="- The alert fired late",
        facilitator="Priya Raman",
        meeting_date=dt.date(2024, 7, 3),
    )

    response = logged_in.get(_url(postmortem))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>failed</strong>" in html
    assert "<li>The alert fired late</li>" in html
    for _, heading, _ in PostMortem.SECTIONS:
        assert f">{html_lib.escape(heading)}</h2>" in html
    assert '<span class="pm-status draft">Draft</span>' in html
    assert "Priya Raman" in html
    assert "Wednesday 3 July 2024" in html
    assert "Not written yet." in html  # the empty sections say so


def test_the_page_shows_dev_and_ops_remediations_in_their_own_columns(logged_in, django_user_model):
    postmortem = _started()
    alice = responder(django_user_model.objects.create_user(username="alice", first_name="Alice", last_name="Ng"))
    RemediationFactory(postmortem=postmortem, kind="dev", description="Retry card auth", owner=alice, owner_name="")
    RemediationFactory(postmortem=postmortem, kind="ops", description="Page on checkout 5xx", owner_name="ops rota")

    html = logged_in.get(_url(postmortem)).content.decode()

    dev = html[html.index('id="remediations-dev"') : html.index('id="remediations-ops"')]
    ops = html[html.index('id="remediations-ops"') :]
    assert "Retry card auth" in dev and "Alice Ng" in dev and "Page on checkout 5xx" not in dev
    assert "Page on checkout 5xx" in ops and "ops rota" in ops and "Retry card auth" not in ops


def test_tracker_keys_and_urls_in_remediations_become_links(logged_in, settings):
    settings.OPSLOG_TRACKER_URL = TRACKER
    postmortem = _started(contributing_factors="See OPS-7.")
    RemediationFactory(postmortem=postmortem, description="Follow OPS-12 up", tracker_ref="OPS-13")
    RemediationFactory(postmortem=postmortem, kind="ops", tracker_ref="https://github.com/acme/ops/issues/4")

    html = logged_in.get(_url(postmortem)).content.decode()

    for key in ("OPS-7", "OPS-12", "OPS-13"):
        assert (
            f'<a href="https://tracker.example.com/browse/{key}" rel="noopener noreferrer nofollow">{key}</a>' in html
        )
    assert '<a href="https://github.com/acme/ops/issues/4" rel="noopener noreferrer nofollow">' in html


def test_without_a_tracker_url_keys_stay_text(logged_in, settings):
    settings.OPSLOG_TRACKER_URL = ""
    postmortem = _started()
    RemediationFactory(postmortem=postmortem, tracker_ref="OPS-13")

    html = logged_in.get(_url(postmortem)).content.decode()

    assert '<span class="tracker">OPS-13</span>' in html


def test_overdue_remediations_are_marked(logged_in):
    postmortem = _started()
    late = RemediationFactory(postmortem=postmortem, due_date=timezone.localdate() - dt.timedelta(days=1))
    RemediationFactory(postmortem=postmortem, due_date=timezone.localdate() + dt.timedelta(days=1))
    RemediationFactory(postmortem=postmortem, due_date=timezone.localdate() - dt.timedelta(days=9), status="done")

    html = logged_in.get(_url(postmortem)).content.decode()

    assert html.count("overdue-badge") == 1
    assert f'class="remediation status-open overdue" id="remediation-{late.pk}"' in html
    summary = re.search(r"<dt>Remediations</dt><dd>(.*?)</dd>", html).group(1)
    assert re.sub(r"<[^>]+>", "", summary) == "2 open (1 overdue), 1 done"


def test_change_records_of_the_causing_deploys_are_shown_next_to_what_went_poorly(logged_in):
    postmortem = _started(went_poorly="The migration locked the table.")
    record = ChangeRecordFactory(
        title="Add an index to orders",
        done_before="Never on a table this size.",
        failure_impact="Checkout stalls.",
        failure_response="Kill the migration.",
    )
    unrelated = ChangeRecordFactory(title="Resize the search cluster")
    IncidentDeployFactory(incident=postmortem.incident, deploy=DeployFactory(change_record=record))
    IncidentDeployFactory(
        incident=postmortem.incident, deploy=DeployFactory(change_record=unrelated), relation="remediation"
    )

    html = logged_in.get(_url(postmortem)).content.decode()

    poorly = html[html.index('id="section-went_poorly"') : html.index('id="section-got_lucky"')]
    assert "The migration locked the table." in poorly
    assert f'href="/deploys/changes/{record.pk}/">CR-{record.pk} Add an index to orders</a>' in poorly
    for question, answer in [
        ("Have you done this before?", "Never on a table this size."),
        ("What will happen when it goes wrong?", "Checkout stalls."),
        ("What will you do when it does go wrong?", "Kill the migration."),
    ]:
        assert f"<dt>{question}</dt><dd>{answer}</dd>" in poorly
    assert "Resize the search cluster" not in html


def test_the_page_query_count_does_not_grow_with_remediations_or_change_records(logged_in, django_user_model):
    postmortem = _started()
    RemediationFactory(postmortem=postmortem)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(_url(postmortem)).status_code == 200
        return len(queries)

    few = count()
    for n in range(6):
        owner = responder(django_user_model.objects.create_user(username=f"owner{n}"))
        RemediationFactory(postmortem=postmortem, kind="ops" if n % 2 else "dev", owner=owner, owner_name="")
        IncidentDeployFactory(incident=postmortem.incident, deploy=DeployFactory(change_record=ChangeRecordFactory()))

    assert count() == few


# --- Status ---------------------------------------------------------------------------------


def _set_status(client, postmortem, status, base_version=None):
    # "Publish anyway" ticked: these post-mortems have empty sections (tests/postmortems/test_publish_checklist.py).
    return client.post(
        _url(postmortem, "status/"),
        {"status": status, "base_version": base_version or postmortem.version, "publish_anyway": "on"},
        follow=True,
    )


def test_a_draft_offers_review_and_publish(logged_in):
    postmortem = _started()

    html = logged_in.get(_url(postmortem)).content.decode()

    assert ">Submit for review</button>" in html and ">Publish</button>" in html
    assert ">Back to draft</button>" not in html


def test_publishing_without_remediation_is_refused_with_the_reason(logged_in):
    postmortem = _started()

    response = _set_status(logged_in, postmortem, "published")

    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.DRAFT
    assert any("at least one remediation" in message for message in _messages(response))


def test_review_then_publish_with_a_remediation_then_back_to_draft(logged_in, user):
    postmortem = _started()
    RemediationFactory(postmortem=postmortem)

    _set_status(logged_in, postmortem, "in_review")
    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.IN_REVIEW
    response = _set_status(logged_in, postmortem, "published")
    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.PUBLISHED
    assert postmortem.published_at is not None and postmortem.updated_by == user
    assert "The post-mortem is now published." in _messages(response)
    html = response.content.decode()
    assert ">Back to draft</button>" in html and ">Publish</button>" not in html
    _set_status(logged_in, postmortem, "draft")
    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.DRAFT
    assert list(postmortem.revisions.values_list("content__status", flat=True)) == [
        "draft",
        "published",
        "in_review",
        "draft",
    ]


def test_no_action_needed_with_a_reason_publishes_without_remediations(logged_in):
    postmortem = _started(
        no_action_needed=True, no_action_reason="A one-off upstream outage; nothing of ours to change."
    )

    _set_status(logged_in, postmortem, "published")

    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.PUBLISHED


def test_a_status_change_on_a_stale_page_is_refused_with_who_saved(logged_in, django_user_model):
    priya = responder(django_user_model.objects.create_user(username="priya"))
    postmortem = _started()
    RemediationFactory(postmortem=postmortem)
    stale = postmortem.version
    services.postmortem_save(postmortem=postmortem, changes={"impact": "Worse."}, base_version=stale, by=priya)

    response = _set_status(logged_in, postmortem, "published", base_version=stale)

    postmortem.refresh_from_db()
    assert postmortem.status == PostMortem.Status.DRAFT
    assert any(message.startswith("priya saved version 2 at ") for message in _messages(response))


def test_an_unknown_status_is_a_message_not_a_500(logged_in):
    postmortem = _started()

    response = logged_in.post(_url(postmortem, "status/"), {"status": "shipped", "base_version": "x"}, follow=True)

    assert response.status_code == 200
    assert _messages(response) == ["Choose draft, in review or published."]


# --- The editor -----------------------------------------------------------------------------


def test_the_editor_has_every_section_and_the_base_version(logged_in):
    postmortem = _started(summary="Checkout failed.", facilitator="Priya", meeting_date=dt.date(2024, 7, 3))

    response = logged_in.get(_url(postmortem, "edit/"))

    html = response.content.decode()
    assert response.status_code == 200
    for name in PostMortem.SECTION_FIELDS:
        assert f'<textarea name="{name}"' in html
    assert '<input type="hidden" name="base_version" value="2"' in html
    assert 'name="facilitator" value="Priya"' in html
    assert 'type="date" name="meeting_date" value="2024-07-03"' in html
    assert 'type="checkbox" name="no_action_needed"' in html
    assert '<textarea name="no_action_reason"' in html
    assert 'data-preview-url="/incidents/preview/"' in html
    # The preview starts with the saved text, rendered.
    assert '<div class="markdown" data-preview-for="id_summary"><p>Checkout failed.</p></div>' in html


def test_the_editor_gets_the_blame_phrases_from_their_one_place_and_runs_no_inline_script(logged_in):
    postmortem = _started()

    html = logged_in.get(_url(postmortem, "edit/")).content.decode()

    match = re.search(r'<script id="blame-patterns" type="application/json">(.*?)</script>', html, re.S)
    assert json.loads(match.group(1)) == blame.patterns_for_browser()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == [
        '<script src="/static/opslog/layout.js" defer>',  # every page's: marks tables that scroll sideways
        '<script id="blame-patterns" type="application/json">',
        '<script src="/static/opslog/postmortem.js" defer>',
    ]
    assert re.search(r"<script src=[^>]*></script>", html)
    assert not re.search(r"\son[a-z]+=", re.sub(r"<textarea.*?</textarea>", "", html, flags=re.S))


def test_the_editor_script_holds_no_copy_of_the_phrases(client):
    script = b"".join(client.get("/static/opslog/postmortem.js").streaming_content).decode()

    assert "blame-patterns" in script
    for pattern, message in blame.PHRASES:
        assert pattern not in script and message not in script
    assert "should have" not in script.lower()
    assert "http://" not in script and "https://" not in script  # nothing from a CDN


@pytest.mark.parametrize(
    "text", ["Bob should've checked the config.", "Bob shouldn’t have merged it.", "Bob didn’t check the config."]
)
def test_blame_in_contractions_and_typographic_apostrophes_gets_a_hint(text):
    assert blame.find_blame(text)


def test_saving_records_a_revision_and_shows_the_page(logged_in, user):
    postmortem = _started()

    response = logged_in.post(
        _url(postmortem, "edit/"),
        _editor_data(
            postmortem,
            summary="Checkout failed.\r\n\r\nFor 40 minutes.",
            facilitator="Priya",
            meeting_date="2024-07-03",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{postmortem.incident_id}/postmortem/"
    postmortem.refresh_from_db()
    assert postmortem.version == 2
    assert postmortem.summary == "Checkout failed.\n\nFor 40 minutes."
    assert postmortem.facilitator == "Priya"
    assert postmortem.meeting_date == dt.date(2024, 7, 3)
    assert postmortem.updated_by == user
    revision = postmortem.revisions.get(version=2)
    assert revision.saved_by == user
    assert revision.content["summary"] == "Checkout failed.\n\nFor 40 minutes."


def test_saving_without_a_change_adds_no_revision(logged_in):
    postmortem = _started()

    response = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem), follow=True)

    postmortem.refresh_from_db()
    assert postmortem.version == 1 and postmortem.revisions.count() == 1
    assert "Nothing had changed." in _messages(response)


def test_blame_language_never_blocks_saving(logged_in):
    postmortem = _started()

    logged_in.post(
        _url(postmortem, "edit/"), _editor_data(postmortem, went_poorly="Bob should have checked the config.")
    )

    postmortem.refresh_from_db()
    assert postmortem.went_poorly == "Bob should have checked the config."


def test_no_action_needed_without_a_reason_is_an_error_next_to_the_reason(logged_in):
    postmortem = _started()

    response = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, no_action_needed="on"))

    assert response.status_code == 200
    assert "Say why no action is needed." in _field_errors(response.content.decode(), "no_action_reason")
    postmortem.refresh_from_db()
    assert postmortem.version == 1 and not postmortem.no_action_needed


def test_a_published_postmortem_that_would_become_unpublishable_shows_the_error_not_a_500(logged_in):
    postmortem = _started(no_action_needed=True, no_action_reason="Upstream outage.")
    postmortem = services.postmortem_set_status(postmortem=postmortem, status="published")

    data = _editor_data(postmortem, summary="Edited after publishing.")
    del data["no_action_needed"]
    response = logged_in.post(_url(postmortem, "edit/"), data)

    assert response.status_code == 200
    assert "at least one remediation" in _text(response.content.decode())
    postmortem.refresh_from_db()
    assert postmortem.summary != "Edited after publishing." and postmortem.no_action_needed


def test_a_missing_or_bad_base_version_is_an_error_not_a_500(logged_in):
    postmortem = _started()

    missing = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, base_version=""))
    bad = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, base_version="abc"))

    assert missing.status_code == 200 and bad.status_code == 200
    assert "This field is required." in _text(missing.content.decode())
    assert "Enter a whole number." in _text(bad.content.decode())
    postmortem.refresh_from_db()
    assert postmortem.version == 1


def test_a_bad_meeting_date_is_an_error_next_to_it(logged_in):
    postmortem = _started()

    response = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, meeting_date="3rd of July"))

    assert "Enter a valid date." in _field_errors(response.content.decode(), "meeting_date")


# --- Two people editing at once -------------------------------------------------------------


@pytest.fixture
def priya(django_user_model):
    user = responder(django_user_model.objects.create_user(username="priya"))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_the_later_of_two_saves_is_refused_with_the_diff_then_saves_after_merging(logged_in, priya):
    postmortem = _started(summary="Checkout failed.")
    opened_at = postmortem.version
    # Both open the editor on the same version.
    for client in (priya, logged_in):
        form = client.get(_url(postmortem, "edit/")).context["form"]
        assert form["base_version"].value() == opened_at

    first = priya.post(
        _url(postmortem, "edit/"), _editor_data(postmortem, summary="Checkout failed for card payments.")
    )
    second = logged_in.post(
        _url(postmortem, "edit/"),
        _editor_data(postmortem, summary="Checkout failed for everyone.", impact="1,200 customers could not pay."),
    )

    assert first.status_code == 302
    assert second.status_code == 409
    html = second.content.decode()
    text = _text(html)
    saved = PostMortem.objects.get()
    # Nothing of the second person's was saved.
    assert saved.version == opened_at + 1
    assert saved.summary == "Checkout failed for card payments."
    assert saved.impact == ""
    assert saved.revisions.count() == opened_at + 1
    # Who saved and when, and what to do.
    when = timezone.localtime(saved.updated_at).strftime("%Y-%m-%d %H:%M %Z")
    assert f"priya saved version {opened_at + 1} at {when} after you opened the editor." in text
    assert "Nothing of yours has been saved yet." in text
    assert "You both changed Summary" in text
    # The diff: the current text against the current text with their changes.
    diff = html[html.index('id="conflict-diff-heading"') : html.index('class="incident-form postmortem-editor"')]
    assert 'class="diff"' in diff
    diff_text = re.sub(r"<[^>]+>", "", html_lib.unescape(diff)).replace("\xa0", " ")
    assert "Checkout failed for card payments." in diff_text
    assert "Checkout failed for everyone." in diff_text
    assert "1,200 customers could not pay." in diff_text
    # Their text is shown under the section both changed; the box keeps this person's text.
    form = second.context["form"]
    assert form["base_version"].value() == opened_at + 1
    assert form["summary"].value() == "Checkout failed for everyone."
    assert form["impact"].value() == "1,200 customers could not pay."
    summary_box = html[html.index('id="edit-summary"') : html.index('id="edit-impact"')]
    assert "Their text, in the current version" in summary_box
    assert "Checkout failed for card payments." in summary_box

    # After merging by hand, saving again with the new base version works.
    merged = _form_as_posted(form) | {"summary": "Checkout failed for card payments, for everyone."}
    third = logged_in.post(_url(postmortem, "edit/"), merged)

    assert third.status_code == 302
    saved.refresh_from_db()
    assert saved.version == opened_at + 2
    assert saved.summary == "Checkout failed for card payments, for everyone."
    assert saved.impact == "1,200 customers could not pay."


def test_after_a_conflict_saving_again_keeps_what_only_the_other_person_changed(logged_in, priya):
    postmortem = _started(summary="Checkout failed.", impact="Some customers.")
    priya.post(_url(postmortem, "edit/"), _editor_data(postmortem, summary="Checkout failed for card payments."))

    second = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, impact="1,200 customers."))

    assert second.status_code == 409
    form = second.context["form"]
    assert form["summary"].value() == "Checkout failed for card payments."  # theirs, untouched here
    assert form["impact"].value() == "1,200 customers."  # mine
    assert "Their text, in the current version" not in second.content.decode()
    diff_headings = [diff.heading for diff in second.context["conflict"].diffs]
    assert diff_headings == ["Impact"]

    logged_in.post(_url(postmortem, "edit/"), _form_as_posted(form))

    saved = PostMortem.objects.get()
    assert saved.summary == "Checkout failed for card payments."
    assert saved.impact == "1,200 customers."


def test_a_status_change_during_an_edit_is_a_conflict_too(logged_in, priya):
    postmortem = _started()
    RemediationFactory(postmortem=postmortem)
    _set_status(priya, postmortem, "in_review")

    response = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, impact="More."))

    assert response.status_code == 409
    assert "priya saved version 2" in _text(response.content.decode())
    assert PostMortem.objects.get().impact == ""


def test_a_conflict_on_a_version_without_its_revision_keeps_every_change_to_merge(logged_in, priya):
    postmortem = _started(summary="One.")
    PostMortemRevision.objects.filter(postmortem=postmortem, version=postmortem.version).delete()
    priya.post(_url(postmortem, "edit/"), _editor_data(postmortem, summary="Two."))

    response = logged_in.post(_url(postmortem, "edit/"), _editor_data(postmortem, summary="Three."))

    assert response.status_code == 409
    assert response.context["form"]["summary"].value() == "Three."
    assert "Summary" in [diff.heading for diff in response.context["conflict"].diffs]


# --- Live preview ---------------------------------------------------------------------------


def test_the_preview_renders_markdown_with_tracker_links(logged_in, settings):
    settings.OPSLOG_TRACKER_URL = TRACKER

    response = logged_in.post("/incidents/preview/", {"text": "**Impact:** see OPS-9\n\n- one"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert "<strong>Impact:</strong>" in html and "<li>one</li>" in html
    assert 'href="https://tracker.example.com/browse/OPS-9"' in html


@pytest.mark.parametrize("vector", VECTORS)
def test_the_preview_never_returns_live_script(logged_in, vector):
    html = logged_in.post("/incidents/preview/", {"text": vector}).content.decode()

    assert_no_live_script(html)
    assert not re.search(r"<script|javascript:|\son\w+\s*=", html, re.I)


def test_a_preview_too_long_is_a_400_not_a_500(logged_in):
    response = logged_in.post("/incidents/preview/", {"text": "x" * 100_001})

    assert response.status_code == 400


# --- Remediations on the page ---------------------------------------------------------------


def test_adding_a_dev_remediation_for_a_user(logged_in, django_user_model):
    postmortem = _started()
    alice = responder(django_user_model.objects.create_user(username="alice"))

    response = logged_in.post(
        _url(postmortem, "remediations/new/"),
        {
            "kind": "dev",
            "dev-description": "Retry card authorisation once",
            "dev-owner": alice.pk,
            "dev-due_date": "2030-01-31",
            "dev-tracker_ref": "DEV-4",
        },
    )

    remediation = Remediation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{postmortem.incident_id}/postmortem/#remediation-{remediation.pk}"
    assert remediation.kind == "dev" and remediation.owner == alice and remediation.owner_name == ""
    assert remediation.due_date == dt.date(2030, 1, 31)
    assert remediation.tracker_ref == "DEV-4" and remediation.status == "open"


def test_adding_an_ops_remediation_for_a_name(logged_in):
    postmortem = _started()

    logged_in.post(
        _url(postmortem, "remediations/new/"),
        {"kind": "ops", "ops-description": "Alert on checkout 5xx", "ops-owner_name": "ops rota"},
    )

    remediation = Remediation.objects.get()
    assert remediation.kind == "ops" and remediation.owner is None and remediation.owner_name == "ops rota"


def test_a_remediation_without_a_description_is_an_error_next_to_it_in_its_column(logged_in):
    postmortem = _started()

    response = logged_in.post(
        _url(postmortem, "remediations/new/"), {"kind": "ops", "ops-description": "", "ops-owner_name": "rota"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "This field is required." in _field_errors(html, "ops-description")
    ops = html[html.index('id="remediations-ops"') :]
    assert '<details class="remediation-add" open>' in ops
    assert 'value="rota"' in ops  # what was typed is kept
    assert not Remediation.objects.exists()


def test_a_user_and_a_name_as_owner_is_an_error(logged_in, user):
    postmortem = _started()

    response = logged_in.post(
        _url(postmortem, "remediations/new/"),
        {"kind": "dev", "dev-description": "x", "dev-owner": user.pk, "dev-owner_name": "sam"},
    )

    assert "Choose a user or type a name, not both." in _field_errors(response.content.decode(), "dev-owner_name")
    assert not Remediation.objects.exists()


def test_an_unknown_kind_is_a_message_not_a_500(logged_in):
    postmortem = _started()

    response = logged_in.post(_url(postmortem, "remediations/new/"), {"kind": "qa", "qa-description": "x"}, follow=True)

    assert response.status_code == 200
    assert _messages(response) == ["A remediation is for dev or for ops."]
    assert not Remediation.objects.exists()


def test_wont_do_needs_a_reason_shown_next_to_it(logged_in):
    remediation = RemediationFactory(postmortem=_started())

    response = logged_in.post(
        f"/remediations/{remediation.pk}/edit/",
        {"description": remediation.description, "kind": "dev", "status": "wont_do", "wont_do_reason": ""},
    )

    assert response.status_code == 200
    assert "Say why it won't be done." in _field_errors(response.content.decode(), "wont_do_reason")
    remediation.refresh_from_db()
    assert remediation.status == "open"


def test_editing_a_remediation_to_wont_do_with_a_reason(logged_in):
    remediation = RemediationFactory(postmortem=_started())

    response = logged_in.post(
        f"/remediations/{remediation.pk}/edit/",
        {
            "description": "Rewrite the queue",
            "kind": "ops",
            "status": "wont_do",
            "wont_do_reason": "The queue is being retired.",
            "owner_name": "sam",
        },
    )

    assert response.status_code == 302
    remediation.refresh_from_db()
    assert remediation.status == "wont_do" and remediation.wont_do_reason == "The queue is being retired."
    assert remediation.kind == "ops" and remediation.description == "Rewrite the queue"


def test_marking_a_remediation_done_stamps_when(logged_in):
    remediation = RemediationFactory(postmortem=_started())

    logged_in.post(
        f"/remediations/{remediation.pk}/edit/",
        {"description": remediation.description, "kind": "dev", "status": "done", "owner_name": "sam"},
    )

    remediation.refresh_from_db()
    assert remediation.status == "done" and remediation.completed_at is not None


def test_the_edit_form_is_prefilled(logged_in, user):
    remediation = RemediationFactory(
        postmortem=_started(), owner=user, owner_name="", tracker_ref="OPS-1", due_date=dt.date(2030, 5, 1)
    )

    html = logged_in.get(f"/remediations/{remediation.pk}/edit/").content.decode()

    assert f'<option value="{user.pk}" selected>' in html
    assert 'value="2030-05-01"' in html and 'value="OPS-1"' in html
    assert f'action="/remediations/{remediation.pk}/delete/"' in html


def test_deleting_a_remediation(logged_in):
    remediation = RemediationFactory(postmortem=_started())

    response = logged_in.post(f"/remediations/{remediation.pk}/delete/")

    assert response.status_code == 302
    assert not Remediation.objects.exists()


def test_deleting_needs_a_post_and_a_login(logged_in, client):
    remediation = RemediationFactory(postmortem=_started())

    assert logged_in.get(f"/remediations/{remediation.pk}/delete/").status_code == 405
    logged_in.logout()
    assert client.post(f"/remediations/{remediation.pk}/delete/").status_code == 302
    assert Remediation.objects.exists()


# --- History --------------------------------------------------------------------------------


def test_the_history_lists_every_version_and_diffs_the_latest_save_by_default(logged_in, user, priya):
    postmortem = _started(by=user)
    postmortem = services.postmortem_save(
        postmortem=postmortem, changes={"summary": "First words."}, base_version=1, by=user
    )
    services.postmortem_save(postmortem=postmortem, changes={"summary": "Better words."}, base_version=2, by=priya.user)

    response = logged_in.get(_url(postmortem, "history/"))

    html = response.content.decode()
    assert response.status_code == 200
    assert [r.version for r in response.context["revisions"]] == [3, 2, 1]
    assert "v3" in html and "priya" in html and "ekastner" in html
    assert response.context["pair"][0].version == 2 and response.context["pair"][1].version == 3
    changed = [diff.heading for diff in response.context["diffs"] if diff.changed]
    assert changed == ["Summary"]
    assert "First" in html and "Better" in html


def test_remediation_changes_sit_between_the_versions_in_time_order(logged_in, user, django_user_model):
    postmortem = _started(by=user)
    owner = django_user_model.objects.create_user(username="sam")
    item = services.remediation_create(
        postmortem=postmortem,
        data={"description": "Alert on <502s>", "kind": "ops", "owner": owner, "due_date": dt.date(2030, 5, 1)},
        by=user,
    )
    postmortem = services.postmortem_save(postmortem=postmortem, changes={"summary": "Words."}, base_version=1, by=user)
    services.remediation_update(
        remediation=item,
        changes={"status": Remediation.Status.WONT_DO, "wont_do_reason": "Replaced", "due_date": None},
        by=user,
    )
    services.remediation_update(remediation=item, changes={"description": "Alert on <502s>"}, by=user)  # no change

    response = logged_in.get(_url(postmortem, "history/"))

    rows = [
        (e.revision.version if e.revision else e.change.get_kind_display(), e.details)
        for e in response.context["history"]
    ]
    assert rows == [
        (
            "Remediation status changed",
            ("Due: 2030-05-01 → —", "Status: Open → Won't do", "Reason it won't be done edited"),
        ),
        (2, ()),
        ("Remediation added", ()),
        (1, ()),
    ]
    html = response.content.decode()
    assert "Remediation added: Alert on &lt;502s&gt;" in html and "<502s>" not in html
    change = response.context["history"][0].change
    assert change.changes["status"] == {"old": "open", "new": "wont_do"} and change.by == user


def test_any_two_versions_can_be_compared(logged_in):
    postmortem = _started(summary="v2 text")
    postmortem = services.postmortem_save(postmortem=postmortem, changes={"impact": "v3 impact"}, base_version=2)

    response = logged_in.get(_url(postmortem, "history/?a=1&b=3"))

    changed = [diff.heading for diff in response.context["diffs"] if diff.changed]
    assert changed == ["Summary", "Impact"]


def test_comparing_a_version_with_itself_says_there_is_no_difference(logged_in):
    postmortem = _started(summary="v2 text")

    html = logged_in.get(_url(postmortem, "history/?a=2&b=2")).content.decode()

    assert "No differences between these versions." in html


@pytest.mark.parametrize("query", ["a=1&b=99", "a=x&b=1", "a=&b=", "a=1"])
def test_an_unknown_version_is_an_error_not_a_500(logged_in, query):
    postmortem = _started(summary="v2 text")

    response = logged_in.get(_url(postmortem, f"history/?{query}"))

    assert response.status_code == 200
    assert 'class="errors"' in response.content.decode()
    assert response.context["diffs"] is None


def test_with_one_version_there_is_nothing_to_compare(logged_in):
    postmortem = _started()

    html = logged_in.get(_url(postmortem, "history/")).content.decode()

    assert "Only one version so far" in html


# --- Export and print -----------------------------------------------------------------------


def test_the_markdown_export_is_a_download_of_the_whole_postmortem(logged_in):
    incident = IncidentFactory(title="Checkout returns 502")
    postmortem = _started(incident, summary="Card payments **failed**.", went_poorly="The alert fired late.")
    RemediationFactory(postmortem=postmortem, description="Alert sooner", kind="ops", owner_name="ops rota")

    response = logged_in.get(_url(postmortem, "export.md"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="postmortem-{incident.pk}-checkout-returns-502.md"'
    )
    body = response.content.decode()
    assert body == selectors.postmortem_markdown(PostMortem.objects.get())
    assert body.startswith("# Post-mortem: Checkout returns 502\n")
    assert "## Summary\n\nCard payments **failed**." in body
    assert "## What went poorly\n\nThe alert fired late." in body
    assert "| Ops | Alert sooner | ops rota |" in body


def test_an_export_filename_never_carries_the_title_raw(logged_in):
    postmortem = _started(IncidentFactory(title='"; rm -rf / ; <x>'))

    response = logged_in.get(_url(postmortem, "export.md"))

    assert response["Content-Disposition"] == f'attachment; filename="postmortem-{postmortem.incident_id}-rm-rf-x.md"'


def test_the_printable_page_has_no_navigation_and_print_styles(logged_in):
    postmortem = _started(summary="Card payments **failed**.")
    RemediationFactory(postmortem=postmortem, description="Alert sooner")

    response = logged_in.get(_url(postmortem, "print/"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="topbar"' not in html and "<nav" not in html
    assert "<form" not in html
    assert "<strong>failed</strong>" in html and "Alert sooner" in html
    assert "/remediations/" not in html  # no edit links
    assert '<link rel="stylesheet" href="/static/opslog/opslog.css">' in html
    css = b"".join(logged_in.get("/static/opslog/opslog.css").streaming_content).decode()
    assert "@media print" in css


# --- Markdown XSS never reaches these pages -------------------------------------------------


def test_no_vector_reaches_any_postmortem_page(logged_in, settings):
    settings.OPSLOG_TRACKER_URL = TRACKER
    incident = IncidentFactory(title="<script>alert(1)</script>", summary=XSS, commander="<img src=x onerror=alert(1)>")
    postmortem = _started(incident, facilitator="<svg onload=alert(1)>")
    postmortem = services.postmortem_save(
        postmortem=postmortem,
        changes=dict.fromkeys(PostMortem.SECTION_FIELDS, XSS) | {"no_action_reason": XSS},
        base_version=postmortem.version,
    )
    for kind in ("dev", "ops"):
        RemediationFactory(
            postmortem=postmortem,
            kind=kind,
            description=XSS,
            owner_name="<b onmouseover=alert(1)>x",
            tracker_ref="javascript:alert(1)",
        )
    RemediationFactory(postmortem=postmortem, status="wont_do", wont_do_reason=XSS, tracker_ref='https://x" onclick="a')
    record = ChangeRecordFactory(title="<iframe src=//evil>", done_before=XSS, failure_impact=XSS, failure_response=XSS)
    IncidentDeployFactory(incident=incident, deploy=DeployFactory(change_record=record))

    for page in ["", "edit/", "history/?a=1&b=2", "print/"]:
        response = logged_in.get(_url(postmortem, page))
        assert response.status_code == 200, page
        assert_no_live_script(response.content.decode())
    remediation = postmortem.remediations.first()
    assert_no_live_script(logged_in.get(f"/remediations/{remediation.pk}/edit/").content.decode())
    # A conflict page shows both texts and a diff of them.
    stale = _editor_data(postmortem, summary=XSS + "\n<img src=y onerror=alert(2)>")
    services.postmortem_save(
        postmortem=postmortem, changes={"summary": XSS + "\nmore"}, base_version=postmortem.version
    )
    conflict = logged_in.post(_url(postmortem, "edit/"), stale)
    assert conflict.status_code == 409
    assert_no_live_script(conflict.content.decode())


def test_the_xss_checker_finds_live_markup():
    for bad in [
        '<img src=x onerror="alert(1)">',
        '<a href=" javascript:alert(1)">',
        "<script>alert(1)</script>",
        '<iframe src="https://x">',
        '<p style="x">',
    ]:
        with pytest.raises(AssertionError):
            assert_no_live_script(bad)
    assert_no_live_script("<textarea>&lt;script&gt;alert(1)&lt;/script&gt;</textarea>")


# --- The start page by role, and history without difflib's links ----------------------------------


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
