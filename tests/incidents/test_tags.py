"""Incident tags (issue 17): the cleaner, the service, the form, the list filter and chips, the API
(`tags`, `?tag=`, /api/tags/), the Markdown export, the admin's Tag page and the timeline."""

import time

import pytest
from django.core.exceptions import ValidationError
from taggit.models import Tag

from incidents import services
from incidents.factories import IncidentFactory
from incidents.models import Incident, TaggedIncident, TimelineEntry
from incidents.services import TAG_MAX_LENGTH, TAGS_MAX, clean_tags
from postmortems import selectors as postmortem_selectors
from postmortems import services as postmortem_services
from tests.support.incidents import edit_data_from_page, incident_edit_data

pytestmark = pytest.mark.django_db


def _tagged(*names: str, **kwargs) -> Incident:
    incident = IncidentFactory(**kwargs)
    if names:
        services.incident_update(incident=incident, changes={"tags": list(names)})
    return incident


def _names(incident: Incident) -> list[str]:
    return Incident.objects.get(pk=incident.pk).tag_names


def _refused(values) -> list[str]:
    with pytest.raises(ValidationError) as error:
        clean_tags(values)
    return error.value.message_dict["tags"]


# --- The cleaner ------------------------------------------------------------------------------------


def test_cleaner_trims_collapses_whitespace_and_drops_empty_tags():
    assert clean_tags("  dns ,  black   friday,,\u00a0 , db\u3000cache ") == ["dns", "black friday", "db cache"]


def test_cleaner_keeps_the_first_spelling_of_case_insensitive_repeats():
    assert clean_tags(["DNS", "dns", "Dns ", "database"]) == ["DNS", "database"]
    # casefold, not lower: "STRASSE" and "straße" are one tag.
    assert clean_tags(["straße", "STRASSE"]) == ["straße"]


def test_cleaner_normalizes_to_nfc_so_composed_and_decomposed_are_one_tag():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert clean_tags([decomposed, composed]) == [composed]


@pytest.mark.parametrize(
    "char",
    [
        "\u200b",  # zero-width space (Cf)
        "\u202e",  # right-to-left override (Cf)
        "\u2066",  # left-to-right isolate (Cf)
        "\u00ad",  # soft hyphen (Cf)
        "\ufeff",  # byte order mark (Cf)
        "\x07",  # bell (Cc)
        "\x00",  # null (Cc)
        "\t",  # tab inside a tag (Cc)
        "\u2028",  # line separator (Zl)
        "\u2029",  # paragraph separator (Zp)
    ],
)
def test_cleaner_refuses_control_invisible_and_format_characters(char):
    messages = _refused([f"d{char}ns"])

    assert len(messages) == 1
    assert f"U+{ord(char):04X}" in messages[0]
    assert "invisible or control character" in messages[0]
    assert char not in messages[0]  # shown as �, so the message itself displays honestly


def test_cleaner_trims_outer_newlines_but_refuses_inner_ones():
    assert clean_tags(["\ndns\n"]) == ["dns"]
    assert "U+000A" in _refused(["d\nns"])[0]


def test_cleaner_refuses_a_tag_over_50_characters_and_takes_exactly_50():
    assert clean_tags(["x" * TAG_MAX_LENGTH]) == ["x" * TAG_MAX_LENGTH]
    message = _refused(["x" * (TAG_MAX_LENGTH + 1)])[0]
    assert "51 characters; keep a tag to 50" in message


def test_cleaner_refuses_more_than_20_tags_counting_repeats_once():
    assert len(clean_tags([f"t{n}" for n in range(TAGS_MAX)] + ["T0", "t1"])) == TAGS_MAX
    assert _refused([f"t{n}" for n in range(TAGS_MAX + 1)]) == [f"At most {TAGS_MAX} tags on an incident (21 given)."]


def test_cleaner_refuses_a_comma_inside_a_listed_tag():
    assert "has a comma" in _refused(["dns,db"])[0]


