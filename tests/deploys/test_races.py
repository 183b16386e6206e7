"""Concurrent identical POSTs: real requests against a live server on PostgreSQL."""

import pytest

from deploys.models import Deploy, Service
from tests.support.concurrency import api_at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
]

CONCURRENCY = 20


def test_racing_identical_posts_store_one_deploy(live_server, token):
    body = {
        "service": "racer",
        "environment": "production",
        "version": "1",
        "deployer": "ci",
        "external_id": "pipeline-42",
    }

    results = api_at_once("POST", [(f"{live_server.url}/api/deploys/", body)] * CONCURRENCY, token)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (CONCURRENCY - 1) + [201]
    assert len({payload["id"] for _, payload in results}) == 1
    assert Deploy.objects.filter(external_id="pipeline-42").count() == 1
    assert Service.objects.filter(slug="racer").count() == 1


def test_racing_bulk_posts_store_each_deploy_once(live_server, token):
    items = [
        {
            "service": "bulk-racer",
            "environment": "production",
            "version": str(n),
            "deployer": "ci",
            "external_id": f"bulk-{n}",
        }
        for n in range(50)
    ]

    results = api_at_once("POST", [(f"{live_server.url}/api/deploys/bulk/", {"deploys": items})] * 8, token)

    assert all(status in (200, 201) for status, _ in results), results
    assert sum(payload["created"] for _, payload in results) == 50
    assert Deploy.objects.filter(service__slug="bulk-racer").count() == 50
