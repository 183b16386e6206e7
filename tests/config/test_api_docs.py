import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_describes_the_deploy_endpoints(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert {"/api/deploys/", "/api/deploys/{id}/", "/api/deploys/bulk/"} <= set(schema["paths"])
    assert {"201", "200", "400"} <= set(schema["paths"]["/api/deploys/"]["post"]["responses"])
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_docs_load_their_assets_from_the_app_itself(logged_in):
    html = logged_in.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)  # nothing from another host
    asset = logged_in.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "/api/deploys/bulk/" in (tmp_path / "schema.yml").read_text()