def test_cleaner_on_10000_characters_answers_briefly_and_fast():
    started = time.perf_counter()
    messages = _refused("y" * 10_000)
    huge_list = _refused(["\u202e" + "z" * 10_000] * 1_000)
    elapsed = time.perf_counter() - started

    assert messages == ["“yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…” is 10,000 characters; keep a tag to 50."]
    assert len(huge_list) == 6 and huge_list[-1] == "And 995 more tags like these."
    assert all(len(message) < 200 for message in messages + huge_list)
    assert elapsed < 2


def test_cleaner_takes_odd_but_visible_unicode():
    names = ["🔥 on fire", "данные", "データベース", "e\u0301té", "ℌ𝔢𝔩𝔩𝔬"]
    assert clean_tags(names) == ["🔥 on fire", "данные", "データベース", "\u00e9té", "ℌ𝔢𝔩𝔩𝔬"]


# --- The service ------------------------------------------------------------------------------------


def test_create_with_tags_stores_them_and_an_existing_spelling_wins():
    Tag.objects.create(name="dns")
    incident, created = services.incident_create(
        data=services.IncidentInput(
            title="Resolver timeouts", started_at=IncidentFactory.build().started_at, tags=["DNS", "Black-Friday"]
        )
    )

    assert created
    assert _names(incident) == ["Black-Friday", "dns"]
    assert Tag.objects.filter(name__iexact="dns").count() == 1


def test_create_with_a_bad_tag_files_nothing():
    data = services.IncidentInput(title="x", started_at=IncidentFactory.build().started_at, tags=["ok", "b\u200bad"])

    with pytest.raises(ValidationError) as error:
        services.incident_create(data=data)

    assert list(error.value.message_dict) == ["tags"]
    assert not Incident.objects.exists()


def test_tag_changes_are_recorded_in_the_timeline_like_other_fields():
    incident = _tagged("dns")

    services.incident_update(incident=incident, changes={"tags": ["dns", "database"]})
    services.incident_update(incident=incident, changes={"tags": ["DNS", "database"]})  # same tags: no entry

    entries = list(incident.timeline.filter(kind=TimelineEntry.Kind.EDIT).order_by("id"))
    assert [entry.changes for entry in entries] == [
        {"tags": {"old": [], "new": ["dns"]}},
        {"tags": {"old": ["dns"], "new": ["database", "dns"]}},
    ]
    assert entries[1].text == "Tags changed from dns to database, dns."
    assert _names(incident) == ["database", "dns"]


def test_removing_every_tag_is_recorded_and_leaves_the_tag_for_others():
    incident = _tagged("dns")
    other = _tagged("dns")

    services.incident_update(incident=incident, changes={"tags": []})

    assert _names(incident) == [] and _names(other) == ["dns"]
    assert incident.timeline.latest("id").text == "Tags changed from dns to —."


# --- Queryset filter --------------------------------------------------------------------------------


def test_tagged_finds_incidents_with_any_of_the_tags_in_any_case_once_each():
    dns = _tagged("dns", "database")
    db = _tagged("database")
    _tagged("cache")
    IncidentFactory()

    assert set(Incident.objects.tagged(["DNS", "Database"])) == {dns, db}
    assert Incident.objects.tagged(["dns", "database"]).count() == 2
    assert not Incident.objects.tagged(["nosuchtag"]).exists()
    assert Incident.objects.tagged([]).count() == 4


# --- Pages ------------------------------------------------------------------------------------------


def test_new_incident_form_files_comma_separated_tags(logged_in):
    response = logged_in.post(
        "/incidents/new/",
        {
            "title": "Checkout 502",
            "severity": "2",
            "started_at": "2024-07-01T10:00",
            "detected_by": "monitoring",
            "tags": "payments,  Third-Party , payments",
        },
    )

    assert response.status_code == 302
    incident = Incident.objects.get()
    assert incident.tag_names == ["payments", "Third-Party"]


