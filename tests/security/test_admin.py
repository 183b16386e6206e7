"""Issue #14, findings 3 and 6: the admin keeps the rules the pages and the API keep.

Each test drives the real admin URLs with Django's test client, logged in as a superuser: the change
forms, the delete pages, the bulk "Delete selected" action and the inlines' delete checkboxes."""

import html

import pytest
from django.test import Client

from deploys.factories import DeployFactory, ServiceFactory
from deploys.models import ChangeRecord, Deploy, DeployCommit, OutboxMessage, Service
from deploys.services import ingest_token_create
from incidents.factories import IncidentFactory
from integrations.factories import DeliveryFactory
from postmortems import services as postmortem_services
from postmortems.factories import RemediationFactory
from postmortems.models import PostMortem, PostMortemRevision, Remediation
from tests.support.admin import change_form_data, delete_selected
from tests.support.roles import responder

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _started(**content) -> PostMortem:
    postmortem, _ = postmortem_services.postmortem_start(incident=IncidentFactory())
    if content:
        postmortem = postmortem_services.postmortem_save(
            postmortem=postmortem, changes=content, base_version=postmortem.version
        )
    return postmortem


def _published(**content) -> PostMortem:
    postmortem = _started(**content)
    RemediationFactory(postmortem=postmortem, status=Remediation.Status.OPEN)
    return postmortem_services.postmortem_set_status(postmortem=postmortem, status=PostMortem.Status.PUBLISHED)


def _admin_url(postmortem: PostMortem) -> str:
    return f"/admin/postmortems/postmortem/{postmortem.pk}/change/"


def _editor_data(postmortem: PostMortem, base_version: int, **overrides) -> dict:
    data = {name: getattr(postmortem, name) for name in PostMortem.SECTION_FIELDS}
    data.update(facilitator=postmortem.facilitator, meeting_date="", no_action_reason="", base_version=base_version)
    data.update(overrides)
    return data


# --- Finding 3: an admin edit of a post-mortem is a version with its revision ----------------------


