"""Contributing factors (issue 17): the taxonomy admins keep, the editor's picker, the API field and
/api/factors/, the ?factor= filters, the pages and the Markdown export, the publish checklist."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.factories import IncidentFactory
from postmortems import selectors, services
from postmortems.factories import ContributingFactorFactory, PostMortemFactorFactory
from postmortems.models import ContributingFactor, PostMortem, PostMortemFactor

pytestmark = pytest.mark.django_db


@pytest.fixture
def change():
    return ContributingFactorFactory(slug="change", defaults={"name": "Change or deploy", "position": 10})


@pytest.fixture
def monitoring():
    return ContributingFactorFactory(slug="monitoring-gap", defaults={"name": "Monitoring gap", "position": 50})


@pytest.fixture
def legacy():
    """An archived factor."""
    return ContributingFactorFactory(slug="legacy-hosting", name="Legacy hosting", archived_at=timezone.now())


@pytest.fixture
def postmortem():
    return services.postmortem_start(incident=IncidentFactory(title="Checkout returns 502"))[0]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _save_factors(postmortem: PostMortem, entries: list[dict]) -> PostMortem:
    postmortem.refresh_from_db()
    return services.postmortem_save(
        postmortem=postmortem, changes={services.FACTORS: entries}, base_version=postmortem.version
    )


def _editor_data(postmortem: PostMortem, **extra) -> dict:
    """The editor's form as the browser posts it back unchanged, plus `extra`."""
    postmortem.refresh_from_db()
    data = {name: getattr(postmortem, name) or "" for name in services.POSTMORTEM_EDITABLE}
    data.pop("no_action_needed")
    data["meeting_date"] = ""
    data["base_version"] = postmortem.version
    for link in postmortem.factor_links.select_related("factor"):
        data[f"factor-{link.factor.slug}"] = "on"
        data[f"factor-{link.factor.slug}-note"] = link.note
    data.update(extra)
    return data


# --- Admin ----------------------------------------------------------------------------------------


def test_admin_lists_factors_with_how_many_post_mortems_name_them(admin_client, postmortem, change, legacy):
    PostMortemFactorFactory(postmortem=postmortem, factor=change)

    page = admin_client.get("/admin/postmortems/contributingfactor/")

    assert page.status_code == 200
    rows = {row.slug: row for row in page.context["cl"].result_list}
    assert rows["change"].in_use_count == 1
    assert rows["legacy-hosting"].in_use_count == 0
    assert "Post-mortems naming it" in page.content.decode()


def test_admin_archives_and_restores_factors(admin_client, change, monitoring):
    url = "/admin/postmortems/contributingfactor/"
    response = admin_client.post(url, {"action": "archive", "_selected_action": [change.pk, monitoring.pk]})
    assert response.status_code == 302
    assert (
        ContributingFactor.objects.filter(archived_at__isnull=False, slug__in=["change", "monitoring-gap"]).count() == 2
    )

    admin_client.post(url, {"action": "restore", "_selected_action": [change.pk]})
    change.refresh_from_db()
    monitoring.refresh_from_db()
    assert change.archived_at is None
    assert monitoring.archived_at is not None


def test_admin_delete_page_refuses_a_factor_in_use_and_says_why(admin_client, postmortem, change):
    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    url = f"/admin/postmortems/contributingfactor/{change.pk}/delete/"

    page = admin_client.get(url)
    assert page.status_code == 200
    assert "is named by 1 post-mortem, so it can&#x27;t be deleted: archive it instead" in page.content.decode()

    posted = admin_client.post(url, {"post": "yes"})
    assert posted.status_code == 200
    assert ContributingFactor.objects.filter(pk=change.pk).exists()


