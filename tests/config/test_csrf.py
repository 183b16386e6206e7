"""CSRF: every form a person can reach carries the token, and every form's POST without it is refused."""

import datetime as dt
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert
from deploys.factories import ChangeRecordFactory, DeployCommitFactory, DeployFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident
from postmortems.factories import PostMortemFactory, RemediationFactory
from tests.support.walk_records import alerts_and_delivery

pytestmark = pytest.mark.django_db

# Pages every staff member can open; the crawl below finds the rest from their links.
PAGES = [
    "/",
    "/reports/how-we-count/",
    "/deploys/",
    "/deploys/{deploy}/",
    "/deploys/changes/",
    "/deploys/changes/new/",
    "/deploys/changes/{change}/",
    "/deploys/changes/{change}/edit/",
    "/incidents/",
    "/incidents/new/",
    "/incidents/{incident}/",
    "/incidents/{incident}/edit/",
    "/incidents/{incident}/postmortem/",
    "/incidents/{incident}/postmortem/edit/",
    "/incidents/{incident}/postmortem/history/",
    "/incidents/{incident}/postmortem/print/",
    "/incidents/{fresh_incident}/",
    "/incidents/{fresh_incident}/postmortem/",
    "/remediations/",
    "/remediations/{remediation}/edit/",
    "/alerts/",
    "/alerts/review/",
    "/alerts/{alert}/",
    "/alerts/{promoted_alert}/",
    "/integrations/deliveries/",
    "/integrations/deliveries/{delivery}/",
]
# Not pages: downloads, the admin (Django's own, tested by Django), the API and its docs.
NOT_CRAWLED = ("/admin/", "/api/", "/static/", "/hooks/", "/metrics", "/events/", "/healthz")


class _Page(HTMLParser):
    """The links and the POST forms of a page, each form with the names of its inputs."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "form":
            self._form = {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action"), "inputs": []}
            self.forms.append(self._form)
        elif tag in ("input", "button", "select", "textarea") and self._form is not None:
            self._form["inputs"].append(attrs.get("name"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser(username="oncall", password="a-long-test-password")
    client.force_login(staff)
    return client


@pytest.fixture
def demo():
    """A little of everything, as seed_demo leaves it: each page has something to show and act on."""
    web = ServiceFactory(slug="web")
    deploy = DeployFactory(service=web)
    DeployCommitFactory(deploy=deploy)
    DeployFactory(service=web, deployed_at=timezone.now() - dt.timedelta(days=1))
    # Shortly before the incidents began: offered on their pages as a suspect to link.
    DeployFactory(service=web, deployed_at=timezone.now() - dt.timedelta(hours=3))
    change = ChangeRecordFactory()
    incident = IncidentFactory(services=[web], title="Checkout errors")
    IncidentDeployFactory(incident=incident, deploy=deploy)
    TimelineEntryFactory(incident=incident)
    postmortem = PostMortemFactory(incident=incident)
    remediation = RemediationFactory(postmortem=postmortem)
    fresh_incident = IncidentFactory(services=[web], title="Search is slow")
    return {
        "deploy": deploy.pk,
        "change": change.pk,
        "incident": incident.pk,
        "fresh_incident": fresh_incident.pk,
        "remediation": remediation.pk,
        **alerts_and_delivery(promoted_to=fresh_incident),
    }


def crawl(client, start: list[str]) -> dict[str, _Page]:
    """Every HTML page reachable from `start` through same-site links, parsed."""
    pages: dict[str, _Page] = {}
    queue = list(start)
    while queue and len(pages) < 400:
        url = queue.pop(0)
        if url in pages or url.startswith(NOT_CRAWLED) or url.endswith(".md"):
            continue
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        if not response["Content-Type"].startswith("text/html"):
            continue
        page = pages[url] = _Page()
        page.feed(response.content.decode())
        for href in page.links:
            parts = urlsplit(urljoin(url, href))
            if not parts.scheme and not parts.netloc and parts.path not in pages:
                # One page per path: the same list filtered another way has the same forms.
                queue.append(parts.path)
    return pages


@pytest.fixture
def site(staff_client, demo):
    return crawl(staff_client, [page.format(**demo) for page in PAGES])


def test_every_post_form_carries_the_csrf_token(site):
    post_forms = [(url, form) for url, page in site.items() for form in page.forms if form["method"] == "post"]
    missing = [(url, form["action"]) for url, form in post_forms if "csrfmiddlewaretoken" not in form["inputs"]]

    assert len(site) >= len(PAGES)
    assert len(post_forms) >= 15  # the crawl really reached the forms: stamps, notes, links, edits…
    assert missing == []
    assert any("/deploys/link/" in (form["action"] or "") for _, form in post_forms)


def test_the_login_form_carries_the_csrf_token(client):
    page = _Page()
    page.feed(client.get("/accounts/login/").content.decode())

    assert [form["method"] for form in page.forms] == ["post"]
    assert "csrfmiddlewaretoken" in page.forms[0]["inputs"]


def test_every_form_post_without_the_token_is_refused(site, demo, django_user_model):
    actions = {
        urljoin(url, form["action"] or url)
        for url, page in site.items()
        for form in page.forms
        if form["method"] == "post"
    }
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(django_user_model.objects.get(username="oncall"))
    before = _state()

    statuses = {action: strict.post(action, {"title": "x", "text": "x"}).status_code for action in actions}

    assert len(actions) >= 10
    assert {action: status for action, status in statuses.items() if status != 403} == {}
    assert _state() == before


def test_a_post_with_the_token_gets_through(staff_client, demo):
    # The refusals above are CSRF's, not something else about the requests.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(_staff())
    page = strict.get(f"/incidents/{demo['fresh_incident']}/")
    token = strict.cookies["csrftoken"].value

    response = strict.post(
        f"/incidents/{demo['fresh_incident']}/notes/", {"text": "Rolled back.", "csrfmiddlewaretoken": token}
    )

    assert page.status_code == 200
    assert response.status_code == 302
    assert Incident.objects.get(pk=demo["fresh_incident"]).timeline.filter(text="Rolled back.").exists()


def _state():
    """What a successful form POST would have changed."""
    from deploys.models import ChangeRecord, Deploy
    from incidents.models import TimelineEntry
    from integrations.models import Delivery
    from postmortems.models import PostMortem, Remediation

    return (
        list(Incident.objects.order_by("pk").values_list("pk", "title", "updated_at", "resolved_at", "archived_at")),
        list(Alert.objects.order_by("pk").values_list("pk", "incident_id")),
        list(PostMortem.objects.order_by("pk").values_list("pk", "version")),
        list(Remediation.objects.order_by("pk").values_list("pk", "description")),
        list(ChangeRecord.objects.order_by("pk").values_list("pk", "title")),
        list(Delivery.objects.order_by("pk").values_list("pk", "status")),
        TimelineEntry.objects.count(),
        Deploy.objects.count(),
    )


def _staff():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="oncall")


def test_the_api_refuses_a_session_post_without_the_token(staff_client, demo):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(_staff())

    response = strict.post("/api/incidents/", {"title": "x"}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