def test_an_admin_edit_of_a_postmortem_bumps_the_version_and_keeps_a_revision(admin_client, admin_user):
    """#14.3: the admin saved without bumping the version or writing a revision."""
    postmortem = _started(summary="Checkout failed.")
    assert postmortem.version == 2
    data = change_form_data(admin_client, _admin_url(postmortem))
    data["summary"] = "Checkout failed for card payments."

    response = admin_client.post(_admin_url(postmortem), data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    postmortem.refresh_from_db()
    assert postmortem.version == 3
    assert postmortem.updated_by == admin_user
    revision = postmortem.revisions.get(version=3)
    assert revision.saved_by == admin_user
    assert revision.content["summary"] == "Checkout failed for card payments."


def test_a_web_editor_who_opened_the_previous_version_gets_a_conflict_after_an_admin_edit(admin_client, user):
    """#14.3: a web editor who opened version 2 overwrote the admin's later text, which no revision kept."""
    postmortem = _started(summary="Checkout failed.")
    web = Client()
    web.force_login(user)
    opened = web.get(f"/incidents/{postmortem.incident_id}/postmortem/edit/").context["form"]["base_version"].value()
    data = change_form_data(admin_client, _admin_url(postmortem))
    data["summary"] = "The admin's summary."
    assert admin_client.post(_admin_url(postmortem), data).status_code == 302

    response = web.post(
        f"/incidents/{postmortem.incident_id}/postmortem/edit/",
        _editor_data(postmortem, opened, impact="1,200 customers."),
    )

    assert response.status_code == 409
    assert response.context["conflict"] is not None
    saved = PostMortem.objects.get()
    assert (saved.summary, saved.impact) == ("The admin's summary.", "")
    assert response.context["form"]["summary"].value() == "The admin's summary."


def test_an_api_client_on_the_previous_version_gets_a_409_after_an_admin_edit(admin_client, api):
    """#14.3: the same for the API: a PATCH on the version before the admin's edit is a conflict."""
    postmortem = _started(summary="Checkout failed.")
    data = change_form_data(admin_client, _admin_url(postmortem))
    data["summary"] = "The admin's summary."
    assert admin_client.post(_admin_url(postmortem), data).status_code == 302

    response = api.patch(f"/api/postmortems/{postmortem.pk}/", {"version": 2, "impact": "Many."}, format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 3
    assert PostMortem.objects.get().summary == "The admin's summary."


def test_an_admin_edit_on_a_stale_version_is_refused_with_a_message(admin_client, user):
    """#14.3: the admin's own edit doesn't silently overwrite a save made after it opened the page."""
    postmortem = _started(summary="Checkout failed.")
    data = change_form_data(admin_client, _admin_url(postmortem))
    postmortem_services.postmortem_save(
        postmortem=postmortem, changes={"impact": "Web text."}, base_version=postmortem.version, by=user
    )
    data["summary"] = "The admin's late summary."

    response = admin_client.post(_admin_url(postmortem), data)

    assert response.status_code == 200
    assert "after you started editing" in str(response.context["adminform"].form.non_field_errors())
    saved = PostMortem.objects.get()
    assert (saved.summary, saved.impact, saved.version) == ("Checkout failed.", "Web text.", 3)
    # Saving the page again, knowing, is a new version on top of the web editor's.
    assert response.context["adminform"].form["base_version"].value() == "3"
    again = dict(data, base_version="3")
    assert admin_client.post(_admin_url(postmortem), again).status_code == 302
    assert PostMortem.objects.get().version == 4


def test_the_admin_cannot_set_a_postmortems_version_status_or_add_one(admin_client):
    """#14.3: the version and the publish rule aren't the admin form's to set."""
    postmortem = _started()
    page = admin_client.get(_admin_url(postmortem)).content.decode()

    for name in ("version", "status", "published_at", "updated_at", "updated_by"):
        assert f'name="{name}' not in page, name
    assert admin_client.get("/admin/postmortems/postmortem/add/").status_code == 403


# --- Finding 6: revisions, deploys, remediations, services --------------------------------------


def test_postmortem_revisions_are_read_only_in_the_admin(admin_client):
    """#14.6: /admin/.../postmortemrevision/add/ let anyone with the admin forge history."""
    postmortem = _started(summary="One.")
    revision = postmortem.revisions.get(version=2)
    base = "/admin/postmortems/postmortemrevision/"
    forged = {"postmortem": postmortem.pk, "version": 9, "content": '{"summary": "forged"}', "saved_at_0": ""}

    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}add/", forged).status_code == 403
    assert admin_client.post(f"{base}{revision.pk}/change/", forged).status_code == 403
    assert admin_client.post(f"{base}{revision.pk}/delete/", {"post": "yes"}).status_code == 403
    delete_selected(admin_client, base, [revision.pk])
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}{revision.pk}/change/").status_code == 200  # viewing
    assert sorted(postmortem.revisions.values_list("version", flat=True)) == [1, 2]


def test_deploys_and_their_commits_cannot_be_deleted_in_the_admin(admin_client):
    """#14.6: deploys could be hard-deleted in the admin, singly and in bulk (the API never deletes one)."""
    deploy, other = DeployFactory(), DeployFactory()
    commit = DeployCommit.objects.create(deploy=deploy, sha="a" * 40)

    assert admin_client.post(f"/admin/deploys/deploy/{deploy.pk}/delete/", {"post": "yes"}).status_code == 403
    delete_selected(admin_client, "/admin/deploys/deploy/", [deploy.pk, other.pk])
    assert admin_client.post(f"/admin/deploys/deploycommit/{commit.pk}/delete/", {"post": "yes"}).status_code == 403
    delete_selected(admin_client, "/admin/deploys/deploycommit/", [commit.pk])
    # The inline's delete checkbox, forged.
    data = change_form_data(admin_client, f"/admin/deploys/deploy/{deploy.pk}/change/")
    data["commits-0-DELETE"] = "on"
    admin_client.post(f"/admin/deploys/deploy/{deploy.pk}/change/", data)

    assert Deploy.objects.count() == 2
    assert DeployCommit.objects.filter(pk=commit.pk).exists()


def test_an_outbox_message_cannot_be_deleted_in_the_admin(admin_client):
    """#14.6: deleting the record of a sent notice would let a replayed task send it twice."""
    message = OutboxMessage.objects.create(kind="deploy_chat", key="deploy:1:chat", status=OutboxMessage.Status.SENT)
    base = "/admin/deploys/outboxmessage/"

    assert admin_client.post(f"{base}{message.pk}/delete/", {"post": "yes"}).status_code == 403
    delete_selected(admin_client, base, [message.pk])

    assert OutboxMessage.objects.filter(pk=message.pk).exists()


