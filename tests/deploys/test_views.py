import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory, ServiceFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def test_log_requires_login(client):
    response = client.get("/deploys/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/deploys/")


def test_log_shows_each_deploy_as_a_deployinator_line(logged_in):
    deploy = DeployFactory(
        service=ServiceFactory(slug="web"),
        version="25145",
        previous_version="25134",
        deployer="sandrews",
        message="Production Deploy",
        deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC),
        duration_seconds=34.9,
        diff_url="https://git.example.com/acme/web/compare/25134...25145",
    )

    html = logged_in.get("/deploys/").content.decode()

    assert "2010-05-18 22:20:50" in html
    assert '<span class="env-badge prod quiet">PRODUCTION</span>' in html
    assert "sandrews" in html
    assert "old 25134, new 25145" in html
    assert 'href="https://git.example.com/acme/web/compare/25134...25145"' in html
    assert "34.9 s" in html
    assert f'href="/deploys/{deploy.pk}/"' in html


def test_log_shows_times_in_the_reporting_time_zone(logged_in, settings):
    settings.TIME_ZONE = "America/New_York"
    DeployFactory(deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC))

    html = logged_in.get("/deploys/").content.decode()

    assert "2010-05-18 18:20:50" in html
    assert "times in America/New_York" in html


def test_log_is_newest_first_and_paginated(logged_in):
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(55):
        DeployFactory(version=f"build-{n:03d}", deployed_at=base + dt.timedelta(minutes=n))

    first = logged_in.get("/deploys/")
    second = logged_in.get("/deploys/?page=2")

    versions = [d.version for d in first.context["page"]]
    assert versions == [f"build-{n:03d}" for n in range(54, 4, -1)]
    assert [d.version for d in second.context["page"]] == [f"build-{n:03d}" for n in range(4, -1, -1)]
    assert "Page 1 of 2" in first.content.decode()


def test_log_filters_by_service_environment_and_deployer(logged_in):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    wanted = DeployFactory(service=web, environment=production, deployer="alice")
    DeployFactory(service=web, environment=staging, deployer="alice")
    DeployFactory(service=api, environment=production, deployer="alice")
    DeployFactory(service=web, environment=production, deployer="bob")

    response = logged_in.get("/deploys/?service=web&environment=production&deployer=alice")

    assert [d.pk for d in response.context["page"]] == [wanted.pk]


def test_pagination_links_keep_the_filter(logged_in):
    staging = EnvironmentFactory(slug="staging")
    DeployFactory.create_batch(51, environment=staging)

    html = logged_in.get("/deploys/?environment=staging").content.decode()

    assert 'href="?environment=staging&amp;page=2"' in html


def test_unknown_filter_value_shows_an_error_not_a_500(logged_in):
    DeployFactory()

    response = logged_in.get("/deploys/?service=does-not-exist")

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert list(response.context["page"]) == []


def test_current_production_version_of_each_service_is_shown(logged_in):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    day = dt.datetime(2024, 5, 1, tzinfo=UTC)
    DeployFactory(service=web, environment=production, version="w1", deployed_at=day)
    DeployFactory(service=web, environment=production, version="w2", deployed_at=day + dt.timedelta(hours=1))
    DeployFactory(
        service=web,
        environment=production,
        version="w3-bad",
        status="rolled_back",
        deployed_at=day + dt.timedelta(hours=2),
    )
    DeployFactory(service=web, environment=staging, version="w4", deployed_at=day + dt.timedelta(hours=3))
    DeployFactory(service=api, environment=production, version="a1", deployed_at=day)
    ServiceFactory(slug="never-deployed")

    current = logged_in.get("/deploys/").context["current"]

    assert [(d.service.slug, d.version) for d in current] == [("api", "a1"), ("web", "w2")]


def _page_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_log_query_count_does_not_grow_with_rows(logged_in, django_assert_max_num_queries):
    DeployFactory.create_batch(2, service=ServiceFactory())
    few = _page_queries(logged_in, "/deploys/?environment=production")
    for n in range(60):
        deploy = DeployFactory(service=ServiceFactory(), environment=EnvironmentFactory(slug=f"env{n % 4}"))
        DeployCommitFactory(deploy=deploy)
        DeployFactory(service=deploy.service)
    many = _page_queries(logged_in, "/deploys/?environment=production")

    assert many == few
    with django_assert_max_num_queries(10):
        logged_in.get("/deploys/?service=service-3&deployer=dev1&page=1")


def test_detail_shows_the_deploy_its_commits_and_its_neighbours(logged_in):
    web = ServiceFactory(slug="web", dev_team="Storefront", ops_contact="Priya")
    day = dt.datetime(2024, 5, 1, tzinfo=UTC)
    earlier = DeployFactory(service=web, version="100", deployed_at=day)
    deploy = DeployFactory(
        service=web,
        version="101",
        previous_version="100",
        deployed_at=day + dt.timedelta(hours=1),
        message="Faster checkout",
    )
    later = DeployFactory(service=web, version="102", deployed_at=day + dt.timedelta(hours=2))
    DeployCommitFactory(deploy=deploy, sha="f00d" * 10, message="Cache the cart")

    html = logged_in.get(f"/deploys/{deploy.pk}/").content.decode()

    assert "old 100, new 101" in html
    assert "Faster checkout" in html
    assert "Cache the cart" in html
    assert "Storefront" in html and "Priya" in html
    assert f'href="/deploys/{earlier.pk}/"' in html
    assert f'href="/deploys/{later.pk}/"' in html


def test_detail_of_a_missing_deploy_is_404(logged_in):
    assert logged_in.get("/deploys/424242/").status_code == 404


def test_a_far_off_date_filter_is_an_error_not_a_500(logged_in):
    response = logged_in.get("/deploys/?since=9999-12-31")

    assert response.status_code == 200