def test_new_incident_form_shows_a_per_field_error_and_keeps_what_was_typed(logged_in):
    typed = "dns, " + "q" * 10_000
    response = logged_in.post(
        "/incidents/new/",
        {"title": "x", "severity": "3", "started_at": "2024-07-01T10:00", "detected_by": "monitoring", "tags": typed},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"tags": [f"“{'q' * 30}…” is 10,000 characters; keep a tag to 50."]}
    assert not Incident.objects.exists()


def test_edit_form_shows_the_tags_and_saves_a_change(logged_in):
    incident = _tagged("dns", "cache")
    page = logged_in.get(f"/incidents/{incident.pk}/edit/")
    assert 'value="cache, dns"' in page.content.decode()
    assert 'data-tag-suggestions="/api/tags/"' in page.content.decode()

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", incident_edit_data(incident, tags="cache, kafka"))

    assert response.status_code == 302
    assert _names(incident) == ["cache", "kafka"]


def test_a_stale_edit_keeps_tags_someone_else_changed_meanwhile(logged_in):
    incident = _tagged("dns", title="Resolver down")
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")
    services.incident_update(incident=incident, changes={"tags": ["dns", "database"]})

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, title="Resolver slow"))

    assert response.status_code == 302
    assert _names(incident) == ["database", "dns"]


def test_a_stale_edit_of_the_tags_someone_else_changed_is_refused(logged_in):
    incident = _tagged("dns")
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")
    services.incident_update(incident=incident, changes={"tags": ["dns", "database"]})

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, tags="dns, cache"))

    assert response.status_code == 200
    assert "Someone changed Tags after you opened this form" in response.content.decode()
    assert _names(incident) == ["database", "dns"]


def test_retyping_a_tag_in_another_case_is_no_change(logged_in):
    incident = _tagged("dns")
    opened = logged_in.get(f"/incidents/{incident.pk}/edit/")

    response = logged_in.post(f"/incidents/{incident.pk}/edit/", edit_data_from_page(opened, tags="DNS"))

    assert response.status_code == 302
    assert _names(incident) == ["dns"]
    assert incident.timeline.filter(kind=TimelineEntry.Kind.EDIT).count() == 1  # the first tagging only


def test_the_timeline_on_the_page_shows_the_old_and_new_tags(logged_in):
    incident = _tagged("dns")
    services.incident_update(incident=incident, changes={"tags": ["dns", "database"]})

    page = logged_in.get(f"/incidents/{incident.pk}/")

    rows = [row for entry in page.context["timeline_days"][0][1] for row in entry.change_rows]
    assert ("Tags", "dns", "database, dns") in rows


def test_detail_page_and_list_rows_show_tags_as_chips_linking_to_the_filtered_list(logged_in):
    incident = _tagged("black friday", "dns")

    detail = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    listing = logged_in.get("/incidents/").content.decode()

    for html in (detail, listing):
        assert '<a class="tag-chip" href="/incidents/?tag=black%20friday"' in html
        assert '<a class="tag-chip" href="/incidents/?tag=dns"' in html
    assert '<script src="/static/opslog/tags.js' in listing


def test_list_page_filters_by_any_tag_in_any_case(logged_in):
    dns = _tagged("dns", title="Resolver down")
    db = _tagged("database", title="Primary failover")
    _tagged("cache", title="Cache stampede")

    page = logged_in.get("/incidents/?tag=DNS&tag=database")

    assert set(page.context["page"].object_list) == {dns, db}
    assert logged_in.get("/incidents/?tag=dns,database").context["page"].paginator.count == 2
    unknown = logged_in.get("/incidents/?tag=nosuchtag")
    assert unknown.status_code == 200 and unknown.context["page"].paginator.count == 0


def test_list_page_refuses_too_many_tag_names_with_a_message(logged_in):
    response = logged_in.get("/incidents/?" + "&".join(f"tag=t{n}" for n in range(21)))

    assert response.status_code == 200
    assert "Give at most 20 tags (21 given)." in response.content.decode()


