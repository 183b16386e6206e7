"""Remediations after publishing: a published post-mortem keeps the rule it was published under
(at least one remediation that will be done, or "no action needed" with a reason), and
remediations are kept — only one still open on a post-mortem not yet published can be deleted.
Through every door: service, API and page, and two requests at once on PostgreSQL."""

import html as html_lib
import re
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from postmortems import services
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import PostMortem, Remediation
from tests.support.concurrency import api_at_once

pytestmark = pytest.mark.django_db

WONT_DO = {"status": "wont_do", "wont_do_reason": "The queue is being retired."}


def _published(*statuses: str) -> tuple[PostMortem, list[Remediation]]:
    """A published post-mortem with one remediation per status given (won't-do ones with a reason)."""
    postmortem = PostMortemFactory()
    remediations = [
        RemediationFactory(
            postmortem=postmortem, status=status, wont_do_reason="Retired." if status == "wont_do" else ""
        )
        for status in statuses
    ]
    postmortem = services.postmortem_set_status(postmortem=postmortem, status="published")
    return postmortem, remediations


def _state(remediation: Remediation) -> tuple:
    remediation.refresh_from_db()
    return remediation.status, remediation.wont_do_reason, remediation.updated_at


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- Marking won't do after publishing (service) -----------------------------------------------


def test_the_last_remediation_that_will_be_done_cant_be_marked_wont_do_once_published():
    postmortem, (last,) = _published("open")
    before = _state(last)

    with pytest.raises(ValidationError) as caught:
        services.remediation_update(remediation=last, changes=WONT_DO)

    assert list(caught.value.message_dict) == ["status"]
    assert "last remediation of a published post-mortem" in caught.value.message_dict["status"][0]
    assert _state(last) == before
    postmortem.refresh_from_db()
    assert postmortem.status == "published"


def test_wont_do_ones_dont_count_as_the_one_that_remains():
    _, (open_one, _) = _published("open", "wont_do")

    with pytest.raises(ValidationError):
        services.remediation_update(remediation=open_one, changes=WONT_DO)

    assert _state(open_one)[0] == "open"


def test_one_of_two_can_be_dropped_but_not_the_second():
    _, (first, second) = _published("open", "done")

    services.remediation_update(remediation=first, changes=WONT_DO)
    with pytest.raises(ValidationError):
        services.remediation_update(remediation=second, changes=WONT_DO)

    assert (_state(first)[0], _state(second)[0]) == ("wont_do", "done")


@pytest.mark.parametrize("status", ["draft", "in_review"])
def test_before_publishing_the_last_one_can_be_dropped(status):
    postmortem = PostMortemFactory(status=status)
    last = RemediationFactory(postmortem=postmortem)

    services.remediation_update(remediation=last, changes=WONT_DO)

    assert _state(last)[0] == "wont_do"


def test_no_action_needed_with_a_reason_lets_the_last_one_be_dropped():
    postmortem, (last,) = _published("open")
    services.postmortem_save(
        postmortem=postmortem,
        changes={"no_action_needed": True, "no_action_reason": "The vendor fixed it."},
        base_version=postmortem.version,
    )

    services.remediation_update(remediation=last, changes=WONT_DO)

    assert _state(last)[0] == "wont_do"


def test_back_to_draft_the_last_one_can_be_dropped_and_publishing_again_needs_the_rule():
    postmortem, (last,) = _published("open")
    services.postmortem_set_status(postmortem=postmortem, status="draft")

    services.remediation_update(remediation=last, changes=WONT_DO)

    with pytest.raises(ValidationError):
        services.postmortem_set_status(postmortem=postmortem, status="published")


def test_the_last_one_can_still_be_edited_done_or_given_a_new_due_date():
    _, (last,) = _published("open")

    services.remediation_update(remediation=last, changes={"description": "Alert on the queue depth"})
    services.remediation_update(remediation=last, changes={"status": "done"})

    last.refresh_from_db()
    assert (last.description, last.status) == ("Alert on the queue depth", "done")


def test_a_wont_do_ones_reason_can_be_reworded_whatever_remains():
    postmortem, (open_one, dropped) = _published("open", "wont_do")
    # Left like this before the rule was kept after publishing.
    Remediation.objects.filter(pk=open_one.pk).update(status="wont_do", wont_do_reason="Retired.")

    services.remediation_update(remediation=dropped, changes={"wont_do_reason": "Retired in June."})

    assert _state(dropped)[:2] == ("wont_do", "Retired in June.")


# --- Deleting (service) -------------------------------------------------------------------------


