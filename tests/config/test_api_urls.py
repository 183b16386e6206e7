import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/deploys.json",
        "/api/deploys/bulk.json",
        "/api/changes.json",
        "/api/incidents.json",
        "/api/incidents/1/resolve.json",
        "/api/remediations.json",
    ],
)
def test_format_suffixes_are_not_urls(api, url):
    """`.json` suffixes used to reach actions that take no `format` argument: a 500 on every write."""
    response = api.post(url, {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_format_parameter_still_chooses_the_format(api):
    assert api.get("/api/deploys/?format=json")["Content-Type"] == "application/json"