def test_change_records_cannot_be_deleted_in_the_admin(admin_client):
    """#14.6: the API never deletes a change record; the admin didn't either ask."""
    record = ChangeRecord.objects.create(title="Add an index", owner="sam", planned_at=DeployFactory().deployed_at)

    assert admin_client.post(f"/admin/deploys/changerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    delete_selected(admin_client, "/admin/deploys/changerecord/", [record.pk])

    assert ChangeRecord.objects.filter(pk=record.pk).exists()


@pytest.mark.parametrize("status", [Remediation.Status.DONE, Remediation.Status.WONT_DO])
def test_a_done_or_wont_do_remediation_of_a_published_postmortem_is_not_deleted_in_the_admin(admin_client, status):
    """#14.6: a done remediation of a published post-mortem could be deleted, directly and through the inline."""
    postmortem = _published()
    kept = RemediationFactory(postmortem=postmortem, status=status, wont_do_reason="Replaced by the new queue.")
    base = "/admin/postmortems/remediation/"

    single = admin_client.post(f"{base}{kept.pk}/delete/", {"post": "yes"})
    bulk = delete_selected(admin_client, base, [kept.pk])
    data = change_form_data(admin_client, _admin_url(postmortem))
    row = next(key for key, value in data.items() if key.endswith("-id") and value == str(kept.pk))
    data[row.replace("-id", "-DELETE")] = "on"
    inline = admin_client.post(_admin_url(postmortem), data)

    assert Remediation.objects.filter(pk=kept.pk).exists()
    assert single.status_code in (200, 403)
    assert bulk.status_code == 200 and "can't be deleted" in html.unescape(bulk.content.decode())
    assert inline.status_code == 200 and "can't be deleted" in html.unescape(inline.content.decode())


def test_an_open_remediation_of_a_draft_postmortem_is_still_deleted_in_the_admin(admin_client):
    """#14.6: the admin keeps the API's rule, not a stricter one: a mistake can still be removed."""
    postmortem = _started()
    first, second = RemediationFactory(postmortem=postmortem), RemediationFactory(postmortem=postmortem)

    assert admin_client.post(f"/admin/postmortems/remediation/{first.pk}/delete/", {"post": "yes"}).status_code == 302
    delete_selected(admin_client, "/admin/postmortems/remediation/", [second.pk])

    assert not Remediation.objects.exists()


def test_a_service_in_use_is_not_deleted_in_the_admin_but_can_be_archived(admin_client):
    """#14.6: deleting a service silently dropped it from its incidents, with no timeline entry."""
    used = ServiceFactory(slug="checkout")
    incident = IncidentFactory(services=[used])
    base = "/admin/deploys/service/"

    single = admin_client.post(f"{base}{used.pk}/delete/", {"post": "yes"})
    bulk = delete_selected(admin_client, base, [used.pk])

    assert Service.objects.filter(pk=used.pk).exists()
    assert list(incident.services.values_list("slug", flat=True)) == ["checkout"]
    assert single.status_code in (200, 403) and bulk.status_code == 200
    assert "archive it instead" in html.unescape(bulk.content.decode())
    admin_client.post(base, {"action": "archive", "_selected_action": [str(used.pk)]})
    used.refresh_from_db()
    assert used.archived_at is not None
    assert list(incident.services.values_list("slug", flat=True)) == ["checkout"]


@pytest.mark.parametrize("use", ["deploy", "token"])
def test_a_service_with_deploys_or_a_token_scoped_to_it_is_not_deleted_in_the_admin(admin_client, use):
    """#14.6: deleting a token's only service would have widened the token to every service."""
    service = ServiceFactory(slug="checkout")
    if use == "deploy":
        DeployFactory(service=service)
    else:
        ingest_token_create(name="ci", services=[service])

    delete_selected(admin_client, "/admin/deploys/service/", [service.pk])

    assert Service.objects.filter(pk=service.pk).exists()


def test_an_unused_service_is_still_deleted_in_the_admin(admin_client):
    """#14.6: a service made by a typo, never used, can go."""
    ServiceFactory(slug="chekout")

    response = delete_selected(admin_client, "/admin/deploys/service/", [Service.objects.get().pk])

    assert response.status_code == 302
    assert not Service.objects.exists()


def test_revisions_written_by_the_admin_show_in_the_history(admin_client, admin_user):
    """#14.3: the admin's edit is in the history page like anyone's."""
    postmortem = _started(summary="One.")
    data = change_form_data(admin_client, _admin_url(postmortem))
    data["impact"] = "Two."
    admin_client.post(_admin_url(postmortem), data)
    viewer = Client()
    viewer.force_login(responder(type(admin_user).objects.create_user(username="sam")))

    page = viewer.get(f"/incidents/{postmortem.incident_id}/postmortem/history/")

    assert page.status_code == 200
    assert admin_user.username in page.content.decode()
    assert PostMortemRevision.objects.filter(postmortem=postmortem, saved_by=admin_user, version=3).exists()


def test_an_incidents_services_are_not_changed_by_a_forged_admin_post(admin_client):
    """#14.6: an incident's services change only where the timeline records it (the page, the API)."""
    incident = IncidentFactory(services=[ServiceFactory(slug="web")])
    other = ServiceFactory(slug="api")
    url = f"/admin/incidents/incident/{incident.pk}/change/"
    data = change_form_data(admin_client, url)
    data["services"] = [str(other.pk)]
    data["title"] = "Renamed"

    assert admin_client.post(url, data).status_code == 302

    assert list(incident.services.values_list("slug", flat=True)) == ["web"]
    assert list(incident.timeline.filter(kind="edit").values_list("text", flat=True)) == ["Title edited."]


def test_a_remediation_edited_in_the_admin_keeps_the_publish_rule_and_the_done_time(admin_client):
    """#14.6: the admin let the last remediation of a published post-mortem be marked won't do, and
    marked one done without the time it was done (what "done on time" is counted from)."""
    postmortem = _published()
    last = postmortem.remediations.get()
    url = f"/admin/postmortems/remediation/{last.pk}/change/"
    data = change_form_data(admin_client, url)
    data.update(status="wont_do", wont_do_reason="Too costly.")

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "last remediation of a published post-mortem" in html.unescape(refused.content.decode())
    assert Remediation.objects.get(pk=last.pk).status == "open"
    data.update(status="done", wont_do_reason="")
    assert admin_client.post(url, data).status_code == 302
    assert Remediation.objects.get(pk=last.pk).completed_at is not None


def test_a_remediation_edited_through_the_postmortems_inline_keeps_the_publish_rule(admin_client):
    """#14.6: the same rule through the remediations inline of the post-mortem's admin page."""
    postmortem = _published()
    last = postmortem.remediations.get()
    data = change_form_data(admin_client, _admin_url(postmortem))
    row = next(key for key, value in data.items() if key.endswith("-id") and value == str(last.pk))
    data[row.replace("-id", "-status")] = "wont_do"
    data[row.replace("-id", "-wont_do_reason")] = "Too costly."

    refused = admin_client.post(_admin_url(postmortem), data)

    assert refused.status_code == 200
    assert "last remediation of a published post-mortem" in html.unescape(refused.content.decode())
    assert Remediation.objects.get(pk=last.pk).status == "open"
    data[row.replace("-id", "-status")] = "done"
    data[row.replace("-id", "-wont_do_reason")] = ""
    assert admin_client.post(_admin_url(postmortem), data).status_code == 302
    assert Remediation.objects.get(pk=last.pk).completed_at is not None


def test_an_environment_or_integration_in_use_is_not_deleted_in_the_admin(admin_client):
    """#14.6 (a guard, held already): what deploys, deliveries and alerts refer to stays."""
    deploy = DeployFactory()
    delivery = DeliveryFactory()

    delete_selected(admin_client, "/admin/deploys/environment/", [deploy.environment_id])
    delete_selected(admin_client, "/admin/integrations/integration/", [delivery.integration_id])

    assert type(deploy.environment).objects.filter(pk=deploy.environment_id).exists()
    assert type(delivery.integration).objects.filter(pk=delivery.integration_id).exists()