def test_admin_bulk_delete_refuses_when_any_factor_is_in_use(admin_client, postmortem, change, monitoring):
    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    data = {"action": "delete_selected", "_selected_action": [change.pk, monitoring.pk]}

    page = admin_client.post("/admin/postmortems/contributingfactor/", data)
    assert page.status_code == 200
    assert "archive it instead" in page.content.decode()

    confirmed = admin_client.post("/admin/postmortems/contributingfactor/", {**data, "post": "yes"})
    assert confirmed.status_code == 200
    assert ContributingFactor.objects.filter(pk__in=[change.pk, monitoring.pk]).count() == 2


def test_admin_delete_when_the_factor_is_named_meanwhile_says_why_and_keeps_it(
    admin_client, postmortem, change, monkeypatch
):
    # The admin's check passes (nobody names it yet); a post-mortem names it before the delete itself.
    real_refusal = services.factor_delete_refusal
    checks = []

    def refusal_after_a_save_meanwhile(*, factor):
        checks.append(factor.pk)
        if len(checks) == 1:
            return None
        PostMortemFactor.objects.get_or_create(postmortem=postmortem, factor=change)
        return real_refusal(factor=factor)

    monkeypatch.setattr(services, "factor_delete_refusal", refusal_after_a_save_meanwhile)
    url = f"/admin/postmortems/contributingfactor/{change.pk}/delete/"

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert "archive it instead" in response.content.decode()
    assert ContributingFactor.objects.filter(pk=change.pk).exists()


