"""A deploy as CI posts it to /api/deploys/ (and each item of /api/deploys/bulk/)."""


def valid_deploy(**overrides):
    """One valid deploy, with `overrides`."""
    data = {
        "service": "web",
        "environment": "production",
        "version": "25145",
        "deployer": "sandrews",
        "message": "Production Deploy",
        "deployed_at": "2010-05-18T22:20:50Z",
        "duration_seconds": 34.9,
        "external_id": "ci-run-1",
    }
    data.update(overrides)
    return data