@pytest.mark.parametrize(("postmortem_status", "status"), [("draft", "open"), ("in_review", "in_progress")])
def test_one_still_open_on_a_postmortem_not_published_can_be_deleted(postmortem_status, status):
    remediation = RemediationFactory(postmortem=PostMortemFactory(status=postmortem_status), status=status)

    services.remediation_delete(remediation=remediation)

    assert not Remediation.objects.exists()


@pytest.mark.parametrize(
    ("status", "fragment"),
    [("done", "record of what was done"), ("wont_do", "record of that decision")],
)
def test_a_done_or_wont_do_one_is_kept(status, fragment):
    remediation = RemediationFactory(
        postmortem=PostMortemFactory(), status=status, wont_do_reason="Retired." if status == "wont_do" else ""
    )

    with pytest.raises(ValidationError) as caught:
        services.remediation_delete(remediation=remediation)

    assert list(caught.value.message_dict) == ["remediation"]
    assert fragment in caught.value.message_dict["remediation"][0]
    assert Remediation.objects.filter(pk=remediation.pk).exists()


def test_any_remediation_of_a_published_postmortem_is_kept():
    _, (first, _) = _published("open", "in_progress")

    with pytest.raises(ValidationError) as caught:
        services.remediation_delete(remediation=first)

    assert "Mark it won't do with a reason instead" in caught.value.message_dict["remediation"][0]
    assert Remediation.objects.count() == 2


def test_changing_one_deleted_meanwhile_is_the_domain_error_not_an_http_one():
    remediation = RemediationFactory()
    stale = Remediation.objects.get(pk=remediation.pk)
    services.remediation_delete(remediation=remediation)

    with pytest.raises(Remediation.DoesNotExist):
        services.remediation_update(remediation=stale, changes={"description": "Too late"})
    with pytest.raises(Remediation.DoesNotExist):
        services.remediation_delete(remediation=stale)


@pytest.fixture
def deleted_before_the_lock(monkeypatch):
    """Another request deletes the remediation after the page or API read it, before the service locks it."""
    for name in ("remediation_update", "remediation_delete"):
        real = getattr(services, name)

        def deleting_first(*, remediation, real=real, **kwargs):
            Remediation.objects.filter(pk=remediation.pk).delete()
            return real(remediation=remediation, **kwargs)

        monkeypatch.setattr(services, name, deleting_first)


@pytest.mark.parametrize("page", ["edit/", "delete/"])
def test_a_page_acting_on_one_deleted_meanwhile_answers_404_not_500(logged_in, deleted_before_the_lock, page):
    remediation = RemediationFactory()
    data = {"description": "Too late", "kind": "ops", "status": "open"}

    assert logged_in.post(f"/remediations/{remediation.pk}/{page}", data).status_code == 404


def test_the_api_acting_on_one_deleted_meanwhile_answers_404_not_500(api, deleted_before_the_lock):
    remediation = RemediationFactory()

    changed = api.patch(f"/api/remediations/{remediation.pk}/", {"description": "Too late"}, format="json")
    deleted = api.delete(f"/api/remediations/{RemediationFactory().pk}/")

    assert (changed.status_code, changed.json()) == (404, {"detail": "Not found."})
    assert deleted.status_code == 404


# --- The API ------------------------------------------------------------------------------------


