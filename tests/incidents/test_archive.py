"""Archive, never delete (issue #7, data safety): incidents and their post-mortems."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from incidents import services
from incidents.factories import IncidentFactory
from incidents.models import Incident, TimelineEntry
from postmortems import services as postmortem_services
from postmortems.models import PostMortem
from reports.selectors import Filters, monthly_report

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def user(admin_user):
    """Archiving is for admins (config.roles); tests/config/test_roles.py shows responders refused."""
    return admin_user


@pytest.fixture
def incident():
    return IncidentFactory(title="Checkout returns 502", started_at=T0, detected_at=T0 + dt.timedelta(minutes=2))


@pytest.fixture
def archived(user):
    incident = IncidentFactory(title="Checkout returns 502 (again)", started_at=T0, detected_at=T0)
    return services.incident_archive(incident=incident, reason="duplicate of #1", by=user)


def pks(items) -> set[int]:
    return {item["id"] if isinstance(item, dict) else item.pk for item in items}


# --- Services --------------------------------------------------------------------------------------


def test_archiving_keeps_the_incident_and_records_who_why_and_when(incident, user):
    archived = services.incident_archive(incident=incident, reason="  duplicate of\n#12 ", by=user)

    incident.refresh_from_db()
    assert incident.is_archived and incident.archived_at == archived.archived_at
    assert (incident.archived_by, incident.archive_reason) == (user, "duplicate of #12")
    entry = incident.timeline.get(kind=TimelineEntry.Kind.ARCHIVED)
    assert (entry.text, entry.author, entry.at) == ("Archived: duplicate of #12", user, incident.archived_at)
    assert entry.changes["archive_reason"] == {"old": "", "new": "duplicate of #12"}


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_archiving_needs_a_short_reason(incident, reason):
    with pytest.raises(ValidationError) as error:
        services.incident_archive(incident=incident, reason=reason)

    assert "reason" in error.value.message_dict
    incident.refresh_from_db()
    assert not incident.is_archived and not incident.timeline.filter(kind="archived").exists()


def test_archiving_twice_is_refused_and_keeps_the_first(archived, user):
    first_at = archived.archived_at

    with pytest.raises(ValidationError, match="already archived"):
        services.incident_archive(incident=archived, reason="filed by mistake", by=user)

    archived.refresh_from_db()
    assert (archived.archived_at, archived.archive_reason) == (first_at, "duplicate of #1")
    assert archived.timeline.filter(kind="archived").count() == 1


def test_restoring_clears_the_archive_and_the_timeline_keeps_both(archived, user):
    services.incident_unarchive(incident=archived, by=user)

    archived.refresh_from_db()
    assert (archived.archived_at, archived.archived_by, archived.archive_reason) == (None, None, "")
    kinds = list(archived.timeline.filter(kind__in=["archived", "restored"]).values_list("kind", flat=True))
    assert kinds == ["archived", "restored"]
    assert "duplicate of #1" in archived.timeline.get(kind="restored").text


def test_restoring_one_that_isnt_archived_is_refused(incident):
    with pytest.raises(ValidationError, match="isn't archived"):
        services.incident_unarchive(incident=incident)


# --- Pages -------------------------------------------------------------------------------------------


def test_archive_button_archives_with_the_reason(logged_in, incident, user):
    page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert f'action="/incidents/{incident.pk}/archive/"' in page and 'name="reason"' in page

    response = logged_in.post(f"/incidents/{incident.pk}/archive/", {"reason": "filed by mistake"}, follow=True)

    assert response.redirect_chain == [(f"/incidents/{incident.pk}/", 302)]
    incident.refresh_from_db()
    assert (incident.archive_reason, incident.archived_by) == ("filed by mistake", user)
    html = response.content.decode()
    assert "archived-notice" in html and "filed by mistake" in html
    assert f'action="/incidents/{incident.pk}/unarchive/"' in html  # Restore
    assert f'action="/incidents/{incident.pk}/archive/"' not in html


def test_archive_without_a_reason_says_so_and_changes_nothing(logged_in, incident):
    response = logged_in.post(f"/incidents/{incident.pk}/archive/", {"reason": " "}, follow=True)

    assert response.status_code == 200
    assert "Say why it is archived" in response.content.decode()
    incident.refresh_from_db()
    assert not incident.is_archived


def test_restore_button_restores(logged_in, archived):
    response = logged_in.post(f"/incidents/{archived.pk}/unarchive/", follow=True)

    assert response.status_code == 200
    archived.refresh_from_db()
    assert not archived.is_archived
    assert "archived-notice" not in response.content.decode()


def test_the_page_of_an_archived_incident_still_works_and_says_so(logged_in, archived):
    response = logged_in.get(f"/incidents/{archived.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Archived" in html and "duplicate of #1" in html and "left out of the monthly numbers" in html


def test_the_postmortem_of_an_archived_incident_says_so(logged_in, archived):
    postmortem_services.postmortem_start(incident=archived)

    response = logged_in.get(f"/incidents/{archived.pk}/postmortem/")

    assert response.status_code == 200
    assert "archived-notice" in response.content.decode()


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_and_restore_are_post_only(logged_in, archived, action):
    assert logged_in.get(f"/incidents/{archived.pk}/{action}/").status_code == 405


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_and_restore_need_a_login(client, incident, archived, action):
    target = incident if action == "archive" else archived

    response = client.post(f"/incidents/{target.pk}/{action}/", {"reason": "filed by mistake"})

    assert response.status_code == 302 and "/login" in response["Location"]
    target.refresh_from_db()
    assert target.is_archived == (action == "unarchive")


def test_archive_needs_the_csrf_token(user, incident):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post(f"/incidents/{incident.pk}/archive/", {"reason": "filed by mistake"})

    assert response.status_code == 403
    incident.refresh_from_db()
    assert not incident.is_archived


def test_archive_of_an_unknown_incident_is_a_404(logged_in):
    assert logged_in.post("/incidents/999999/archive/", {"reason": "x"}).status_code == 404


def listed_on_page(client, query="") -> set[int]:
    response = client.get(f"/incidents/{query}")
    assert response.status_code == 200
    return pks(response.context["page"])


def test_the_list_hides_archived_incidents_unless_asked(logged_in, incident, archived):
    assert listed_on_page(logged_in) == {incident.pk}
    assert listed_on_page(logged_in, "?severity=3") == {incident.pk}
    assert listed_on_page(logged_in, "?archived=false") == {incident.pk}
    assert listed_on_page(logged_in, "?archived=true") == {archived.pk}
    assert listed_on_page(logged_in, "?archived=all") == {incident.pk, archived.pk}
    assert listed_on_page(logged_in, "?archived=perhaps") == set()
    html = logged_in.get("/incidents/?archived=all").content.decode()
    assert 'name="archived"' in html and '<option value="all" selected>' in html
    assert html.count(">archived</span>") == 1


# --- API ---------------------------------------------------------------------------------------------


def test_api_archive_and_unarchive(api, user, incident):
    response = api.post(f"/api/incidents/{incident.pk}/archive/", {"reason": "duplicate of #12"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["archived"], body["archived_by"], body["archive_reason"]) == (True, user.username, "duplicate of #12")
    assert body["archived_at"].endswith("Z")
    assert incident.timeline.filter(kind="archived", author=user).exists()

    response = api.post(f"/api/incidents/{incident.pk}/unarchive/", format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["archived"], body["archived_at"], body["archived_by"], body["archive_reason"]) == (
        False,
        None,
        None,
        "",
    )


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_api_archive_without_a_reason_is_a_400(api, incident, body):
    response = api.post(f"/api/incidents/{incident.pk}/archive/", body, format="json")

    assert response.status_code == 400
    assert "Say why it is archived" in response.json()["reason"][0]
    incident.refresh_from_db()
    assert not incident.is_archived


def test_api_archive_of_an_archived_one_is_a_400_with_a_message(api, archived):
    response = api.post(f"/api/incidents/{archived.pk}/archive/", {"reason": "again"}, format="json")

    assert response.status_code == 400
    assert "already archived" in response.json()["archived"][0]


def test_api_unarchive_of_one_not_archived_is_a_400_with_a_message(api, incident):
    response = api.post(f"/api/incidents/{incident.pk}/unarchive/", format="json")

    assert response.status_code == 400
    assert response.json() == {"archived": [f"Incident #{incident.pk} isn't archived."]}


def test_api_archive_refuses_unknown_keys(api, incident):
    response = api.post(f"/api/incidents/{incident.pk}/archive/", {"reason": "x", "hard": True}, format="json")

    assert response.status_code == 400 and "hard" in response.json()


def test_api_archive_needs_authentication(incident):
    from rest_framework.test import APIClient

    response = APIClient().post(f"/api/incidents/{incident.pk}/archive/", {"reason": "x"}, format="json")

    assert response.status_code in (401, 403)
    incident.refresh_from_db()
    assert not incident.is_archived


def test_api_delete_of_an_incident_is_a_405_pointing_to_archive(api, incident):
    response = api.delete(f"/api/incidents/{incident.pk}/")

    assert response.status_code == 405
    detail = response.json()["detail"]
    assert "never deleted" in detail and f"/api/incidents/{incident.pk}/archive/" in detail
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_api_delete_of_a_postmortem_is_a_405_pointing_to_archive(api, incident):
    postmortem, _ = postmortem_services.postmortem_start(incident=incident)

    response = api.delete(f"/api/postmortems/{postmortem.pk}/")

    assert response.status_code == 405
    assert f"/api/incidents/{incident.pk}/archive/" in response.json()["detail"]
    assert PostMortem.objects.filter(pk=postmortem.pk).exists()


def test_api_archive_fields_cant_be_patched(api, incident):
    response = api.patch(f"/api/incidents/{incident.pk}/", {"archived_at": "2024-03-05T10:00:00Z"}, format="json")

    assert response.status_code == 400
    assert "/archive/" in response.json()["archived_at"][0]


def api_listed(api, path, query="") -> set[int]:
    response = api.get(f"{path}{query}")
    assert response.status_code == 200, response.content
    return pks(response.json()["results"])


def test_api_list_hides_archived_incidents_unless_asked(api, incident, archived):
    assert api_listed(api, "/api/incidents/") == {incident.pk}
    assert api_listed(api, "/api/incidents/", "?archived=false") == {incident.pk}
    assert api_listed(api, "/api/incidents/", "?archived=true") == {archived.pk}
    assert api_listed(api, "/api/incidents/", "?archived=all") == {incident.pk, archived.pk}
    assert api.get("/api/incidents/?archived=perhaps").status_code == 400


def test_api_retrieve_of_an_archived_incident_works(api, archived):
    response = api.get(f"/api/incidents/{archived.pk}/")

    assert response.status_code == 200
    assert response.json()["archived"] is True


def test_api_postmortems_of_archived_incidents_are_hidden_unless_asked(api, incident, archived):
    kept, _ = postmortem_services.postmortem_start(incident=incident)
    gone, _ = postmortem_services.postmortem_start(incident=archived)

    assert api_listed(api, "/api/postmortems/") == {kept.pk}
    assert api_listed(api, "/api/postmortems/", "?archived=true") == {gone.pk}
    assert api_listed(api, "/api/postmortems/", "?archived=all") == {kept.pk, gone.pk}
    response = api.get(f"/api/postmortems/{gone.pk}/")
    assert response.status_code == 200 and response.json()["archived"] is True


# --- Reports -------------------------------------------------------------------------------------------


def test_archived_incidents_are_not_counted_in_the_monthly_numbers(user):
    """Known answer: two real incidents (MTTR 10 and 30 minutes) and a duplicate filed by mistake that
    was never resolved and one resolved after 10 hours; archived, neither counts."""

    def filed(detected_minutes, resolved_minutes):
        detected = T0 + dt.timedelta(minutes=detected_minutes)
        return IncidentFactory(
            started_at=T0,
            detected_at=detected,
            resolved_at=detected + dt.timedelta(minutes=resolved_minutes) if resolved_minutes is not None else None,
        )

    filed(0, 10)
    filed(2, 30)
    for mistake in (filed(0, 600), filed(1, None)):
        services.incident_archive(incident=mistake, reason="filed by mistake", by=user)

    march = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), filters=Filters()).periods[0]

    assert (march.incidents, march.unresolved_incidents) == (2, 0)
    assert march.mttr_seconds.mean == 20 * 60
    assert march.mttr_seconds.median == 20 * 60
    assert march.mttd_seconds.mean == 60


def test_a_deploy_that_caused_only_an_archived_incident_is_no_failed_change(user, logged_in):
    """Known answer: three production deploys in March; one caused a real incident, one caused only
    a duplicate that was archived. Change failure rate 1/3, in the report and the deploy log."""
    from deploys.factories import DeployFactory
    from incidents.models import IncidentDeploy

    real_cause, archived_cause, clean = (DeployFactory(deployed_at=T0 - dt.timedelta(hours=h)) for h in (1, 2, 3))
    real, duplicate = IncidentFactory(started_at=T0), IncidentFactory(started_at=T0)
    IncidentDeploy.objects.create(incident=real, deploy=real_cause, relation="cause")
    IncidentDeploy.objects.create(incident=duplicate, deploy=archived_cause, relation="cause")
    services.incident_archive(incident=duplicate, reason="duplicate of the other", by=user)

    march = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1)).periods[0]

    assert (march.deploys, march.failed_deploys, march.change_failure_rate) == (3, 1, 1 / 3)
    page = logged_in.get("/deploys/?production=true&failed_change=true").context["page"]
    assert [deploy.pk for deploy in page] == [real_cause.pk]


def test_a_restored_incident_counts_again(user):
    incident = IncidentFactory(started_at=T0, detected_at=T0, resolved_at=T0 + dt.timedelta(minutes=5))
    services.incident_archive(incident=incident, reason="filed by mistake", by=user)
    services.incident_unarchive(incident=incident, by=user)

    march = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1)).periods[0]

    assert (march.incidents, march.mttr_seconds.mean) == (1, 300)


def test_the_dashboard_links_to_a_list_without_the_archived_incident(logged_in, user):
    kept = IncidentFactory(started_at=T0, detected_at=T0)
    gone = IncidentFactory(started_at=T0, detected_at=T0)
    services.incident_archive(incident=gone, reason="duplicate", by=user)

    row = logged_in.get("/?from=2024-03&to=2024-03").context["months"][0]

    assert row.figures.incidents == 1
    assert pks(logged_in.get(row.links["incidents"].url).context["page"]) == {kept.pk}


# --- Admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_can_delete_neither_incidents_nor_postmortems(admin_client, incident, rf, admin_user):
    from django.contrib import admin

    postmortem, _ = postmortem_services.postmortem_start(incident=incident)
    request = rf.get("/admin/")
    request.user = admin_user
    for model in (Incident, PostMortem):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_delete_permission(request)
        assert "delete_selected" not in model_admin.get_actions(request)
    assert admin_client.get(f"/admin/incidents/incident/{incident.pk}/delete/").status_code == 403
    assert admin_client.get(f"/admin/postmortems/postmortem/{postmortem.pk}/delete/").status_code == 403
    response = admin_client.post(
        "/admin/incidents/incident/", {"action": "delete_selected", "_selected_action": [incident.pk], "post": "yes"}
    )
    assert Incident.objects.filter(pk=incident.pk).exists() and PostMortem.objects.filter(pk=postmortem.pk).exists()
    assert response.status_code in (200, 302)


def test_admin_shows_the_archive_but_doesnt_change_it(admin_client, archived):
    response = admin_client.get(f"/admin/incidents/incident/{archived.pk}/change/")

    assert response.status_code == 200
    assert "duplicate of #1" in response.content.decode()
    assert "archive_reason" not in response.context["adminform"].form.fields