def test_admin_deletes_a_factor_nobody_named(admin_client, legacy):
    response = admin_client.post(f"/admin/postmortems/contributingfactor/{legacy.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ContributingFactor.objects.filter(pk=legacy.pk).exists()


def test_the_service_refuses_to_delete_a_factor_in_use(postmortem, change):
    PostMortemFactorFactory(postmortem=postmortem, factor=change)

    with pytest.raises(services.ValidationError, match="archive it instead"):
        services.factor_delete(factor=change)
    assert ContributingFactor.objects.filter(pk=change.pk).exists()


# --- Saving (services) ----------------------------------------------------------------------------


def test_saving_factors_makes_a_version_whose_revision_keeps_them(postmortem, change, monitoring):
    saved = _save_factors(
        postmortem, [{"factor": "monitoring-gap", "note": "No alert on 5xx"}, {"factor": "change", "note": ""}]
    )

    assert saved.version == 2
    # In the taxonomy's order, whatever order they were sent in.
    expected = [{"factor": "change", "note": ""}, {"factor": "monitoring-gap", "note": "No alert on 5xx"}]
    assert saved.factor_list() == expected
    assert saved.revisions.get(version=2).content["factors"] == expected
    diff = selectors.unified_diffs(
        saved.revisions.get(version=1).content, saved.revisions.get(version=2).content, old_label="1", new_label="2"
    )
    assert "+monitoring-gap: No alert on 5xx" in diff["factors"]


def test_the_history_page_shows_the_factors_changing(logged_in, postmortem, change):
    _save_factors(postmortem, [{"factor": "change", "note": "Flag flipped"}])

    page = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/history/")

    changed = [diff for diff in page.context["diffs"] if diff.changed]
    assert [diff.heading for diff in changed] == ["Contributing factors (picked)"]
    assert "change:&nbsp;Flag&nbsp;flipped" in changed[0].html


def test_api_conflict_on_factors_is_a_409_with_the_diff(api, postmortem, change, monitoring):
    _save_factors(postmortem, [{"factor": "change", "note": "Theirs"}])

    response = api.patch(
        f"/api/postmortems/{postmortem.pk}/",
        {"version": 1, "factors": [{"factor": "monitoring-gap", "note": "Mine"}]},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["current"]["factors"] == [{"factor": "change", "note": "Theirs"}]
    assert "-change: Theirs" in body["diff"]["factors"] and "+monitoring-gap: Mine" in body["diff"]["factors"]
    assert PostMortem.objects.get().factor_list() == [{"factor": "change", "note": "Theirs"}]


def test_saving_the_same_factors_again_makes_no_version(postmortem, change):
    _save_factors(postmortem, [{"factor": "change", "note": "Flag flipped"}])

    again = _save_factors(postmortem, [{"factor": "change", "note": " Flag flipped "}])

    assert again.version == 2


def test_an_archived_factor_stays_on_the_post_mortem_that_names_it(postmortem, change, legacy):
    PostMortemFactorFactory(postmortem=postmortem, factor=legacy, note="The old rack")

    saved = _save_factors(postmortem, [{"factor": "legacy-hosting", "note": "The old rack"}, {"factor": "change"}])

    assert [entry["factor"] for entry in saved.factor_list()] == ["change", "legacy-hosting"]


def test_an_archived_factor_is_not_added_to_another_post_mortem(postmortem, legacy):
    with pytest.raises(services.ValidationError) as error:
        _save_factors(postmortem, [{"factor": "legacy-hosting", "note": ""}])

    assert "archived" in error.value.message_dict["factors"][0]
    assert not PostMortemFactor.objects.exists()
    assert PostMortem.objects.get().version == 1


# --- The editor -----------------------------------------------------------------------------------


def test_the_editor_offers_active_factors_and_the_archived_ones_already_named(logged_in, postmortem, change, legacy):
    url = f"/incidents/{postmortem.incident_id}/postmortem/edit/"
    page = logged_in.get(url).content.decode()
    assert 'name="factor-change"' in page
    assert 'name="factor-legacy-hosting"' not in page

    PostMortemFactorFactory(postmortem=postmortem, factor=legacy, note="The old rack")
    page = logged_in.get(url).content.decode()
    assert 'name="factor-legacy-hosting"' in page
    assert 'value="The old rack"' in page
    assert "archived" in page


def test_the_editor_saves_ticked_factors_with_their_notes(logged_in, postmortem, change, monitoring):
    url = f"/incidents/{postmortem.incident_id}/postmortem/edit/"
    data = _editor_data(
        postmortem,
        **{"factor-change": "on", "factor-change-note": "Flag flipped for all", "factor-monitoring-gap": "on"},
    )

    response = logged_in.post(url, data)

    assert response.status_code == 302
    postmortem.refresh_from_db()
    assert postmortem.version == 2
    assert postmortem.factor_list() == [
        {"factor": "change", "note": "Flag flipped for all"},
        {"factor": "monitoring-gap", "note": ""},
    ]
    detail = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/").content.decode()
    assert "Change or deploy" in detail and "Flag flipped for all" in detail


def test_the_editor_keeps_an_archived_factor_when_saved_unchanged(logged_in, postmortem, legacy):
    PostMortemFactorFactory(postmortem=postmortem, factor=legacy, note="The old rack")

    response = logged_in.post(
        f"/incidents/{postmortem.incident_id}/postmortem/edit/", _editor_data(postmortem, summary="Shorter.")
    )

    assert response.status_code == 302
    postmortem.refresh_from_db()
    assert postmortem.version == 2
    assert postmortem.factor_list() == [{"factor": "legacy-hosting", "note": "The old rack"}]


def test_a_note_too_long_is_an_error_beside_it_and_nothing_is_saved(logged_in, postmortem, change):
    data = _editor_data(postmortem, **{"factor-change": "on", "factor-change-note": "x" * 501})

    response = logged_in.post(f"/incidents/{postmortem.incident_id}/postmortem/edit/", data)

    assert response.status_code == 200
    assert "factor-change-note" in response.context["form"].errors
    assert PostMortem.objects.get().version == 1
    assert not PostMortemFactor.objects.exists()


def test_a_note_without_its_tick_is_an_error_not_lost(logged_in, postmortem, change):
    data = _editor_data(postmortem, **{"factor-change-note": "Flag flipped"})

    response = logged_in.post(f"/incidents/{postmortem.incident_id}/postmortem/edit/", data)

    assert response.status_code == 200
    assert "Tick “Change or deploy” to keep this note" in str(response.context["form"].errors)


def test_an_editor_conflict_on_factors_saves_nothing_and_shows_theirs(logged_in, postmortem, change, monitoring):
    opened = _editor_data(postmortem)
    _save_factors(postmortem, [{"factor": "change", "note": "Theirs"}])

    response = logged_in.post(
        f"/incidents/{postmortem.incident_id}/postmortem/edit/",
        {**opened, "factor-monitoring-gap": "on", "factor-monitoring-gap-note": "Mine"},
    )

    assert response.status_code == 409
    postmortem.refresh_from_db()
    assert postmortem.version == 2
    assert postmortem.factor_list() == [{"factor": "change", "note": "Theirs"}]
    page = response.content.decode()
    assert "Their factors, in the current version" in page
    assert "change: Theirs" in page
    # The editor comes back with this person's choice, on top of the current version.
    form = response.context["form"]
    assert form.initial["factor-monitoring-gap"] is True
    assert form.initial["base_version"] == 2


# --- Pages, print, export, checklist --------------------------------------------------------------


def test_print_view_and_markdown_export_show_factors_with_notes(logged_in, postmortem, change, legacy):
    PostMortemFactorFactory(postmortem=postmortem, factor=change, note="Flag *flipped* | for all")
    PostMortemFactorFactory(postmortem=postmortem, factor=legacy, note="")

    printed = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/print/").content.decode()
    exported = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/export.md").content.decode()

    assert "Change or deploy" in printed and "Flag *flipped* | for all" in printed
    section = exported.split("## Contributing factors", 1)[1].split("## What went well", 1)[0]
    assert "- **Change or deploy**: Flag \\*flipped\\* \\| for all" in section
    assert "- **Legacy hosting (archived)**" in section
    # The free-text narrative is still there, under the list.
    assert "_Not written._" in section


def test_the_publish_checklist_warns_when_no_factor_is_picked(postmortem, change):
    codes = [problem.code for problem in selectors.publish_checklist(postmortem)]
    assert "no_contributing_factor" in codes

    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    codes = [problem.code for problem in selectors.publish_checklist(postmortem)]
    assert "no_contributing_factor" not in codes


# --- API ------------------------------------------------------------------------------------------


def _patch(api, postmortem, factors):
    postmortem.refresh_from_db()
    return api.patch(
        f"/api/postmortems/{postmortem.pk}/", {"version": postmortem.version, "factors": factors}, format="json"
    )


def test_api_reads_and_writes_factors(api, postmortem, change, monitoring):
    response = _patch(api, postmortem, [{"factor": "monitoring-gap", "note": "Found by customers"}])

    assert response.status_code == 200, response.content
    assert response.json()["factors"] == [{"factor": "monitoring-gap", "note": "Found by customers"}]
    assert response.json()["version"] == 2
    assert api.get(f"/api/postmortems/{postmortem.pk}/").json()["factors"] == response.json()["factors"]

    cleared = _patch(api, postmortem, [])
    assert cleared.status_code == 200
    assert cleared.json()["factors"] == []


@pytest.mark.parametrize(
    ("factors", "expected"),
    [
        ([{"factor": "nope"}], "No contributing factor “nope”."),
        ([{"factor": "legacy-hosting"}], "is archived"),
        ([{"factor": "change"}, {"factor": "change", "note": "again"}], "is named twice"),
        ([{"factor": "change", "note": "x" * 501}], "no more than 500 characters"),
        ([{"factor": "change", "note": "two\nlines"}], "line"),
        ([{"factor": "change", "colour": "red"}], "Unknown field"),
        ([{"factor": {"nested": ["deep"]}}], "Not a valid string"),
        ("change", "Expected a list"),
        ([{"factor": "change"}] * 51, "no more than 50"),
    ],
)
def test_api_refuses_bad_factors_under_the_field(api, postmortem, change, legacy, factors, expected):
    response = _patch(api, postmortem, factors)

    assert response.status_code == 400, response.content
    assert "factors" in response.json()
    assert expected in str(response.json()["factors"])
    assert PostMortem.objects.get().version == 1
    assert not PostMortemFactor.objects.exists()


def test_api_huge_and_odd_input_costs_about_what_plain_input_costs(api, postmortem, change):
    odd = "\u202e\u0301\U0001f525" * 150  # right-to-left override, combining accent, emoji: 450 code points
    response = _patch(api, postmortem, [{"factor": "change", "note": odd}])
    assert response.status_code == 200, response.content
    assert response.json()["factors"][0]["note"] == odd

    started = time.monotonic()
    huge = _patch(api, postmortem, [{"factor": "x" * 100_000, "note": "y" * 1_000_000}] * 50)
    long = _patch(api, postmortem, [{"factor": "x" * 1000, "note": "y" * 5000}] * 40)
    assert long.status_code == 400 and "factors" in long.json()
    many = _patch(api, postmortem, [{"factor": f"f{n}"} for n in range(100_000)])
    deep = api.patch(
        f"/api/postmortems/{postmortem.pk}/",
        '{"version": 2, "factors": ' + "[" * 5000 + "]" * 5000 + "}",
        content_type="application/json",
    )
    assert time.monotonic() - started < 5
    # Over the body limit is a 413; the rest a 400 naming the field.
    assert huge.status_code in (400, 413) and many.status_code == 400 and deep.status_code == 400
    assert PostMortem.objects.get().version == 2


def test_api_factors_lists_the_taxonomy_with_the_archived_flag(client, viewer, postmortem, change, legacy):
    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    client.force_login(viewer)

    everything = client.get("/api/factors/").json()
    rows = {row["slug"]: row for row in everything["results"]}
    assert rows["change"] == {
        "slug": "change",
        "name": "Change or deploy",
        "description": change.description,
        "position": change.position,
        "archived": False,
        "archived_at": None,
        "postmortems": 1,
    }
    assert rows["legacy-hosting"]["archived"] is True

    active = [row["slug"] for row in client.get("/api/factors/?archived=false").json()["results"]]
    archived = [row["slug"] for row in client.get("/api/factors/?archived=true").json()["results"]]
    assert "change" in active and "legacy-hosting" not in active
    assert archived == ["legacy-hosting"]
    assert client.get("/api/factors/?archived=perhaps").status_code == 400
    assert client.get("/api/factors/legacy-hosting/").json()["archived"] is True


def test_api_factors_writes_are_for_admins_only(api, change):
    assert api.post("/api/factors/", {"slug": "new", "name": "New"}, format="json").status_code == 403
    assert api.patch("/api/factors/change/", {"name": "Renamed"}, format="json").status_code == 403
    assert api.post("/api/factors/change/archive/").status_code == 403
    assert api.delete("/api/factors/change/").status_code == 403
    assert ContributingFactor.objects.get(slug="change").name == "Change or deploy"


@pytest.fixture
def admin_api(admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_admins_keep_the_taxonomy_over_the_api(admin_api, postmortem, change):
    created = admin_api.post(
        "/api/factors/", {"slug": "vendor-change", "name": "Vendor change", "position": 35}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["slug"] == "vendor-change" and created.json()["archived"] is False

    renamed = admin_api.patch("/api/factors/vendor-change/", {"description": "A provider changed."}, format="json")
    assert renamed.status_code == 200 and renamed.json()["description"] == "A provider changed."

    archived = admin_api.post("/api/factors/vendor-change/archive/")
    assert archived.json()["archived"] is True
    assert admin_api.post("/api/factors/vendor-change/restore/").json()["archived"] is False

    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    refused = admin_api.delete("/api/factors/change/")
    assert refused.status_code == 400 and "archive it instead" in refused.json()["factor"][0]
    assert admin_api.delete("/api/factors/vendor-change/").status_code == 204
    assert not ContributingFactor.objects.filter(slug="vendor-change").exists()


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/api/factors/", {"slug": "change", "name": "Another"}, "slug"),
        ("post", "/api/factors/", {"slug": "other", "name": "CHANGE OR DEPLOY"}, "name"),
        ("post", "/api/factors/", {"slug": "not a slug", "name": "Spaces"}, "slug"),
        ("post", "/api/factors/", {"slug": "x", "name": "x" * 81}, "name"),
        ("post", "/api/factors/", {"slug": "x", "name": "X", "archived": True}, "archived"),
        ("patch", "/api/factors/change/", {"slug": "renamed"}, "slug"),
        ("patch", "/api/factors/change/", {"position": -1}, "position"),
        ("patch", "/api/factors/change/", {"name": "two\nlines"}, "name"),
    ],
)
def test_api_factor_writes_refuse_bad_input_by_field(admin_api, change, method, url, body, field):
    response = getattr(admin_api, method)(url, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert ContributingFactor.objects.get(slug="change").name == "Change or deploy"


# --- Filters --------------------------------------------------------------------------------------


@pytest.fixture
def named(change, monitoring):
    """Three post-mortems: one naming change, one naming the monitoring gap, one naming nothing."""
    by_change = services.postmortem_start(incident=IncidentFactory(title="By change"))[0]
    by_gap = services.postmortem_start(incident=IncidentFactory(title="By gap"))[0]
    services.postmortem_start(incident=IncidentFactory(title="By nothing"))
    PostMortemFactorFactory(postmortem=by_change, factor=change)
    PostMortemFactorFactory(postmortem=by_gap, factor=monitoring)
    PostMortemFactorFactory(postmortem=by_gap, factor=change)
    return by_change, by_gap


def _titles(rows) -> set[str]:
    return {row["incident_title"] if "incident_title" in row else row["title"] for row in rows}


def test_the_factor_filter_on_the_post_mortem_api_and_page(api, logged_in, named):
    assert _titles(api.get("/api/postmortems/?factor=monitoring-gap").json()["results"]) == {"By gap"}
    # Any of them, each post-mortem once.
    both = api.get("/api/postmortems/?factor=monitoring-gap&factor=change").json()["results"]
    assert sorted(row["incident_title"] for row in both) == ["By change", "By gap"]
    assert _titles(api.get("/api/postmortems/?factor=change,monitoring-gap").json()["results"]) == {
        "By change",
        "By gap",
    }
    unknown = api.get("/api/postmortems/?factor=nope")
    assert unknown.status_code == 400 and "factor" in unknown.json()

    page = logged_in.get("/postmortems/?factor=monitoring-gap")
    assert [p.incident.title for p in page.context["page"]] == ["By gap"]
    # Each row lists the factors it names, linked to the list of those naming each.
    assert '<a href="?factor=monitoring-gap" title="Every post-mortem naming it">Monitoring gap</a>' in (
        page.content.decode()
    )


def test_the_factor_filter_on_the_incident_api_and_page(api, logged_in, named):
    rows = api.get("/api/incidents/?factor=change").json()["results"]
    assert sorted(row["title"] for row in rows) == ["By change", "By gap"]
    assert _titles(api.get("/api/incidents/?factor=monitoring-gap").json()["results"]) == {"By gap"}
    assert api.get("/api/incidents/?factor=nope").status_code == 400

    page = logged_in.get("/incidents/?factor=monitoring-gap")
    assert [incident.title for incident in page.context["page"]] == ["By gap"]
    assert 'name="factor"' in page.content.decode()


def _queries(api, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return len(queries)


def test_lists_make_the_same_number_of_queries_however_many_factors(api, logged_in, change, monitoring):
    def add(count):
        for _ in range(count):
            postmortem = services.postmortem_start(incident=IncidentFactory())[0]
            PostMortemFactorFactory(postmortem=postmortem, factor=change, note="n")
            PostMortemFactorFactory(postmortem=postmortem, factor=monitoring, note="m")

    def count_all():
        return [
            _queries(api, "/api/postmortems/?factor=change"),
            _queries(api, "/api/incidents/?factor=change,monitoring-gap"),
            _queries(api, "/api/factors/"),
            _queries(logged_in, "/postmortems/?factor=change"),
            _queries(logged_in, "/incidents/?factor=monitoring-gap"),
        ]

    add(2)
    few = count_all()
    add(8)
    many = count_all()

    assert few == many


def test_the_post_mortem_page_shows_factors_in_a_fixed_number_of_queries(
    logged_in, postmortem, change, monitoring, django_assert_max_num_queries
):
    url = f"/incidents/{postmortem.incident_id}/postmortem/"
    PostMortemFactorFactory(postmortem=postmortem, factor=change)
    with CaptureQueriesContext(connection) as one:
        logged_in.get(url)
    PostMortemFactorFactory(postmortem=postmortem, factor=monitoring)
    with django_assert_max_num_queries(len(one)):
        page = logged_in.get(url)
    assert "Monitoring gap" in page.content.decode()


# --- Demo data ------------------------------------------------------------------------------------


def test_the_demo_names_factors_with_notes_change_most_often_then_monitoring_gaps():
    from postmortems.demo import seed_postmortems
    from tests.support.demo import NOW, seed_deploys_and_incidents
    from tests.support.factors import seed_default_factors

    seed_default_factors()
    seed_deploys_and_incidents()
    seed_postmortems(now=NOW)

    counts = {
        factor.slug: factor.postmortem_links.count()
        for factor in ContributingFactor.objects.filter(postmortem_links__isnull=False).distinct()
    }
    others = [count for slug, count in counts.items() if slug not in ("change", "monitoring-gap")]
    assert counts["change"] >= counts["monitoring-gap"] > max(others)
    assert len(counts) >= 5
    assert not PostMortem.objects.filter(status="published", factor_links__isnull=True).exists()
    assert PostMortemFactor.objects.exclude(note="").count() > PostMortemFactor.objects.filter(note="").count()
    # The history shows the factors being picked: the first draft has none, the latest has them.
    published = PostMortem.objects.filter(status="published").first()
    assert published.revisions.get(version=1).content["factors"] == []
    assert published.revisions.get(version=published.version).content["factors"] == published.factor_list()


def test_admin_adds_a_factor_and_refuses_a_name_taken_in_another_case(admin_client, change):
    url = "/admin/postmortems/contributingfactor/add/"
    taken = admin_client.post(url, {"name": "change OR deploy", "slug": "other", "position": 5})
    assert taken.status_code == 200
    assert "already has this name" in str(taken.context["adminform"].form.errors["name"])

    added = admin_client.post(url, {"name": "Vendor change", "slug": "vendor-change", "position": 5})
    assert added.status_code == 302
    assert ContributingFactor.objects.get(slug="vendor-change").name == "Vendor change"
    # The slug stays once made: revisions and links name it.
    page = admin_client.get(f"/admin/postmortems/contributingfactor/{change.pk}/change/")
    assert "slug" not in page.context["adminform"].form.fields


def test_the_incident_page_shows_its_post_mortems_factors_in_a_fixed_number_of_queries(
    logged_in, postmortem, change, monitoring
):
    _save_factors(postmortem, [{"factor": "change", "note": "the v2 <b>config</b> rollout"}])
    url = f"/incidents/{postmortem.incident_id}/"
    with CaptureQueriesContext(connection) as one:
        page = logged_in.get(url).content.decode()
    assert "Contributing factors" in page and "Change or deploy" in page
    assert "?factor=change" in page and "the v2 &lt;b&gt;config&lt;/b&gt; rollout" in page
    for n in range(6):
        ContributingFactorFactory(slug=f"extra-{n}")
    _save_factors(
        postmortem,
        [{"factor": "change", "note": ""}, {"factor": "monitoring-gap", "note": ""}]
        + [{"factor": f"extra-{n}", "note": ""} for n in range(6)],
    )
    with CaptureQueriesContext(connection) as many:
        page = logged_in.get(url).content.decode()
    assert "Monitoring gap" in page and "?factor=extra-5" in page
    assert len(many) == len(one)


def test_the_incident_page_without_a_post_mortem_shows_no_factors(logged_in):
    incident = IncidentFactory()
    page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Contributing factors" not in page