def test_api_refuses_marking_the_last_one_wont_do_with_a_message_on_status(api):
    _, (last,) = _published("open")
    before = _state(last)

    response = api.patch(f"/api/remediations/{last.pk}/", WONT_DO, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["status"]
    assert "last remediation of a published post-mortem" in response.json()["status"][0]
    assert _state(last) == before


def test_api_drops_one_of_two_then_refuses_the_second(api):
    _, (first, second) = _published("open", "in_progress")

    dropped = api.patch(f"/api/remediations/{first.pk}/", WONT_DO, format="json")
    refused = api.patch(f"/api/remediations/{second.pk}/", WONT_DO, format="json")

    assert (dropped.status_code, refused.status_code) == (200, 400)
    assert dropped.json()["status"] == "wont_do"
    assert _state(second)[0] == "in_progress"


@pytest.mark.parametrize("status", ["done", "wont_do"])
def test_api_delete_of_a_done_or_wont_do_one_is_a_400_and_keeps_it(api, status):
    remediation = RemediationFactory(status=status, wont_do_reason="Retired." if status == "wont_do" else "")

    response = api.delete(f"/api/remediations/{remediation.pk}/")

    assert response.status_code == 400
    assert list(response.json()) == ["remediation"]
    assert "can't be deleted" in response.json()["remediation"][0]
    assert Remediation.objects.filter(pk=remediation.pk).exists()


def test_api_delete_of_one_of_a_published_postmortem_is_a_400_and_keeps_it(api):
    postmortem, (first, _) = _published("open", "open")

    response = api.delete(f"/api/remediations/{first.pk}/")

    assert response.status_code == 400
    assert "won't do with a reason" in response.json()["remediation"][0]
    assert postmortem.remediations.count() == 2


def test_api_deletes_one_still_open_on_a_draft(api):
    remediation = RemediationFactory()

    assert api.delete(f"/api/remediations/{remediation.pk}/").status_code == 204
    assert not Remediation.objects.exists()


# --- The pages ----------------------------------------------------------------------------------


def test_the_edit_page_shows_the_refusal_next_to_the_status(logged_in):
    _, (last,) = _published("open")
    before = _state(last)

    response = logged_in.post(
        f"/remediations/{last.pk}/edit/",
        {"description": last.description, "kind": "dev", "owner_name": "sam", **WONT_DO},
    )

    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(r'<ul class="errorlist" id="id_status_error">(.*?)</ul>', html, re.S)
    assert match and "last remediation of a published post-mortem" in _text(match.group(1))
    assert _state(last) == before


@pytest.mark.parametrize("status", ["done", "wont_do"])
def test_the_edit_page_of_a_kept_one_has_no_delete_button_and_says_why(logged_in, status):
    remediation = RemediationFactory(status=status, wont_do_reason="Retired." if status == "wont_do" else "")

    html = logged_in.get(f"/remediations/{remediation.pk}/edit/").content.decode()

    assert f'action="/remediations/{remediation.pk}/delete/"' not in html
    assert "can't be deleted" in _text(html)


def test_the_edit_page_of_one_of_a_published_postmortem_has_no_delete_button(logged_in):
    _, (first, _) = _published("open", "open")

    html = logged_in.get(f"/remediations/{first.pk}/edit/").content.decode()

    assert f'action="/remediations/{first.pk}/delete/"' not in html
    assert "Mark it won't do with a reason instead" in _text(html)


def test_deleting_a_done_one_from_the_page_is_refused_with_a_message(logged_in):
    remediation = RemediationFactory(status="done")

    response = logged_in.post(f"/remediations/{remediation.pk}/delete/", follow=True)

    assert response.status_code == 200
    assert any("record of what was done" in str(message) for message in response.context["messages"])
    assert Remediation.objects.filter(pk=remediation.pk).exists()


# --- Two requests at once (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_racing_drops_of_the_last_two_leave_one_that_will_be_done(live_server, token):
    # Several post-mortems at once, so that a missing lock shows on most runs, not on some.
    published = [_published("open", "open") for _ in range(10)]
    requests_ = [
        (f"{live_server.url}/api/remediations/{remediation.pk}/", WONT_DO)
        for _, remediations in published
        for remediation in remediations
    ]

    results = api_at_once("PATCH", requests_, token)

    for index, (postmortem, _) in enumerate(published):
        pair = results[2 * index : 2 * index + 2]
        assert sorted(status for status, _ in pair) == [200, 400], pair
        assert next(answer for status, answer in pair if status == 400).keys() == {"status"}
        assert list(postmortem.remediations.values_list("status", flat=True).order_by("status")) == ["open", "wont_do"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_drop_waits_for_the_other_drop_to_commit_and_is_then_refused():
    # Deterministic, unlike the race above: the first drop holds its transaction open until the
    # second has finished or 2 s have passed. With the post-mortem's row locked the second waits,
    # then sees the first committed; without, it would see the first still open and save too.
    _, (first, second) = _published("open", "open")
    first_saved, second_finished = threading.Event(), threading.Event()
    outcome = {}

    def drop_first():
        try:
            with transaction.atomic():
                services.remediation_update(remediation=first, changes=WONT_DO)
                first_saved.set()
                second_finished.wait(timeout=2)
        finally:
            first_saved.set()
            connection.close()

    def drop_second():
        first_saved.wait(timeout=10)
        try:
            services.remediation_update(remediation=second, changes=WONT_DO)
            outcome["second"] = "saved"
        except ValidationError as error:
            outcome["second"] = list(error.message_dict)
        finally:
            second_finished.set()
            connection.close()

    threads = [threading.Thread(target=drop_first), threading.Thread(target=drop_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcome == {"second": ["status"]}
    assert (_state(first)[0], _state(second)[0]) == ("wont_do", "open")
