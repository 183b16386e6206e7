"""Alertmanager integrations, one of them promoting critical alerts to incidents."""

import pytest

from deploys.factories import ServiceFactory
from integrations.factories import IntegrationFactory


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


@pytest.fixture
def integration(web):
    return IntegrationFactory(kind="alertmanager", name="Alertmanager prod")


@pytest.fixture
def promoting(web):
    return IntegrationFactory(
        kind="alertmanager", name="Alertmanager prod", options={"promote_labels": {"severity": "critical"}}
    )
