"""Change records: Etsy's four questions before a risky change, and attaching them to deploys."""

import ast
import datetime as dt
import html as html_lib
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import ChangeRecord, Deploy
from tests.support.xss import XSS, assert_no_live_script

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _form(**overrides) -> dict:
    data = {
        "title": "Add an index to orders.created_at",
        "owner": "sandrews",
        "planned_at": "2024-07-01T10:00",
        "kind": "schema",
        "service": "",
        "done_before": "Yes, on listings last quarter.",
        "failure_impact": "Writes to orders lock; checkout stalls.",
        "failure_response": "Cancel the migration and drop the half-built index.",
        "description": "",
    }
    data.update(overrides)
    return data


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/deploys/changes/", "/deploys/changes/new/", "/deploys/changes/{pk}/", "/deploys/changes/{pk}/edit/"]
)
def test_every_change_record_page_requires_login(client, url):
    record = ChangeRecordFactory()

    response = client.get(url.format(pk=record.pk))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_posts_change_nothing(client):
    record = ChangeRecordFactory()
    deploy = DeployFactory()

    new = client.post("/deploys/changes/new/", _form())
    edit = client.post(f"/deploys/changes/{record.pk}/edit/", _form(title="Changed"))
    attach = client.post(f"/deploys/{deploy.pk}/change-record/", {"change_record": record.pk})

    assert new.status_code == edit.status_code == attach.status_code == 302
    record.refresh_from_db()
    assert record.title != "Changed"
    assert ChangeRecord.objects.count() == 1
    deploy.refresh_from_db()
    assert deploy.change_record is None


def test_attaching_needs_a_post_with_the_csrf_token(logged_in, user):
    record = ChangeRecordFactory()
    deploy = DeployFactory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    assert logged_in.get(f"/deploys/{deploy.pk}/change-record/?change_record={record.pk}").status_code == 405
    assert strict.post(f"/deploys/{deploy.pk}/change-record/", {"change_record": record.pk}).status_code == 403
    assert strict.post("/deploys/changes/new/", _form()).status_code == 403
    assert strict.post(f"/deploys/changes/{record.pk}/edit/", _form(title="Changed")).status_code == 403
    record.refresh_from_db()
    assert record.title != "Changed"
    deploy.refresh_from_db()
    assert deploy.change_record is None
    assert ChangeRecord.objects.count() == 1


# --- Creating and editing -------------------------------------------------------------------


def test_the_form_asks_the_four_questions_first(logged_in, user):
    html = logged_in.get("/deploys/changes/new/").content.decode()

    questions = [
        "Who is making the change",
        "Have you done this before?",
        "What will happen when it goes wrong?",
        "What will you do when it does go wrong?",
    ]
    positions = [html.index(html_lib.escape(question)) for question in questions]
    assert positions == sorted(positions)
    assert positions[-1] < html.index('name="kind"') < html.index('name="description"')
    assert f'name="owner" value="{user.username}"' in html
    assert 'type="datetime-local" name="planned_at"' in html


def test_creating_a_change_record(logged_in, user):
    ServiceFactory(slug="checkout")

    response = logged_in.post("/deploys/changes/new/", _form(service="checkout"))

    record = ChangeRecord.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deploys/changes/{record.pk}/"
    assert record.title == "Add an index to orders.created_at"
    assert record.service.slug == "checkout"
    assert record.planned_at == dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert record.done_before == "Yes, on listings last quarter."
    assert record.created_by == user


def test_the_time_is_read_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    logged_in.post("/deploys/changes/new/", _form(planned_at="2024-07-01T10:00"))

    assert ChangeRecord.objects.get().planned_at == dt.datetime(2024, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("field", ["title", "owner", "done_before", "failure_impact", "failure_response"])
def test_each_answer_is_required_and_its_error_shown_next_to_it(logged_in, field):
    response = logged_in.post("/deploys/changes/new/", _form(**{field: ""}))

    assert response.status_code == 200
    assert "This field is required." in _field_errors(response.content.decode(), field)
    assert not ChangeRecord.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("planned_at", "0001-01-01T00:00", "Enter a time between 1970 and 2999."),
        ("planned_at", "tomorrow", "Enter a valid date/time."),
        ("kind", "rewrite", "Select a valid choice."),
        ("service", "nope", "Select a valid choice."),
    ],
)
def test_bad_values_are_errors_next_to_their_field_not_500s(logged_in, field, value, message):
    response = logged_in.post("/deploys/changes/new/", _form(**{field: value}))

    assert response.status_code == 200
    assert message in _field_errors(response.content.decode(), field)
    assert not ChangeRecord.objects.exists()


def test_editing_keeps_an_untouched_time_to_the_second(logged_in):
    planned = dt.datetime(2024, 7, 1, 10, 0, 42, tzinfo=UTC)
    record = ChangeRecordFactory(planned_at=planned)

    form = logged_in.get(f"/deploys/changes/{record.pk}/edit/").content.decode()
    response = logged_in.post(
        f"/deploys/changes/{record.pk}/edit/",
        _form(title=record.title, planned_at="2024-07-01T10:00", failure_response="Roll back within 5 minutes."),
    )

    assert 'value="2024-07-01T10:00"' in form
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.planned_at == planned
    assert record.failure_response == "Roll back within 5 minutes."


# --- Pages ----------------------------------------------------------------------------------


