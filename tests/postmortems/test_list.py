"""/postmortems/: every post-mortem, newest incident first, filterable, archived ones hidden."""

import datetime as dt

import pytest

from deploys.factories import ServiceFactory
from incidents import services
from incidents.factories import IncidentFactory
from postmortems.factories import PostMortemFactory, RemediationFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)


def postmortem(days: int, *, service=None, **fields):
    incident = IncidentFactory(title=f"Incident on day {days}", started_at=T0 + dt.timedelta(days=days))
    if service:
        incident.services.add(service)
    return PostMortemFactory(incident=incident, **fields)


def shown(response) -> list[int]:
    return [pm.pk for pm in response.context["page"]]


def test_newest_incident_first_with_remediations_counted(logged_in):
    older, newer = postmortem(1), postmortem(5)
    RemediationFactory(postmortem=newer, status="done")
    RemediationFactory(postmortem=newer, status="open")
    RemediationFactory(postmortem=newer, status="wont_do", wont_do_reason="Covered by the new alert.")

    response = logged_in.get("/postmortems/")

    assert response.status_code == 200
    assert shown(response) == [newer.pk, older.pk]
    first = response.context["page"][0]
    assert (first.remediations_done, first.remediations_open, first.remediations_total) == (1, 1, 3)
    assert f'href="/incidents/{newer.incident_id}/postmortem/"' in response.content.decode()


def test_filters_by_status_service_and_dates(logged_in):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    draft_web = postmortem(1, service=web)
    published_web = postmortem(10, service=web, status="published")
    published_api = postmortem(20, service=api, status="published")

    assert shown(logged_in.get("/postmortems/?status=published")) == [published_api.pk, published_web.pk]
    assert shown(logged_in.get("/postmortems/?service=web")) == [published_web.pk, draft_web.pk]
    assert shown(logged_in.get("/postmortems/?since=2024-07-05&until=2024-07-15")) == [published_web.pk]


def test_a_bad_filter_is_an_error_on_the_page_not_a_500(logged_in):
    postmortem(1)

    response = logged_in.get("/postmortems/?status=exploded&since=yesterday")

    assert response.status_code == 200
    assert shown(response) == []
    assert set(response.context["filter"].errors) == {"status", "since"}


def test_archived_incidents_post_mortems_are_hidden_unless_asked_for(logged_in, user):
    kept, archived = postmortem(1), postmortem(2)
    services.incident_archive(incident=archived.incident, reason="duplicate of #1", by=user)

    assert shown(logged_in.get("/postmortems/")) == [kept.pk]
    assert shown(logged_in.get("/postmortems/?archived=true")) == [archived.pk]
    assert shown(logged_in.get("/postmortems/?archived=all")) == [archived.pk, kept.pk]


def test_pages_of_fifty_keep_the_filters(logged_in):
    for day in range(51):
        postmortem(day, status="published")

    first = logged_in.get("/postmortems/?status=published")
    second = logged_in.get("/postmortems/?status=published&page=2")

    assert len(shown(first)) == 50 and len(shown(second)) == 1
    assert 'href="?status=published&amp;page=2"' in first.content.decode()


def test_query_count_does_not_grow_with_rows(logged_in, django_assert_max_num_queries):
    web = ServiceFactory(slug="web")
    for day in range(3):
        RemediationFactory(postmortem=postmortem(day, service=web))
    # Two more than before contributing factors: the rows' factors, and the filter's choice of them.
    with django_assert_max_num_queries(10) as few:
        logged_in.get("/postmortems/")
    for day in range(3, 30):
        RemediationFactory(postmortem=postmortem(day, service=web))
    with django_assert_max_num_queries(10) as many:
        logged_in.get("/postmortems/")

    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_nav_links_to_it(logged_in):
    assert 'href="/postmortems/"' in logged_in.get("/incidents/").content.decode()
