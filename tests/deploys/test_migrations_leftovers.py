"""The leftovers' data migrations on a database as it was before them (django's MigrationExecutor, as
tests/test_migrations.py): commit shas stored in two cases merge into one commit, and ingest tokens
given out before creating services was a scope keep creating them."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from deploys.factories import ServiceFactory
from deploys.models import DeployCommit, PushedCommit

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC
BEFORE_SHAS = [("deploys", "0013_leftovers_deploy_service_version_index")]
BEFORE_SCOPE = [("deploys", "0011_auth_hash_user_tokens")]
SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaf_nodes():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_case_twins_merge_into_one_commit_keeping_the_earliest_time_and_every_deploys_commits():
    # The models as they were then: the database has no column of a later migration yet.
    apps = migrate(BEFORE_SHAS)
    Deploy = apps.get_model("deploys", "Deploy")
    OldCommit = apps.get_model("deploys", "DeployCommit")
    OldPushed = apps.get_model("deploys", "PushedCommit")
    production = apps.get_model("deploys", "Environment").objects.get(slug="production")
    service = apps.get_model("deploys", "Service").objects.create(slug="web")
    first = Deploy.objects.create(
        service=service,
        environment=production,
        version="v1",
        deployer="ci",
        deployed_at=dt.datetime(2024, 7, 2, tzinfo=UTC),
    )
    later = Deploy.objects.create(
        service=service,
        environment=production,
        version="v2",
        deployer="ci",
        deployed_at=dt.datetime(2024, 7, 3, tzinfo=UTC),
    )
    early, late = dt.datetime(2024, 7, 1, 8, tzinfo=UTC), dt.datetime(2024, 7, 1, 9, tzinfo=UTC)
    # As the API and a webhook stored them before: the same commit twice under one deploy, in two
    # cases, and again in capitals under a later deploy; each counted as a first delivery.
    OldCommit.objects.bulk_create(
        [
            OldCommit(deploy=first, sha=SHA.upper(), authored_at=late, message=""),
            OldCommit(deploy=first, sha=SHA, authored_at=early, message="Fix checkout"),
            OldCommit(deploy=first, sha="0123abcd", authored_at=None, message="other"),
            OldCommit(deploy=later, sha=f" {SHA.upper()}", authored_at=late, message="Fix checkout"),
        ]
    )
    OldPushed.objects.bulk_create(
        [
            OldPushed(service=service, sha=SHA.upper(), authored_at=late),
            OldPushed(service=service, sha=SHA, authored_at=early),
        ]
    )

    migrate(leaf_nodes())

    rows = list(
        DeployCommit.objects.order_by("deploy__deployed_at", "sha").values_list(
            "deploy_id", "sha", "authored_at", "message", "lead_seconds"
        )
    )
    assert rows == [
        (first.pk, "0123abcd", None, "other", None),
        (first.pk, SHA, early, "Fix checkout", (first.deployed_at - early).total_seconds()),
        (later.pk, SHA, late, "Fix checkout", None),  # shipped before: no second lead time
    ]
    assert list(PushedCommit.objects.values_list("sha", "authored_at")) == [(SHA, early)]


def test_tokens_of_any_service_made_before_the_scope_keep_creating_services():
    apps = migrate(BEFORE_SCOPE)
    IngestToken = apps.get_model("deploys", "IngestToken")
    Service = apps.get_model("deploys", "Service")
    any_service = IngestToken.objects.create(name="jenkins", key_digest="a" * 64, key_start="oli_a")
    limited = IngestToken.objects.create(name="web-ci", key_digest="b" * 64, key_start="oli_b")
    limited.services.add(Service.objects.create(slug="web"))

    apps = migrate(leaf_nodes())

    scopes = dict(apps.get_model("deploys", "IngestToken").objects.values_list("name", "may_create_services"))
    assert scopes == {"jenkins": True, "web-ci": False}
    assert any_service.pk and ServiceFactory._meta.model.objects.filter(slug="web").exists()