def test_the_detail_shows_the_answers_and_the_deploys_that_shipped_it(logged_in):
    record = ChangeRecordFactory(
        title="Move sessions to Redis", kind="storage", owner="mhill", description="Dual-write for a week first."
    )
    production = EnvironmentFactory(slug="production")
    shipped = DeployFactory(change_record=record, environment=production, version="v7")
    other = DeployFactory(version="v8")

    response = logged_in.get(f"/deploys/changes/{record.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f"CR-{record.pk} Move sessions to Redis" in html
    assert "Storage change" in html and "mhill" in html
    for answer in (record.done_before, record.failure_impact, record.failure_response):
        assert html_lib.escape(answer) in html
    assert "Dual-write for a week first." in html
    # The other deploy isn't listed (a bare "v8" search would trip on random CSRF tokens).
    assert f'href="/deploys/{shipped.pk}/"' in html and f'href="/deploys/{other.pk}/"' not in html


def test_a_missing_change_record_is_404(logged_in):
    assert logged_in.get("/deploys/changes/999999/").status_code == 404
    assert logged_in.get("/deploys/changes/999999/edit/").status_code == 404


def test_the_list_shows_records_newest_first_with_their_deploy_counts(logged_in):
    old = ChangeRecordFactory(title="Old one", planned_at=timezone.now() - dt.timedelta(days=3))
    new = ChangeRecordFactory(title="New one")
    DeployFactory(change_record=old)
    DeployFactory(change_record=old)

    response = logged_in.get("/deploys/changes/")

    assert [record.pk for record in response.context["page"]] == [new.pk, old.pk]
    assert response.context["page"][1].deploy_count == 2
    assert 'href="/deploys/changes/new/"' in response.content.decode()


def test_the_list_query_count_does_not_grow_with_rows(logged_in):
    ChangeRecordFactory(service=ServiceFactory())

    def count():
        with CaptureQueriesContext(connection) as queries:
            logged_in.get("/deploys/changes/")
        return len(queries)

    few = count()
    for _ in range(10):
        DeployFactory(change_record=ChangeRecordFactory(service=ServiceFactory()))

    assert count() == few


# --- On a deploy's page ---------------------------------------------------------------------


def test_a_deploy_page_offers_recent_change_records_those_of_its_service_first(logged_in):
    checkout = ServiceFactory(slug="checkout")
    deploy = DeployFactory(service=checkout)
    other = ChangeRecordFactory(title="Newer, other service")
    mine = ChangeRecordFactory(
        title="Older, same service", service=checkout, planned_at=timezone.now() - dt.timedelta(days=2)
    )

    html = logged_in.get(f"/deploys/{deploy.pk}/").content.decode()

    section = html[html.index('id="change-record"') :]
    assert "No change record attached." in section
    assert section.index(f'<option value="{mine.pk}">') < section.index(f'<option value="{other.pk}">')


def test_attaching_then_detaching_a_change_record(logged_in):
    deploy = DeployFactory()
    record = ChangeRecordFactory(title="Add an index", failure_response="Drop the index.")

    attached = logged_in.post(f"/deploys/{deploy.pk}/change-record/", {"change_record": record.pk}, follow=True)

    deploy.refresh_from_db()
    assert deploy.change_record == record
    assert f"Attached CR-{record.pk} Add an index." in _messages(attached)
    html = attached.content.decode()
    section = html[html.index('id="change-record"') :]
    assert f'href="/deploys/changes/{record.pk}/">CR-{record.pk} Add an index</a>' in section
    assert "<dt>What will you do when it does go wrong?</dt><dd>Drop the index.</dd>" in section
    assert f">Detach CR-{record.pk}</button>" in section

    detached = logged_in.post(f"/deploys/{deploy.pk}/change-record/", {"change_record": ""}, follow=True)

    deploy.refresh_from_db()
    assert deploy.change_record is None
    assert f"Detached CR-{record.pk} Add an index." in _messages(detached)


def test_attaching_an_unknown_record_is_a_message_not_a_500(logged_in):
    deploy = DeployFactory()

    response = logged_in.post(f"/deploys/{deploy.pk}/change-record/", {"change_record": "999999"}, follow=True)

    assert response.status_code == 200
    assert _messages(response) == ["No change record has that id."]
    deploy.refresh_from_db()
    assert deploy.change_record is None


def test_attaching_to_a_missing_deploy_is_404(logged_in):
    assert logged_in.post("/deploys/999999/change-record/", {"change_record": ""}).status_code == 404


def test_the_deploy_page_query_count_does_not_grow_with_change_records(logged_in):
    deploy = DeployFactory(change_record=ChangeRecordFactory(service=ServiceFactory()))
    ChangeRecordFactory(service=ServiceFactory())

    def count():
        with CaptureQueriesContext(connection) as queries:
            logged_in.get(f"/deploys/{deploy.pk}/")
        return len(queries)

    few = count()
    for _ in range(10):
        ChangeRecordFactory(service=ServiceFactory())
    Deploy.objects.filter(pk=deploy.pk).update(change_record=None)

    assert count() == few


def test_no_vector_reaches_the_change_record_pages(logged_in):
    record = ChangeRecordFactory(
        title="<script>alert(1)</script>",
        owner="<img src=x onerror=alert(1)>",
        done_before=XSS,
        failure_impact=XSS,
        failure_response=XSS,
        description=XSS,
    )
    deploy = DeployFactory(change_record=record)
    other = DeployFactory()

    for url in [
        "/deploys/changes/",
        f"/deploys/changes/{record.pk}/",
        f"/deploys/changes/{record.pk}/edit/",
        f"/deploys/{deploy.pk}/",
        f"/deploys/{other.pk}/",
    ]:
        response = logged_in.get(url)
        assert response.status_code == 200, url
        assert_no_live_script(response.content.decode())


def test_deploys_views_and_forms_do_not_import_incidents():
    root = Path(__file__).resolve().parents[2] / "deploys"
    for name in ("views.py", "forms.py", "urls.py"):
        tree = ast.parse((root / name).read_text())
        modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [module for module in modules if module.split(".")[0] == "incidents"], name
