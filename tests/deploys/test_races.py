"""Concurrent identical POSTs: real requests against a live server on PostgreSQL."""

import threading

import pytest
import requests
from django.db import connection

from deploys.models import Deploy, Service

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
]

CONCURRENCY = 20


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's real concurrency (CI's second pass runs it)")


def post_all_at_once(url, token, bodies):
    barrier = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def send(index):
        session = requests.Session()
        barrier.wait()
        response = session.post(url, json=bodies[index], headers={"Authorization": f"Token {token.key}"}, timeout=30)
        results[index] = (response.status_code, response.json())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_identical_posts_store_one_deploy(live_server, token):
    body = {
        "service": "racer",
        "environment": "production",
        "version": "1",
        "deployer": "ci",
        "external_id": "pipeline-42",
    }

    results = post_all_at_once(f"{live_server.url}/api/deploys/", token, [body] * CONCURRENCY)

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

    results = post_all_at_once(f"{live_server.url}/api/deploys/bulk/", token, [{"deploys": items}] * 8)

    assert all(status in (200, 201) for status, _ in results), results
    assert sum(payload["created"] for _, payload in results) == 50
    assert Deploy.objects.filter(service__slug="bulk-racer").count() == 50
