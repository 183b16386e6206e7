"""Post-mortem services and selectors: the publish rule, remediations, revisions and optimistic
locking, the prefilled timeline, follow-through numbers and the Markdown export."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deploys.factories import ChangeRecordFactory, DeployFactory, ServiceFactory
from incidents import services
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import IncidentDeploy
from postmortems import selectors
from postmortems import services as postmortem_services
from postmortems.factories import RemediationFactory
from postmortems.models import PostMortem, PostMortemRevision, Remediation
from postmortems.services import EditConflict
from tests.support.roles import responder

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2024, 7, 1, 22, 25, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = dt.datetime(2024, 7, 10, 12, 0, tzinfo=UTC)

    monkeypatch.setattr(timezone, "now", lambda: Clock.now)
    return Clock


@pytest.fixture
def incident():
    incident = IncidentFactory(
        title="Checkout returns 502",
        started_at=T0,
        detected_at=T0 + dt.timedelta(minutes=6),
        resolved_at=T0 + dt.timedelta(minutes=52),
        summary="A third of checkouts fail.",
        commander="Priya Raman",
        services=[ServiceFactory(slug="web")],
    )
    TimelineEntryFactory(incident=incident, at=T0 + dt.timedelta(minutes=6), text="Incident filed (SEV2).")
    TimelineEntryFactory(incident=incident, at=T0 + dt.timedelta(minutes=40), text="Rolled web back to 25134.")
    TimelineEntryFactory(incident=incident, at=T0 + dt.timedelta(hours=2), text="Cache warmed; all clear.")
    return incident


@pytest.fixture
def started(incident, user):
    postmortem, _ = postmortem_services.postmortem_start(incident=incident, by=user)
    return postmortem


# --- Start ----------------------------------------------------------------------------------------


def test_starting_prefills_the_timeline_summary_and_facilitator(started, user):
    assert started.timeline_narrative == (
        "**Monday 01 July 2024**\n\n"
        "- 22:31 — Incident filed (SEV2).\n"
        "- 23:05 — Rolled web back to 25134.\n\n"
        "**Tuesday 02 July 2024**\n\n"
        "- 00:25 — Cache warmed; all clear."
    )
    assert (started.summary, started.facilitator) == ("A third of checkouts fail.", "Priya Raman")
    assert (started.status, started.version, started.created_by) == ("draft", 1, user)
    assert started.revisions.get().content == started.content()


def test_the_timeline_is_written_in_the_reporting_time_zone(incident, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    postmortem, _ = postmortem_services.postmortem_start(incident=incident)

    assert postmortem.timeline_narrative.startswith("**Tuesday 02 July 2024**\n\n- 00:31 — Incident filed")


def test_starting_twice_returns_the_first(started, incident):
    again, created = postmortem_services.postmortem_start(incident=incident)

    assert (again.pk, created) == (started.pk, False)
    assert PostMortem.objects.count() == 1 and PostMortemRevision.objects.count() == 1


# --- Saving, revisions and conflicts --------------------------------------------------------------


def test_every_save_keeps_a_revision_with_who_and_when(started, user, django_user_model, clock):
    colleague = responder(django_user_model.objects.create_user(username="jallen"))

    clock.now = dt.datetime(2024, 7, 10, 12, 0, tzinfo=UTC)
    postmortem_services.postmortem_save(
        postmortem=started, changes={"impact": "1,200 customers."}, base_version=1, by=user
    )
    clock.now = dt.datetime(2024, 7, 10, 12, 5, tzinfo=UTC)
    saved = postmortem_services.postmortem_save(
        postmortem=started, changes={"went_well": "Fast rollback."}, base_version=2, by=colleague
    )

    assert saved.version == 3
    revisions = list(saved.revisions.order_by("version").values_list("version", "saved_by__username", "saved_at"))
    assert revisions[1:] == [
        (2, "ekastner", dt.datetime(2024, 7, 10, 12, 0, tzinfo=UTC)),
        (3, "jallen", dt.datetime(2024, 7, 10, 12, 5, tzinfo=UTC)),
    ]
    assert saved.revisions.get(version=2).content["impact"] == "1,200 customers."
    assert saved.revisions.get(version=2).content["went_well"] == ""
    assert saved.revisions.get(version=3).content["went_well"] == "Fast rollback."
    assert (saved.updated_by, saved.updated_at) == (colleague, dt.datetime(2024, 7, 10, 12, 5, tzinfo=UTC))


def test_a_save_that_changes_nothing_keeps_the_version(started):
    saved = postmortem_services.postmortem_save(
        postmortem=started, changes={"summary": started.summary}, base_version=1
    )

    assert saved.version == 1
    assert PostMortemRevision.objects.count() == 1


def test_a_stale_base_version_raises_edit_conflict_and_writes_nothing(started, user, django_user_model):
    colleague = responder(django_user_model.objects.create_user(username="jallen"))
    postmortem_services.postmortem_save(
        postmortem=started, changes={"summary": "Theirs."}, base_version=1, by=colleague
    )

    with pytest.raises(EditConflict) as caught:
        postmortem_services.postmortem_save(
            postmortem=started, changes={"summary": "Mine.", "impact": "Mine too."}, base_version=1, by=user
        )

    assert "jallen saved this post-mortem (version 2)" in str(caught.value)
    assert (caught.value.current.version, caught.value.submitted) == (2, {"summary": "Mine.", "impact": "Mine too."})
    started.refresh_from_db()
    assert (started.version, started.summary, started.impact, started.updated_by) == (2, "Theirs.", "", colleague)
    assert PostMortemRevision.objects.count() == 2


def test_a_stale_version_is_refused_even_when_setting_the_status(started):
    postmortem_services.postmortem_save(postmortem=started, changes={"summary": "Theirs."}, base_version=1)

    with pytest.raises(EditConflict):
        postmortem_services.postmortem_set_status(postmortem=started, status="in_review", base_version=1)
    started.refresh_from_db()
    assert started.status == "draft"


def test_only_the_written_fields_can_be_saved(started):
    with pytest.raises(ValueError, match="not editable: status, version"):
        postmortem_services.postmortem_save(
            postmortem=started, changes={"status": "published", "version": 9}, base_version=1
        )


# --- Publishing ----------------------------------------------------------------------------------


def test_publishing_without_a_remediation_is_refused(started):
    with pytest.raises(ValidationError) as caught:
        postmortem_services.postmortem_set_status(postmortem=started, status="published")

    assert "status" in caught.value.message_dict
    started.refresh_from_db()
    assert (started.status, started.published_at, started.version) == ("draft", None, 1)


def test_wont_do_remediations_dont_count(started):
    RemediationFactory(postmortem=started, status="wont_do", wont_do_reason="Retired.")

    with pytest.raises(ValidationError):
        postmortem_services.postmortem_set_status(postmortem=started, status="published")


def test_after_publishing_a_remediation_can_still_be_dropped_with_a_reason(started):
    remediation = RemediationFactory(postmortem=started)
    RemediationFactory(
        postmortem=started
    )  # one that will be done remains (tests/postmortems/test_remediation_rules.py)
    postmortem_services.postmortem_set_status(postmortem=started, status="published")

    postmortem_services.remediation_update(
        remediation=remediation, changes={"status": "wont_do", "wont_do_reason": "Retired."}
    )

    remediation.refresh_from_db()
    assert remediation.status == "wont_do"


@pytest.mark.parametrize("status", ["open", "in_progress", "done"])
def test_one_remediation_is_enough_to_publish(started, status, clock):
    RemediationFactory(postmortem=started, status=status)

    published = postmortem_services.postmortem_set_status(postmortem=started, status="published")

    assert (published.status, published.published_at, published.version) == ("published", clock.now, 2)
    assert published.revisions.get(version=2).content["status"] == "published"


def test_no_action_needed_publishes_only_with_a_reason(started):
    postmortem_services.postmortem_save(postmortem=started, changes={"no_action_needed": True}, base_version=1)

    with pytest.raises(ValidationError) as caught:
        postmortem_services.postmortem_set_status(postmortem=started, status="published")
    assert caught.value.message_dict == {"no_action_reason": ["Say why no action is needed."]}

    postmortem_services.postmortem_save(postmortem=started, changes={"no_action_reason": "   "}, base_version=2)
    with pytest.raises(ValidationError):
        postmortem_services.postmortem_set_status(postmortem=started, status="published")

    postmortem_services.postmortem_save(
        postmortem=started, changes={"no_action_reason": "The vendor's outage; nothing of ours."}, base_version=3
    )
    assert postmortem_services.postmortem_set_status(postmortem=started, status="published").status == "published"


def test_a_published_postmortem_cant_be_edited_into_breaking_the_rule(started):
    postmortem_services.postmortem_save(
        postmortem=started, changes={"no_action_needed": True, "no_action_reason": "Vendor."}, base_version=1
    )
    postmortem_services.postmortem_set_status(postmortem=started, status="published")

    with pytest.raises(ValidationError):
        postmortem_services.postmortem_save(postmortem=started, changes={"no_action_reason": ""}, base_version=3)

    started.refresh_from_db()
    assert (started.no_action_reason, started.version) == ("Vendor.", 3)


def test_an_unknown_status_is_refused(started):
    with pytest.raises(ValidationError):
        postmortem_services.postmortem_set_status(postmortem=started, status="finished")


def test_the_last_remediation_of_a_published_postmortem_cant_be_deleted(started):
    remediation = RemediationFactory(postmortem=started)
    postmortem_services.postmortem_set_status(postmortem=started, status="published")

    with pytest.raises(ValidationError):
        postmortem_services.remediation_delete(remediation=remediation)


# --- Remediations ---------------------------------------------------------------------------------


def test_wont_do_needs_a_reason(started):
    with pytest.raises(ValidationError) as caught:
        postmortem_services.remediation_create(
            postmortem=started, data={"description": "Rewrite it", "kind": "dev", "status": "wont_do"}
        )
    assert caught.value.message_dict == {"wont_do_reason": ["Say why it won't be done."]}

    remediation = postmortem_services.remediation_create(
        postmortem=started, data={"description": "Rewrite it", "kind": "dev"}
    )
    with pytest.raises(ValidationError):
        postmortem_services.remediation_update(
            remediation=remediation, changes={"status": "wont_do", "wont_do_reason": " "}
        )
    remediation.refresh_from_db()
    assert remediation.status == "open"


def test_a_remediation_needs_a_description_and_a_known_kind(started):
    with pytest.raises(ValidationError) as caught:
        postmortem_services.remediation_create(postmortem=started, data={"description": " ", "kind": "qa"})

    assert set(caught.value.message_dict) == {"description", "kind"}
    assert Remediation.objects.count() == 0


def test_done_stamps_completed_at_once_and_reopening_clears_it(started, clock):
    remediation = postmortem_services.remediation_create(
        postmortem=started, data={"description": "Alert on 502s", "kind": "ops", "due_date": dt.date(2024, 7, 12)}
    )
    assert remediation.completed_at is None

    done = postmortem_services.remediation_update(remediation=remediation, changes={"status": "done"})
    assert (done.completed_at, done.done_on_time) == (clock.now, True)

    clock.now += dt.timedelta(days=5)
    again = postmortem_services.remediation_update(remediation=remediation, changes={"description": "Alert on 5xx"})
    assert again.completed_at == dt.datetime(2024, 7, 10, 12, 0, tzinfo=UTC)  # still the first time

    reopened = postmortem_services.remediation_update(remediation=remediation, changes={"status": "in_progress"})
    assert (reopened.completed_at, reopened.done_on_time) == (None, None)


@pytest.mark.parametrize(
    ("time_zone", "on_time"),
    [
        ("UTC", False),  # 01:30 on the 2nd: a day late
        ("America/New_York", True),  # 21:30 on the 1st: on the day it was due
    ],
)
def test_done_on_time_is_judged_in_the_reporting_time_zone(started, settings, time_zone, on_time):
    settings.TIME_ZONE = time_zone
    remediation = RemediationFactory(
        postmortem=started,
        due_date=dt.date(2024, 7, 1),
        status="done",
        completed_at=dt.datetime(2024, 7, 2, 1, 30, tzinfo=UTC),
    )

    assert remediation.done_on_time is on_time
    stats = selectors.follow_through(Remediation.objects.all())
    assert (stats.done_on_time, stats.done_late) == ((1, 0) if on_time else (0, 1))


def test_done_on_time_is_none_without_a_due_date_or_unless_done(started):
    assert (
        RemediationFactory(postmortem=started, due_date=None, status="done", completed_at=timezone.now()).done_on_time
        is None
    )
    assert RemediationFactory(postmortem=started, status="open").done_on_time is None


# --- Selectors ------------------------------------------------------------------------------------


def test_remediation_list_puts_open_ones_first_and_overdue_first(started):
    today = dt.date(2024, 7, 10)

    def make(due, status="open", **kwargs):
        return RemediationFactory(postmortem=started, due_date=due, status=status, **kwargs)

    done = make(dt.date(2024, 7, 1), "done")
    later = make(dt.date(2024, 7, 30))
    undated = make(None, "in_progress")
    overdue = make(dt.date(2024, 7, 9), "in_progress")
    very_overdue = make(dt.date(2024, 6, 1))
    wont = make(dt.date(2024, 6, 1), "wont_do", wont_do_reason="No.")
    due_today = make(today)

    ordered = list(selectors.remediation_list(today=today))

    assert ordered[:5] == [very_overdue, overdue, due_today, later, undated]
    assert set(ordered[5:]) == {done, wont}


def test_follow_through_numbers(started):
    today = dt.date(2024, 7, 10)
    RemediationFactory(postmortem=started, due_date=dt.date(2024, 7, 9))  # overdue
    RemediationFactory(postmortem=started, due_date=today, status="in_progress")  # due today: not overdue
    RemediationFactory(postmortem=started, due_date=None)
    RemediationFactory(
        postmortem=started,
        due_date=dt.date(2024, 7, 5),
        status="done",
        completed_at=dt.datetime(2024, 7, 5, 23, 59, tzinfo=UTC),
    )
    RemediationFactory(
        postmortem=started,
        due_date=dt.date(2024, 7, 5),
        status="done",
        completed_at=dt.datetime(2024, 7, 6, 0, 1, tzinfo=UTC),
    )
    RemediationFactory(postmortem=started, due_date=None, status="done", completed_at=timezone.now())
    RemediationFactory(postmortem=started, due_date=dt.date(2024, 6, 1), status="wont_do", wont_do_reason="No.")

    stats = selectors.follow_through(Remediation.objects.all(), today=today)

    assert (stats.open, stats.overdue, stats.done, stats.done_on_time, stats.done_late) == (3, 1, 3, 1, 1)
    assert stats.on_time_rate == 0.5
    assert selectors.follow_through(Remediation.objects.none()).on_time_rate is None


def test_change_records_of_causing_deploys_only(started, incident):
    record = ChangeRecordFactory(title="New cache keys")
    IncidentDeployFactory(incident=incident, deploy=DeployFactory(change_record=record))
    IncidentDeployFactory(incident=incident, deploy=DeployFactory(change_record=record))  # the same record twice
    IncidentDeployFactory(
        incident=incident,
        deploy=DeployFactory(change_record=ChangeRecordFactory()),
        relation=IncidentDeploy.Relation.REMEDIATION,
    )
    IncidentDeployFactory(deploy=DeployFactory(change_record=ChangeRecordFactory()))  # another incident's

    assert list(selectors.postmortem_change_records(started)) == [record]


def test_content_diff_marks_changed_fields(started):
    old = started.content()
    new = {**old, "summary": "Line one.\n<script>alert(1)</script>", "meeting_date": "2024-07-03"}

    diffs = {d.field: d for d in selectors.content_diff(old, new)}

    assert {name for name, d in diffs.items() if d.changed} == {"summary", "meeting_date"}
    assert "Line&nbsp;one." in diffs["summary"].html and diffs["impact"].html == ""
    assert "<script" not in diffs["summary"].html and "&lt;script&gt;" in diffs["summary"].html


def test_markdown_export_has_every_section_the_remediations_and_the_change_record(started, incident):
    postmortem_services.postmortem_save(
        postmortem=started,
        changes={"went_poorly": "The cache keys changed with no warm-up.", "meeting_date": dt.date(2024, 7, 3)},
        base_version=1,
    )
    RemediationFactory(
        postmortem=started,
        kind="dev",
        description="Warm the cache | before switching",
        owner_name="Sam",
        due_date=dt.date(2024, 7, 20),
        tracker_ref="WEB-7",
    )
    RemediationFactory(
        postmortem=started,
        kind="ops",
        description="Page on 502s",
        owner_name="",
        due_date=None,
        status="wont_do",
        wont_do_reason="Already paged.",
    )
    record = ChangeRecordFactory(
        title="New cache keys",
        kind="feature",
        owner="sandrews",
        done_before="No.",
        failure_impact="Cold cache.",
        failure_response="Roll back.",
    )
    IncidentDeployFactory(incident=incident, deploy=DeployFactory(change_record=record))
    started.refresh_from_db()

    text = selectors.postmortem_markdown(started)

    assert text.startswith("# Post-mortem: Checkout returns 502\n")
    assert f"- **Incident:** #{incident.pk}, SEV3 · moderate" in text
    assert "- **Meeting:** 2024-07-03" in text
    assert "- **Started:** 2024-07-01 22:25 UTC" in text
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == [heading for _, heading, _ in PostMortem.SECTIONS] + ["Remediations"]
    assert "## What went poorly\n\nThe cache keys changed with no warm-up.\n\n> **Change record CR-" in text
    assert f"> **Change record CR-{record.pk}: New cache keys** (New feature, sandrews)" in text
    assert "> - Done this before? No." in text
    assert "> - What will happen when it goes wrong? Cold cache." in text
    assert "> - What will we do when it goes wrong? Roll back." in text
    assert "| Kind | What | Owner | Due | Status | Tracker |" in text
    assert "| Dev | Warm the cache \\| before switching | Sam | 2024-07-20 | Open | WEB-7 |" in text
    assert "| Ops | Page on 502s | — | — | Won't do (Already paged.) | — |" in text
    assert "## Where we got lucky\n\n_Not written._" in text


def test_markdown_export_without_remediations(started):
    assert selectors.postmortem_markdown(started).endswith("## Remediations\n\n_None yet._\n")
    started.no_action_needed, started.no_action_reason = True, "Vendor outage."
    assert selectors.postmortem_markdown(started).endswith("No action needed: Vendor outage.\n")


def test_reminders_are_due_within_two_days_or_overdue_for_owners_with_an_email(started, django_user_model):
    today = dt.date(2024, 7, 10)
    with_email = responder(django_user_model.objects.create_user(username="sam", email="sam@example.com"))
    without = responder(django_user_model.objects.create_user(username="jo", email=""))

    def make(days, **kwargs):
        kwargs.setdefault("owner", with_email)
        return RemediationFactory(postmortem=started, due_date=today + dt.timedelta(days=days), **kwargs)

    wanted = {make(-4), make(0), make(2, status="in_progress")}
    make(3)
    make(-1, status="done")
    make(-1, owner=without)
    make(-1, owner=None)
    make(-1, last_reminded_on=today)
    wanted.add(make(-1, last_reminded_on=today - dt.timedelta(days=1)))

    assert set(selectors.remediations_due_for_reminder(today=today)) == wanted


def test_an_archived_incidents_remediations_remind_nobody(started, django_user_model):
    today = dt.date(2024, 7, 10)
    owner = django_user_model.objects.create_user(username="sam", email="sam@example.com")
    overdue = RemediationFactory(postmortem=started, owner=owner, due_date=today - dt.timedelta(days=1))
    assert list(selectors.remediations_due_for_reminder(today=today)) == [overdue]

    services.incident_archive(incident=started.incident, reason="duplicate of #1", by=owner)

    assert list(selectors.remediations_due_for_reminder(today=today)) == []


def test_markdown_export_names_who_held_each_incident_role(started, incident):
    incident.comms_lead = "Tomas Novak"
    incident.save(update_fields=["comms_lead"])
    started.refresh_from_db()

    text = selectors.postmortem_markdown(started)

    facts = text.split("\n## ", 1)[0]
    assert "- **Incident lead:** Priya Raman\n" in facts
    assert "- **Communications lead:** Tomas Novak\n" in facts
    assert "- **Scribe:** —\n" in facts