def test_list_page_query_count_is_the_same_for_one_row_and_many(logged_in, django_assert_max_num_queries):
    _tagged("dns", "database")
    with django_assert_max_num_queries(50) as one:
        logged_in.get("/incidents/")
    for n in range(15):
        _tagged("dns", f"tag-{n}", "cache")
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = logged_in.get("/incidents/")
    assert response.content.decode().count('class="tag-chip"') == 2 + 15 * 3


# --- API --------------------------------------------------------------------------------------------


def test_api_creates_and_shows_tags(api):
    response = api.post(
        "/api/incidents/",
        {"title": "Kafka lag", "started_at": "2024-07-01T10:00:00Z", "tags": ["kafka", " Kafka ", "queue"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["tags"] == ["kafka", "queue"]


def test_api_patch_replaces_tags_and_records_it(api):
    incident = _tagged("dns")

    response = api.patch(f"/api/incidents/{incident.pk}/", {"tags": ["database"]}, format="json")

    assert response.status_code == 200
    assert response.json()["tags"] == ["database"]
    assert incident.timeline.latest("id").changes == {"tags": {"old": ["dns"], "new": ["database"]}}


@pytest.mark.parametrize(
    "tags, message",
    [
        (["d\u202ens"], "invisible or control character (U+202E)"),
        (["x" * 51], "keep a tag to 50"),
        ([f"t{n}" for n in range(21)], "At most 20 tags"),
        (["a,b"], "has a comma"),
    ],
)
def test_api_bad_tags_are_a_400_naming_the_field(api, tags, message):
    incident = _tagged("dns")

    response = api.patch(f"/api/incidents/{incident.pk}/", {"tags": tags}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["tags"]
    assert message in " ".join(response.json()["tags"])
    assert _names(incident) == ["dns"]


@pytest.mark.parametrize("tags", ["dns", [1, 2], [None], {"a": 1}])
def test_api_tags_of_the_wrong_type_are_a_400(api, tags):
    response = api.post(
        "/api/incidents/", {"title": "x", "started_at": "2024-07-01T10:00:00Z", "tags": tags}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["tags"]


def test_api_list_filters_by_any_tag(api):
    dns = _tagged("dns")
    db = _tagged("Database")
    _tagged("cache")

    ids = [item["id"] for item in api.get("/api/incidents/?tag=dns&tag=database").json()["results"]]
    assert sorted(ids) == sorted([dns.pk, db.pk])
    assert api.get("/api/incidents/?tag=nosuchtag").json()["count"] == 0


def test_api_list_query_count_does_not_grow_with_tagged_rows(api, django_assert_max_num_queries):
    _tagged("dns")
    with django_assert_max_num_queries(50) as one:
        api.get("/api/incidents/?page_size=100")
    for n in range(20):
        _tagged("dns", f"t{n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        body = api.get("/api/incidents/?page_size=100").json()
    assert body["count"] == 21


def test_tags_endpoint_lists_tags_in_use_with_counts_leaving_out_archived_incidents(api):
    _tagged("dns", "database")
    _tagged("dns")
    archived = _tagged("dns", "decommissioned")
    services.incident_archive(incident=archived, reason="duplicate")
    Tag.objects.create(name="unused")

    body = api.get("/api/tags/").json()

    assert body["count"] == 2
    assert [(t["name"], t["incident_count"]) for t in body["results"]] == [("dns", 2), ("database", 1)]
    assert body["results"][0]["incidents_url"].endswith("/api/incidents/?tag=dns")


def test_tags_endpoint_finds_by_prefix_in_any_case_and_pages(api):
    for name in ("database", "Datadog", "dns"):
        _tagged(name)

    assert [t["name"] for t in api.get("/api/tags/?q=DAT").json()["results"]] == ["database", "Datadog"]
    paged = api.get("/api/tags/?page_size=1").json()
    assert paged["count"] == 3 and len(paged["results"]) == 1 and paged["next"]
    assert api.get("/api/tags/?q=" + "x" * 51).status_code == 400


def test_tags_endpoint_needs_a_login(client, viewer):
    assert client.get("/api/tags/").status_code in (401, 403)
    client.force_login(viewer)
    assert client.get("/api/tags/").status_code == 200


# --- Export -----------------------------------------------------------------------------------------


def test_markdown_export_has_a_tags_line():
    incident = _tagged("payments", "dns")
    postmortem, _ = postmortem_services.postmortem_start(incident=incident)

    markdown = postmortem_selectors.postmortem_markdown(postmortem)

    assert "- **Tags:** dns, payments\n" in markdown


# --- Admin ------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_tag_list_shows_usage_counts_and_searches(admin_client):
    _tagged("dns")
    _tagged("dns", "database")

    page = admin_client.get("/admin/taggit/tag/?q=dn")

    assert page.status_code == 200
    rows = {tag.name: tag.incident_count for tag in page.context["cl"].result_list}
    assert rows == {"dns": 2}


def test_admin_refuses_to_delete_a_tag_still_on_incidents(admin_client):
    incident = _tagged("dns", title="Resolver down")
    tag = Tag.objects.get(name="dns")

    page = admin_client.post(f"/admin/taggit/tag/{tag.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        "/admin/taggit/tag/", {"action": "delete_selected", "_selected_action": [tag.pk], "post": "yes"}
    )

    assert page.status_code == 200 and bulk.status_code == 200
    assert f"is on incident #{incident.pk} Resolver down" in page.content.decode()
    assert Tag.objects.filter(pk=tag.pk).exists()
    assert TaggedIncident.objects.filter(tag=tag).count() == 1


def test_admin_deletes_a_tag_no_incident_uses(admin_client):
    tag = Tag.objects.create(name="stale")

    response = admin_client.post(f"/admin/taggit/tag/{tag.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()


def test_admin_renames_a_tag_by_the_same_rules_and_refuses_a_case_twin(admin_client):
    _tagged("dns", "database")
    tag = Tag.objects.get(name="dns")
    url = f"/admin/taggit/tag/{tag.pk}/change/"

    twin = admin_client.post(url, {"name": "DATABASE", "slug": "database-2"})
    invisible = admin_client.post(url, {"name": "d\u200bns", "slug": "dns"})
    renamed = admin_client.post(url, {"name": "  Domain   names ", "slug": "domain-names"})

    assert twin.context["adminform"].form.errors == {
        "name": ["“database” already exists: tags differing only in case are one tag."]
    }
    assert "U+200B" in invisible.context["adminform"].form.errors["name"][0]
    assert renamed.status_code == 302
    assert Tag.objects.get(pk=tag.pk).name == "Domain names"


def test_admin_incident_page_shows_tags_read_only(admin_client):
    incident = _tagged("dns")

    page = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")

    assert "tags" not in page.context["adminform"].form.fields
    assert "dns" in page.content.decode()


# --- Demo data --------------------------------------------------------------------------------------


def test_most_demo_incidents_have_plausible_tags():
    from incidents.demo import TROUBLE_TAGS
    from tests.support.demo import seed_deploys_and_incidents

    seed_deploys_and_incidents()

    incidents = list(Incident.objects.prefetch_related("tags"))
    tagged = [incident for incident in incidents if incident.tag_names]
    known = {name for names in TROUBLE_TAGS.values() for name in names} | {"black-friday", "bad-deploy"}
    used = {name for incident in tagged for name in incident.tag_names}
    assert len(tagged) >= 0.7 * len(incidents)
    assert used <= known and {"bad-deploy", "kafka", "payments"} <= used
    assert all(clean_tags(incident.tag_names) == incident.tag_names for incident in tagged)


@pytest.mark.postgres_only(reason="SQLite's case-insensitive comparison folds ASCII letters only")
def test_non_ascii_tags_are_one_tag_in_any_case_on_postgresql():
    first = _tagged("Données")
    second = _tagged("DONNÉES")

    assert _names(second) == ["Données"]
    assert Incident.objects.tagged(["données"]).count() == 2
    assert [t.name for t in Tag.objects.all()] == ["Données"]
    assert first.pk != second.pk
