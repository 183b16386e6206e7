"""The reports app's writes: the upkeep of what the rollups keep outside the triggers."""

from django.db import connection, transaction

from reports import rollup_sql


def refresh_rollback_times() -> int:
    """Recompute the kept rollback times and failed deploys' recoveries of every service and
    environment whose deploys, links or incidents changed since the last refresh (reports.rollup_sql,
    "Rollback times" and "Recovery times"); returns how many such pairs.

    Until it runs, a report works the changed pairs' recoveries out itself: the figures are exact
    either way, this only makes them cheaper. PostgreSQL only (0 elsewhere).
    """
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(rollup_sql.ROLLBACK_REFRESH)
        return cursor.fetchone()[0]
