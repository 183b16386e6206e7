import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from rest_framework.test import APIClient

from deploys.demo import seed_deploys
from deploys.models import Deploy, DeployCommit, Service

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.UTC)  # a Thursday


def test_demo_is_realistic():
    seed_deploys(days=730, now=NOW)

    assert 3 <= Service.objects.count() <= 5
    deployers = Deploy.objects.values("deployer").distinct().count()
    assert 15 <= deployers <= 25
    first, last = Deploy.objects.order_by("deployed_at").first(), Deploy.objects.order_by("deployed_at").last()
    assert (last.deployed_at - first.deployed_at).days >= 700
    assert last.deployed_at < NOW
    per_env = dict(Deploy.objects.values_list("environment__slug").annotate(n=Count("id")))
    assert set(per_env) == {"qa", "staging", "production"}
    working_days = 730 * 5 // 7
    assert per_env["production"] / working_days >= 2  # several a working day
    assert not Deploy.objects.filter(deployed_at__week_day__in=[1, 7]).exists()  # Sunday, Saturday
    statuses = set(Deploy.objects.filter(environment__slug="production").values_list("status", flat=True))
    assert statuses == {"succeeded", "failed", "rolled_back"}
    assert DeployCommit.objects.count() >= Deploy.objects.count()


def test_demo_versions_chain_like_a_real_log():
    seed_deploys(days=60, now=NOW)

    for service in Service.objects.all():
        live = list(
            Deploy.objects.filter(service=service, environment__slug="production").order_by("deployed_at", "id")
        )
        last_live = ""
        for deploy in live:
            assert deploy.previous_version == last_live
            # A rolled-back deploy was live until its rollback, which names it as the version before.
            if deploy.status in (Deploy.Status.SUCCEEDED, Deploy.Status.ROLLED_BACK):
                last_live = deploy.version


def test_demo_is_deterministic_and_running_it_twice_duplicates_nothing():
    first = seed_deploys(days=90, now=NOW)
    snapshot = list(
        Deploy.objects.order_by("external_id").values_list("external_id", "version", "deployer", "deployed_at")
    )
    second = seed_deploys(days=90, now=NOW)

    assert first.created == len(snapshot) > 0
    assert (second.created, second.existing) == (0, first.created)
    assert (
        list(Deploy.objects.order_by("external_id").values_list("external_id", "version", "deployer", "deployed_at"))
        == snapshot
    )


def test_a_later_run_adds_only_the_new_days():
    seed_deploys(days=30, now=NOW)
    before = Deploy.objects.count()

    result = seed_deploys(days=30, now=NOW + dt.timedelta(days=7))

    assert result.created > 0
    assert Deploy.objects.count() == before + result.created
    assert Deploy.objects.values("external_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0


def test_command_creates_a_demo_login_and_token_and_prints_them(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--days", "10", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", "--days", "10", stdout=out)

    user = get_user_model().objects.get(username="demo")
    assert user.check_password("opslog-demo")
    assert user.is_staff
    assert "demo / opslog-demo" in out.getvalue()
    # Only a digest is stored, so each run makes a new token and prints it; the printed one works.
    key = re.search(r"export OPSLOG_TOKEN=(\w+)", out.getvalue()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/deploys/").status_code == 200
    assert get_user_model().objects.filter(username="demo").count() == 1


def test_demo_build_numbers_rise_with_time_in_each_stream():
    seed_deploys(days=60, now=NOW)

    for service in Service.objects.all():
        # A rollback ships an earlier build again: the builds rise in the deploys that aren't one.
        versions = list(
            Deploy.objects.filter(service=service, environment__slug="production")
            .exclude(external_id__endswith="-rollback")
            .order_by("deployed_at")
            .values_list("version", flat=True)
        )
        assert [int(v) for v in versions] == sorted(int(v) for v in versions)


def test_no_demo_login_when_debug_is_off(settings):
    settings.DEBUG = False
    out = io.StringIO()

    call_command("seed_demo", "--days", "3", stdout=out)

    assert not get_user_model().objects.filter(username="demo").exists()
    assert "No demo login created" in out.getvalue()


def test_each_demo_rollback_is_recorded_minutes_after_the_deploy_it_undoes():
    seed_deploys(days=120, now=NOW)

    rolled_back = Deploy.objects.filter(environment__slug="production", status=Deploy.Status.ROLLED_BACK)
    assert rolled_back.exists()
    for deploy in rolled_back:
        rollback = Deploy.objects.get(external_id=f"{deploy.external_id}-rollback")
        # The next production deploy of the service, 6 to 25 minutes later, shipping what was live before.
        following = (
            Deploy.objects.filter(
                service=deploy.service, environment=deploy.environment, deployed_at__gt=deploy.deployed_at
            )
            .order_by("deployed_at")
            .first()
        )
        assert following == rollback
        assert dt.timedelta(minutes=6) <= rollback.deployed_at - deploy.deployed_at <= dt.timedelta(minutes=25)
        assert (rollback.previous_version, rollback.status) == (deploy.version, Deploy.Status.SUCCEEDED)
        assert rollback.version == deploy.previous_version or rollback.version == f"{deploy.version}~1"
