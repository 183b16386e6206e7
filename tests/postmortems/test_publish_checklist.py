"""#15.8: a publish checklist — blame language in the saved text, empty sections, remediations
without an owner or a due date, no causing deploy and no reason stated — shown before publishing,
each with a link to fix it; publishing anyway needs an explicit confirmation, on the pages and over
the API (which also has a dry run)."""

import pytest
from django.urls import reverse

from incidents.factories import IncidentDeployFactory
from postmortems import selectors, services
from postmortems.factories import (
    ContributingFactorFactory,
    PostMortemFactorFactory,
    PostMortemFactory,
    RemediationFactory,
)
from postmortems.models import PostMortem

pytestmark = pytest.mark.django_db

WRITTEN = {name: f"Written: {name}." for name in PostMortem.SECTION_FIELDS}


@pytest.fixture
def careless():
    """The post-mortem of the issue: blame, two empty sections, a remediation without an owner."""
    postmortem = PostMortemFactory(
        **WRITTEN | {"went_poorly": "Bob broke it because he was careless.", "got_lucky": "", "surprised": "  "}
    )
    RemediationFactory(postmortem=postmortem, owner_name="", due_date=None, description="Add a cache check")
    return postmortem


@pytest.fixture
def ready():
    postmortem = PostMortemFactory(**WRITTEN)
    RemediationFactory(postmortem=postmortem)
    IncidentDeployFactory(incident=postmortem.incident)
    PostMortemFactorFactory(postmortem=postmortem, factor=ContributingFactorFactory(slug="change"))
    return postmortem


def test_the_checklist_names_each_problem_with_a_link_to_fix_it(careless):
    problems = selectors.publish_checklist(careless)
    by_code = {}
    for problem in problems:
        by_code.setdefault(problem.code, []).append(problem)

    assert set(by_code) == {
        "blame_language",
        "empty_section",
        "remediation_without_owner",
        "remediation_without_due_date",
        "no_contributing_factor",
        "no_causing_deploy",
    }
    edit = reverse("postmortems:edit", args=[careless.incident_id])
    blame = by_code["blame_language"]
    assert [p.field for p in blame] == ["went_poorly"]
    assert "careless" in blame[0].message and "Bob broke" in blame[0].message
    assert blame[0].fix_url == f"{edit}#id_went_poorly"
    assert [(p.field, p.fix_url) for p in by_code["empty_section"]] == [
        ("got_lucky", f"{edit}#id_got_lucky"),
        ("surprised", f"{edit}#id_surprised"),
    ]
    remediation = careless.remediations.get()
    assert by_code["remediation_without_owner"][0].fix_url == reverse(
        "postmortems:remediation_edit", args=[remediation.pk]
    )
    assert "Add a cache check" in by_code["remediation_without_due_date"][0].message
    assert by_code["no_causing_deploy"][0].fix_url == f"{edit}#id_no_cause_reason"
    assert by_code["no_contributing_factor"][0].fix_url == f"{edit}#edit-factors"


def test_a_causing_deploy_or_a_stated_reason_and_finished_work_leave_nothing_to_check(ready, careless):
    assert selectors.publish_checklist(ready) == []

    services.postmortem_save(
        postmortem=careless, changes={"no_cause_reason": "A certificate expired; no deploy."}, base_version=1
    )
    careless.refresh_from_db()
    # The reason is shown with the write-up and in its export.
    assert "- **No deploy caused it:** A certificate expired; no deploy." in selectors.postmortem_markdown(careless)
    assert "no_causing_deploy" not in {p.code for p in selectors.publish_checklist(careless)}
    # Done and won't-do remediations need neither an owner nor a due date any more.
    careless.remediations.update(status="done")
    assert {p.code for p in selectors.publish_checklist(careless)} == {
        "blame_language",
        "empty_section",
        "no_contributing_factor",
    }


def test_publishing_from_the_page_asks_first_then_publishes_when_confirmed(logged_in, careless):
    page = reverse("postmortems:detail", args=[careless.incident_id])
    shown = logged_in.get(page).content.decode()
    assert 'id="publish-checklist"' in shown
    assert f'href="{reverse("postmortems:edit", args=[careless.incident_id])}#id_got_lucky"' in shown
    assert "Publish anyway" in shown

    data = {"status": "published", "base_version": careless.version}
    refused = logged_in.post(reverse("postmortems:status", args=[careless.incident_id]), data, follow=True)
    careless.refresh_from_db()
    assert careless.status == "draft"
    assert "Tick “Publish anyway”" in refused.content.decode()

    logged_in.post(reverse("postmortems:status", args=[careless.incident_id]), data | {"publish_anyway": "on"})
    careless.refresh_from_db()
    assert careless.status == "published"
    # The published page shows no checklist.
    assert 'id="publish-checklist"' not in logged_in.get(page).content.decode()


def test_a_post_mortem_with_nothing_to_check_publishes_in_one_click(logged_in, ready):
    assert 'id="publish-checklist"' not in logged_in.get(ready.get_absolute_url()).content.decode()
    logged_in.post(
        reverse("postmortems:status", args=[ready.incident_id]), {"status": "published", "base_version": ready.version}
    )
    ready.refresh_from_db()
    assert ready.status == "published"


def test_the_api_has_a_dry_run_and_publishes_over_problems_only_when_confirmed(api, careless):
    checklist = api.get(f"/api/postmortems/{careless.pk}/checklist/")
    assert checklist.status_code == 200
    body = checklist.json()
    assert body["ready"] is False
    assert {p["code"] for p in body["problems"]} >= {"blame_language", "empty_section", "no_causing_deploy"}
    assert all(set(p) == {"code", "message", "field", "remediation", "fix_url"} for p in body["problems"])
    assert body["problems"][0]["fix_url"].startswith("http://testserver/")

    refused = api.post(f"/api/postmortems/{careless.pk}/status/", {"status": "published"}, format="json")
    assert refused.status_code == 400
    assert [p["code"] for p in refused.json()["checklist"]] == [p["code"] for p in body["problems"]]
    assert "confirm" in refused.json()
    careless.refresh_from_db()
    assert careless.status == "draft"

    published = api.post(
        f"/api/postmortems/{careless.pk}/status/", {"status": "published", "confirm": True}, format="json"
    )
    assert published.status_code == 200 and published.json()["status"] == "published"


def test_the_api_publishes_a_ready_post_mortem_without_confirming(api, ready):
    assert api.get(f"/api/postmortems/{ready.pk}/checklist/").json() == {"ready": True, "problems": []}
    published = api.post(f"/api/postmortems/{ready.pk}/status/", {"status": "published"}, format="json")
    assert published.status_code == 200, published.content


@pytest.mark.parametrize("confirm", ["no", "false", "0", 0, 1, "yes", "on", ""])
def test_confirm_takes_true_or_false_only(api, careless, confirm):
    """`"confirm": "no"` read as DRF reads it ("no" → false, but "yes"/1 → true) published past the
    checklist in one case and not the other; only JSON true or false is a confirmation, the rest a 400."""
    response = api.post(
        f"/api/postmortems/{careless.pk}/status/", {"status": "published", "confirm": confirm}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert response.json()["confirm"] == ["Must be a valid boolean."]
    careless.refresh_from_db()
    assert careless.status == "draft"


def test_confirm_false_is_the_same_as_leaving_it_out(api, careless):
    response = api.post(
        f"/api/postmortems/{careless.pk}/status/", {"status": "published", "confirm": False}, format="json"
    )

    assert response.status_code == 400
    assert "checklist" in response.json()
    careless.refresh_from_db()
    assert careless.status == "draft"
