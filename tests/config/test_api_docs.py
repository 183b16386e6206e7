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


def test_schema_documents_the_error_bodies(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    post = schema["paths"]["/api/deploys/"]["post"]["responses"]
    assert {"400", "401", "403", "413", "415", "429"} <= set(post)
    assert post["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert post["400"]["description"] == "A message per invalid field."  # the view's own words are kept
    assert post["400"]["content"]["application/json"]["schema"]["type"] == "object"
    detail = schema["paths"]["/api/incidents/{id}/"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(detail)
    assert "400" not in detail  # a GET without query parameters can't be bad input


def test_an_api_url_that_matches_no_route_is_a_json_404(api, client):
    response = api.get("/api/incidents/not-a-number/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert client.get("/incidents/not-a-number/")["Content-Type"].startswith("text/html")  # pages keep theirs
