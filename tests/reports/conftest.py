import io

import pytest
from django.core.management import call_command
from django.db import connection

# On PostgreSQL the report reads its deploy figures, lead-time medians and (unfiltered) incident
# figures from the rollups
# (reports.models) when they are in the reporting time zone, and scans the deploys otherwise;
# SQLite always scans.
PATHS = ["scan", "rollup"] if connection.vendor == "postgresql" else ["scan"]


@pytest.fixture(params=PATHS)
def report_path(request):
    """Call it once the reporting time zone is set: the report then takes `request.param`'s way."""

    def choose():
        if request.param == "rollup":
            call_command("rebuild_report_rollup", stdout=io.StringIO())
        elif connection.vendor == "postgresql":
            from reports.models import RollupZone

            RollupZone.objects.all().delete()  # no zone: not maintained, the report scans
        return request.param

    return choose
