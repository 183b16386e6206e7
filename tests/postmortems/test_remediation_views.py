"""/remediations/: follow-through on what post-mortems promised."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from postmortems.factories import PostMortemFactory, RemediationFactory
from tests.support.roles import responder
from tests.support.xss import XSS, assert_no_live_script

pytestmark = pytest.mark.django_db


def _today() -> dt.date:
    return timezone.localdate()


def _days(n: int) -> dt.date:
    return _today() + dt.timedelta(days=n)


def _done(due: dt.date, completed: dt.date, **kwargs):
    completed_at = timezone.make_aware(dt.datetime.combine(completed, dt.time(12)))
    return RemediationFactory(status="done", due_date=due, completed_at=completed_at, **kwargs)


def _ids(response) -> list[int]:
    return [remediation.pk for remediation in response.context["page"]]


def test_the_list_requires_login(client):
    response = client.get("/remediations/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("page", ["edit/", "delete/"])
def test_editing_and_deleting_need_a_login_and_the_csrf_token(client, user, page):
    remediation = RemediationFactory(description="Keep me")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    data = {"description": "Changed", "kind": "ops", "status": "done", "owner_name": "x"}

    anonymous = client.post(f"/remediations/{remediation.pk}/{page}", data)
    without_token = strict.post(f"/remediations/{remediation.pk}/{page}", data)

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert without_token.status_code == 403
    remediation.refresh_from_db()
    assert remediation.description == "Keep me" and remediation.status == "open"


def test_a_missing_remediation_is_404(logged_in):
    assert logged_in.get("/remediations/999999/edit/").status_code == 404
    assert logged_in.post("/remediations/999999/delete/").status_code == 404


def test_the_navigation_links_to_the_list(logged_in):
    html = logged_in.get("/remediations/").content.decode()

    assert '<a href="/remediations/" aria-current="page">Remediations</a>' in html


def test_by_default_open_ones_are_listed_overdue_first_and_marked(logged_in):
    later = RemediationFactory(due_date=_days(10))
    overdue_long = RemediationFactory(due_date=_days(-9))
    overdue = RemediationFactory(due_date=_days(-1), status="in_progress")
    undated = RemediationFactory(due_date=None)
    soon = RemediationFactory(due_date=_days(1))
    RemediationFactory(status="done", due_date=_days(-3))
    RemediationFactory(status="wont_do", wont_do_reason="Retired.", due_date=_days(-3))

    response = logged_in.get("/remediations/")

    assert _ids(response) == [overdue_long.pk, overdue.pk, soon.pk, later.pk, undated.pk]
    html = response.content.decode()
    assert html.count('<strong class="overdue-badge">overdue</strong>') == 2
    assert html.count('class="remediation-row status-open overdue"') == 1
    assert html.count('class="remediation-row status-in_progress overdue"') == 1


@pytest.mark.parametrize(
    ("status", "expected"), [("all", {"open", "done", "wont_do"}), ("done", {"done"}), ("wont_do", {"wont_do"})]
)
def test_the_status_filter_shows_all_done_or_wont_do(logged_in, status, expected):
    RemediationFactory()
    RemediationFactory(status="done")
    RemediationFactory(status="wont_do", wont_do_reason="Retired.")

    response = logged_in.get(f"/remediations/?status={status}")

    assert {remediation.status for remediation in response.context["page"]} == expected


def test_the_owner_filter_matches_a_users_name_or_login_or_a_typed_name(logged_in, django_user_model):
    alice = responder(django_user_model.objects.create_user(username="alice", first_name="Alice", last_name="Ng"))
    by_user = RemediationFactory(owner=alice, owner_name="")
    by_name = RemediationFactory(owner_name="Alicia from ops")
    RemediationFactory(owner_name="sam")

    assert set(_ids(logged_in.get("/remediations/?owner=ali"))) == {by_user.pk, by_name.pk}
    assert _ids(logged_in.get("/remediations/?owner=Alice+Ng")) == [by_user.pk]
    assert _ids(logged_in.get("/remediations/?owner=alice")) == [by_user.pk]
    assert _ids(logged_in.get("/remediations/?owner=OPS")) == [by_name.pk]


def test_the_kind_and_service_filters(logged_in):
    checkout, search = ServiceFactory(slug="checkout"), ServiceFactory(slug="search")
    on_checkout = PostMortemFactory(incident=IncidentFactory(services=[checkout, search]))
    on_search = PostMortemFactory(incident=IncidentFactory(services=[search]))
    dev_checkout = RemediationFactory(postmortem=on_checkout, kind="dev")
    ops_checkout = RemediationFactory(postmortem=on_checkout, kind="ops")
    ops_search = RemediationFactory(postmortem=on_search, kind="ops")

    assert set(_ids(logged_in.get("/remediations/?kind=ops"))) == {ops_checkout.pk, ops_search.pk}
    assert set(_ids(logged_in.get("/remediations/?service=checkout"))) == {dev_checkout.pk, ops_checkout.pk}
    # An incident on two services lists each remediation once.
    assert sorted(_ids(logged_in.get("/remediations/?service=search"))) == sorted(
        [dev_checkout.pk, ops_checkout.pk, ops_search.pk]
    )
    assert _ids(logged_in.get("/remediations/?service=checkout&kind=ops")) == [ops_checkout.pk]


def test_follow_through_counts_every_status_for_the_filtered_set(logged_in):
    RemediationFactory(kind="dev", due_date=_days(3))
    RemediationFactory(kind="dev", due_date=_days(-2))
    _done(_days(-5), _days(-6), kind="dev")
    _done(_days(-5), _days(-5), kind="dev")
    _done(_days(-5), _days(-1), kind="dev")
    _done(_days(-5), _days(-6), kind="ops")  # not in the filtered set

    response = logged_in.get("/remediations/?kind=dev")

    figures = response.context["figures"]
    assert (figures.open, figures.overdue, figures.done, figures.done_on_time, figures.done_late) == (2, 1, 3, 2, 1)
    html = " ".join(response.content.decode().split())
    assert '<strong>2 open</strong>, <strong class="overdue-text">1 overdue</strong>' in html
    assert "3 done, 2 on time (67 %)" in html
    assert len(_ids(response)) == 2  # the list itself still shows the open ones


def test_follow_through_with_nothing_done_has_no_rate(logged_in):
    RemediationFactory()

    html = " ".join(logged_in.get("/remediations/").content.decode().split())

    assert "0 done, 0 on time" in html and "%)" not in html


@pytest.mark.parametrize("query", ["service=nope", "kind=qa", "status=finished", "owner=" + "x" * 201, "owner=a%00b"])
def test_an_invalid_filter_is_an_error_not_a_500(logged_in, query):
    RemediationFactory()

    response = logged_in.get(f"/remediations/?{query}")

    assert response.status_code == 200
    assert 'class="errors"' in response.content.decode()
    assert _ids(response) == []


@pytest.mark.parametrize("page", ["abc", "999", "-1"])
def test_a_bad_page_number_is_not_a_500(logged_in, page):
    RemediationFactory()

    assert logged_in.get(f"/remediations/?page={page}").status_code == 200


def test_the_list_is_paginated_by_50_keeping_the_filters(logged_in):
    postmortem = PostMortemFactory()
    RemediationFactory.create_batch(51, postmortem=postmortem, kind="ops")

    first = logged_in.get("/remediations/?kind=ops")
    second = logged_in.get("/remediations/?kind=ops&page=2")

    assert len(_ids(first)) == 50 and len(_ids(second)) == 1
    assert 'href="?kind=ops&amp;page=2"' in first.content.decode()


def test_each_row_links_to_its_postmortem_and_to_its_edit_form(logged_in, settings):
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    incident = IncidentFactory(title="Checkout down", services=[ServiceFactory(slug="checkout")])
    remediation = RemediationFactory(postmortem=PostMortemFactory(incident=incident), tracker_ref="OPS-3")

    html = logged_in.get("/remediations/").content.decode()

    assert (
        f'href="/incidents/{incident.pk}/postmortem/#remediation-{remediation.pk}">#{incident.pk} Checkout down</a>'
        in html
    )
    assert f'href="/remediations/{remediation.pk}/edit/"' in html
    assert '<span class="service-tag">checkout</span>' in html
    assert 'href="https://tracker.example.com/browse/OPS-3"' in html


def test_the_query_count_does_not_grow_with_rows(logged_in, django_user_model):
    service = ServiceFactory(slug="checkout")
    RemediationFactory(postmortem=PostMortemFactory(incident=IncidentFactory(services=[service])), owner_name="bob")

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(url).status_code == 200
        return len(queries)

    urls = ["/remediations/", "/remediations/?status=all&service=checkout&owner=o&kind=dev"]
    few = [count(url) for url in urls]
    assert all(len(logged_in.get(url).context["page"]) == 1 for url in urls)
    for n in range(15):
        owner = responder(django_user_model.objects.create_user(username=f"owner{n}"))
        incident = IncidentFactory(services=[service, ServiceFactory(slug=f"svc-{n}")])
        RemediationFactory(
            postmortem=PostMortemFactory(incident=incident), owner=owner, owner_name="", due_date=_days(n - 7)
        )

    assert [count(url) for url in urls] == few


def test_no_vector_reaches_the_list(logged_in):
    RemediationFactory(description=XSS, owner_name="<img src=x onerror=alert(1)>", tracker_ref="javascript:alert(1)")
    RemediationFactory(postmortem=PostMortemFactory(incident=IncidentFactory(title="<script>alert(1)</script>")))

    assert_no_live_script(logged_in.get("/remediations/?owner=%3Cscript%3E").content.decode())
    assert_no_live_script(logged_in.get("/remediations/").content.decode())


# --- Edit links by role ---------------------------------------------------------------------------


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
